//! Snapshots: a directory of files plus meta, written atomically (JRAFT_GUIDE_NOTES F11).
//!
//! # Layout of [`LocalSnapshotStorage`]
//!
//! ```text
//! <root>/<group>/snapshot_<index:020>_<seq:010>/   one committed snapshot
//!     __snapshot_meta                              last included, configuration, files
//!     <file> ...                                   the state machine's files
//! <root>/<group>/temp_<seq:010>/                   a snapshot being written
//! ```
//!
//! Commit protocol: fsync every file, write and fsync the meta, fsync the temporary
//! directory, rename it to its final name, fsync the group directory. Only then are
//! older snapshots removed (all but the one before the new one, which stays readable for
//! a transfer or a load that began before the commit), so a crash at any point leaves
//! either the old or the new snapshot complete. A writer removes its temporary directory
//! when dropped uncommitted; `open` removes those a crash left. `seq` grows with every commit, so
//! re-snapshotting at the same index never renames onto an existing directory; the
//! latest snapshot is the greatest `(index, seq)`.
//!
//! The store runs on a [`SnapshotFs`]: the real file system ([`RealFs`], what
//! [`LocalSnapshotStorage::open`] uses) or a simulated disk's
//! ([`super::SimDisk::snapshot_fs`]), where a power loss keeps only what was fsynced, so
//! the commit protocol above is tested against power loss at each of its steps
//! (`tests/storage_snapshot_crash.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::core::{ConfigurationEntry, GroupId, LogId, PeerId};

use super::codec;
use super::error::{Result, StorageError};
use super::fs::{RealFs, SnapshotFs};
use super::rules::Context;

/// The name of the meta file inside a snapshot directory (reserved).
pub const META_FILE_NAME: &str = "__snapshot_meta";

const SNAPSHOT_PREFIX: &str = "snapshot_";
const TEMP_PREFIX: &str = "temp_";

/// One file of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SnapshotFileMeta {
    /// The file name (a single path component).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// crc32c of its contents.
    pub crc32c: u32,
}

/// What a snapshot covers and holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// The last log entry the snapshot includes.
    pub last_included: LogId,
    /// The membership in force at `last_included`.
    pub configuration: ConfigurationEntry<PeerId>,
    /// The files, sorted by name.
    pub files: Vec<SnapshotFileMeta>,
}

impl SnapshotMeta {
    /// The meta of the file called `name`, if the snapshot has one.
    pub fn file(&self, name: &str) -> Option<&SnapshotFileMeta> {
        self.files.iter().find(|file| file.name == name)
    }
}

/// Where a group's snapshots live.
///
/// Thread-safety: `Send`; `commit` takes `&mut self`, so one owner (the runtime's
/// snapshot task) serialises commits. Readers are independent values.
pub trait SnapshotStorage: Send {
    /// A snapshot being written.
    type Writer: SnapshotWriter;
    /// A committed snapshot.
    type Reader: SnapshotReader;

    /// Starts a new snapshot.
    fn create(
        &mut self,
        last_included: LogId,
        configuration: ConfigurationEntry<PeerId>,
    ) -> Result<Self::Writer>;

    /// Makes the snapshot durable and the latest, then removes older ones. If a snapshot
    /// of a greater index is already committed, it stays the latest and this one is
    /// discarded. Returns the meta of the latest snapshot afterwards.
    fn commit(&mut self, writer: Self::Writer) -> Result<SnapshotMeta>;

    /// The latest committed snapshot, if any.
    fn open_latest(&self) -> Result<Option<Self::Reader>>;

    /// Filter-before-copy (braft): false when the latest snapshot already has a file
    /// called `name` with checksum `crc32c`, which a writer can then take over with
    /// [`SnapshotWriter::reuse_file`] instead of copying it from a peer.
    fn needs_file(&self, name: &str, crc32c: u32) -> Result<bool>;
}

/// Writes the files of one snapshot.
pub trait SnapshotWriter: Send {
    /// Writes a whole file.
    fn write_file(&mut self, name: &str, data: &[u8]) -> Result<()>;

    /// Appends a chunk to a file (chunked transfer); `offset` must equal the bytes
    /// written to that file so far.
    fn append_chunk(&mut self, name: &str, offset: u64, data: &[u8]) -> Result<()>;

    /// Takes the file `name` over from the latest committed snapshot.
    fn reuse_file(&mut self, name: &str) -> Result<()>;
}

/// Reads a committed snapshot.
pub trait SnapshotReader: Send {
    /// The snapshot's meta.
    fn meta(&self) -> &SnapshotMeta;

    /// The names of its files.
    fn list_files(&self) -> Vec<String> {
        self.meta()
            .files
            .iter()
            .map(|file| file.name.clone())
            .collect()
    }

    /// Up to `max_len` bytes of `name` from `offset` (empty at or past the end).
    fn read_chunk(&self, name: &str, offset: u64, max_len: usize) -> Result<Vec<u8>>;
}

/// Checks that `name` is a plain, portable file name: not empty, at most 255 bytes, no
/// `/`, `\`, NUL or control characters, not `.` or `..`, and not the meta file's name.
pub fn check_file_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err(format!("file name {name:?} must be 1 to 255 bytes"));
    }
    if name == "." || name == ".." || name == META_FILE_NAME {
        return Err(format!("file name {name:?} is reserved"));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == '\\' || c == '\0' || c.is_control())
    {
        return Err(format!(
            "file name {name:?} contains a path separator or control character"
        ));
    }
    Ok(())
}

/// Snapshots in a local directory tree (see the module docs for the layout).
#[derive(Debug)]
pub struct LocalSnapshotStorage {
    fs: Arc<dyn SnapshotFs>,
    context: Context,
    directory: PathBuf,
    next_seq: u64,
    /// The first fsync failure; once set, `create` and `commit` refuse with `Fatal`.
    failed: std::sync::Mutex<Option<String>>,
}

fn parse_snapshot_dir(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix(SNAPSHOT_PREFIX)?;
    let (index, seq) = rest.split_once('_')?;
    Some((index.parse().ok()?, seq.parse().ok()?))
}

fn parse_temp_dir(name: &str) -> Option<u64> {
    name.strip_prefix(TEMP_PREFIX)?.parse().ok()
}

impl LocalSnapshotStorage {
    /// Opens (creating) `<root>/<group>` and removes temporary directories left by an
    /// interrupted write.
    pub fn open(root: impl AsRef<Path>, group: GroupId) -> Result<LocalSnapshotStorage> {
        LocalSnapshotStorage::open_on(Arc::new(RealFs), root, group)
    }

    /// As [`LocalSnapshotStorage::open`], on the file system `fs` (a simulated disk's,
    /// say).
    pub fn open_on(
        fs: Arc<dyn SnapshotFs>,
        root: impl AsRef<Path>,
        group: GroupId,
    ) -> Result<LocalSnapshotStorage> {
        let mut storage = LocalSnapshotStorage::read_only_on(fs, root, group);
        // Directories this open creates are made durable in their parents too, or a
        // power loss could take the whole store with them.
        let created: Vec<PathBuf> = storage
            .directory
            .ancestors()
            .take_while(|dir| !dir.as_os_str().is_empty() && storage.fs.list_dir(dir).is_err())
            .map(Path::to_path_buf)
            .collect();
        storage
            .fs
            .create_dir_all(&storage.directory)
            .map_err(|error| storage.io(&storage.directory, error))?;
        for parent in created.iter().filter_map(|dir| dir.parent()) {
            // A relative root's top directory lives in the working directory.
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            storage
                .fs
                .sync_dir(parent)
                .map_err(|error| storage.io(parent, error))?;
        }
        let mut max_seq = 0;
        for (name, path) in storage.list_dir()? {
            if let Some((_, seq)) = parse_snapshot_dir(&name) {
                max_seq = max_seq.max(seq);
            } else if let Some(seq) = parse_temp_dir(&name) {
                max_seq = max_seq.max(seq);
                storage
                    .fs
                    .remove_dir_all(&path)
                    .map_err(|error| storage.io(&path, error))?;
            }
        }
        storage.next_seq = max_seq + 1;
        storage
            .fs
            .sync_dir(&storage.directory)
            .map_err(|error| storage.io(&storage.directory, error))?;
        Ok(storage)
    }

    /// A handle that only reads (`open_latest`, `open_at`, `needs_file`) the snapshots
    /// under `<root>/<group>` on `fs`, changing nothing, not even at open: for checks
    /// that look at a node's store from outside (a simulated disk's durable view).
    pub fn read_only_on(
        fs: Arc<dyn SnapshotFs>,
        root: impl AsRef<Path>,
        group: GroupId,
    ) -> LocalSnapshotStorage {
        let directory = root.as_ref().join(group.as_str());
        let context = Context::new(format!("snapshot:{}", root.as_ref().display()), group);
        LocalSnapshotStorage {
            fs,
            context,
            directory,
            next_seq: 1,
            failed: std::sync::Mutex::new(None),
        }
    }

    /// A second handle on the same directory for reading (`open_latest`, `open_at`,
    /// `needs_file`) while this one commits: it does not clean up at open, and it must
    /// not be used to create or commit.
    pub fn read_view(&self) -> LocalSnapshotStorage {
        LocalSnapshotStorage {
            fs: self.fs.clone(),
            context: self.context.clone(),
            directory: self.directory.clone(),
            next_seq: self.next_seq,
            failed: std::sync::Mutex::new(None),
        }
    }

    /// The directory holding this group's snapshots.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    fn io(&self, path: &Path, error: std::io::Error) -> StorageError {
        StorageError::Io {
            store: self.context.store.clone(),
            path: path.display().to_string(),
            reason: error.to_string(),
        }
    }

    /// Records an fsync failure: after one, the durable state of the directory is
    /// unknown and the store refuses further writes (never retry an fsync).
    fn fatal(&self, path: &Path, error: std::io::Error) -> StorageError {
        let reason = format!("fsync of {} failed: {error}", path.display());
        let reason = match self.failed.lock() {
            Ok(mut failed) => failed.get_or_insert(reason).clone(),
            Err(_) => reason,
        };
        self.context.fatal(reason)
    }

    fn check_not_fatal(&self) -> Result<()> {
        match self.failed.lock().map(|failed| failed.clone()) {
            Ok(None) => Ok(()),
            Ok(Some(reason)) => Err(self.context.fatal(reason)),
            Err(_) => Err(self.context.fatal("snapshot store lock poisoned")),
        }
    }

    fn list_dir(&self) -> Result<Vec<(String, PathBuf)>> {
        let names = self
            .fs
            .list_dir(&self.directory)
            .map_err(|error| self.io(&self.directory, error))?;
        Ok(names
            .into_iter()
            .map(|name| {
                let path = self.directory.join(&name);
                (name, path)
            })
            .collect())
    }

    /// The latest committed snapshot's directory. A snapshot's name is given to a
    /// directory only once its meta is durable inside it, so a directory of that name
    /// without a meta is not a snapshot: what a writer left when its temporary directory
    /// was emptied under it (a store reopened in the same process while a stopped
    /// node's last commit was still running — seen in `tests/example_counter.rs`). It is
    /// passed over, not taken for the latest.
    fn latest_dir(&self) -> Result<Option<PathBuf>> {
        let mut snapshots: Vec<((u64, u64), PathBuf)> = self
            .list_dir()?
            .into_iter()
            .filter_map(|(name, path)| parse_snapshot_dir(&name).map(|key| (key, path)))
            .collect();
        snapshots.sort();
        Ok(snapshots
            .into_iter()
            .rev()
            .map(|(_, path)| path)
            .find(|path| self.fs.len(&path.join(META_FILE_NAME)).is_ok()))
    }

    fn read_meta(&self, directory: &Path) -> Result<SnapshotMeta> {
        let path = directory.join(META_FILE_NAME);
        let record = self.fs.read(&path).map_err(|error| self.io(&path, error))?;
        codec::snapshot::decode(&record).map_err(|e| StorageError::CorruptMeta {
            store: self.context.store.clone(),
            group: self.context.group.clone(),
            record: format!("snapshot meta {}", path.display()),
            reason: e.0,
        })
    }

    fn crc_of(&self, path: &Path) -> Result<(u64, u32)> {
        crc_of(&*self.fs, path).map_err(|error| self.io(path, error))
    }
}

/// Size and crc32c of a file, read in pieces.
fn crc_of(fs: &dyn SnapshotFs, path: &Path) -> std::io::Result<(u64, u32)> {
    const PIECE: usize = 1024 * 1024;
    let (mut size, mut crc) = (0u64, 0u32);
    loop {
        let piece = fs.read_at(path, size, PIECE)?;
        if piece.is_empty() {
            return Ok((size, crc));
        }
        crc = crc32c::crc32c_append(crc, &piece);
        size += piece.len() as u64;
    }
}

/// A snapshot being written into a temporary directory.
#[derive(Debug)]
pub struct LocalSnapshotWriter {
    fs: Arc<dyn SnapshotFs>,
    context: Context,
    directory: PathBuf,
    seq: u64,
    last_included: LogId,
    configuration: ConfigurationEntry<PeerId>,
    /// Bytes written so far per file.
    sizes: BTreeMap<String, u64>,
    /// crc32c of each file, for those whose every byte went through this writer (or
    /// were reused with a known checksum); the others are read back at commit.
    crcs: BTreeMap<String, u32>,
    /// Files that are hard links into the base snapshot (copied before a write).
    reused: std::collections::BTreeSet<String>,
    /// The latest committed snapshot when the writer was created (for reuse_file).
    base: Option<PathBuf>,
    /// Its meta.
    base_meta: Option<SnapshotMeta>,
}

impl Drop for LocalSnapshotWriter {
    /// An uncommitted writer removes its temporary directory (after a commit it has
    /// been renamed away, and this does nothing).
    fn drop(&mut self) {
        let _ = self.fs.remove_dir_all(&self.directory);
    }
}

impl LocalSnapshotWriter {
    /// The temporary directory; a state machine may also write files there directly
    /// (they must then be registered with [`SnapshotWriter::append_chunk`] of 0 bytes)
    /// when the store is on the real file system ([`Self::is_native`]).
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Whether [`Self::directory`] is a real directory (false on a simulated disk).
    pub fn is_native(&self) -> bool {
        self.fs.is_native()
    }

    /// The last entry the snapshot covers.
    pub fn last_included(&self) -> LogId {
        self.last_included
    }

    /// The bytes written to `name` so far (0 for a file not started).
    pub fn written(&self, name: &str) -> u64 {
        self.sizes.get(name).copied().unwrap_or(0)
    }

    /// Whether [`SnapshotWriter::reuse_file`] would take over a file `name` with
    /// checksum `crc32c` (the snapshot this writer reuses from holds it).
    pub fn can_reuse(&self, name: &str, crc32c: u32) -> bool {
        self.base_meta
            .as_ref()
            .and_then(|meta| meta.file(name))
            .is_some_and(|file| file.crc32c == crc32c)
    }

    fn check_name(&self, name: &str) -> Result<()> {
        check_file_name(name).map_err(|reason| self.context.invalid(reason))
    }

    fn io(&self, path: &Path, error: std::io::Error) -> StorageError {
        StorageError::Io {
            store: self.context.store.clone(),
            path: path.display().to_string(),
            reason: error.to_string(),
        }
    }
}

impl SnapshotWriter for LocalSnapshotWriter {
    fn write_file(&mut self, name: &str, data: &[u8]) -> Result<()> {
        self.check_name(name)?;
        let path = self.directory.join(name);
        // A reused file is a hard link into the committed snapshot: unlink it first, or
        // the write would change that snapshot too.
        if self.reused.remove(name) {
            self.fs
                .remove_file(&path)
                .map_err(|error| self.io(&path, error))?;
        }
        self.fs
            .write(&path, data)
            .map_err(|error| self.io(&path, error))?;
        self.sizes.insert(name.to_string(), data.len() as u64);
        self.crcs.insert(name.to_string(), crc32c::crc32c(data));
        Ok(())
    }

    fn append_chunk(&mut self, name: &str, offset: u64, data: &[u8]) -> Result<()> {
        self.check_name(name)?;
        let path = self.directory.join(name);
        if self.reused.contains(name) && !data.is_empty() {
            // Copy-on-write: appending to the hard link would change the committed
            // snapshot it shares its data with.
            let copy = self.directory.join(format!(".{name}.copy"));
            self.fs
                .copy(&path, &copy)
                .map_err(|error| self.io(&path, error))?;
            self.fs
                .rename(&copy, &path)
                .map_err(|error| self.io(&path, error))?;
            self.reused.remove(name);
        }
        let written = self.sizes.get(name).copied().unwrap_or(0);
        let on_disk = self.fs.len(&path).unwrap_or(0);
        let current = written.max(on_disk);
        if offset != current {
            return Err(self.context.invalid(format!(
                "chunk of {name:?} at offset {offset}, but {current} bytes are written"
            )));
        }
        self.fs
            .append(&path, data)
            .map_err(|error| self.io(&path, error))?;
        self.sizes
            .insert(name.to_string(), current + data.len() as u64);
        // The checksum extends only what this writer saw from the file's first byte;
        // once unknown (bytes written around it), `commit` reads the file back.
        match self.crcs.get(name).copied() {
            Some(crc) if written == current => {
                self.crcs
                    .insert(name.to_string(), crc32c::crc32c_append(crc, data));
            }
            None if current == 0 => {
                self.crcs.insert(name.to_string(), crc32c::crc32c(data));
            }
            _ => {
                self.crcs.remove(name);
            }
        }
        Ok(())
    }

    fn reuse_file(&mut self, name: &str) -> Result<()> {
        self.check_name(name)?;
        let Some(base) = &self.base else {
            return Err(self
                .context
                .invalid(format!("no committed snapshot to reuse {name:?} from")));
        };
        let source = base.join(name);
        let target = self.directory.join(name);
        if self.fs.hard_link(&source, &target).is_ok() {
            self.reused.insert(name.to_string());
        } else {
            self.fs
                .copy(&source, &target)
                .map_err(|error| self.io(&source, error))?;
        }
        let size = self
            .fs
            .len(&target)
            .map_err(|error| self.io(&target, error))?;
        self.sizes.insert(name.to_string(), size);
        match self.base_meta.as_ref().and_then(|meta| meta.file(name)) {
            Some(file) if file.size == size => {
                self.crcs.insert(name.to_string(), file.crc32c);
            }
            _ => {
                self.crcs.remove(name);
            }
        }
        Ok(())
    }
}

impl SnapshotStorage for LocalSnapshotStorage {
    type Writer = LocalSnapshotWriter;
    type Reader = LocalSnapshotReader;

    fn create(
        &mut self,
        last_included: LogId,
        configuration: ConfigurationEntry<PeerId>,
    ) -> Result<LocalSnapshotWriter> {
        self.check_not_fatal()?;
        let seq = self.next_seq;
        self.next_seq += 1;
        let directory = self.directory.join(format!("{TEMP_PREFIX}{seq:010}"));
        let latest = self.open_latest()?;
        self.fs
            .create_dir(&directory)
            .map_err(|error| self.io(&directory, error))?;
        Ok(LocalSnapshotWriter {
            fs: self.fs.clone(),
            context: self.context.clone(),
            directory,
            seq,
            last_included,
            configuration,
            sizes: BTreeMap::new(),
            crcs: BTreeMap::new(),
            reused: std::collections::BTreeSet::new(),
            base: latest.as_ref().map(|reader| reader.directory.clone()),
            base_meta: latest.map(|reader| reader.meta),
        })
    }

    fn commit(&mut self, writer: LocalSnapshotWriter) -> Result<SnapshotMeta> {
        self.check_not_fatal()?;
        // 0. A newer snapshot is already committed (an install overtook a save, say):
        // it stays the latest, and this one is discarded.
        if let Some(latest) = self.open_latest()? {
            if latest.meta.last_included.index > writer.last_included.index {
                self.fs
                    .remove_dir_all(&writer.directory)
                    .map_err(|error| self.io(&writer.directory, error))?;
                return Ok(latest.meta);
            }
        }
        // 1. Every file durable. Checksums as the writer computed them while writing,
        // when the size on disk is what it wrote; otherwise read back from the file.
        let mut files = Vec::new();
        for (name, &written) in &writer.sizes {
            let path = writer.directory.join(name);
            self.fs
                .sync_file(&path)
                .map_err(|error| self.fatal(&path, error))?;
            let on_disk = self.fs.len(&path).map_err(|error| self.io(&path, error))?;
            let (size, crc32c) = match writer.crcs.get(name) {
                Some(&crc) if on_disk == written => (written, crc),
                _ => self.crc_of(&path)?,
            };
            files.push(SnapshotFileMeta {
                name: name.clone(),
                size,
                crc32c,
            });
        }
        let meta = SnapshotMeta {
            last_included: writer.last_included,
            configuration: writer.configuration.clone(),
            files,
        };
        // 2. The meta, durable.
        let record = codec::snapshot::encode(&meta)
            .map_err(|e| self.context.invalid(format!("snapshot meta: {}", e.0)))?;
        let meta_path = writer.directory.join(META_FILE_NAME);
        self.fs
            .write(&meta_path, &record)
            .map_err(|error| self.io(&meta_path, error))?;
        self.fs
            .sync_file(&meta_path)
            .map_err(|error| self.fatal(&meta_path, error))?;
        self.fs
            .sync_dir(&writer.directory)
            .map_err(|error| self.fatal(&writer.directory, error))?;
        // 3. Atomic switch, made durable.
        let final_dir = self.directory.join(format!(
            "{SNAPSHOT_PREFIX}{:020}_{:010}",
            meta.last_included.index.0, writer.seq
        ));
        self.fs
            .rename(&writer.directory, &final_dir)
            .map_err(|error| self.io(&writer.directory, error))?;
        self.fs
            .sync_dir(&self.directory)
            .map_err(|error| self.fatal(&self.directory, error))?;
        // 4. Only now remove what the new snapshot supersedes: every older snapshot but
        // the one before it, which stays readable for a transfer or a load that began
        // before this commit. Temporary directories belong to writers that may still be
        // running (a fetch, a staged install); each removes its own when dropped, and
        // `open` removes those a crash left.
        let key = (meta.last_included.index.0, writer.seq);
        let mut older: Vec<((u64, u64), PathBuf)> = self
            .list_dir()?
            .into_iter()
            .filter_map(|(name, path)| parse_snapshot_dir(&name).map(|other| (other, path)))
            .filter(|(other, _)| *other < key)
            .collect();
        older.sort();
        older.pop(); // the previous snapshot stays
        for (_, path) in older {
            self.fs
                .remove_dir_all(&path)
                .map_err(|error| self.io(&path, error))?;
        }
        self.fs
            .sync_dir(&self.directory)
            .map_err(|error| self.fatal(&self.directory, error))?;
        Ok(meta)
    }

    fn open_latest(&self) -> Result<Option<LocalSnapshotReader>> {
        // A read view does not wait for commits: between listing and reading, two
        // commits in a row can remove the snapshot that was latest (each keeps only the
        // one before it). A directory that vanished is not an error: look again, a
        // bounded number of times.
        let mut attempts = 0;
        loop {
            let Some(directory) = self.latest_dir()? else {
                return Ok(None);
            };
            match self.reader_for(directory.clone()) {
                Ok(reader) => return Ok(Some(reader)),
                Err(error) => {
                    attempts += 1;
                    let moved_on = self.latest_dir()?.is_some_and(|now| now != directory);
                    if !moved_on || attempts >= 8 {
                        return Err(error);
                    }
                }
            }
        }
    }

    fn needs_file(&self, name: &str, crc32c: u32) -> Result<bool> {
        check_file_name(name).map_err(|reason| self.context.invalid(reason))?;
        let Some(reader) = self.open_latest()? else {
            return Ok(true);
        };
        Ok(reader
            .meta
            .file(name)
            .is_none_or(|file| file.crc32c != crc32c))
    }
}

impl LocalSnapshotStorage {
    /// The retained snapshot that ends at `last_included` (the latest or the one
    /// before it), if there is one.
    pub fn open_at(&self, last_included: LogId) -> Result<Option<LocalSnapshotReader>> {
        let directory = self
            .list_dir()?
            .into_iter()
            .filter_map(|(name, path)| parse_snapshot_dir(&name).map(|key| (key, path)))
            .filter(|((index, _), _)| *index == last_included.index.0)
            .max_by_key(|(key, _)| *key)
            .map(|(_, path)| path);
        let Some(directory) = directory else {
            return Ok(None);
        };
        let reader = self.reader_for(directory)?;
        Ok((reader.meta.last_included == last_included).then_some(reader))
    }

    fn reader_for(&self, directory: PathBuf) -> Result<LocalSnapshotReader> {
        let meta = self.read_meta(&directory)?;
        for file in &meta.files {
            check_file_name(&file.name).map_err(|reason| StorageError::CorruptMeta {
                store: self.context.store.clone(),
                group: self.context.group.clone(),
                record: "snapshot meta".to_string(),
                reason,
            })?;
        }
        Ok(LocalSnapshotReader {
            fs: self.fs.clone(),
            context: self.context.clone(),
            directory,
            meta,
        })
    }
}

/// A committed snapshot in a [`LocalSnapshotStorage`].
#[derive(Debug)]
pub struct LocalSnapshotReader {
    fs: Arc<dyn SnapshotFs>,
    context: Context,
    directory: PathBuf,
    meta: SnapshotMeta,
}

impl LocalSnapshotReader {
    /// The snapshot's directory (a state machine may load its files from there when
    /// the store is on the real file system: [`Self::is_native`]).
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Whether [`Self::directory`] is a real directory (false on a simulated disk).
    pub fn is_native(&self) -> bool {
        self.fs.is_native()
    }

    /// Re-reads every file and checks size and crc32c against the meta.
    pub fn verify(&self) -> Result<()> {
        for file in &self.meta.files {
            let path = self.directory.join(&file.name);
            let (size, crc) = crc_of(&*self.fs, &path).map_err(|error| self.io(&path, error))?;
            if size != file.size || crc != file.crc32c {
                return Err(StorageError::CorruptMeta {
                    store: self.context.store.clone(),
                    group: self.context.group.clone(),
                    record: format!("snapshot file {}", path.display()),
                    reason: format!(
                        "size {size} crc {crc:#010x}, meta says size {} crc {:#010x}",
                        file.size, file.crc32c
                    ),
                });
            }
        }
        Ok(())
    }

    fn io(&self, path: &Path, error: std::io::Error) -> StorageError {
        StorageError::Io {
            store: self.context.store.clone(),
            path: path.display().to_string(),
            reason: error.to_string(),
        }
    }
}

impl SnapshotReader for LocalSnapshotReader {
    fn meta(&self) -> &SnapshotMeta {
        &self.meta
    }

    fn read_chunk(&self, name: &str, offset: u64, max_len: usize) -> Result<Vec<u8>> {
        if self.meta.file(name).is_none() {
            return Err(self
                .context
                .invalid(format!("snapshot has no file {name:?}")));
        }
        let path = self.directory.join(name);
        self.fs
            .read_at(&path, offset, max_len)
            .map_err(|error| self.io(&path, error))
    }
}
