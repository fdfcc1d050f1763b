//! The fjall log's segments: compaction deletes whole segments (no tombstone per
//! compacted entry), a restart finds the rest, a reset below the old marker never brings
//! compacted entries back, the segment size is fixed at creation, and a directory in the
//! layout before segments is refused. (The model-based property test in
//! `storage_model.rs` runs fjall with 4-entry segments, so its random operations cross
//! segment boundaries too.)

#![cfg(feature = "fjall")]

use concord::core::{GroupId, LogId, LogIndex};
use concord::storage::{FjallOptions, FjallStore, LogEntry, LogStorage, ReadLimits};

fn group() -> GroupId {
    GroupId::new("seg").expect("group")
}

fn options(segment: u64) -> FjallOptions {
    FjallOptions {
        worker_threads: Some(1),
        log_segment_entries: segment,
        ..FjallOptions::default()
    }
}

fn entries(term: u64, range: std::ops::RangeInclusive<u64>) -> Vec<LogEntry> {
    range
        .map(|i| LogEntry::normal(LogId::new(term, i), format!("{term}/{i}")))
        .collect()
}

fn read_all(log: &impl LogStorage) -> Vec<LogEntry> {
    let first = log.first_index().expect("first");
    let last = log.last_log_id().expect("last").index;
    log.entries(first..last.next(), ReadLimits::entries(10_000))
        .expect("read")
}

#[test]
fn compaction_deletes_whole_segments_and_a_restart_finds_the_rest() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let store = FjallStore::open(dir.path(), options(8)).expect("open");
        let mut log = store.log_storage(group()).expect("log");
        log.append(&entries(1, 1..=40)).expect("append");
        // Indexes 0-7, 8-15, ..., 40: six segments.
        assert_eq!(store.log_segments(&group()), 6);
        log.truncate_prefix(LogIndex(21)).expect("compact");
        // 0-7 and 8-15 are wholly below 21 and go; 16-23 holds the marker and stays.
        assert_eq!(store.log_segments(&group()), 4);
        assert_eq!(log.first_index().expect("first"), LogIndex(21));
        assert_eq!(read_all(&log), entries(1, 21..=40));
        log.truncate_prefix(LogIndex(33)).expect("compact again");
        assert_eq!(store.log_segments(&group()), 2);
    }
    let store = FjallStore::open(dir.path(), options(8)).expect("reopen");
    let log = store.log_storage(group()).expect("log");
    assert_eq!(log.first_index().expect("first"), LogIndex(33));
    assert_eq!(log.last_log_id().expect("last"), LogId::new(1, 40));
    assert_eq!(
        log.log_id(LogIndex(32)).expect("marker"),
        Some(LogId::new(1, 32))
    );
    assert_eq!(read_all(&log), entries(1, 33..=40));
    assert_eq!(store.log_segments(&group()), 2);
}

#[test]
fn a_reset_below_the_marker_never_brings_compacted_entries_back() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let store = FjallStore::open(dir.path(), options(8)).expect("open");
        let mut log = store.log_storage(group()).expect("log");
        log.append(&entries(1, 1..=40)).expect("append");
        // 16..=20 stay on disk, dead, in the segment of the marker.
        log.truncate_prefix(LogIndex(21)).expect("compact");
        // A snapshot of index 17 of another history replaces the log.
        log.reset(LogId::new(2, 17)).expect("reset");
        assert_eq!(log.last_log_id().expect("last"), LogId::new(2, 17));
    }
    let store = FjallStore::open(dir.path(), options(8)).expect("reopen");
    let mut log = store.log_storage(group()).expect("log");
    // Without tombstones for the dead entries, the restart would find 18..=20 (or
    // 21..=40) above the new marker.
    assert_eq!(log.first_index().expect("first"), LogIndex(18));
    assert_eq!(log.last_log_id().expect("last"), LogId::new(2, 17));
    log.append(&entries(3, 18..=25)).expect("append");
    assert_eq!(read_all(&log), entries(3, 18..=25));
}

#[test]
fn a_reset_past_the_log_deletes_every_segment_below_it() {
    let dir = tempfile::tempdir().expect("dir");
    let store = FjallStore::open(dir.path(), options(8)).expect("open");
    let mut log = store.log_storage(group()).expect("log");
    log.append(&entries(1, 1..=20)).expect("append");
    log.reset(LogId::new(4, 100)).expect("reset");
    assert_eq!(store.log_segments(&group()), 0);
    log.append(&entries(4, 101..=103)).expect("append");
    assert_eq!(store.log_segments(&group()), 1);
    assert_eq!(read_all(&log), entries(4, 101..=103));
}

#[test]
fn the_segment_size_is_fixed_when_the_store_is_created() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let store = FjallStore::open(dir.path(), options(8)).expect("open");
        let mut log = store.log_storage(group()).expect("log");
        log.append(&entries(1, 1..=30)).expect("append");
    }
    // Opened with the default size, the store keeps the one it was created with.
    let store = FjallStore::open(dir.path(), options(65_536)).expect("reopen");
    let log = store.log_storage(group()).expect("log");
    assert_eq!(read_all(&log), entries(1, 1..=30));
    assert_eq!(store.log_segments(&group()), 4);
}

#[test]
fn groups_have_their_own_segments() {
    let dir = tempfile::tempdir().expect("dir");
    let store = FjallStore::open(dir.path(), options(8)).expect("open");
    let a = GroupId::new("a").expect("group");
    // A name that extends the other's segment prefix.
    let b = GroupId::new("a.0000000000000001").expect("group");
    let mut log_a = store.log_storage(a.clone()).expect("log");
    let mut log_b = store.log_storage(b.clone()).expect("log");
    log_a.append(&entries(1, 1..=20)).expect("append");
    log_b.append(&entries(2, 1..=5)).expect("append");
    log_a.truncate_prefix(LogIndex(17)).expect("compact");
    // 0-7 and 8-15 go; 16-23 holds the marker.
    assert_eq!(store.log_segments(&a), 1);
    assert_eq!(store.log_segments(&b), 1);
    assert_eq!(read_all(&log_b), entries(2, 1..=5));
}

#[test]
fn a_directory_in_the_layout_before_segments_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    {
        let database = fjall::Database::builder(dir.path()).open().expect("fjall");
        let legacy = database
            .keyspace("log", fjall::KeyspaceCreateOptions::default)
            .expect("keyspace");
        legacy.insert(b"x", b"y").expect("insert");
        database
            .persist(fjall::PersistMode::SyncAll)
            .expect("persist");
    }
    let error = FjallStore::open(dir.path(), options(8)).unwrap_err();
    assert!(error.to_string().contains("before log segments"), "{error}");
}

/// Many groups, each within one segment, so no memtable fills and no group moves on:
/// the store's write budget (half the memtable, here 1 MiB) seals every segment's
/// memtable while other groups compact and delete segments on other threads. Nothing
/// is lost or brought back, before and after a restart.
#[test]
fn the_write_budget_seals_many_groups_while_others_compact() {
    let dir = tempfile::tempdir().expect("dir");
    let options = || FjallOptions {
        worker_threads: Some(2),
        log_segment_entries: 64,
        max_memtable_size_bytes: Some(2 * 1024 * 1024),
        ..FjallOptions::default()
    };
    let payload = vec![9u8; 1000];
    let groups: Vec<GroupId> = (0..12)
        .map(|g| GroupId::new(format!("many{g}")).expect("group"))
        .collect();
    let write = |term: u64, range: std::ops::RangeInclusive<u64>| -> Vec<LogEntry> {
        range
            .map(|i| LogEntry::normal(LogId::new(term, i), payload.clone()))
            .collect()
    };
    {
        let store = FjallStore::open(dir.path(), options()).expect("open");
        std::thread::scope(|scope| {
            for (g, group) in groups.iter().enumerate() {
                let (store, write) = (&store, &write);
                scope.spawn(move || {
                    let mut log = store.log_storage(group.clone()).expect("log");
                    // Even groups stay within their first segment (60 entries of 1 KB);
                    // odd ones write 720, moving on and compacting whole segments away:
                    // 4.7 MB in all, the 1 MiB budget crossed four times.
                    for round in 0..12u64 {
                        if g % 2 == 0 {
                            let first = round * 5 + 1;
                            log.append(&write(1, first..=first + 4)).expect("append");
                        } else {
                            let first = round * 60 + 1;
                            log.append(&write(1, first..=first + 59)).expect("append");
                            log.truncate_prefix(LogIndex(first + 30)).expect("compact");
                        }
                    }
                });
            }
        });
        store.persist().expect("persist");
    }
    let store = FjallStore::open(dir.path(), options()).expect("reopen");
    for (g, group) in groups.iter().enumerate() {
        let log = store.log_storage(group.clone()).expect("log");
        if g % 2 == 0 {
            assert_eq!(read_all(&log), write(1, 1..=60), "group {g}");
            assert_eq!(store.log_segments(group), 1);
        } else {
            assert_eq!(log.first_index().expect("first"), LogIndex(691));
            assert_eq!(read_all(&log), write(1, 691..=720), "group {g}");
            // Indexes 640-703 and 704-767.
            assert_eq!(store.log_segments(group), 2);
        }
    }
}
