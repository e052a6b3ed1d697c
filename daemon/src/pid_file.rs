//! The pid file, as a guard: written when created, removed when dropped.
//! It is written as rsyslogd writes its own, to a new file then renamed over
//! the name ([`crate::replace_file`]), so a link planted at `--pid-file` in a
//! directory another account may write is replaced, never written through.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Holds `--pid-file` for the life of the daemon.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes this process's id (and a newline) to `path`.
    pub fn create(path: &Path) -> anyhow::Result<PidFile> {
        crate::replace_file::write_replacing(path, format!("{}\n", std::process::id()).as_bytes(), 0o644)
            .with_context(|| format!("writing pid file {}", path.display()))?;
        Ok(PidFile { path: path.to_path_buf() })
    }

    /// Writes the pid file when a path is given.
    pub fn create_if(path: Option<&Path>) -> anyhow::Result<Option<PidFile>> {
        path.map(PidFile::create).transpose()
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_then_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.pid");
        let guard = PidFile::create(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n", std::process::id()));
        drop(guard);
        assert!(!path.exists());
        assert!(PidFile::create(&dir.path().join("no/such/dir/d.pid")).is_err());
    }
}
