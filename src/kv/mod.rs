//! A small replicated key-value store (F34, RheaKV in spirit): the state machine, its
//! command encoding, and a client that follows leader redirects. The demo, the chaos
//! suite and the benchmarks use it.

mod client;
mod command;
mod machine;
mod remote;

pub use client::{KvClient, KvClientError};
pub use command::{KvCommand, KvResponse};
pub use machine::{KvRead, KvStateMachine};
pub use remote::{kv_handler, kv_handler_through_log, RemoteKvClient};
