//! What reaches a node's driver from outside it: the requests of its `Node` handles
//! ([`Control`]) and where their answers go, and the channels and equipment the driver
//! is built with ([`Channels`], [`DriverSnapshots`]).

use std::sync::Arc;

use concord_sync::doorbell::Doorbell;
use concord_sync::{queue, shutdown};
use tokio::sync::mpsc;

use super::error::SnapshotError;
use super::fsm::{FsmDone, FsmJob, InlineFsm};
use super::inbox::Rung;
use super::reads::ReadRequest;
use super::snapshot_store::SnapshotStore;
use super::state_machine::StateMachine;
use super::status::NodeDescription;
use super::tasks::Proposal;
use super::transfer::{PartialSlot, SnapshotEvent};
use super::writer::{InlineWriter, Staged, WriteDone, WriterJob};
use crate::core::{AdminError, Configuration, LogId, MembershipChange, PeerId};
use crate::metrics::NodeMetrics;
use crate::transport::RaftFrame;

/// A request from a `Node` handle to its driver.
pub(crate) enum Control {
    /// Take a snapshot now; answered once it is saved.
    Snapshot(tokio::sync::oneshot::Sender<Result<Option<LogId>, SnapshotError>>),
    /// Change the membership; answered once the new configuration is committed.
    ChangeMembership(MembershipChange<PeerId>, MembershipAnswer),
    ResetPeers(Configuration<PeerId>, MembershipAnswer),
    /// Hand leadership over; answered once this node stepped down for the target.
    TransferLeadership(Option<PeerId>, TransferAnswer),
    /// The node's state in depth, rendered from the core now.
    Describe(tokio::sync::oneshot::Sender<NodeDescription>),
}

/// Where a membership change's outcome goes.
pub(crate) type MembershipAnswer =
    tokio::sync::oneshot::Sender<Result<Configuration<PeerId>, AdminError<PeerId>>>;

/// Where a leadership transfer's outcome goes.
pub(crate) type TransferAnswer = tokio::sync::oneshot::Sender<Result<PeerId, AdminError<PeerId>>>;

/// An answer to a membership change or a transfer, held until the status is published.
pub(crate) enum AdminAnswer {
    Membership(
        MembershipAnswer,
        Result<Configuration<PeerId>, AdminError<PeerId>>,
    ),
    Transfer(TransferAnswer, Result<PeerId, AdminError<PeerId>>),
}

impl AdminAnswer {
    pub(crate) fn send(self) {
        // A caller that stopped waiting is no concern of the driver's.
        match self {
            AdminAnswer::Membership(waiter, result) => drop(waiter.send(result)),
            AdminAnswer::Transfer(waiter, result) => drop(waiter.send(result)),
        }
    }
}

/// The driver's snapshot equipment (present when the node has a snapshot store and
/// its state machine supports snapshots).
pub(crate) struct DriverSnapshots {
    pub(crate) store: Arc<dyn SnapshotStore>,
    pub(crate) staged: Staged,
    pub(crate) partial: PartialSlot,
    pub(crate) events: Rung<mpsc::UnboundedSender<SnapshotEvent>>,
}

/// The driver's inputs and workers, handed over when it is built.
pub(crate) struct Channels<S: StateMachine> {
    pub(crate) inbound: mpsc::Receiver<RaftFrame>,
    pub(crate) proposals: mpsc::Receiver<Proposal<S>>,
    pub(crate) reads: mpsc::Receiver<ReadRequest<S>>,
    pub(crate) stop: shutdown::Listener,
    pub(crate) writer_jobs: queue::Sender<WriterJob>,
    pub(crate) writer_done: queue::Receiver<WriteDone>,
    pub(crate) fsm_jobs: queue::Sender<FsmJob<S>>,
    pub(crate) fsm_done: queue::Receiver<FsmDone>,
    pub(crate) controls: mpsc::Receiver<Control>,
    pub(crate) snapshot_events: mpsc::UnboundedReceiver<SnapshotEvent>,
    /// The snapshot equipment the driver hands to fetches and its server (taken out
    /// at start).
    pub(crate) snapshots: Option<DriverSnapshots>,
    /// Where the driver's measurements go (crate::metrics).
    pub(crate) metrics: NodeMetrics,
    /// The log writer, when it runs inline (a store that never blocks): there is no
    /// writer task, and `writer_jobs` and `writer_done` stay unused.
    pub(crate) inline_writer: Option<InlineWriter>,
    /// The state machine's caller, when the driver runs it (a state machine that does
    /// not block): `fsm_jobs` then stays empty.
    pub(crate) inline_fsm: Option<InlineFsm<S>>,
    /// Which of the queues above have something (`inbox`).
    pub(crate) doorbell: Doorbell,
}
