//! A grow-only set with add and read.

use super::{bad_value, unknown_function};
use crate::error::ImportError;
use crate::history::Operation;
use crate::model::{Import, Model, Steps};
use crate::value::Value;
use smallvec::smallvec;
use std::collections::BTreeSet;

/// A set of values, initially empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Set;

/// A set operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetInput {
    /// Add an element.
    Add(Value),
    /// Read all elements.
    Read,
}

/// A set operation's result.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetOutput {
    /// The add took effect.
    Add,
    /// The elements read.
    Read(BTreeSet<Value>),
}

impl Model for Set {
    type State = BTreeSet<Value>;
    type Input = SetInput;
    type Output = SetOutput;

    fn init(&self) -> Self::State {
        BTreeSet::new()
    }

    fn step(
        &self,
        state: &Self::State,
        input: &SetInput,
        output: Option<&SetOutput>,
    ) -> Steps<Self::State> {
        match (input, output) {
            (SetInput::Add(v), None | Some(SetOutput::Add)) => {
                let mut next = state.clone();
                next.insert(v.clone());
                smallvec![next]
            }
            (SetInput::Read, None) => smallvec![state.clone()],
            (SetInput::Read, Some(SetOutput::Read(read))) if read == state => {
                smallvec![state.clone()]
            }
            _ => Steps::new(),
        }
    }

    fn state_heap_bytes(&self, state: &Self::State) -> usize {
        // A B-tree node per few elements; the element size plus a third for the nodes.
        state.len() * (std::mem::size_of::<Value>() * 4 / 3)
    }

    fn describe_state(&self, state: &Self::State) -> String {
        let items: Vec<String> = state.iter().map(Value::to_string).collect();
        format!("#{{{}}}", items.join(" "))
    }

    fn describe_operation(&self, input: &SetInput, output: Option<&SetOutput>) -> String {
        match (input, output) {
            (SetInput::Add(v), None) => format!("add({v}) -> ?"),
            (SetInput::Add(v), Some(_)) => format!("add({v}) -> ok"),
            (SetInput::Read, Some(SetOutput::Read(read))) => {
                format!("read() -> {}", self.describe_state(read))
            }
            (SetInput::Read, _) => "read() -> ?".to_string(),
        }
    }
}

impl Import for Set {
    fn import(
        &self,
        operation: &Operation,
        result: Option<&Value>,
    ) -> Result<Option<(SetInput, Option<SetOutput>)>, ImportError> {
        match operation.function.as_str() {
            "add" => Ok(Some((
                SetInput::Add(operation.argument.clone()),
                result.map(|_| SetOutput::Add),
            ))),
            "read" => match result {
                None => Ok(None),
                Some(Value::List(items)) => Ok(Some((
                    SetInput::Read,
                    Some(SetOutput::Read(items.iter().cloned().collect())),
                ))),
                Some(Value::Nil) => Ok(Some((
                    SetInput::Read,
                    Some(SetOutput::Read(BTreeSet::new())),
                ))),
                Some(other) => Err(bad_value(operation, "a list result", other)),
            },
            _ => Err(unknown_function(operation, "add, read")),
        }
    }
}
