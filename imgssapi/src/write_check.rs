//! `--check-config`: can this process write where the rules write?
//!
//! A config can be right and still lose every line at run time: an output
//! outside the unit's writable tree (`ProtectSystem=strict` makes the rest of
//! the file system read-only), a directory the user may not write, or a
//! `$FileGroup`/`$DirGroup` the user is not in (chown then fails with
//! "Operation not permitted", and the new file's first line is lost). The
//! packaged unit runs `--check-config` as its `ExecStartPre`, as its user and
//! in its sandbox, so these findings stop the start with the file, the line
//! and the fix. Run from a root shell the check sees root's rights (only a
//! read-only mount shows).
//!
//! Checked per file action: the directory its files go to (a dynamic file's
//! text before its first property), or the nearest one that exists when the
//! rest is to be created, by creating and removing a probe file there; an
//! existing static file by opening it for appending. Owners and groups are
//! checked against this process's ids, groups and `CAP_CHOWN`.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use syslog::config::{ConfigText, Location};

use crate::config::CollectorConfig;
use crate::render::{FileAction, FileSettings, RuleAction};

/// Adds an error to `text` for every output this process cannot write.
pub fn check(config: &CollectorConfig, text: &mut ConfigText) {
    let me = Rights::of_this_process();
    let mut seen_dirs = BTreeSet::new();
    for rule in &config.rules {
        for action in &rule.actions {
            let RuleAction::File { target, settings, at, .. } = action else { continue };
            if let Some(problem) = check_target(target, settings, &mut seen_dirs) {
                text.error(at, problem);
            }
            // A privilege drop changes who creates the files: the ids below are not those.
            if config.privileges.user.is_none() && config.privileges.group.is_none() {
                check_owners(settings, &me, at, text);
            }
        }
    }
}

/// Where an action writes, and whether this process may: `None` when it may.
fn check_target(target: &FileAction, settings: &FileSettings, seen_dirs: &mut BTreeSet<PathBuf>) -> Option<String> {
    let dir = match target {
        FileAction::Static(path) => {
            if path.exists() {
                return std::fs::OpenOptions::new()
                    .append(true)
                    .open(path)
                    .err()
                    .map(|e| format!("output file {} cannot be written by this process ({e}){}", path.display(), hint(&e, path)));
            }
            path.parent()?.to_path_buf()
        }
        FileAction::Dynamic(template) => {
            let prefix = template.literal_prefix();
            let cut = prefix.iter().rposition(|&b| b == b'/')?;
            let dir = PathBuf::from(OsStr::from_bytes(&prefix[..cut.max(1)]));
            if !dir.is_absolute() {
                return None;
            }
            dir
        }
    };
    let existing = dir.ancestors().find(|d| d.is_dir())?.to_path_buf();
    if existing != dir && !settings.create_dirs {
        return Some(format!("directory {} does not exist, and $CreateDirs is off", dir.display()));
    }
    if !seen_dirs.insert(existing.clone()) {
        return None;
    }
    probe(&existing).err().map(|e| {
        let doing = if existing == dir { "create files in" } else { "create directories in" };
        format!("this process cannot {doing} {} for output under {} ({e}){}", existing.display(), dir.display(), hint(&e, &existing))
    })
}

/// Creates and removes a file in `dir`.
fn probe(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(format!(".imgssapi-check-{}", std::process::id()));
    std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
    std::fs::remove_file(&path)
}

/// What an admin does about it.
fn hint(e: &std::io::Error, path: &Path) -> String {
    if e.raw_os_error() == Some(libc::EROFS) {
        format!(
            ": read-only here; under the packaged unit (ProtectSystem=strict) only /var/log/hosts is writable: \
             add ReadWritePaths={} in a drop-in (systemctl edit gsslog-collector), or write under /var/log/hosts",
            path.display()
        )
    } else if e.kind() == std::io::ErrorKind::PermissionDenied {
        format!(": give the collector's user the directory (chown gsslog-collector {})", path.display())
    } else {
        String::new()
    }
}

/// The ids a chown is judged by.
struct Rights {
    uid: u32,
    groups: Vec<u32>,
    may_chown: bool,
}

impl Rights {
    fn of_this_process() -> Rights {
        let ids = daemon::os::ids();
        let mut groups = daemon::os::supplementary_groups().unwrap_or_default();
        groups.push(ids.gids[1]);
        Rights { uid: ids.uids[1], groups, may_chown: has_cap_chown() }
    }

    /// Why a chown to `uid`/`gid` of a file this process created would fail.
    fn refuses(&self, uid: Option<u32>, gid: Option<u32>) -> Option<String> {
        if self.may_chown {
            return None;
        }
        match (uid, gid) {
            (Some(u), _) if u != self.uid => Some(format!("owner {u} is not this process's user {} and it has no CAP_CHOWN", self.uid)),
            (_, Some(g)) if !self.groups.contains(&g) => {
                Some(format!("group {g} is not one of this process's groups {:?} and it has no CAP_CHOWN", self.groups))
            }
            _ => None,
        }
    }
}

fn check_owners(settings: &FileSettings, me: &Rights, at: &Location, text: &mut ConfigText) {
    for (what, uid, gid) in [("$FileOwner/$FileGroup", settings.file_owner, settings.file_group), ("$DirOwner/$DirGroup", settings.dir_owner, settings.dir_group)] {
        if let Some(why) = me.refuses(uid, gid) {
            text.error(
                at,
                format!(
                    "{what}: {why}, so every new file or directory fails (chown: Operation not permitted) and its line is lost; \
                     under the packaged unit add the group (SupplementaryGroups= in a drop-in), or drop the directive"
                ),
            );
        }
    }
}

/// Whether this process's effective capabilities hold `CAP_CHOWN` (bit 0 of
/// `CapEff` in /proc/self/status).
fn has_cap_chown() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return false };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & 1 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rights(may_chown: bool) -> Rights {
        Rights { uid: 110, groups: vec![110, 4], may_chown }
    }

    #[test]
    fn a_chown_is_judged_by_ids_groups_and_cap_chown() {
        let me = rights(false);
        assert_eq!(me.refuses(None, Some(4)), None, "a group it is in");
        assert_eq!(me.refuses(Some(110), None), None, "its own user");
        assert!(me.refuses(None, Some(5)).unwrap().contains("group 5 is not one of this process's groups"));
        assert!(me.refuses(Some(0), None).unwrap().contains("owner 0"));
        assert_eq!(rights(true).refuses(Some(0), Some(5)), None, "CAP_CHOWN may give any");
    }

    #[test]
    fn this_process_reads_its_capabilities() {
        // Root in the tests' usual set-up has CAP_CHOWN; any other user has not.
        let root = daemon::os::ids().uids[1] == 0;
        if root {
            assert!(has_cap_chown());
        } else {
            assert!(!has_cap_chown());
        }
    }
}
