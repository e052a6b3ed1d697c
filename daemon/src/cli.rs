//! Command-line arguments both daemons take.

use std::path::PathBuf;

/// `-f FILE`, `--check-config` and `--pid-file PATH`: flatten into a daemon's
/// clap struct with `#[command(flatten)]`.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// The configuration file (rsyslog legacy syntax).
    #[arg(short = 'f', long = "config")]
    pub config: PathBuf,
    /// Check the configuration, print every problem as FILE:LINE: message,
    /// and exit 0 (no errors) or 1.
    #[arg(long)]
    pub check_config: bool,
    /// Write the process id here while running.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
}
