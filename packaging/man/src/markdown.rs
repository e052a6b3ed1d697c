//! README.md's sections as man-page text: just the Markdown that README uses
//! (paragraphs, `**bold**`, `` `code` ``, `- ` lists, tables, fenced code,
//! `###` headings), turned into roff.

/// The text of the `## ` section whose heading starts with `heading`, up to
/// the next `## ` heading (without its own heading line).
pub fn section<'a>(readme: &'a str, heading: &str) -> Option<&'a str> {
    let mut start = None;
    let mut offset = 0;
    for line in readme.split_inclusive('\n') {
        let at_heading = line.starts_with("## ");
        match start {
            None if at_heading && line[3..].starts_with(heading) => start = Some(offset + line.len()),
            Some(s) if at_heading => return Some(&readme[s..offset]),
            _ => {}
        }
        offset += line.len();
    }
    start.map(|s| &readme[s..])
}

/// Markdown blocks as roff requests and text.
pub fn to_roff(markdown: &str) -> String {
    let mut out = String::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut lines = markdown.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            flush_paragraph(&mut paragraph, &mut out);
        } else if trimmed.starts_with("```") {
            flush_paragraph(&mut paragraph, &mut out);
            out.push_str(".PP\n.RS 4\n.nf\n");
            for code in lines.by_ref() {
                if code.trim_start().starts_with("```") {
                    break;
                }
                out.push_str(&guard_line(&escape(code)));
                out.push('\n');
            }
            out.push_str(".fi\n.RE\n");
        } else if let Some(title) = trimmed.strip_prefix("### ") {
            flush_paragraph(&mut paragraph, &mut out);
            out.push_str(&format!(".SS \"{}\"\n", inline(title).replace('"', "\\(dq")));
        } else if trimmed.starts_with('|') {
            flush_paragraph(&mut paragraph, &mut out);
            let mut rows = vec![line];
            while let Some(next) = lines.peek().filter(|l| l.trim_start().starts_with('|')) {
                rows.push(next);
                lines.next();
            }
            table(&rows, &mut out);
        } else if let Some(item) = trimmed.strip_prefix("- ") {
            flush_paragraph(&mut paragraph, &mut out);
            out.push_str(".IP \\(bu 2\n");
            paragraph.push(item);
            // A list item goes on over its indented continuation lines.
            while let Some(next) = lines.peek().filter(|l| l.starts_with("  ") && !l.trim_start().starts_with("- ")) {
                paragraph.push(next.trim_start());
                lines.next();
            }
            flush_text(&mut paragraph, &mut out);
        } else {
            paragraph.push(trimmed);
        }
    }
    flush_paragraph(&mut paragraph, &mut out);
    out
}

fn flush_paragraph(paragraph: &mut Vec<&str>, out: &mut String) {
    if !paragraph.is_empty() {
        out.push_str(".PP\n");
        flush_text(paragraph, out);
    }
}

/// Joins the lines first: inline markup may span a line break.
fn flush_text(paragraph: &mut Vec<&str>, out: &mut String) {
    if paragraph.is_empty() {
        return;
    }
    let text = inline(&paragraph.join(" "));
    for line in text.split('\n') {
        out.push_str(&guard_line(line));
        out.push('\n');
    }
    paragraph.clear();
}

/// A table as a tagged list: the first cell is the tag, the others follow
/// with their column names ("default: 10").
fn table(rows: &[&str], out: &mut String) {
    let cells: Vec<Vec<String>> = rows.iter().map(|r| split_row(r)).collect();
    let Some((header, body)) = cells.split_first() else { return };
    for row in body {
        if row.iter().all(|c| c.chars().all(|ch| ch == '-' || ch == ':' || ch == ' ')) {
            continue; // the |---|---| line
        }
        let Some((tag, rest)) = row.split_first() else { continue };
        out.push_str(".TP\n");
        out.push_str(&guard_line(&inline(tag)));
        out.push('\n');
        let described: Vec<String> = rest
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_empty())
            .map(|(i, c)| match (i, header.get(i + 1)) {
                (0, _) | (_, None) => inline(c),
                (_, Some(name)) => format!("{}: {}", inline(name), inline(c)),
            })
            .collect();
        out.push_str(&guard_line(&described.join("; ")));
        out.push('\n');
    }
}

/// The cells of `| a | b \| c |`; `\|` is a pipe inside a cell.
fn split_row(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    cells.push(cell);
    cells.iter().map(|c| c.trim().to_string()).collect()
}

/// `**bold**` and `` `code` `` as bold, the rest escaped for roff.
fn inline(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('`') {
            if let Some(end) = after.find('`') {
                out.push_str(&format!("\\fB{}\\fR", escape(&after[..end]).replace('-', "\\-")));
                rest = &after[end + 1..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix("**") {
            if let Some(end) = after.find("**") {
                out.push_str(&format!("\\fB{}\\fR", inline(&after[..end])));
                rest = &after[end + 2..];
                continue;
            }
        }
        // Past the first character (which may be several bytes), up to the next marker.
        let first = rest.chars().next().map_or(1, char::len_utf8);
        let next = rest[first..].find(['`', '*']).map_or(rest.len(), |i| i + first);
        out.push_str(&escape(&rest[..next]));
        rest = &rest[next..];
    }
    out
}

/// Backslashes are roff's escape character; any other character beyond
/// ASCII becomes groff's `\[uXXXX]`, so that the page renders the same
/// whatever the locale `man` runs in (troff itself reads bytes).
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            c if c.is_ascii() => out.push(c),
            c => out.push_str(&format!("\\[u{:04X}]", u32::from(c))),
        }
    }
    out
}

/// A text line starting with `.` or `'` would be a roff request.
pub(crate) fn guard_line(line: &str) -> String {
    if line.starts_with('.') || line.starts_with('\'') {
        format!("\\&{line}")
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn text_that_starts_with_a_multibyte_character_is_kept_whole() {
        assert_eq!(inline("— `x` — **y**"), "\\[u2014] \\fBx\\fR \\[u2014] \\fBy\\fR");
    }

    use super::*;

    #[test]
    fn a_section_ends_at_the_next_heading() {
        let readme = "# t\n## The collector (`x`)\nabc\n\n## Next\ndef\n";
        assert_eq!(section(readme, "The collector"), Some("abc\n\n"));
        assert_eq!(section(readme, "Next"), Some("def\n"));
        assert_eq!(section(readme, "Missing"), None);
    }

    #[test]
    fn markup_becomes_roff() {
        let roff = to_roff("**Config**: `$A b` and\n.dot\n\n| d | meaning | default |\n|---|---|---|\n| `$X le\\|be` | order | `le` |\n");
        assert!(roff.contains(".PP\n\\fBConfig\\fR: \\fB$A b\\fR and .dot\n"), "{roff}");
        assert!(roff.contains(".TP\n\\fB$X le|be\\fR\norder; default: \\fBle\\fR\n"), "{roff}");
    }

    #[test]
    fn requests_and_backslashes_in_text_are_escaped() {
        let roff = to_roff("```\n.not a request\na\\b\n```\n");
        assert!(roff.contains("\\&.not a request\na\\eb\n"), "{roff}");
    }
}
