//! Deterministic fault points for simulation testing, in the manner of FoundationDB's
//! "buggify": places inside the runtime where a simulator may stretch time, lose or
//! repeat a message, or cut a batch differently, so that rare interleavings — a power
//! loss between a write and its fsync, a stale message arriving twice, a durability
//! report arriving late — happen in every few seeds instead of once a year.
//!
//! A node runs without an injector unless [`NodeOptions::faults`] is set, and then every
//! fault point is a no-op branch. The chaos suite sets one whose choices come from the
//! run's seed, so a failing run replays exactly. The injector never makes a protocol
//! decision: each fault is something the environment (disk, network, scheduler) may do
//! to a correct node anyway.
//!
//! [`NodeOptions::faults`]: super::NodeOptions::faults

use std::fmt::Debug;
use std::time::Duration;

use super::store::PersistOp;
use crate::core::{Message, PeerId, RaftCore};

/// What happens to one outgoing Raft message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendFault {
    /// Send it normally.
    Deliver,
    /// Lose it (as a broken connection would).
    Drop,
    /// Send it twice (as a retransmitting transport may).
    Duplicate,
    /// Send it after this much time, so later messages overtake it.
    Delay(Duration),
    /// Send it now and a copy again after this much time: a stale duplicate that may
    /// arrive terms later (a retransmitting proxy, a resend after a reconnect).
    Replay(Duration),
}

/// Fault points of one node. Every method has the behaviour of a fault-free run as its
/// default, so an injector overrides only what it perturbs.
pub trait FaultInjector: Debug + Send + Sync + 'static {
    /// How long the log writer takes to write a batch before it is visible (a slow
    /// `write`: the page cache under pressure). A process killed meanwhile loses the
    /// batch; nothing of it was reported durable.
    fn write_delay(&self) -> Duration {
        Duration::ZERO
    }

    /// How long the log writer waits between writing a batch (visible, not yet durable)
    /// and the fsync that makes it durable. A power loss in that window loses the batch
    /// — the window every "acknowledged before durable" bug needs.
    fn fsync_delay(&self) -> Duration {
        Duration::ZERO
    }

    /// Told when the log writer enters that window (`Some` of the batch it wrote) and
    /// leaves it (`None`), so a simulator can time a crash inside it.
    fn write_window(&self, _batch: Option<&[PersistOp]>) {}

    /// How long the log writer waits, after a batch is durable, before telling the
    /// driver (a slow completion path: acknowledgements and commits wait for it).
    fn completion_delay(&self) -> Duration {
        Duration::ZERO
    }

    /// How long a payload read from the store takes beyond the read itself (the
    /// driver reads payloads its cache lacks off its own task: a follower far behind,
    /// the apply after a restart). Later events overtake a slow read.
    fn read_delay(&self) -> Duration {
        Duration::ZERO
    }

    /// Most persistence jobs the writer may coalesce into its next fsync; `None` keeps
    /// the configured maximum. Smaller batches move group-commit boundaries around.
    fn batch_limit(&self) -> Option<usize> {
        None
    }

    /// What to do with an outgoing Raft message.
    fn send(&self, _to: &PeerId, _message: &Message<PeerId>) -> SendFault {
        SendFault::Deliver
    }

    /// Whether the driver reports a batch of writes durable as soon as it is queued, before
    /// the writer has even written it. A correct executor reports writes only after the
    /// fsync, so this returns false. Only the teeth tests override it, to run the classic
    /// "acknowledged before fsync" executor and prove the chaos suite catches it; it
    /// exists only with the `teeth` feature, which no deployment enables.
    #[cfg(feature = "teeth")]
    fn reports_before_durable(&self, _writes: &[PersistOp]) -> bool {
        false
    }

    /// Sees the core after every step (read only). The chaos suite feeds it to one
    /// [`ClusterObserver`](crate::core::ClusterObserver) shared by every node of a run,
    /// so Election Safety, Leader Completeness and State Machine Safety are checked on
    /// the real runtime's state at every step, not only through what clients observe.
    fn observe(&self, _core: &RaftCore<PeerId>) {}
}
