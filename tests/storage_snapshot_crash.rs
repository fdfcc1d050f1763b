//! Power loss at every step of a snapshot commit, on the simulated disk's file system
//! (`SimDisk::snapshot_fs`), where only what was fsynced survives: the store must come
//! back with either the old or the new snapshot, whole (every file's size and crc32c as
//! its meta says), and with the new one once `commit` returned. Both a snapshot saved by
//! a state machine (whole files) and one installed from a leader (chunks, a file reused
//! from the previous snapshot) are cut at each of their file-system changes, under
//! several seeds for what the unsynced state keeps.
//!
//! Teeth: the same sweep over a file system that skips file fsyncs (or directory fsyncs)
//! must find a torn or lost snapshot — the test that would notice a missing fsync before
//! the meta is committed.

use std::io;
use std::path::Path;
use std::sync::Arc;

use concord::core::{Configuration, ConfigurationEntry, GroupId, LogId};
use concord::storage::{
    LocalSnapshotStorage, SimDisk, SnapshotFs, SnapshotReader, SnapshotStorage, SnapshotWriter,
    META_FILE_NAME,
};

const ROOT: &str = "/data/snapshots";

fn group() -> GroupId {
    GroupId::new("snap").expect("valid group")
}

fn configuration() -> ConfigurationEntry<concord::core::PeerId> {
    ConfigurationEntry::stable(Configuration::with_voters([
        "10.0.0.1:8080".parse().expect("peer"),
        "10.0.0.2:8080".parse().expect("peer"),
    ]))
}

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// How the new snapshot is written.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// A state machine's save: whole files.
    Save,
    /// An install from a leader: chunks, and one file reused from the old snapshot.
    Install,
}

const OLD: LogId = LogId::new(2, 10);
const NEW: LogId = LogId::new(3, 20);

fn old_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![("data", bytes(1, 3000)), ("index", bytes(2, 500))]
}

fn new_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("data", bytes(3, 4000)),
        ("index", bytes(2, 500)),
        ("extra", bytes(4, 0)),
    ]
}

/// A file system that drops some fsyncs (the broken variants).
#[derive(Debug)]
struct Skipping {
    inner: Arc<dyn SnapshotFs>,
    files: bool,
    /// With `files`: the meta file is still synced (only the data files are not).
    meta_synced: bool,
    dirs: bool,
}

impl SnapshotFs for Skipping {
    fn is_native(&self) -> bool {
        false
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(path)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.inner.write(path, data)
    }
    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.inner.append(path, data)
    }
    fn read_at(&self, path: &Path, offset: u64, max_len: usize) -> io::Result<Vec<u8>> {
        self.inner.read_at(path, offset, max_len)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }
    fn len(&self, path: &Path) -> io::Result<u64> {
        self.inner.len(path)
    }
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        let meta = path.file_name() == Some(META_FILE_NAME.as_ref());
        if self.files && !(meta && self.meta_synced) {
            Ok(())
        } else {
            self.inner.sync_file(path)
        }
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        if self.dirs {
            Ok(())
        } else {
            self.inner.sync_dir(path)
        }
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.hard_link(from, to)
    }
    fn copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.copy(from, to)
    }
}

/// Which fsyncs the file system honours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fsyncs {
    All,
    NoFileSyncs,
    NoDataFileSyncs,
    NoDirSyncs,
}

fn fs_of(disk: &SimDisk, fsyncs: Fsyncs) -> Arc<dyn SnapshotFs> {
    let inner: Arc<dyn SnapshotFs> = Arc::new(disk.snapshot_fs());
    match fsyncs {
        Fsyncs::All => inner,
        Fsyncs::NoFileSyncs | Fsyncs::NoDataFileSyncs => Arc::new(Skipping {
            inner,
            files: true,
            meta_synced: fsyncs == Fsyncs::NoDataFileSyncs,
            dirs: false,
        }),
        Fsyncs::NoDirSyncs => Arc::new(Skipping {
            inner,
            files: false,
            meta_synced: false,
            dirs: true,
        }),
    }
}

/// A disk holding the old snapshot, durably.
fn disk_with_old(fsyncs: Fsyncs) -> SimDisk {
    let disk = SimDisk::new();
    let mut storage =
        LocalSnapshotStorage::open_on(fs_of(&disk, fsyncs), ROOT, group()).expect("open");
    let mut writer = storage.create(OLD, configuration()).expect("create");
    for (name, data) in old_files() {
        writer.write_file(name, &data).expect("write");
    }
    storage.commit(writer).expect("commit old");
    disk
}

/// Writes and commits the new snapshot; `Ok(true)` when the commit returned.
fn write_new(disk: &SimDisk, shape: Shape, fsyncs: Fsyncs) -> Result<bool, String> {
    let mut storage = LocalSnapshotStorage::open_on(fs_of(disk, fsyncs), ROOT, group())
        .map_err(|e| e.to_string())?;
    let mut writer = storage
        .create(NEW, configuration())
        .map_err(|e| e.to_string())?;
    for (name, data) in new_files() {
        match shape {
            Shape::Save => writer.write_file(name, &data),
            Shape::Install if name == "index" => writer.reuse_file(name),
            Shape::Install => {
                let mut result = writer.append_chunk(name, 0, &[]);
                for (i, piece) in data.chunks(1024).enumerate() {
                    if result.is_err() {
                        break;
                    }
                    result = writer.append_chunk(name, (i * 1024) as u64, piece);
                }
                result
            }
        }
        .map_err(|e| e.to_string())?;
    }
    storage.commit(writer).map_err(|e| e.to_string())?;
    Ok(true)
}

/// What a reopened store holds after the power came back: `Ok(last included)` for a
/// whole snapshot, `Err` for anything else.
fn recovered(disk: &SimDisk) -> Result<LogId, String> {
    disk.power_on();
    let storage = LocalSnapshotStorage::open_on(Arc::new(disk.snapshot_fs()), ROOT, group())
        .map_err(|e| format!("reopen failed: {e}"))?;
    let reader = storage
        .open_latest()
        .map_err(|e| format!("latest unreadable: {e}"))?
        .ok_or("no snapshot at all")?;
    reader.verify().map_err(|e| format!("torn: {e}"))?;
    let last = reader.meta().last_included;
    let expected = if last == OLD {
        old_files()
    } else {
        new_files()
    };
    let mut names: Vec<String> = reader.list_files();
    names.sort();
    let mut wanted: Vec<String> = expected.iter().map(|(n, _)| n.to_string()).collect();
    wanted.sort();
    if names != wanted {
        return Err(format!("files {names:?}, expected {wanted:?}"));
    }
    for (name, data) in expected {
        let read = reader
            .read_chunk(name, 0, usize::MAX)
            .map_err(|e| format!("read {name}: {e}"))?;
        if read != data {
            return Err(format!("{name} differs"));
        }
    }
    Ok(last)
}

/// Cuts the power at every file-system change of the new snapshot's write and commit
/// (and once more after it returned), under `seeds` seeds each. Returns the failures
/// and how often the old and the new snapshot came back.
fn sweep(shape: Shape, fsyncs: Fsyncs, seeds: u64) -> (Vec<String>, usize, usize) {
    // How many changes the write and commit make.
    let probe = disk_with_old(fsyncs);
    let before = probe.fs_changes();
    write_new(&probe, shape, fsyncs).expect("an uncut commit succeeds");
    let changes = probe.fs_changes() - before;
    let (mut failures, mut old, mut new) = (Vec::new(), 0, 0);
    for cut in 0..=changes {
        for seed in 0..seeds {
            let disk = disk_with_old(fsyncs);
            disk.cut_power_after(cut, seed);
            let returned = write_new(&disk, shape, fsyncs).unwrap_or(false);
            if returned {
                // The commit finished before the cut: the power goes now.
                disk.crash(seed).expect("crash");
            }
            match recovered(&disk) {
                Ok(last) if last == NEW => new += 1,
                Ok(last) if returned => failures.push(format!(
                    "{shape:?} cut after {cut} of {changes} changes, seed {seed}: commit \
                     returned, but the store came back with {last:?}"
                )),
                Ok(_) => old += 1,
                Err(error) => failures.push(format!(
                    "{shape:?} cut after {cut} of {changes} changes, seed {seed}: {error}"
                )),
            }
        }
    }
    (failures, old, new)
}

#[test]
fn a_power_cut_at_any_step_of_a_commit_leaves_the_old_or_the_new_snapshot_whole() {
    for shape in [Shape::Save, Shape::Install] {
        let (failures, old, new) = sweep(shape, Fsyncs::All, 8);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        // The sweep reaches both outcomes.
        assert!(old > 0 && new > 0, "{shape:?}: old {old}, new {new}");
    }
}

#[test]
fn teeth_a_commit_without_file_fsyncs_leaves_a_torn_snapshot() {
    for shape in [Shape::Save, Shape::Install] {
        let (failures, _, _) = sweep(shape, Fsyncs::NoFileSyncs, 8);
        // Torn files, or a meta that does not decode.
        assert!(
            failures
                .iter()
                .any(|f| f.contains("torn") || f.contains("unreadable")),
            "{shape:?}: skipping file fsyncs went unnoticed: {:?}",
            &failures[..failures.len().min(3)]
        );
    }
}

#[test]
fn teeth_a_commit_that_syncs_the_meta_but_not_the_files_leaves_a_torn_snapshot() {
    for shape in [Shape::Save, Shape::Install] {
        let (failures, _, _) = sweep(shape, Fsyncs::NoDataFileSyncs, 8);
        assert!(
            failures.iter().any(|f| f.contains("torn")),
            "{shape:?}: unsynced snapshot files went unnoticed: {:?}",
            &failures[..failures.len().min(3)]
        );
    }
}

#[test]
fn teeth_a_commit_without_directory_fsyncs_loses_a_committed_snapshot() {
    let (failures, _, _) = sweep(Shape::Save, Fsyncs::NoDirSyncs, 8);
    assert!(
        failures.iter().any(|f| f.contains("commit returned")),
        "skipping directory fsyncs went unnoticed: {:?}",
        &failures[..failures.len().min(3)]
    );
}

#[test]
fn a_wiped_disk_has_no_snapshots_and_a_durable_view_sees_only_synced_data() {
    let disk = disk_with_old(Fsyncs::All);
    // Unsynced: a file written into a new directory nobody synced.
    let fs = disk.snapshot_fs();
    fs.create_dir(Path::new("/data/loose")).expect("mkdir");
    fs.write(Path::new("/data/loose/f"), b"x").expect("write");
    let durable = disk.durable_snapshot_fs();
    assert!(durable.list_dir(Path::new("/data/loose")).is_err());
    assert!(
        durable.write(Path::new("/data/y"), b"y").is_err(),
        "read-only"
    );
    let view = LocalSnapshotStorage::read_only_on(Arc::new(durable), ROOT, group());
    assert_eq!(
        view.open_latest()
            .expect("latest")
            .expect("some")
            .meta()
            .last_included,
        OLD
    );
    disk.wipe();
    let storage = LocalSnapshotStorage::open_on(Arc::new(disk.snapshot_fs()), ROOT, group())
        .expect("open on a wiped disk");
    assert!(storage.open_latest().expect("latest").is_none());
}
