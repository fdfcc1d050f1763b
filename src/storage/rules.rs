//! The log rules every implementation shares: what an append, a truncation or a read
//! may ask for, and how a range of stored records becomes a checked `Vec<LogEntry>`.

use std::ops::Range;

use crate::core::{GroupId, LogId, LogIndex};

use super::codec::{self, DecodeError};
use super::entry::LogEntry;
use super::error::{Result, StorageError};
use super::log::ReadLimits;

/// The store and group an error is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Context {
    pub(crate) store: String,
    pub(crate) group: GroupId,
}

impl Context {
    pub(crate) fn new(store: impl Into<String>, group: GroupId) -> Context {
        Context {
            store: store.into(),
            group,
        }
    }

    pub(crate) fn corrupt(&self, index: LogIndex, reason: impl Into<String>) -> StorageError {
        StorageError::Corrupt {
            store: self.store.clone(),
            group: self.group.clone(),
            index,
            reason: reason.into(),
        }
    }

    pub(crate) fn corrupt_meta(&self, record: &str, error: DecodeError) -> StorageError {
        StorageError::CorruptMeta {
            store: self.store.clone(),
            group: self.group.clone(),
            record: record.to_string(),
            reason: error.0,
        }
    }

    pub(crate) fn missing(&self, index: LogIndex) -> StorageError {
        StorageError::MissingEntry {
            store: self.store.clone(),
            group: self.group.clone(),
            index,
        }
    }

    pub(crate) fn invalid(&self, reason: impl Into<String>) -> StorageError {
        StorageError::InvalidArgument {
            store: self.store.clone(),
            group: self.group.clone(),
            reason: reason.into(),
        }
    }

    pub(crate) fn fatal(&self, reason: impl Into<String>) -> StorageError {
        StorageError::Fatal {
            store: self.store.clone(),
            reason: reason.into(),
        }
    }

    /// Decodes the record stored under `index` and checks that it is the entry for that
    /// index (a record under the wrong key is as corrupt as a bad checksum).
    pub(crate) fn decode_entry(&self, index: LogIndex, record: &[u8]) -> Result<LogEntry> {
        let entry = codec::decode_entry(record).map_err(|e| self.corrupt(index, e.0))?;
        if entry.meta.log_id.index != index {
            return Err(self.corrupt(
                index,
                format!("record holds index {}", entry.meta.log_id.index),
            ));
        }
        Ok(entry)
    }

    /// Like [`Context::decode_entry`], returning the log id only.
    pub(crate) fn decode_log_id(&self, index: LogIndex, record: &[u8]) -> Result<LogId> {
        let log_id = codec::decode_entry_log_id(record).map_err(|e| self.corrupt(index, e.0))?;
        if log_id.index != index {
            return Err(self.corrupt(index, format!("record holds index {}", log_id.index)));
        }
        Ok(log_id)
    }

    /// Encodes a batch, failing with `InvalidArgument` on an unencodable entry.
    pub(crate) fn encode_batch(&self, entries: &[LogEntry]) -> Result<Vec<(LogIndex, Vec<u8>)>> {
        entries
            .iter()
            .map(|entry| {
                codec::encode_entry(entry)
                    .map(|record| (entry.meta.log_id.index, record))
                    .map_err(|e| {
                        self.invalid(format!(
                            "entry {} cannot be encoded: {}",
                            entry.meta.log_id, e.0
                        ))
                    })
            })
            .collect()
    }
}

/// The shape of a log: last purged log id and last log id.
///
/// Invariant: `last.index >= last_purged.index`; the log holds
/// `[last_purged.index + 1, last.index]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LogBounds {
    pub(crate) last_purged: LogId,
    pub(crate) last: LogId,
}

impl LogBounds {
    pub(crate) fn first_index(&self) -> LogIndex {
        self.last_purged.index.next()
    }

    /// Checks an append batch against the log and against itself: contiguous, terms
    /// never going back, every entry consistent ([`LogEntry::inconsistency`]).
    pub(crate) fn check_append(&self, context: &Context, entries: &[LogEntry]) -> Result<()> {
        let mut previous = self.last;
        for entry in entries {
            let expected = previous.index.next();
            if entry.meta.log_id.index != expected {
                return Err(StorageError::NonContiguous {
                    store: context.store.clone(),
                    group: context.group.clone(),
                    expected,
                    got: entry.meta.log_id.index,
                });
            }
            if entry.meta.log_id.term < previous.term {
                return Err(context.invalid(format!(
                    "term regression: entry {} follows {}",
                    entry.meta.log_id, previous
                )));
            }
            if let Some(why) = entry.inconsistency() {
                return Err(context.invalid(why));
            }
            previous = entry.meta.log_id;
        }
        Ok(())
    }

    /// Checks a read range; returns false when it is empty.
    pub(crate) fn check_read(&self, context: &Context, range: &Range<LogIndex>) -> Result<bool> {
        if range.start >= range.end {
            return Ok(false);
        }
        if range.start < self.first_index() {
            return Err(StorageError::Compacted {
                store: context.store.clone(),
                group: context.group.clone(),
                index: range.start,
                first_index: self.first_index(),
            });
        }
        if range.end > self.last.index.next() {
            return Err(StorageError::OutOfRange {
                store: context.store.clone(),
                group: context.group.clone(),
                index: range.end.prev(),
                last_index: self.last.index,
            });
        }
        Ok(true)
    }

    /// True when `index` names a stored entry.
    pub(crate) fn holds(&self, index: LogIndex) -> bool {
        index >= self.first_index() && index <= self.last.index
    }

    /// Checks `truncate_suffix(from)`; returns false when it is a no-op.
    pub(crate) fn check_truncate_suffix(&self, context: &Context, from: LogIndex) -> Result<bool> {
        if from < self.first_index() {
            return Err(context.invalid(format!(
                "truncate_suffix({from}) reaches into the compacted prefix (first index {})",
                self.first_index()
            )));
        }
        Ok(from <= self.last.index)
    }

    /// Checks `truncate_prefix(up_to)`; returns false when it is a no-op.
    pub(crate) fn check_truncate_prefix(&self, context: &Context, up_to: LogIndex) -> Result<bool> {
        if up_to > self.last.index.next() {
            return Err(context.invalid(format!(
                "truncate_prefix({up_to}) is past the last index {}; use reset",
                self.last.index
            )));
        }
        Ok(up_to > self.first_index())
    }
}

/// Turns the records of `range` (in key order, as `(index, record)`) into entries,
/// checking checksums, keys and contiguity, and stopping at `limits`.
///
/// Precondition: `range` was accepted by [`LogBounds::check_read`], so every index in
/// it must be present; a hole is [`StorageError::MissingEntry`].
pub(crate) fn collect_entries<B: AsRef<[u8]>>(
    context: &Context,
    range: Range<LogIndex>,
    limits: ReadLimits,
    records: impl Iterator<Item = Result<(LogIndex, B)>>,
) -> Result<Vec<LogEntry>> {
    let mut out = Vec::new();
    let mut expected = range.start;
    let mut bytes_total: u64 = 0;
    for record in records {
        if expected >= range.end || out.len() >= limits.max_entries {
            return Ok(out);
        }
        let (index, record) = record?;
        if index != expected {
            return Err(context.missing(expected));
        }
        let record = record.as_ref();
        let size = u64::try_from(record.len()).unwrap_or(u64::MAX);
        if !out.is_empty() && bytes_total.saturating_add(size) > limits.max_bytes {
            return Ok(out);
        }
        out.push(context.decode_entry(index, record)?);
        bytes_total = bytes_total.saturating_add(size);
        expected = expected.next();
    }
    if expected < range.end && out.len() < limits.max_entries {
        return Err(context.missing(expected));
    }
    Ok(out)
}
