//! The tokio runtime: turns the pure core into a node applications deploy.
//!
//! A [`Node`] runs three tasks: the *driver* owns the `RaftCore`, feeds it frames,
//! proposals and timer expiries and carries out its actions; the *log writer* applies
//! persistence actions in order with one fsync per batch (group commit), in parallel
//! with replication (a blocking store's writes and fsyncs run on tokio's blocking
//! pool); the *FSM caller* applies committed entries to the user's [`StateMachine`] on
//! a thread of its own (so a state machine may block; a task when
//! [`StateMachine::blocks`] is false) and answers the clients. The runtime makes no
//! protocol decision.
//!
//! Inside the driver, one module per concern, none importing another's internals:
//! `timers`, `tasks` (client tasks until answered), `payloads`, `outbound` (frames out),
//! `status` (what `Node::describe` reads).

mod clock;
mod control;
mod driver;
#[cfg(feature = "fjall")]
mod durable;
mod error;
mod faults;
mod fsm;
mod inbox;
mod node;
mod options;
mod outbound;
mod payloads;
mod reader;
mod reads;
mod server;
mod snapshot_store;
mod state_machine;
mod status;
mod store;
mod tasks;
mod timers;
mod transfer;
mod writer;

pub use clock::{Clock, DriftingClock, MonotonicClock};
#[cfg(feature = "fjall")]
pub use durable::{DurableStorage, StorageOptions};
pub use error::{
    AdminCallError, ApplyError, NodeFailure, PartialApply, ReadError, SnapshotError,
    SnapshotFailure, StartError, StateMachineError,
};
pub use faults::{FaultInjector, SendFault};
pub use fsm::Applied;
pub use node::{Node, Task};
pub use options::{ApplyTaskMode, NodeOptions, ReadOnlyOption};
pub use server::{RaftServer, Router};
pub use snapshot_store::{
    LocalSnapshotStore, MemorySnapshotStore, SnapshotSink, SnapshotSource, SnapshotStore,
};
pub use state_machine::{
    CommittedEntry, LeaderChangeContext, SnapshotContext, SnapshotSave, StateMachine,
};
pub use status::{NodeDescription, NodeStatus, ReplicatorStatus};
pub use store::{LogStore, MemoryLogStore, PersistOp, StorageLogStore};
