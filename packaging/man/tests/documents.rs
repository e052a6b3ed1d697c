//! The documents the pages are made from hold together: README.md stays an
//! entry point that leads to every document, every link between them reaches
//! a file and a heading that exist, and the reference documents do not
//! narrate rounds of work (that is CHANGELOG.md's).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// docs/*.md, by file name.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repository().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    docs
}

/// The text outside fenced code blocks, line by line.
fn prose_lines(text: &str) -> Vec<&str> {
    let mut in_code = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                return false;
            }
            !in_code
        })
        .collect()
}

/// The anchors GitHub gives a document's headings: lower case, punctuation
/// left out, spaces as hyphens, a repeated one numbered.
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for line in prose_lines(text) {
        let level = line.bytes().take_while(|&b| b == b'#').count();
        let Some(title) = line[level..]
            .strip_prefix(' ')
            .filter(|_| (1..=6).contains(&level))
        else {
            continue;
        };
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = slug.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{slug}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// The `[label](target)` links of a document's prose (code spans left out).
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in prose_lines(text) {
        let mut outside_code = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                outside_code.push_str(part);
            }
            outside_code.push(' ');
        }
        let mut rest = outside_code.as_str();
        while let Some(at) = rest.find("](") {
            let target = &rest[at + 2..];
            let Some(end) = target.find(')') else { break };
            found.push(target[..end].to_string());
            rest = &target[end..];
        }
    }
    found
}

/// What is wrong with the links of `file`, one line each.
fn broken_links(file: &Path) -> Vec<String> {
    let mut broken = Vec::new();
    for target in links(&read(file)) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
        let linked = if path.is_empty() {
            file.to_path_buf()
        } else {
            file.parent().unwrap().join(path)
        };
        if !linked.exists() {
            broken.push(format!("{}: no file {target}", file.display()));
        } else if !anchor.is_empty()
            && linked.extension().is_some_and(|e| e == "md")
            && !anchors(&read(&linked)).contains(anchor)
        {
            broken.push(format!("{}: no heading for {target}", file.display()));
        }
    }
    broken
}

#[test]
fn the_readme_is_an_entry_point_that_leads_to_every_document() {
    let readme = read(&repository().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines < 200,
        "README.md has {lines} lines: it is the five-minute entry point, the rest belongs in docs/"
    );
    for command in ["bash tests/run.sh", "bash tests/demo.sh"] {
        assert!(
            readme.lines().any(|l| l == command),
            "README.md lost its command `{command}`"
        );
    }
    let targets = links(&readme);
    let missing: Vec<String> = documents()
        .iter()
        .map(|d| format!("docs/{}", d.file_name().unwrap().to_string_lossy()))
        .filter(|d| {
            !targets
                .iter()
                .any(|t| t == d || t.starts_with(&format!("{d}#")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "documents README.md does not lead to: {missing:?}"
    );
    assert!(
        targets.iter().any(|t| t == "CHANGELOG.md"),
        "README.md does not lead to CHANGELOG.md"
    );
}

#[test]
fn every_link_between_the_documents_reaches_a_file_and_a_heading() {
    let mut files = vec![
        repository().join("README.md"),
        repository().join("CHANGELOG.md"),
    ];
    files.extend(documents());
    let broken: Vec<String> = files.iter().flat_map(|f| broken_links(f)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_reference_documents_do_not_narrate_rounds_of_work() {
    for doc in documents().iter().chain([&repository().join("README.md")]) {
        for line in prose_lines(&read(doc)) {
            let lower = line.to_lowercase();
            for narration in [
                "this round",
                "last round",
                "first round",
                "the last session",
            ] {
                assert!(
                    !lower.contains(narration),
                    "{}: '{narration}' belongs in CHANGELOG.md: {line}",
                    doc.display()
                );
            }
        }
    }
}

#[test]
fn the_link_checker_finds_a_missing_file_and_a_missing_heading() {
    let dir = std::env::temp_dir().join(format!("gsslog-man-links-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("b.md"),
        "# B\n## The heading (`x`)\n```\n# not a heading\n```\n",
    )
    .unwrap();
    let a = dir.join("a.md");
    std::fs::write(
        &a,
        "[ok](b.md#the-heading-x) [gone](c.md) [wrong](b.md#not-a-heading) [self](#a) `[code](nowhere.md)`\n# A\n",
    )
    .unwrap();
    let broken = broken_links(&a);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(
        broken[0].ends_with("no file c.md")
            && broken[1].ends_with("no heading for b.md#not-a-heading"),
        "{broken:?}"
    );
}
