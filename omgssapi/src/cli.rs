//! The shipper's command line. Its own file so that the man page is made
//! from the same definition as `--help` (packaging/man includes it).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use daemon::cli::CommonArgs;

/// Kerberos-protected syslog shipper, compatible with rsyslog's omgssapi.
#[derive(Parser, Debug)]
#[command(
    name = "omgssapi",
    version,
    after_help = "A stopped shipper's queues: omgssapi queue show -f CONFIG, omgssapi queue export -f CONFIG (see omgssapi queue --help)."
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Read messages from stdin as rsyslog's omprog with confirmMessages="on".
    #[arg(long)]
    pub stdin: bool,
    /// Also listen on this local datagram socket (like /dev/log).
    #[arg(long = "unix-socket")]
    pub unix_sockets: Vec<PathBuf>,
    /// Also listen for syslog over UDP on ADDR:PORT.
    #[arg(long)]
    pub udp: Vec<SocketAddr>,
    /// Also listen for syslog over TCP on ADDR:PORT (LF-framed or octet-counted).
    #[arg(long)]
    pub tcp: Vec<SocketAddr>,
    /// With --check-config: also get a ticket for each action's service from
    /// the KDC, as its first handshake would (no connection to the collector).
    #[arg(long, requires = "check_config")]
    pub check_credentials: bool,
    /// The collector (HOST:PORT) for a forwarding action whose target is the
    /// packaged config's placeholder `<server_name>:<port>`: fleet
    /// automation sets it in /etc/default/gsslog-shipper, which the unit and
    /// the omprog wrapper read, instead of editing the config on every node.
    #[arg(long, env = "GSSLOG_COLLECTOR", value_name = "HOST:PORT")]
    pub collector: Option<String>,
    /// Where queues live when the config has no $WorkDirectory.
    #[arg(long, default_value = DEFAULT_WORK_DIRECTORY)]
    pub work_directory: PathBuf,
}

/// Where queues live without `$WorkDirectory` or `--work-directory`: rsyslog's default.
pub const DEFAULT_WORK_DIRECTORY: &str = "/var/spool/rsyslog";
