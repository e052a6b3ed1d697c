//! The collector's command line. Its own file so that the man page is made
//! from the same definition as `--help` (packaging/man includes it).

use clap::Parser;
use daemon::cli::CommonArgs;

/// Kerberos-protected syslog collector, compatible with rsyslog's imgssapi.
#[derive(Parser, Debug)]
#[command(name = "imgssapi", version)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    /// No reverse DNS for senders: `fromhost` is their address. (rsyslog's old
    /// -x; current rsyslog and this daemon also take global(net.enableDNS="off").)
    #[arg(short = 'x')]
    pub no_dns: bool,
}
