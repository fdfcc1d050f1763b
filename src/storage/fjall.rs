//! The default durable store: one fjall database per process, shared by every group.
//!
//! # Layout
//!
//! - `log.<group>.<segment:016x>`: one keyspace per group and *segment* of
//!   [`FjallOptions::log_segment_entries`] consecutive indexes (65,536 by default;
//!   segment = index / that); key =
//!   big-endian u64 index (byte order is index order), value = an entry record (see
//!   [`super::codec`]). A group writes to one segment at a time, so it has one active
//!   memtable; older segments are flushed and read-only until compaction drops them.
//! - `meta`, shared by all groups: key = group prefix ++ `b'p'` → the last purged log id
//!   (the first-index marker: `first_index = last_purged.index + 1`); group prefix ++
//!   `b'h'` → the hard state. The group prefix is the group name's length (one byte)
//!   followed by its bytes, so no group's prefix is a prefix of another's.
//!
//! One journal covers every keyspace: a write batch spanning two segments, or a
//! segment and the meta, is atomic.
//!
//! # Durability
//!
//! With `sync` on, every write batch is committed with `PersistMode::SyncAll`: the
//! journal is fsynced before the call returns (one fsync per batch: group commit). With
//! `sync` off, batches reach the OS page cache only: they survive a process crash but
//! **not a power loss** (JRAFT_GUIDE_NOTES F22). Recovery discards a torn last journal
//! batch (fjall's `TolerateCorruptTail`), which can only hold unacknowledged writes.
//!
//! # Prefix truncation (log compaction)
//!
//! fjall 3.1 has no range delete (VERIFICATION.md §5.3), and a tombstone per entry
//! costs a write, a journal record replayed at restart, and a memtable slot, for every
//! compacted entry. So `truncate_prefix(up_to)` writes **only the marker** (one small
//! batch) and then deletes the segments wholly below `up_to` (`delete_keyspace`: their
//! files go at once). Entries below the marker in the segment that holds it stay on
//! disk, dead: reads never go below `first_index`, and they go with their segment.
//! A crash between the marker and the deletion leaves segments wholly below the
//! marker, which [`FjallStore::log_storage`] deletes at open. Where dead entries could
//! become visible again — a `reset` to a point below the old marker — they are
//! overwritten with tombstones first. `docs/storage.md` has the measurements.
//!
//! # Errors
//!
//! A failed commit or persist poisons fjall; this store then answers every write with
//! [`StorageError::Fatal`], for every group (they share the journal).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::core::{GroupId, LogId, LogIndex};

use super::codec;
use super::entry::LogEntry;
use super::error::{Result, StorageError};
use super::log::{LogStorage, ReadLimits};
use super::meta::{HardState, MetaStorage};
use super::rules::{collect_entries, Context, LogBounds};

/// The keyspace of the layout before segments (refused at open).
const LEGACY_LOG_KEYSPACE: &str = "log";
const META_KEYSPACE: &str = "meta";
const META_LAST_PURGED: u8 = b'p';
const META_HARD_STATE: u8 = b'h';

/// The default of [`FjallOptions::log_segment_entries`].
pub const LOG_SEGMENT_ENTRIES: u64 = 1 << 16;

/// The meta key recording the store's segment size (no group prefix starts with 0).
const META_SEGMENT_ENTRIES: &[u8] = b"\0segment_entries";

fn segment_prefix(group: &GroupId) -> String {
    format!("log.{}.", group.as_str())
}

fn segment_name(group: &GroupId, segment: u64) -> String {
    format!("{}{segment:016x}", segment_prefix(group))
}

/// The segment number of a keyspace name of `group`'s log, if it is one.
fn parse_segment(group: &GroupId, name: &str) -> Option<u64> {
    let hex = name.strip_prefix(&segment_prefix(group))?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Tuning knobs of the fjall store (JRAFT_GUIDE_NOTES F30).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FjallOptions {
    /// fsync every write batch before returning (default true). `false` is unsafe on
    /// power loss: acknowledged entries and votes can vanish.
    pub sync: bool,
    /// Block cache size in bytes (default 64 MiB).
    pub cache_size_bytes: u64,
    /// Background flush and compaction threads (default: fjall's, min(cores, 4)).
    pub worker_threads: Option<usize>,
    /// Journal size that triggers memtable flushes (fjall default 512 MiB; at least
    /// 64 MiB, smaller values are raised to 64 MiB).
    pub max_journaling_size_bytes: Option<u64>,
    /// Memtable size of each log segment's keyspace (fjall default when `None`).
    pub max_memtable_size_bytes: Option<u64>,
    /// Indexes per log segment (one fjall keyspace per group and segment; default
    /// [`LOG_SEGMENT_ENTRIES`]). Compaction deletes whole segments, so up to this many
    /// compacted entries per group stay on disk until their segment goes. Fixed when
    /// the store is created: a later open uses the recorded value.
    pub log_segment_entries: u64,
}

impl Default for FjallOptions {
    fn default() -> Self {
        FjallOptions {
            sync: true,
            cache_size_bytes: 64 * 1024 * 1024,
            worker_threads: None,
            max_journaling_size_bytes: None,
            max_memtable_size_bytes: None,
            log_segment_entries: LOG_SEGMENT_ENTRIES,
        }
    }
}

struct Shared {
    name: String,
    path: PathBuf,
    options: FjallOptions,
    database: Database,
    meta: Keyspace,
    /// Indexes per log segment, as recorded in the store.
    segment_entries: u64,
    /// The first fatal failure; once set, every write is refused.
    fatal: Mutex<Option<String>>,
    /// Groups with a live log handle (each handle caches the log bounds).
    open_logs: Mutex<BTreeSet<GroupId>>,
    /// Log bytes written since every memtable was last sealed (see
    /// [`FjallStore::account`]).
    unsealed_bytes: std::sync::atomic::AtomicU64,
}

/// One fjall database, opened once per directory and process, from which per-group
/// log and meta stores are obtained. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct FjallStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FjallStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallStore")
            .field("path", &self.shared.path)
            .field("options", &self.shared.options)
            .finish()
    }
}

fn group_prefix(group: &GroupId) -> Vec<u8> {
    let name = group.as_str().as_bytes();
    let mut prefix = Vec::with_capacity(name.len() + 1 + 9);
    // GroupId::new caps names at 128 bytes; a longer hand-built name is clamped, which
    // only matters for the prefix-freedom of such invalid names.
    prefix.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
    prefix.extend_from_slice(name);
    prefix
}

fn log_key(index: LogIndex) -> [u8; 8] {
    index.0.to_be_bytes()
}

fn meta_key(prefix: &[u8], record: u8) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.push(record);
    key
}

/// Seals a segment the group has moved past and queues the flush of its memtable, so
/// the journal can be released past it. Without this it would wait (a segment's
/// entries rarely fill a 64 MiB memtable) until the journal reaches its limit (512 MiB
/// by default), and a restart would replay all of that into memory: measured with
/// 1,000,000 entries, a plain open peaked at 238 MiB instead of 6 MiB. Uses fjall's
/// `rotate_memtable`, public but hidden from its docs (fjall 3.1 has no documented
/// flush); a failure only delays the flush until journal pressure does it.
fn seal(keyspace: &Keyspace) {
    let _ = keyspace.rotate_memtable();
}

fn index_of_key(key: &[u8]) -> Option<LogIndex> {
    let raw: [u8; 8] = key.try_into().ok()?;
    Some(LogIndex(u64::from_be_bytes(raw)))
}

impl FjallStore {
    /// Opens (creating if needed) the database in `path`.
    ///
    /// Fails with [`StorageError::Io`] if the directory is locked by another open
    /// database (in this or another process) or unreadable.
    pub fn open(path: impl AsRef<Path>, options: FjallOptions) -> Result<FjallStore> {
        let path = path.as_ref().to_path_buf();
        let name = format!("fjall:{}", path.display());
        let io = |error: fjall::Error| StorageError::Io {
            store: name.clone(),
            path: path.display().to_string(),
            reason: error.to_string(),
        };
        let mut builder = Database::builder(&path).cache_size(options.cache_size_bytes);
        if let Some(threads) = options.worker_threads {
            builder = builder.worker_threads(threads.max(1));
        }
        if let Some(bytes) = options.max_journaling_size_bytes {
            builder = builder.max_journaling_size(bytes.max(64 * 1024 * 1024));
        }
        let database = builder.open().map_err(io)?;
        if database.keyspace_exists(LEGACY_LOG_KEYSPACE) {
            return Err(StorageError::Io {
                store: name.clone(),
                path: path.display().to_string(),
                reason: "the directory holds a log in the layout before log segments \
                         (Concord before 2026-12-03), which this version cannot read"
                    .to_string(),
            });
        }
        let meta = database
            .keyspace(META_KEYSPACE, KeyspaceCreateOptions::default)
            .map_err(io)?;
        let segment_entries = match meta.get(META_SEGMENT_ENTRIES).map_err(io)? {
            Some(raw) => {
                let raw: [u8; 8] = raw[..].try_into().map_err(|_| StorageError::CorruptMeta {
                    store: name.clone(),
                    group: GroupId("-".to_string()),
                    record: "log segment size".to_string(),
                    reason: format!("{} bytes, expected 8", raw.len()),
                })?;
                u64::from_be_bytes(raw).max(1)
            }
            None => {
                let entries = options.log_segment_entries.max(1);
                meta.insert(META_SEGMENT_ENTRIES, entries.to_be_bytes())
                    .map_err(io)?;
                database.persist(PersistMode::SyncAll).map_err(io)?;
                entries
            }
        };
        Ok(FjallStore {
            shared: Arc::new(Shared {
                name,
                path,
                options,
                database,
                meta,
                segment_entries,
                fatal: Mutex::new(None),
                open_logs: Mutex::new(BTreeSet::new()),
                unsealed_bytes: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &FjallOptions {
        &self.shared.options
    }

    /// Opens the log of `group`. At most one live handle per group: a second one fails
    /// with [`StorageError::GroupInUse`] until the first is dropped.
    pub fn log_storage(&self, group: GroupId) -> Result<FjallLogStorage> {
        let context = Context::new(self.shared.name.clone(), group.clone());
        {
            let mut open = self
                .shared
                .open_logs
                .lock()
                .map_err(|_| context.fatal("open-group registry lock poisoned"))?;
            if !open.insert(group.clone()) {
                return Err(StorageError::GroupInUse {
                    store: self.shared.name.clone(),
                    group,
                });
            }
        }
        // From here on, on failure `log` is dropped, which releases the group again.
        let mut log = FjallLogStorage {
            store: self.clone(),
            prefix: group_prefix(&group),
            context,
            bounds: LogBounds {
                last_purged: LogId::ZERO,
                last: LogId::ZERO,
            },
            segments: BTreeMap::new(),
        };
        for name in self.shared.database.list_keyspace_names() {
            if let Some(segment) = parse_segment(&group, &name) {
                let keyspace = self.segment_keyspace(&group, segment)?;
                log.segments.insert(segment, keyspace);
            }
        }
        log.bounds = log.load_bounds()?;
        // Segments a crash left behind after the marker moved past them. The marker
        // read back may be in the journal without being fsynced (a crash between its
        // commit and the sync); a deletion is durable at once, so the marker must be
        // made durable first.
        let first_index = log.bounds.first_index();
        if log.segments.keys().next().is_some_and(|&segment| {
            (segment + 1).saturating_mul(self.shared.segment_entries) <= first_index.0
        }) {
            self.persist()?;
            log.drop_segments_below(first_index)?;
        }
        // Segments below the last are written no more: flush what the journal replay
        // put back into their memtables (see `seal`).
        for keyspace in log.segments.values().rev().skip(1) {
            seal(keyspace);
        }
        Ok(log)
    }

    /// Opens the meta store of `group`.
    pub fn meta_storage(&self, group: GroupId) -> FjallMetaStorage {
        FjallMetaStorage {
            store: self.clone(),
            key: meta_key(&group_prefix(&group), META_HARD_STATE),
            context: Context::new(self.shared.name.clone(), group),
        }
    }

    fn segment_of(&self, index: LogIndex) -> u64 {
        index.0 / self.shared.segment_entries
    }

    /// Counts `bytes` of log written; past the write budget (half the memtable size,
    /// 32 MiB by default) seals every log segment's memtable and the meta's, so that
    /// unflushed log data — unsealed plus sealed and not yet flushed — stays near one
    /// memtable, what the single shared log keyspace held before segments. With many
    /// groups each below one segment, no memtable fills and no group moves to a new
    /// segment: without this budget nothing flushed until the journal limit and a
    /// restart replayed it all (measured: 200 groups of 20,000 entries held 953 MiB
    /// and reopened at 947 MiB; with it, 149 MiB and 65 MiB — docs/storage.md).
    fn account(&self, bytes: u64) {
        use std::sync::atomic::Ordering;
        let budget = (self
            .shared
            .options
            .max_memtable_size_bytes
            .unwrap_or(64 * 1024 * 1024)
            / 2)
        .max(1024 * 1024);
        let total = self
            .shared
            .unsealed_bytes
            .fetch_add(bytes, Ordering::Relaxed)
            + bytes;
        if total < budget {
            return;
        }
        self.shared.unsealed_bytes.store(0, Ordering::Relaxed);
        // A segment another group deletes between the listing and the open comes back
        // empty; being below its group's marker, the next open deletes it again.
        for name in self.shared.database.list_keyspace_names() {
            if name.starts_with("log.") {
                if let Ok(keyspace) = self
                    .shared
                    .database
                    .keyspace(&name, KeyspaceCreateOptions::default)
                {
                    seal(&keyspace);
                }
            }
        }
        seal(&self.shared.meta);
    }

    /// Opens (creating) the keyspace of `group`'s log segment `segment`.
    fn segment_keyspace(&self, group: &GroupId, segment: u64) -> Result<Keyspace> {
        let memtable = self.shared.options.max_memtable_size_bytes;
        let name = segment_name(group, segment);
        // fjall panics on a name over 255 bytes (a hand-built group name: `GroupId::new`
        // caps them at 128).
        if name.len() > 255 {
            return Err(StorageError::InvalidArgument {
                store: self.shared.name.clone(),
                group: group.clone(),
                reason: "the group name is too long for a log segment's name".to_string(),
            });
        }
        self.shared
            .database
            .keyspace(&name, || {
                let create = KeyspaceCreateOptions::default();
                match memtable {
                    Some(bytes) => create.max_memtable_size(bytes),
                    None => create,
                }
            })
            .map_err(|error| self.read_error(error))
    }

    /// The number of log segments (keyspaces) `group` has on disk.
    pub fn log_segments(&self, group: &GroupId) -> usize {
        self.shared
            .database
            .list_keyspace_names()
            .iter()
            .filter(|name| parse_segment(group, name).is_some())
            .count()
    }

    /// fsyncs the journal (every group's pending writes).
    pub fn persist(&self) -> Result<()> {
        self.check_not_fatal()?;
        self.shared
            .database
            .persist(PersistMode::SyncAll)
            .map_err(|error| self.mark_fatal(format!("persist failed: {error}")))
    }

    fn check_not_fatal(&self) -> Result<()> {
        let fatal = self.shared.fatal.lock().map_err(|_| StorageError::Fatal {
            store: self.shared.name.clone(),
            reason: "fatal-state lock poisoned".to_string(),
        })?;
        match &*fatal {
            Some(reason) => Err(StorageError::Fatal {
                store: self.shared.name.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Records the first fatal failure and returns the error to report.
    fn mark_fatal(&self, reason: String) -> StorageError {
        let reason = match self.shared.fatal.lock() {
            Ok(mut fatal) => fatal.get_or_insert(reason).clone(),
            Err(_) => reason,
        };
        StorageError::Fatal {
            store: self.shared.name.clone(),
            reason,
        }
    }

    fn read_error(&self, error: fjall::Error) -> StorageError {
        if matches!(error, fjall::Error::Poisoned) {
            return self.mark_fatal("database poisoned by an earlier write failure".to_string());
        }
        StorageError::Io {
            store: self.shared.name.clone(),
            path: self.shared.path.display().to_string(),
            reason: error.to_string(),
        }
    }

    /// Commits a batch, with an fsync when `sync` is on. Any failure is fatal: fjall
    /// poisons itself after a failed journal write or fsync, and even a failure before
    /// the write leaves us unable to tell what reached the journal.
    fn commit(&self, batch: fjall::OwnedWriteBatch) -> Result<()> {
        self.check_not_fatal()?;
        let durability = if self.shared.options.sync {
            Some(PersistMode::SyncAll)
        } else {
            None
        };
        batch
            .durability(durability)
            .commit()
            .map_err(|error| self.mark_fatal(format!("write batch failed: {error}")))
    }

    /// Testing hook (reopen the group's log afterwards: an open handle does not see a
    /// segment this creates): stores `record` verbatim as the entry of `index` in `group`,
    /// bypassing every check, to simulate on-disk corruption.
    #[doc(hidden)]
    pub fn overwrite_raw_entry(
        &self,
        group: &GroupId,
        index: LogIndex,
        record: &[u8],
    ) -> Result<()> {
        let keyspace = self.segment_keyspace(group, self.segment_of(index))?;
        let mut batch = self.shared.database.batch();
        batch.insert(&keyspace, log_key(index), record);
        self.commit(batch)
    }

    /// Testing hook: deletes the stored record of `index` in `group`, bypassing every
    /// check, to simulate a lost record.
    #[doc(hidden)]
    pub fn remove_raw_entry(&self, group: &GroupId, index: LogIndex) -> Result<()> {
        if !self
            .shared
            .database
            .keyspace_exists(&segment_name(group, self.segment_of(index)))
        {
            return Ok(());
        }
        let keyspace = self.segment_keyspace(group, self.segment_of(index))?;
        let mut batch = self.shared.database.batch();
        batch.remove(&keyspace, log_key(index));
        self.commit(batch)
    }

    /// Testing hook: the raw stored record of `index` in `group`.
    #[doc(hidden)]
    pub fn raw_entry(&self, group: &GroupId, index: LogIndex) -> Result<Option<Vec<u8>>> {
        let name = segment_name(group, self.segment_of(index));
        if !self.shared.database.keyspace_exists(&name) {
            return Ok(None);
        }
        self.segment_keyspace(group, self.segment_of(index))?
            .get(log_key(index))
            .map(|value| value.map(|value| value.to_vec()))
            .map_err(|error| self.read_error(error))
    }
}

/// The log of one group in a [`FjallStore`].
///
/// Caches the log bounds (last purged and last log id), so `first_index` and
/// `last_log_id` cost no I/O; this is why a group may have only one live handle.
pub struct FjallLogStorage {
    store: FjallStore,
    /// The group's prefix in the shared `meta` keyspace.
    prefix: Vec<u8>,
    context: Context,
    bounds: LogBounds,
    /// The group's log segments on disk, by number.
    segments: BTreeMap<u64, Keyspace>,
}

impl std::fmt::Debug for FjallLogStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallLogStorage")
            .field("group", &self.context.group)
            .field("bounds", &self.bounds)
            .field("segments", &self.segments.len())
            .finish()
    }
}

impl Drop for FjallLogStorage {
    fn drop(&mut self) {
        if let Ok(mut open) = self.store.shared.open_logs.lock() {
            open.remove(&self.context.group);
        }
    }
}

impl FjallLogStorage {
    fn segment_of(&self, index: LogIndex) -> u64 {
        self.store.segment_of(index)
    }

    fn get(&self, index: LogIndex) -> Result<Option<fjall::Slice>> {
        let Some(segment) = self.segments.get(&self.segment_of(index)) else {
            return Ok(None);
        };
        segment
            .get(log_key(index))
            .map_err(|error| self.store.read_error(error))
    }

    /// The keyspace of the segment holding `index`, created if missing.
    fn segment_for_write(&mut self, index: LogIndex) -> Result<Keyspace> {
        let segment = self.segment_of(index);
        if let Some(keyspace) = self.segments.get(&segment) {
            return Ok(keyspace.clone());
        }
        let keyspace = self.store.segment_keyspace(&self.context.group, segment)?;
        self.segments.insert(segment, keyspace.clone());
        Ok(keyspace)
    }

    /// Tombstones for every index in `range` (in the segments that exist), into `batch`.
    fn remove_range(&self, batch: &mut fjall::OwnedWriteBatch, range: Range<u64>) {
        let size = self.store.shared.segment_entries;
        for (&segment, keyspace) in self
            .segments
            .range(range.start / size..=range.end.saturating_sub(1) / size)
        {
            let start = range.start.max(segment * size);
            let end = range.end.min((segment + 1).saturating_mul(size));
            for index in start..end {
                batch.remove(keyspace, log_key(LogIndex(index)));
            }
        }
    }

    /// Deletes the segments that hold only indexes below `first_index` (compacted).
    /// Called once the marker that compacted them is committed.
    fn drop_segments_below(&mut self, first_index: LogIndex) -> Result<()> {
        let doomed: Vec<u64> = self
            .segments
            .keys()
            .copied()
            .take_while(|&segment| {
                (segment + 1).saturating_mul(self.store.shared.segment_entries) <= first_index.0
            })
            .collect();
        for segment in doomed {
            if let Some(keyspace) = self.segments.remove(&segment) {
                self.store
                    .shared
                    .database
                    .delete_keyspace(keyspace)
                    .map_err(|error| {
                        self.store
                            .mark_fatal(format!("deleting log segment {segment} failed: {error}"))
                    })?;
            }
        }
        Ok(())
    }

    /// Reads the last-purged marker and seeks the last entry (a reverse scan from the
    /// top of the group's key range, bounded below by `first_index`).
    fn load_bounds(&self) -> Result<LogBounds> {
        let marker_key = meta_key(&self.prefix, META_LAST_PURGED);
        let last_purged = match self
            .store
            .shared
            .meta
            .get(&marker_key)
            .map_err(|error| self.store.read_error(error))?
        {
            None => LogId::ZERO,
            Some(record) => codec::decode_log_id(&record)
                .map_err(|e| self.context.corrupt_meta("last purged", e))?,
        };
        let first_index = last_purged.index.next();
        // The last entry at or above the marker: the highest segment holding one.
        for (&segment, keyspace) in self.segments.range(self.segment_of(first_index)..).rev() {
            let range =
                log_key(first_index.max(LogIndex(segment * self.store.shared.segment_entries)))
                    ..=log_key(LogIndex(u64::MAX));
            if let Some(guard) = keyspace.range(range).next_back() {
                let (key, value) = guard
                    .into_inner()
                    .map_err(|error| self.store.read_error(error))?;
                let index = index_of_key(&key)
                    .ok_or_else(|| self.context.corrupt(first_index, "malformed log key"))?;
                let last = self.context.decode_log_id(index, &value)?;
                return Ok(LogBounds { last_purged, last });
            }
        }
        Ok(LogBounds {
            last_purged,
            last: last_purged,
        })
    }
}

impl LogStorage for FjallLogStorage {
    fn group(&self) -> &GroupId {
        &self.context.group
    }

    fn first_index(&self) -> Result<LogIndex> {
        Ok(self.bounds.first_index())
    }

    fn last_log_id(&self) -> Result<LogId> {
        Ok(self.bounds.last)
    }

    fn log_id(&self, index: LogIndex) -> Result<Option<LogId>> {
        if index == self.bounds.last_purged.index {
            return Ok(Some(self.bounds.last_purged));
        }
        if index == self.bounds.last.index {
            return Ok(Some(self.bounds.last));
        }
        if !self.bounds.holds(index) {
            return Ok(None);
        }
        match self.get(index)? {
            Some(record) => Ok(Some(self.context.decode_log_id(index, &record)?)),
            None => Err(self.context.missing(index)),
        }
    }

    fn entry(&self, index: LogIndex) -> Result<Option<LogEntry>> {
        if !self.bounds.holds(index) {
            return Ok(None);
        }
        match self.get(index)? {
            Some(record) => Ok(Some(self.context.decode_entry(index, &record)?)),
            None => Err(self.context.missing(index)),
        }
    }

    fn entries(&self, range: Range<LogIndex>, limits: ReadLimits) -> Result<Vec<LogEntry>> {
        if !self.bounds.check_read(&self.context, &range)? {
            return Ok(Vec::new());
        }
        let (start, end) = (range.start, range.end);
        let records = self
            .segments
            .range(self.segment_of(start)..=self.segment_of(end.prev()))
            .flat_map(move |(_, keyspace)| keyspace.range(log_key(start)..log_key(end)))
            .map(|guard| {
                let (key, value) = guard
                    .into_inner()
                    .map_err(|error| self.store.read_error(error))?;
                let index = index_of_key(&key)
                    .ok_or_else(|| self.context.corrupt(start, "malformed log key"))?;
                Ok((index, value))
            });
        collect_entries(&self.context, range.clone(), limits, records)
    }

    fn append(&mut self, entries: &[LogEntry]) -> Result<()> {
        let Some(last) = entries.last() else {
            return Ok(());
        };
        self.bounds.check_append(&self.context, entries)?;
        let records = self.context.encode_batch(entries)?;
        let bytes: u64 = records
            .iter()
            .map(|(_, record)| record.len() as u64 + 8)
            .sum();
        let mut batch = self.store.shared.database.batch();
        for (index, record) in records {
            let keyspace = self.segment_for_write(index)?;
            batch.insert(&keyspace, log_key(index), record);
        }
        self.store.commit(batch)?;
        self.store.account(bytes);
        // Moved into a new segment: the ones before it are written no more.
        let (from, to) = (
            self.segment_of(entries[0].meta.log_id.index.prev()),
            self.segment_of(last.meta.log_id.index),
        );
        if from != to {
            for (_, keyspace) in self.segments.range(from..to) {
                seal(keyspace);
            }
            // The shared meta keyspace's memtable (markers, hard states) is small and
            // would otherwise hold every journal file back, and with them every
            // deleted segment the journal still names (fjall drops a deleted keyspace
            // only when no journal file names it).
            seal(&self.store.shared.meta);
        }
        self.bounds.last = last.meta.log_id;
        Ok(())
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<()> {
        if !self.bounds.check_truncate_suffix(&self.context, from)? {
            return Ok(());
        }
        let new_last = if from == self.bounds.first_index() {
            self.bounds.last_purged
        } else {
            self.log_id(from.prev())?
                .ok_or_else(|| self.context.missing(from.prev()))?
        };
        let mut batch = self.store.shared.database.batch();
        // Tombstones for exactly the truncated keys: O(truncated), no scan. (Not a
        // segment deletion: that is not atomic with the batch, and a crash between
        // them would bring truncated entries back.)
        self.remove_range(&mut batch, from.0..self.bounds.last.index.0 + 1);
        self.store.commit(batch)?;
        self.bounds.last = new_last;
        Ok(())
    }

    fn truncate_prefix(&mut self, up_to: LogIndex) -> Result<()> {
        if !self.bounds.check_truncate_prefix(&self.context, up_to)? {
            return Ok(());
        }
        let last_purged = self
            .log_id(up_to.prev())?
            .ok_or_else(|| self.context.missing(up_to.prev()))?;
        // The marker alone: the compacted entries are dead from here on (no read goes
        // below the first index), and go with their segments.
        let mut batch = self.store.shared.database.batch();
        batch.insert(
            &self.store.shared.meta,
            meta_key(&self.prefix, META_LAST_PURGED),
            codec::encode_log_id(last_purged),
        );
        self.store.commit(batch)?;
        self.bounds.last_purged = last_purged;
        if self.bounds.last.index < last_purged.index {
            self.bounds.last = last_purged;
        }
        // With `sync` off the marker may not be durable yet; a crash could then bring
        // the old marker back over deleted segments. Make it durable first.
        if !self.store.shared.options.sync {
            self.store.persist()?;
        }
        self.drop_segments_below(up_to)
    }

    fn reset(&mut self, last_included: LogId) -> Result<()> {
        let mut batch = self.store.shared.database.batch();
        // Everything above the new marker goes: the held entries, and dead ones below
        // the old marker (compacted, still in their segment) that a marker moved back
        // would make visible again.
        let above = last_included.index.0.saturating_add(1);
        let top = self
            .bounds
            .last
            .index
            .0
            .max(self.bounds.last_purged.index.0);
        if above <= top {
            self.remove_range(&mut batch, above..top + 1);
        }
        batch.insert(
            &self.store.shared.meta,
            meta_key(&self.prefix, META_LAST_PURGED),
            codec::encode_log_id(last_included),
        );
        self.store.commit(batch)?;
        self.bounds = LogBounds {
            last_purged: last_included,
            last: last_included,
        };
        if !self.store.shared.options.sync {
            self.store.persist()?;
        }
        self.drop_segments_below(last_included.index.next())
    }

    fn sync(&mut self) -> Result<()> {
        self.store.persist()
    }
}

/// The term and vote of one group in a [`FjallStore`].
#[derive(Clone)]
pub struct FjallMetaStorage {
    store: FjallStore,
    key: Vec<u8>,
    context: Context,
}

impl std::fmt::Debug for FjallMetaStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallMetaStorage")
            .field("group", &self.context.group)
            .finish()
    }
}

impl MetaStorage for FjallMetaStorage {
    fn hard_state(&self) -> Result<HardState> {
        match self
            .store
            .shared
            .meta
            .get(&self.key)
            .map_err(|error| self.store.read_error(error))?
        {
            None => Ok(HardState::default()),
            Some(record) => codec::decode_hard_state(&record)
                .map_err(|e| self.context.corrupt_meta("hard state", e)),
        }
    }

    fn set_hard_state(&mut self, state: &HardState) -> Result<()> {
        let record = codec::encode_hard_state(state).map_err(|e| {
            self.context
                .invalid(format!("hard state cannot be encoded: {}", e.0))
        })?;
        let mut batch = self.store.shared.database.batch();
        batch.insert(&self.store.shared.meta, self.key.clone(), record);
        self.store.commit(batch)
    }
}
