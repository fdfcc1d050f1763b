//! Built-in models: register (read/write/cas), key-value map (get/put/append/cas,
//! partitioned per key), counter and set.

mod counter;
mod kv;
mod register;
mod set;

pub use counter::{Counter, CounterInput, CounterOutput};
pub use kv::{Kv, KvInput, KvOutput, KvState};
pub use register::{Register, RegisterInput, RegisterOutput};
pub use set::{Set, SetInput, SetOutput};

use crate::error::ImportError;
use crate::history::Operation;

/// The error for a function name the model does not know.
pub(crate) fn unknown_function(operation: &Operation, known: &str) -> ImportError {
    ImportError {
        line: operation.line,
        reason: format!(
            "unknown function {:?} for this model (expected one of {known})",
            operation.function
        ),
    }
}

/// The error for an argument or result of the wrong shape.
pub(crate) fn bad_value(operation: &Operation, what: &str, value: &crate::Value) -> ImportError {
    ImportError {
        line: operation.line,
        reason: format!("{} expects {what}, got {value}", operation.function),
    }
}
