//! A stateright model of Concord whose servers run the production Raft core.
//!
//! Every server actor wraps the exact [`concord::core::RaftCore`] type, so every
//! interleaving the checker explores runs production transition logic. The glue in
//! [`server`] only translates: stateright messages and timers into core inputs, core
//! actions into sends, timers and saves. Persistence is a step of its own (the glue's
//! `Persist` timer), crashes lose everything not yet durable, and clients run register
//! operations through the log, recorded in a `LinearizabilityTester`.
//!
//! ```no_run
//! use concord_model::{check, ModelConfig, SearchOptions};
//!
//! let outcome = check(ModelConfig::default(), &SearchOptions::default());
//! assert!(outcome.passed(), "{}", outcome.render());
//! ```
//!
//! See `docs/verification.md` ("Model checker") for the properties, the bounds and the
//! measured state counts.

#![deny(missing_docs)]

/// The checker clones, relabels and drops millions of small states: glibc's allocator
/// took about a quarter of its time (perf, `check --profile elections`). Set here, in the
/// library, so the CLI and every test binary of this crate use it (the `mimalloc`
/// feature, on by default).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod actor;
pub mod client;
pub mod model;
pub mod profiles;
pub mod properties;
pub mod run;
pub mod server;
pub mod symmetry;
pub mod types;

pub use model::{
    AdminPlan, ClockModel, ConcordModel, ConcordState, History, ModelConfig, NetworkKind,
};
pub use run::{check, simulate, Outcome, SearchOptions, Verdict};
pub use server::{CorrectGlue, Glue, PersistMode};
