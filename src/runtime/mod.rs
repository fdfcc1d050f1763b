//! The tokio runtime: turns the pure core into a node applications deploy.
//!
//! A [`Node`] runs three tasks: the *driver* owns the `RaftCore`, feeds it frames,
//! proposals and timer expiries and carries out its actions; the *log writer* applies
//! persistence actions in order with one fsync per batch (group commit), in parallel
//! with replication; the *FSM caller* applies committed entries to the user's
//! [`StateMachine`] and answers the clients. The runtime makes no protocol decision.

mod clock;
mod driver;
mod error;
mod faults;
mod fsm;
mod node;
mod options;
mod payloads;
mod server;
mod state_machine;
mod store;
mod writer;

pub use clock::{Clock, DriftingClock, MonotonicClock};
pub use error::{ApplyError, NodeFailure, StartError};
pub use faults::{FaultInjector, SendFault};
pub use fsm::Applied;
pub use node::{Node, NodeStatus, Task};
pub use options::{ApplyTaskMode, NodeOptions};
pub use server::{RaftServer, Router};
pub use state_machine::{CommittedEntry, StateMachine};
pub use store::{LogStore, MemoryLogStore, PersistOp, StorageLogStore, StoredEntry};
