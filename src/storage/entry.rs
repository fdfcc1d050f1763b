//! `LogEntry`: a log id plus the payload the core never sees.

use bytes::Bytes;

use crate::core::{ConfigurationEntry, EntryKind, EntryMeta, LogId, PeerId};

use super::codec;

/// The payload of a log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryPayload {
    /// The no-op a new leader appends (Raft §5.4.2).
    Blank,
    /// A client command, opaque to Raft.
    Normal(Bytes),
    /// A membership change (Raft §6).
    Configuration(ConfigurationEntry<PeerId>),
}

/// One log entry as storage holds it: the core keeps only [`EntryMeta`], the payload
/// lives here (DESIGN.md §2, "bounded memory").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Index and term.
    pub log_id: LogId,
    /// What the entry carries.
    pub payload: EntryPayload,
}

impl LogEntry {
    /// Builds an entry.
    pub fn new(log_id: LogId, payload: EntryPayload) -> LogEntry {
        LogEntry { log_id, payload }
    }

    /// A blank (no-op) entry.
    pub fn blank(log_id: LogId) -> LogEntry {
        LogEntry::new(log_id, EntryPayload::Blank)
    }

    /// A normal entry carrying `data`.
    pub fn normal(log_id: LogId, data: impl Into<Bytes>) -> LogEntry {
        LogEntry::new(log_id, EntryPayload::Normal(data.into()))
    }

    /// The payload size in bytes: the data length for normal entries, 0 for blank ones,
    /// the encoded size for configuration entries. Saturates at `u32::MAX`.
    pub fn payload_size_bytes(&self) -> u32 {
        let size = match &self.payload {
            EntryPayload::Blank => 0,
            EntryPayload::Normal(data) => data.len(),
            EntryPayload::Configuration(configuration) => {
                codec::encoded_configuration_len(configuration)
            }
        };
        u32::try_from(size).unwrap_or(u32::MAX)
    }

    /// What the core knows of this entry.
    pub fn meta(&self) -> EntryMeta<PeerId> {
        let kind = match &self.payload {
            EntryPayload::Blank => EntryKind::Blank,
            EntryPayload::Normal(_) => EntryKind::Normal,
            EntryPayload::Configuration(configuration) => {
                EntryKind::configuration(configuration.clone())
            }
        };
        EntryMeta {
            log_id: self.log_id,
            kind,
            size_bytes: self.payload_size_bytes(),
        }
    }
}
