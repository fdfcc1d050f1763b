//! `LogEntry`: the one log entry type of every store and of the runtime — what the core
//! knows of an entry (its [`EntryMeta`]) plus the payload the core never sees.

use bytes::Bytes;

use crate::core::{ConfigurationEntry, EntryKind, EntryMeta, LogId, PeerId};

/// One log entry as storage holds it: the core keeps only [`EntryMeta`], the payload
/// lives here (DESIGN.md §2, "bounded memory"). A configuration entry's configuration is
/// in its metadata (`EntryKind::Configuration`); its `payload` is empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Log id, kind and payload size, as the core knows them.
    pub meta: EntryMeta<PeerId>,
    /// The client command of a normal entry; empty for blank and configuration entries.
    pub payload: Bytes,
}

impl LogEntry {
    /// A blank (no-op) entry: what a new leader appends (Raft §5.4.2).
    pub fn blank(log_id: LogId) -> LogEntry {
        LogEntry {
            meta: EntryMeta {
                log_id,
                kind: EntryKind::Blank,
                size_bytes: 0,
            },
            payload: Bytes::new(),
        }
    }

    /// A normal entry carrying `data` (a client command, opaque to Raft). Its size
    /// saturates at `u32::MAX`.
    pub fn normal(log_id: LogId, data: impl Into<Bytes>) -> LogEntry {
        let payload = data.into();
        LogEntry {
            meta: EntryMeta {
                log_id,
                kind: EntryKind::Normal,
                size_bytes: u32::try_from(payload.len()).unwrap_or(u32::MAX),
            },
            payload,
        }
    }

    /// A membership change (Raft §6). Its payload size is 0, as the core counts it.
    pub fn configuration(log_id: LogId, configuration: ConfigurationEntry<PeerId>) -> LogEntry {
        LogEntry {
            meta: EntryMeta {
                log_id,
                kind: EntryKind::configuration(configuration),
                size_bytes: 0,
            },
            payload: Bytes::new(),
        }
    }

    /// Index and term.
    pub fn log_id(&self) -> LogId {
        self.meta.log_id
    }
}
