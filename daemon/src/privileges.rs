//! Least privilege without systemd: rsyslog's `$PrivDropToUser`,
//! `$PrivDropToGroup`, `$PrivDropToUserID` and `$PrivDropToGroupID`.
//!
//! A daemon binds its ports, opens its sockets and files and acquires its
//! Kerberos credential as root, then calls [`PrivDrop::drop_now`]: the
//! supplementary groups are set (the user's, from the group database, as
//! `initgroups` does), then the group id, then the user id (in that order: a
//! process that is no longer root cannot change its group). Afterwards the
//! ids are checked, and so is that root cannot be regained.
//!
//! One deliberate difference from rsyslog: with only `$PrivDropToUser`,
//! rsyslog keeps group 0 (root); here the user's primary group is used.
//!
//! The same module reads the owners of created files and directories
//! (`$FileOwner`, `$FileGroup`, `$DirOwner`, `$DirGroup` and their `Num` forms).

use std::path::{Path, PathBuf};

use crate::directive_table::Kind;
use crate::directives::Directive;
use crate::os;


/// Why dropping privileges failed; the daemon does not start.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// A system call refused.
    #[error("{call}({id}): {source}")]
    Call {
        /// The call, e.g. `setuid`.
        call: &'static str,
        /// The id passed.
        id: u32,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The ids after the drop are not the ones asked for.
    #[error("after dropping privileges the process runs as uid {uids:?} gid {gids:?}, not uid {uid} gid {gid}")]
    Mismatch {
        /// Real, effective, saved user ids found.
        uids: [u32; 3],
        /// Real, effective, saved group ids found.
        gids: [u32; 3],
        /// The user id asked for.
        uid: u32,
        /// The group id asked for.
        gid: u32,
    },
    /// `setuid(0)` succeeded after the drop.
    #[error("after dropping privileges to uid {uid}, setuid(0) still succeeds: refusing to run")]
    RootRegained {
        /// The user id dropped to.
        uid: u32,
    },
    /// A file the daemon needs later cannot be read as the new user.
    #[error(
        "running as uid {uid} gid {gid}, {what} {} cannot be read ({source}); \
         it is read again later, so make it readable by that group (chgrp GROUP FILE; chmod 0640 FILE)",
        path.display()
    )]
    Unreadable {
        /// What the file is, e.g. "the keytab".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The user id dropped to.
        uid: u32,
        /// The group id dropped to.
        gid: u32,
        /// The error opening it.
        source: std::io::Error,
    },
    /// A directory the daemon creates files in is not writable as the new user.
    #[error(
        "running as uid {uid}, {what} {} is not writable ({source}); chown it to that user",
        path.display()
    )]
    NotWritable {
        /// What the directory is, e.g. "the queue directory".
        what: &'static str,
        /// The directory.
        path: PathBuf,
        /// The user id dropped to.
        uid: u32,
        /// The error creating a file there.
        source: std::io::Error,
    },
}

/// The user the daemon drops to: a name from the user database, or a bare id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUser {
    /// The user id.
    pub uid: u32,
    /// The account, when the database has one (name and primary group).
    pub account: Option<os::User>,
}

/// The privilege-drop directives, as read (step one of a daemon's config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivDrop {
    /// `$PrivDropToUser` / `$PrivDropToUserID`.
    pub user: Option<TargetUser>,
    /// `$PrivDropToGroup` / `$PrivDropToGroupID`.
    pub group: Option<u32>,
}

impl PrivDrop {
    /// The group the daemon runs as once dropped: the group given, else the
    /// user's primary group, else the one it runs as now.
    pub fn final_group(&self) -> u32 {
        self.group
            .or_else(|| self.user.as_ref().and_then(|u| u.account.as_ref()).map(|a| a.gid))
            .unwrap_or_else(|| os::ids().gids[1])
    }

    /// Every group the daemon runs with once dropped: without a drop, the
    /// ones it runs with now (a unit's `Group=` and `SupplementaryGroups=`);
    /// with one, the final group.
    pub fn final_groups(&self) -> Vec<u32> {
        let mut groups = vec![self.final_group()];
        if self.user.is_none() && self.group.is_none() {
            groups.extend(os::supplementary_groups().unwrap_or_default());
        }
        groups
    }
}

/// What the process runs as after [`PrivDrop::drop_now`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// The user id (unchanged when only a group was given).
    pub uid: u32,
    /// The group id.
    pub gid: u32,
}

impl PrivDrop {
    /// Whether any of the directives was given.
    pub fn is_requested(&self) -> bool {
        self.user.is_some() || self.group.is_some()
    }

    /// Drops to the configured user and group, for every thread of the
    /// process; `Ok(None)` when nothing was configured.
    pub fn drop_now(&self) -> Result<Option<Dropped>, PrivilegeError> {
        if !self.is_requested() {
            return Ok(None);
        }
        let before = os::ids();
        let uid = self.user.as_ref().map_or(before.uids[1], |u| u.uid);
        let gid = self
            .group
            .or_else(|| self.user.as_ref().and_then(|u| u.account.as_ref()).map(|a| a.gid))
            .unwrap_or(before.gids[1]);
        let already = before.uids == [uid; 3] && before.gids == [gid; 3];
        if !already {
            let name = self.user.as_ref().and_then(|u| u.account.as_ref()).map(|a| a.name.as_str());
            // Only a group given: no supplementary groups at all, as rsyslog.
            let groups: &[u32] = if self.user.is_some() { &[gid] } else { &[] };
            os::set_supplementary_groups(name, gid, groups).map_err(|source| PrivilegeError::Call { call: "setgroups", id: gid, source })?;
            os::set_gid(gid).map_err(|source| PrivilegeError::Call { call: "setgid", id: gid, source })?;
            if self.user.is_some() {
                os::set_uid(uid).map_err(|source| PrivilegeError::Call { call: "setuid", id: uid, source })?;
            }
        }
        let after = os::ids();
        if after.uids != [uid; 3] || after.gids != [gid; 3] {
            return Err(PrivilegeError::Mismatch { uids: after.uids, gids: after.gids, uid, gid });
        }
        if uid != 0 && os::set_uid(0).is_ok() {
            return Err(PrivilegeError::RootRegained { uid });
        }
        Ok(Some(Dropped { uid, gid }))
    }
}

impl Dropped {
    /// Fails unless `path` can be opened for reading now.
    pub fn require_readable(&self, what: &'static str, path: &Path) -> Result<(), PrivilegeError> {
        match std::fs::File::open(path) {
            Ok(_) => Ok(()),
            Err(source) => Err(PrivilegeError::Unreadable { what, path: path.to_path_buf(), uid: self.uid, gid: self.gid, source }),
        }
    }

    /// Fails unless a file can be created (and removed) in `dir` now.
    pub fn require_writable_dir(&self, what: &'static str, dir: &Path) -> Result<(), PrivilegeError> {
        let probe = dir.join(format!(".gsslog-probe-{}", std::process::id()));
        let created = std::fs::OpenOptions::new().write(true).create_new(true).open(&probe);
        match created {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
                Ok(())
            }
            Err(source) => Err(PrivilegeError::NotWritable { what, path: dir.to_path_buf(), uid: self.uid, source }),
        }
    }
}

/// What the daemon still needs once it runs as the new user.
#[derive(Debug, Default)]
pub struct StillNeeded {
    /// Files read again later, e.g. the keytab: MIT Kerberos reopens a FILE:
    /// keytab at every accept and every ticket fetch (the credential holds
    /// its name, not its keys).
    pub readable: Vec<(&'static str, PathBuf)>,
    /// Directories files are created in later, e.g. the queue's.
    pub writable_dirs: Vec<(&'static str, PathBuf)>,
}

/// Drops privileges as configured, then checks that what the daemon needs
/// later is still there for it, and logs the outcome. Call once everything
/// that needs root (ports below 1024, /dev/log, the pid file) is done.
///
/// Without a drop the same checks run as the process is (a systemd unit's
/// `User=`, say), so that an unreadable keytab or a replay cache it cannot
/// write stops the start with the path and the fix, not every handshake later.
pub fn drop_and_check(p: &PrivDrop, needed: &StillNeeded) -> Result<Option<Dropped>, PrivilegeError> {
    let dropped = p.drop_now()?;
    let ids = os::ids();
    let now = dropped.unwrap_or(Dropped { uid: ids.uids[1], gid: ids.gids[1] });
    for (what, path) in &needed.readable {
        now.require_readable(what, path)?;
    }
    for (what, dir) in &needed.writable_dirs {
        now.require_writable_dir(what, dir)?;
    }
    if let Some(dropped) = dropped {
        let groups = os::supplementary_groups().unwrap_or_default();
        tracing::info!(uid = dropped.uid, gid = dropped.gid, groups = ?groups, "dropped privileges");
    }
    Ok(dropped)
}

/// The file a `KRB5_KTNAME`-style variable names, if it names a file
/// (`FILE:path`, `WRFILE:path` or a bare path); when unset, `default` if
/// that file exists (krb5.conf may name another default, which is not read here).
pub fn keytab_file(variable: &str, default: Option<&str>) -> Option<PathBuf> {
    let value = match std::env::var(variable) {
        Ok(v) => v,
        Err(_) => default.filter(|d| Path::new(d).exists())?.to_string(),
    };
    let path = value.strip_prefix("FILE:").or_else(|| value.strip_prefix("WRFILE:")).unwrap_or(&value);
    (path.starts_with('/')).then(|| PathBuf::from(path))
}

/// A user account by name (`$PrivDropToUser`).
pub const USER: Kind<os::User> = Kind { syntax: "NAME", parse: user_named };
/// A user id from a user name (`$FileOwner`).
pub const USER_ID: Kind<u32> = Kind { syntax: "NAME", parse: user_id };
/// A group id from a group name (`$FileGroup`, `$PrivDropToGroup`).
pub const GROUP_ID: Kind<u32> = Kind { syntax: "NAME", parse: group_id };
/// A numeric user or group id (`$FileOwnerNum`, `$PrivDropToUserID`).
pub const NUMERIC_ID: Kind<u32> = Kind { syntax: "ID", parse: numeric_id };

/// The account a numeric `$PrivDropToUserID` names, if the database has it.
pub fn target_user(uid: u32) -> TargetUser {
    TargetUser { uid, account: os::user_by_id(uid).ok().flatten() }
}

/// A user id from a user name (`$FileOwner`, `$PrivDropToUser`, ...).
pub fn user_id(d: &mut Directive) -> Option<u32> {
    user_named(d).map(|a| a.uid)
}

/// A group id from a group name (`$FileGroup`, `$PrivDropToGroup`, ...).
pub fn group_id(d: &mut Directive) -> Option<u32> {
    group_named(d)
}

/// A numeric user or group id (`$FileOwnerNum`, `$PrivDropToUserID`, ...).
pub fn numeric_id(d: &mut Directive) -> Option<u32> {
    match d.value.trim().parse::<u32>() {
        Ok(id) if id != u32::MAX => Some(id),
        _ => {
            let why = format!("'{}' is not a numeric id", d.value);
            d.error(why);
            None
        }
    }
}

fn user_named(d: &mut Directive) -> Option<os::User> {
    let name = d.value.trim().to_string();
    match os::user_by_name(&name) {
        Ok(Some(account)) => Some(account),
        Ok(None) => {
            d.error(format!("no user named '{name}'"));
            None
        }
        Err(e) => {
            d.error(format!("looking up user '{name}': {e}"));
            None
        }
    }
}

fn group_named(d: &mut Directive) -> Option<u32> {
    let name = d.value.trim().to_string();
    match os::group_by_name(&name) {
        Ok(Some(gid)) => Some(gid),
        Ok(None) => {
            d.error(format!("no group named '{name}'"));
            None
        }
        Err(e) => {
            d.error(format!("looking up group '{name}': {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use syslog::config::{ConfigText, Location};

    fn read(lines: &[(&str, &str)]) -> (PrivDrop, Vec<String>) {
        let mut text = ConfigText::default();
        let loc = Location { file: Arc::from("a.conf"), line: 1 };
        let mut shared = crate::shared_directives::SharedSettings::default();
        for (name, value) in lines {
            let lower = name.to_ascii_lowercase();
            let d = &mut Directive::new(&lower, name, value, &loc, &mut text);
            assert!(crate::shared_directives::TABLE.apply(&mut shared, d, &crate::shared_directives::NO_MODULES));
        }
        (shared.privileges, text.problems.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn names_and_ids_are_resolved_at_config_time() {
        let (p, problems) = read(&[("PrivDropToUser", "root"), ("PrivDropToGroupID", "0")]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(p.user.as_ref().map(|u| u.uid), Some(0));
        assert_eq!(p.user.and_then(|u| u.account).map(|a| a.name), Some("root".to_string()));
        assert_eq!(p.group, Some(0));
        let (_, problems) = read(&[("PrivDropToUser", "no-such-user-here"), ("PrivDropToGroup", "no-such-group-here"), ("PrivDropToUserID", "x")]);
        assert_eq!(
            problems,
            [
                "a.conf:1: $PrivDropToUser: no user named 'no-such-user-here'",
                "a.conf:1: $PrivDropToGroup: no group named 'no-such-group-here'",
                "a.conf:1: $PrivDropToUserID: 'x' is not a numeric id",
            ]
        );
    }

    #[test]
    fn nothing_configured_drops_nothing() {
        assert_eq!(PrivDrop::default().drop_now().unwrap(), None);
    }

    #[test]
    fn keytab_names() {
        std::env::set_var("GSSLOG_TEST_KT", "FILE:/etc/x.keytab");
        assert_eq!(keytab_file("GSSLOG_TEST_KT", None), Some(PathBuf::from("/etc/x.keytab")));
        std::env::set_var("GSSLOG_TEST_KT", "MEMORY:k");
        assert_eq!(keytab_file("GSSLOG_TEST_KT", None), None);
        assert_eq!(keytab_file("GSSLOG_TEST_KT_UNSET", Some("/etc/hostname")), Some(PathBuf::from("/etc/hostname")));
        assert_eq!(keytab_file("GSSLOG_TEST_KT_UNSET", Some("/nonexistent/krb5.keytab")), None);
    }
}
