//! A single register with read, write and compare-and-set.

use super::{bad_value, unknown_function};
use crate::error::ImportError;
use crate::history::Operation;
use crate::model::{Import, Model, Steps};
use crate::value::Value;
use smallvec::smallvec;

/// A register holding an integer, or nothing (`None`, "never written").
///
/// Porcupine's etcd logs start at `None` ([`Register::etcd`]); Knossos's cas-register
/// starts at 0 ([`Register::cas_register`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Register {
    /// The value before any write.
    pub initial: Option<i64>,
}

impl Register {
    /// A register that starts unwritten (`nil`), as in the etcd logs.
    pub fn etcd() -> Self {
        Register { initial: None }
    }

    /// A register that starts at 0, as Knossos's cas-register.
    pub fn cas_register() -> Self {
        Register { initial: Some(0) }
    }
}

/// A register operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegisterInput {
    /// Read the value.
    Read,
    /// Write a value.
    Write(i64),
    /// If the value is `expected`, set it to `new`.
    Cas {
        /// The value compared against.
        expected: i64,
        /// The value written on success.
        new: i64,
    },
}

/// A register operation's result.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOutput {
    /// The value read (`None`: never written).
    Read(Option<i64>),
    /// The write took effect.
    Write,
    /// `true`: the cas succeeded; `false`: it compared and failed, changing nothing.
    Cas(bool),
}

impl Model for Register {
    type State = Option<i64>;
    type Input = RegisterInput;
    type Output = RegisterOutput;

    fn init(&self) -> Option<i64> {
        self.initial
    }

    fn step(
        &self,
        state: &Option<i64>,
        input: &RegisterInput,
        output: Option<&RegisterOutput>,
    ) -> Steps<Option<i64>> {
        match (input, output) {
            (RegisterInput::Read, None) => smallvec![*state],
            (RegisterInput::Read, Some(RegisterOutput::Read(value))) if value == state => {
                smallvec![*state]
            }
            (RegisterInput::Write(value), None | Some(RegisterOutput::Write)) => {
                smallvec![Some(*value)]
            }
            (RegisterInput::Cas { expected, new }, Some(RegisterOutput::Cas(true))) => {
                if *state == Some(*expected) {
                    smallvec![Some(*new)]
                } else {
                    Steps::new()
                }
            }
            (RegisterInput::Cas { expected, .. }, Some(RegisterOutput::Cas(false))) => {
                if *state != Some(*expected) {
                    smallvec![*state]
                } else {
                    Steps::new()
                }
            }
            // Unknown outcome: it succeeds if the value matches, and otherwise it compares
            // and fails, changing nothing. Both are covered by this single next state.
            (RegisterInput::Cas { expected, new }, None) => {
                if *state == Some(*expected) {
                    smallvec![Some(*new)]
                } else {
                    smallvec![*state]
                }
            }
            _ => Steps::new(),
        }
    }

    fn describe_state(&self, state: &Option<i64>) -> String {
        match state {
            Some(value) => value.to_string(),
            None => "nil".to_string(),
        }
    }

    fn describe_operation(&self, input: &RegisterInput, output: Option<&RegisterOutput>) -> String {
        let result = match output {
            None => "?".to_string(),
            Some(RegisterOutput::Read(Some(v))) => v.to_string(),
            Some(RegisterOutput::Read(None)) => "nil".to_string(),
            Some(RegisterOutput::Write) => "ok".to_string(),
            Some(RegisterOutput::Cas(true)) => "ok".to_string(),
            Some(RegisterOutput::Cas(false)) => "failed".to_string(),
        };
        match input {
            RegisterInput::Read => format!("read() -> {result}"),
            RegisterInput::Write(v) => format!("write({v}) -> {result}"),
            RegisterInput::Cas { expected, new } => format!("cas({expected}, {new}) -> {result}"),
        }
    }
}

impl Import for Register {
    fn import(
        &self,
        operation: &Operation,
        result: Option<&Value>,
    ) -> Result<Option<(RegisterInput, Option<RegisterOutput>)>, ImportError> {
        match operation.function.as_str() {
            "read" => match result {
                // A read with an unknown result constrains nothing.
                None => Ok(None),
                Some(Value::Nil) => Ok(Some((
                    RegisterInput::Read,
                    Some(RegisterOutput::Read(None)),
                ))),
                Some(Value::Int(v)) => Ok(Some((
                    RegisterInput::Read,
                    Some(RegisterOutput::Read(Some(*v))),
                ))),
                Some(other) => Err(bad_value(operation, "an integer or nil result", other)),
            },
            "write" => match &operation.argument {
                Value::Int(v) => Ok(Some((
                    RegisterInput::Write(*v),
                    result.map(|_| RegisterOutput::Write),
                ))),
                other => Err(bad_value(operation, "an integer argument", other)),
            },
            "cas" => {
                let (expected, new) = match &operation.argument {
                    Value::List(items) => match items.as_slice() {
                        [Value::Int(a), Value::Int(b)] => (*a, *b),
                        _ => {
                            return Err(bad_value(
                                operation,
                                "[expected new] integers",
                                &operation.argument,
                            ))
                        }
                    },
                    other => return Err(bad_value(operation, "[expected new] integers", other)),
                };
                // `false` means "compared and failed"; any other ok result is a success.
                let output = result.map(|r| RegisterOutput::Cas(*r != Value::Bool(false)));
                Ok(Some((RegisterInput::Cas { expected, new }, output)))
            }
            _ => Err(unknown_function(operation, "read, write, cas")),
        }
    }
}
