//! Reading rsyslog's legacy configuration syntax into located statements.
//!
//! This layer knows the shape of lines (directives, templates, rules, `&`
//! actions), comments, continuation lines and `$IncludeConfig`. What the
//! directives mean is up to each daemon, which reports anything it does not
//! support against the same `FILE:LINE`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::filter::{PropertyFilter, Selector};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<str>,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// Something wrong (or suspicious) in the configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: Location,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Severity::Error => write!(f, "{}: {}", self.location, self.message),
            Severity::Warning => write!(f, "{}: warning: {}", self.location, self.message),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Filter {
    Selector(Selector),
    Property(PropertyFilter),
}

impl Filter {
    pub fn matches(&self, m: &crate::Message) -> bool {
        match self {
            Filter::Selector(s) => s.matches(m.facility(), m.severity()),
            Filter::Property(p) => p.matches(m),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Statement {
    /// `$Name value`: the name lowercased, without the `$`.
    Directive { name: String, value: String },
    /// `$template Name,"text"[,options]`: the text with its escapes still in.
    Template { name: String, text: String, options: String },
    /// A filter and its first action.
    Rule { filter: Filter, action: String },
    /// `& action`: another action for the rule above.
    AlsoAction { action: String },
}

#[derive(Debug, Clone)]
pub struct Line {
    pub location: Location,
    pub statement: Statement,
}

#[derive(Debug, Default)]
pub struct ConfigText {
    pub lines: Vec<Line>,
    pub problems: Vec<Problem>,
}

impl ConfigText {
    pub fn error(&mut self, location: &Location, message: impl Into<String>) {
        self.problems.push(Problem { location: location.clone(), severity: Severity::Error, message: message.into() });
    }

    pub fn warn(&mut self, location: &Location, message: impl Into<String>) {
        self.problems.push(Problem { location: location.clone(), severity: Severity::Warning, message: message.into() });
    }

    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    /// The daemons' start-up gate. With `check_only` (`--check-config`) it
    /// prints every problem as `FILE:LINE: message` and returns the exit code
    /// (0, or 1 on any error); otherwise it logs them and returns an exit code
    /// only if there are errors, `None` when the daemon may start.
    pub fn gate(&self, program: &str, check_only: bool) -> Option<std::process::ExitCode> {
        use std::process::ExitCode;
        if check_only {
            for p in &self.problems {
                println!("{p}");
            }
            return Some(if self.has_errors() { ExitCode::FAILURE } else { ExitCode::SUCCESS });
        }
        for p in &self.problems {
            match p.severity {
                Severity::Error => tracing::error!("{p}"),
                Severity::Warning => tracing::warn!("{p}"),
            }
        }
        if self.has_errors() {
            eprintln!("{program}: configuration has errors; not starting (see above, or run with --check-config)");
            return Some(ExitCode::FAILURE);
        }
        None
    }
}

/// rsyslog's binary values: `on`/`off` (also `yes`/`no`, `1`/`0`).
pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "yes" | "1" => Ok(true),
        "off" | "no" | "0" => Ok(false),
        _ => Err(format!("'{v}' is not on or off")),
    }
}

/// Reads `path` and every file it includes.
pub fn read_file(path: &Path) -> ConfigText {
    let mut out = ConfigText::default();
    read_into(path, &mut out, &mut Vec::new());
    out
}

/// Reads one file; `chain` holds the files being read (the includer, its
/// includer, …), so that an include loop is found instead of followed.
fn read_into(path: &Path, out: &mut ConfigText, chain: &mut Vec<PathBuf>) {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            out.error(&Location { file, line: 0 }, format!("cannot read config file: {e}"));
            return;
        }
    };
    chain.push(same_file_key(path));
    let mut pending = String::new();
    let mut start_line = 0;
    for (i, raw) in text.lines().enumerate() {
        if pending.is_empty() {
            start_line = i + 1;
        }
        let trimmed_end = raw.trim_end();
        if let Some(head) = trimmed_end.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(raw);
        let line = std::mem::take(&mut pending);
        let location = Location { file: file.clone(), line: start_line };
        parse_line(line.trim(), location, path, out, chain);
    }
    if !pending.is_empty() {
        let location = Location { file: file.clone(), line: start_line };
        parse_line(pending.trim(), location, path, out, chain);
    }
    chain.pop();
}

/// One name per file, however it was reached (`a.conf`, `./a.conf`, a link).
fn same_file_key(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

fn parse_line(line: &str, location: Location, path: &Path, out: &mut ConfigText, chain: &mut Vec<PathBuf>) {
    if line.is_empty() || line.starts_with('#') {
        return;
    }
    if let Some(directive) = line.strip_prefix('$') {
        let (name, value) = directive.split_once(char::is_whitespace).unwrap_or((directive, ""));
        let name = name.to_ascii_lowercase();
        let value = value.trim().to_string();
        match name.as_str() {
            "template" => match parse_template_line(&value) {
                Ok((name, text, options)) => out.lines.push(Line { location, statement: Statement::Template { name, text, options } }),
                Err(e) => out.error(&location, e),
            },
            "includeconfig" => include(&value, &location, path, out, chain),
            _ => out.lines.push(Line { location, statement: Statement::Directive { name, value } }),
        }
        return;
    }
    if let Some(action) = line.strip_prefix('&') {
        out.lines.push(Line { location, statement: Statement::AlsoAction { action: action.trim().to_string() } });
        return;
    }
    if let Some(params) = line.strip_prefix("global(").and_then(|r| r.trim_end().strip_suffix(')')) {
        // RainerScript's global(name="value" ...) is accepted as directives
        // named after the parameter (e.g. net.enabledns), for the few that
        // legacy syntax cannot express.
        for pair in params.split_whitespace() {
            match pair.split_once('=') {
                Some((k, v)) => out.lines.push(Line {
                    location: location.clone(),
                    statement: Statement::Directive { name: k.to_ascii_lowercase(), value: v.trim_matches('"').to_string() },
                }),
                None => out.error(&location, format!("global(...): expected name=\"value\", found '{pair}'")),
            }
        }
        return;
    }
    if let Some(module) = line.strip_prefix("module(") {
        // RainerScript's module(load="x") is accepted as $ModLoad x.
        match module.split_once("load=\"").and_then(|(_, r)| r.split_once('"')) {
            Some((name, _)) => out.lines.push(Line {
                location,
                statement: Statement::Directive { name: "modload".into(), value: name.to_string() },
            }),
            None => out.error(&location, "module(...) without load=\"name\""),
        }
        return;
    }
    if line.starts_with(':') {
        match PropertyFilter::parse(line) {
            Ok((filter, action)) if !action.is_empty() => out.lines.push(Line {
                location,
                statement: Statement::Rule { filter: Filter::Property(filter), action: action.to_string() },
            }),
            Ok(_) => out.error(&location, "property filter without an action"),
            Err(e) => out.error(&location, e),
        }
        return;
    }
    // As rsyslog's lexer: the selector is the run of [a-z0-9*.,;!=] at the
    // start, so `*.*:omgssapi:host` needs no space before the action.
    let end = line.find(|c: char| !(c.is_ascii_alphanumeric() || "*.,;!=".contains(c))).unwrap_or(line.len());
    let (selector, action) = line.split_at(end);
    if !selector.contains('.') {
        out.error(&location, format!("cannot understand this line (RainerScript is not supported; use the legacy syntax): {line}"));
        return;
    }
    match Selector::parse(selector) {
        Ok(s) if !action.trim().is_empty() => out.lines.push(Line {
            location,
            statement: Statement::Rule { filter: Filter::Selector(s), action: action.trim().to_string() },
        }),
        Ok(_) => out.error(&location, format!("selector '{selector}' without an action")),
        Err(e) => out.error(&location, e),
    }
}

/// `Name,"text"[,options]` → (name, text, options).
fn parse_template_line(value: &str) -> Result<(String, String, String), String> {
    let (name, rest) = value.split_once(',').ok_or("$template needs a name, a comma and a quoted text")?;
    let name = name.trim();
    if name.is_empty() {
        return Err("$template without a name".into());
    }
    let rest = rest.trim_start();
    let body = rest.strip_prefix('"').ok_or_else(|| format!("template '{name}': the text must be in double quotes"))?;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => {
                let options = body[i + 1..].trim().trim_start_matches(',').trim().to_string();
                return Ok((name.to_string(), body[..i].to_string(), options));
            }
            _ => i += 1,
        }
    }
    Err(format!("template '{name}': unterminated quoted text"))
}

fn include(pattern: &str, location: &Location, from: &Path, out: &mut ConfigText, chain: &mut Vec<PathBuf>) {
    if chain.len() > 16 {
        out.error(location, "$IncludeConfig nested too deeply (a loop?)");
        return;
    }
    let base = from.parent().unwrap_or(Path::new("."));
    let full = if Path::new(pattern).is_absolute() { PathBuf::from(pattern) } else { base.join(pattern) };
    let files = match expand(&full) {
        Ok(f) => f,
        Err(e) => {
            out.error(location, format!("$IncludeConfig {pattern}: {e}"));
            return;
        }
    };
    for f in files {
        // Without this, two lines including their own file read it 2^17 times.
        if chain.contains(&same_file_key(&f)) {
            out.error(location, format!("$IncludeConfig {pattern} includes a file that is already being read: {}", f.display()));
            continue;
        }
        read_into(&f, out, chain);
    }
}

/// A file, a directory (its files, sorted), or a `*` pattern in the last part.
fn expand(path: &Path) -> Result<Vec<PathBuf>, String> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new("."));
    let list = |dir: &Path, keep: &dyn Fn(&str) -> bool| -> Result<Vec<PathBuf>, String> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .filter(|e| e.path().is_file() && keep(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        v.sort();
        Ok(v)
    };
    if name.contains('*') {
        let (prefix, suffix) = name.split_once('*').unwrap_or((&name, ""));
        let suffix = suffix.replace('*', "");
        return list(dir, &|n: &str| n.starts_with(prefix) && n.ends_with(suffix.as_str()) && !n.starts_with('.'));
    }
    if path.is_dir() {
        return list(path, &|n: &str| !n.starts_with('.'));
    }
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    Err("no such file or directory".into())
}

/// Parses an rsyslog size such as `100m` (`$ActionQueueMaxDiskSpace`,
/// `$MaxMessageSize`): lowercase `k`/`m`/`g` are binary (`100m` = 104857600),
/// uppercase `K`/`M`/`G` decimal, as rsyslog does.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, multiplier) = match s.chars().last() {
        Some('k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('m') => (&s[..s.len() - 1], 1 << 20),
        Some('g') => (&s[..s.len() - 1], 1 << 30),
        Some('K') => (&s[..s.len() - 1], 1_000),
        Some('M') => (&s[..s.len() - 1], 1_000_000),
        Some('G') => (&s[..s.len() - 1], 1_000_000_000),
        _ => (s, 1),
    };
    let n: u64 = digits.trim().parse().map_err(|_| format!("invalid size '{s}'"))?;
    n.checked_mul(multiplier).ok_or_else(|| format!("size '{s}' is too large"))
}

/// What a legacy action line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `/path`, `-/path` (the `-` is accepted and, as in rsyslog v8, changes
    /// nothing), `?Template` (a dynamic file), each with an optional `;Template`.
    File { target: FileTarget, template: Option<String> },
    /// `~` or `stop`: stop processing this message.
    Stop,
    /// `:omgssapi:…` (the text after the module name).
    Omgssapi(String),
    /// Anything else, kept for the error message.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileTarget {
    Static(PathBuf),
    Dynamic(String),
}

pub fn parse_action(text: &str) -> Action {
    let t = text.trim();
    if t == "~" || t.eq_ignore_ascii_case("stop") {
        return Action::Stop;
    }
    if let Some(rest) = t.strip_prefix(":omgssapi:") {
        return Action::Omgssapi(rest.to_string());
    }
    let t2 = t.strip_prefix('-').unwrap_or(t);
    let (target, template) = match t2.split_once(';') {
        Some((a, b)) => (a.trim(), Some(b.trim().to_string()).filter(|s| !s.is_empty())),
        None => (t2.trim(), None),
    };
    if let Some(name) = target.strip_prefix('?') {
        return Action::File { target: FileTarget::Dynamic(name.to_string()), template };
    }
    if target.starts_with('/') {
        return Action::File { target: FileTarget::Static(PathBuf::from(target)), template };
    }
    Action::Other(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> ConfigText {
        let dir = tempfile_dir();
        let p = dir.join("main.conf");
        std::fs::write(&p, text).unwrap();
        read_file(&p)
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("syslog-config-test-{}-{:?}", std::process::id(), std::thread::current().id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn seed_server_config_reads() {
        let c = read(include_str!("../testdata/server.conf"));
        assert!(!c.has_errors(), "{:?}", c.problems);
        let templates = c.lines.iter().filter(|l| matches!(l.statement, Statement::Template { .. })).count();
        let rules = c.lines.iter().filter(|l| matches!(l.statement, Statement::Rule { .. })).count();
        assert_eq!((templates, rules), (5, 5));
    }

    #[test]
    fn continuation_comments_and_locations() {
        let c = read("# comment\n\n$ModLoad imgssapi\nauth.* \\\n  /var/log/auth.log\n& stop\nbogus line\n");
        assert_eq!(c.lines.len(), 3);
        assert_eq!(c.lines[1].location.line, 4);
        assert!(matches!(&c.lines[1].statement, Statement::Rule { action, .. } if action == "/var/log/auth.log"));
        assert_eq!(c.problems.len(), 1);
        assert!(c.problems[0].to_string().ends_with(":7: cannot understand this line (RainerScript is not supported; use the legacy syntax): bogus line"));
    }

    #[test]
    fn sizes_like_rsyslog() {
        assert_eq!(parse_size("100m"), Ok(104_857_600));
        assert_eq!(parse_size("100M"), Ok(100_000_000));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("512"), Ok(512));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn global_parameters_become_directives() {
        let c = read("global(net.enableDNS=\"off\")\n");
        assert!(matches!(&c.lines[0].statement, Statement::Directive { name, value } if name == "net.enabledns" && value == "off"));
    }

    #[test]
    fn action_may_follow_the_selector_without_a_space() {
        let c = read("*.*:omgssapi:collector:515\n");
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert!(matches!(&c.lines[0].statement, Statement::Rule { action, .. } if action == ":omgssapi:collector:515"));
    }

    #[test]
    fn actions() {
        assert_eq!(parse_action("-?PerHost"), Action::File { target: FileTarget::Dynamic("PerHost".into()), template: None });
        assert_eq!(
            parse_action("/var/log/x;RSYSLOG_TraditionalFileFormat"),
            Action::File { target: FileTarget::Static("/var/log/x".into()), template: Some("RSYSLOG_TraditionalFileFormat".into()) }
        );
        assert_eq!(parse_action("~"), Action::Stop);
        assert_eq!(parse_action(":omgssapi:(z9,o)collector:515"), Action::Omgssapi("(z9,o)collector:515".into()));
    }

    #[test]
    fn include_config_glob() {
        let dir = tempfile_dir().join("inc");
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(dir.join("conf.d/b.conf"), "kern.* /b\n").unwrap();
        std::fs::write(dir.join("conf.d/a.conf"), "kern.* /a\n").unwrap();
        std::fs::write(dir.join("main.conf"), "$IncludeConfig conf.d/*.conf\n").unwrap();
        let c = read_file(&dir.join("main.conf"));
        let actions: Vec<String> = c
            .lines
            .iter()
            .filter_map(|l| match &l.statement {
                Statement::Rule { action, .. } => Some(action.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(actions, ["/a", "/b"]);
    }

    #[test]
    fn an_include_loop_is_an_error_not_an_explosion() {
        // Found by the config fuzz target: two `$IncludeConfig` lines naming the
        // file itself read it 2^17 times (a hang and gigabytes), because only
        // the depth was bounded. A file already being read is not read again.
        let dir = tempfile_dir().join("loop");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.conf"), "kern.* /a\n$IncludeConfig main.conf\n$IncludeConfig other.conf\n").unwrap();
        std::fs::write(dir.join("other.conf"), "kern.* /b\n$IncludeConfig main.conf\n$IncludeConfig main.conf\n").unwrap();
        let c = read_file(&dir.join("main.conf"));
        assert_eq!(c.lines.len(), 2, "each file is read once");
        assert_eq!(c.problems.len(), 3, "{:?}", c.problems);
        assert!(c.problems.iter().all(|p| p.message.contains("includes a file that is already being read")), "{:?}", c.problems);
    }
}
