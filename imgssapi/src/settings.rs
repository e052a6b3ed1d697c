//! The collector's settings as the directive table fills them, line by line
//! (step one of reading the config; `config` builds the collector from them).
//! Below `directives`, which sets their fields, and `config`, which reads them.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use daemon::shared_directives::SharedSettings;
use gsswire::FrameOrder;
use syslog::config::Location;

use crate::admission::SessionCaps;
use crate::front_door::FrontDoorLimits;
use crate::identity::IdentitySettings;
use crate::render::FileSettings;
use crate::session_rate::RateLimitSettings;
use crate::source::in_net;

/// One listener's settings (`$InputGSSServer*`, or `$InputTCPServerRun`).
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    pub port: u16,
    /// Extension `$InputGSSServerBindAddress` (rsyslog always binds all interfaces).
    pub bind: IpAddr,
    /// `None`: a plain TCP listener (imtcp).
    pub gss: Option<GssSettings>,
    pub keepalive: bool,
}

#[derive(Debug, Clone)]
pub struct GssSettings {
    pub service_name: String,
    pub permit_plain_tcp: bool,
    pub byte_order: FrameOrder,
    pub require_encryption: bool,
    /// Extension `$InputGSSServerAcknowledge` (default on): answer a
    /// shipper's request for acknowledgements ([`gsswire::ack`]). A stock
    /// client never asks, so it is never sent anything.
    pub acknowledge: bool,
}

/// `$AllowedSender KIND, net[/bits], ...`
#[derive(Debug, Clone, Default)]
pub struct AllowedSenders {
    pub gss: Vec<(IpAddr, u8)>,
    pub tcp: Vec<(IpAddr, u8)>,
}

impl AllowedSenders {
    pub fn permits(list: &[(IpAddr, u8)], ip: IpAddr) -> bool {
        list.is_empty() || list.iter().any(|(net, bits)| in_net(ip, *net, *bits))
    }
}

/// The default of `$InputGSSServerMemoryLimit`: 512 MiB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 512 * 1024 * 1024;
/// `$InputGSSServerReplaceIdleSessionAfter`'s default, in milliseconds: a
/// newer session of a sender at its cap replaces one of its sessions only
/// once that has received nothing for 30 s.
pub const DEFAULT_REPLACE_IDLE_MS: u64 = 30_000;
/// The smallest `$InputGSSServerMemoryLimit`: room for a few sessions' tokens.
pub(crate) const MIN_MEMORY_LIMIT: u64 = 4 * 1024 * 1024;

/// Step one: every directive read and checked, in file order; a value holds
/// from its line on (file settings for the actions below it).
/// Its fields are set by the entries of [`crate::directives::TABLE`].
#[derive(Debug)]
pub struct Settings {
    pub(crate) gss_port: Option<(u16, Location)>,
    pub(crate) tcp_port: Option<u16>,
    pub(crate) gss: GssSettings,
    pub(crate) bind: IpAddr,
    pub(crate) keepalive: bool,
    pub(crate) sessions: SessionCaps,
    pub(crate) front_door: FrontDoorLimits,
    pub(crate) front_door_lines: FrontDoorLines,
    pub(crate) port_file: Option<PathBuf>,
    pub(crate) token_timeout: Option<Duration>,
    pub(crate) drain_timeout: Duration,
    pub(crate) memory_limit: u64,
    pub(crate) rate_limit: RateLimitSettings,
    pub(crate) ack_after_fsync: bool,
    pub(crate) umask: Option<u32>,
    pub(crate) allowed: AllowedSenders,
    pub(crate) default_template: String,
    pub(crate) files: FileSettings,
    pub(crate) dns: bool,
    /// The directives both daemons read (`$ModLoad`, privileges, metrics, `$MaxMessageSize`).
    pub(crate) shared: SharedSettings,
    pub(crate) identity: IdentitySettings,
    /// Where `$InputGSSServerHostMapFile` stands, to point warnings at it.
    pub(crate) host_map_line: Option<Location>,
    pub(crate) senders: crate::senders::SenderSettings,
}

impl Settings {
    pub(crate) fn new() -> Settings {
        Settings {
            gss_port: None,
            tcp_port: None,
            gss: GssSettings {
                service_name: "host".into(),
                permit_plain_tcp: false,
                byte_order: FrameOrder::Auto,
                require_encryption: false,
                acknowledge: true,
            },
            bind: IpAddr::from([0u16; 8]),
            keepalive: false,
            sessions: SessionCaps { total: 200, per_sender: 8, per_host: 64, replace_idle: DEFAULT_REPLACE_IDLE_MS },
            front_door: FrontDoorLimits::default(),
            front_door_lines: FrontDoorLines::default(),
            port_file: None,
            token_timeout: Some(Duration::from_secs(10)),
            drain_timeout: Duration::from_secs(10),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            rate_limit: RateLimitSettings::default(),
            ack_after_fsync: false,
            umask: None,
            allowed: AllowedSenders::default(),
            default_template: "RSYSLOG_FileFormat".into(),
            files: FileSettings::default(),
            dns: true,
            shared: SharedSettings::default(),
            identity: IdentitySettings::default(),
            host_map_line: None,
            senders: crate::senders::SenderSettings::default(),
        }
    }
}

/// Where the front-door directives were set, to point warnings at them.
#[derive(Debug, Default)]
pub(crate) struct FrontDoorLines {
    pub(crate) counts: Option<Location>,
    pub(crate) timeouts: Option<Location>,
}

/// The parameters of one `action(type="omfile" ...)`, as read through
/// [`crate::directives::OMFILE`].
#[derive(Debug, Default)]
pub struct OmfileParams {
    pub(crate) file: Option<String>,
    pub(crate) dyna: Option<String>,
    pub(crate) template: Option<String>,
    /// The legacy directives' file settings above the line, changed by the parameters.
    pub(crate) files: FileSettings,
}
