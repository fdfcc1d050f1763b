//! What the core knows about a log entry: its id, its kind and its size — never its payload.

use serde::{Deserialize, Serialize};

use super::configuration::ConfigurationEntry;
use super::types::{LogId, NodeId};

/// The kind of a log entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(bound = "N: NodeId + Serialize + serde::de::DeserializeOwned")]
pub enum EntryKind<N: NodeId> {
    /// The no-op a new leader appends to commit entries of earlier terms (Raft §5.4.2, §8).
    Blank,
    /// A client command; its payload lives in storage and is opaque to the core.
    Normal,
    /// A membership entry; takes effect as soon as it is appended (Raft §6). Boxed: the
    /// rare configuration entry would otherwise make every entry's metadata (copied on
    /// every append and replication) three times larger. Serialized like the entry.
    Configuration(Box<ConfigurationEntry<N>>),
}

impl<N: NodeId> EntryKind<N> {
    /// A configuration entry's kind (boxes it).
    pub fn configuration(entry: ConfigurationEntry<N>) -> Self {
        EntryKind::Configuration(Box::new(entry))
    }
}

/// The core's view of one log entry. `size_bytes` is the payload size, used only to bound
/// messages and in-flight windows in bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(bound = "N: NodeId + Serialize + serde::de::DeserializeOwned")]
pub struct EntryMeta<N: NodeId> {
    /// Index and term.
    pub log_id: LogId,
    /// Blank, normal or configuration.
    pub kind: EntryKind<N>,
    /// Payload size in bytes (0 for blank entries).
    pub size_bytes: u32,
}
