//! In-memory log and meta stores for tests and benchmarks.
//!
//! They keep the same encoded, checksummed records as the durable stores (so codec costs
//! and corruption checks stay honest) but nothing survives the process.

use std::ops::Range;

use crate::core::{GroupId, LogId, LogIndex};

use super::codec;
use super::entry::LogEntry;
use super::error::Result;
use super::image::{LogImage, LogOp};
use super::log::{LogStorage, ReadLimits};
use super::meta::{HardState, MetaStorage};
use super::rules::Context;

const STORE: &str = "memory";

/// A `BTreeMap`-backed [`LogStorage`].
#[derive(Clone, Debug)]
pub struct MemoryLogStorage {
    context: Context,
    image: LogImage,
}

impl MemoryLogStorage {
    /// An empty log for `group`.
    pub fn new(group: GroupId) -> MemoryLogStorage {
        MemoryLogStorage {
            context: Context::new(STORE, group),
            image: LogImage::default(),
        }
    }
}

impl LogStorage for MemoryLogStorage {
    fn group(&self) -> &GroupId {
        &self.context.group
    }

    fn first_index(&self) -> Result<LogIndex> {
        Ok(self.image.last_purged.index.next())
    }

    fn last_log_id(&self) -> Result<LogId> {
        Ok(self.image.bounds(&self.context)?.last)
    }

    fn log_id(&self, index: LogIndex) -> Result<Option<LogId>> {
        self.image.log_id(&self.context, index)
    }

    fn entry(&self, index: LogIndex) -> Result<Option<LogEntry>> {
        self.image.entry(&self.context, index)
    }

    fn entries(&self, range: Range<LogIndex>, limits: ReadLimits) -> Result<Vec<LogEntry>> {
        self.image.entries(&self.context, range, limits)
    }

    fn append(&mut self, entries: &[LogEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.image
            .bounds(&self.context)?
            .check_append(&self.context, entries)?;
        let records = self.context.encode_batch(entries)?;
        self.image.apply(&LogOp::Append(records));
        Ok(())
    }

    fn truncate_suffix(&mut self, from: LogIndex) -> Result<()> {
        let bounds = self.image.bounds(&self.context)?;
        if bounds.check_truncate_suffix(&self.context, from)? {
            self.image.apply(&LogOp::TruncateSuffix(from));
        }
        Ok(())
    }

    fn truncate_prefix(&mut self, up_to: LogIndex) -> Result<()> {
        let bounds = self.image.bounds(&self.context)?;
        if !bounds.check_truncate_prefix(&self.context, up_to)? {
            return Ok(());
        }
        let last_purged = self
            .image
            .log_id(&self.context, up_to.prev())?
            .ok_or_else(|| self.context.missing(up_to.prev()))?;
        self.image
            .apply(&LogOp::TruncatePrefix { up_to, last_purged });
        Ok(())
    }

    fn reset(&mut self, last_included: LogId) -> Result<()> {
        self.image.apply(&LogOp::Reset(last_included));
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        Ok(())
    }
}

/// An in-memory [`MetaStorage`].
#[derive(Clone, Debug)]
pub struct MemoryMetaStorage {
    context: Context,
    record: Option<Vec<u8>>,
}

impl MemoryMetaStorage {
    /// A meta store for `group` holding the default hard state.
    pub fn new(group: GroupId) -> MemoryMetaStorage {
        MemoryMetaStorage {
            context: Context::new(STORE, group),
            record: None,
        }
    }
}

impl MetaStorage for MemoryMetaStorage {
    fn hard_state(&self) -> Result<HardState> {
        match &self.record {
            None => Ok(HardState::default()),
            Some(record) => codec::decode_hard_state(record)
                .map_err(|e| self.context.corrupt_meta("hard state", e)),
        }
    }

    fn set_hard_state(&mut self, state: &HardState) -> Result<()> {
        let record = codec::encode_hard_state(state).map_err(|e| {
            self.context
                .invalid(format!("hard state cannot be encoded: {}", e.0))
        })?;
        self.record = Some(record);
        Ok(())
    }
}
