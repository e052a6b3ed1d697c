//! Applying the rules, on the render threads ([`crate::render_pool`]): each
//! message goes through the filters in order, and for every file action that
//! takes it the file's path and the line are rendered into the batch's one
//! buffer. The output thread then only appends bytes to files, and the
//! rendering spreads over the cores instead of queueing behind one.

use std::ops::Range;

use std::path::PathBuf;
use std::sync::Arc;

use syslog::config::{Filter, Location};
use syslog::template::Template;
use syslog::{Message, Timestamp};

#[derive(Debug, Clone)]
pub struct FileSettings {
    pub create_dirs: bool,
    pub dir_mode: u32,
    pub file_mode: u32,
    pub cache_size: usize,
    /// `$FileOwner` / `$FileGroup` (and `...Num`): set on files this collector creates.
    pub file_owner: Option<u32>,
    pub file_group: Option<u32>,
    /// `$DirOwner` / `$DirGroup` (and `...Num`): set on directories it creates.
    pub dir_owner: Option<u32>,
    pub dir_group: Option<u32>,
}

impl Default for FileSettings {
    /// rsyslog's defaults.
    fn default() -> Self {
        FileSettings {
            create_dirs: true,
            dir_mode: 0o700,
            file_mode: 0o644,
            cache_size: 2500,
            file_owner: None,
            file_group: None,
            dir_owner: None,
            dir_group: None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum FileAction {
    Static(PathBuf),
    Dynamic(Arc<Template>),
}

#[derive(Debug, Clone)]
pub enum RuleAction {
    /// `at`: the rule's line, for `--check-config`'s findings.
    File { target: FileAction, template: Arc<Template>, settings: FileSettings, id: usize, at: Location },
    /// `action(type="omclickhouse")`: the row rendered for the action's
    /// queue; `id` indexes [`crate::config::CollectorConfig::clickhouse`].
    ClickHouse { format: Arc<omclickhouse::RowFormat>, id: usize },
    Stop,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub filter: Filter,
    pub actions: Vec<RuleAction>,
}

/// The rules of the config and, by file action id, what its files are
/// opened with and whether its path is the same for a whole batch (static,
/// or rendered only from the sender and the clock).
pub struct Rules {
    rules: Vec<Rule>,
    settings: Vec<FileSettings>,
    path_same_for_batch: Vec<bool>,
}

impl Rules {
    pub fn new(rules: Vec<Rule>, action_count: usize) -> Rules {
        let default = FileSettings { cache_size: 1, ..FileSettings::default() };
        let mut settings = vec![default; action_count];
        let mut path_same_for_batch = vec![false; action_count];
        for rule in &rules {
            for action in &rule.actions {
                if let RuleAction::File { id, target, settings: s, .. } = action {
                    settings[*id] = s.clone();
                    path_same_for_batch[*id] = match target {
                        FileAction::Static(_) => true,
                        FileAction::Dynamic(t) => t.same_for_a_batch(),
                    };
                }
            }
        }
        Rules { rules, settings, path_same_for_batch }
    }

    /// How many rules (selector or filter lines) there are.
    pub fn count(&self) -> usize {
        self.rules.len()
    }

    /// File settings by action id.
    pub fn file_settings(&self) -> &[FileSettings] {
        &self.settings
    }

    /// Starts a batch for about `input_len` bytes of messages; `$NOW` and
    /// friends are read once, here, as rsyslog reads them once per batch.
    pub fn batch(&self, input_len: usize) -> BatchRenderer<'_> {
        // Lines are about as long as the messages (a few bytes more with the
        // timestamp), and the grid's rules write auth messages twice: room
        // for two lines per message and the paths, so the buffer never grows.
        let batch = RenderedBatch {
            bytes: Vec::with_capacity(2 * input_len + 1024),
            writes: Vec::with_capacity(input_len / 64 + 4),
            rows: Vec::new(),
            ack: None,
            budget: None,
        };
        BatchRenderer { rules: self, now: Timestamp::now(), batch, path_memo: vec![None; self.settings.len()] }
    }
}

/// One row for one `omclickhouse` action's queue: a range of [`RenderedBatch::bytes`].
pub struct PendingRow {
    pub action: usize,
    pub row: Range<usize>,
}

/// One line for one file: ranges into [`RenderedBatch::bytes`].
pub struct PendingWrite {
    pub action: usize,
    pub path: Range<usize>,
    pub line: Range<usize>,
}

/// The rendered output of a batch of messages.
#[derive(Default)]
pub struct RenderedBatch {
    pub bytes: Vec<u8>,
    pub writes: Vec<PendingWrite>,
    /// Rows for the `omclickhouse` actions' queues.
    pub rows: Vec<PendingRow>,
    /// On an acknowledged session: reported to once the batch is written.
    pub ack: Option<crate::acknowledge::Ticket>,
    /// The batch's bytes in the collector's budget, given back when the
    /// output thread is done with it.
    pub budget: Option<crate::budget::Reservation>,
}

impl RenderedBatch {
    /// The memory the batch holds, for the budget.
    pub fn memory(&self) -> u64 {
        (self.bytes.capacity() + self.writes.capacity() * std::mem::size_of::<PendingWrite>() + self.rows.capacity() * std::mem::size_of::<PendingRow>())
            as u64
    }

    pub fn path(&self, w: &PendingWrite) -> &[u8] {
        &self.bytes[w.path.clone()]
    }

    pub fn line(&self, w: &PendingWrite) -> &[u8] {
        &self.bytes[w.line.clone()]
    }

    pub fn row(&self, r: &PendingRow) -> &[u8] {
        &self.bytes[r.row.clone()]
    }
}

pub struct BatchRenderer<'r> {
    rules: &'r Rules,
    now: Timestamp,
    batch: RenderedBatch,
    /// A path that is the same for the whole batch is rendered once per action.
    path_memo: Vec<Option<Range<usize>>>,
}

impl BatchRenderer<'_> {
    pub fn add(&mut self, m: &Message) {
        for rule in &self.rules.rules {
            if !rule.filter.matches(m) {
                continue;
            }
            for action in &rule.actions {
                match action {
                    RuleAction::Stop => return,
                    RuleAction::File { target, template, id, .. } => {
                        let path = self.path(*id, target, m);
                        let start = self.batch.bytes.len();
                        template.render(m, &self.now, &mut self.batch.bytes);
                        let line = start..self.batch.bytes.len();
                        self.batch.writes.push(PendingWrite { action: *id, path, line });
                    }
                    RuleAction::ClickHouse { format, id } => {
                        let start = self.batch.bytes.len();
                        format.render(m, &self.now, &mut self.batch.bytes);
                        self.batch.rows.push(PendingRow { action: *id, row: start..self.batch.bytes.len() });
                    }
                }
            }
        }
    }

    fn path(&mut self, id: usize, target: &FileAction, m: &Message) -> Range<usize> {
        if let Some(range) = &self.path_memo[id] {
            return range.clone();
        }
        let bytes = &mut self.batch.bytes;
        let start = bytes.len();
        match target {
            FileAction::Static(p) => bytes.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str())),
            FileAction::Dynamic(t) => t.render_path(m, &self.now, bytes),
        }
        let range = start..bytes.len();
        if self.rules.path_same_for_batch[id] {
            self.path_memo[id] = Some(range.clone());
        }
        range
    }

    pub fn finish(self) -> RenderedBatch {
        self.batch
    }
}
