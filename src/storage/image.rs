//! `LogImage`: an in-memory picture of one group's stored log (encoded records plus the
//! last purged log id), shared by the memory and sim stores.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::core::{LogId, LogIndex};

use super::codec;
use super::entry::LogEntry;
use super::error::Result;
use super::log::ReadLimits;
use super::rules::{collect_entries, Context, LogBounds};

/// One write to a log, as the memory and sim stores apply it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LogOp {
    /// Store these encoded records.
    Append(Vec<(LogIndex, Vec<u8>)>),
    /// Delete the records `>= from`.
    TruncateSuffix(LogIndex),
    /// Delete the records `< up_to` and set last purged.
    TruncatePrefix { up_to: LogIndex, last_purged: LogId },
    /// Delete every record and set last purged.
    Reset(LogId),
}

/// Encoded records keyed by index, as a disk would hold them: the log id of a record is
/// only known by decoding (and verifying) it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LogImage {
    pub(crate) last_purged: LogId,
    pub(crate) records: BTreeMap<LogIndex, Vec<u8>>,
}

impl LogImage {
    pub(crate) fn bounds(&self, context: &Context) -> Result<LogBounds> {
        let last = match self.records.last_key_value() {
            Some((&index, record)) => context.decode_log_id(index, record)?,
            None => self.last_purged,
        };
        Ok(LogBounds {
            last_purged: self.last_purged,
            last,
        })
    }

    pub(crate) fn log_id(&self, context: &Context, index: LogIndex) -> Result<Option<LogId>> {
        let bounds = self.bounds(context)?;
        if index == bounds.last_purged.index {
            return Ok(Some(bounds.last_purged));
        }
        if !bounds.holds(index) {
            return Ok(None);
        }
        match self.records.get(&index) {
            Some(record) => Ok(Some(context.decode_log_id(index, record)?)),
            None => Err(context.missing(index)),
        }
    }

    pub(crate) fn entry(&self, context: &Context, index: LogIndex) -> Result<Option<LogEntry>> {
        let bounds = self.bounds(context)?;
        if !bounds.holds(index) {
            return Ok(None);
        }
        match self.records.get(&index) {
            Some(record) => Ok(Some(context.decode_entry(index, record)?)),
            None => Err(context.missing(index)),
        }
    }

    pub(crate) fn entries(
        &self,
        context: &Context,
        range: Range<LogIndex>,
        limits: ReadLimits,
    ) -> Result<Vec<LogEntry>> {
        if !self.bounds(context)?.check_read(context, &range)? {
            return Ok(Vec::new());
        }
        let records = self
            .records
            .range(range.clone())
            .map(|(&index, record)| Ok((index, record.as_slice())));
        collect_entries(context, range, limits, records)
    }

    pub(crate) fn apply(&mut self, op: &LogOp) {
        match op {
            LogOp::Append(records) => {
                for (index, record) in records {
                    self.records.insert(*index, record.clone());
                }
            }
            LogOp::TruncateSuffix(from) => {
                self.records.split_off(from);
            }
            LogOp::TruncatePrefix { up_to, last_purged } => {
                self.records = self.records.split_off(up_to);
                self.last_purged = *last_purged;
            }
            LogOp::Reset(last_included) => {
                self.records.clear();
                self.last_purged = *last_included;
            }
        }
    }

    /// Recovery after a crash: a last record that is *shorter than its own header says*
    /// is a torn write and is discarded, exactly as fjall's journal recovery discards a
    /// torn tail (`TolerateCorruptTail`). A full-length record with a bad checksum is
    /// kept, so that reading it reports corruption instead of silently losing it.
    pub(crate) fn discard_torn_tail(&mut self) -> bool {
        let torn = self
            .records
            .last_key_value()
            .is_some_and(|(_, record)| codec::is_torn_entry(record));
        if torn {
            self.records.pop_last();
        }
        torn
    }
}
