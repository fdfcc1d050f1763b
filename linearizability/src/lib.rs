//! A linearizability checker for histories of concurrent operations.
//!
//! Concord's chaos suite records what its clients did — calls, returns, timeouts — as a
//! [`History`]; this crate decides whether some sequential order of those operations,
//! consistent with real time, is legal for a [`Model`] (a register, a key-value map, a
//! counter, a set, or your own). It implements Wing–Gong search with Lowe's just-in-time
//! linearization and a cache of explored (linearized set, state) pairs, as Porcupine and
//! Knossos do, splits P-compositional models by key and searches the partitions in time
//! slices on worker threads, so a cheap violation is found fast even beside a hopeless
//! partition. Results are three-valued ([`Verdict`]): a timeout or the memory budget
//! ([`CheckOptions::max_memory_bytes`]) yields `Unknown`, never a guess. A history with
//! no client operations is linearizable.
//!
//! Glossary: a *call* and a *return* bound an operation in real time; an operation is
//! *indeterminate* when its outcome is unknown (Jepsen `:info`, or no return at all): it
//! may take effect at any point after its call, or never. A *linearization* is a total
//! order of the operations that respects real time and the model.
//!
//! # Example
//!
//! ```
//! use concord_linearizability::{analyze, CheckOptions, History, ModelKind, Value, Verdict};
//!
//! let mut history = History::new();
//! let write = history.invoke(0, "write", 1).unwrap();
//! let read = history.invoke(1, "read", Value::Nil).unwrap();
//! history.ok(read, 1).unwrap(); // the read saw the concurrent write: fine
//! history.ok(write, Value::Nil).unwrap();
//! let stale = history.invoke(1, "read", Value::Nil).unwrap();
//! history.ok(stale, Value::Nil).unwrap(); // but then "never written": not linearizable
//!
//! let analysis = analyze(ModelKind::Register, &history, &CheckOptions::default()).unwrap();
//! assert_eq!(analysis.report.verdict, Verdict::NotLinearizable);
//! let failing = analysis.report.failing_partition().unwrap();
//! assert_eq!(failing.blocking, vec![stale]);
//! ```
//!
//! Your own model implements [`Model`] and calls [`check`] with typed [`Op`]s.

#![deny(missing_docs)]

mod analysis;
mod bitset;
mod checker;
mod error;
mod history;
pub mod html;
mod lost;
mod memory;
mod model;
pub mod models;
pub mod parse;
mod search;
mod value;

pub use analysis::{analyze, import, Analysis, ModelKind, OpView};
pub use checker::{
    check, CheckOptions, CheckReport, LinearizationStep, Op, PartitionReport, UnknownCause, Verdict,
};
pub use error::{HistoryError, ImportError, ParseError};
pub use history::{History, OpId, Operation, Outcome, ProcessId};
pub use lost::lost_acked_writes;
pub use memory::default_max_memory_bytes;
pub use model::{Import, Model, Steps};
pub use parse::{parse, to_jsonl, Format};
pub use value::Value;
