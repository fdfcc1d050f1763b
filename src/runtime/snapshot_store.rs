//! The runtime's snapshot port: where a node keeps its snapshots (JRaft's
//! `snapshotUri`, F11), in one object-safe trait with two implementations.
//!
//! - [`LocalSnapshotStore`]: directories on the local file system
//!   ([`crate::storage::LocalSnapshotStorage`]: files fsynced, then the meta, then an
//!   atomic rename; a crash leaves the old or the new snapshot, never a torn one), or on
//!   a simulated disk's file system ([`LocalSnapshotStore::open_on`]), where power loss
//!   is simulated.
//! - [`MemorySnapshotStore`]: in memory, durable for the life of the value (clone the
//!   handle into a restarted node to keep its snapshots; [`MemorySnapshotStore::wipe`]
//!   loses them). Tests, benchmarks and the chaos suite, whose simulated disks it
//!   accompanies.
//!
//! A snapshot is the core's [`SnapshotMeta`](crate::core::SnapshotMeta) (last included
//! entry, configuration) plus named files the state machine writes through a
//! [`SnapshotSink`] and reads back through a [`SnapshotSource`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use crate::core::{ConfigurationEntry, GroupId, LogId, PeerId};
use crate::storage::{
    check_file_name, LocalSnapshotReader, LocalSnapshotStorage, LocalSnapshotWriter, RealFs,
    SnapshotFileMeta, SnapshotFs, SnapshotMeta, SnapshotReader, SnapshotStorage, SnapshotWriter,
    StorageError,
};

/// Where a node keeps its snapshots. One store per group; shared by the node's tasks.
///
/// `commit` is atomic and durable: after it returns the snapshot survives a crash, and
/// a crash before it returns leaves the previous snapshot in place. A snapshot of a
/// greater index than the one committed is never replaced by it.
pub trait SnapshotStore: Send + Sync + std::fmt::Debug + 'static {
    /// The meta of the latest committed snapshot, if any.
    fn latest(&self) -> Result<Option<SnapshotMeta>, StorageError>;
    /// Starts writing a snapshot that covers the log through `last_included`.
    fn create(
        &self,
        last_included: LogId,
        configuration: ConfigurationEntry<PeerId>,
    ) -> Result<SnapshotSink, StorageError>;
    /// Makes `sink` durable and the latest snapshot, unless a snapshot of a greater
    /// index is already committed (then `sink` is discarded). Returns the latest meta.
    fn commit(&self, sink: SnapshotSink) -> Result<SnapshotMeta, StorageError>;
    /// Opens the latest committed snapshot for reading.
    fn open_latest(&self) -> Result<Option<SnapshotSource>, StorageError>;
    /// Opens the snapshot ending at `last_included`, if the store still holds it (the
    /// latest, or the one before it, which a store keeps until the next commit so that
    /// a transfer or a load that began before a commit can finish).
    fn open_at(&self, last_included: LogId) -> Result<Option<SnapshotSource>, StorageError>;
    /// Filter-before-copy (braft): false when the latest snapshot holds a file `name`
    /// with checksum `crc32c`, which a sink can take over with `reuse_file`.
    fn needs_file(&self, name: &str, crc32c: u32) -> Result<bool, StorageError>;
}

/// A snapshot being written: the state machine's save writes its files here.
///
/// Files are written whole ([`SnapshotWriter::write_file`]) or in order, chunk by chunk
/// ([`SnapshotWriter::append_chunk`]). A file name is one plain path component
/// ([`check_file_name`]).
pub struct SnapshotSink {
    inner: SinkInner,
}

enum SinkInner {
    Local(Box<LocalSnapshotWriter>),
    Memory(MemorySink),
}

impl std::fmt::Debug for SnapshotSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotSink")
            .field("last_included", &self.last_included())
            .finish()
    }
}

impl SnapshotSink {
    /// The last entry the snapshot covers.
    pub fn last_included(&self) -> LogId {
        match &self.inner {
            SinkInner::Local(writer) => writer.last_included(),
            SinkInner::Memory(sink) => sink.last_included,
        }
    }

    /// On a file-system store, the directory being written: a state machine that
    /// produces its files elsewhere (a database checkpoint) may place them here and
    /// register each with `append_chunk(name, size, &[])` (their checksums are then
    /// read back at commit). A file written through the sink must not be changed
    /// through the directory afterwards. `None` for an in-memory store or one on a
    /// simulated disk.
    pub fn directory(&self) -> Option<&Path> {
        match &self.inner {
            SinkInner::Local(writer) => writer.is_native().then(|| writer.directory()),
            SinkInner::Memory(_) => None,
        }
    }

    /// Whether `reuse_file(name)` would take over a file with checksum `crc32c` from
    /// the snapshot this sink builds on (the latest when it was created).
    pub fn can_reuse(&self, name: &str, crc32c: u32) -> bool {
        match &self.inner {
            SinkInner::Local(writer) => writer.can_reuse(name, crc32c),
            SinkInner::Memory(sink) => sink
                .base
                .as_ref()
                .and_then(|base| base.meta.file(name))
                .is_some_and(|file| file.crc32c == crc32c),
        }
    }

    /// The bytes written to `name` so far (0 for a file not started).
    pub fn written(&self, name: &str) -> u64 {
        match &self.inner {
            SinkInner::Local(writer) => writer.written(name),
            SinkInner::Memory(sink) => sink.files.get(name).map_or(0, |data| data.len() as u64),
        }
    }
}

impl SnapshotWriter for SnapshotSink {
    fn write_file(&mut self, name: &str, data: &[u8]) -> Result<(), StorageError> {
        match &mut self.inner {
            SinkInner::Local(writer) => writer.write_file(name, data),
            SinkInner::Memory(sink) => {
                sink.check_name(name)?;
                sink.files.insert(name.to_string(), data.to_vec());
                Ok(())
            }
        }
    }

    fn append_chunk(&mut self, name: &str, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        match &mut self.inner {
            SinkInner::Local(writer) => writer.append_chunk(name, offset, data),
            SinkInner::Memory(sink) => {
                sink.check_name(name)?;
                let file = sink.files.entry(name.to_string()).or_default();
                if offset != file.len() as u64 {
                    return Err(memory_invalid(format!(
                        "chunk of {name:?} at offset {offset}, but {} bytes are written",
                        file.len()
                    )));
                }
                file.extend_from_slice(data);
                Ok(())
            }
        }
    }

    fn reuse_file(&mut self, name: &str) -> Result<(), StorageError> {
        match &mut self.inner {
            SinkInner::Local(writer) => writer.reuse_file(name),
            SinkInner::Memory(sink) => {
                sink.check_name(name)?;
                let data = sink
                    .base
                    .as_ref()
                    .and_then(|base| base.files.get(name))
                    .ok_or_else(|| {
                        memory_invalid(format!("no committed snapshot to reuse {name:?} from"))
                    })?;
                sink.files.insert(name.to_string(), data.to_vec());
                Ok(())
            }
        }
    }
}

/// A committed snapshot, opened for reading: the state machine's load reads its files
/// here, and a leader serves them to followers from here.
pub struct SnapshotSource {
    inner: SourceInner,
}

enum SourceInner {
    Local(Box<LocalSnapshotReader>),
    Memory(Arc<MemorySnapshot>),
}

impl std::fmt::Debug for SnapshotSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotSource")
            .field("meta", self.meta())
            .finish()
    }
}

impl SnapshotSource {
    /// On a file-system store, the snapshot's directory (a state machine may open its
    /// files there directly). `None` for an in-memory store or one on a simulated disk.
    pub fn directory(&self) -> Option<&Path> {
        match &self.inner {
            SourceInner::Local(reader) => reader.is_native().then(|| reader.directory()),
            SourceInner::Memory(_) => None,
        }
    }

    /// The whole file `name`, checked against the size and checksum in the meta.
    pub fn read_file(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        let Some(file) = self.meta().file(name) else {
            return Err(source_invalid(format!("snapshot has no file {name:?}")));
        };
        let mut data = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
        while (data.len() as u64) < file.size {
            let chunk = self.read_chunk(name, data.len() as u64, 4 * 1024 * 1024)?;
            if chunk.is_empty() {
                break;
            }
            data.extend_from_slice(&chunk);
        }
        if data.len() as u64 != file.size || crc32c::crc32c(&data) != file.crc32c {
            return Err(StorageError::CorruptMeta {
                store: "snapshot".into(),
                group: GroupId("-".into()),
                record: format!("snapshot file {name}"),
                reason: format!(
                    "read {} bytes with crc {:#010x}; the meta says {} bytes, crc {:#010x}",
                    data.len(),
                    crc32c::crc32c(&data),
                    file.size,
                    file.crc32c
                ),
            });
        }
        Ok(data)
    }
}

impl SnapshotReader for SnapshotSource {
    fn meta(&self) -> &SnapshotMeta {
        match &self.inner {
            SourceInner::Local(reader) => reader.meta(),
            SourceInner::Memory(snapshot) => &snapshot.meta,
        }
    }

    fn read_chunk(&self, name: &str, offset: u64, max_len: usize) -> Result<Vec<u8>, StorageError> {
        match &self.inner {
            SourceInner::Local(reader) => reader.read_chunk(name, offset, max_len),
            SourceInner::Memory(snapshot) => {
                let Some(data) = snapshot.files.get(name) else {
                    return Err(source_invalid(format!("snapshot has no file {name:?}")));
                };
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let end = start.saturating_add(max_len).min(data.len());
                Ok(data[start..end].to_vec())
            }
        }
    }
}

fn source_invalid(reason: String) -> StorageError {
    StorageError::InvalidArgument {
        store: "snapshot".into(),
        group: GroupId("-".into()),
        reason,
    }
}

fn memory_invalid(reason: String) -> StorageError {
    StorageError::InvalidArgument {
        store: "memory-snapshot".into(),
        group: GroupId("-".into()),
        reason,
    }
}

/// Snapshots in a directory tree on the local file system (see
/// [`LocalSnapshotStorage`] for the layout and the commit protocol).
///
/// ```
/// use concord::core::{Configuration, ConfigurationEntry, GroupId, LogId, PeerId};
/// use concord::runtime::{LocalSnapshotStore, SnapshotStore};
/// use concord::storage::{SnapshotReader, SnapshotWriter};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("concord-snapdoc-{}", std::process::id()));
/// let store = LocalSnapshotStore::open(&dir, GroupId::new("counter")?)?;
/// let peer: PeerId = "127.0.0.1:8081".parse()?;
/// let mut sink = store.create(LogId::new(3, 42), ConfigurationEntry::stable(Configuration::with_voters([peer])))?;
/// sink.write_file("state", b"42")?;
/// store.commit(sink)?;
/// let snapshot = store.open_latest()?.expect("committed");
/// assert_eq!(snapshot.meta().last_included, LogId::new(3, 42));
/// assert_eq!(snapshot.read_file("state")?, b"42");
/// # drop(snapshot);
/// # drop(store);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct LocalSnapshotStore {
    /// Creates and commits (a commit holds it through its fsyncs).
    storage: Mutex<LocalSnapshotStorage>,
    /// Reads, without waiting for a commit: a leader serving chunks while it commits a
    /// large snapshot goes on serving them.
    reads: LocalSnapshotStorage,
}

impl LocalSnapshotStore {
    /// Opens (creating) `<root>/<group>`, removing what an interrupted write left.
    pub fn open(
        root: impl AsRef<Path>,
        group: GroupId,
    ) -> Result<LocalSnapshotStore, StorageError> {
        LocalSnapshotStore::open_on(Arc::new(RealFs), root, group)
    }

    /// As [`LocalSnapshotStore::open`], on the file system `fs`: a simulated disk's
    /// ([`crate::storage::SimDisk::snapshot_fs`]), where a power loss keeps only what the
    /// commit protocol fsynced (the chaos suite runs its nodes' snapshots there).
    pub fn open_on(
        fs: Arc<dyn SnapshotFs>,
        root: impl AsRef<Path>,
        group: GroupId,
    ) -> Result<LocalSnapshotStore, StorageError> {
        let storage = LocalSnapshotStorage::open_on(fs, root, group)?;
        Ok(LocalSnapshotStore {
            reads: storage.read_view(),
            storage: Mutex::new(storage),
        })
    }

    fn storage(&self) -> std::sync::MutexGuard<'_, LocalSnapshotStorage> {
        self.storage.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SnapshotStore for LocalSnapshotStore {
    fn latest(&self) -> Result<Option<SnapshotMeta>, StorageError> {
        Ok(self
            .reads
            .open_latest()?
            .map(|reader| reader.meta().clone()))
    }

    fn create(
        &self,
        last_included: LogId,
        configuration: ConfigurationEntry<PeerId>,
    ) -> Result<SnapshotSink, StorageError> {
        let writer = self.storage().create(last_included, configuration)?;
        Ok(SnapshotSink {
            inner: SinkInner::Local(Box::new(writer)),
        })
    }

    fn commit(&self, sink: SnapshotSink) -> Result<SnapshotMeta, StorageError> {
        match sink.inner {
            SinkInner::Local(writer) => self.storage().commit(*writer),
            SinkInner::Memory(_) => Err(source_invalid(
                "a sink of another store cannot be committed here".into(),
            )),
        }
    }

    fn open_latest(&self) -> Result<Option<SnapshotSource>, StorageError> {
        Ok(self.reads.open_latest()?.map(|reader| SnapshotSource {
            inner: SourceInner::Local(Box::new(reader)),
        }))
    }

    fn open_at(&self, last_included: LogId) -> Result<Option<SnapshotSource>, StorageError> {
        Ok(self
            .reads
            .open_at(last_included)?
            .map(|reader| SnapshotSource {
                inner: SourceInner::Local(Box::new(reader)),
            }))
    }

    fn needs_file(&self, name: &str, crc32c: u32) -> Result<bool, StorageError> {
        self.reads.needs_file(name, crc32c)
    }
}

/// Snapshots in memory, durable for the life of the value (and of its clones, which
/// share it). A node restarted with a clone finds its snapshots; [`Self::wipe`] loses
/// them, as a replaced disk would.
#[derive(Clone, Debug, Default)]
pub struct MemorySnapshotStore {
    snapshots: Arc<Mutex<Retained>>,
}

/// The latest snapshot and the one before it.
#[derive(Debug, Default)]
struct Retained {
    latest: Option<Arc<MemorySnapshot>>,
    previous: Option<Arc<MemorySnapshot>>,
}

#[derive(Debug)]
struct MemorySnapshot {
    meta: SnapshotMeta,
    files: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug)]
struct MemorySink {
    last_included: LogId,
    configuration: ConfigurationEntry<PeerId>,
    files: BTreeMap<String, Vec<u8>>,
    base: Option<Arc<MemorySnapshot>>,
}

impl MemorySink {
    fn check_name(&self, name: &str) -> Result<(), StorageError> {
        check_file_name(name).map_err(memory_invalid)
    }
}

impl MemorySnapshotStore {
    /// An empty store.
    pub fn new() -> Self {
        MemorySnapshotStore::default()
    }

    /// Loses every snapshot (a wiped or replaced disk).
    pub fn wipe(&self) {
        *self.lock() = Retained::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Retained> {
        self.snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl SnapshotStore for MemorySnapshotStore {
    fn latest(&self) -> Result<Option<SnapshotMeta>, StorageError> {
        Ok(self
            .lock()
            .latest
            .as_ref()
            .map(|snapshot| snapshot.meta.clone()))
    }

    fn create(
        &self,
        last_included: LogId,
        configuration: ConfigurationEntry<PeerId>,
    ) -> Result<SnapshotSink, StorageError> {
        Ok(SnapshotSink {
            inner: SinkInner::Memory(MemorySink {
                last_included,
                configuration,
                files: BTreeMap::new(),
                base: self.lock().latest.clone(),
            }),
        })
    }

    fn commit(&self, sink: SnapshotSink) -> Result<SnapshotMeta, StorageError> {
        let SinkInner::Memory(sink) = sink.inner else {
            return Err(memory_invalid(
                "a sink of another store cannot be committed here".into(),
            ));
        };
        let mut retained = self.lock();
        if let Some(current) = retained.latest.as_ref() {
            if current.meta.last_included.index > sink.last_included.index {
                return Ok(current.meta.clone());
            }
        }
        let files = sink
            .files
            .iter()
            .map(|(name, data)| SnapshotFileMeta {
                name: name.clone(),
                size: data.len() as u64,
                crc32c: crc32c::crc32c(data),
            })
            .collect();
        let meta = SnapshotMeta {
            last_included: sink.last_included,
            configuration: sink.configuration,
            files,
        };
        let new = Some(Arc::new(MemorySnapshot {
            meta: meta.clone(),
            files: sink.files,
        }));
        retained.previous = std::mem::replace(&mut retained.latest, new);
        Ok(meta)
    }

    fn open_latest(&self) -> Result<Option<SnapshotSource>, StorageError> {
        Ok(self.lock().latest.clone().map(|snapshot| SnapshotSource {
            inner: SourceInner::Memory(snapshot),
        }))
    }

    fn open_at(&self, last_included: LogId) -> Result<Option<SnapshotSource>, StorageError> {
        let retained = self.lock();
        let found = [&retained.latest, &retained.previous]
            .into_iter()
            .flatten()
            .find(|snapshot| snapshot.meta.last_included == last_included)
            .cloned();
        Ok(found.map(|snapshot| SnapshotSource {
            inner: SourceInner::Memory(snapshot),
        }))
    }

    fn needs_file(&self, name: &str, crc32c: u32) -> Result<bool, StorageError> {
        check_file_name(name).map_err(memory_invalid)?;
        Ok(self
            .lock()
            .latest
            .as_ref()
            .and_then(|snapshot| snapshot.meta.file(name))
            .is_none_or(|file| file.crc32c != crc32c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configuration() -> ConfigurationEntry<PeerId> {
        ConfigurationEntry::stable(crate::core::Configuration::with_voters(["127.0.0.1:1"
            .parse::<PeerId>()
            .unwrap()]))
    }

    fn exercise(store: &dyn SnapshotStore) {
        assert!(store.latest().unwrap().is_none());
        let mut sink = store.create(LogId::new(1, 10), configuration()).unwrap();
        sink.write_file("a", b"alpha").unwrap();
        sink.append_chunk("b", 0, b"be").unwrap();
        sink.append_chunk("b", 2, b"ta").unwrap();
        assert!(sink.append_chunk("b", 9, b"x").is_err(), "a gap is refused");
        assert!(sink.write_file("../x", b"x").is_err());
        assert_eq!(sink.written("b"), 4);
        let meta = store.commit(sink).unwrap();
        assert_eq!(meta.last_included, LogId::new(1, 10));
        let source = store.open_latest().unwrap().unwrap();
        assert_eq!(source.read_file("b").unwrap(), b"beta");
        assert_eq!(source.read_chunk("a", 2, 2).unwrap(), b"ph");
        assert!(!store.needs_file("a", crc32c::crc32c(b"alpha")).unwrap());
        assert!(store.needs_file("a", 7).unwrap());
        // A newer one replaces it, reusing a file.
        let mut sink = store.create(LogId::new(2, 20), configuration()).unwrap();
        sink.reuse_file("a").unwrap();
        store.commit(sink).unwrap();
        let source = store.open_latest().unwrap().unwrap();
        assert_eq!(source.meta().last_included, LogId::new(2, 20));
        assert_eq!(source.read_file("a").unwrap(), b"alpha");
        assert!(source.read_file("b").is_err());
        // The one before stays readable; older ones go.
        let previous = store.open_at(LogId::new(1, 10)).unwrap().unwrap();
        assert_eq!(previous.read_file("b").unwrap(), b"beta");
        assert!(store.open_at(LogId::new(9, 10)).unwrap().is_none());
        let mut third = store.create(LogId::new(2, 30), configuration()).unwrap();
        assert!(third.can_reuse("a", crc32c::crc32c(b"alpha")));
        assert!(!third.can_reuse("a", 1));
        third.write_file("a", b"x").unwrap();
        store.commit(third).unwrap();
        assert!(store.open_at(LogId::new(1, 10)).unwrap().is_none());
        assert!(store.open_at(LogId::new(2, 20)).unwrap().is_some());
        // An older one committed later is discarded: the newer stays.
        let mut older = store.create(LogId::new(1, 15), configuration()).unwrap();
        older.write_file("c", b"c").unwrap();
        let meta = store.commit(older).unwrap();
        assert_eq!(meta.last_included, LogId::new(2, 30));
        assert_eq!(
            store.latest().unwrap().unwrap().last_included,
            LogId::new(2, 30)
        );
    }

    /// A reused file is a hard link into the committed snapshot: writing it must not
    /// change that snapshot. A file placed in the directory and then appended to gets
    /// its checksum read back at commit.
    #[test]
    fn local_sinks_leave_the_base_alone_and_checksum_what_they_did_not_see() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalSnapshotStore::open(dir.path(), GroupId::new("g").unwrap()).unwrap();
        let mut sink = store.create(LogId::new(1, 10), configuration()).unwrap();
        sink.write_file("a", b"alpha").unwrap();
        sink.write_file("b", b"beta").unwrap();
        store.commit(sink).unwrap();
        let mut sink = store.create(LogId::new(1, 20), configuration()).unwrap();
        sink.reuse_file("a").unwrap();
        sink.write_file("a", b"changed").unwrap();
        sink.reuse_file("b").unwrap();
        sink.append_chunk("b", 4, b"-more").unwrap();
        let placed = sink.directory().unwrap().join("c");
        std::fs::write(&placed, b"placed").unwrap();
        sink.append_chunk("c", 6, b"+tail").unwrap();
        store.commit(sink).unwrap();
        let base = store.open_at(LogId::new(1, 10)).unwrap().unwrap();
        assert_eq!(base.read_file("a").unwrap(), b"alpha");
        assert_eq!(base.read_file("b").unwrap(), b"beta");
        let latest = store.open_latest().unwrap().unwrap();
        assert_eq!(latest.read_file("a").unwrap(), b"changed");
        assert_eq!(latest.read_file("b").unwrap(), b"beta-more");
        assert_eq!(latest.read_file("c").unwrap(), b"placed+tail");
    }

    #[test]
    fn memory_store_commits_reads_reuses_and_keeps_the_newer() {
        let store = MemorySnapshotStore::new();
        exercise(&store);
        let clone = store.clone();
        store.wipe();
        assert!(clone.latest().unwrap().is_none());
    }

    #[test]
    fn local_store_commits_reads_reuses_and_keeps_the_newer() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalSnapshotStore::open(dir.path(), GroupId::new("g").unwrap()).unwrap();
        exercise(&store);
        drop(store);
        let reopened = LocalSnapshotStore::open(dir.path(), GroupId::new("g").unwrap()).unwrap();
        assert_eq!(
            reopened.latest().unwrap().unwrap().last_included,
            LogId::new(2, 30)
        );
    }
}
