//! Writing files, on one dedicated thread.
//!
//! Sessions send batches of rendered lines here (see [`crate::render`]); each
//! line is written through a buffered handle, and the handles are flushed at
//! the end of every burst of batches, so a message is in its file a few
//! milliseconds after it arrived. Dynamic files are kept open in a per-action LRU cache and
//! closed after an idle period; SIGHUP closes them all (logrotate).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::config::FileSettings;
use crate::render::RenderedBatch;

pub enum Command {
    Write(RenderedBatch),
    /// Close every file; they are reopened on the next write (SIGHUP).
    Reopen,
}

/// Counters shared with the rest of the daemon.
#[derive(Debug, Default)]
pub struct OutputStats {
    pub written: AtomicU64,
    pub lost: AtomicU64,
    /// Files open now, over every action.
    pub open_files: AtomicU64,
    /// Files closed to make room in an action's cache.
    pub evicted: AtomicU64,
    /// Files closed after [`IDLE_CLOSE`] unused.
    pub closed_idle: AtomicU64,
    /// The last line could not be written (the health check says so).
    pub last_write_failed: std::sync::atomic::AtomicBool,
}

const IDLE_CLOSE: Duration = Duration::from_secs(600);
const ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

struct OpenFile {
    writer: BufWriter<File>,
    last_used: Instant,
    dirty: bool,
}

/// Paths are our own rendered strings, not attacker-chosen keys, so a fast
/// non-cryptographic hash is enough (SipHash showed up in profiles).
type PathMap = HashMap<Vec<u8>, OpenFile, std::hash::BuildHasherDefault<rustc_hash::FxHasher>>;

struct ActionFiles {
    /// Open files by path (bytes, so a lookup needs no allocation).
    files: PathMap,
    settings: FileSettings,
}

pub struct Output {
    actions: Vec<ActionFiles>,
    stats: Arc<OutputStats>,
    last_error_log: HashMap<PathBuf, Instant>,
    /// When the current batch started (one clock read per batch).
    batch_started: Instant,
}

impl Output {
    /// `settings` are the file actions' settings, by action id.
    pub fn new(settings: &[FileSettings], stats: Arc<OutputStats>) -> Self {
        let actions = settings.iter().map(|s| ActionFiles { files: PathMap::default(), settings: s.clone() }).collect();
        Output { actions, stats, last_error_log: HashMap::new(), batch_started: Instant::now() }
    }

    /// Runs until every sender is gone, then flushes and returns.
    pub fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut last_sweep = Instant::now();
        while let Some(first) = rx.blocking_recv() {
            self.handle(first);
            // Take what else is waiting, so one flush covers a burst.
            for _ in 0..256 {
                match rx.try_recv() {
                    Ok(cmd) => self.handle(cmd),
                    Err(_) => break,
                }
            }
            self.flush();
            if last_sweep.elapsed() > Duration::from_secs(30) {
                self.close_idle();
                last_sweep = Instant::now();
            }
            let open: usize = self.actions.iter().map(|a| a.files.len()).sum();
            self.stats.open_files.store(open as u64, Ordering::Relaxed);
        }
        self.flush();
        self.close_all();
        self.stats.open_files.store(0, Ordering::Relaxed);
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Write(batch) => {
                self.batch_started = Instant::now();
                for w in &batch.writes {
                    self.write(w.action, batch.path(w), batch.line(w));
                }
            }
            Command::Reopen => {
                self.flush();
                self.close_all();
                tracing::info!("SIGHUP: closed all output files; they reopen on the next message");
            }
        }
    }

    /// Appends `line` to the file at `path` for action `id`.
    fn write(&mut self, id: usize, path: &[u8], line: &[u8]) {
        let action = &mut self.actions[id];
        if !action.files.contains_key(path) {
            let fs_path = Path::new(OsStr::from_bytes(path));
            match open(fs_path, &action.settings) {
                Ok(file) => {
                    if action.files.len() >= action.settings.cache_size {
                        evict_least_recent(&mut action.files);
                        self.stats.evicted.fetch_add(1, Ordering::Relaxed);
                    }
                    let writer = BufWriter::with_capacity(64 * 1024, file);
                    action.files.insert(path.to_vec(), OpenFile { writer, last_used: self.batch_started, dirty: false });
                }
                Err(e) => {
                    self.lose(fs_path, &format!("cannot open: {e}"));
                    return;
                }
            }
        }
        let Some(file) = action.files.get_mut(path) else { return };
        file.last_used = self.batch_started;
        file.dirty = true;
        if let Err(e) = file.writer.write_all(line) {
            action.files.remove(path);
            self.lose(&PathBuf::from(OsStr::from_bytes(path)), &format!("write failed: {e}"));
            return;
        }
        self.stats.written.fetch_add(1, Ordering::Relaxed);
        self.stats.last_write_failed.store(false, Ordering::Relaxed);
    }

    fn lose(&mut self, path: &Path, why: &str) {
        let lost = self.stats.lost.fetch_add(1, Ordering::Relaxed) + 1;
        self.stats.last_write_failed.store(true, Ordering::Relaxed);
        let due = self.last_error_log.get(path).is_none_or(|t| t.elapsed() > ERROR_LOG_EVERY);
        if due {
            tracing::error!(file = %path.display(), error = why, lost_total = lost, "message lost: cannot write output file");
            self.last_error_log.insert(path.to_path_buf(), Instant::now());
        }
    }

    fn flush(&mut self) {
        let mut failed = Vec::new();
        for action in &mut self.actions {
            let before = failed.len();
            for (path, f) in action.files.iter_mut().filter(|(_, f)| f.dirty) {
                f.dirty = false;
                if let Err(e) = f.writer.flush() {
                    failed.push((PathBuf::from(OsStr::from_bytes(path)), e.to_string()));
                }
            }
            for (path, _) in &failed[before..] {
                action.files.remove(path.as_os_str().as_bytes());
            }
        }
        for (path, e) in failed {
            // What was buffered for this file is gone: count at least one loss.
            self.lose(&path, &format!("flush failed: {e}"));
        }
    }

    fn close_idle(&mut self) {
        for action in &mut self.actions {
            let before = action.files.len();
            action.files.retain(|_, f| f.last_used.elapsed() < IDLE_CLOSE);
            self.stats.closed_idle.fetch_add((before - action.files.len()) as u64, Ordering::Relaxed);
        }
    }

    fn close_all(&mut self) {
        for action in &mut self.actions {
            action.files.clear();
        }
    }
}

fn evict_least_recent(files: &mut PathMap) {
    if let Some(oldest) = files.iter().min_by_key(|(_, f)| f.last_used).map(|(p, _)| p.clone()) {
        if let Some(mut f) = files.remove(&oldest) {
            let _ = f.writer.flush();
        }
    }
}

fn open(path: &Path, settings: &FileSettings) -> std::io::Result<File> {
    if settings.create_dirs {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                create_dirs(dir, settings)?;
            }
        }
    }
    let mut options = OpenOptions::new();
    options.append(true).mode(settings.file_mode);
    if settings.file_owner.is_none() && settings.file_group.is_none() {
        return options.create(true).open(path);
    }
    // An owner is set on the files this collector creates, not on files that
    // were there (as rsyslog's $FileOwner).
    match options.clone().create_new(true).open(path) {
        Ok(file) => {
            set_owner(path, settings.file_owner, settings.file_group)?;
            Ok(file)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => options.open(path),
        Err(e) => Err(e),
    }
}

/// Creates `dir` and its missing parents with `$DirCreateMode`, each given
/// `$DirOwner` / `$DirGroup` when set.
fn create_dirs(dir: &Path, settings: &FileSettings) -> std::io::Result<()> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.is_dir()).collect();
    for d in missing.into_iter().rev() {
        match DirBuilder::new().mode(settings.dir_mode).create(d) {
            Ok(()) => set_owner(d, settings.dir_owner, settings.dir_group)?,
            // Another writer made it meanwhile: it is not ours to chown.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn set_owner(path: &Path, uid: Option<u32>, gid: Option<u32>) -> std::io::Result<()> {
    if uid.is_none() && gid.is_none() {
        return Ok(());
    }
    std::os::unix::fs::chown(path, uid, gid)
        .map_err(|e| std::io::Error::new(e.kind(), format!("setting owner {uid:?} group {gid:?} ($FileOwner/$FileGroup/$DirOwner/$DirGroup): {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn owners_are_set_on_created_files_and_directories_only() {
        let root = tempfile::tempdir().unwrap();
        // Ids this process may give away: as root any; otherwise only its own.
        let me = daemon::os::ids();
        let (uid, gid) = if me.uids[1] == 0 { (65534, 65534) } else { (me.uids[1], me.gids[1]) };
        let settings = FileSettings {
            file_owner: Some(uid),
            file_group: Some(gid),
            dir_owner: Some(uid),
            dir_group: Some(gid),
            ..FileSettings::default()
        };
        std::fs::create_dir(root.path().join("existing")).unwrap();
        let before = std::fs::metadata(root.path().join("existing")).unwrap();
        let file = root.path().join("existing/host1/2026/auth.log");
        drop(open(&file, &settings).unwrap());
        for created in [root.path().join("existing/host1"), root.path().join("existing/host1/2026"), file.clone()] {
            let m = std::fs::metadata(&created).unwrap();
            assert_eq!((m.uid(), m.gid()), (uid, gid), "{}", created.display());
        }
        let m = std::fs::metadata(root.path().join("existing")).unwrap();
        assert_eq!((m.uid(), m.gid()), (before.uid(), before.gid()), "a directory that was there keeps its owner");
        assert_eq!(std::fs::metadata(root.path().join("existing/host1")).unwrap().mode() & 0o777, 0o700);
        // A file that exists is opened as it is.
        let other = root.path().join("existing/host1/2026/kern.log");
        std::fs::write(&other, "").unwrap();
        let owner = std::fs::metadata(&other).unwrap().uid();
        drop(open(&other, &settings).unwrap());
        assert_eq!(std::fs::metadata(&other).unwrap().uid(), owner);
    }
}
