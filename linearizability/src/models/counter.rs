//! A counter with add and read.

use super::{bad_value, unknown_function};
use crate::error::ImportError;
use crate::history::Operation;
use crate::model::{Import, Model, Steps};
use crate::value::Value;
use smallvec::smallvec;

/// An integer counter starting at 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counter;

/// A counter operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CounterInput {
    /// Add a (possibly negative) amount.
    Add(i64),
    /// Read the value.
    Read,
}

/// A counter operation's result.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CounterOutput {
    /// The add took effect.
    Add,
    /// The value read.
    Read(i64),
}

impl Model for Counter {
    type State = i64;
    type Input = CounterInput;
    type Output = CounterOutput;

    fn init(&self) -> i64 {
        0
    }

    fn step(
        &self,
        state: &i64,
        input: &CounterInput,
        output: Option<&CounterOutput>,
    ) -> Steps<i64> {
        match (input, output) {
            (CounterInput::Add(n), None | Some(CounterOutput::Add)) => {
                smallvec![state.wrapping_add(*n)]
            }
            (CounterInput::Read, None) => smallvec![*state],
            (CounterInput::Read, Some(CounterOutput::Read(v))) if v == state => smallvec![*state],
            _ => Steps::new(),
        }
    }

    fn describe_operation(&self, input: &CounterInput, output: Option<&CounterOutput>) -> String {
        match (input, output) {
            (CounterInput::Add(n), None) => format!("add({n}) -> ?"),
            (CounterInput::Add(n), Some(_)) => format!("add({n}) -> ok"),
            (CounterInput::Read, Some(CounterOutput::Read(v))) => format!("read() -> {v}"),
            (CounterInput::Read, _) => "read() -> ?".to_string(),
        }
    }
}

impl Import for Counter {
    fn import(
        &self,
        operation: &Operation,
        result: Option<&Value>,
    ) -> Result<Option<(CounterInput, Option<CounterOutput>)>, ImportError> {
        match operation.function.as_str() {
            "add" | "incr" => {
                let n = match &operation.argument {
                    Value::Nil => 1,
                    Value::Int(n) => *n,
                    other => return Err(bad_value(operation, "an integer argument", other)),
                };
                Ok(Some((
                    CounterInput::Add(n),
                    result.map(|_| CounterOutput::Add),
                )))
            }
            "read" => match result {
                None => Ok(None),
                Some(Value::Int(v)) => {
                    Ok(Some((CounterInput::Read, Some(CounterOutput::Read(*v)))))
                }
                Some(other) => Err(bad_value(operation, "an integer result", other)),
            },
            _ => Err(unknown_function(operation, "add, read")),
        }
    }
}
