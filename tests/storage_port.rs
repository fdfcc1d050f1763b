//! The storage port's one contract: every `LogStore` a node can run on — the in-memory
//! `MemoryLogStore`, the simulated disk and fjall through `StorageLogStore` /
//! `DurableStorage` — behaves the same under the same operations (proptest against one
//! oracle): appends, truncations, compactions and snapshot installs, hard states, reads
//! and restarts; and every store refuses the same bad operations (a gap, a term that goes
//! back, a truncation into the compacted prefix) without changing anything.

#![cfg(feature = "fjall")]

use std::sync::Arc;

use concord::core::{
    Configuration, ConfigurationEntry, EntryMeta, GroupId, HardState, LogId, LogIndex, PeerId, Term,
};
use concord::runtime::{
    DurableStorage, LogStore, MemoryLogStore, PersistOp, StorageLogStore, StorageOptions,
};
use concord::storage::{LogEntry, SimDisk, SimOptions};
use proptest::prelude::*;

#[path = "common/log_entries.rs"]
mod log_entries;
use log_entries::entry_of_kind;
#[path = "common/proptest_cases.rs"]
mod proptest_cases;
use proptest_cases::cases;

fn group() -> GroupId {
    GroupId::new("port").expect("group")
}

fn peer(text: &str) -> PeerId {
    text.parse().expect("peer")
}

/// A store of one kind, and how to restart it (a process restart: what was written is
/// kept; the port's stores here are opened with `sync` on, or are memory).
trait Harness {
    fn store(&self) -> &dyn LogStore;
    fn restart(&mut self);
}

struct Memory(Arc<MemoryLogStore>);

impl Harness for Memory {
    fn store(&self) -> &dyn LogStore {
        self.0.as_ref()
    }
    fn restart(&mut self) {} // the same value: everything it holds survives
}

struct Sim {
    disk: SimDisk,
    store: Option<Arc<dyn LogStore>>,
}

impl Sim {
    fn open(disk: &SimDisk) -> Arc<dyn LogStore> {
        let options = SimOptions { sync: false };
        let log = disk.log_storage(group(), options).expect("sim log");
        let meta = disk.meta_storage(group(), options);
        Arc::new(StorageLogStore::new(log, meta, true))
    }
}

impl Harness for Sim {
    fn store(&self) -> &dyn LogStore {
        self.store.as_deref().expect("open")
    }
    fn restart(&mut self) {
        self.store = None;
        self.store = Some(Sim::open(&self.disk));
    }
}

struct Fjall {
    directory: tempfile::TempDir,
    store: Option<(DurableStorage, Arc<dyn LogStore>)>,
}

impl Fjall {
    fn open(directory: &tempfile::TempDir) -> (DurableStorage, Arc<dyn LogStore>) {
        let storage = DurableStorage::open(&StorageOptions::new(directory.path())).expect("fjall");
        let store = storage.log_store(&group()).expect("log store");
        (storage, store)
    }
}

impl Harness for Fjall {
    fn store(&self) -> &dyn LogStore {
        self.store.as_ref().expect("open").1.as_ref()
    }
    fn restart(&mut self) {
        self.store = None;
        self.store = Some(Fjall::open(&self.directory));
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// `count` entries after the last one, `term_bump` terms after its term.
    Append {
        count: u64,
        term_bump: u64,
        kind: u8,
        size: usize,
    },
    /// Deletes the last `back` entries (conflict resolution).
    Truncate {
        back: u64,
    },
    /// Compacts through the `at`-th entry (modulo the length), the snapshot ending
    /// `ahead` entries later (still inside the log).
    Compact {
        at: u64,
        ahead: u64,
    },
    /// A snapshot installed from a leader, `ahead` entries past the log's end.
    Install {
        ahead: u64,
    },
    SetHardState {
        term: u64,
        vote: bool,
    },
    Read {
        start: u64,
        len: u64,
    },
    Restart,
    /// A batch that starts `1 + skip` past the next index: refused.
    Gap {
        skip: u64,
    },
    /// An entry of a lower term than the last one: refused.
    TermRegression,
    /// A truncation below the first index: refused.
    TruncateCompacted,
    /// An entry inconsistent in itself (a blank one with a payload, a size that is not
    /// its payload's), alone or in the middle of a good batch: refused, nothing of the
    /// batch written.
    Inconsistent {
        mode: u8,
        good_before: u64,
    },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u64..6, 0u64..2, 0u8..6, 0usize..40)
            .prop_map(|(count, term_bump, kind, size)| Op::Append { count, term_bump, kind, size }),
        2 => (0u64..4).prop_map(|back| Op::Truncate { back }),
        2 => (0u64..64, 0u64..3).prop_map(|(at, ahead)| Op::Compact { at, ahead }),
        1 => (1u64..5).prop_map(|ahead| Op::Install { ahead }),
        2 => (0u64..8, any::<bool>()).prop_map(|(term, vote)| Op::SetHardState { term, vote }),
        2 => (0u64..64, 1u64..8).prop_map(|(start, len)| Op::Read { start, len }),
        1 => Just(Op::Restart),
        1 => (0u64..3).prop_map(|skip| Op::Gap { skip }),
        1 => Just(Op::TermRegression),
        1 => Just(Op::TruncateCompacted),
        1 => (0u8..3, 0u64..3).prop_map(|(mode, good_before)| Op::Inconsistent { mode, good_before }),
    ]
}

/// What every store must hold.
#[derive(Default)]
struct Oracle {
    /// The log id before the first entry (compacted, or a snapshot's last entry).
    purged: LogId,
    entries: Vec<LogEntry>,
    hard_state: HardState<PeerId>,
}

impl Oracle {
    fn first(&self) -> u64 {
        self.purged.index.0 + 1
    }
    fn last(&self) -> LogId {
        self.entries.last().map_or(self.purged, |e| e.meta.log_id)
    }
}

fn recovered(store: &dyn LogStore) -> Vec<EntryMeta<PeerId>> {
    let mut metas = Vec::new();
    store
        .recover_entries(&mut |meta| {
            metas.push(meta);
            Ok(())
        })
        .expect("recover");
    metas
}

fn check(harness: &dyn Harness, oracle: &Oracle) -> Result<(), TestCaseError> {
    let store = harness.store();
    prop_assert_eq!(
        store.hard_state().expect("hard state"),
        oracle.hard_state.clone()
    );
    let metas: Vec<EntryMeta<PeerId>> = oracle.entries.iter().map(|e| e.meta.clone()).collect();
    prop_assert_eq!(recovered(store), metas);
    if !oracle.entries.is_empty() {
        let all = store
            .read(LogIndex(oracle.first()), oracle.last().index)
            .expect("read all");
        prop_assert_eq!(&all, &oracle.entries);
    }
    // Past the end and below the start: errors, never a short answer.
    let past = oracle.last().index.next();
    prop_assert!(store.read(past, past).is_err());
    if oracle.first() > 1 {
        let below = LogIndex(oracle.first() - 1);
        prop_assert!(store.read(below, below).is_err());
    }
    Ok(())
}

fn write(harness: &dyn Harness, op: PersistOp) -> Result<(), concord::storage::StorageError> {
    harness.store().persist(&[op])
}

fn run(harness: &mut dyn Harness, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut oracle = Oracle::default();
    for op in ops {
        let last = oracle.last();
        let len = oracle.entries.len() as u64;
        match op {
            Op::Append {
                count,
                term_bump,
                kind,
                size,
            } => {
                let term = last.term.0.max(1) + term_bump;
                let batch: Vec<LogEntry> = (1..=*count)
                    .map(|i| entry_of_kind(*kind, *size, LogId::new(term, last.index.0 + i)))
                    .collect();
                write(harness, PersistOp::Append(batch.clone())).expect("append");
                oracle.entries.extend(batch);
            }
            Op::Truncate { back } => {
                let back = (*back).min(len);
                let from = LogIndex(last.index.0 + 1 - back);
                write(harness, PersistOp::Truncate(from)).expect("truncate");
                oracle.entries.truncate((len - back) as usize);
            }
            Op::Compact { at, ahead } => {
                if len == 0 {
                    continue;
                }
                let position = at % len;
                let snapshot_position = (position + ahead).min(len - 1);
                let through = oracle.entries[position as usize].meta.log_id;
                let snapshot = oracle.entries[snapshot_position as usize].meta.log_id;
                harness
                    .store()
                    .compact(through.index, snapshot)
                    .expect("compact");
                oracle.entries.drain(..=position as usize);
                oracle.purged = through;
            }
            Op::Install { ahead } => {
                let snapshot = LogId::new(last.term.0 + 1, last.index.0 + ahead);
                harness
                    .store()
                    .compact(snapshot.index, snapshot)
                    .expect("install");
                oracle.entries.clear();
                oracle.purged = snapshot;
            }
            Op::SetHardState { term, vote } => {
                let hard_state = HardState {
                    term: Term(*term),
                    voted_for: vote.then(|| peer("127.0.0.1:7000")),
                    reset: None,
                };
                write(harness, PersistOp::HardState(hard_state.clone())).expect("hard state");
                oracle.hard_state = hard_state;
            }
            Op::Read { start, len: count } => {
                if len > 0 {
                    let first = oracle.first() + start % len;
                    let last_read = (first + count - 1).min(last.index.0);
                    let got = harness
                        .store()
                        .read(LogIndex(first), LogIndex(last_read))
                        .expect("read");
                    let from = (first - oracle.first()) as usize;
                    let to = (last_read - oracle.first()) as usize;
                    prop_assert_eq!(&got[..], &oracle.entries[from..=to]);
                }
            }
            Op::Restart => harness.restart(),
            Op::Gap { skip } => {
                let bad =
                    LogEntry::normal(LogId::new(last.term.0.max(1), last.index.0 + 2 + skip), "x");
                prop_assert!(write(harness, PersistOp::Append(vec![bad])).is_err());
            }
            Op::TermRegression => {
                if last.term.0 > 1 {
                    let bad = LogEntry::normal(LogId::new(last.term.0 - 1, last.index.0 + 1), "x");
                    prop_assert!(write(harness, PersistOp::Append(vec![bad])).is_err());
                }
            }
            Op::Inconsistent { mode, good_before } => {
                let term = last.term.0.max(1);
                let mut batch: Vec<LogEntry> = (1..=*good_before)
                    .map(|i| LogEntry::normal(LogId::new(term, last.index.0 + i), "ok"))
                    .collect();
                let log_id = LogId::new(term, last.index.0 + good_before + 1);
                let mut bad = match mode {
                    0 => LogEntry::blank(log_id),
                    1 => LogEntry::configuration(
                        log_id,
                        ConfigurationEntry::stable(Configuration::with_voters([peer(
                            "10.0.0.1:80",
                        )])),
                    ),
                    _ => LogEntry::normal(log_id, "four"),
                };
                if *mode < 2 {
                    bad.payload = bytes::Bytes::from_static(b"stray");
                } else {
                    bad.meta.size_bytes = 3;
                }
                batch.push(bad);
                let after = LogId::new(term, log_id.index.0 + 1);
                batch.push(LogEntry::normal(after, "after"));
                prop_assert!(write(harness, PersistOp::Append(batch)).is_err());
            }
            Op::TruncateCompacted => {
                if oracle.first() > 1 {
                    let below = LogIndex(oracle.first() - 1);
                    prop_assert!(write(harness, PersistOp::Truncate(below)).is_err());
                }
            }
        }
        check(harness, &oracle)?;
    }
    // Whatever happened, a restart recovers exactly the same.
    harness.restart();
    check(harness, &oracle)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    #[test]
    fn memory_keeps_the_port_contract(ops in proptest::collection::vec(op_strategy(), 1..40)) {
        run(&mut Memory(Arc::new(MemoryLogStore::new())), &ops)?;
    }

    #[test]
    fn the_simulated_disk_keeps_the_port_contract(ops in proptest::collection::vec(op_strategy(), 1..40)) {
        let disk = SimDisk::new();
        let store = Some(Sim::open(&disk));
        run(&mut Sim { disk, store }, &ops)?;
    }

    #[test]
    fn fjall_keeps_the_port_contract(ops in proptest::collection::vec(op_strategy(), 1..25)) {
        let directory = tempfile::tempdir().expect("temp dir");
        let store = Some(Fjall::open(&directory));
        run(&mut Fjall { directory, store }, &ops)?;
    }
}
