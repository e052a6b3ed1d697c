//! What every session of a listener shares: the config, the listener's GSS
//! settings and credential, the rules, the way to the output thread, the
//! admission and the budgets. Built by [`crate::server`], read by every
//! stage of a session below it.

use std::net::IpAddr;
use std::sync::Arc;

use daemon::signals::Shutdown;
use gsswire::AcceptorCredential;
use tokio::sync::mpsc;

use crate::admission::Admission;
use crate::budget::Budgets;
use crate::config::{AllowedSenders, CollectorConfig, GssSettings};
use crate::detect::Modes;
use crate::output::Command;
use crate::render::Rules;

/// What every session of a listener shares.
pub struct SessionContext {
    pub config: Arc<CollectorConfig>,
    pub gss: Option<GssSettings>,
    pub credential: Option<AcceptorCredential>,
    /// Sessions apply the rules and render lines themselves (see [`crate::render`]).
    pub rules: Arc<Rules>,
    pub output: mpsc::Sender<Command>,
    pub shutdown: Shutdown,
    /// Reverse DNS for `fromhost` (off with `-x`).
    pub dns: bool,
    /// The front door and the session slots, shared by every listener.
    pub admission: Arc<Admission>,
    /// The bytes in flight, shared by every listener.
    pub budgets: Budgets,
}

impl SessionContext {
    /// What `ip` may open here; `None` when `$AllowedSender` refuses it.
    pub fn modes_for(&self, ip: IpAddr) -> Option<Modes> {
        let plain_allowed = AllowedSenders::permits(&self.config.allowed.tcp, ip);
        let gss_allowed = AllowedSenders::permits(&self.config.allowed.gss, ip);
        let (gss_ok, plain_ok) = match (&self.gss, &self.credential) {
            (Some(g), Some(_)) => (gss_allowed, g.permit_plain_tcp && plain_allowed && gss_allowed),
            (Some(_), None) => (false, false),
            (None, _) => (false, plain_allowed),
        };
        match (gss_ok, plain_ok) {
            (true, true) => Some(Modes::Either),
            (true, false) => Some(Modes::GssOnly),
            (false, true) => Some(Modes::PlainOnly),
            (false, false) => None,
        }
    }
}
