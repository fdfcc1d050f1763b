//! Concord's chaos suite: Jepsen-style testing of the real runtime inside turmoil's
//! deterministic simulation.
//!
//! Each seed builds a cluster of real [`concord::runtime::Node`]s talking over the real
//! TCP transport on turmoil's simulated sockets, each persisting to a
//! [`concord::storage::SimDisk`] that models fsync, power loss and torn writes, with
//! a [`concord::runtime::DriftingClock`] per host. Clients (never crashed) issue KV
//! register operations through the real client protocol and record an
//! invoke/ok/fail/info history; a nemesis injects partitions, process kills, power
//! losses, pauses and clock drift drawn from the seed. After healing, the run checks
//! liveness (every key readable within a bound), acknowledged writes against the final
//! reads, node invariants sampled throughout, and linearizability with
//! `concord-linearizability`. The same seed gives a byte-identical history.
//!
//! `docs/verification.md` ("Chaos suite") explains nemeses, checks and reproduction.

pub mod check;
pub mod faults;
pub mod nemesis;
pub mod net;
pub mod observe;
pub mod rng;
pub mod run;

pub use nemesis::{Nemesis, NemesisSet};
pub use run::{run_seed, RunConfig, SeedReport};
