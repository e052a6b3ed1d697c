//! Writing a small file (the pid file, the port file) without ever writing
//! through a link planted at its name: the bytes go to a new file of a random
//! name in the same directory (created `O_EXCL`, which no link satisfies),
//! which is then renamed over the name, as rsyslogd writes its pid file. A
//! link at the name is replaced, never followed; a dangling one creates
//! nothing at its target.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Replaces `path` with a new file holding `contents`, mode `mode`.
pub fn write_replacing(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut file = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(dir)?;
    file.write_all(contents)?;
    file.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt};

    #[test]
    fn a_link_at_the_name_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "precious\n").unwrap();
        let path = dir.path().join("x.pid");
        symlink(&target, &path).unwrap();
        write_replacing(&path, b"42\n", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file(), "a regular file now");
        assert_eq!(meta.mode() & 0o777, 0o644);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "42\n");
        // A dangling link: nothing is created where it points.
        let nowhere = dir.path().join("nowhere");
        let dangling = dir.path().join("y.pid");
        symlink(&nowhere, &dangling).unwrap();
        write_replacing(&dangling, b"43\n", 0o644).unwrap();
        assert!(!nowhere.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3, "no temporary file is left");
    }
}
