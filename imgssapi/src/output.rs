//! Writing files, on one dedicated thread.
//!
//! Sessions send batches of rendered lines here (see [`crate::render`]); each
//! line is written through a buffered handle, and the handles are flushed at
//! the end of every burst of batches, so a message is in its file a few
//! milliseconds after it arrived. A batch of an acknowledged session
//! ([`crate::acknowledge`]) is reported written after that flush (and after
//! an fsync of every file written in the burst, when the collector is set to
//! sync before acknowledging); a batch with a line that could not be
//! written, or a burst whose flush or sync failed, is reported failed.
//! Dynamic files are kept open in a per-action LRU cache and
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

use crate::acknowledge::Ticket;
use crate::render::FileSettings;
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
    /// Files whose last write failed (open, chown, write or flush) and that
    /// have not been written since, forgotten after [`FAILING_FOR`] without a
    /// new failure: the health check is not ok while there is one, however
    /// well the other files are written.
    pub failing_files: AtomicU64,
    /// Lines lost because the file system refused the file name a sender's
    /// values made (too long, bytes it does not take): counted and shown,
    /// but one sender's input never marks the collector unhealthy.
    pub lost_to_file_names: AtomicU64,
}

const IDLE_CLOSE: Duration = Duration::from_secs(600);
/// How long a failed file counts as failing without a new failure.
const FAILING_FOR: Duration = Duration::from_secs(600);
/// At most this many failing files are named (a read-only tree fails every
/// host's file); beyond, the count stays at the cap.
const FAILING_MAX: usize = 4096;
const ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

struct OpenFile {
    writer: BufWriter<File>,
    last_used: Instant,
    dirty: bool,
    /// Written since the last fsync.
    unsynced: bool,
}

impl OpenFile {
    /// Flushes and, when `sync` and something is unsynced, fsyncs the data.
    fn flush_and_sync(&mut self, sync: bool) -> std::io::Result<()> {
        self.writer.flush()?;
        if sync && self.unsynced {
            self.writer.get_ref().sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }
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
    /// Files that failed, with the time of their last failure ([`OutputStats::failing_files`]).
    failing: HashMap<PathBuf, Instant>,
    /// When the current batch started (one clock read per batch).
    batch_started: Instant,
    /// Batches of acknowledged sessions written in this burst, to report
    /// once it is flushed.
    to_acknowledge: Vec<Ticket>,
    /// `$InputGSSServerAckAfterFsync`: sync before reporting them.
    sync_before_ack: bool,
    /// The `omclickhouse` actions' queues, by action id: rows are enqueued
    /// here, in the same burst as the files are written, so an acknowledged
    /// batch's rows are in the queue file before it is acknowledged.
    clickhouse: Vec<omclickhouse::Action>,
    /// Rows were queued since the last sync of the queues.
    rows_unsynced: bool,
    /// When a row was last logged as not queued (rate-limited).
    last_row_error_log: Option<Instant>,
}

impl Output {
    /// `settings` are the file actions' settings, by action id.
    pub fn new(settings: &[FileSettings], stats: Arc<OutputStats>) -> Self {
        let actions = settings.iter().map(|s| ActionFiles { files: PathMap::default(), settings: s.clone() }).collect();
        Output {
            actions,
            stats,
            last_error_log: HashMap::new(),
            failing: HashMap::new(),
            batch_started: Instant::now(),
            to_acknowledge: Vec::new(),
            sync_before_ack: false,
            clickhouse: Vec::new(),
            rows_unsynced: false,
            last_row_error_log: None,
        }
    }

    /// The `omclickhouse` actions' queues, by action id.
    pub fn with_clickhouse(mut self, actions: Vec<omclickhouse::Action>) -> Self {
        self.clickhouse = actions;
        self
    }

    /// With `on`, acknowledged batches are reported written only once their
    /// files are synced to disk.
    pub fn sync_before_acknowledging(mut self, on: bool) -> Self {
        self.sync_before_ack = on;
        self
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
            self.flush_and_acknowledge();
            if last_sweep.elapsed() > Duration::from_secs(30) {
                self.close_idle();
                self.forget_old_failures();
                last_sweep = Instant::now();
            }
            let open: usize = self.actions.iter().map(|a| a.files.len()).sum();
            self.stats.open_files.store(open as u64, Ordering::Relaxed);
        }
        self.flush_and_acknowledge();
        self.close_all();
        self.stats.open_files.store(0, Ordering::Relaxed);
    }

    /// Flushes the burst, syncs it when acknowledgements wait for that, and
    /// reports the acknowledged batches: written if every step succeeded.
    fn flush_and_acknowledge(&mut self) {
        let lost_before = self.stats.lost.load(Ordering::Relaxed);
        let sync = self.sync_before_ack && !self.to_acknowledge.is_empty();
        self.flush_with(sync);
        let mut all_written = self.stats.lost.load(Ordering::Relaxed) == lost_before;
        if sync && self.rows_unsynced {
            self.rows_unsynced = false;
            for action in &self.clickhouse {
                if let Err(e) = action.sync() {
                    tracing::error!(action = action.name(), error = %e, "omclickhouse: syncing the queue failed; the batches waiting for it are not acknowledged");
                    all_written = false;
                }
            }
        }
        for ticket in self.to_acknowledge.drain(..) {
            if all_written {
                ticket.written();
            } else {
                ticket.failed();
            }
        }
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Write(mut batch) => {
                self.batch_started = Instant::now();
                let lost_before = self.stats.lost.load(Ordering::Relaxed);
                for w in &batch.writes {
                    self.write(w.action, batch.path(w), batch.line(w));
                }
                let rows_queued = batch.rows.is_empty() || self.enqueue_rows(&batch);
                if let Some(ticket) = batch.ack.take() {
                    if self.stats.lost.load(Ordering::Relaxed) == lost_before && rows_queued {
                        self.to_acknowledge.push(ticket);
                    } else {
                        ticket.failed();
                    }
                }
            }
            Command::Reopen => {
                self.flush();
                self.close_all();
                tracing::info!("SIGHUP: closed all output files; they reopen on the next message");
            }
        }
    }

    /// Puts the batch's rows in their actions' queues; false if a row could
    /// not be queued (the queue stayed full, or its disk failed): counted
    /// by the action, and the batch is not acknowledged.
    fn enqueue_rows(&mut self, batch: &RenderedBatch) -> bool {
        let mut all = true;
        self.rows_unsynced = true;
        for (id, action) in self.clickhouse.iter().enumerate() {
            let rows: Vec<&[u8]> = batch.rows.iter().filter(|r| r.action == id).map(|r| batch.row(r)).collect();
            if rows.is_empty() {
                continue;
            }
            let (queued, error) = match action.enqueue(&rows) {
                Ok(n) => (n, None),
                Err(e) => (0, Some(e.to_string())),
            };
            if queued < rows.len() {
                all = false;
                let due = self.last_row_error_log.is_none_or(|t| t.elapsed() > ERROR_LOG_EVERY);
                if due {
                    let why = error.unwrap_or_else(|| "queue full (queue.maxDiskSpace) for the whole queue.timeoutEnqueue".into());
                    tracing::error!(action = action.name(), lost = rows.len() - queued, error = %why, "omclickhouse: rows not queued");
                    self.last_row_error_log = Some(Instant::now());
                }
            }
        }
        all
    }

    /// Appends `line` to the file at `path` for action `id`.
    fn write(&mut self, id: usize, path: &[u8], line: &[u8]) {
        let action = &mut self.actions[id];
        if !action.files.contains_key(path) {
            let fs_path = Path::new(OsStr::from_bytes(path));
            match open(fs_path, &action.settings) {
                Ok(file) => {
                    let evicted = if action.files.len() >= action.settings.cache_size {
                        self.stats.evicted.fetch_add(1, Ordering::Relaxed);
                        evict_least_recent(&mut action.files, self.sync_before_ack)
                    } else {
                        Ok(())
                    };
                    let writer = BufWriter::with_capacity(64 * 1024, file);
                    let file = OpenFile { writer, last_used: self.batch_started, dirty: false, unsynced: false };
                    action.files.insert(path.to_vec(), file);
                    if let Err((evicted, e)) = evicted {
                        self.lose(&evicted, &format!("flush or sync failed: {e}"));
                    }
                }
                Err(e) if refused_name(&e) => {
                    self.stats.lost_to_file_names.fetch_add(1, Ordering::Relaxed);
                    self.lose_to_name(fs_path, &format!("cannot open: {e}"));
                    return;
                }
                Err(e) => {
                    self.lose(fs_path, &format!("cannot open: {e}"));
                    return;
                }
            }
        }
        let action = &mut self.actions[id];
        let Some(file) = action.files.get_mut(path) else { return };
        file.last_used = self.batch_started;
        file.dirty = true;
        file.unsynced = true;
        if let Err(e) = file.writer.write_all(line) {
            action.files.remove(path);
            self.lose(&PathBuf::from(OsStr::from_bytes(path)), &format!("write failed: {e}"));
            return;
        }
        self.stats.written.fetch_add(1, Ordering::Relaxed);
        if !self.failing.is_empty() && self.failing.remove(Path::new(OsStr::from_bytes(path))).is_some() {
            self.stats.failing_files.store(self.failing.len() as u64, Ordering::Relaxed);
        }
    }

    /// A line lost by the collector's fault (the disk, the sandbox, the
    /// configuration): the file counts as failing until it is written again.
    fn lose(&mut self, path: &Path, why: &str) {
        if self.failing.len() < FAILING_MAX || self.failing.contains_key(path) {
            self.failing.insert(path.to_path_buf(), Instant::now());
            self.stats.failing_files.store(self.failing.len() as u64, Ordering::Relaxed);
        }
        self.lose_to_name(path, why);
    }

    fn forget_old_failures(&mut self) {
        self.failing.retain(|_, at| at.elapsed() < FAILING_FOR);
        self.stats.failing_files.store(self.failing.len() as u64, Ordering::Relaxed);
    }

    /// Counts and logs a lost line, without marking the output as failing.
    fn lose_to_name(&mut self, path: &Path, why: &str) {
        let lost = self.stats.lost.fetch_add(1, Ordering::Relaxed) + 1;
        let due = self.last_error_log.get(path).is_none_or(|t| t.elapsed() > ERROR_LOG_EVERY);
        if due {
            tracing::error!(file = %path.display(), error = why, lost_total = lost, "message lost: cannot write output file");
            self.last_error_log.insert(path.to_path_buf(), Instant::now());
        }
    }

    fn flush(&mut self) {
        self.flush_with(false);
    }

    /// Flushes every file written since the last flush; with `sync`, also
    /// fsyncs every file written since its last sync.
    fn flush_with(&mut self, sync: bool) {
        let mut failed = Vec::new();
        for action in &mut self.actions {
            let before = failed.len();
            for (path, f) in action.files.iter_mut().filter(|(_, f)| f.dirty || (sync && f.unsynced)) {
                f.dirty = false;
                if let Err(e) = f.flush_and_sync(sync) {
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

    /// Closes every file; with acknowledgements after fsync, what they hold
    /// unsynced is synced first (a batch may wait for it).
    fn close_all(&mut self) {
        self.flush_with(self.sync_before_ack);
        for action in &mut self.actions {
            action.files.clear();
        }
    }
}

/// Closes the least recently used file, flushed (and synced when `sync`);
/// a failure names the file.
fn evict_least_recent(files: &mut PathMap, sync: bool) -> Result<(), (PathBuf, std::io::Error)> {
    if let Some(oldest) = files.iter().min_by_key(|(_, f)| f.last_used).map(|(p, _)| p.clone()) {
        if let Some(mut f) = files.remove(&oldest) {
            f.flush_and_sync(sync).map_err(|e| (PathBuf::from(OsStr::from_bytes(&oldest)), e))?;
        }
    }
    Ok(())
}

/// Whether opening failed because of the name itself (what a sender's
/// values put in it), not because of the disk or the configuration.
fn refused_name(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENAMETOOLONG | libc::EILSEQ | libc::EINVAL | libc::EISDIR))
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
    use std::os::unix::fs::MetadataExt;
    use std::time::Duration;

    use super::*;
    use crate::acknowledge::{Acknowledger, WrittenThrough};
    use crate::render::PendingWrite;

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

    fn output(sync: bool) -> Output {
        output_with_cache(sync, 4)
    }

    fn output_with_cache(sync: bool, cache_size: usize) -> Output {
        let settings = FileSettings { create_dirs: false, file_mode: 0o600, cache_size, ..FileSettings::default() };
        Output::new(&[settings], Arc::new(OutputStats::default())).sync_before_acknowledging(sync)
    }

    /// One line for `path`, acknowledged with `ticket`.
    fn batch(path: &Path, line: &str, ticket: Ticket) -> Command {
        let path = path.as_os_str().as_bytes();
        let mut bytes = path.to_vec();
        bytes.extend_from_slice(line.as_bytes());
        let write = PendingWrite { action: 0, path: 0..path.len(), line: path.len()..bytes.len() };
        Command::Write(RenderedBatch { bytes, writes: vec![write], rows: Vec::new(), ack: Some(ticket), budget: None })
    }

    async fn progress(acks: &mut Acknowledger) -> Option<WrittenThrough> {
        tokio::time::timeout(Duration::from_millis(100), acks.progress()).await.ok()
    }

    #[tokio::test]
    async fn a_batch_is_acknowledged_only_once_its_file_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut out = output(false);
        let mut acks = Acknowledger::new();
        out.handle(batch(&path, "one\n", acks.next_token()));
        assert_eq!(progress(&mut acks).await, None, "written into the buffer only: not acknowledged");
        out.flush_and_acknowledge();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n");
        assert_eq!(progress(&mut acks).await, Some(WrittenThrough::Token(1)));
    }

    #[tokio::test]
    async fn a_line_that_cannot_be_written_is_never_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = output(false);
        let mut acks = Acknowledger::new();
        out.handle(batch(&dir.path().join("missing-dir/out.log"), "lost\n", acks.next_token()));
        out.handle(batch(&dir.path().join("out.log"), "fine\n", acks.next_token()));
        out.flush_and_acknowledge();
        assert_eq!(progress(&mut acks).await, Some(WrittenThrough::Failed), "token 2 must not cover token 1");
    }

    #[tokio::test]
    async fn a_failing_file_stays_failing_while_other_files_are_written() {
        // Outputs outside the unit's writable tree fail while the per-host
        // files are written: the health check must not follow the last line.
        let dir = tempfile::tempdir().unwrap();
        let (bad, good) = (dir.path().join("missing-dir/out.log"), dir.path().join("out.log"));
        let mut out = output(false);
        let mut acks = Acknowledger::new();
        out.handle(batch(&bad, "lost\n", acks.next_token()));
        out.handle(batch(&good, "fine\n", acks.next_token()));
        out.flush_and_acknowledge();
        // (What /health says of it: `stats::tests`.)
        assert_eq!(out.stats.failing_files.load(Ordering::Relaxed), 1, "the good file's line does not clear the bad one");
        // Written again: no longer failing.
        std::fs::create_dir(bad.parent().unwrap()).unwrap();
        out.handle(batch(&bad, "back\n", acks.next_token()));
        out.flush_and_acknowledge();
        assert_eq!(out.stats.failing_files.load(Ordering::Relaxed), 0);
        // A failure not repeated is forgotten after a while.
        std::fs::remove_file(&bad).unwrap();
        std::fs::remove_dir(bad.parent().unwrap()).unwrap();
        out.handle(Command::Reopen);
        out.handle(batch(&bad, "lost again\n", acks.next_token()));
        assert_eq!(out.stats.failing_files.load(Ordering::Relaxed), 1);
        for at in out.failing.values_mut() {
            *at = at.checked_sub(FAILING_FOR).unwrap();
        }
        out.forget_old_failures();
        assert_eq!(out.stats.failing_files.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn with_sync_before_acknowledging_the_files_are_synced_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut out = output(true);
        let mut acks = Acknowledger::new();
        out.handle(batch(&path, "one\n", acks.next_token()));
        assert!(out.actions[0].files.values().all(|f| f.unsynced));
        out.flush_and_acknowledge();
        assert!(out.actions[0].files.values().all(|f| !f.unsynced), "synced before the acknowledgement");
        assert_eq!(progress(&mut acks).await, Some(WrittenThrough::Token(1)));
    }

    #[tokio::test]
    async fn an_evicted_file_is_counted_and_written_out_before_its_batch_is_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("first.log"), dir.path().join("second.log"));
        let mut out = output_with_cache(true, 1);
        let mut acks = Acknowledger::new();
        out.handle(batch(&first, "one\n", acks.next_token()));
        out.handle(batch(&second, "two\n", acks.next_token()));
        assert_eq!(out.stats.evicted.load(Ordering::Relaxed), 1, "the cache holds one file: the first made room");
        assert_eq!(std::fs::read_to_string(&first).unwrap(), "one\n", "flushed when evicted");
        out.flush_and_acknowledge();
        assert_eq!(progress(&mut acks).await, Some(WrittenThrough::Token(2)));
    }
}
