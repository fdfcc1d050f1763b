//! KV commands and responses, encoded with a version byte and postcard.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

const VERSION: u8 = 1;

/// A KV operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvCommand {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: Bytes,
    },
    /// Read `key`, linearizably. The clients and the service serve it with
    /// `Node::read` (ReadIndex, no log entry); proposed as a task it is answered through
    /// the log like a write.
    Get {
        /// The key.
        key: String,
    },
    /// Set `key` to `new` if its current value equals `expected` (`None`: absent).
    Cas {
        /// The key.
        key: String,
        /// The value required for the swap.
        expected: Option<Bytes>,
        /// The value to store.
        new: Bytes,
    },
}

/// The result of a KV operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvResponse {
    /// A put took effect.
    Written,
    /// The value read (`None`: absent).
    Value(Option<Bytes>),
    /// A compare-and-set: whether it swapped, and the value before it.
    Swapped {
        /// True when the swap happened.
        swapped: bool,
        /// The value the key held when the command applied.
        previous: Option<Bytes>,
    },
}

/// Why bytes are not a KV command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid KV command: {reason}")]
pub struct DecodeError {
    /// What is wrong.
    pub reason: String,
}

impl KvCommand {
    /// Encodes the command.
    pub fn encode(&self) -> Bytes {
        let mut out = vec![VERSION];
        // Serializing an in-memory enum of strings and bytes into a Vec cannot fail.
        out.extend(postcard::to_stdvec(self).unwrap_or_default());
        Bytes::from(out)
    }

    /// Decodes a command, rejecting other versions and garbage.
    pub fn decode(bytes: &[u8]) -> Result<KvCommand, DecodeError> {
        match bytes.split_first() {
            Some((&VERSION, body)) => postcard::from_bytes(body).map_err(|e| DecodeError {
                reason: e.to_string(),
            }),
            Some((version, _)) => Err(DecodeError {
                reason: format!("unknown version {version}"),
            }),
            None => Err(DecodeError {
                reason: "empty".into(),
            }),
        }
    }

    /// The key the command touches.
    pub fn key(&self) -> &str {
        match self {
            KvCommand::Put { key, .. } | KvCommand::Get { key } | KvCommand::Cas { key, .. } => key,
        }
    }
}
