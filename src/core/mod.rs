//! The pure Raft protocol core.
//!
//! Everything Raft decides lives here, as a deterministic state machine with no IO, no
//! clocks, no randomness, no threads and no async: [`RaftCore::step`] takes one
//! [`Input`] and returns the [`Action`]s the caller must carry out. The same type runs
//! under the stateright model checker, in the tokio runtime and in the chaos suite.
//!
//! # Glossary
//!
//! - **term**: Raft's logical clock; at most one leader per term (Raft §5.1).
//! - **index**: the position of an entry in the log, from 1.
//! - **log id**: `(term, index)` of an entry; equal log ids mean equal log prefixes.
//! - **persist**: make durable (fsync). Term, vote and entries are persisted; votes and
//!   acks that depend on them are sent only afterwards (the core holds them back).
//! - **commit**: an entry is committed once stored on a quorum *and* covered by an
//!   entry of the leader's current term (Raft §5.4.2).
//! - **apply**: hand a committed entry to the state machine, strictly in index order.
//! - **lease**: the period after hearing from a leader during which a follower refuses
//!   to vote for anyone else (F24); it ends when the election timer fires.
//!
//! # Contract
//!
//! 1. Restore with [`RaftCore::new`] from durable state, call [`RaftCore::start`].
//! 2. Feed inputs one at a time with [`RaftCore::step`]; carry out the returned actions
//!    in order. Persistence actions ([`Action::SaveHardState`], [`Action::TruncateLog`],
//!    [`Action::AppendLog`]) carry increasing sequence numbers and must take effect in
//!    that order; once every write up to `seq` is durable, step
//!    [`Input::Persisted { seq }`](Input::Persisted). That is the executor's only
//!    ordering duty: the core itself holds back the messages that must wait for
//!    durability and emits them as plain [`Action::Send`]s once their writes are
//!    reported durable. [`PersistQueue`] is a ready-made queue for those writes.
//! 3. Timers: on [`Action::ResetTimer`] (re)arm the timer, on [`Action::CancelTimer`]
//!    stop it; when it fires, step [`Input::Timeout`].
//!
//! ```
//! use concord::core::*;
//!
//! let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64]));
//! let mut node = RaftCore::new(1u64, CoreOptions::default(), Restored::empty(configuration))
//!     .unwrap();
//! node.start();
//! // The election timer fires: a one-node cluster pre-votes, then campaigns.
//! let actions = node.step(Input::Timeout(Timer::Election));
//! let hard_state = HardState { term: Term(1), voted_for: Some(1), reset: None };
//! let seq = actions.iter().find_map(|a| match a {
//!     Action::SaveHardState { seq, hard_state: saved } if *saved == hard_state => Some(*seq),
//!     _ => None,
//! }).unwrap();
//! // Its own vote counts only once term and vote are durable.
//! assert!(!node.is_leader());
//! node.step(Input::Persisted { seq });
//! assert!(node.is_leader());
//! ```

mod admission;
mod configuration;
mod durability;
mod election;
mod entry;
mod error;
mod follower;
mod invariants;
mod io;
mod leader;
mod log;
mod membership;
mod message;
mod options;
mod peer;
mod persist_queue;
mod progress;
mod quorum;
mod raft;
mod read;
mod relabel;
mod replication;
mod reset;
mod snapshot;
mod transfer;
mod types;
mod view;

pub use configuration::{
    Configuration, ConfigurationEntry, ConfigurationError, MembershipChange, LEARNER_SUFFIX,
};
pub use entry::{EntryKind, EntryMeta};
pub use error::{AdminError, ParseError, ProposeError, ReadIndexError};
pub use invariants::{check_log_matching, ClusterObserver, InvariantViolation};
pub use io::{Action, ConfigurationReset, HardState, Input, Proposal, Role, Timer};
pub use message::{
    AppendRequest, AppendResponse, AppendResult, Heartbeat, HeartbeatResponse,
    InstallSnapshotRequest, InstallSnapshotResponse, InstallSnapshotResult, Message,
    ReadIndexRequest, ReadIndexResponse, ReadIndexResult, TimeoutNow, VoteRequest, VoteResponse,
};
pub use options::{CoreOptions, OptionsError};
pub use peer::{Endpoint, PeerId};
pub use persist_queue::{Flush, PersistQueue, Write};
pub use progress::{Inflights, Progress, ProgressState};
pub use quorum::{joint_index, joint_vote, majority_index, majority_vote, VoteResult};
pub use raft::{CoreRestorer, RaftCore, RestoreError, Restored};
pub use snapshot::SnapshotMeta;
pub use types::{GroupId, LogEpoch, LogId, LogIndex, NodeId, PersistSeq, RequestId, Term};
