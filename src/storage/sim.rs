//! The simulated disk for the chaos suite: durability modelled exactly.
//!
//! A [`SimDisk`] lives outside the simulated node (clone the handle into the node; keep
//! one in the test), so its contents survive a restart. It holds, per group, a *durable*
//! image and a *visible* image (durable plus the pending writes, what the page cache
//! shows), and one disk-wide queue of pending writes in issue order:
//!
//! - every write (append batch, truncation, reset, hard state) is queued as pending and
//!   is immediately visible to reads;
//! - a sync (automatic after each write when the store's `sync` option is on, or
//!   [`LogStorage::sync`] / [`SimDisk::sync_all`]) makes every pending write durable,
//!   for all groups at once, like the one shared fjall journal;
//! - [`SimDisk::crash`] (power loss) keeps a prefix of the pending queue (a journal is
//!   written in order), may tear the next write — an append keeps a prefix of its
//!   records, possibly ending in a partially written record — and drops the rest;
//!   reopening a log discards a torn (short) last record, as fjall's recovery does;
//! - a process restart without power loss is simply dropping the stores and opening new
//!   ones on the same disk: pending writes stay in the "page cache".
//!
//! All randomness comes from the caller's seed. [`SimDisk::crash_points`] enumerates
//! every crash outcome so tests can try them all. [`SimDisk::corrupt_entry`] flips a byte
//! of a stored record (bit rot), which reads must report as corruption, and
//! [`SimDisk::fail_next_sync`] makes the next sync fail, which is fatal for the disk.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};

use crate::core::{GroupId, LogId, LogIndex};

use super::codec;
use super::entry::LogEntry;
use super::error::{Result, StorageError};
use super::image::{LogImage, LogOp};
use super::log::{LogStorage, ReadLimits};
use super::meta::{HardState, MetaStorage};
use super::rules::Context;
use super::sim_fs::{FsState, SimFs};

const STORE: &str = "sim";

/// Options of a sim store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimOptions {
    /// Sync after every write (default true). With `false`, writes are acknowledged while
    /// still pending and a crash loses them: the data loss JRAFT_GUIDE_NOTES F22 warns of.
    pub sync: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions { sync: true }
    }
}

/// How the write at the crash point was torn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tear {
    /// The write was lost entirely.
    Lost,
    /// The first `kept` records of an append batch reached the disk, the rest did not.
    KeepRecords {
        /// Records written completely.
        kept: usize,
    },
    /// The first `kept` records reached the disk and the next one was cut short.
    PartialRecord {
        /// Records written completely before the torn one.
        kept: usize,
    },
}

/// One crash outcome: how many pending writes survive intact, and what happens to the
/// next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CrashPoint {
    /// The number of pending writes, in issue order, that survive intact.
    pub surviving_writes: usize,
    /// The fate of write number `surviving_writes` (if there is one).
    pub tear: Tear,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum SimOp {
    Log(LogOp),
    HardState(Vec<u8>),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct GroupImage {
    log: LogImage,
    hard_state: Option<Vec<u8>>,
}

impl GroupImage {
    fn apply(&mut self, op: &SimOp) {
        match op {
            SimOp::Log(op) => self.log.apply(op),
            SimOp::HardState(record) => self.hard_state = Some(record.clone()),
        }
    }
}

#[derive(Debug, Default)]
struct DiskState {
    durable: BTreeMap<GroupId, GroupImage>,
    visible: BTreeMap<GroupId, GroupImage>,
    pending: Vec<(GroupId, SimOp)>,
    fail_next_sync: bool,
    failed: Option<String>,
    /// Groups whose log has not been reopened since the last crash.
    needs_recovery: BTreeSet<GroupId>,
    /// The file system the snapshot store writes (see `sim_fs.rs`).
    fs: FsState,
    /// Power is cut when this many more file-system changes have been made (the next
    /// one does not happen), with this seed for the crash.
    power_cut: Option<(u64, u64)>,
}

impl DiskState {
    fn sync(&mut self) -> std::result::Result<(), String> {
        if let Some(reason) = &self.failed {
            return Err(reason.clone());
        }
        if self.fail_next_sync {
            self.fail_next_sync = false;
            let reason = "injected fsync failure".to_string();
            self.failed = Some(reason.clone());
            return Err(reason);
        }
        for (group, op) in self.pending.drain(..) {
            self.durable.entry(group).or_default().apply(&op);
        }
        Ok(())
    }

    fn write(&mut self, group: &GroupId, op: SimOp, sync: bool) -> std::result::Result<(), String> {
        if let Some(reason) = &self.failed {
            return Err(reason.clone());
        }
        self.visible.entry(group.clone()).or_default().apply(&op);
        self.pending.push((group.clone(), op));
        if sync {
            self.sync()
        } else {
            Ok(())
        }
    }
}

/// A simulated disk shared by every group of one simulated node. Cheap to clone; all
/// clones are the same disk.
#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    state: Arc<Mutex<DiskState>>,
}

impl SimDisk {
    /// An empty disk.
    pub fn new() -> SimDisk {
        SimDisk::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, DiskState>> {
        self.state.lock().map_err(|_| StorageError::Fatal {
            store: STORE.to_string(),
            reason: "sim disk lock poisoned by a panic".to_string(),
        })
    }

    /// Opens the log of `group`. Opening is recovery: a torn last record is discarded.
    pub fn log_storage(&self, group: GroupId, options: SimOptions) -> Result<SimLogStorage> {
        let mut state = self.lock()?;
        if state.needs_recovery.remove(&group) {
            // The first open after a crash is recovery. The group's log has no pending
            // writes (nothing could write it before this open), so durable and visible
            // hold the same log.
            if let Some(image) = state.durable.get_mut(&group) {
                image.log.discard_torn_tail();
            }
            if let Some(image) = state.visible.get_mut(&group) {
                image.log.discard_torn_tail();
            }
        }
        drop(state);
        Ok(SimLogStorage {
            disk: self.clone(),
            context: Context::new(STORE, group),
            options,
        })
    }

    /// Opens the meta store of `group`.
    pub fn meta_storage(&self, group: GroupId, options: SimOptions) -> SimMetaStorage {
        SimMetaStorage {
            disk: self.clone(),
            context: Context::new(STORE, group),
            options,
        }
    }

    /// Makes every pending write durable (background writeback, or an explicit flush).
    pub fn sync_all(&self) -> Result<()> {
        let mut state = self.lock()?;
        state.sync().map_err(|reason| StorageError::Fatal {
            store: STORE.to_string(),
            reason,
        })
    }

    /// The hard state of `group` that a power loss now would leave (what is durable),
    /// for checks that a node acknowledged only what it had made durable. `None` when
    /// nothing durable was ever written or the record does not decode.
    pub fn durable_hard_state(&self, group: &GroupId) -> Option<HardState> {
        let state = self.lock().ok()?;
        let record = state.durable.get(group)?.hard_state.as_ref()?;
        codec::decode_hard_state(record).ok()
    }

    /// The log id at `index` in the durable log of `group` (see
    /// [`SimDisk::durable_hard_state`]).
    pub fn durable_log_id(&self, group: &GroupId, index: LogIndex) -> Option<LogId> {
        let state = self.lock().ok()?;
        let image = state.durable.get(group)?;
        image
            .log
            .log_id(&Context::new(STORE, group.clone()), index)
            .ok()
            .flatten()
    }

    /// The number of writes not yet durable.
    pub fn pending_writes(&self) -> usize {
        self.lock().map(|state| state.pending.len()).unwrap_or(0)
    }

    /// Makes the next sync fail; the disk is then fatal (every write refused) until the
    /// next [`SimDisk::crash`] or [`SimDisk::crash_at`], which model the restart.
    pub fn fail_next_sync(&self) {
        if let Ok(mut state) = self.lock() {
            state.fail_next_sync = true;
        }
    }

    /// Every distinct crash outcome for the current pending queue, from "nothing
    /// survives" to "everything survives".
    pub fn crash_points(&self) -> Vec<CrashPoint> {
        let Ok(state) = self.lock() else {
            return Vec::new();
        };
        let mut points = Vec::new();
        for (position, (_, op)) in state.pending.iter().enumerate() {
            points.push(CrashPoint {
                surviving_writes: position,
                tear: Tear::Lost,
            });
            if let SimOp::Log(LogOp::Append(records)) = op {
                for kept in 0..records.len() {
                    if kept > 0 {
                        points.push(CrashPoint {
                            surviving_writes: position,
                            tear: Tear::KeepRecords { kept },
                        });
                    }
                    points.push(CrashPoint {
                        surviving_writes: position,
                        tear: Tear::PartialRecord { kept },
                    });
                }
            }
        }
        points.push(CrashPoint {
            surviving_writes: state.pending.len(),
            tear: Tear::Lost,
        });
        points
    }

    /// Power loss at a crash point chosen by `seed` among [`SimDisk::crash_points`].
    pub fn crash(&self, seed: u64) -> Result<CrashPoint> {
        let points = self.crash_points();
        // Seeded, so that crashes depend on the seed only.
        let choice = SmallRng::seed_from_u64(seed).random_range(0..points.len().max(1));
        let point = points.get(choice).copied().unwrap_or(CrashPoint {
            surviving_writes: 0,
            tear: Tear::Lost,
        });
        self.crash_at_with(point, &mut SmallRng::seed_from_u64(seed ^ 0x005e_edf5))?;
        Ok(point)
    }

    /// Power loss at an explicit crash point. Open stores of this disk must be dropped
    /// and reopened afterwards (they would otherwise keep answering from before the
    /// crash only in their own bookkeeping; the sim stores keep none, but the runtime
    /// above them does).
    ///
    /// The snapshot file system loses what was not synced; which of its unsynced
    /// changes survive is drawn from a fixed seed here ([`SimDisk::crash`] draws it
    /// from its own).
    pub fn crash_at(&self, point: CrashPoint) -> Result<()> {
        self.crash_at_with(point, &mut SmallRng::seed_from_u64(0))
    }

    fn crash_at_with(&self, point: CrashPoint, rng: &mut SmallRng) -> Result<()> {
        let mut state = self.lock()?;
        state.fs.crash(rng);
        state.power_cut = None;
        let pending = std::mem::take(&mut state.pending);
        for (position, (group, op)) in pending.into_iter().enumerate() {
            if position < point.surviving_writes {
                state.durable.entry(group).or_default().apply(&op);
                continue;
            }
            if position == point.surviving_writes {
                if let SimOp::Log(LogOp::Append(records)) = &op {
                    let torn = tear_records(records, point.tear);
                    if !torn.is_empty() {
                        state
                            .durable
                            .entry(group)
                            .or_default()
                            .apply(&SimOp::Log(LogOp::Append(torn)));
                    }
                }
            }
            break;
        }
        state.visible = state.durable.clone();
        state.needs_recovery = state.durable.keys().cloned().collect();
        state.fail_next_sync = false;
        state.failed = None;
        Ok(())
    }

    /// A new, empty disk in place of this one (a replaced or wiped disk): every log,
    /// hard state and snapshot file is gone. Stores open on it must be dropped first.
    pub fn wipe(&self) {
        if let Ok(mut state) = self.lock() {
            let mutations = state.fs.mutations;
            *state = DiskState::default();
            state.fs.mutations = mutations;
        }
    }

    /// The file system the snapshot store writes to on this disk
    /// (`LocalSnapshotStorage::open_on`): power loss keeps only what was synced
    /// (see `sim_fs.rs` for the model).
    pub fn snapshot_fs(&self) -> SimFs {
        SimFs {
            disk: self.clone(),
            durable_only: false,
        }
    }

    /// A read-only view of [`SimDisk::snapshot_fs`] holding only what was synced (and is
    /// reachable through synced directories), for checks of what a node may promise. A
    /// power loss keeps this, plus possibly some of what was not synced — a pending
    /// removal too, so a synced file whose removal is pending may still go.
    pub fn durable_snapshot_fs(&self) -> SimFs {
        SimFs {
            disk: self.clone(),
            durable_only: true,
        }
    }

    /// Changes to the snapshot file system so far (writes, creations, renames,
    /// removals and syncs), to aim [`SimDisk::cut_power_after`].
    pub fn fs_changes(&self) -> u64 {
        self.lock().map(|state| state.fs.mutations).unwrap_or(0)
    }

    /// Cuts the power after `changes` more changes to the snapshot file system: the next
    /// one fails and does not happen, the disk crashes as [`SimDisk::crash`] with
    /// `seed`, and every later write fails until [`SimDisk::power_on`]. For tests that
    /// crash a snapshot commit at each of its steps.
    pub fn cut_power_after(&self, changes: u64, seed: u64) {
        if let Ok(mut state) = self.lock() {
            state.power_cut = Some((changes, seed));
        }
    }

    /// Power back after [`SimDisk::cut_power_after`] fired: writes are accepted again.
    pub fn power_on(&self) {
        if let Ok(mut state) = self.lock() {
            state.failed = None;
            state.fail_next_sync = false;
        }
    }

    pub(crate) fn with_fs<T>(&self, read: impl FnOnce(&FsState) -> T) -> std::io::Result<T> {
        let state = self
            .lock()
            .map_err(|error| std::io::Error::other(error.to_string()))?;
        Ok(read(&state.fs))
    }

    /// A change to the file system: refused on a failed disk; counted; the power cut
    /// fires here.
    pub(crate) fn change_fs<T>(
        &self,
        change: impl FnOnce(&mut FsState) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        let mut state = self
            .lock()
            .map_err(|error| std::io::Error::other(error.to_string()))?;
        if let Some(reason) = &state.failed {
            return Err(std::io::Error::other(reason.clone()));
        }
        if let Some((left, seed)) = state.power_cut {
            if left == 0 {
                drop(state);
                let _ = self.crash(seed);
                if let Ok(mut state) = self.lock() {
                    state.failed = Some("power lost".to_string());
                }
                return Err(std::io::Error::other("power lost"));
            }
            state.power_cut = Some((left - 1, seed));
        }
        state.fs.mutations += 1;
        change(&mut state.fs)
    }

    /// A sync of the file system: as a change, and an armed sync failure fails it
    /// (the disk is then failed for the log too, as one disk).
    pub(crate) fn sync_fs(
        &self,
        sync: impl FnOnce(&mut FsState) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        {
            let mut state = self
                .lock()
                .map_err(|error| std::io::Error::other(error.to_string()))?;
            if state.failed.is_none() && state.fail_next_sync {
                state.fail_next_sync = false;
                state.failed = Some("injected fsync failure".to_string());
            }
        }
        self.change_fs(sync)
    }

    /// Flips one byte (chosen by `seed`) of the stored record of `index` in `group`, in
    /// both the durable and the visible image. Returns false if there is no such record.
    pub fn corrupt_entry(&self, group: &GroupId, index: LogIndex, seed: u64) -> bool {
        let Ok(mut state) = self.lock() else {
            return false;
        };
        let mut rng = SmallRng::seed_from_u64(seed);
        let position: u64 = rng.random();
        let mask: u8 = rng.random_range(1..=255);
        let mut flipped = false;
        let DiskState {
            durable, visible, ..
        } = &mut *state;
        for images in [durable, visible] {
            if let Some(record) = images
                .get_mut(group)
                .and_then(|image| image.log.records.get_mut(&index))
            {
                if !record.is_empty() {
                    let at = (position % record.len() as u64) as usize;
                    record[at] ^= mask;
                    flipped = true;
                }
            }
        }
        flipped
    }
}

fn tear_records(records: &[(LogIndex, Vec<u8>)], tear: Tear) -> Vec<(LogIndex, Vec<u8>)> {
    match tear {
        Tear::Lost => Vec::new(),
        Tear::KeepRecords { kept } => records.iter().take(kept).cloned().collect(),
        Tear::PartialRecord { kept } => {
            let mut out: Vec<_> = records.iter().take(kept).cloned().collect();
            if let Some((index, record)) = records.get(kept) {
                out.push((*index, record[..record.len() / 2].to_vec()));
            }
            out
        }
    }
}

/// The log of one group on a [`SimDisk`].
#[derive(Clone, Debug)]
pub struct SimLogStorage {
    disk: SimDisk,
    context: Context,
    options: SimOptions,
}

impl SimLogStorage {
    fn read<T>(&self, read: impl FnOnce(&LogImage) -> Result<T>) -> Result<T> {
        let state = self.disk.lock()?;
        match state.visible.get(&self.context.group) {
            Some(image) => read(&image.log),
            None => read(&LogImage::default()),
        }
    }

    fn write(&self, op: LogOp) -> Result<()> {
        let mut state = self.disk.lock()?;
        state
            .write(&self.context.group, SimOp::Log(op), self.options.sync)
            .map_err(|reason| self.context.fatal(reason))
    }

    fn check_writable(&self) -> Result<()> {
        match &self.disk.lock()?.failed {
            Some(reason) => Err(self.context.fatal(reason.clone())),
            None => Ok(()),
        }
    }
}

impl LogStorage for SimLogStorage {
    fn group(&self) -> &GroupId {
        &self.context.group
    }

    fn first_index(&self) -> Result<LogIndex> {
        self.read(|image| Ok(image.last_purged.index.next()))
    }

    fn last_log_id(&self) -> Result<LogId> {
        self.read(|image| Ok(image.bounds(&self.context)?.last))
    }

    fn log_id(&self, index: LogIndex) -> Result<Option<LogId>> {
        self.read(|image| image.log_id(&self.context, index))
    }

    fn entry(&self, index: LogIndex) -> Result<Option<LogEntry>> {
        self.read(|image| image.entry(&self.context, index))
    }

    fn entries(&self, range: Range<LogIndex>, limits: ReadLimits) -> Result<Vec<LogEntry>> {
        self.read(|image| image.entries(&self.context, range, limits))
    }

    fn append(&mut self, entries: &[LogEntry]) -> Result<()> {
        self.check_writable()?;
        if entries.is_empty() {
            return Ok(());
        }
        self.read(|image| {
            image
                .bounds(&self.context)?
                .check_append(&self.context, entries)
        })?;
        let records = self.context.encode_batch(entries)?;
        self.write(LogOp::Append(records))
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<()> {
        self.check_writable()?;
        let needed = self.read(|image| {
            image
                .bounds(&self.context)?
                .check_truncate_suffix(&self.context, from)
        })?;
        if needed {
            self.write(LogOp::TruncateSuffix(from))?;
        }
        Ok(())
    }

    fn truncate_prefix(&mut self, up_to: LogIndex) -> Result<()> {
        self.check_writable()?;
        let last_purged = self.read(|image| {
            let bounds = image.bounds(&self.context)?;
            if !bounds.check_truncate_prefix(&self.context, up_to)? {
                return Ok(None);
            }
            image
                .log_id(&self.context, up_to.prev())?
                .ok_or_else(|| self.context.missing(up_to.prev()))
                .map(Some)
        })?;
        match last_purged {
            Some(last_purged) => self.write(LogOp::TruncatePrefix { up_to, last_purged }),
            None => Ok(()),
        }
    }

    fn reset(&mut self, last_included: LogId) -> Result<()> {
        self.check_writable()?;
        self.write(LogOp::Reset(last_included))
    }

    fn sync(&mut self) -> Result<()> {
        let mut state = self.disk.lock()?;
        state.sync().map_err(|reason| self.context.fatal(reason))
    }
}

/// The term and vote of one group on a [`SimDisk`].
#[derive(Clone, Debug)]
pub struct SimMetaStorage {
    disk: SimDisk,
    context: Context,
    options: SimOptions,
}

impl MetaStorage for SimMetaStorage {
    fn hard_state(&self) -> Result<HardState> {
        let state = self.disk.lock()?;
        match state
            .visible
            .get(&self.context.group)
            .and_then(|image| image.hard_state.as_ref())
        {
            None => Ok(HardState::default()),
            Some(record) => codec::decode_hard_state(record)
                .map_err(|e| self.context.corrupt_meta("hard state", e)),
        }
    }

    fn set_hard_state(&mut self, hard_state: &HardState) -> Result<()> {
        let record = codec::encode_hard_state(hard_state).map_err(|e| {
            self.context
                .invalid(format!("hard state cannot be encoded: {}", e.0))
        })?;
        let mut state = self.disk.lock()?;
        state
            .write(
                &self.context.group,
                SimOp::HardState(record),
                self.options.sync,
            )
            .map_err(|reason| self.context.fatal(reason))
    }
}
