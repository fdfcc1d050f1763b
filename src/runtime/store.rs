//! The runtime's persistence port: what the log writer and the apply path need from
//! durable storage, in one narrow trait. `src/storage`'s stores plug in through it.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

use crate::core::{EntryMeta, GroupId, HardState, LogId, LogIndex, PeerId, Write};
use crate::storage::{Context, LogBounds, LogEntry, StorageError};

/// One persistence step, in the order the core issued it: the core's [`Write`] with the
/// runtime's entries (metadata and payload).
pub type PersistOp = Write<PeerId, LogEntry>;

/// Durable storage for one group's hard state and log, as the runtime uses it.
///
/// `write` applies a batch of operations in order (visible to `read`, not necessarily
/// durable); `sync` makes every write so far durable (one fsync for the batch: group
/// commit); `persist` does both. `read` may run concurrently with the others from
/// another task. Errors are [`StorageError`]s (the one error type of every store), and
/// a failed write or sync is fatal for the node.
///
/// **The one storage port**: to run a node on your own storage, implement this trait.
/// The contract every implementation keeps (checked for the bundled ones, with one
/// oracle, by `tests/storage_port.rs`): an append continues the log exactly — at the
/// index after its last entry, or after the snapshot a `compact` installed over it — its
/// terms never go back and every entry is consistent ([`LogEntry::inconsistency`]);
/// otherwise `NonContiguous` / `InvalidArgument` and nothing of that operation is
/// written (earlier operations of the same `write` stay: any error is fatal for the
/// node); a truncation never reaches below the first entry (compacted entries are
/// committed); a read of anything not held is an error, never a short answer; and a
/// restart recovers exactly what was made durable.
pub trait LogStore: Send + Sync + 'static {
    /// The durable term and vote, at start-up.
    fn hard_state(&self) -> Result<HardState<PeerId>, StorageError>;
    /// At start-up: calls `visit` with the *metadata* of every log entry, in order.
    /// Payloads are not kept (a store may decode them chunk by chunk and drop them; the
    /// runtime reads them back in batches when it applies or replicates) and the
    /// runtime keeps no list of entries, so a restart's memory does not grow with the
    /// log's bytes (DESIGN.md §2; measured by
    /// `benches/recovery_memory.rs`). Read the log in bounded chunks; stop at the first
    /// error `visit` returns and return it. `visit` never calls back into the store.
    fn recover_entries(
        &self,
        visit: &mut dyn FnMut(EntryMeta<PeerId>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError>;
    /// Applies `ops` in order; they may not be durable until `sync` returns.
    fn write(&self, ops: &[PersistOp]) -> Result<(), StorageError>;
    /// Makes every earlier `write` durable.
    fn sync(&self) -> Result<(), StorageError>;
    /// Applies `ops` in order and makes them durable.
    fn persist(&self, ops: &[PersistOp]) -> Result<(), StorageError> {
        self.write(ops)?;
        self.sync()
    }
    /// Entries `first..=last` (all must exist).
    fn read(&self, first: LogIndex, last: LogIndex) -> Result<Vec<LogEntry>, StorageError>;
    /// Log compaction: deletes the entries with index ≤ `through`, which the durable
    /// snapshot ending at `snapshot` covers (`through <= snapshot.index`). When the log
    /// ends before `through` (a snapshot installed from a leader), the log becomes empty
    /// and continues after `snapshot`. Need not be durable: a restart skips the entries
    /// the snapshot covers. Never called while an apply still has to read an entry at or
    /// below `through`; a replication read (of a lagging follower's entries, off the
    /// node's task) may run concurrently and must then get an error, not a panic.
    fn compact(&self, through: LogIndex, snapshot: LogId) -> Result<(), StorageError>;
    /// Whether `write`, `sync` and `persist` may block (disk IO; the default). The log
    /// writer then runs each batch on tokio's blocking pool, so its fsync does not
    /// occupy an async worker, and `read` runs there too (off the node's task; a read
    /// still waits for a store that locks across its fsync, as `StorageLogStore` does,
    /// and the writer for a read in progress). A store that never blocks (in memory)
    /// returns false and is called inline, saving the hand-off.
    fn blocks(&self) -> bool {
        true
    }
}

/// An in-memory store for tests and benchmarks: durable for the life of the value,
/// so a node restarted on the same `MemoryLogStore` recovers everything it persisted.
/// The log is a list of fixed-size chunks (appends push, truncations cut, compactions
/// drop payloads and then whole chunks): no per-entry tree nodes, and neither growing
/// nor compacting the log copies what is already stored.
#[derive(Debug)]
pub struct MemoryLogStore {
    state: Mutex<MemoryState>,
    /// Names this store in its errors (built once: appends are the hot path).
    context: Context,
}

impl Default for MemoryLogStore {
    fn default() -> Self {
        MemoryLogStore {
            state: Mutex::default(),
            context: Context::new(MEMORY, no_group()),
        }
    }
}

/// Entries per chunk.
const CHUNK: usize = 4096;

/// The store's name in its errors.
const MEMORY: &str = "runtime-memory";

/// A `MemoryLogStore` serves one group and does not know its name.
fn no_group() -> GroupId {
    GroupId(String::new())
}

#[derive(Debug, Default)]
struct MemoryState {
    hard_state: HardState<PeerId>,
    /// The log id just before the first entry: compacted into a snapshot (`LogId::ZERO`
    /// for a log never compacted). The first entry's index is one past it.
    purged: LogId,
    /// The log's slots: every chunk but the last holds exactly `CHUNK`. The first
    /// `head` slots of the first chunk are compacted (their payloads dropped); a chunk
    /// goes once all its slots are, so a compaction moves no entry.
    chunks: VecDeque<Vec<LogEntry>>,
    /// Compacted slots at the front of the first chunk (< `CHUNK`; 0 without chunks).
    head: usize,
    /// Entries in the log (the slots after `head`).
    len: usize,
}

impl MemoryState {
    fn first(&self) -> u64 {
        self.purged.index.0 + 1
    }

    /// The index the next append must start at.
    fn next_index(&self) -> u64 {
        self.first() + self.len as u64
    }

    /// The last entry's log id, or the purged one when the log is empty.
    fn last_log_id(&self) -> LogId {
        self.len
            .checked_sub(1)
            .and_then(|last| self.get(last))
            .map_or(self.purged, |entry| entry.meta.log_id)
    }

    /// The log's shape, for the rules every store shares (`storage::rules`).
    fn bounds(&self) -> LogBounds {
        LogBounds {
            last_purged: self.purged,
            last: self.last_log_id(),
        }
    }

    fn push(&mut self, entry: LogEntry) {
        match self.chunks.back_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(entry),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(entry);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    /// Keeps the first `keep` entries.
    fn truncate(&mut self, keep: usize) {
        if keep >= self.len {
            return;
        }
        let slots = self.head + keep;
        let (chunk, offset) = (slots / CHUNK, slots % CHUNK);
        self.chunks.truncate(chunk + 1);
        if let Some(last) = self.chunks.back_mut() {
            last.truncate(offset);
            if last.is_empty() {
                self.chunks.pop_back();
            }
        }
        if self.chunks.is_empty() {
            self.head = 0;
        }
        self.len = keep;
    }

    /// Compacts the first `drop` entries (at most `len`): their payloads go at once,
    /// their slots with their chunk.
    fn drop_front(&mut self, drop: usize) {
        for position in 0..drop {
            let slot = self.head + position;
            if let Some(entry) = self
                .chunks
                .get_mut(slot / CHUNK)
                .and_then(|chunk| chunk.get_mut(slot % CHUNK))
            {
                entry.payload = Bytes::new();
            }
        }
        self.head += drop;
        self.len -= drop;
        while self.head >= CHUNK {
            self.chunks.pop_front();
            self.head -= CHUNK;
        }
    }

    /// Empties the log.
    fn clear(&mut self) {
        self.chunks.clear();
        self.head = 0;
        self.len = 0;
    }

    fn get(&self, position: usize) -> Option<&LogEntry> {
        if position >= self.len {
            return None;
        }
        let slot = self.head + position;
        self.chunks.get(slot / CHUNK)?.get(slot % CHUNK)
    }

    /// The entries, in log order.
    fn entries(&self) -> impl Iterator<Item = &LogEntry> {
        self.chunks.iter().flatten().skip(self.head)
    }
}

impl MemoryLogStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryLogStore::default()
    }
}

impl LogStore for MemoryLogStore {
    fn hard_state(&self) -> Result<HardState<PeerId>, StorageError> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(state.hard_state.clone())
    }

    fn recover_entries(
        &self,
        visit: &mut dyn FnMut(EntryMeta<PeerId>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for entry in state.entries() {
            visit(entry.meta.clone())?;
        }
        Ok(())
    }

    /// Durable at once: the memory store lives as long as the value.
    fn sync(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn blocks(&self) -> bool {
        false
    }

    fn write(&self, ops: &[PersistOp]) -> Result<(), StorageError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let context = &self.context;
        for op in ops {
            match op {
                PersistOp::HardState(hard_state) => state.hard_state = hard_state.clone(),
                PersistOp::InstallSnapshot(_) => return Err(snapshots_unsupported()),
                PersistOp::Truncate(from) => {
                    // The rules every store shares: compacted entries are never truncated.
                    if state.bounds().check_truncate_suffix(context, *from)? {
                        let keep = from.0 - state.first();
                        state.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
                    }
                }
                PersistOp::Append(entries) => {
                    // The whole batch is checked first: one batch is one atomic write.
                    state.bounds().check_append(context, entries)?;
                    for entry in entries {
                        state.push(entry.clone());
                    }
                }
            }
        }
        Ok(())
    }

    fn compact(&self, through: LogIndex, snapshot: LogId) -> Result<(), StorageError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if through.0 < state.first() {
            return Ok(());
        }
        if through.0 >= state.next_index() {
            // The log ends before `through`: it continues after the snapshot.
            state.clear();
            state.purged = snapshot;
            return Ok(());
        }
        // At most `len` (`through` is below the next index).
        let drop = usize::try_from(through.0 + 1 - state.first()).unwrap_or(usize::MAX);
        let purged = state
            .get(drop - 1)
            .map_or(snapshot, |entry| entry.meta.log_id);
        state.drop_front(drop);
        state.purged = purged;
        Ok(())
    }

    fn read(&self, first: LogIndex, last: LogIndex) -> Result<Vec<LogEntry>, StorageError> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let missing = || StorageError::OutOfRange {
            store: MEMORY.into(),
            group: no_group(),
            index: last,
            last_index: state.last_log_id().index,
        };
        if first > last || state.len == 0 || first.0 < state.first() {
            return Err(missing());
        }
        let from = usize::try_from(first.0 - state.first()).map_err(|_| missing())?;
        let to = usize::try_from(last.0 - state.first()).map_err(|_| missing())?;
        if to >= state.len {
            return Err(missing());
        }
        (from..=to)
            .map(|position| state.get(position).cloned().ok_or_else(missing))
            .collect()
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

impl<L, M> LogStore for StorageLogStore<L, M>
where
    L: crate::storage::LogStorage + 'static,
    M: crate::storage::MetaStorage + 'static,
{
    fn hard_state(&self) -> Result<HardState<PeerId>, StorageError> {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let stored = guard.1.hard_state()?;
        Ok(stored)
    }

    fn recover_entries(
        &self,
        visit: &mut dyn FnMut(EntryMeta<PeerId>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let log = &guard.0;
        // After a compaction the log starts past 1: the snapshot covers the rest.
        let first = log.first_index()?;
        let last = log.last_log_id()?.index;
        let mut next = first;
        while next <= last {
            let chunk = log.entries(
                next..last.next(),
                crate::storage::ReadLimits::new(4096, 8 * 1024 * 1024),
            )?;
            if chunk.is_empty() {
                return Err(StorageError::MissingEntry {
                    store: "log".into(),
                    group: no_group(),
                    index: next,
                });
            }
            next = next.plus(chunk.len() as u64);
            for entry in &chunk {
                visit(entry.meta.clone())?;
            }
        }
        Ok(())
    }

    fn write(&self, ops: &[PersistOp]) -> Result<(), StorageError> {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (log, meta) = &mut *guard;
        for op in ops {
            match op {
                PersistOp::HardState(hard_state) => {
                    meta.set_hard_state(hard_state)?;
                }
                PersistOp::Truncate(from) => log.truncate_suffix(*from)?,
                PersistOp::InstallSnapshot(_) => return Err(snapshots_unsupported()),
                PersistOp::Append(entries) => log.append(entries)?,
            }
        }
        Ok(())
    }

    fn compact(&self, through: LogIndex, snapshot: LogId) -> Result<(), StorageError> {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let log = &mut guard.0;
        if through < log.first_index()? {
            return Ok(());
        }
        if through <= log.last_log_id()?.index {
            log.truncate_prefix(through.next())
        } else {
            log.reset(snapshot)
        }
    }

    fn sync(&self) -> Result<(), StorageError> {
        if self.sync {
            let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            guard.0.sync()?;
        }
        Ok(())
    }

    fn read(&self, first: LogIndex, last: LogIndex) -> Result<Vec<LogEntry>, StorageError> {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let entries = guard.0.entries(
            first..last.next(),
            crate::storage::ReadLimits::entries(usize::MAX),
        )?;
        if entries.len() as u64 != last.0.saturating_sub(first.0) + 1 {
            return Err(StorageError::MissingEntry {
                store: "log".into(),
                group: no_group(),
                index: first.plus(entries.len() as u64),
            });
        }
        Ok(entries)
    }
}

/// A log store does not install snapshots: the log writer commits a fetched snapshot to
/// the node's snapshot store itself and then compacts the log (`writer.rs`,
/// `persist_with_installs`), so no `InstallSnapshot` reaches a store's `write`. One
/// that does (a caller driving a store by hand) is refused, not half-applied.
fn snapshots_unsupported() -> StorageError {
    StorageError::InvalidArgument {
        store: "runtime".into(),
        group: crate::core::GroupId("-".into()),
        reason: "snapshot install is not supported by this log store yet".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{EntryKind, LogId};
    use bytes::Bytes;

    fn recovered(store: &dyn LogStore) -> Vec<EntryMeta<PeerId>> {
        let mut entries = Vec::new();
        store
            .recover_entries(&mut |meta| {
                entries.push(meta);
                Ok(())
            })
            .unwrap();
        entries
    }

    fn metas(entries: &[LogEntry]) -> Vec<EntryMeta<PeerId>> {
        entries.iter().map(|entry| entry.meta.clone()).collect()
    }

    fn entry(term: u64, index: u64) -> LogEntry {
        LogEntry {
            meta: EntryMeta {
                log_id: LogId::new(term, index),
                kind: EntryKind::Normal,
                size_bytes: 1,
            },
            payload: Bytes::from(vec![index as u8]),
        }
    }

    #[test]
    fn memory_store_appends_truncates_reads_and_refuses_gaps() {
        let store = MemoryLogStore::new();
        store
            .persist(&[PersistOp::Append((1..=5).map(|i| entry(1, i)).collect())])
            .unwrap();
        assert_eq!(
            store.read(LogIndex(2), LogIndex(4)).unwrap(),
            vec![entry(1, 2), entry(1, 3), entry(1, 4)]
        );
        assert!(store.read(LogIndex(4), LogIndex(6)).is_err());
        assert!(store.read(LogIndex(0), LogIndex(1)).is_err());
        assert!(store.read(LogIndex(3), LogIndex(2)).is_err());
        store
            .persist(&[
                PersistOp::Truncate(LogIndex(4)),
                PersistOp::Append(vec![entry(2, 4)]),
            ])
            .unwrap();
        let all = recovered(&store);
        let all: Vec<LogEntry> = store.read(LogIndex(1), LogIndex(all.len() as u64)).unwrap();
        assert_eq!(
            all,
            vec![entry(1, 1), entry(1, 2), entry(1, 3), entry(2, 4)]
        );
        let gap = store.persist(&[PersistOp::Append(vec![entry(2, 9)])]);
        assert!(
            matches!(gap, Err(StorageError::NonContiguous { .. })),
            "{gap:?}"
        );
        store.persist(&[PersistOp::Truncate(LogIndex(1))]).unwrap();
        assert!(recovered(&store).is_empty());
        // Across chunk boundaries.
        let many: Vec<LogEntry> = (1..=3 * CHUNK as u64 + 5).map(|i| entry(4, i)).collect();
        store
            .persist(&[
                PersistOp::Truncate(LogIndex(1)),
                PersistOp::Append(many.clone()),
            ])
            .unwrap();
        assert_eq!(recovered(&store), metas(&many));
        let (a, b) = (CHUNK as u64 - 2, 2 * CHUNK as u64 + 3);
        assert_eq!(
            store.read(LogIndex(a), LogIndex(b)).unwrap(),
            many[a as usize - 1..b as usize].to_vec()
        );
        store
            .persist(&[PersistOp::Truncate(LogIndex(CHUNK as u64 + 1))])
            .unwrap();
        assert_eq!(recovered(&store), metas(&many[..CHUNK]));
        store
            .persist(&[PersistOp::Append(vec![entry(5, CHUNK as u64 + 1)])])
            .unwrap();
        assert_eq!(
            store
                .read(LogIndex(CHUNK as u64 + 1), LogIndex(CHUNK as u64 + 1))
                .unwrap(),
            vec![entry(5, CHUNK as u64 + 1)]
        );
        store.persist(&[PersistOp::Truncate(LogIndex(1))]).unwrap();
        // An empty log continues after its last entry, or after the snapshot installed
        // over it (as every store: `tests/storage_port.rs`), never anywhere else.
        let gap = store.persist(&[PersistOp::Append(vec![entry(5, 7)])]);
        assert!(
            matches!(gap, Err(StorageError::NonContiguous { .. })),
            "{gap:?}"
        );
        store.compact(LogIndex(6), LogId::new(5, 6)).unwrap();
        store
            .persist(&[PersistOp::Append(vec![entry(5, 7)])])
            .unwrap();
        assert_eq!(
            store.read(LogIndex(7), LogIndex(7)).unwrap(),
            vec![entry(5, 7)]
        );
        // A term never goes back, and compacted entries are never truncated.
        let regression = store.persist(&[PersistOp::Append(vec![entry(4, 8)])]);
        assert!(
            matches!(regression, Err(StorageError::InvalidArgument { .. })),
            "{regression:?}"
        );
        let below = store.persist(&[PersistOp::Truncate(LogIndex(6))]);
        assert!(
            matches!(below, Err(StorageError::InvalidArgument { .. })),
            "{below:?}"
        );
        assert_eq!(recovered(&store), metas(&[entry(5, 7)]));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Append(usize),
        Truncate(usize),
        Compact(usize),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (1..2 * CHUNK).prop_map(Op::Append),
            (0..3 * CHUNK).prop_map(Op::Truncate),
            (0..3 * CHUNK).prop_map(Op::Compact),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Appends, truncations and compactions across chunk boundaries leave the
        /// store holding exactly what a plain list of the live entries holds.
        #[test]
        fn memory_store_matches_a_plain_log(ops in proptest::collection::vec(op(), 1..12)) {
            let store = MemoryLogStore::new();
            // The live entries, and the index before the first of them.
            let (mut model, mut purged): (Vec<LogEntry>, u64) = (Vec::new(), 0);
            let mut term = 1;
            for op in ops {
                let next = purged + model.len() as u64 + 1;
                match op {
                    Op::Append(n) => {
                        term += 1;
                        let entries: Vec<LogEntry> =
                            (next..next + n as u64).map(|i| entry(term, i)).collect();
                        store.persist(&[PersistOp::Append(entries.clone())]).unwrap();
                        model.extend(entries);
                    }
                    Op::Truncate(keep) => {
                        let keep = keep.min(model.len());
                        let from = LogIndex(purged + keep as u64 + 1);
                        store.persist(&[PersistOp::Truncate(from)]).unwrap();
                        model.truncate(keep);
                    }
                    Op::Compact(drop) => {
                        let drop = drop.min(model.len() + 1);
                        let through = purged + drop as u64;
                        let snapshot = LogId::new(term, through);
                        store.compact(LogIndex(through), snapshot).unwrap();
                        model.drain(..drop.min(model.len()));
                        purged = through;
                    }
                }
                proptest::prop_assert_eq!(recovered(&store), metas(&model));
                if let (Some(first), Some(last)) = (model.first(), model.last()) {
                    let read = store.read(first.meta.log_id.index, last.meta.log_id.index).unwrap();
                    proptest::prop_assert_eq!(&read, &model);
                    let middle = &model[model.len() / 2];
                    let one = store.read(middle.meta.log_id.index, middle.meta.log_id.index);
                    proptest::prop_assert_eq!(one.unwrap(), vec![middle.clone()]);
                }
                let state = store.state.lock().unwrap();
                proptest::prop_assert!(state.head < CHUNK);
                proptest::prop_assert_eq!(state.purged.index.0, purged);
                // The compacted slots' payloads are gone already.
                for slot in state.chunks.iter().flatten().take(state.head) {
                    proptest::prop_assert!(slot.payload.is_empty());
                }
            }
        }
    }
}
