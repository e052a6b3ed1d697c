//! `check_gsslog_senders -w MINUTES -c MINUTES [-H ADDR:PORT]`: a Nagios /
//! Icinga plugin over the collector's `GET /senders.txt`
//! (`$GssMetricsListen`). An expected sender silent for `-w` minutes or more
//! is a WARNING, for `-c` minutes or more (or listed and never seen past
//! `$InputGSSServerSilentAfter`) CRITICAL; an unexpected sender is a WARNING.
//! Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (no answer, no list, bad
//! arguments), one line of text, then perfdata after `|`.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "check_gsslog_senders", about = "Nagios check: expected senders silent at the gsslog collector")]
struct Cli {
    /// WARNING when an expected sender has been silent this many minutes (decimals allowed).
    #[arg(short = 'w', long = "warning", value_name = "MINUTES")]
    warning: f64,
    /// CRITICAL when an expected sender has been silent this many minutes.
    #[arg(short = 'c', long = "critical", value_name = "MINUTES")]
    critical: f64,
    /// The collector's metrics endpoint ($GssMetricsListen).
    #[arg(short = 'H', long = "host", value_name = "ADDR:PORT", default_value = "127.0.0.1:9515")]
    host: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum State {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl State {
    fn name(self) -> &'static str {
        ["OK", "WARNING", "CRITICAL", "UNKNOWN"][self as usize]
    }
}

/// One sender line of `/senders.txt`.
struct Line<'a> {
    status: &'a str,
    who: String,
    last_seen: Option<u64>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            print!("{e}");
            return ExitCode::SUCCESS;
        }
        Err(e) => return report(State::Unknown, &format!("bad arguments: {}", e.to_string().lines().next().unwrap_or(""))),
    };
    if !(cli.warning >= 0.0 && cli.critical >= cli.warning) {
        return report(State::Unknown, "bad arguments: need 0 <= -w MINUTES <= -c MINUTES");
    }
    let fetched = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|rt| rt.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(10), daemon::metrics_http::get(cli.host, "/senders.txt")).await }).map_err(|_| std::io::Error::other("timed out after 10 s"))?);
    let body = match fetched {
        Ok((200, body)) => body,
        Ok((status, _)) => return report(State::Unknown, &format!("http://{}/senders.txt answered {status} (a collector with $GssMetricsListen?)", cli.host)),
        Err(e) => return report(State::Unknown, &format!("cannot reach http://{}/senders.txt: {e}", cli.host)),
    };
    let (state, text) = judge(&body, cli.warning * 60.0, cli.critical * 60.0);
    report(state, &text)
}

fn report(state: State, text: &str) -> ExitCode {
    println!("SENDERS {} - {text}", state.name());
    ExitCode::from(state as u8)
}

/// The state and the text (with perfdata) for `/senders.txt`'s `body`.
fn judge(body: &str, warn_secs: f64, crit_secs: f64) -> (State, String) {
    let mut lines = body.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    let (now, list) = match header[..] {
        ["now", now, "silent_after", _, "list", list] => match now.parse::<u64>() {
            Ok(now) => (now, list),
            Err(_) => return (State::Unknown, "the collector's /senders.txt is not understood".into()),
        },
        _ => return (State::Unknown, "the collector's /senders.txt is not understood".into()),
    };
    if list == "-" {
        return (State::Unknown, "the collector has no $InputGSSServerExpectedSenders list".into());
    }
    let mut senders = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let [status, ip, principal, last_seen] = f[..] else {
            return (State::Unknown, "the collector's /senders.txt is not understood".into());
        };
        let who = match (ip, principal) {
            ("-", p) => p.to_string(),
            (ip, "-") => ip.to_string(),
            (ip, p) => format!("{ip} ({p})"),
        };
        senders.push(Line { status, who, last_seen: last_seen.parse().ok() });
    }
    let expected: Vec<&Line> = senders.iter().filter(|s| s.status == "ok" || s.status == "silent").collect();
    let silence = |s: &Line| s.last_seen.map(|t| now.saturating_sub(t) as f64);
    let mut critical = Vec::new();
    let mut warning = Vec::new();
    let mut longest: f64 = 0.0;
    for s in &expected {
        match silence(s) {
            Some(secs) => {
                longest = longest.max(secs);
                if secs >= crit_secs {
                    critical.push(format!("{} silent {}", s.who, minutes(secs)));
                } else if secs >= warn_secs {
                    warning.push(format!("{} silent {}", s.who, minutes(secs)));
                }
            }
            None if s.status == "silent" => critical.push(format!("{} never seen", s.who)),
            None => {}
        }
    }
    let unexpected: Vec<String> = senders.iter().filter(|s| s.status == "unexpected").map(|s| format!("{} unexpected", s.who)).collect();
    let state = if !critical.is_empty() {
        State::Critical
    } else if !warning.is_empty() || !unexpected.is_empty() {
        State::Warning
    } else {
        State::Ok
    };
    let problems: Vec<&String> = critical.iter().chain(&warning).chain(&unexpected).collect();
    let mut text = if problems.is_empty() {
        format!("{} expected senders, none silent for {}", expected.len(), minutes(warn_secs))
    } else {
        let shown: Vec<&str> = problems.iter().take(10).map(|s| s.as_str()).collect();
        let more = problems.len().saturating_sub(10);
        let mut t = format!("{} of {} expected senders silent, {} unexpected: {}", critical.len() + warning.len(), expected.len(), unexpected.len(), shown.join(", "));
        if more > 0 {
            let _ = write!(t, ", and {more} more");
        }
        t
    };
    let _ = write!(
        text,
        " | silent_critical={};;;0 silent_warning={};;;0 unexpected={};;;0 expected={};;;0 longest_silence={}s;{};{};0",
        critical.len(),
        warning.len(),
        unexpected.len(),
        expected.len(),
        longest as u64,
        warn_secs as u64,
        crit_secs as u64
    );
    (state, text)
}

fn minutes(secs: f64) -> String {
    if secs >= 60.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{secs:.0} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "now\t10000\tsilent_after\t600\tlist\t/etc/exp\n\
        silent\t-\thost/gone@R\t-\n\
        silent\t10.0.0.1\thost/a@R\t8000\n\
        unexpected\t10.0.0.9\t-\t9990\n\
        ok\t10.0.0.2\t-\t9700\n\
        ok\t10.0.0.3\t-\t9990\n";

    #[test]
    fn critical_warning_and_ok() {
        let (state, text) = judge(BODY, 240.0, 600.0);
        assert_eq!(state, State::Critical);
        assert_eq!(
            text,
            "3 of 4 expected senders silent, 1 unexpected: host/gone@R never seen, 10.0.0.1 (host/a@R) silent 33 min, 10.0.0.2 silent 5 min, 10.0.0.9 unexpected \
             | silent_critical=2;;;0 silent_warning=1;;;0 unexpected=1;;;0 expected=4;;;0 longest_silence=2000s;240;600;0"
        );
        let quiet = "now\t10000\tsilent_after\t600\tlist\t/etc/exp\nok\t10.0.0.2\t-\t9700\n";
        assert_eq!(judge(quiet, 400.0, 600.0).0, State::Ok);
        assert_eq!(judge(quiet, 300.0, 600.0).0, State::Warning);
        let only_unexpected = "now\t10000\tsilent_after\t600\tlist\t/etc/exp\nunexpected\t10.0.0.9\t-\t9990\n";
        assert_eq!(judge(only_unexpected, 300.0, 600.0).0, State::Warning);
    }

    #[test]
    fn unknown_without_a_list_or_with_garbage() {
        assert_eq!(judge("now\t1\tsilent_after\t600\tlist\t-\n", 1.0, 2.0), (State::Unknown, "the collector has no $InputGSSServerExpectedSenders list".into()));
        assert_eq!(judge("<html>", 1.0, 2.0).0, State::Unknown);
    }
}
