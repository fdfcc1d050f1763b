//! Concord: a Raft consensus library built verification-first.
//!
//! The protocol lives in [`core`], a pure, deterministic state machine shared by the
//! model checker (`concord-model`), the tokio runtime and the chaos suite.

#![deny(missing_docs)]

pub mod core;
pub mod kv;
mod metrics;
pub mod runtime;
pub mod service;
pub mod storage;
mod trace;
pub mod transport;

/// The user guide's code blocks are compiled as doctests (`cargo test --doc`), so a
/// snippet cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../docs/runtime.md")]
pub struct RuntimeGuide;
