//! A key-value map of strings with get, put, append and compare-and-set, partitioned per
//! key.

use super::{bad_value, unknown_function};
use crate::error::ImportError;
use crate::history::Operation;
use crate::model::{Import, Model, Steps};
use crate::value::Value;
use smallvec::{smallvec, SmallVec};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A map from string keys to string values. A missing key reads as `""` (Porcupine's kv
/// convention). Operations on different keys are independent, so the checker may split
/// the history per key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kv;

/// A kv operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvInput {
    /// Read a key.
    Get(String),
    /// Set a key.
    Put(String, String),
    /// Concatenate to a key's value (no separator).
    Append(String, String),
    /// If the key's value is `expected`, set it to `new`.
    Cas {
        /// The key.
        key: String,
        /// The value compared against.
        expected: String,
        /// The value written on success.
        new: String,
    },
}

impl KvInput {
    /// The key the operation touches.
    pub fn key(&self) -> &str {
        match self {
            KvInput::Get(key) | KvInput::Put(key, _) | KvInput::Append(key, _) => key,
            KvInput::Cas { key, .. } => key,
        }
    }
}

/// A kv operation's result.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// The value read (`""` if missing).
    Get(String),
    /// The put took effect.
    Put,
    /// The append took effect.
    Append,
    /// Whether the cas succeeded.
    Cas(bool),
}

/// The map's state: (key, value) pairs sorted by key, with shared strings so that the
/// checker's many clones are cheap. Missing keys read as `""`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvState {
    /// Inline for one key (every state of a per-key partition): cloning it into the
    /// checker's cache then allocates nothing.
    entries: SmallVec<[(Arc<str>, Arc<str>); 1]>,
}

impl KvState {
    /// The value of `key` (`""` if missing).
    pub fn get(&self, key: &str) -> &str {
        match self.entries.binary_search_by(|(k, _)| (**k).cmp(key)) {
            Ok(index) => &self.entries[index].1,
            Err(_) => "",
        }
    }

    fn with(&self, key: &str, value: &str) -> KvState {
        let mut next = self.clone();
        match next.entries.binary_search_by(|(k, _)| (**k).cmp(key)) {
            Ok(index) => next.entries[index].1 = Arc::from(value),
            Err(index) => next
                .entries
                .insert(index, (Arc::from(key), Arc::from(value))),
        }
        next
    }
}

/// Hashes the entries' contents, like the derived impl would for strings.
impl Hash for KvState {
    fn hash<H: Hasher>(&self, hasher: &mut H) {
        for (key, value) in &self.entries {
            key.hash(hasher);
            value.hash(hasher);
        }
    }
}

impl Model for Kv {
    type State = KvState;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> Self::State {
        KvState::default()
    }

    fn step(
        &self,
        state: &Self::State,
        input: &KvInput,
        output: Option<&KvOutput>,
    ) -> Steps<Self::State> {
        let current = state.get(input.key());
        match (input, output) {
            (KvInput::Get(_), None) => smallvec![state.clone()],
            (KvInput::Get(_), Some(KvOutput::Get(value))) if value == current => {
                smallvec![state.clone()]
            }
            (KvInput::Put(key, value), None | Some(KvOutput::Put)) => {
                smallvec![state.with(key, value)]
            }
            (KvInput::Append(key, value), None | Some(KvOutput::Append)) => {
                smallvec![state.with(key, &format!("{current}{value}"))]
            }
            (KvInput::Cas { key, expected, new }, Some(KvOutput::Cas(true)))
                if current == expected =>
            {
                smallvec![state.with(key, new)]
            }
            (KvInput::Cas { expected, .. }, Some(KvOutput::Cas(false))) if current != expected => {
                smallvec![state.clone()]
            }
            (KvInput::Cas { key, expected, new }, None) => {
                if current == expected {
                    smallvec![state.with(key, new)]
                } else {
                    smallvec![state.clone()]
                }
            }
            _ => Steps::new(),
        }
    }

    fn partition(&self, input: &KvInput) -> Option<String> {
        Some(input.key().to_string())
    }

    fn state_heap_bytes(&self, state: &Self::State) -> usize {
        // Each string is an `Arc<str>`: two counters and the bytes. Clones share it, so
        // this overcounts states that share strings: an estimate on the safe side.
        const ARC_HEADER_BYTES: usize = 16;
        let spilled = if state.entries.spilled() {
            state.entries.capacity() * std::mem::size_of::<(Arc<str>, Arc<str>)>()
        } else {
            0
        };
        spilled
            + state
                .entries
                .iter()
                .map(|(key, value)| key.len() + value.len() + 2 * ARC_HEADER_BYTES)
                .sum::<usize>()
    }

    fn describe_state(&self, state: &Self::State) -> String {
        let entries: Vec<String> = state
            .entries
            .iter()
            .map(|(k, v)| format!("{k:?}: {v:?}"))
            .collect();
        format!("{{{}}}", entries.join(", "))
    }

    fn describe_operation(&self, input: &KvInput, output: Option<&KvOutput>) -> String {
        let result = match output {
            None => "?".to_string(),
            Some(KvOutput::Get(value)) => format!("{value:?}"),
            Some(KvOutput::Put | KvOutput::Append | KvOutput::Cas(true)) => "ok".to_string(),
            Some(KvOutput::Cas(false)) => "failed".to_string(),
        };
        match input {
            KvInput::Get(key) => format!("get({key:?}) -> {result}"),
            KvInput::Put(key, value) => format!("put({key:?}, {value:?}) -> {result}"),
            KvInput::Append(key, value) => format!("append({key:?}, {value:?}) -> {result}"),
            KvInput::Cas { key, expected, new } => {
                format!("cas({key:?}, {expected:?}, {new:?}) -> {result}")
            }
        }
    }
}

impl Import for Kv {
    fn import(
        &self,
        operation: &Operation,
        result: Option<&Value>,
    ) -> Result<Option<(KvInput, Option<KvOutput>)>, ImportError> {
        let key = operation.key.clone().ok_or_else(|| ImportError {
            line: operation.line,
            reason: format!("{} on the kv model needs a key", operation.function),
        })?;
        let text = |value: &Value, what: &str| {
            value
                .as_text()
                .ok_or_else(|| bad_value(operation, what, value))
        };
        match operation.function.as_str() {
            "get" | "read" => match result {
                None => Ok(None),
                Some(Value::Nil) => Ok(Some((
                    KvInput::Get(key),
                    Some(KvOutput::Get(String::new())),
                ))),
                Some(value) => {
                    let value = text(value, "a string result")?;
                    Ok(Some((KvInput::Get(key), Some(KvOutput::Get(value)))))
                }
            },
            "put" | "write" => {
                let value = text(&operation.argument, "a string argument")?;
                Ok(Some((
                    KvInput::Put(key, value),
                    result.map(|_| KvOutput::Put),
                )))
            }
            "append" => {
                let value = text(&operation.argument, "a string argument")?;
                Ok(Some((
                    KvInput::Append(key, value),
                    result.map(|_| KvOutput::Append),
                )))
            }
            "cas" => {
                let (expected, new) = match &operation.argument {
                    Value::List(items) if items.len() == 2 => (
                        text(&items[0], "[expected new] strings")?,
                        text(&items[1], "[expected new] strings")?,
                    ),
                    other => return Err(bad_value(operation, "[expected new] strings", other)),
                };
                let output = result.map(|r| KvOutput::Cas(*r != Value::Bool(false)));
                Ok(Some((KvInput::Cas { key, expected, new }, output)))
            }
            _ => Err(unknown_function(operation, "get, put, append, cas")),
        }
    }
}
