//! Crash, corruption and fatal-error tests: the sim store at every crash point (torn
//! writes included), flipped bytes in stored entries (sim, fjall, codec), missing
//! entries, and fsync failures.

#![cfg(feature = "fjall")]

use std::collections::BTreeMap;

use concord::core::{GroupId, LogId, LogIndex, Term};
use concord::storage::codec;
use concord::storage::{
    CrashPoint, FjallOptions, FjallStore, HardState, LogEntry, LogStorage, MemoryLogStorage,
    MetaStorage, ReadLimits, SimDisk, SimOptions, StorageError, Tear,
};

fn group() -> GroupId {
    GroupId::new("faults").expect("valid group")
}

fn entry(term: u64, index: u64) -> LogEntry {
    LogEntry::normal(
        LogId::new(term, index),
        vec![index as u8; 40 + index as usize],
    )
}

fn batch(term: u64, indexes: std::ops::RangeInclusive<u64>) -> Vec<LogEntry> {
    indexes.map(|index| entry(term, index)).collect()
}

fn read_all(log: &impl LogStorage) -> Result<Vec<LogEntry>, StorageError> {
    let first = log.first_index()?;
    let end = log.last_log_id()?.index.next();
    log.entries(first..end, ReadLimits::entries(usize::MAX))
}

/// A pending write of the scenario, with the model state after it.
enum Write {
    Append(Vec<LogEntry>),
    TruncateSuffix(u64),
    TruncatePrefix(u64),
    HardState(HardState),
}

fn apply(model: &mut (BTreeMap<u64, LogEntry>, HardState), write: &Write) {
    match write {
        Write::Append(entries) => {
            for e in entries {
                model.0.insert(e.meta.log_id.index.0, e.clone());
            }
        }
        Write::TruncateSuffix(from) => {
            model.0.split_off(from);
        }
        Write::TruncatePrefix(up_to) => {
            model.0 = model.0.split_off(up_to);
        }
        Write::HardState(state) => model.1 = state.clone(),
    }
}

/// The scenario: a synced base, then unsynced writes (appends, a conflict truncation, a
/// re-append in a new term, a vote, a compaction).
fn scenario() -> (Vec<Write>, Vec<Write>) {
    let synced = vec![
        Write::Append(batch(1, 1..=4)),
        Write::HardState(HardState {
            term: Term(1),
            voted_for: None,
            reset: None,
        }),
    ];
    let pending = vec![
        Write::Append(batch(1, 5..=8)),
        Write::TruncateSuffix(7),
        Write::HardState(HardState {
            term: Term(2),
            voted_for: Some("10.0.0.9:80".parse().expect("peer")),
            reset: None,
        }),
        Write::Append(batch(2, 7..=9)),
        Write::TruncatePrefix(3),
        Write::Append(batch(2, 10..=12)),
    ];
    (synced, pending)
}

fn perform(log: &mut impl LogStorage, meta: &mut impl MetaStorage, write: &Write) {
    match write {
        Write::Append(entries) => log.append(entries).expect("append"),
        Write::TruncateSuffix(from) => log
            .truncate_suffix(LogIndex(*from))
            .expect("truncate suffix"),
        Write::TruncatePrefix(up_to) => log
            .truncate_prefix(LogIndex(*up_to))
            .expect("truncate prefix"),
        Write::HardState(state) => meta.set_hard_state(state).expect("hard state"),
    }
}

/// Runs the scenario on a fresh disk with `sync = false` after a synced base.
fn run_scenario() -> SimDisk {
    let disk = SimDisk::new();
    let options = SimOptions { sync: false };
    let mut log = disk.log_storage(group(), options).expect("open");
    let mut meta = disk.meta_storage(group(), options);
    let (synced, pending) = scenario();
    for write in &synced {
        perform(&mut log, &mut meta, write);
    }
    log.sync().expect("sync");
    for write in &pending {
        perform(&mut log, &mut meta, write);
    }
    disk
}

#[test]
fn sim_every_crash_point_recovers_a_consistent_prefix() {
    let (synced, pending) = scenario();
    // Model states: after the synced base, then after each pending write.
    let mut model = (BTreeMap::new(), HardState::default());
    for write in &synced {
        apply(&mut model, write);
    }
    let mut states = vec![model.clone()];
    for write in &pending {
        apply(&mut model, write);
        states.push(model.clone());
    }
    let points = run_scenario().crash_points();
    assert!(
        points.len() > pending.len() + 10,
        "{} crash points",
        points.len()
    );
    for point in points {
        let disk = run_scenario();
        disk.crash_at(point).expect("crash");
        let log = disk
            .log_storage(group(), SimOptions::default())
            .expect("reopen");
        let meta = disk.meta_storage(group(), SimOptions::default());
        let mut expected = states[point.surviving_writes].clone();
        if let Some(Write::Append(entries)) = pending.get(point.surviving_writes) {
            let kept = match point.tear {
                Tear::Lost => 0,
                Tear::KeepRecords { kept } | Tear::PartialRecord { kept } => kept,
            };
            apply(&mut expected, &Write::Append(entries[..kept].to_vec()));
        }
        let got = read_all(&log).unwrap_or_else(|e| panic!("{point:?}: {e}"));
        let want: Vec<LogEntry> = expected.0.values().cloned().collect();
        assert_eq!(got, want, "{point:?}");
        assert_eq!(
            meta.hard_state().expect("hard state"),
            expected.1,
            "{point:?}"
        );
        // Every synced entry that no later surviving write removed is present.
        for index in 1..=4u64 {
            if index >= log.first_index().expect("first").0 && expected.0.contains_key(&index) {
                assert!(
                    log.entry(LogIndex(index)).expect("read").is_some(),
                    "{point:?}"
                );
            }
        }
    }
}

#[test]
fn sim_sync_on_loses_nothing_acknowledged() {
    for seed in 0..50u64 {
        let disk = SimDisk::new();
        let mut log = disk
            .log_storage(group(), SimOptions::default())
            .expect("open");
        let mut acknowledged = Vec::new();
        for round in 0..(seed % 7 + 1) {
            let start = round * 3 + 1;
            let entries = batch(1, start..=start + 2);
            log.append(&entries).expect("append");
            acknowledged.extend(entries);
        }
        assert_eq!(disk.pending_writes(), 0);
        disk.crash(seed).expect("crash");
        let log = disk
            .log_storage(group(), SimOptions::default())
            .expect("reopen");
        assert_eq!(read_all(&log).expect("read"), acknowledged, "seed {seed}");
    }
}

#[test]
fn sim_sync_off_can_lose_acknowledged_entries() {
    let disk = SimDisk::new();
    let mut log = disk
        .log_storage(group(), SimOptions { sync: false })
        .expect("open");
    log.append(&batch(1, 1..=3)).expect("append");
    disk.crash_at(CrashPoint {
        surviving_writes: 0,
        tear: Tear::Lost,
    })
    .expect("crash");
    let log = disk
        .log_storage(group(), SimOptions { sync: false })
        .expect("reopen");
    assert_eq!(log.last_log_id().expect("last"), LogId::ZERO);
}

#[test]
fn sim_torn_tail_is_discarded_not_returned() {
    let disk = SimDisk::new();
    let mut log = disk
        .log_storage(group(), SimOptions { sync: false })
        .expect("open");
    log.append(&batch(1, 1..=5)).expect("append");
    disk.crash_at(CrashPoint {
        surviving_writes: 0,
        tear: Tear::PartialRecord { kept: 2 },
    })
    .expect("crash");
    let log = disk
        .log_storage(group(), SimOptions::default())
        .expect("reopen");
    assert_eq!(read_all(&log).expect("read"), batch(1, 1..=2));
}

#[test]
fn sim_flipped_bytes_are_detected_on_read() {
    for seed in 0..200u64 {
        let disk = SimDisk::new();
        let mut log = disk
            .log_storage(group(), SimOptions::default())
            .expect("open");
        log.append(&batch(1, 1..=10)).expect("append");
        assert!(disk.corrupt_entry(&group(), LogIndex(5), seed));
        let corrupt = |error: StorageError| match error {
            StorageError::Corrupt {
                index,
                group: g,
                store,
                ..
            } => {
                assert_eq!((index, g, store.as_str()), (LogIndex(5), group(), "sim"));
            }
            other => panic!("seed {seed}: expected Corrupt, got {other:?}"),
        };
        corrupt(read_all(&log).unwrap_err());
        corrupt(log.entry(LogIndex(5)).unwrap_err());
        corrupt(log.log_id(LogIndex(5)).unwrap_err());
        assert_eq!(log.entry(LogIndex(4)).expect("intact"), Some(entry(1, 4)));
        // A range that stops before the bad entry still reads.
        assert_eq!(
            log.entries(LogIndex(1)..LogIndex(5), ReadLimits::entries(99))
                .expect("prefix")
                .len(),
            4
        );
        // And the corruption survives a restart: it is never silently dropped.
        let log = disk
            .log_storage(group(), SimOptions::default())
            .expect("reopen");
        corrupt(read_all(&log).unwrap_err());
    }
}

#[test]
fn sim_fsync_failure_is_fatal_until_restart() {
    let disk = SimDisk::new();
    let mut log = disk
        .log_storage(group(), SimOptions::default())
        .expect("open");
    let mut meta = disk.meta_storage(group(), SimOptions::default());
    log.append(&batch(1, 1..=2)).expect("append");
    disk.fail_next_sync();
    assert!(log.append(&batch(1, 3..=3)).unwrap_err().is_fatal());
    assert!(log.append(&batch(1, 3..=3)).unwrap_err().is_fatal());
    assert!(meta
        .set_hard_state(&HardState::default())
        .unwrap_err()
        .is_fatal());
    assert!(log.truncate_suffix(LogIndex(2)).unwrap_err().is_fatal());
    disk.crash(7).expect("crash");
    let mut log = disk
        .log_storage(group(), SimOptions::default())
        .expect("reopen");
    assert_eq!(read_all(&log).expect("read"), batch(1, 1..=2));
    log.append(&batch(1, 3..=3)).expect("append after restart");
}

/// An entry whose payload contradicts its kind cannot be stored as it is (the record
/// keeps one payload, read by the kind): the append is refused, nothing written.
#[test]
fn an_entry_whose_payload_contradicts_its_kind_is_refused() {
    let mut blank = LogEntry::blank(LogId::new(1, 1));
    blank.payload = bytes::Bytes::from_static(b"stray");
    assert!(codec::encode_entry(&blank).is_err());
    let mut log = MemoryLogStorage::new(GroupId::new("g").unwrap());
    let error = log.append(&[blank]).unwrap_err();
    assert!(
        matches!(error, StorageError::InvalidArgument { .. }),
        "{error:?}"
    );
    assert_eq!(log.last_log_id().unwrap(), LogId::ZERO);
    // Every kind round-trips with the metadata the core gave it.
    for entry in [
        LogEntry::blank(LogId::new(1, 1)),
        LogEntry::normal(LogId::new(1, 2), "x"),
        LogEntry::configuration(
            LogId::new(2, 3),
            concord::core::ConfigurationEntry::stable(concord::core::Configuration::with_voters([
                "10.1.1.1:1".parse().expect("peer"),
            ])),
        ),
    ] {
        let record = codec::encode_entry(&entry).unwrap();
        assert_eq!(codec::decode_entry(&record).unwrap(), entry);
    }
}

#[test]
fn codec_detects_every_single_byte_flip() {
    let entries = [
        entry(3, 17),
        LogEntry::blank(LogId::new(1, 1)),
        LogEntry::configuration(
            LogId::new(2, 9),
            concord::core::ConfigurationEntry::stable(concord::core::Configuration::with_voters([
                "10.1.1.1:1".parse().expect("peer"),
            ])),
        ),
    ];
    for e in &entries {
        let record = codec::encode_entry(e).expect("encode");
        assert_eq!(&codec::decode_entry(&record).expect("decode"), e);
        for position in 0..record.len() {
            for mask in [0x01u8, 0x80, 0xFF] {
                let mut bad = record.clone();
                bad[position] ^= mask;
                assert!(
                    codec::decode_entry(&bad).is_err(),
                    "flip {mask:#x} at {position}"
                );
            }
        }
        for cut in 0..record.len() {
            assert!(codec::decode_entry(&record[..cut]).is_err());
            assert!(codec::is_torn_entry(&record[..cut]) || cut >= record.len() - 4);
        }
    }
}

fn fjall_options() -> FjallOptions {
    FjallOptions {
        worker_threads: Some(1),
        ..FjallOptions::default()
    }
}

#[test]
fn fjall_flipped_bytes_and_missing_entries_are_typed_errors() {
    let directory = tempfile::tempdir().expect("temp dir");
    {
        let store = FjallStore::open(directory.path(), fjall_options()).expect("open");
        let mut log = store.log_storage(group()).expect("log");
        log.append(&batch(1, 1..=10)).expect("append");
        let mut record = store
            .raw_entry(&group(), LogIndex(5))
            .expect("raw")
            .expect("present");
        record[20] ^= 0x10;
        store
            .overwrite_raw_entry(&group(), LogIndex(5), &record)
            .expect("overwrite");
        store
            .remove_raw_entry(&group(), LogIndex(8))
            .expect("remove");
        // A valid record under the wrong key is corrupt too.
        let misplaced = codec::encode_entry(&entry(1, 7)).expect("encode");
        store
            .overwrite_raw_entry(&group(), LogIndex(9), &misplaced)
            .expect("overwrite");
    }
    let store = FjallStore::open(directory.path(), fjall_options()).expect("reopen");
    let log = store.log_storage(group()).expect("log");
    let name = format!("fjall:{}", directory.path().display());
    assert_eq!(
        log.entries(LogIndex(1)..LogIndex(11), ReadLimits::entries(99))
            .unwrap_err(),
        StorageError::Corrupt {
            store: name.clone(),
            group: group(),
            index: LogIndex(5),
            reason: match log.entry(LogIndex(5)).unwrap_err() {
                StorageError::Corrupt { reason, .. } => reason,
                other => panic!("{other:?}"),
            },
        }
    );
    assert_eq!(
        log.entries(LogIndex(6)..LogIndex(11), ReadLimits::entries(99))
            .unwrap_err(),
        StorageError::MissingEntry {
            store: name.clone(),
            group: group(),
            index: LogIndex(8)
        }
    );
    assert_eq!(
        log.entry(LogIndex(8)).unwrap_err(),
        StorageError::MissingEntry {
            store: name.clone(),
            group: group(),
            index: LogIndex(8)
        }
    );
    let misplaced = log.entry(LogIndex(9)).unwrap_err();
    assert!(
        matches!(
            misplaced,
            StorageError::Corrupt {
                index: LogIndex(9),
                ..
            }
        ),
        "{misplaced:?}"
    );
    assert_eq!(
        log.entries(LogIndex(6)..LogIndex(8), ReadLimits::entries(99))
            .expect("intact")
            .len(),
        2
    );
}

#[test]
fn fjall_groups_are_isolated_and_exclusive() {
    let directory = tempfile::tempdir().expect("temp dir");
    let store = FjallStore::open(directory.path(), fjall_options()).expect("open");
    let a = GroupId::new("a").expect("group");
    let ab = GroupId::new("ab").expect("group");
    let mut log_a = store.log_storage(a.clone()).expect("a");
    let mut log_ab = store.log_storage(ab.clone()).expect("ab");
    log_a.append(&batch(1, 1..=3)).expect("append");
    log_ab.append(&batch(2, 1..=5)).expect("append");
    log_a.truncate_prefix(LogIndex(3)).expect("compact");
    assert!(matches!(
        store.log_storage(a.clone()).unwrap_err(),
        StorageError::GroupInUse { .. }
    ));
    drop(log_a);
    drop(log_ab);
    drop(store);
    let store = FjallStore::open(directory.path(), fjall_options()).expect("reopen");
    let log_a = store.log_storage(a).expect("a");
    let log_ab = store.log_storage(ab).expect("ab");
    assert_eq!(read_all(&log_a).expect("a"), batch(1, 3..=3));
    assert_eq!(
        log_a.log_id(LogIndex(2)).expect("purged"),
        Some(LogId::new(1, 2))
    );
    assert_eq!(read_all(&log_ab).expect("ab"), batch(2, 1..=5));
}

#[test]
fn fjall_reports_a_locked_directory() {
    let directory = tempfile::tempdir().expect("temp dir");
    let _store = FjallStore::open(directory.path(), fjall_options()).expect("open");
    let error = FjallStore::open(directory.path(), fjall_options()).unwrap_err();
    assert!(matches!(error, StorageError::Io { .. }), "{error:?}");
}

#[test]
fn sim_recovery_runs_on_first_open_even_with_other_writes_pending() {
    let disk = SimDisk::new();
    let mut log = disk
        .log_storage(group(), SimOptions { sync: false })
        .expect("open");
    log.append(&batch(1, 1..=3)).expect("append");
    disk.crash_at(CrashPoint {
        surviving_writes: 0,
        tear: Tear::PartialRecord { kept: 1 },
    })
    .expect("crash");
    drop(log);
    let other = GroupId::new("other").expect("group");
    let mut meta = disk.meta_storage(other, SimOptions { sync: false });
    meta.set_hard_state(&HardState {
        term: Term(3),
        voted_for: None,
        reset: None,
    })
    .expect("vote");
    assert_eq!(disk.pending_writes(), 1);
    let log = disk
        .log_storage(group(), SimOptions::default())
        .expect("reopen");
    assert_eq!(read_all(&log).expect("read"), batch(1, 1..=1));
}

mod random_crash {
    //! Random write sequences on a sim disk with `sync = false` and random syncs, then
    //! a crash at every crash point: the recovered log must equal the model after the
    //! surviving writes plus the torn prefix of the next one.

    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        Append { count: u64, term_bump: u64 },
        TruncateSuffix { pick: u64 },
        TruncatePrefix { pick: u64 },
        Vote { term: u64 },
        Sync,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            5 => (1u64..5, 0u64..2).prop_map(|(count, term_bump)| Step::Append { count, term_bump }),
            1 => any::<u64>().prop_map(|pick| Step::TruncateSuffix { pick }),
            1 => any::<u64>().prop_map(|pick| Step::TruncatePrefix { pick }),
            1 => (0u64..5).prop_map(|term| Step::Vote { term }),
            1 => Just(Step::Sync),
        ]
    }

    #[derive(Clone, Default)]
    struct Model {
        entries: BTreeMap<u64, LogEntry>,
        first: u64,
        purged_term: u64,
        hard_state: HardState,
    }

    impl Model {
        fn apply(&mut self, write: &Write) {
            if let Write::TruncatePrefix(up_to) = write {
                if let Some(purged) = self.entries.get(&(up_to - 1)) {
                    self.purged_term = purged.meta.log_id.term.0;
                }
                self.first = self.first.max(*up_to);
            }
            let mut pair = (std::mem::take(&mut self.entries), self.hard_state.clone());
            apply(&mut pair, write);
            self.entries = pair.0;
            self.hard_state = pair.1;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn every_crash_point_of_random_writes(steps in proptest::collection::vec(step(), 1..14)) {
            // Build the write list and the pending suffix after the last sync.
            let mut model = Model { first: 1, ..Model::default() };
            let mut writes: Vec<Option<Write>> = Vec::new();
            for step in &steps {
                let last = model.entries.values().next_back().map_or(model.first - 1, |e| e.meta.log_id.index.0);
                let last_term = model.entries.values().next_back().map_or(model.purged_term.max(1), |e| e.meta.log_id.term.0);
                let len = last + 1 - model.first;
                let write = match step {
                    Step::Append { count, term_bump } => {
                        Some(Write::Append(batch(last_term + term_bump, last + 1..=last + count)))
                    }
                    Step::TruncateSuffix { pick } => Some(Write::TruncateSuffix(model.first + pick % (len + 1))),
                    Step::TruncatePrefix { pick } => {
                        let up_to = model.first + pick % (len + 1);
                        (up_to > model.first).then_some(Write::TruncatePrefix(up_to))
                    }
                    Step::Vote { term } => Some(Write::HardState(HardState { term: Term(*term), voted_for: None, reset: None })),
                    Step::Sync => None,
                };
                match write {
                    Some(Write::TruncateSuffix(from)) if from > last => {}
                    Some(write) => {
                        model.apply(&write);
                        writes.push(Some(write));
                    }
                    None => writes.push(None),
                }
            }
            let run = || {
                let disk = SimDisk::new();
                let options = SimOptions { sync: false };
                let mut log = disk.log_storage(group(), options).expect("open");
                let mut meta = disk.meta_storage(group(), options);
                for write in &writes {
                    match write {
                        Some(write) => perform(&mut log, &mut meta, write),
                        None => log.sync().expect("sync"),
                    }
                }
                disk
            };
            // Model states from the last sync on.
            let synced_at = writes.iter().rposition(Option::is_none).map_or(0, |p| p + 1);
            let mut model = Model { first: 1, ..Model::default() };
            for write in writes[..synced_at].iter().flatten() {
                model.apply(write);
            }
            let pending: Vec<&Write> = writes[synced_at..].iter().flatten().collect();
            let mut states = vec![model.clone()];
            for write in &pending {
                model.apply(write);
                states.push(model.clone());
            }
            for point in run().crash_points() {
                let disk = run();
                disk.crash_at(point).expect("crash");
                let log = disk.log_storage(group(), SimOptions::default()).expect("reopen");
                let meta = disk.meta_storage(group(), SimOptions::default());
                let mut expected = states[point.surviving_writes].clone();
                if let Some(Write::Append(entries)) = pending.get(point.surviving_writes) {
                    let kept = match point.tear {
                        Tear::Lost => 0,
                        Tear::KeepRecords { kept } | Tear::PartialRecord { kept } => kept,
                    };
                    expected.apply(&Write::Append(entries[..kept].to_vec()));
                }
                let got = read_all(&log).map_err(|e| TestCaseError::fail(format!("{point:?}: {e}")))?;
                let want: Vec<LogEntry> = expected.entries.values().cloned().collect();
                prop_assert_eq!(got, want, "{:?}", point);
                prop_assert_eq!(log.first_index().expect("first"), LogIndex(expected.first));
                prop_assert_eq!(meta.hard_state().expect("hard state"), expected.hard_state, "{:?}", point);
            }
        }
    }
}
