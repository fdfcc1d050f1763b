//! `StorageError`: the one error type of every storage implementation.

use crate::core::{GroupId, LogIndex};

/// A storage result.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Why a storage operation failed.
///
/// Every variant names the store (`memory`, `sim`, `fjall:<path>`, `snapshot:<path>`) and,
/// where one exists, the group and index, so that an operator can find the bad record.
/// Disk contents never cause a panic: a bad record is one of these errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum StorageError {
    /// A stored log entry failed its checksum or could not be decoded.
    #[error("corrupt log entry in store {store}, group {group}, index {index}: {reason}")]
    Corrupt {
        /// The store that holds the entry.
        store: String,
        /// The group whose log holds the entry.
        group: GroupId,
        /// The index of the entry (its key).
        index: LogIndex,
        /// What was wrong.
        reason: String,
    },
    /// A metadata record (hard state, first-index marker, snapshot meta) is unreadable.
    #[error("corrupt {record} record in store {store}, group {group}: {reason}")]
    CorruptMeta {
        /// The store that holds the record.
        store: String,
        /// The group the record belongs to.
        group: GroupId,
        /// Which record (`hard state`, `log bounds`, `snapshot meta`, ...).
        record: String,
        /// What was wrong.
        reason: String,
    },
    /// An entry inside the stored range `[first_index, last_index]` is absent.
    #[error("missing log entry in store {store}, group {group}, index {index}")]
    MissingEntry {
        /// The store.
        store: String,
        /// The group.
        group: GroupId,
        /// The index that should be present and is not.
        index: LogIndex,
    },
    /// An append batch does not continue the log: a gap, an overlap, or indexes that do
    /// not increase by one.
    #[error("non-contiguous append in store {store}, group {group}: expected index {expected}, got {got}")]
    NonContiguous {
        /// The store.
        store: String,
        /// The group.
        group: GroupId,
        /// The index the next entry must have.
        expected: LogIndex,
        /// The index it has.
        got: LogIndex,
    },
    /// A read asked for an index below the first index: it was compacted away.
    #[error(
        "index {index} of group {group} in store {store} is compacted (first index {first_index})"
    )]
    Compacted {
        /// The store.
        store: String,
        /// The group.
        group: GroupId,
        /// The requested index.
        index: LogIndex,
        /// The first index still held.
        first_index: LogIndex,
    },
    /// A read asked for an index past the last index.
    #[error("index {index} of group {group} in store {store} is past the last index {last_index}")]
    OutOfRange {
        /// The store.
        store: String,
        /// The group.
        group: GroupId,
        /// The requested index.
        index: LogIndex,
        /// The last index held.
        last_index: LogIndex,
    },
    /// The caller broke a documented precondition (term regression, truncation into the
    /// compacted prefix, invalid file name, ...). Nothing was written.
    #[error("invalid argument for store {store}, group {group}: {reason}")]
    InvalidArgument {
        /// The store.
        store: String,
        /// The group.
        group: GroupId,
        /// Which precondition failed.
        reason: String,
    },
    /// The group is already open through another handle of the same store.
    #[error("group {group} is already open in store {store}")]
    GroupInUse {
        /// The store.
        store: String,
        /// The group.
        group: GroupId,
    },
    /// The store failed in a way that leaves its durable state unknown (an fsync or
    /// journal write error, a poisoned database). The store refuses every further write
    /// with this error; the process must restart and recover from disk. Never retry an
    /// fsync: after a failed fsync the kernel may have dropped the dirty pages.
    #[error("store {store} is unusable: {reason}")]
    Fatal {
        /// The store.
        store: String,
        /// The first failure.
        reason: String,
    },
    /// An I/O error that does not, by itself, make the store unusable (a failed read, a
    /// missing directory).
    #[error("I/O error in store {store} at {path}: {reason}")]
    Io {
        /// The store.
        store: String,
        /// The file or directory involved.
        path: String,
        /// The error, as text (so that the enum stays `Clone + PartialEq`).
        reason: String,
    },
}

impl StorageError {
    /// True for [`StorageError::Fatal`]: the store must not be used again in this process.
    pub fn is_fatal(&self) -> bool {
        matches!(self, StorageError::Fatal { .. })
    }
}
