//! `MetaStorage`: the durable term and vote (Raft §5.1, Figure 2 "persistent state").

use crate::core::PeerId;

use super::error::Result;

/// The state Raft must persist before it answers a vote request or acknowledges an
/// append: the current term and the candidate voted for in that term. The core's own
/// type, so the core, the runtime and every store share one hard state.
pub type HardState = crate::core::HardState<PeerId>;

/// Durable term and vote of one group, as Concord's bundled stores implement it. Sealed,
/// like [`super::LogStorage`]: the storage port to implement is
/// [`LogStore`](crate::runtime::LogStore).
///
/// Contract: when the store was opened with `sync` on, [`MetaStorage::set_hard_state`]
/// returns only after the new state is on stable storage, so a vote or an append may be
/// acknowledged right after it returns. With `sync` off the state may be lost on power
/// failure (JRAFT_GUIDE_NOTES F22) and a node may vote twice in one term.
///
/// Thread-safety: implementations are `Send`; writes take `&mut self`, so one owner (the
/// runtime's writer task) serialises them.
pub trait MetaStorage: super::log::sealed::Sealed + Send {
    /// The stored hard state; the default (`term 0`, no vote) if none was ever written.
    fn hard_state(&self) -> Result<HardState>;

    /// Replaces the hard state; durable before return when `sync` is on.
    fn set_hard_state(&mut self, state: &HardState) -> Result<()>;
}
