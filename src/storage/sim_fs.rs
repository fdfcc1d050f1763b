//! The simulated file system of a [`super::SimDisk`], for the snapshot store: what a
//! power loss keeps is only what was fsynced.
//!
//! The model (POSIX's promises, not one file system's extra kindness):
//!
//! - A file's bytes live in an inode with a *visible* and a *durable* copy. Writes change
//!   the visible copy; [`SnapshotFs::sync_file`] makes the durable copy equal to it.
//! - Directory entries (create, remove, rename, link) are *visible* at once and queued
//!   as pending metadata operations in issue order; [`SnapshotFs::sync_dir`] of a
//!   directory makes the pending operations on its entries durable (a rename is made
//!   durable by a sync of its target's directory or of its source's).
//! - A power loss keeps a random prefix (in issue order) of the pending metadata
//!   operations (a journal is written in order) and, of each file's unsynced bytes: if
//!   they only appended, a random prefix of them; if they rewrote the file, either the
//!   durable bytes, nothing, or a random prefix of the new bytes. Entries whose parent
//!   directory did not survive are gone; a file nobody names any more is freed.
//!
//! Directories are named by path: a directory renamed before its own entries were
//! synced takes only its durable entries along, and a rename made durable by a sync of
//! its source's directory counts as durable at its target too (the store renames only
//! within one directory, after syncing what it renames; a protocol renaming across
//! directories would need a finer model).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use rand::rngs::SmallRng;
use rand::Rng as _;

use super::fs::SnapshotFs;
use super::sim::SimDisk;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File(u64),
}

#[derive(Clone, Debug, Default)]
struct Inode {
    visible: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Clone, Debug)]
enum MetaOp {
    /// `path` now names this node.
    Put(PathBuf, Node),
    /// `path` and everything under it are gone.
    Remove(PathBuf),
    /// `from` (and everything under it) moves to `to`, replacing what was there.
    Rename(PathBuf, PathBuf),
}

impl MetaOp {
    /// Whether a sync of the directory `dir` makes this operation durable.
    fn in_dir(&self, dir: &Path) -> bool {
        let parent_is = |path: &Path| path.parent() == Some(dir);
        match self {
            MetaOp::Put(path, _) | MetaOp::Remove(path) => parent_is(path),
            MetaOp::Rename(from, to) => parent_is(from) || parent_is(to),
        }
    }
}

/// A tree of entries by full path.
type Tree = BTreeMap<PathBuf, Node>;

fn apply(tree: &mut Tree, op: &MetaOp) {
    match op {
        MetaOp::Put(path, node) => {
            tree.insert(path.clone(), *node);
        }
        MetaOp::Remove(path) => remove_subtree(tree, path),
        MetaOp::Rename(from, to) => {
            let moved: Vec<(PathBuf, Node)> = tree
                .iter()
                .filter(|(path, _)| path.starts_with(from))
                .map(|(path, node)| (path.clone(), *node))
                .collect();
            if moved.is_empty() {
                return;
            }
            remove_subtree(tree, from);
            remove_subtree(tree, to);
            for (path, node) in moved {
                let rest = path.strip_prefix(from).unwrap_or(Path::new(""));
                let target = if rest.as_os_str().is_empty() {
                    to.clone()
                } else {
                    to.join(rest)
                };
                tree.insert(target, node);
            }
        }
    }
}

fn remove_subtree(tree: &mut Tree, root: &Path) {
    let doomed: Vec<PathBuf> = tree
        .range(root.to_path_buf()..)
        .take_while(|(path, _)| path.starts_with(root))
        .map(|(path, _)| path.clone())
        .collect();
    for path in doomed {
        tree.remove(&path);
    }
}

/// The file system's state inside the disk's lock.
#[derive(Clone, Debug, Default)]
pub(crate) struct FsState {
    visible: Tree,
    durable: Tree,
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    pending: Vec<MetaOp>,
    /// Mutating operations so far (for [`SimDisk::cut_power_after`]).
    pub(crate) mutations: u64,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory", path.display()),
    )
}

fn exists(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{}: exists", path.display()),
    )
}

impl FsState {
    fn parent_is_dir(&self, path: &Path) -> bool {
        match path.parent() {
            None => true,
            Some(parent) if parent.as_os_str().is_empty() => true,
            Some(parent) => self.visible.get(parent) == Some(&Node::Dir),
        }
    }

    fn op(&mut self, op: MetaOp) {
        apply(&mut self.visible, &op);
        self.pending.push(op);
    }

    fn file(&self, path: &Path) -> io::Result<u64> {
        match self.visible.get(path) {
            Some(Node::File(inode)) => Ok(*inode),
            Some(Node::Dir) => Err(io::Error::other(format!(
                "{}: is a directory",
                path.display()
            ))),
            None => Err(not_found(path)),
        }
    }

    fn new_file(&mut self, path: &Path) -> io::Result<u64> {
        if !self.parent_is_dir(path) {
            return Err(not_found(path));
        }
        self.next_inode += 1;
        let inode = self.next_inode;
        self.inodes.insert(inode, Inode::default());
        self.op(MetaOp::Put(path.to_path_buf(), Node::File(inode)));
        Ok(inode)
    }

    fn data(&mut self, inode: u64) -> &mut Inode {
        self.inodes.entry(inode).or_default()
    }

    pub(crate) fn create_dir(&mut self, path: &Path) -> io::Result<()> {
        if self.visible.contains_key(path) {
            return Err(exists(path));
        }
        if !self.parent_is_dir(path) {
            return Err(not_found(path));
        }
        self.op(MetaOp::Put(path.to_path_buf(), Node::Dir));
        Ok(())
    }

    pub(crate) fn create_dir_all(&mut self, path: &Path) -> io::Result<()> {
        let mut missing = Vec::new();
        for ancestor in path.ancestors() {
            if ancestor.as_os_str().is_empty() || ancestor.parent().is_none() {
                break;
            }
            match self.visible.get(ancestor) {
                Some(Node::Dir) => break,
                Some(Node::File(_)) => return Err(exists(ancestor)),
                None => missing.push(ancestor.to_path_buf()),
            }
        }
        for dir in missing.into_iter().rev() {
            self.op(MetaOp::Put(dir, Node::Dir));
        }
        Ok(())
    }

    fn tree(&self, durable: bool) -> &Tree {
        if durable {
            &self.durable
        } else {
            &self.visible
        }
    }

    /// Whether every ancestor of `path` is a directory in `tree` (an entry whose
    /// directory was never made durable in its parent is not reachable after a crash).
    fn reachable(tree: &Tree, path: &Path) -> bool {
        path.ancestors()
            .skip(1)
            .take_while(|a| !a.as_os_str().is_empty() && a.parent().is_some())
            .all(|a| tree.get(a) == Some(&Node::Dir))
    }

    fn file_in(&self, path: &Path, durable: bool) -> io::Result<&[u8]> {
        if durable && !Self::reachable(&self.durable, path) {
            return Err(not_found(path));
        }
        match self.tree(durable).get(path) {
            Some(Node::File(inode)) => Ok(self.inodes.get(inode).map_or(&[][..], |i| {
                if durable {
                    &i.durable[..]
                } else {
                    &i.visible[..]
                }
            })),
            Some(Node::Dir) => Err(io::Error::other(format!(
                "{}: is a directory",
                path.display()
            ))),
            None => Err(not_found(path)),
        }
    }

    pub(crate) fn list_dir(&self, path: &Path, durable: bool) -> io::Result<Vec<String>> {
        let tree = self.tree(durable);
        if path.parent().is_some() && tree.get(path) != Some(&Node::Dir) {
            return Err(not_found(path));
        }
        if durable && !Self::reachable(tree, path) {
            return Err(not_found(path));
        }
        Ok(tree
            .range(path.to_path_buf()..)
            .take_while(|(entry, _)| entry.starts_with(path))
            .filter(|(entry, _)| entry.parent() == Some(path))
            .filter_map(|(entry, _)| entry.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    pub(crate) fn remove(&mut self, path: &Path, dir: bool) -> io::Result<()> {
        match self.visible.get(path) {
            Some(Node::Dir) if dir => {}
            Some(Node::File(_)) if !dir => {}
            Some(_) => {
                return Err(io::Error::other(format!(
                    "{}: wrong kind of entry",
                    path.display()
                )))
            }
            None => return Err(not_found(path)),
        }
        self.op(MetaOp::Remove(path.to_path_buf()));
        Ok(())
    }

    pub(crate) fn write(&mut self, path: &Path, data: &[u8]) -> io::Result<()> {
        let inode = match self.visible.get(path) {
            Some(Node::File(inode)) => *inode,
            Some(Node::Dir) => return Err(exists(path)),
            None => self.new_file(path)?,
        };
        self.data(inode).visible = data.to_vec();
        Ok(())
    }

    pub(crate) fn append(&mut self, path: &Path, data: &[u8]) -> io::Result<()> {
        let inode = match self.visible.get(path) {
            Some(Node::File(inode)) => *inode,
            Some(Node::Dir) => return Err(exists(path)),
            None => self.new_file(path)?,
        };
        self.data(inode).visible.extend_from_slice(data);
        Ok(())
    }

    pub(crate) fn read_at(
        &self,
        path: &Path,
        offset: u64,
        max_len: usize,
        durable: bool,
    ) -> io::Result<Vec<u8>> {
        let data = self.file_in(path, durable)?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = start.saturating_add(max_len).min(data.len());
        Ok(data[start..end].to_vec())
    }

    pub(crate) fn len(&self, path: &Path, durable: bool) -> io::Result<u64> {
        Ok(self.file_in(path, durable)?.len() as u64)
    }

    pub(crate) fn sync_file(&mut self, path: &Path) -> io::Result<()> {
        let inode = self.file(path)?;
        let file = self.data(inode);
        file.durable = file.visible.clone();
        Ok(())
    }

    pub(crate) fn sync_dir(&mut self, path: &Path) -> io::Result<()> {
        // Relative paths hang off "" (the working directory).
        let path = if path == Path::new(".") {
            Path::new("")
        } else {
            path
        };
        if path.parent().is_some() && self.visible.get(path) != Some(&Node::Dir) {
            return Err(not_found(path));
        }
        let (now, later): (Vec<MetaOp>, Vec<MetaOp>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|op| op.in_dir(path));
        for op in &now {
            apply(&mut self.durable, op);
        }
        self.pending = later;
        Ok(())
    }

    pub(crate) fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let Some(node) = self.visible.get(from).copied() else {
            return Err(not_found(from));
        };
        if !self.parent_is_dir(to) {
            return Err(not_found(to));
        }
        match (node, self.visible.get(to)) {
            (_, None) | (Node::File(_), Some(Node::File(_))) => {}
            (Node::Dir, Some(Node::Dir)) if self.list_dir(to, false)?.is_empty() => {}
            _ => return Err(exists(to)),
        }
        self.op(MetaOp::Rename(from.to_path_buf(), to.to_path_buf()));
        Ok(())
    }

    pub(crate) fn hard_link(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let inode = self.file(from)?;
        if self.visible.contains_key(to) {
            return Err(exists(to));
        }
        if !self.parent_is_dir(to) {
            return Err(not_found(to));
        }
        self.op(MetaOp::Put(to.to_path_buf(), Node::File(inode)));
        Ok(())
    }

    /// Power loss: see the module docs. `rng` decides what the unsynced state keeps.
    pub(crate) fn crash(&mut self, rng: &mut SmallRng) {
        let pending = std::mem::take(&mut self.pending);
        let kept = rng.random_range(0..=pending.len());
        for op in &pending[..kept] {
            apply(&mut self.durable, op);
        }
        // Entries whose parent did not survive are unreachable.
        let reachable: Tree = self
            .durable
            .iter()
            .filter(|(path, _)| Self::reachable(&self.durable, path))
            .map(|(path, node)| (path.clone(), *node))
            .collect();
        self.durable = reachable;
        let live: std::collections::BTreeSet<u64> = self
            .durable
            .values()
            .filter_map(|node| match node {
                Node::File(inode) => Some(*inode),
                Node::Dir => None,
            })
            .collect();
        self.inodes.retain(|inode, _| live.contains(inode));
        for file in self.inodes.values_mut() {
            if file.visible != file.durable {
                let kept = if file.visible.starts_with(&file.durable) {
                    let extra = rng.random_range(0..=file.visible.len() - file.durable.len());
                    file.visible[..file.durable.len() + extra].to_vec()
                } else {
                    match rng.random_range(0..3) {
                        0 => file.durable.clone(),
                        1 => Vec::new(),
                        _ => {
                            let len = rng.random_range(0..=file.visible.len());
                            file.visible[..len].to_vec()
                        }
                    }
                };
                file.durable = kept;
            }
            file.visible = file.durable.clone();
        }
        self.visible = self.durable.clone();
    }
}

/// The simulated file system of a [`SimDisk`] ([`SimDisk::snapshot_fs`]); see the
/// module docs for what a power loss keeps. Every clone is the same file system.
#[derive(Clone, Debug)]
pub struct SimFs {
    pub(crate) disk: SimDisk,
    /// Read what is durable, and refuse every change (for checks).
    pub(crate) durable_only: bool,
}

impl SimFs {
    fn view<T>(&self, read: impl FnOnce(&FsState, bool) -> io::Result<T>) -> io::Result<T> {
        self.disk.with_fs(|fs| read(fs, self.durable_only))?
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.durable_only {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "a durable view is read-only",
            ));
        }
        Ok(())
    }

    fn change<T>(&self, change: impl FnOnce(&mut FsState) -> io::Result<T>) -> io::Result<T> {
        self.check_writable()?;
        self.disk.change_fs(change)
    }
}

impl SnapshotFs for SimFs {
    fn is_native(&self) -> bool {
        false
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.change(|fs| fs.create_dir_all(path))
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.change(|fs| fs.create_dir(path))
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.view(|fs, durable| fs.list_dir(path, durable))
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.change(|fs| fs.remove(path, true))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.change(|fs| fs.remove(path, false))
    }

    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.change(|fs| fs.write(path, data))
    }

    fn append(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.change(|fs| fs.append(path, data))
    }

    fn read_at(&self, path: &Path, offset: u64, max_len: usize) -> io::Result<Vec<u8>> {
        self.view(|fs, durable| fs.read_at(path, offset, max_len, durable))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.view(|fs, durable| fs.read_at(path, 0, usize::MAX, durable))
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        self.view(|fs, durable| fs.len(path, durable))
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        self.check_writable()?;
        self.disk.sync_fs(|fs| fs.sync_file(path))
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.check_writable()?;
        self.disk.sync_fs(|fs| fs.sync_dir(path))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.change(|fs| fs.rename(from, to))
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.change(|fs| fs.hard_link(from, to))
    }

    fn copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.change(|fs| {
            let data = fs.read_at(from, 0, usize::MAX, false)?;
            fs.write(to, &data)
        })
    }
}
