//! The local snapshot store: atomic commit, open latest, chunked reads, filter-before-copy,
//! cleanup of superseded snapshots, name validation.

use concord::core::{Configuration, ConfigurationEntry, GroupId, LogId};
use concord::storage::{
    check_file_name, LocalSnapshotStorage, SnapshotReader, SnapshotStorage, SnapshotWriter,
    StorageError,
};

fn group() -> GroupId {
    GroupId::new("snap").expect("valid group")
}

fn configuration() -> ConfigurationEntry<concord::core::PeerId> {
    ConfigurationEntry::stable(Configuration::with_voters([
        "10.0.0.1:8080".parse().expect("peer"),
        "10.0.0.2:8080".parse().expect("peer"),
    ]))
}

fn snapshot_dirs(storage: &LocalSnapshotStorage) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(storage.directory())
        .expect("list")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    names
}

#[test]
fn commit_then_open_latest_and_read_in_chunks() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut storage = LocalSnapshotStorage::open(root.path(), group()).expect("open");
    assert!(storage.open_latest().expect("latest").is_none());
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let mut writer = storage
        .create(LogId::new(2, 100), configuration())
        .expect("create");
    writer.write_file("state.bin", &data).expect("write");
    writer.append_chunk("chunked", 0, b"hello ").expect("chunk");
    writer.append_chunk("chunked", 6, b"world").expect("chunk");
    let error = writer.append_chunk("chunked", 3, b"x").unwrap_err();
    assert!(
        matches!(error, StorageError::InvalidArgument { .. }),
        "{error:?}"
    );
    let meta = storage.commit(writer).expect("commit");
    assert_eq!(meta.last_included, LogId::new(2, 100));
    assert_eq!(meta.files.len(), 2);
    assert_eq!(
        meta.file("state.bin").expect("file").crc32c,
        crc32c::crc32c(&data)
    );

    let storage = LocalSnapshotStorage::open(root.path(), group()).expect("reopen");
    let reader = storage.open_latest().expect("latest").expect("some");
    assert_eq!(reader.meta(), &meta);
    assert_eq!(
        reader.list_files(),
        vec!["chunked".to_string(), "state.bin".to_string()]
    );
    reader.verify().expect("checksums");
    let mut copy = Vec::new();
    loop {
        let chunk = reader
            .read_chunk("state.bin", copy.len() as u64, 4096)
            .expect("chunk");
        if chunk.is_empty() {
            break;
        }
        assert!(chunk.len() <= 4096);
        copy.extend(chunk);
    }
    assert_eq!(copy, data);
    assert_eq!(
        reader.read_chunk("chunked", 0, 100).expect("chunk"),
        b"hello world"
    );
    assert!(reader.read_chunk("absent", 0, 1).is_err());
}

#[test]
fn new_snapshot_replaces_old_only_after_commit_and_reuses_files() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut storage = LocalSnapshotStorage::open(root.path(), group()).expect("open");
    let mut writer = storage
        .create(LogId::new(1, 10), configuration())
        .expect("create");
    writer.write_file("big", &[7u8; 5000]).expect("write");
    writer.write_file("small", b"v1").expect("write");
    let first = storage.commit(writer).expect("commit");

    // Filter before copy: the unchanged file is not needed, the changed one is.
    let big = first.file("big").expect("big").clone();
    assert!(!storage.needs_file("big", big.crc32c).expect("needs"));
    assert!(storage
        .needs_file("small", crc32c::crc32c(b"v2"))
        .expect("needs"));
    assert!(storage.needs_file("new", 0).expect("needs"));

    let mut writer = storage
        .create(LogId::new(1, 20), configuration())
        .expect("create");
    writer.reuse_file("big").expect("reuse");
    writer.write_file("small", b"v2").expect("write");
    // Before commit the old snapshot is still the latest and still on disk.
    assert_eq!(
        storage
            .open_latest()
            .expect("latest")
            .expect("some")
            .meta()
            .last_included,
        LogId::new(1, 10)
    );
    assert_eq!(
        snapshot_dirs(&storage).len(),
        2,
        "{:?}",
        snapshot_dirs(&storage)
    );
    let second = storage.commit(writer).expect("commit");
    assert_eq!(second.file("big"), Some(&big));
    // The new one is the latest; the one before it stays (a transfer or a load that
    // began before the commit can finish), older ones go.
    let dirs = snapshot_dirs(&storage);
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    assert!(
        dirs.iter()
            .any(|dir| dir.starts_with("snapshot_00000000000000000020_")),
        "{dirs:?}"
    );
    assert!(storage.open_at(LogId::new(1, 10)).expect("open").is_some());
    let reader = storage.open_latest().expect("latest").expect("some");
    reader.verify().expect("checksums");
    assert_eq!(reader.read_chunk("small", 0, 10).expect("read"), b"v2");

    // Re-snapshotting at the same index is fine too.
    let writer = storage
        .create(LogId::new(1, 20), configuration())
        .expect("create");
    storage.commit(writer).expect("commit same index");
    let dirs = snapshot_dirs(&storage);
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    assert!(
        dirs.iter()
            .all(|dir| dir.starts_with("snapshot_00000000000000000020_")),
        "{dirs:?}"
    );
}

#[test]
fn interrupted_write_is_discarded_on_open() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut storage = LocalSnapshotStorage::open(root.path(), group()).expect("open");
    let mut writer = storage
        .create(LogId::new(1, 5), configuration())
        .expect("create");
    writer.write_file("a", b"committed").expect("write");
    storage.commit(writer).expect("commit");
    let mut writer = storage
        .create(LogId::new(1, 9), configuration())
        .expect("create");
    writer.write_file("a", b"never committed").expect("write");
    drop(writer); // a crash before commit
    let storage = LocalSnapshotStorage::open(root.path(), group()).expect("reopen");
    assert_eq!(snapshot_dirs(&storage).len(), 1);
    let reader = storage.open_latest().expect("latest").expect("some");
    assert_eq!(reader.meta().last_included, LogId::new(1, 5));
    assert_eq!(reader.read_chunk("a", 0, 100).expect("read"), b"committed");
}

#[test]
fn corrupt_meta_and_files_are_reported() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut storage = LocalSnapshotStorage::open(root.path(), group()).expect("open");
    let mut writer = storage
        .create(LogId::new(1, 5), configuration())
        .expect("create");
    writer.write_file("a", b"payload").expect("write");
    storage.commit(writer).expect("commit");
    let reader = storage.open_latest().expect("latest").expect("some");
    let file = reader.directory().join("a");
    std::fs::write(&file, b"pAyload").expect("tamper");
    assert!(matches!(
        reader.verify().unwrap_err(),
        StorageError::CorruptMeta { .. }
    ));
    let meta_path = reader.directory().join(concord::storage::META_FILE_NAME);
    let mut meta = std::fs::read(&meta_path).expect("meta");
    meta[3] ^= 1;
    std::fs::write(&meta_path, meta).expect("tamper");
    assert!(matches!(
        storage.open_latest().unwrap_err(),
        StorageError::CorruptMeta { .. }
    ));
}

#[test]
fn unsafe_file_names_are_rejected() {
    for bad in [
        "",
        ".",
        "..",
        "a/b",
        "../x",
        "a\\b",
        "nul\0",
        "tab\t",
        concord::storage::META_FILE_NAME,
    ] {
        assert!(check_file_name(bad).is_err(), "{bad:?}");
    }
    for good in ["state.bin", "data-0001", "ünïcode"] {
        assert!(check_file_name(good).is_ok(), "{good:?}");
    }
    let root = tempfile::tempdir().expect("temp dir");
    let mut storage = LocalSnapshotStorage::open(root.path(), group()).expect("open");
    let mut writer = storage
        .create(LogId::new(1, 1), configuration())
        .expect("create");
    assert!(matches!(
        writer.write_file("../escape", b"x").unwrap_err(),
        StorageError::InvalidArgument { .. }
    ));
    assert!(matches!(
        writer.reuse_file("x").unwrap_err(),
        StorageError::InvalidArgument { .. }
    ));
    assert!(!root.path().join("escape").exists());
}

/// A directory with a snapshot's name but no meta is not a snapshot (a writer's
/// temporary directory emptied under it, then renamed: a store reopened in the same
/// process while a stopped node's last commit still ran): the latest snapshot is the
/// committed one before it, not an error.
#[test]
fn a_snapshot_directory_without_its_meta_is_passed_over() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut storage = LocalSnapshotStorage::open(root.path(), group()).expect("open");
    let mut writer = storage
        .create(LogId::new(2, 100), configuration())
        .expect("create");
    writer.write_file("state.bin", b"state").expect("write");
    let meta = storage.commit(writer).expect("commit");
    let stray = storage
        .directory()
        .join(format!("snapshot_{:020}_{:010}", 200, 99));
    std::fs::create_dir(&stray).expect("stray directory");
    std::fs::write(stray.join("state.bin"), b"half").expect("stray file");
    let reader = storage.open_latest().expect("latest").expect("some");
    assert_eq!(reader.meta(), &meta);
    let reopened = LocalSnapshotStorage::open(root.path(), group()).expect("reopen");
    let reader = reopened.open_latest().expect("latest").expect("some");
    assert_eq!(reader.meta(), &meta);
}
