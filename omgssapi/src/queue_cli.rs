//! The command line of `omgssapi queue`. Its own file so that the man page
//! is made from the same definition as `omgssapi queue --help`
//! (packaging/man reads it from the library, as it does `cli.rs`).

use std::path::PathBuf;

/// `omgssapi queue ACTION`: operations on a stopped shipper's disk queues.
#[derive(clap::Parser, Debug)]
#[command(name = "omgssapi queue", bin_name = "omgssapi queue", version)]
pub struct QueueCli {
    #[command(subcommand)]
    pub action: QueueAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum QueueAction {
    /// Records, bytes, oldest and newest record of each action's queue.
    Show(QueueArgs),
    /// Every queued record, oldest first, as a syslog line on stdout.
    Export(QueueArgs),
}

#[derive(clap::Args, Debug)]
pub struct QueueArgs {
    /// The shipper's configuration file, which says where the queues are.
    #[arg(short = 'f', long = "config")]
    pub config: PathBuf,
    /// Read the queues in DIR, whatever the config's $WorkDirectory says (a
    /// queue moved aside, say); without it, where the shipper keeps them:
    /// $WorkDirectory, else /var/spool/rsyslog.
    #[arg(long, value_name = "DIR")]
    pub work_directory: Option<PathBuf>,
}
