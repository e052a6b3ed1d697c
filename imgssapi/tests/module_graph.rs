//! The collector's source files form a ladder: each file imports only files
//! below it, none imports one that imports it back (directly or through
//! others). A newcomer can then read `imgssapi/src` bottom-up, and a change
//! to a low file cannot depend on the session flow above it.
//!
//! The check reads the code of every module file of the library
//! (`src/**/*.rs` but `main.rs` and `bin/`, which are crates of their own;
//! `lib.rs` is the module `crate`), with comments and string literals
//! removed, and takes every path that names another module file as an edge:
//! `crate::a::B` (also inside `use crate::{...}` groups), `super::` (counted
//! from the file, past the inline modules such as `mod tests` it is written
//! in) and a child module named bare (`table::Senders` in `senders/mod.rs`).
//! A path to an item of `lib.rs` is an edge to `crate`. Test modules count:
//! a test of a low file that reaches up is a way back up too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module, as its path from the crate root (`[]` is `lib.rs`).
type Module = Vec<String>;

fn name(module: &Module) -> String {
    if module.is_empty() {
        "crate".to_string()
    } else {
        module.join("::")
    }
}

/// Every module file under `src`, with its text.
fn read_modules(src: &Path) -> BTreeMap<Module, String> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(src).unwrap();
            if path.is_dir() {
                if relative != Path::new("bin") {
                    dirs.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || relative == Path::new("main.rs") {
                continue;
            }
            let mut module: Module = relative.with_extension("").iter().map(|s| s.to_string_lossy().into_owned()).collect();
            if module.last().is_some_and(|last| last == "mod" || last == "lib") {
                module.pop();
            }
            found.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
    found
}

/// `text` with comments, string and character literals blanked out.
fn code(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if (c == 'r' || c == 'b') && (i == 0 || !ident(chars[i - 1])) && raw_string_start(&chars[i..]).is_some() {
            let (hashes, skip) = raw_string_start(&chars[i..]).unwrap_or_default();
            i += skip;
            let end: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            while i < chars.len() && !chars[i..].starts_with(&end) {
                i += 1;
            }
            i += end.len();
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && next == Some('\\') {
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 3;
            out.push(' ');
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// `r"`, `r#"`, `br"`...: the number of `#` and the length of the opening.
fn raw_string_start(chars: &[char]) -> Option<(usize, usize)> {
    let mut i = usize::from(chars.first() == Some(&'b'));
    if chars.get(i) != Some(&'r') {
        return None;
    }
    i += 1;
    let hashes = chars[i..].iter().take_while(|c| **c == '#').count();
    (chars.get(i + hashes) == Some(&'"')).then_some((hashes, i + hashes + 1))
}

/// The words and punctuation of `code`: identifiers, `::`, and single characters.
fn tokens(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push("::".to_string());
            i += 2;
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

/// The paths starting at `tokens[at]` (an identifier), `use` groups
/// expanded: `a::{b::C, d}` is `a::b::C` and `a::d`. Returns them and the
/// index past them.
fn paths_at(tokens: &[String], mut at: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    loop {
        match tokens.get(at).map(String::as_str) {
            Some("{") => {
                let mut paths = Vec::new();
                at += 1;
                while at < tokens.len() && tokens[at] != "}" {
                    if tokens[at] == "," {
                        at += 1;
                        continue;
                    }
                    let (inner, past) = paths_at(tokens, at);
                    paths.extend(inner.into_iter().map(|p| prefix.iter().cloned().chain(p).collect()));
                    // Skip what follows the path (`as name`), up to the next item.
                    at = past;
                    while at < tokens.len() && tokens[at] != "," && tokens[at] != "}" {
                        at += 1;
                    }
                }
                return (paths, at + 1);
            }
            Some(word) if word.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                prefix.push(word.to_string());
                at += 1;
                if tokens.get(at).map(String::as_str) != Some("::") {
                    return (vec![prefix], at);
                }
                at += 1;
            }
            // `a::*`, or the end of the path.
            _ => return (vec![prefix], at),
        }
    }
}

/// The module files `module`'s code refers to.
fn references(module: &Module, text: &str, modules: &BTreeSet<Module>) -> BTreeSet<Module> {
    let tokens = tokens(&code(text));
    let child = |name: &str| {
        let mut m = module.clone();
        m.push(name.to_string());
        modules.contains(&m)
    };
    let mut found = BTreeSet::new();
    // Brace depth, and the depths at which inline modules (`mod tests {`) opened.
    let mut depth = 0usize;
    let mut inline: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i].as_str();
        match token {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
            }
            "mod" if tokens.get(i + 2).is_some_and(|t| t == "{") => inline.push(depth),
            _ => {}
        }
        let starts_path = i == 0 || tokens[i - 1] != "::";
        let is_root = matches!(token, "crate" | "super" | "self") || child(token);
        if !starts_path || !is_root || tokens.get(i + 1).is_none_or(|t| t != "::") {
            i += 1;
            continue;
        }
        let (paths, past) = paths_at(&tokens, i);
        for path in paths {
            let absolute = absolute(module, inline.len(), &path);
            // The longest prefix of the path that is a module file.
            let target = (0..=absolute.len()).rev().map(|n| absolute[..n].to_vec()).find(|m| modules.contains(m));
            if let Some(target) = target.filter(|t| t != module) {
                found.insert(target);
            }
        }
        // A whole path (with its group's braces, which balance) is one step.
        i = past.max(i + 1);
    }
    found
}

/// `path`, written in `module` inside `inline` inline modules, from the crate root.
fn absolute(module: &Module, inline: usize, path: &[String]) -> Module {
    match path.first().map(String::as_str) {
        Some("crate") => path[1..].to_vec(),
        Some("super") => {
            let ups = path.iter().take_while(|s| *s == "super").count();
            let mut base = module.clone();
            base.truncate(module.len().saturating_sub(ups.saturating_sub(inline)));
            base.into_iter().chain(path[ups..].iter().cloned()).collect()
        }
        Some("self") => module.iter().chain(&path[1..]).cloned().collect(),
        _ => module.iter().chain(path).cloned().collect(),
    }
}

fn graph(files: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let modules: BTreeSet<Module> = files.keys().cloned().collect();
    files.iter().map(|(m, text)| (m.clone(), references(m, text, &modules))).collect()
}

/// A cycle of `graph`, as the modules along it, if there is one.
fn find_cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Seen {
        OnPath,
        Done,
    }
    fn visit(m: &Module, graph: &BTreeMap<Module, BTreeSet<Module>>, seen: &mut BTreeMap<Module, Seen>, path: &mut Vec<Module>) -> Option<Vec<Module>> {
        seen.insert(m.clone(), Seen::OnPath);
        path.push(m.clone());
        for next in graph.get(m).into_iter().flatten() {
            match seen.get(next) {
                Some(Seen::OnPath) => {
                    let start = path.iter().position(|p| p == next).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(Seen::Done) => {}
                None => {
                    if let Some(cycle) = visit(next, graph, seen, path) {
                        return Some(cycle);
                    }
                }
            }
        }
        path.pop();
        seen.insert(m.clone(), Seen::Done);
        None
    }
    let mut seen = BTreeMap::new();
    for m in graph.keys() {
        if !seen.contains_key(m) {
            if let Some(cycle) = visit(m, graph, &mut seen, &mut Vec::new()) {
                return Some(cycle);
            }
        }
    }
    None
}

fn edge(graph: &BTreeMap<Module, BTreeSet<Module>>, from: &str, to: &str) -> bool {
    let split = |s: &str| -> Module { s.split("::").filter(|p| !p.is_empty() && *p != "crate").map(String::from).collect() };
    graph.get(&split(from)).is_some_and(|targets| targets.contains(&split(to)))
}

#[test]
fn no_file_of_the_collector_imports_one_that_imports_it_back() {
    let files = read_modules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let graph = graph(&files);
    // The reading found the edges (else an empty graph would pass).
    for (from, to) in [("session", "chunks"), ("open", "detect"), ("crate", "server"), ("senders", "senders::table"), ("senders::report", "senders::table")] {
        assert!(edge(&graph, from, to), "{from} -> {to} not found in {:?}", graph.get(&vec![from.to_string()]));
    }
    if let Some(cycle) = find_cycle(&graph) {
        let shown: Vec<String> = cycle.iter().map(name).collect();
        panic!("a cycle of imports in imgssapi/src: {}", shown.join(" -> "));
    }
}

/// The check on small made-up crates: it finds what it must, and only that.
fn made_up(files: &[(&str, &str)]) -> BTreeMap<Module, BTreeSet<Module>> {
    let files = files
        .iter()
        .map(|(path, text)| (path.split("::").filter(|p| !p.is_empty()).map(String::from).collect(), text.to_string()))
        .collect();
    graph(&files)
}

#[test]
fn a_cycle_through_a_third_file_is_found() {
    let graph = made_up(&[
        ("", "mod a; mod b; mod c;"),
        ("a", "use crate::b::Thing;"),
        ("b", "fn f() -> crate::c::Other { todo!() }"),
        ("c", "use crate::{x, a::{self, Item as Renamed}};"),
        ("x", ""),
    ]);
    assert!(edge(&graph, "c", "x") && edge(&graph, "c", "a"), "{graph:?}");
    let cycle = find_cycle(&graph).expect("a -> b -> c -> a");
    assert_eq!(cycle.len(), 4, "{cycle:?}");
}

#[test]
fn an_item_of_lib_rs_used_below_it_is_a_cycle() {
    let graph = made_up(&[("", "mod a; pub fn helper() {}  fn main() { a::go() }"), ("a", "pub fn go() { crate::helper() }")]);
    assert!(find_cycle(&graph).is_some(), "{graph:?}");
}

#[test]
fn super_counts_from_the_file_past_its_inline_modules() {
    let graph = made_up(&[
        ("", "mod s;"),
        ("s", "mod t; mod u; fn f() { t::g() }"),
        ("s::t", "use super::u::X; #[cfg(test)] mod tests { use super::*; use super::super::u::Y; }"),
        ("s::u", ""),
    ]);
    assert!(edge(&graph, "s::t", "s::u"), "{graph:?}");
    assert!(edge(&graph, "s", "s::t"), "a child named bare: {graph:?}");
    assert!(!edge(&graph, "s::t", "s"), "`use super::*` in `mod tests` is the file itself: {graph:?}");
    assert!(find_cycle(&graph).is_none(), "{graph:?}");
}

#[test]
fn comments_strings_and_lifetimes_are_not_paths() {
    let graph = made_up(&[
        ("", "mod a; mod b;"),
        ("a", "//! See [`crate::b`].\n/* crate::b::X */ fn f<'a>(s: &'a str) -> &'a str { let _ = \"crate::b::Y\"; let _ = r#\"crate::b\"#; let _ = '\"'; s }"),
        ("b", "use crate::a::f;"),
    ]);
    assert!(!edge(&graph, "a", "b"), "{graph:?}");
    assert!(find_cycle(&graph).is_none(), "{graph:?}");
}
