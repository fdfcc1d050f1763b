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
