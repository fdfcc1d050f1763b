//! The runtime's persistence port: what the log writer and the apply path need from
//! durable storage, in one narrow trait. `src/storage`'s stores plug in through it.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

use crate::core::{EntryMeta, HardState, LogIndex, PeerId};

/// A log entry as stored: the core's metadata and the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    /// Log id, kind, size.
    pub meta: EntryMeta<PeerId>,
    /// The payload (empty for blank and configuration entries).
    pub payload: Bytes,
}

/// One persistence step, in the order the core emitted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PersistOp {
    /// Replace term and vote.
    HardState(HardState<PeerId>),
    /// Delete entries with index ≥ this.
    TruncateFrom(LogIndex),
    /// Append contiguous entries.
    Append(Vec<StoredEntry>),
}

/// Durable storage for one group's hard state and log, as the runtime uses it.
///
/// `persist` applies a batch of operations in order and makes all of them durable
/// before returning (one fsync for the batch: group commit). `read` may run
/// concurrently with `persist` from another task. Errors are fatal for the node.
pub trait LogStore: Send + Sync + 'static {
    /// The durable state at start-up: hard state and every log entry.
    fn recover(&self) -> Result<(HardState<PeerId>, Vec<StoredEntry>), String>;
    /// Applies `ops` in order and makes them durable.
    fn persist(&self, ops: &[PersistOp]) -> Result<(), String>;
    /// Entries `first..=last` (all must exist).
    fn read(&self, first: LogIndex, last: LogIndex) -> Result<Vec<StoredEntry>, String>;
}

/// An in-memory store for tests and benchmarks: durable for the life of the value,
/// so a node restarted on the same `MemoryLogStore` recovers everything it persisted.
#[derive(Debug, Default)]
pub struct MemoryLogStore {
    state: Mutex<(HardState<PeerId>, BTreeMap<LogIndex, StoredEntry>)>,
}

impl MemoryLogStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryLogStore::default()
    }
}

impl LogStore for MemoryLogStore {
    fn recover(&self) -> Result<(HardState<PeerId>, Vec<StoredEntry>), String> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        Ok((state.0.clone(), state.1.values().cloned().collect()))
    }

    fn persist(&self, ops: &[PersistOp]) -> Result<(), String> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for op in ops {
            match op {
                PersistOp::HardState(hard_state) => state.0 = hard_state.clone(),
                PersistOp::TruncateFrom(from) => {
                    state.1.split_off(from);
                }
                PersistOp::Append(entries) => {
                    for entry in entries {
                        let expected = state
                            .1
                            .keys()
                            .next_back()
                            .map_or(entry.meta.log_id.index, |l| l.next());
                        if entry.meta.log_id.index != expected {
                            return Err(format!(
                                "append of {} does not continue the log (expected index {expected})",
                                entry.meta.log_id
                            ));
                        }
                        state.1.insert(entry.meta.log_id.index, entry.clone());
                    }
                }
            }
        }
        Ok(())
    }

    fn read(&self, first: LogIndex, last: LogIndex) -> Result<Vec<StoredEntry>, String> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let entries: Vec<StoredEntry> = state
            .1
            .range(first..=last)
            .map(|(_, e)| e.clone())
            .collect();
        if entries.len() as u64 != last.0.saturating_sub(first.0) + 1 {
            return Err(format!("entries {first}..={last} are not all in the log"));
        }
        Ok(entries)
    }
}

/// The runtime's port over any `src/storage` log + meta pair (fjall, sim, memory).
///
/// Group commit: open the underlying store with its own per-call `sync` OFF, and set
/// `sync` here. Each `persist` batch then writes everything with one write per operation
/// and makes it durable with a single `LogStorage::sync` (one fsync covers the log and
/// the hard state, which share a journal in fjall). With `sync` off here, nothing is
/// forced to disk: a power loss can lose acknowledged entries and votes (F22).
pub struct StorageLogStore<L, M> {
    inner: Mutex<(L, M)>,
    sync: bool,
}

impl<L, M> StorageLogStore<L, M> {
    /// Wraps a log and a meta store of one group.
    pub fn new(log: L, meta: M, sync: bool) -> Self {
        StorageLogStore {
            inner: Mutex::new((log, meta)),
            sync,
        }
    }
}

fn to_storage(entry: &StoredEntry) -> crate::storage::LogEntry {
    use crate::core::EntryKind;
    use crate::storage::EntryPayload;
    let payload = match &entry.meta.kind {
        EntryKind::Blank => EntryPayload::Blank,
        EntryKind::Normal => EntryPayload::Normal(entry.payload.clone()),
        EntryKind::Configuration(configuration) => {
            EntryPayload::Configuration(configuration.clone())
        }
    };
    crate::storage::LogEntry::new(entry.meta.log_id, payload)
}

fn from_storage(entry: crate::storage::LogEntry) -> StoredEntry {
    let meta = entry.meta();
    let payload = match entry.payload {
        crate::storage::EntryPayload::Normal(data) => data,
        _ => Bytes::new(),
    };
    StoredEntry { meta, payload }
}

impl<L, M> LogStore for StorageLogStore<L, M>
where
    L: crate::storage::LogStorage + 'static,
    M: crate::storage::MetaStorage + 'static,
{
    fn recover(&self) -> Result<(HardState<PeerId>, Vec<StoredEntry>), String> {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (log, meta) = &*guard;
        let stored = meta.hard_state().map_err(|e| e.to_string())?;
        let first = log.first_index().map_err(|e| e.to_string())?;
        if first > LogIndex(1) {
            return Err(format!(
                "the log starts at {first} after a snapshot; this runtime cannot load snapshots yet"
            ));
        }
        let last = log.last_log_id().map_err(|e| e.to_string())?.index;
        let mut entries = Vec::new();
        let mut next = first;
        while next <= last {
            let chunk = log
                .entries(next..last.next(), crate::storage::ReadLimits::entries(4096))
                .map_err(|e| e.to_string())?;
            if chunk.is_empty() {
                return Err(format!("log read at {next} returned nothing"));
            }
            next = next.plus(chunk.len() as u64);
            entries.extend(chunk.into_iter().map(from_storage));
        }
        let hard_state = HardState {
            term: stored.term,
            voted_for: stored.voted_for,
        };
        Ok((hard_state, entries))
    }

    fn persist(&self, ops: &[PersistOp]) -> Result<(), String> {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (log, meta) = &mut *guard;
        for op in ops {
            match op {
                PersistOp::HardState(hard_state) => {
                    let stored = crate::storage::HardState {
                        term: hard_state.term,
                        voted_for: hard_state.voted_for.clone(),
                    };
                    meta.set_hard_state(&stored).map_err(|e| e.to_string())?;
                }
                PersistOp::TruncateFrom(from) => {
                    log.truncate_suffix(*from).map_err(|e| e.to_string())?
                }
                PersistOp::Append(entries) => {
                    let entries: Vec<_> = entries.iter().map(to_storage).collect();
                    log.append(&entries).map_err(|e| e.to_string())?;
                }
            }
        }
        if self.sync {
            log.sync().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn read(&self, first: LogIndex, last: LogIndex) -> Result<Vec<StoredEntry>, String> {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let entries = guard
            .0
            .entries(
                first..last.next(),
                crate::storage::ReadLimits::entries(usize::MAX),
            )
            .map_err(|e| e.to_string())?;
        if entries.len() as u64 != last.0.saturating_sub(first.0) + 1 {
            return Err(format!("entries {first}..={last} are not all in the log"));
        }
        Ok(entries.into_iter().map(from_storage).collect())
    }
}
