//! The user's state machine (JRaft's `StateMachineAdapter`, F05–F06).

use bytes::Bytes;

use super::error::{NodeFailure, PartialApply, StateMachineError};
use super::snapshot_store::{SnapshotSink, SnapshotSource};
use crate::core::{ConfigurationEntry, LogId, PeerId, Term};

/// The second half of a snapshot save: writes the files of the state captured by
/// [`StateMachine::on_snapshot_save`]. It runs off the state machine's thread (so
/// applying goes on meanwhile) and must only use what it captured.
pub type SnapshotSave =
    Box<dyn FnOnce(&mut SnapshotSink) -> Result<(), StateMachineError> + Send + 'static>;

/// What a snapshot being saved covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotContext {
    /// The last entry the state machine has applied, which the snapshot covers.
    pub last_included: LogId,
    /// The configuration in force at that entry (stored with the snapshot).
    pub configuration: ConfigurationEntry<PeerId>,
}

/// A committed client entry handed to the state machine.
#[derive(Debug)]
pub struct CommittedEntry<C> {
    /// Index and term.
    pub log_id: LogId,
    /// The payload the client proposed.
    pub data: Bytes,
    /// On the node that accepted the proposal, the context the client attached to its
    /// `Task` (so the leader need not deserialize its own requests). `None` elsewhere.
    pub context: Option<C>,
    /// This node accepted the task and holds its completion (the leader-side
    /// `Iterator::done()` of JRaft): the response goes to the client that proposed it.
    /// False elsewhere (followers, a replay after a restart, a leader that stepped down
    /// before the entry committed): the response is dropped, so a state machine may
    /// skip building it.
    pub awaited: bool,
}

/// What a leadership callback is told (JRaft's `LeaderChangeContext`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderChangeContext {
    /// The leader the callback is about: this node for `on_leader_start` and
    /// `on_leader_stop`, the leader followed for `on_start_following` and
    /// `on_stop_following`.
    pub leader: PeerId,
    /// The term of that leadership.
    pub term: Term,
    /// Why it ended, for the "stop" callbacks: `Ok` for a protocol reason (a higher
    /// term, a lost quorum, an election timeout), `Err` when this node failed and stepped
    /// aside. Always `Ok` for the "start" callbacks.
    pub status: Result<(), NodeFailure>,
}

/// A replicated state machine. Only `on_apply` is required.
///
/// Entries arrive strictly in log order, each exactly once per node lifetime (after a
/// restart, from the latest snapshot, loaded with `on_snapshot_load`, or without
/// snapshots from the beginning of the log: a state machine that keeps state outside
/// memory must then make `on_apply` idempotent by index). Callbacks run
/// on a thread of the node's own unless [`StateMachine::blocks`] says they never block
/// (and always as a task under a simulation's fault injector, for determinism), so they
/// may block on the state machine's own IO without stalling Raft; they run one at a
/// time, in log order: a leadership callback comes after every entry committed before
/// the change.
pub trait StateMachine: Send + 'static {
    /// What applying an entry returns to the client that proposed it.
    type Response: Send + 'static;
    /// Leader-side context attached to a task.
    type Context: Send + 'static;

    /// Applies one committed entry. An error puts the node into its error state: no
    /// further entries are applied until it is restarted, and `on_error` is called (F06).
    fn on_apply(
        &mut self,
        entry: &mut CommittedEntry<Self::Context>,
    ) -> Result<Self::Response, StateMachineError>;

    /// Applies a batch of up to `NodeOptions::apply_batch` consecutive entries (F05).
    /// Override to amortize work across a batch (one write to a database, say); the
    /// default calls `on_apply` for each. Returns one response per entry; or, when an
    /// entry fails, a [`PartialApply`] with the responses of the entries applied before
    /// it (JRaft's `setErrorAndRollback`: they count as applied, the rest do not, and the
    /// node applies nothing more until it is restarted).
    fn on_apply_batch(
        &mut self,
        entries: &mut [CommittedEntry<Self::Context>],
    ) -> Result<Vec<Self::Response>, PartialApply<Self::Response>> {
        let mut responses = Vec::with_capacity(entries.len());
        for entry in entries.iter_mut() {
            match self.on_apply(entry) {
                Ok(response) => responses.push(response),
                Err(error) => return Err(PartialApply { responses, error }),
            }
        }
        Ok(responses)
    }

    /// This node became leader (`context.leader` is this node).
    fn on_leader_start(&mut self, _context: &LeaderChangeContext) {}
    /// This node stopped leading `context.term`.
    fn on_leader_stop(&mut self, _context: &LeaderChangeContext) {}
    /// This node started following `context.leader` in `context.term`.
    fn on_start_following(&mut self, _context: &LeaderChangeContext) {}
    /// This node stopped following `context.leader`.
    fn on_stop_following(&mut self, _context: &LeaderChangeContext) {}
    /// A configuration entry was committed.
    fn on_configuration_committed(&mut self, _configuration: &ConfigurationEntry<PeerId>) {}
    /// The node entered its error state.
    fn on_error(&mut self, _failure: &NodeFailure) {}
    /// The node is shutting down; called once, after the last apply.
    fn on_shutdown(&mut self) {}

    /// Whether this state machine saves and loads snapshots (asked once, at start). A
    /// node whose state machine does not keeps its whole log: no snapshot is taken, the
    /// log is never compacted, and a follower that needs a snapshot cannot install one
    /// (it is caught up from the log, which then holds every entry).
    fn supports_snapshots(&self) -> bool {
        false
    }

    /// Captures the state for a snapshot (JRaft's `onSnapshotSave`, F11). Called in log
    /// order: every entry through `context.last_included` has been applied, and none
    /// after it. Return quickly with a closure that writes the files from what it
    /// captured (a copy, a persistent data structure's handle, a database checkpoint):
    /// the closure runs on another thread while applying continues, and the snapshot
    /// is committed durably once it returns `Ok`. An error fails only this snapshot.
    fn on_snapshot_save(
        &mut self,
        _context: &SnapshotContext,
    ) -> Result<SnapshotSave, StateMachineError> {
        Err(StateMachineError::new(
            "this state machine does not support snapshots",
        ))
    }

    /// Replaces the whole state with the snapshot's (JRaft's `onSnapshotLoad`): at
    /// start, when the node has a snapshot, and when a snapshot from the leader is
    /// installed. Entries after `snapshot.meta().last_included` follow. An error puts
    /// the node into its error state.
    fn on_snapshot_load(&mut self, _snapshot: &SnapshotSource) -> Result<(), StateMachineError> {
        Err(StateMachineError::new(
            "this state machine does not support snapshots",
        ))
    }

    /// Whether the callbacks may block: disk or network IO, locks other threads hold
    /// (the default, true). The node then runs them on a thread of its own, so a slow
    /// callback never holds up an async worker — at the price of two thread hand-offs
    /// per applied batch (measured in the in-process benchmark on 2 cores: about 40 %
    /// fewer operations per second at 1 client, docs/benchmarks.md). A state machine
    /// that only computes in memory returns false and is called by the node's own loop
    /// (no hand-off at all; under a simulation's fault injector, by a task): every
    /// callback — `on_snapshot_load` and the capture half of `on_snapshot_save`
    /// included — then holds up the node's loop (heartbeats, votes) while it runs, so
    /// return false only when they are all quick. Asked once, at start.
    fn blocks(&self) -> bool {
        true
    }
}
