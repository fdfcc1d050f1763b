//! The bodies of Concord's fuzz targets, shared by the libFuzzer harness (`fuzz/`, run with
//! cargo-fuzz) and the CI smoke test (`tests/fuzz_smoke.rs`). One copy: both include this
//! file with `#[path]`/`mod`, so whatever the long runs exercise, CI exercises too.
//!
//! Every target takes arbitrary bytes and must return normally: a panic (including a
//! failed oracle assertion below) is a finding. docs/verification.md ("Fuzzing") says how
//! to run them.

// Each including crate uses a subset of the helpers.
#![allow(dead_code)]

pub mod core_messages;
pub mod raft_wire;
pub mod service_wire;
pub mod storage_codec;

/// A target's body: arbitrary bytes in, a panic on a finding.
pub type Target = fn(&[u8]);

/// The targets by name, as `fuzz/fuzz_targets/*.rs` and the seed directories name them.
pub const TARGETS: [(&str, Target); 4] = [
    ("raft_wire", raft_wire::run),
    ("service_wire", service_wire::run),
    ("storage_codec", storage_codec::run),
    ("core_messages", core_messages::run),
];
