//! A keytab others may read is a warning at start-up, as sshd refuses host
//! keys others may read: whoever reads a keytab can act as every principal
//! in it (the collector's service, a node's host principal). A group the
//! daemon runs as may read it (a keytab `root:gsslog-collector 0640` for a
//! daemon that drops to that group, or that has it as a supplementary group
//! under a unit's `SupplementaryGroups=`, is fine); any other group, or
//! everyone, is named in the warning.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Logs a warning when `keytab` is readable or writable by others than its
/// owner and `own_groups` (the groups the daemon runs with).
pub fn warn_if_exposed(what: &str, keytab: &Path, own_groups: &[u32]) {
    let Ok(meta) = std::fs::metadata(keytab) else { return };
    if let Some(why) = exposure(meta.mode(), meta.gid(), own_groups) {
        tracing::warn!(
            keytab = %keytab.display(),
            "{what} {} is {why}: whoever reads it can act as every principal in it (chmod 600, or 640 with the daemon's group)",
            keytab.display()
        );
    }
}

/// Who besides the owner (and `own_groups`) may read or write a keytab of
/// `mode` and group `gid`, in words; `None` when nobody.
pub fn exposure(mode: u32, gid: u32, own_groups: &[u32]) -> Option<String> {
    let mode = mode & 0o777;
    if mode & 0o006 != 0 {
        return Some(format!("readable or writable by every user (mode {mode:04o})"));
    }
    if mode & 0o060 != 0 && !own_groups.contains(&gid) {
        return Some(format!("readable or writable by group {gid} (mode {mode:04o})"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owner_and_own_group() {
        assert_eq!(exposure(0o100600, 0, &[0]), None);
        assert_eq!(exposure(0o640, 110, &[110]), None, "the daemon's own group");
        assert_eq!(exposure(0o640, 110, &[4, 110]), None, "a supplementary group of the daemon (the unit's Group=adm)");
        assert_eq!(exposure(0o644, 0, &[0]).unwrap(), "readable or writable by every user (mode 0644)");
        assert_eq!(exposure(0o640, 4, &[110]).unwrap(), "readable or writable by group 4 (mode 0640)");
        assert!(exposure(0o602, 0, &[0]).is_some());
    }
}
