//! One model-based property suite (proptest against a `BTreeMap` oracle) run against
//! every `LogStorage` implementation: memory, fjall and sim.

#![cfg(feature = "fjall")]

use std::collections::BTreeMap;

use concord::core::{Configuration, GroupId, LogId, LogIndex, PeerId, Term};
use concord::storage::{
    FjallOptions, FjallStore, HardState, LogEntry, LogStorage, MemoryLogStorage, MemoryMetaStorage,
    MetaStorage, ReadLimits, SimDisk, SimOptions, StorageError,
};
use proptest::prelude::*;

#[path = "common/log_entries.rs"]
mod log_entries;
use log_entries::entry_of_kind;

/// Creates a store and reopens it (a process restart).
trait Harness {
    type Log: LogStorage;
    type Meta: MetaStorage;
    fn log(&mut self) -> &mut Self::Log;
    fn meta(&mut self) -> &mut Self::Meta;
    fn reopen(&mut self);
    /// Power loss after a sync: everything synced must survive. Default: a reopen.
    fn sync_then_crash(&mut self, _seed: u64) {
        self.reopen();
    }
}

fn group() -> GroupId {
    GroupId::new("model").expect("valid group")
}

struct MemoryHarness {
    log: MemoryLogStorage,
    meta: MemoryMetaStorage,
}

impl Harness for MemoryHarness {
    type Log = MemoryLogStorage;
    type Meta = MemoryMetaStorage;
    fn log(&mut self) -> &mut MemoryLogStorage {
        &mut self.log
    }
    fn meta(&mut self) -> &mut MemoryMetaStorage {
        &mut self.meta
    }
    fn reopen(&mut self) {
        // A memory store has no restart; moving it models "same contents".
        self.log = self.log.clone();
        self.meta = self.meta.clone();
    }
}

struct FjallHarness {
    directory: tempfile::TempDir,
    sync: bool,
    parts: Option<(
        FjallStore,
        concord::storage::FjallLogStorage,
        concord::storage::FjallMetaStorage,
    )>,
}

impl FjallHarness {
    fn new(sync: bool) -> FjallHarness {
        let directory = tempfile::tempdir().expect("temp dir");
        let mut harness = FjallHarness {
            directory,
            sync,
            parts: None,
        };
        harness.reopen();
        harness
    }
}

impl Harness for FjallHarness {
    type Log = concord::storage::FjallLogStorage;
    type Meta = concord::storage::FjallMetaStorage;
    fn log(&mut self) -> &mut Self::Log {
        &mut self.parts.as_mut().expect("open").1
    }
    fn meta(&mut self) -> &mut Self::Meta {
        &mut self.parts.as_mut().expect("open").2
    }
    fn reopen(&mut self) {
        // Drop every handle first: the database lock is held until the last one goes.
        self.parts = None;
        let options = FjallOptions {
            sync: self.sync,
            worker_threads: Some(1),
            // Tiny log segments: the random operations cross segment boundaries,
            // compaction deletes whole segments and resets move the marker over them.
            log_segment_entries: 4,
            ..FjallOptions::default()
        };
        let store = FjallStore::open(self.directory.path(), options).expect("open fjall");
        let log = store.log_storage(group()).expect("open log");
        let meta = store.meta_storage(group());
        self.parts = Some((store, log, meta));
    }
}

struct SimHarness {
    disk: SimDisk,
    options: SimOptions,
    log: concord::storage::SimLogStorage,
    meta: concord::storage::SimMetaStorage,
}

impl SimHarness {
    fn new(sync: bool) -> SimHarness {
        let disk = SimDisk::new();
        let options = SimOptions { sync };
        let log = disk.log_storage(group(), options).expect("open");
        let meta = disk.meta_storage(group(), options);
        SimHarness {
            disk,
            options,
            log,
            meta,
        }
    }
}

impl Harness for SimHarness {
    type Log = concord::storage::SimLogStorage;
    type Meta = concord::storage::SimMetaStorage;
    fn log(&mut self) -> &mut Self::Log {
        &mut self.log
    }
    fn meta(&mut self) -> &mut Self::Meta {
        &mut self.meta
    }
    fn reopen(&mut self) {
        self.log = self
            .disk
            .log_storage(group(), self.options)
            .expect("reopen");
        self.meta = self.disk.meta_storage(group(), self.options);
    }
    fn sync_then_crash(&mut self, seed: u64) {
        self.log.sync().expect("sync");
        assert_eq!(self.disk.pending_writes(), 0);
        self.disk.crash(seed).expect("crash");
        self.reopen();
    }
}

#[derive(Clone, Debug)]
enum Op {
    Append {
        count: u64,
        term_bump: u64,
        kind: u8,
        size: usize,
    },
    BadAppend {
        skip: u64,
    },
    TruncateSuffix {
        pick: u64,
    },
    TruncatePrefix {
        pick: u64,
    },
    Reset {
        ahead: u64,
    },
    Read {
        start: u64,
        len: u64,
        max_entries: usize,
        max_bytes: u64,
    },
    SetHardState {
        term: u64,
        vote: bool,
    },
    Reopen,
    SyncThenCrash {
        seed: u64,
    },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1u64..8, 0u64..3, 0u8..10, 0usize..48)
            .prop_map(|(count, term_bump, kind, size)| Op::Append { count, term_bump, kind, size }),
        1 => (2u64..5).prop_map(|skip| Op::BadAppend { skip }),
        2 => any::<u64>().prop_map(|pick| Op::TruncateSuffix { pick }),
        2 => any::<u64>().prop_map(|pick| Op::TruncatePrefix { pick }),
        1 => (0u64..5).prop_map(|ahead| Op::Reset { ahead }),
        4 => (any::<u64>(), 0u64..12, 1usize..10, prop_oneof![Just(u64::MAX), 1u64..300])
            .prop_map(|(start, len, max_entries, max_bytes)| Op::Read { start, len, max_entries, max_bytes }),
        1 => (0u64..10, any::<bool>()).prop_map(|(term, vote)| Op::SetHardState { term, vote }),
        1 => Just(Op::Reopen),
        1 => any::<u64>().prop_map(|seed| Op::SyncThenCrash { seed }),
    ]
}

fn peer(text: &str) -> PeerId {
    text.parse().expect("peer id")
}

/// The oracle: entries by index plus the last purged log id.
#[derive(Default)]
struct Oracle {
    last_purged: LogId,
    entries: BTreeMap<u64, LogEntry>,
    hard_state: HardState,
}

impl Oracle {
    fn first(&self) -> u64 {
        self.last_purged.index.0 + 1
    }
    fn last(&self) -> LogId {
        self.entries
            .values()
            .next_back()
            .map_or(self.last_purged, |e| e.meta.log_id)
    }
}

fn check_equal<H: Harness>(harness: &mut H, oracle: &Oracle) -> Result<(), TestCaseError> {
    let log = harness.log();
    prop_assert_eq!(log.first_index().unwrap(), LogIndex(oracle.first()));
    prop_assert_eq!(log.last_log_id().unwrap(), oracle.last());
    let all = log
        .entries(
            LogIndex(oracle.first())..oracle.last().index.next(),
            ReadLimits::entries(usize::MAX),
        )
        .unwrap();
    let expected: Vec<LogEntry> = oracle.entries.values().cloned().collect();
    prop_assert_eq!(all, expected);
    prop_assert_eq!(
        log.log_id(oracle.last_purged.index).unwrap(),
        Some(oracle.last_purged)
    );
    prop_assert_eq!(log.log_id(oracle.last().index.next()).unwrap(), None);
    prop_assert_eq!(log.entry(oracle.last().index.next()).unwrap(), None);
    if oracle.last_purged.index.0 > 0 {
        prop_assert_eq!(log.entry(oracle.last_purged.index).unwrap(), None);
    }
    prop_assert_eq!(
        harness.meta().hard_state().unwrap(),
        oracle.hard_state.clone()
    );
    Ok(())
}

fn run_ops<H: Harness>(harness: &mut H, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut oracle = Oracle::default();
    for op in ops {
        let first = oracle.first();
        let last = oracle.last();
        let len = last.index.0 + 1 - first;
        match op {
            Op::Append {
                count,
                term_bump,
                kind,
                size,
            } => {
                let term = last.term.0.max(1) + term_bump;
                let batch: Vec<LogEntry> = (1..=*count)
                    .map(|i| {
                        let index = last.index.0 + i;
                        entry_of_kind(*kind, *size, LogId::new(term, index))
                    })
                    .collect();
                harness.log().append(&batch).unwrap();
                for entry in batch {
                    oracle.entries.insert(entry.meta.log_id.index.0, entry);
                }
            }
            Op::BadAppend { skip } => {
                let bad = LogEntry::blank(LogId::new(last.term.0.max(1), last.index.0 + skip));
                let error = harness.log().append(&[bad]).unwrap_err();
                let is_non_contiguous = matches!(error, StorageError::NonContiguous { .. });
                prop_assert!(is_non_contiguous, "{error:?}");
                if last.term.0 > 1 {
                    let regress = LogEntry::blank(LogId::new(last.term.0 - 1, last.index.0 + 1));
                    let error = harness.log().append(&[regress]).unwrap_err();
                    let is_invalid = matches!(error, StorageError::InvalidArgument { .. });
                    prop_assert!(is_invalid, "{error:?}");
                }
            }
            Op::TruncateSuffix { pick } => {
                let from = first + pick % (len + 1);
                harness.log().truncate_suffix(LogIndex(from)).unwrap();
                oracle.entries.split_off(&from);
                if first > 1 {
                    let error = harness
                        .log()
                        .truncate_suffix(LogIndex(first - 1))
                        .unwrap_err();
                    let is_invalid = matches!(error, StorageError::InvalidArgument { .. });
                    prop_assert!(is_invalid, "{error:?}");
                }
            }
            Op::TruncatePrefix { pick } => {
                let up_to = first + pick % (len + 1);
                harness.log().truncate_prefix(LogIndex(up_to)).unwrap();
                if up_to > first {
                    oracle.last_purged = oracle.entries[&(up_to - 1)].meta.log_id;
                    oracle.entries = oracle.entries.split_off(&up_to);
                }
            }
            Op::Reset { ahead } => {
                let target = LogId::new(last.term.0 + 1, last.index.0 + ahead);
                harness.log().reset(target).unwrap();
                oracle.entries.clear();
                oracle.last_purged = target;
            }
            Op::Read {
                start,
                len: read_len,
                max_entries,
                max_bytes,
            } => {
                if len > 0 {
                    let start = first + start % len;
                    let end = (start + read_len).min(last.index.0 + 1);
                    let limits = ReadLimits::new(*max_entries, *max_bytes);
                    let got = harness
                        .log()
                        .entries(LogIndex(start)..LogIndex(end), limits)
                        .unwrap();
                    let want: Vec<&LogEntry> =
                        oracle.entries.range(start..end).map(|(_, e)| e).collect();
                    prop_assert!(got.len() <= *max_entries);
                    prop_assert!(end == start || !got.is_empty());
                    prop_assert!(got.len() <= want.len());
                    for (got, want) in got.iter().zip(want) {
                        prop_assert_eq!(got, want);
                    }
                    if *max_bytes == u64::MAX {
                        prop_assert_eq!(got.len(), (end - start).min(*max_entries as u64) as usize);
                    }
                }
                if first > 1 {
                    let error = harness
                        .log()
                        .entries(LogIndex(first - 1)..LogIndex(first), ReadLimits::entries(1))
                        .unwrap_err();
                    let is_compacted = matches!(error, StorageError::Compacted { .. });
                    prop_assert!(is_compacted, "{error:?}");
                }
                let past = last.index.next();
                let error = harness
                    .log()
                    .entries(past..past.next(), ReadLimits::entries(1))
                    .unwrap_err();
                let is_out_of_range = matches!(error, StorageError::OutOfRange { .. });
                prop_assert!(is_out_of_range, "{error:?}");
            }
            Op::SetHardState { term, vote } => {
                let state = HardState {
                    term: Term(*term),
                    voted_for: vote.then(|| peer("127.0.0.1:8080:2")),
                    reset: None,
                };
                harness.meta().set_hard_state(&state).unwrap();
                oracle.hard_state = state;
            }
            Op::Reopen => harness.reopen(),
            Op::SyncThenCrash { seed } => harness.sync_then_crash(*seed),
        }
        check_equal(harness, &oracle)?;
    }
    Ok(())
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op_strategy(), 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn memory_matches_model(ops in ops()) {
        let mut harness = MemoryHarness { log: MemoryLogStorage::new(group()), meta: MemoryMetaStorage::new(group()) };
        run_ops(&mut harness, &ops)?;
    }

    #[test]
    fn sim_synced_matches_model(ops in ops()) {
        run_ops(&mut SimHarness::new(true), &ops)?;
    }

    #[test]
    fn sim_unsynced_matches_model_until_synced_crash(ops in ops()) {
        // sync=false: everything is pending until the explicit sync before each crash,
        // and then everything survives.
        run_ops(&mut SimHarness::new(false), &ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn fjall_synced_matches_model(ops in ops()) {
        run_ops(&mut FjallHarness::new(true), &ops)?;
    }

    #[test]
    fn fjall_unsynced_matches_model(ops in ops()) {
        run_ops(&mut FjallHarness::new(false), &ops)?;
    }
}

/// A reset of the peers travels in the hard state record; records written before resets
/// existed (no trailing reset) read as none, and a bad reset flag is refused.
#[test]
fn hard_state_records_carry_the_reset() {
    use concord::core::ConfigurationReset;
    use concord::storage::codec::{decode_hard_state, encode_hard_state};
    let peer = |text: &str| text.parse::<PeerId>().unwrap();
    let plain = concord::storage::HardState {
        term: Term(7),
        voted_for: Some(peer("10.0.0.1:7000")),
        reset: None,
    };
    let with_reset = concord::storage::HardState {
        term: Term::first_of_epoch(2),
        voted_for: None,
        reset: Some(ConfigurationReset {
            epoch: 2,
            configuration: Configuration::new(
                [peer("10.0.0.1:7000"), peer("10.0.0.2:7000")],
                [peer("10.0.0.9:7000")],
            )
            .unwrap(),
        }),
    };
    for state in [&plain, &with_reset] {
        let record = encode_hard_state(state).unwrap();
        assert_eq!(&decode_hard_state(&record).unwrap(), state);
    }
    // A record without a reset is as before resets existed: version, term, vote flag,
    // length-prefixed vote, then the checksum.
    let record = encode_hard_state(&plain).unwrap();
    let body = &record[..record.len() - 4];
    assert_eq!(body.len(), 1 + 8 + 1 + 2 + "10.0.0.1:7000".len());
    // A corrupt reset flag (checksum recomputed) is a decode error, not a panic.
    let mut forged = body.to_vec();
    forged.push(7);
    forged.extend_from_slice(&crc32c::crc32c(&forged).to_le_bytes());
    assert!(decode_hard_state(&forged).is_err());
}
