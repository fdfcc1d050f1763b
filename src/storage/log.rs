//! `LogStorage`: the replicated log of one group, with payloads.

use std::ops::Range;

use crate::core::{GroupId, LogId, LogIndex, Term};

use super::entry::LogEntry;
use super::error::Result;

/// Seals [`LogStorage`] and [`super::MetaStorage`]: only this crate's stores implement
/// them.
pub(crate) mod sealed {
    /// Implemented by the bundled stores only.
    pub trait Sealed {}
    impl Sealed for super::super::MemoryLogStorage {}
    impl Sealed for super::super::MemoryMetaStorage {}
    impl Sealed for super::super::SimLogStorage {}
    impl Sealed for super::super::SimMetaStorage {}
    #[cfg(feature = "fjall")]
    impl Sealed for super::super::FjallLogStorage {}
    #[cfg(feature = "fjall")]
    impl Sealed for super::super::FjallMetaStorage {}
}

/// Bounds on one read so that a reader never loads an unbounded batch into memory.
///
/// A read returns at least one entry when the requested range is non-empty, even if that
/// entry alone exceeds `max_bytes`, so that a caller always makes progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadLimits {
    /// At most this many entries.
    pub max_entries: usize,
    /// Stop before the encoded size of the returned entries exceeds this many bytes.
    pub max_bytes: u64,
}

impl ReadLimits {
    /// At most `max_entries` entries, no byte bound.
    pub fn entries(max_entries: usize) -> ReadLimits {
        ReadLimits {
            max_entries,
            max_bytes: u64::MAX,
        }
    }

    /// At most `max_entries` entries and `max_bytes` bytes.
    pub fn new(max_entries: usize, max_bytes: u64) -> ReadLimits {
        ReadLimits {
            max_entries,
            max_bytes,
        }
    }
}

/// The log of one Raft group, as Concord's bundled stores (memory, fjall, the simulated
/// disk) implement it.
///
/// **Not a plug-in point**: the trait is sealed. A node's one storage port is
/// [`LogStore`](crate::runtime::LogStore) — implement that to bring your own storage;
/// a bundled store becomes one through
/// [`StorageLogStore`](crate::runtime::StorageLogStore) (or `DurableStorage`, for fjall).
/// This interface stays public so that a bundled store can be used and tested on its own
/// (its conformance, fault and crash tests drive it directly).
///
/// # Shape of the log
///
/// The log holds the entries `[first_index, last_index]` (empty when
/// `first_index == last_index + 1`). Everything before `first_index` was compacted into a
/// snapshot; the log id of `first_index - 1` is kept as the *last purged* log id, so that
/// [`LogStorage::last_log_id`] and [`LogStorage::log_id`] still answer for it after the
/// whole log was compacted. A fresh log has `first_index = 1` and last purged
/// `LogId::ZERO`.
///
/// # Durability
///
/// With `sync` on (the default of every implementation), `append`, `truncate_suffix`,
/// `truncate_prefix` and `reset` return only after their effect is on stable storage:
/// the caller may acknowledge the entries as soon as `append` returns. With `sync` off
/// they reach the OS (or the simulated page cache) only, survive a process crash but not
/// a power loss, and [`LogStorage::sync`] makes them durable.
///
/// # Integrity
///
/// Every entry is stored with a crc32c that is verified on every read. A mismatch, or an
/// entry missing inside `[first_index, last_index]`, is a [`super::StorageError`] naming
/// the store, group and index; a read never returns a silently shortened range.
///
/// # Thread-safety
///
/// Implementations are `Send`. Writes take `&mut self`; reads take `&self`. The runtime
/// owns the log in one writer task; concurrent readers share it behind a lock.
pub trait LogStorage: sealed::Sealed + Send {
    /// The group this log belongs to.
    fn group(&self) -> &GroupId;

    /// The first index still held (`last purged + 1`).
    fn first_index(&self) -> Result<LogIndex>;

    /// The log id of the last entry, or the last purged log id when the log is empty.
    fn last_log_id(&self) -> Result<LogId>;

    /// The log id at `index`, for `first_index - 1 <= index <= last_index`; `None`
    /// outside that range (index `first_index - 1` answers with the last purged log id).
    fn log_id(&self, index: LogIndex) -> Result<Option<LogId>>;

    /// The term at `index`; same range as [`LogStorage::log_id`].
    fn term(&self, index: LogIndex) -> Result<Option<Term>> {
        Ok(self.log_id(index)?.map(|log_id| log_id.term))
    }

    /// The entry at `index`; `None` outside `[first_index, last_index]`.
    fn entry(&self, index: LogIndex) -> Result<Option<LogEntry>>;

    /// The entries of `range`, in order, bounded by `limits`.
    ///
    /// The range must lie within `[first_index, last_index + 1)`: a start below the
    /// first index is [`super::StorageError::Compacted`], an end past the last index is
    /// [`super::StorageError::OutOfRange`]. An empty range returns no entries.
    fn entries(&self, range: Range<LogIndex>, limits: ReadLimits) -> Result<Vec<LogEntry>>;

    /// Appends a batch. The batch must be contiguous, start at `last_index + 1`, and its
    /// terms must not decrease (nor fall below the last term); otherwise nothing is
    /// written and the error is [`super::StorageError::NonContiguous`] or
    /// [`super::StorageError::InvalidArgument`]. One batch is one atomic write and, with
    /// `sync` on, one fsync (group commit).
    fn append(&mut self, entries: &[LogEntry]) -> Result<()>;

    /// Deletes the entries `>= from` (conflict resolution, Raft §5.3). `from` must be at
    /// least `first_index`: compacted entries are committed and never truncated. A `from`
    /// past the last index does nothing.
    fn truncate_suffix(&mut self, from: LogIndex) -> Result<()>;

    /// Deletes the entries `< up_to` (log compaction after a snapshot) and records the
    /// log id of `up_to - 1` as last purged. `up_to` at or below `first_index` does
    /// nothing; `up_to` past `last_index + 1` is invalid (use [`LogStorage::reset`]).
    fn truncate_prefix(&mut self, up_to: LogIndex) -> Result<()>;

    /// Discards the whole log and restarts it after `last_included` (snapshot install):
    /// afterwards `first_index = last_included.index + 1` and
    /// `last_log_id = last_included`.
    fn reset(&mut self, last_included: LogId) -> Result<()>;

    /// Makes every completed write durable (a no-op cost-wise when `sync` is on).
    fn sync(&mut self) -> Result<()>;
}
