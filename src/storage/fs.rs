//! The file system under [`super::LocalSnapshotStorage`]: the real one, or a simulated
//! one on a [`super::SimDisk`] where power loss loses what was not fsynced.
//!
//! The snapshot store's commit protocol (fsync the files, write and fsync the meta, fsync
//! the directory, rename, fsync the parent) is only as good as its fsyncs, and no test on
//! a real file system can see a missing one: the data is in the page cache until the
//! machine loses power. Behind this trait the same code runs on [`RealFs`] in production
//! and on the simulated disk in the chaos suite and the crash tests
//! (`tests/storage_snapshot_crash.rs`), whose power loss keeps only what the protocol
//! made durable.
//!
//! Every operation names its file by path, as the store does; there are no open handles
//! (the store opens, reads or appends, and closes per call).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The file-system operations the snapshot store uses. Errors are plain
/// [`io::Error`]s; the store adds the path and the store's name.
///
/// Durability contract (POSIX, and what the simulated disk enforces): a file's data is
/// durable after [`SnapshotFs::sync_file`] of it; a directory's entries (files and
/// directories created, removed or renamed in it) are durable after
/// [`SnapshotFs::sync_dir`] of it. Until then a power loss may lose any of it.
pub trait SnapshotFs: Send + Sync + std::fmt::Debug + 'static {
    /// Whether paths name real files that a state machine may open itself (the
    /// snapshot sink's and source's `directory()`); false on a simulated disk.
    fn is_native(&self) -> bool;
    /// Creates `path` and any missing parent (no error if it exists).
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Creates the directory `path` (its parent must exist; an error if it exists).
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    /// The names of the entries of the directory `path`.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Removes the directory `path` and everything under it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Removes the file `path`.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Creates or truncates `path` and writes `data` to it.
    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Appends `data` to `path`, creating it if missing.
    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Up to `max_len` bytes of `path` from `offset` (empty at or past the end).
    fn read_at(&self, path: &Path, offset: u64, max_len: usize) -> io::Result<Vec<u8>>;
    /// The whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The file's length in bytes.
    fn len(&self, path: &Path) -> io::Result<u64>;
    /// Makes the file's data durable (fsync).
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries durable (fsync of the directory).
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Renames `from` to `to` (replacing an empty directory or a file at `to`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// A second name `to` for the file `from` (the same data: a write through one name
    /// shows through the other).
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Copies the file `from` to a new file `to`.
    fn copy(&self, from: &Path, to: &Path) -> io::Result<()>;
}

/// The machine's own file system (`std::fs`).
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

impl SnapshotFs for RealFs {
    fn is_native(&self) -> bool {
        true
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        fs::create_dir(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(path)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir_all(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        fs::write(path, data)
    }

    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?
            .write_all(data)
    }

    fn read_at(&self, path: &Path, offset: u64, max_len: usize) -> io::Result<Vec<u8>> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut out = Vec::new();
        file.take(max_len as u64).read_to_end(&mut out)?;
        Ok(out)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    #[cfg(unix)]
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    #[cfg(not(unix))]
    fn sync_dir(&self, _path: &Path) -> io::Result<()> {
        // Directory handles cannot be fsynced portably; NTFS journals its metadata.
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::hard_link(from, to)
    }

    fn copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::copy(from, to).map(|_| ())
    }
}
