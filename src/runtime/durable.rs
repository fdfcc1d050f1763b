//! Durable storage built from options (JRaft's `logUri` / `raftMetaUri` / `sync`, F08):
//! one fjall database per directory, shared by every group a server hosts, opened so
//! that a node's log writer makes each batch durable with one fsync (group commit).

use std::path::PathBuf;
use std::sync::Arc;

use super::error::StartError;
use super::store::{LogStore, StorageLogStore};
use crate::core::GroupId;
use crate::storage::{FjallOptions, FjallStore};

/// Where and how nodes keep their durable state.
///
/// The log and the hard state (term and vote) of every group live in one fjall
/// database under `data_dir`, sharing its journal: one fsync makes a batch of entries
/// and the hard state written with them durable together. So there is one `sync`
/// switch, not JRaft's separate `sync` and `syncMeta`: a vote can never be less durable
/// than the entries (a vote that could be lost on power failure breaks election
/// safety, so a separate switch would only offer a way to break it).
#[derive(Clone, Debug)]
pub struct StorageOptions {
    /// The database directory (created if missing).
    pub data_dir: PathBuf,
    /// Make every write batch durable (fsync) before the node relies on it: before it
    /// acknowledges entries, grants a vote or counts its own log for a commit (default
    /// true). `false` is for tests and benchmarks only: a power loss can then lose
    /// acknowledged entries and votes (F22).
    pub sync: bool,
    /// The database's tuning (block cache, flush threads, journal size). Its own
    /// `sync` is ignored: the node syncs once per batch instead.
    pub fjall: FjallOptions,
}

impl StorageOptions {
    /// Durable storage in `data_dir`, with fsync on and fjall's default tuning.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StorageOptions {
            data_dir: data_dir.into(),
            sync: true,
            fjall: FjallOptions::default(),
        }
    }
}

/// An open database from which each group's [`LogStore`] is taken. Cheap to clone.
///
/// ```
/// use concord::core::GroupId;
/// use concord::runtime::{DurableStorage, StorageOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("concord-doc-{}", std::process::id()));
/// // One database per server; every group it hosts takes its store from it.
/// let storage = DurableStorage::open(&StorageOptions::new(&dir))?;
/// let store = storage.log_store(&GroupId::new("orders")?)?;
/// // Hand `store` to `Node::start` or `RaftServer::start_node`.
/// assert_eq!(store.hard_state()?.term.0, 0);
/// # drop(store);
/// # drop(storage);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct DurableStorage {
    fjall: FjallStore,
    sync: bool,
}

impl DurableStorage {
    /// Opens (or creates) the database described by `options`.
    pub fn open(options: &StorageOptions) -> Result<DurableStorage, StartError> {
        let fjall = FjallStore::open(
            &options.data_dir,
            FjallOptions {
                // Group commit: fjall's per-write fsync off, the node's writer syncs once
                // per batch through `StorageLogStore` (the one place the two are set).
                sync: false,
                ..options.fjall.clone()
            },
        )?;
        Ok(DurableStorage {
            fjall,
            sync: options.sync,
        })
    }

    /// The log and hard state of `group`, for `Node::start` or `RaftServer::start_node`.
    /// One live store per group: a second one fails until the first is dropped.
    pub fn log_store(&self, group: &GroupId) -> Result<Arc<dyn LogStore>, StartError> {
        let log = self.fjall.log_storage(group.clone())?;
        let meta = self.fjall.meta_storage(group.clone());
        Ok(Arc::new(StorageLogStore::new(log, meta, self.sync)))
    }

    /// The underlying database (to inspect it, or to sync it at shutdown).
    pub fn fjall(&self) -> &FjallStore {
        &self.fjall
    }
}
