//! The user's state machine (JRaft's `StateMachineAdapter`, F05–F06).

use bytes::Bytes;

use super::error::NodeFailure;
use crate::core::{ConfigurationEntry, LogId, PeerId, Term};

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
}

/// A replicated state machine. Only `on_apply` is required.
///
/// Entries arrive strictly in log order, each exactly once per node lifetime (after a
/// restart, from the beginning of the log: without snapshots, a state machine that
/// keeps state outside memory must make `on_apply` idempotent by index).
pub trait StateMachine: Send + 'static {
    /// What applying an entry returns to the client that proposed it.
    type Response: Send + 'static;
    /// Leader-side context attached to a task.
    type Context: Send + 'static;

    /// Applies one committed entry. An error puts the node into its error state: no
    /// further entries are applied and `on_error` is called (F06).
    fn on_apply(
        &mut self,
        entry: &mut CommittedEntry<Self::Context>,
    ) -> Result<Self::Response, NodeFailure>;

    /// Applies a batch of up to `apply_batch` consecutive entries. Override to amortize
    /// work across a batch (one write to a database, say); the default calls `on_apply`
    /// for each. Must return one response per entry, or an error.
    fn on_apply_batch(
        &mut self,
        entries: &mut [CommittedEntry<Self::Context>],
    ) -> Result<Vec<Self::Response>, NodeFailure> {
        entries
            .iter_mut()
            .map(|entry| self.on_apply(entry))
            .collect()
    }

    /// This node became leader of `term`.
    fn on_leader_start(&mut self, _term: Term) {}
    /// This node stopped leading `term`.
    fn on_leader_stop(&mut self, _term: Term) {}
    /// This node started following `leader` in `term`.
    fn on_start_following(&mut self, _leader: &PeerId, _term: Term) {}
    /// This node stopped following `leader` (in `term`).
    fn on_stop_following(&mut self, _leader: &PeerId, _term: Term) {}
    /// A configuration entry was committed.
    fn on_configuration_committed(&mut self, _configuration: &ConfigurationEntry<PeerId>) {}
    /// The node entered its error state.
    fn on_error(&mut self, _failure: &NodeFailure) {}
    /// The node is shutting down; called once, after the last apply.
    fn on_shutdown(&mut self) {}
}
