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

    /// Why this entry cannot be stored as it is, if it cannot: its fields are public,
    /// and a record keeps one payload, read back by the kind, with the size recomputed.
    /// A normal entry's size must be its payload's length (saturated at `u32::MAX`); a
    /// blank or configuration entry has no payload and size 0. Every store refuses an
    /// inconsistent entry (`InvalidArgument`), so that what is read back is exactly
    /// what was written.
    pub fn inconsistency(&self) -> Option<String> {
        let expected = match self.meta.kind {
            EntryKind::Normal => u32::try_from(self.payload.len()).unwrap_or(u32::MAX),
            EntryKind::Blank | EntryKind::Configuration(_) if !self.payload.is_empty() => {
                return Some(format!(
                    "entry {} is not a normal entry and has a payload",
                    self.meta.log_id
                ))
            }
            EntryKind::Blank | EntryKind::Configuration(_) => 0,
        };
        (self.meta.size_bytes != expected).then(|| {
            format!(
                "entry {} claims {} bytes of payload, has {expected}",
                self.meta.log_id, self.meta.size_bytes
            )
        })
    }
}
