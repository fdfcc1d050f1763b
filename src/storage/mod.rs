//! Durable storage: the replicated log, the term and vote, and snapshots
//! (DESIGN.md §4).
//!
//! Three traits, as braft and JRaft have them:
//!
//! - [`LogStorage`]: append a batch, read a bounded range, first and last index,
//!   truncate prefix and suffix, reset for snapshot install;
//! - [`MetaStorage`]: term and vote, durable before any vote or append is acknowledged;
//! - [`SnapshotStorage`]: a snapshot as a directory of files plus [`SnapshotMeta`],
//!   committed atomically, read in chunks, with braft's filter-before-copy.
//!
//! Implementations:
//!
//! - `FjallStore` (the default durable store: one database per process, many groups;
//!   feature `fjall`);
//! - [`MemoryLogStorage`] / [`MemoryMetaStorage`] for tests and benchmarks;
//! - [`SimDisk`] for the chaos suite, modelling durability, torn writes and bit rot;
//! - [`LocalSnapshotStorage`] for snapshots.
//!
//! Every log entry is stored as a record with a crc32c ([`codec`]) that is verified on
//! every read; any bad or missing record is a [`StorageError`] naming the store, group
//! and index, never a panic and never a silently shortened log. `docs/storage.md`
//! describes the design, the durability contract and the measurements.
//!
//! ```
//! use concord::core::{GroupId, LogId, LogIndex};
//! use concord::storage::{LogEntry, LogStorage, MemoryLogStorage, ReadLimits};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut log = MemoryLogStorage::new(GroupId::new("counter")?);
//! log.append(&[LogEntry::blank(LogId::new(1, 1)), LogEntry::normal(LogId::new(1, 2), "x")])?;
//! log.truncate_prefix(LogIndex(2))?;
//! assert_eq!(log.first_index()?, LogIndex(2));
//! assert_eq!(log.log_id(LogIndex(1))?, Some(LogId::new(1, 1)));
//! let entries = log.entries(LogIndex(2)..LogIndex(3), ReadLimits::entries(16))?;
//! assert_eq!(entries.len(), 1);
//! # Ok(())
//! # }
//! ```

pub mod codec;
mod entry;
mod error;
#[cfg(feature = "fjall")]
mod fjall;
mod fs;
mod image;
mod log;
mod memory;
mod meta;
mod rules;
pub(crate) use rules::{Context, LogBounds};
mod sim;
mod sim_fs;
mod snapshot;

pub use entry::LogEntry;
pub use error::{Result, StorageError};
#[cfg(feature = "fjall")]
pub use fjall::{FjallLogStorage, FjallMetaStorage, FjallOptions, FjallStore, LOG_SEGMENT_ENTRIES};
pub use fs::{RealFs, SnapshotFs};
pub use log::{LogStorage, ReadLimits};
pub use memory::{MemoryLogStorage, MemoryMetaStorage};
pub use meta::{HardState, MetaStorage};
pub use sim::{CrashPoint, SimDisk, SimLogStorage, SimMetaStorage, SimOptions, Tear};
pub use sim_fs::SimFs;
pub use snapshot::{
    check_file_name, LocalSnapshotReader, LocalSnapshotStorage, LocalSnapshotWriter,
    SnapshotFileMeta, SnapshotMeta, SnapshotReader, SnapshotStorage, SnapshotWriter,
    META_FILE_NAME,
};
