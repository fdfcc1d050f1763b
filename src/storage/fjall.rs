//! The default durable store: one fjall database per process, shared by every group.
//!
//! # Layout
//!
//! Two keyspaces, shared by all groups:
//!
//! - `log`: key = group prefix ++ big-endian u64 index, value = an entry record
//!   (see [`super::codec`]); big-endian keys make byte order index order.
//! - `meta`: key = group prefix ++ `b'p'` → the last purged log id (the first-index
//!   marker: `first_index = last_purged.index + 1`); group prefix ++ `b'h'` → the hard
//!   state.
//!
//! The group prefix is the group name's length (one byte) followed by its bytes, so no
//! group's prefix is a prefix of another's. Shared keyspaces (rather than one per group)
//! keep the number of memtables, flushes and open files independent of the number of
//! groups; groups are still kept apart by key, and one journal covers them all anyway.
//!
//! # Durability
//!
//! With `sync` on, every write batch is committed with `PersistMode::SyncAll`: the
//! journal is fsynced before the call returns (one fsync per batch: group commit). With
//! `sync` off, batches reach the OS page cache only: they survive a process crash but
//! **not a power loss** (JRAFT_GUIDE_NOTES F22). Recovery discards a torn last journal
//! batch (fjall's `TolerateCorruptTail`), which can only hold unacknowledged writes.
//!
//! # Prefix truncation
//!
//! fjall 3.1 has no range delete. `truncate_prefix(up_to)` writes one tombstone per
//! truncated key plus the new last-purged marker in **one** batch (atomic, O(truncated)).
//! Reads never scan from the start of a group's key range: they always seek to
//! `first_index`, which the marker records, so the tombstones below it (until
//! compaction drops them) are never visited on the hot path. `docs/storage.md` has the
//! measurement.
//!
//! # Errors
//!
//! A failed commit or persist poisons fjall; this store then answers every write with
//! [`StorageError::Fatal`], for every group (they share the journal).

use std::collections::BTreeSet;
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

const LOG_KEYSPACE: &str = "log";
const META_KEYSPACE: &str = "meta";
const META_LAST_PURGED: u8 = b'p';
const META_HARD_STATE: u8 = b'h';

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
    /// Memtable size of the log keyspace (fjall default when `None`).
    pub max_memtable_size_bytes: Option<u64>,
}

impl Default for FjallOptions {
    fn default() -> Self {
        FjallOptions {
            sync: true,
            cache_size_bytes: 64 * 1024 * 1024,
            worker_threads: None,
            max_journaling_size_bytes: None,
            max_memtable_size_bytes: None,
        }
    }
}

struct Shared {
    name: String,
    path: PathBuf,
    options: FjallOptions,
    database: Database,
    log: Keyspace,
    meta: Keyspace,
    /// The first fatal failure; once set, every write is refused.
    fatal: Mutex<Option<String>>,
    /// Groups with a live log handle (each handle caches the log bounds).
    open_logs: Mutex<BTreeSet<GroupId>>,
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

fn log_key(prefix: &[u8], index: LogIndex) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&index.0.to_be_bytes());
    key
}

fn meta_key(prefix: &[u8], record: u8) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.push(record);
    key
}

fn index_of_key(prefix: &[u8], key: &[u8]) -> Option<LogIndex> {
    let suffix = key.strip_prefix(prefix)?;
    let raw: [u8; 8] = suffix.try_into().ok()?;
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
        let memtable = options.max_memtable_size_bytes;
        let log = database
            .keyspace(LOG_KEYSPACE, || {
                let create = KeyspaceCreateOptions::default();
                match memtable {
                    Some(bytes) => create.max_memtable_size(bytes),
                    None => create,
                }
            })
            .map_err(io)?;
        let meta = database
            .keyspace(META_KEYSPACE, KeyspaceCreateOptions::default)
            .map_err(io)?;
        Ok(FjallStore {
            shared: Arc::new(Shared {
                name,
                path,
                options,
                database,
                log,
                meta,
                fatal: Mutex::new(None),
                open_logs: Mutex::new(BTreeSet::new()),
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
        let mut log = FjallLogStorage {
            store: self.clone(),
            prefix: group_prefix(&group),
            context,
            bounds: LogBounds {
                last_purged: LogId::ZERO,
                last: LogId::ZERO,
            },
        };
        // On failure `log` is dropped, which releases the group again.
        log.bounds = log.load_bounds()?;
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

    /// Testing hook: stores `record` verbatim as the entry of `index` in `group`,
    /// bypassing every check, to simulate on-disk corruption.
    #[doc(hidden)]
    pub fn overwrite_raw_entry(
        &self,
        group: &GroupId,
        index: LogIndex,
        record: &[u8],
    ) -> Result<()> {
        let mut batch = self.shared.database.batch();
        batch.insert(
            &self.shared.log,
            log_key(&group_prefix(group), index),
            record,
        );
        self.commit(batch)
    }

    /// Testing hook: deletes the stored record of `index` in `group`, bypassing every
    /// check, to simulate a lost record.
    #[doc(hidden)]
    pub fn remove_raw_entry(&self, group: &GroupId, index: LogIndex) -> Result<()> {
        let mut batch = self.shared.database.batch();
        batch.remove(&self.shared.log, log_key(&group_prefix(group), index));
        self.commit(batch)
    }

    /// Testing hook: the raw stored record of `index` in `group`.
    #[doc(hidden)]
    pub fn raw_entry(&self, group: &GroupId, index: LogIndex) -> Result<Option<Vec<u8>>> {
        self.shared
            .log
            .get(log_key(&group_prefix(group), index))
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
    prefix: Vec<u8>,
    context: Context,
    bounds: LogBounds,
}

impl std::fmt::Debug for FjallLogStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallLogStorage")
            .field("group", &self.context.group)
            .field("bounds", &self.bounds)
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
    fn key(&self, index: LogIndex) -> Vec<u8> {
        log_key(&self.prefix, index)
    }

    fn get(&self, index: LogIndex) -> Result<Option<fjall::Slice>> {
        self.store
            .shared
            .log
            .get(self.key(index))
            .map_err(|error| self.store.read_error(error))
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
        let range = self.key(first_index)..=self.key(LogIndex(u64::MAX));
        let last = match self.store.shared.log.range(range).next_back() {
            None => last_purged,
            Some(guard) => {
                let (key, value) = guard
                    .into_inner()
                    .map_err(|error| self.store.read_error(error))?;
                let index = index_of_key(&self.prefix, &key)
                    .ok_or_else(|| self.context.corrupt(first_index, "malformed log key"))?;
                self.context.decode_log_id(index, &value)?
            }
        };
        Ok(LogBounds { last_purged, last })
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
        let records = self
            .store
            .shared
            .log
            .range(self.key(range.start)..self.key(range.end))
            .map(|guard| {
                let (key, value) = guard
                    .into_inner()
                    .map_err(|error| self.store.read_error(error))?;
                let index = index_of_key(&self.prefix, &key)
                    .ok_or_else(|| self.context.corrupt(range.start, "malformed log key"))?;
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
        let mut batch = self.store.shared.database.batch();
        for (index, record) in records {
            batch.insert(&self.store.shared.log, self.key(index), record);
        }
        self.store.commit(batch)?;
        self.bounds.last = last.log_id;
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
        // Tombstones for exactly the truncated keys: O(truncated), no scan.
        for index in from.0..=self.bounds.last.index.0 {
            batch.remove(&self.store.shared.log, self.key(LogIndex(index)));
        }
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
        let mut batch = self.store.shared.database.batch();
        for index in self.bounds.first_index().0..up_to.0 {
            batch.remove(&self.store.shared.log, self.key(LogIndex(index)));
        }
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
        Ok(())
    }

    fn reset(&mut self, last_included: LogId) -> Result<()> {
        let mut batch = self.store.shared.database.batch();
        if !self.bounds.is_empty() {
            for index in self.bounds.first_index().0..=self.bounds.last.index.0 {
                batch.remove(&self.store.shared.log, self.key(LogIndex(index)));
            }
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
        Ok(())
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
