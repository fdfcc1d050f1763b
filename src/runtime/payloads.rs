//! The driver's cache of entry payloads not yet applied: the core holds log ids only
//! (DESIGN.md §2), so payloads wait here between proposal (or receipt) and apply.
//!
//! Indices are contiguous and mostly increase, so the cache is a ring of slots indexed
//! by log index rather than a tree: insert, lookup and the drop after apply cost no
//! per-entry allocation. A slot remembers the term it was written for; a lookup for
//! another term (an entry overwritten after a leader change) misses.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::error::NodeFailure;
use super::store::LogStore;
use crate::core::{EntryKind, EntryMeta, GroupId, LogId, LogIndex, PeerId, Term};
use crate::storage::LogEntry;
use crate::storage::StorageError;

/// Most payload bytes a follower keeps cached for entries it received and has not
/// applied yet. Beyond it, received entries are written without being cached, and the
/// apply reads them back from the store: a follower whose state machine lags far
/// behind holds at most this much, not every entry it was sent.
const MAX_RECEIVED_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Where the driver finds an entry's payload: the step's own entries, the cache, else
/// the store.
///
/// The payloads a step brings — a leader's accepted proposals, a follower's received
/// append — travel with that step (`step`): its write and its sends take them from there
/// by offset, and only when the step is over do they move into the cache — for the apply,
/// which takes them out again, and for the sends of later steps (a pipeline window
/// opening, a retransmission). A payload is thus held in one place at a time, and the
/// proposing or receiving step never looks it up in the cache.
pub(crate) struct Payloads {
    cache: PayloadCache,
    store: Arc<dyn LogStore>,
    /// The group, for errors.
    group: GroupId,
    /// The entries the step being run brought, in log order, with their payloads and
    /// whether they go into the cache when the step is over.
    step: Vec<StepPayload>,
}

struct StepPayload {
    log_id: LogId,
    payload: Bytes,
    /// Whether it is kept for the apply when the step is over.
    keep: Keep,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// A proposal: always (a leader's are bounded by `max_uncommitted_bytes`).
    Always,
    /// A received entry: while the cache holds less than `MAX_RECEIVED_CACHE_BYTES`.
    WithinBound,
    /// Not needed by the apply (a blank or configuration entry, or one the core cannot
    /// append or has handed over).
    Never,
}

impl Payloads {
    pub(crate) fn new(store: Arc<dyn LogStore>, group: GroupId) -> Self {
        Payloads {
            cache: PayloadCache::new(),
            store,
            group,
            step: Vec::new(),
        }
    }

    /// The payload of an entry this node proposed, accepted in the step being run (a
    /// leader's uncommitted and unapplied entries are bounded by `max_uncommitted_bytes`
    /// and the apply backlog, so all are cached when the step is over).
    pub(crate) fn propose(&mut self, log_id: LogId, payload: Bytes) {
        self.step.push(StepPayload {
            log_id,
            payload,
            keep: Keep::Always,
        });
    }

    /// The payloads of a received append, for the step about to run. Those of normal
    /// entries `cacheable` accepts are also cached for the apply when the step is over,
    /// while the cache holds less than `MAX_RECEIVED_CACHE_BYTES`.
    pub(crate) fn receive(
        &mut self,
        entries: &[EntryMeta<PeerId>],
        payloads: Vec<Bytes>,
        cacheable: impl Fn(LogId) -> bool,
    ) {
        self.step.clear();
        for (meta, payload) in entries.iter().zip(payloads) {
            // Every entry, so an entry's place in `step` is its offset in the frame (a
            // blank or configuration entry in the middle leaves no gap).
            let keep = if matches!(meta.kind, EntryKind::Normal) && cacheable(meta.log_id) {
                Keep::WithinBound
            } else {
                Keep::Never
            };
            self.step.push(StepPayload {
                log_id: meta.log_id,
                payload,
                keep,
            });
        }
    }

    /// The step is over: its payloads the apply will need move into the cache (those
    /// at or below `handed_over` were handed to the state machine already).
    pub(crate) fn end_step(&mut self, handed_over: LogIndex) {
        for entry in self.step.drain(..) {
            let keep = match entry.keep {
                Keep::Always => true,
                // Checked as each goes in (an entry replacing a slot frees its bytes).
                Keep::WithinBound => {
                    self.cache.bytes() + entry.payload.len() as u64 <= MAX_RECEIVED_CACHE_BYTES
                }
                Keep::Never => false,
            };
            if keep && entry.log_id.index > handed_over {
                self.cache.insert(entry.log_id, entry.payload);
            }
        }
    }

    /// Forgets the cached payloads of every index ≤ `last` (handed to the state machine).
    pub(crate) fn remove_through(&mut self, last: LogIndex) {
        self.cache.remove_through(last);
    }

    /// An entry to write: its metadata with its payload from the step or the cache (an
    /// entry is written before anything else can need it, so a miss is a bug: writing
    /// an empty payload instead would corrupt the log silently).
    pub(crate) fn stored_entry(&self, meta: EntryMeta<PeerId>) -> Result<LogEntry, NodeFailure> {
        match self.cached(&meta) {
            Some(payload) => Ok(LogEntry { payload, meta }),
            None => Err(NodeFailure::Internal(format!(
                "the payload of entry {} is missing",
                meta.log_id
            ))),
        }
    }

    /// Payloads for these contiguous entries: at hand, else from the store (see
    /// [`read_payloads`]). Reads the store on the caller's task: for a store that never
    /// blocks (`PayloadReader` reads the others off the driver's task).
    pub(crate) fn for_entries(
        &self,
        entries: &[EntryMeta<PeerId>],
    ) -> Result<Vec<Bytes>, StorageError> {
        match self.at_hand(entries) {
            Some(payloads) => Ok(payloads),
            None => read_payloads(self.store.as_ref(), &self.group, entries),
        }
    }

    /// Payloads for these entries if every one is at hand (the step's or the cache's),
    /// without reading the store.
    pub(crate) fn at_hand(&self, entries: &[EntryMeta<PeerId>]) -> Option<Vec<Bytes>> {
        // Sized up front (collecting into an `Option<Vec>` has no size hint and grew the
        // vector by reallocation on every replication).
        let mut cached = Vec::with_capacity(entries.len());
        for meta in entries {
            cached.push(self.cached(meta)?);
        }
        Some(cached)
    }

    /// Payloads for these entries, about to be handed to the state machine, if every
    /// one is at hand: the cache's are taken out, not copied (the caller forgets the
    /// rest of the cache through the last of them anyway). On `None` some may have been
    /// taken already: the caller reads them all from the store (they are committed,
    /// hence durable here).
    pub(crate) fn take_for_apply(&mut self, entries: &[EntryMeta<PeerId>]) -> Option<Vec<Bytes>> {
        let mut taken = Vec::with_capacity(entries.len());
        for meta in entries {
            let payload = match meta.kind {
                EntryKind::Normal => match self.in_step(meta.log_id) {
                    Some(payload) => payload.clone(),
                    None => self.cache.take(meta.log_id)?,
                },
                EntryKind::Blank | EntryKind::Configuration(_) => Bytes::new(),
            };
            taken.push(payload);
        }
        Some(taken)
    }

    fn cached(&self, meta: &EntryMeta<PeerId>) -> Option<Bytes> {
        match meta.kind {
            EntryKind::Normal => self
                .in_step(meta.log_id)
                .or_else(|| self.cache.get(meta.log_id))
                .cloned(),
            EntryKind::Blank | EntryKind::Configuration(_) => Some(Bytes::new()),
        }
    }

    /// The step's payload of exactly `log_id`: at its offset from the step's first entry
    /// (contiguous in index, the common case), else found by index.
    fn in_step(&self, log_id: LogId) -> Option<&Bytes> {
        let first = self.step.first()?.log_id.index;
        let offset = log_id.index.0.checked_sub(first.0)?;
        let entry = match self.step.get(usize::try_from(offset).ok()?) {
            Some(entry) if entry.log_id.index == log_id.index => entry,
            _ => {
                let at = self
                    .step
                    .binary_search_by_key(&log_id.index, |entry| entry.log_id.index)
                    .ok()?;
                &self.step[at]
            }
        };
        (entry.log_id == log_id).then_some(&entry.payload)
    }
}

/// The payloads of these contiguous entries, read from the store: an error when the
/// store does not hold them (not yet written, or replaced since: it holds other entries
/// there, or fewer of them).
pub(crate) fn read_payloads(
    store: &dyn LogStore,
    group: &GroupId,
    entries: &[EntryMeta<PeerId>],
) -> Result<Vec<Bytes>, StorageError> {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Ok(Vec::new());
    };
    let stored = store.read(first.log_id.index, last.log_id.index)?;
    for (stored, meta) in stored.iter().zip(entries) {
        if stored.meta.log_id != meta.log_id {
            return Err(StorageError::Corrupt {
                store: "log".into(),
                group: group.clone(),
                index: meta.log_id.index,
                reason: format!(
                    "holds entry {} where the log has {}",
                    stored.meta.log_id, meta.log_id
                ),
            });
        }
    }
    if stored.len() != entries.len() {
        return Err(StorageError::MissingEntry {
            store: "log".into(),
            group: group.clone(),
            index: first.log_id.index.plus(stored.len() as u64),
        });
    }
    Ok(stored.into_iter().map(|s| s.payload).collect())
}

#[derive(Debug, Default)]
pub(crate) struct PayloadCache {
    /// Index of `slots[0]`.
    first: u64,
    slots: VecDeque<Option<(Term, Bytes)>>,
    /// Payload bytes held.
    bytes: u64,
}

impl PayloadCache {
    pub(crate) fn new() -> Self {
        PayloadCache::default()
    }

    /// Caches the payload of `log_id` (replacing whatever the index held).
    pub(crate) fn insert(&mut self, log_id: LogId, payload: Bytes) {
        let index = log_id.index.0;
        if self.slots.is_empty() {
            self.first = index;
        }
        if index < self.first {
            // Below the cached range: grow downwards (rare: a follower receiving an
            // older, not yet applied entry after the cache was trimmed).
            let missing = (self.first - index) as usize;
            for _ in 0..missing {
                self.slots.push_front(None);
            }
            self.first = index;
        }
        let offset = (index - self.first) as usize;
        while self.slots.len() <= offset {
            self.slots.push_back(None);
        }
        self.bytes += payload.len() as u64;
        if let Some((_, old)) = self.slots[offset].replace((log_id.term, payload)) {
            self.bytes -= old.len() as u64;
        }
    }

    /// The payload cached for exactly `log_id`.
    pub(crate) fn get(&self, log_id: LogId) -> Option<&Bytes> {
        let offset = log_id.index.0.checked_sub(self.first)? as usize;
        match self.slots.get(offset)? {
            Some((term, payload)) if *term == log_id.term => Some(payload),
            _ => None,
        }
    }

    /// Takes out the payload cached for exactly `log_id`.
    pub(crate) fn take(&mut self, log_id: LogId) -> Option<Bytes> {
        let offset = log_id.index.0.checked_sub(self.first)? as usize;
        let slot = self.slots.get_mut(offset)?;
        if slot.as_ref().is_none_or(|(term, _)| *term != log_id.term) {
            return None;
        }
        let (_, payload) = slot.take()?;
        self.bytes -= payload.len() as u64;
        Some(payload)
    }

    /// Forgets every index ≤ `last`.
    pub(crate) fn remove_through(&mut self, last: LogIndex) {
        while !self.slots.is_empty() && self.first <= last.0 {
            if let Some(Some((_, payload))) = self.slots.pop_front() {
                self.bytes -= payload.len() as u64;
            }
            self.first += 1;
        }
        if self.slots.is_empty() {
            self.first = last.0 + 1;
        }
    }

    /// Payload bytes held.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Cached slots (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(term: u64, index: u64) -> LogId {
        LogId::new(term, index)
    }

    #[test]
    fn insert_get_overwrite_and_trim() {
        let mut cache = PayloadCache::new();
        for i in 5..10 {
            cache.insert(id(1, i), Bytes::from(vec![i as u8]));
        }
        assert_eq!(cache.get(id(1, 7)).unwrap()[..], [7]);
        assert!(cache.get(id(2, 7)).is_none(), "another term misses");
        assert!(cache.get(id(1, 4)).is_none());
        assert!(cache.get(id(1, 10)).is_none());
        // A new leader overwrites index 8 in term 2.
        cache.insert(id(2, 8), Bytes::from_static(b"new"));
        assert_eq!(cache.get(id(2, 8)).unwrap()[..], *b"new");
        assert!(cache.get(id(1, 8)).is_none());
        // A gap, then later filled.
        cache.insert(id(2, 12), Bytes::from_static(b"twelve"));
        assert!(cache.get(id(2, 11)).is_none());
        cache.insert(id(2, 11), Bytes::from_static(b"eleven"));
        assert_eq!(cache.get(id(2, 11)).unwrap()[..], *b"eleven");
        // Below the range.
        cache.insert(id(1, 3), Bytes::from_static(b"three"));
        assert_eq!(cache.get(id(1, 3)).unwrap()[..], *b"three");
        cache.remove_through(LogIndex(8));
        assert!(cache.get(id(1, 7)).is_none());
        assert!(cache.get(id(2, 8)).is_none());
        assert_eq!(cache.get(id(1, 9)).unwrap()[..], [9]);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.bytes(), 1 + 6 + 6, "entries 9, 11 and 12");
        cache.remove_through(LogIndex(100));
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.bytes(), 0);
        cache.insert(id(3, 101), Bytes::from_static(b"x"));
        assert_eq!(cache.get(id(3, 101)).unwrap()[..], *b"x");
    }

    /// A follower caches received payloads for the apply only up to a byte bound; the
    /// step's own write still finds every one of them (they travel with the step).
    #[test]
    fn received_payloads_are_cached_within_a_byte_bound() {
        use crate::runtime::MemoryLogStore;
        let mut payloads =
            Payloads::new(Arc::new(MemoryLogStore::new()), GroupId::new("g").unwrap());
        let mib = Bytes::from(vec![7u8; 1024 * 1024]);
        // A blank entry in the middle (a new leader's) must not shift the others.
        let entries: Vec<EntryMeta<PeerId>> = (1..=100)
            .map(|i| EntryMeta {
                log_id: id(1, i),
                kind: if i == 50 {
                    EntryKind::Blank
                } else {
                    EntryKind::Normal
                },
                size_bytes: if i == 50 { 0 } else { mib.len() as u32 },
            })
            .collect();
        let frame: Vec<Bytes> = entries
            .iter()
            .map(|meta| {
                if meta.size_bytes == 0 {
                    Bytes::new()
                } else {
                    mib.clone()
                }
            })
            .collect();
        payloads.receive(&entries, frame, |_| true);
        for meta in &entries {
            let stored = payloads
                .stored_entry(meta.clone())
                .expect("travels with the step");
            assert_eq!(stored.payload.len(), meta.size_bytes as usize);
        }
        assert_eq!(payloads.cache.bytes(), 0, "cached when the step is over");
        payloads.end_step(LogIndex(0));
        assert_eq!(payloads.cache.bytes(), MAX_RECEIVED_CACHE_BYTES);
        // 64 MiB: entries 1..=65 (the blank at 50 holds nothing).
        assert!(payloads.for_entries(&entries[..65]).is_ok(), "cached");
        assert!(
            payloads.for_entries(&entries[65..66]).is_err(),
            "not cached: read from the store (empty here)"
        );
        assert!(payloads.stored_entry(entries[99].clone()).is_err());
        payloads.remove_through(LogIndex(100));
        assert_eq!(payloads.cache.bytes(), 0);
    }

    fn normal(term: u64, index: u64) -> EntryMeta<PeerId> {
        EntryMeta {
            log_id: id(term, index),
            kind: EntryKind::Normal,
            size_bytes: 1,
        }
    }

    /// A leader's proposals travel with their step (the write and the sends find them
    /// there), move into the cache when the step is over, and the apply takes them out.
    #[test]
    fn proposals_travel_with_the_step_and_the_apply_takes_them_out() {
        use crate::runtime::MemoryLogStore;
        let mut payloads =
            Payloads::new(Arc::new(MemoryLogStore::new()), GroupId::new("g").unwrap());
        // 5, 6, then 8: a proposal the driver lost track of leaves a gap (found by
        // index, not by offset).
        for i in [5, 6, 8] {
            payloads.propose(id(2, i), Bytes::from(vec![i as u8]));
        }
        assert_eq!(
            payloads.stored_entry(normal(2, 8)).unwrap().payload[..],
            [8]
        );
        assert_eq!(
            payloads
                .at_hand(&[normal(2, 5), normal(2, 6)])
                .unwrap()
                .len(),
            2
        );
        assert!(payloads.stored_entry(normal(1, 6)).is_err(), "another term");
        assert!(payloads.stored_entry(normal(2, 7)).is_err(), "the gap");
        assert_eq!(payloads.cache.len(), 0, "nothing copied into the cache yet");
        // Entry 5 was handed over within the step: not cached.
        payloads.end_step(LogIndex(5));
        assert_eq!(payloads.cache.len(), 2);
        assert!(payloads.stored_entry(normal(2, 5)).is_err());
        assert_eq!(
            payloads.stored_entry(normal(2, 6)).unwrap().payload[..],
            [6]
        );
        // The apply takes what it hands over out of the cache.
        let blank = EntryMeta {
            log_id: id(2, 7),
            kind: EntryKind::Blank,
            size_bytes: 0,
        };
        let taken = payloads
            .take_for_apply(&[normal(2, 6), blank, normal(2, 8)])
            .unwrap();
        assert_eq!(
            taken,
            vec![Bytes::from(vec![6]), Bytes::new(), Bytes::from(vec![8])]
        );
        assert_eq!(payloads.cache.len(), 0);
        assert_eq!(payloads.cache.bytes(), 0);
        assert!(
            payloads.take_for_apply(&[normal(2, 6)]).is_none(),
            "taken once"
        );
    }

    #[test]
    fn take_checks_the_term_and_counts_the_bytes() {
        let mut cache = PayloadCache::new();
        cache.insert(id(1, 3), Bytes::from_static(b"abc"));
        cache.insert(id(1, 4), Bytes::from_static(b"de"));
        assert!(
            cache.take(id(2, 3)).is_none(),
            "another term: left in place"
        );
        assert!(cache.take(id(1, 2)).is_none());
        assert!(cache.take(id(1, 9)).is_none());
        assert_eq!(cache.take(id(1, 3)).unwrap()[..], *b"abc");
        assert_eq!(cache.bytes(), 2);
        assert!(cache.get(id(1, 3)).is_none());
        assert_eq!(cache.get(id(1, 4)).unwrap()[..], *b"de");
    }
}
