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
use crate::rainerscript;
/// A rule's filter; it lives in [`crate::filter`], and stays reachable here.
pub use crate::filter::Filter;

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
pub enum Statement {
    /// `$Name value`: the name lowercased, without the `$`, for matching, and
    /// as written, for messages.
    Directive { name: String, spelled: String, value: String },
    /// `$template Name,"text"[,options]`: the text with its escapes still in.
    Template { name: String, text: String, options: String },
    /// A filter and its first action.
    Rule { filter: Filter, action: String },
    /// `& action`: another action for the rule above.
    AlsoAction { action: String },
    /// RainerScript's `action(type="..." ...)` under its filter (the
    /// conditions of the blocks around it).
    ActionCall { filter: Filter, action: ActionCall },
}

/// A RainerScript `action(...)`: its type and its other parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionCall {
    /// `type`, lowercased (`omfile`).
    pub kind: String,
    /// Every other parameter, its name lowercased, in the order written.
    pub params: Vec<(String, String)>,
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
    read_into(path, &mut out, &[]);
    out
}

/// Reads one file; `includers` are the files whose includes led here (the
/// includer, its includer, …), so that an include loop is found instead of
/// followed.
fn read_into(path: &Path, out: &mut ConfigText, includers: &[PathBuf]) {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            out.error(&Location { file, line: 0 }, format!("cannot read config file: {e}"));
            return;
        }
    };
    let mut chain = includers.to_vec();
    chain.push(same_file_key(path));
    let include_context = rainerscript::IncludeContext { path, chain: &chain };
    let mut src = rainerscript::Source::new(&text, file);
    loop {
        src.skip_blank();
        if src.at_end() {
            break;
        }
        let rest = src.rest();
        if rainerscript::starts_statement(rest) {
            rainerscript::top_statement(&mut src, out, &include_context);
            continue;
        }
        if let Some(action) = rest.strip_prefix('&') {
            if rainerscript::starts_block(action.trim_start()) {
                // `& action(...)`: under the filter of the rule above.
                src.advance(1);
                let filter = out.lines.iter().rev().find_map(|l| match &l.statement {
                    Statement::Rule { filter, .. } | Statement::ActionCall { filter, .. } => Some(filter.clone()),
                    _ => None,
                });
                match filter {
                    Some(f) => rainerscript::block_under(&mut src, f, out),
                    None => {
                        out.error(&src.location(), "'&' action without a rule above it");
                        src.take_line();
                    }
                }
                continue;
            }
        }
        let first_line = rest.split('\n').next().unwrap_or("");
        if let Some((filter, len)) = legacy_filter(first_line) {
            if rainerscript::starts_block(first_line[len..].trim_start()) {
                src.advance(len);
                rainerscript::block_under(&mut src, filter, out);
                continue;
            }
        }
        // A legacy line, with its continuation lines.
        let location = src.location();
        let mut line = String::new();
        loop {
            let raw = src.take_line();
            src.advance(1);
            match raw.trim_end().strip_suffix('\\') {
                Some(head) if !src.at_end() => line.push_str(head),
                _ => {
                    line.push_str(raw);
                    break;
                }
            }
        }
        parse_line(line.trim(), location, path, out, &chain);
    }
}

/// One name per file, however it was reached (`a.conf`, `./a.conf`, a link).
fn same_file_key(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// The legacy filter at the start of `line` (a selector or a property
/// filter) and its length, when the line has one.
pub(crate) fn legacy_filter(line: &str) -> Option<(Filter, usize)> {
    if line.starts_with(':') {
        let (filter, action) = PropertyFilter::parse(line).ok()?;
        return Some((Filter::Property(filter), line.len() - action.len()));
    }
    let end = selector_end(line);
    let selector = &line[..end];
    if !selector.contains('.') || !line.as_bytes()[0].is_ascii_alphanumeric() && line.as_bytes()[0] != b'*' {
        return None;
    }
    Selector::parse(selector).ok().map(|s| (Filter::Selector(s), end))
}

/// As rsyslog's lexer: the selector is the run of [a-z0-9*.,;!=] at the
/// start, so `*.*:omgssapi:host` needs no space before the action.
fn selector_end(line: &str) -> usize {
    line.find(|c: char| !(c.is_ascii_alphanumeric() || "*.,;!=".contains(c))).unwrap_or(line.len())
}

fn parse_line(line: &str, location: Location, path: &Path, out: &mut ConfigText, chain: &[PathBuf]) {
    if line.is_empty() || line.starts_with('#') {
        return;
    }
    if let Some(directive) = line.strip_prefix('$') {
        let (spelled, value) = directive.split_once(char::is_whitespace).unwrap_or((directive, ""));
        let name = spelled.to_ascii_lowercase();
        let spelled = spelled.to_string();
        let value = value.trim().to_string();
        match name.as_str() {
            "template" => match parse_template_line(&value) {
                Ok((name, text, options)) => out.lines.push(Line { location, statement: Statement::Template { name, text, options } }),
                Err(e) => out.error(&location, e),
            },
            "includeconfig" => include(&value, &location, path, out, chain, false),
            _ => out.lines.push(Line { location, statement: Statement::Directive { name, spelled, value } }),
        }
        return;
    }
    if let Some(action) = line.strip_prefix('&') {
        out.lines.push(Line { location, statement: Statement::AlsoAction { action: action.trim().to_string() } });
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
    let (selector, action) = line.split_at(selector_end(line));
    if !selector.contains('.') {
        out.error(&location, format!("cannot understand this line (neither the legacy syntax nor the supported RainerScript): {line}"));
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

/// `$IncludeConfig pattern` (also RainerScript's `include(file=...)`;
/// `optional`: `mode="optional"`, a missing file is no error). `chain`: the
/// files being read, `from` last.
pub(crate) fn include(pattern: &str, location: &Location, from: &Path, out: &mut ConfigText, chain: &[PathBuf], optional: bool) {
    if chain.len() > 16 {
        out.error(location, "$IncludeConfig nested too deeply (a loop?)");
        return;
    }
    let base = from.parent().unwrap_or(Path::new("."));
    let full = if Path::new(pattern).is_absolute() { PathBuf::from(pattern) } else { base.join(pattern) };
    let files = match expand(&full) {
        Ok(f) => f,
        Err(_) if optional => return,
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
        assert!(c.problems[0].to_string().ends_with(":7: cannot understand this line (neither the legacy syntax nor the supported RainerScript): bogus line"));
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
        assert!(matches!(&c.lines[0].statement, Statement::Directive { name, value, .. } if name == "net.enabledns" && value == "off"));
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

    fn problems(c: &ConfigText) -> Vec<String> {
        c.problems.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn rainerscript_mixes_with_legacy_lines() {
        let c = read(concat!(
            "$ModLoad imgssapi\n",
            "template(name=\"T\" type=\"string\" string=\"/x/%programname%.log\")\n",
            "template(name=\"L\" type=\"list\") {\n  property(name=\"msg\" securepath=\"replace\" position.from=\"2\")\n  constant(value=\"%\\\\\\n\")\n}\n",
            "if $programname == 'sshd' and not ($msg contains \"x\") then {\n",
            "  action(type=\"omfile\" dynaFile=\"T\"\n         template=\"L\")\n",
            "  stop\n",
            "} else /var/log/other.log\n",
            "*.* action(type=\"omfile\" file=\"/all\")\n",
            "& action(type=\"omfile\" file=\"/also\")\n",
            "input(type=\"imtcp\" port=\"5514\")\n",
            "auth.* /var/log/auth.log\n",
        ));
        assert!(c.problems.is_empty(), "{:?}", problems(&c));
        let kinds: Vec<String> = c
            .lines
            .iter()
            .map(|l| match &l.statement {
                Statement::Directive { name, value, .. } => format!("{}:{name}={value}", l.location.line),
                Statement::Template { name, text, .. } => format!("{}:template {name}={text}", l.location.line),
                Statement::Rule { action, .. } => format!("{}:rule {action}", l.location.line),
                Statement::AlsoAction { action } => format!("{}:also {action}", l.location.line),
                Statement::ActionCall { action, .. } => format!("{}:call {} {:?}", l.location.line, action.kind, action.params),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "1:modload=imgssapi",
                "2:template T=/x/%programname%.log",
                "3:template L=%msg:2::secpath-replace%\\%\\\\\n",
                "8:call omfile [(\"dynafile\", \"T\"), (\"template\", \"L\")]",
                "10:rule stop",
                "11:rule /var/log/other.log",
                "12:call omfile [(\"file\", \"/all\")]",
                "13:call omfile [(\"file\", \"/also\")]",
                "14:modload=imtcp",
                "14:inputtcpserverrun=5514",
                "15:rule /var/log/auth.log",
            ]
        );
    }

    #[test]
    fn rainerscript_outside_the_subset_is_an_error_with_its_line() {
        let c = read(concat!(
            "ruleset(name=\"r\") {\n  action(type=\"omfile\" file=\"/r\")\n}\n",
            "set $!x = \"1\";\n",
            "if $msg contains_i \"x\" then /a\n",
            "if re_match($msg, \"x\") then /b\n",
            "if $msg == \"a\" + 1 then /c\n",
            "input(type=\"imudp\" port=\"514\")\n",
            "if $programname == \"x\" then {\n  call other\n}\n",
            "auth.* /ok\n",
        ));
        let p = problems(&c);
        let f = |line: usize, text: &str| p.iter().any(|s| s.contains(&format!(":{line}: ")) && s.contains(text));
        assert!(f(1, "ruleset(...) is not supported"), "{p:?}");
        assert!(f(4, "'set' is not supported"), "{p:?}");
        assert!(f(5, "the operator 'contains_i' is not supported"), "{p:?}");
        assert!(f(6, "the function or word 're_match' is not supported"), "{p:?}");
        assert!(f(7, "arithmetic and string concatenation ('+')"), "{p:?}");
        assert!(f(8, "input(type=\"imudp\") is not supported"), "{p:?}");
        assert!(f(10, "'call' is not supported"), "{p:?}");
        assert_eq!(p.len(), 7, "{p:?}");
        let rules: Vec<&str> = c.lines.iter().filter_map(|l| match &l.statement {
            Statement::Rule { action, .. } => Some(action.as_str()),
            _ => None,
        }).collect();
        assert_eq!(rules, ["/ok"], "nothing of the bad statements is kept");
    }

    #[test]
    fn an_include_loop_is_an_error_not_an_explosion() {
        // Found by the config fuzz target: two `$IncludeConfig` lines naming the
        // file itself read it 2^17 times (a hang and gigabytes), because only
        // the depth was bounded. A file already being read is not read again,
        // whether `$IncludeConfig` or RainerScript's `include()` names it.
        let dir = tempfile_dir().join("loop");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.conf"), "kern.* /a\n$IncludeConfig main.conf\ninclude(file=\"other.conf\")\n").unwrap();
        std::fs::write(dir.join("other.conf"), "kern.* /b\n$IncludeConfig ./main.conf\ninclude(file=\"main.conf\")\n").unwrap();
        let c = read_file(&dir.join("main.conf"));
        assert_eq!(c.lines.len(), 2, "each file is read once");
        assert_eq!(c.problems.len(), 3, "{:?}", c.problems);
        assert!(c.problems.iter().all(|p| p.message.contains("includes a file that is already being read")), "{:?}", c.problems);
    }
}
