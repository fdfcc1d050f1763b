//! Who may ask this node for what outside the Raft messages. The Raft messages
//! themselves are admitted by `RaftCore::step` (a frame claiming to come from the node
//! itself is dropped; senders outside the configuration are answered by the term rules,
//! as membership changes need — Raft dissertation §4.1–4.2); the executor's own services
//! ask the core here, so that no membership decision lives in an executor.

use super::raft::RaftCore;
use super::types::NodeId;

impl<N: NodeId> RaftCore<N> {
    /// Whether `peer` may read this node's snapshot files (the chunked transfer of an
    /// InstallSnapshot): a member of the configuration in force — voter or learner, of
    /// either half of a joint configuration — or, on a leader, a peer it replicates to
    /// (a server catching up before it becomes a member, or a leaving one it still
    /// replicates to). Never this node itself.
    pub fn may_read_snapshot(&self, peer: &N) -> bool {
        if *peer == self.id {
            return false;
        }
        let configuration = self.configuration();
        configuration.current.contains(peer)
            || configuration
                .old
                .as_ref()
                .is_some_and(|old| old.contains(peer))
            || self.progress(peer).is_some()
    }
}
