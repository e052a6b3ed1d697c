//! The daemons' own log: `tracing` lines on stderr, `RUST_LOG` to filter.

/// Installs the subscriber: level `info` unless `RUST_LOG` says otherwise,
/// colours only on a terminal.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        // A failed log write is otherwise reported with eprintln!, which
        // panics when stderr is a closed pipe (rsyslog's omprog gone, a
        // journal restarted): the logging thread or task would die with it.
        .log_internal_errors(false)
        .init();
}
