//! The cross-thread handoffs of Concord's runtime, small enough for loom to check every
//! interleaving.
//!
//! A Concord node is a handful of tokio tasks (the driver, the log writer, the FSM
//! caller) and any number of `Node` handles held by application threads. What they hand
//! each other goes through these primitives (except the multi-producer proposal and
//! inbound-frame queues, which stay tokio channels, rung through a [`doorbell`];
//! docs/verification.md says why):
//!
//! - [`status`]: the driver publishes the node's latest status and the `accepting`
//!   flag (`Node::apply`'s lock-free fast path) as one publication; handles read and
//!   wait on it. Once the publisher is closed or dropped, nobody sees `accepting` again.
//! - [`completion`]: one proposal's answer, delivered exactly once; a dropped waiter or
//!   a dropped completer is observed by the other side.
//! - [`queue`]: a single-producer, single-consumer handoff queue (bounded with
//!   backpressure, or unbounded) with close semantics: no item is lost or duplicated,
//!   and the consumer drains what was sent before it sees the end.
//! - [`shutdown`]: the request to stop a node, from any handle, latched, and implied
//!   when every handle is gone.
//! - [`doorbell`]: one waker for all of the driver's input queues: producers ring their
//!   queue's bit after sending, and the driver looks only into the queues rung, and
//!   registers its waker once per wait instead of with every queue.
//!
//! They are built on a small facade (`std::sync` normally, `loom::sync` under
//! `--cfg loom`) and know nothing of tokio, so the same code the runtime runs is what
//! the loom tests in `tests/` explore. Futures returned here never consume
//! tokio's cooperative budget; the runtime wraps them in `tokio::task::coop::cooperative`
//! where it awaits them, as tokio's own channels would. This crate lives under
//! `src/runtime/` because it is the runtime's plumbing, and is a crate of its own so a
//! loom build compiles loom and nothing else (docs/verification.md, "Loom").

#![deny(missing_docs)]

pub mod completion;
pub mod doorbell;
pub mod queue;
pub mod shutdown;
pub mod status;
mod sync;
