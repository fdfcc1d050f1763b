//! Buggify: the fault points inside each node's runtime (see
//! `concord::runtime::FaultInjector`), driven by the run's seed, and the write→fsync
//! windows they expose to the nemesis.
//!
//! Each node incarnation gets its own generator (seed, node, boot), and the simulation is
//! single-threaded, so every draw happens in the same order on every replay. What it
//! does, when on:
//!
//! - **disk latency**: every log batch waits 1–20 ms of simulated time (one in twenty:
//!   30–80 ms) between being written (visible, not durable) and its fsync, longer than a
//!   network round trip as on real hardware, and now and then its completion is
//!   reported late — so a power loss can land between "written" and "durable" while
//!   the rest of the cluster has already acted on what was written;
//! - **group-commit boundaries** move: some batches are cut to 1–3 jobs;
//! - **payload reads** from the store (entries no longer cached) take 1–30 ms one time
//!   in four, so later events overtake them;
//! - **messages** are occasionally lost (1%), sent twice (2%), held back 5–60 ms so
//!   later ones overtake them (2%), held back 250–1500 ms (0.5% by default,
//!   `stale_per_mille`), or sent now and again 250–1500 ms later (as many) — long enough
//!   for a new term to begin before they arrive:
//!   duplicated, reordered and cross-term stale messages, which turmoil's in-order TCP
//!   streams never produce on their own.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use concord::core::{
    AppendResult, GroupId, HardState, InstallSnapshotResult, LogIndex, Message, PeerId, RaftCore,
};
use concord::runtime::{FaultInjector, PersistOp, SendFault};
use concord::storage::SimDisk;

use crate::observe::Observations;
use crate::rng::Rng;

/// A test hook that wraps each node's fault injector; the teeth tests use it to run
/// deliberately broken executors. `None` in every normal run.
pub type WrapFaults = fn(Arc<dyn FaultInjector>) -> Arc<dyn FaultInjector>;

/// What a node's log writer is doing, as the nemesis sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// A batch is written and its fsync has not completed.
    pub open: bool,
    /// That batch records a vote for another node (a granted vote not yet durable).
    pub vote: bool,
    /// Simulated time at which the window opened.
    pub since: Duration,
}

/// The window state of one host, shared by its node incarnations and the harness.
#[derive(Debug, Default)]
pub struct WindowProbe(Mutex<Window>);

impl WindowProbe {
    fn lock(&self) -> MutexGuard<'_, Window> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current window.
    pub fn get(&self) -> Window {
        *self.lock()
    }

    /// Forgets the window (the node stopped: its writer is gone).
    pub fn reset(&self) {
        *self.lock() = Window::default();
    }
}

/// Where a node's acknowledgements are checked against its disk: every vote request,
/// granted vote and successful append answer must already be durable when it leaves the node
/// (the core's persist-before-send contract, checked at the point where it matters).
#[derive(Clone, Debug)]
pub struct DurabilityCheck {
    /// The node's disk.
    pub disk: SimDisk,
    /// The group on it.
    pub group: GroupId,
    /// Where violations go (one line each).
    pub violations: Arc<Mutex<Vec<String>>>,
}

impl DurabilityCheck {
    fn durable_term(&self) -> Option<concord::core::Term> {
        self.disk
            .durable_hard_state(&self.group)
            .map(|hard| hard.term)
    }

    /// Whether the entries through `index` are durable here: in the durable log, or
    /// covered by the durable snapshot (compacted away from the log).
    fn holds_durably(&self, index: LogIndex) -> bool {
        use concord::storage::{SnapshotReader as _, SnapshotStorage as _};
        if index == LogIndex(0) || self.disk.durable_log_id(&self.group, index).is_some() {
            return true;
        }
        // The node's snapshots as a power loss now would leave them: entries a durable
        // snapshot covers are durable too, though the log no longer holds them.
        let durable = concord::storage::LocalSnapshotStorage::read_only_on(
            std::sync::Arc::new(self.disk.durable_snapshot_fs()),
            crate::run::SNAPSHOT_ROOT,
            self.group.clone(),
        );
        durable
            .open_latest()
            .ok()
            .flatten()
            .is_some_and(|snapshot| snapshot.meta().last_included.index >= index)
    }

    /// Checks an outgoing message; returns a description of the broken promise, if any.
    fn check(&self, me: &PeerId, to: &PeerId, message: &Message<PeerId>) -> Option<String> {
        let term = message.term();
        match message {
            Message::VoteResponse(vote) if vote.granted => {
                let durable = self.disk.durable_hard_state(&self.group);
                let kept = durable.as_ref().is_some_and(|hard| {
                    hard.term > term || (hard.term == term && hard.voted_for.as_ref() == Some(to))
                });
                (!kept).then(|| {
                    format!(
                        "{me} granted its vote in term {term} to {to} before it was durable \
                         (durable: {durable:?})"
                    )
                })
            }
            Message::Vote(request) => {
                // A candidate's term and its vote for itself are durable before it asks:
                // otherwise a crash could let it run for the same term again with a
                // shorter log and count a grant made against the longer one.
                let durable = self.disk.durable_hard_state(&self.group);
                let kept = durable.as_ref().is_some_and(|hard| {
                    hard.term > request.term
                        || (hard.term == request.term && hard.voted_for.as_ref() == Some(me))
                });
                (!kept).then(|| {
                    format!(
                        "{me} asked {to} for its vote in term {} before its own term and vote \
                         were durable (durable: {durable:?})",
                        request.term
                    )
                })
            }
            Message::AppendResponse(response) => {
                let AppendResult::Success { last_matched } = response.result else {
                    return None;
                };
                let durable_term = self.durable_term();
                if durable_term.is_some_and(|durable| durable > term) {
                    return None; // a later term: this answer can no longer matter
                }
                let held = self.holds_durably(last_matched);
                (durable_term != Some(term) || !held).then(|| {
                    format!(
                        "{me} acknowledged entries up to {last_matched} in term {term} to {to} \
                         before they were durable (durable term {durable_term:?}, entry held: {held})"
                    )
                })
            }
            Message::InstallSnapshotResponse(response) => {
                // "Installed" promises the snapshot (or the entries through the index
                // named) is durable.
                let InstallSnapshotResult::Installed { last_matched } = response.result else {
                    return None;
                };
                if self.durable_term().is_some_and(|durable| durable > term) {
                    return None;
                }
                (!self.holds_durably(last_matched)).then(|| {
                    format!(
                        "{me} answered a snapshot installed through {last_matched} in term \
                         {term} to {to} before it was durable"
                    )
                })
            }
            _ => None,
        }
    }
}

/// The fault injector of one node incarnation.
#[derive(Debug)]
pub struct Buggify {
    me: PeerId,
    rng: Mutex<Rng>,
    /// The payload reads' own stream, so that how many reads a node makes does not
    /// shift the other faults' draws.
    read_rng: Mutex<Rng>,
    /// The slow writes' own stream (added after the others: the other faults' draws
    /// stay as they were, though their timing moves with the slower writes).
    write_rng: Mutex<Rng>,
    enabled: bool,
    probe: Arc<WindowProbe>,
    durability: Option<DurabilityCheck>,
    observations: Arc<Observations>,
    stale_per_mille: u64,
}

impl Buggify {
    /// An injector for node `me`, drawing from `seed`. With `enabled` false only the
    /// window probe, the durability check and the core observations work (no latency,
    /// no message faults).
    pub fn new(
        me: PeerId,
        seed: u64,
        enabled: bool,
        probe: Arc<WindowProbe>,
        durability: Option<DurabilityCheck>,
        observations: Arc<Observations>,
    ) -> Buggify {
        probe.reset();
        Buggify {
            me,
            rng: Mutex::new(Rng::new(seed)),
            read_rng: Mutex::new(Rng::new(seed ^ 0x7265_6164_7061_796c)),
            write_rng: Mutex::new(Rng::new(seed ^ 0x7772_6974_6564_6c79)),
            enabled,
            probe,
            durability,
            observations,
            stale_per_mille: 5,
        }
    }

    /// Per thousand messages, how many are held back 250–1500 ms, and as many again sent
    /// now and replayed that much later (default 5; at most 400).
    pub fn with_stale_per_mille(mut self, per_mille: u64) -> Buggify {
        self.stale_per_mille = per_mille.min(400);
        self
    }

    fn roll(&self, bound: u64) -> u64 {
        self.rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .below(bound)
    }

    fn grants_vote(&self, hard_state: &HardState<PeerId>) -> bool {
        hard_state
            .voted_for
            .as_ref()
            .is_some_and(|candidate| *candidate != self.me)
    }
}

impl FaultInjector for Buggify {
    fn observe(&self, core: &RaftCore<PeerId>) {
        self.observations.observe_core(core);
    }

    /// One write in five is slow: 1–5 ms before the batch is even visible (a process
    /// killed meanwhile loses it).
    fn write_delay(&self) -> Duration {
        if !self.enabled {
            return Duration::ZERO;
        }
        let mut rng = self
            .write_rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if rng.below(5) == 0 {
            Duration::from_millis(1 + rng.below(5))
        } else {
            Duration::ZERO
        }
    }

    /// Like a real disk next to a fast network: an fsync takes 1–20 ms (longer than a
    /// round trip here), and one in twenty takes 30–80 ms.
    fn fsync_delay(&self) -> Duration {
        if !self.enabled {
            return Duration::ZERO;
        }
        if self.roll(20) == 0 {
            Duration::from_millis(30 + self.roll(51))
        } else {
            Duration::from_millis(1 + self.roll(20))
        }
    }

    fn write_window(&self, batch: Option<&[PersistOp]>) {
        *self.probe.lock() = match batch {
            Some(ops) => Window {
                open: true,
                vote: ops
                    .iter()
                    .any(|op| matches!(op, PersistOp::HardState(h) if self.grants_vote(h))),
                since: turmoil::sim_elapsed().unwrap_or_default(),
            },
            None => Window::default(),
        };
    }

    fn completion_delay(&self) -> Duration {
        if self.enabled && self.roll(10) == 0 {
            Duration::from_millis(1 + self.roll(5))
        } else {
            Duration::ZERO
        }
    }

    /// A payload read from the store (a follower far behind, the apply after a
    /// restart) is slow now and then: one in four takes 1–30 ms, so replication, votes
    /// and applies overtake it.
    fn read_delay(&self) -> Duration {
        if !self.enabled {
            return Duration::ZERO;
        }
        let mut rng = self.read_rng.lock().unwrap_or_else(PoisonError::into_inner);
        if rng.below(4) == 0 {
            Duration::from_millis(1 + rng.below(30))
        } else {
            Duration::ZERO
        }
    }

    fn batch_limit(&self) -> Option<usize> {
        (self.enabled && self.roll(5) == 0).then(|| 1 + self.roll(3) as usize)
    }

    fn send(&self, to: &PeerId, message: &Message<PeerId>) -> SendFault {
        if let Some(check) = &self.durability {
            if let Some(violation) = check.check(&self.me, to, message) {
                check
                    .violations
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(violation);
            }
        }
        if !self.enabled {
            return SendFault::Deliver;
        }
        // Election traffic is rare next to replication traffic, and an election's
        // interleavings are where stale messages do their damage: a vote answer of an
        // older term, counted in a newer one. It goes stale ten times as often.
        let stale = match message {
            Message::Vote(_)
            | Message::VoteResponse(_)
            | Message::PreVote(_)
            | Message::PreVoteResponse(_) => (10 * self.stale_per_mille).min(400),
            _ => self.stale_per_mille,
        };
        match self.roll(1000) {
            0..10 => SendFault::Drop,
            10..30 => SendFault::Duplicate,
            30..50 => SendFault::Delay(Duration::from_millis(5 + self.roll(56))),
            // Long enough for a new term to begin meanwhile: the message (or a copy of
            // it) arrives stale.
            roll if roll < 50 + stale => {
                SendFault::Delay(Duration::from_millis(250 + self.roll(1251)))
            }
            roll if roll < 50 + 2 * stale => {
                SendFault::Replay(Duration::from_millis(250 + self.roll(1251)))
            }
            _ => SendFault::Deliver,
        }
    }
}
