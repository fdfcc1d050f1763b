//! The versioned binary record formats (JRAFT_GUIDE_NOTES F32): log entries, hard
//! state, log bounds and snapshot meta.
//!
//! Every record is `body ++ crc32c(body)` (little-endian u32), with a version byte first
//! in the body, so a reader can verify a record before trusting any of its fields and a
//! future format can be told apart from this one. All integers in bodies are big-endian.
//!
//! Log entry body (version 1):
//!
//! ```text
//! version u8 = 1 | kind u8 (0 blank, 1 normal, 2 configuration) | term u64 | index u64
//! | payload_len u32 | payload
//! ```
//!
//! A configuration payload is `has_old u8 | configuration | [old configuration]`, a
//! configuration is `voter_count u32 | voters | learner_count u32 | learners`, and a peer
//! is `len u16 | UTF-8 text form` (`host:port[:idx]`).

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::core::{Configuration, ConfigurationEntry, EntryKind, LogId, LogIndex, PeerId, Term};

use super::entry::LogEntry;
use super::meta::HardState;

/// The version byte of every record this build writes.
pub const FORMAT_VERSION: u8 = 1;

const ENTRY_HEADER_LEN: usize = 1 + 1 + 8 + 8 + 4;
const CRC_LEN: usize = 4;

const KIND_BLANK: u8 = 0;
const KIND_NORMAL: u8 = 1;
const KIND_CONFIGURATION: u8 = 2;

/// Why a record could not be decoded. The caller adds the store, group and index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl DecodeError {
    fn new(reason: impl Into<String>) -> DecodeError {
        DecodeError(reason.into())
    }
}

/// Why a record could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError(pub String);

/// Appends `crc32c(out[start..])` to `out`.
fn seal(out: &mut Vec<u8>, start: usize) {
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Verifies the trailing checksum and the version byte; returns the body after the
/// version byte.
fn open_record(record: &[u8]) -> Result<&[u8], DecodeError> {
    if record.len() < 1 + CRC_LEN {
        return Err(DecodeError::new(format!(
            "record of {} bytes is shorter than the minimum",
            record.len()
        )));
    }
    let (body, crc_bytes) = record.split_at(record.len() - CRC_LEN);
    let mut stored = [0u8; CRC_LEN];
    stored.copy_from_slice(crc_bytes);
    let stored = u32::from_le_bytes(stored);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(DecodeError::new(format!(
            "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
        )));
    }
    match body.first() {
        Some(&FORMAT_VERSION) => Ok(&body[1..]),
        Some(other) => Err(DecodeError::new(format!("unknown format version {other}"))),
        None => Err(DecodeError::new("empty record")),
    }
}

/// A cursor over a record body that fails instead of panicking on short input.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < len {
            return Err(DecodeError::new(format!(
                "truncated record: wanted {len} more bytes, {} left",
                self.bytes.len()
            )));
        }
        let (head, tail) = self.bytes.split_at(len);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let mut raw = [0u8; 2];
        raw.copy_from_slice(self.take(2)?);
        Ok(u16::from_be_bytes(raw))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let mut raw = [0u8; 4];
        raw.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(raw))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(raw))
    }

    fn string(&mut self) -> Result<&'a str, DecodeError> {
        let len = usize::from(self.u16()?);
        std::str::from_utf8(self.take(len)?).map_err(|_| DecodeError::new("string is not UTF-8"))
    }

    fn finish(&self) -> Result<(), DecodeError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::new(format!(
                "{} trailing bytes after the record",
                self.bytes.len()
            )))
        }
    }
}

fn put_string(out: &mut Vec<u8>, text: &str) -> Result<(), EncodeError> {
    let len = u16::try_from(text.len())
        .map_err(|_| EncodeError(format!("string of {} bytes is too long", text.len())))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

fn put_peers(out: &mut Vec<u8>, peers: &BTreeSet<PeerId>) -> Result<(), EncodeError> {
    let count = u32::try_from(peers.len())
        .map_err(|_| EncodeError("too many peers in a configuration".to_string()))?;
    out.extend_from_slice(&count.to_be_bytes());
    for peer in peers {
        put_string(out, &peer.to_string())?;
    }
    Ok(())
}

fn put_configuration(
    out: &mut Vec<u8>,
    configuration: &Configuration<PeerId>,
) -> Result<(), EncodeError> {
    put_peers(out, configuration.voters())?;
    put_peers(out, configuration.learners())
}

/// Appends the encoding of a configuration entry (no version, no checksum: it is a
/// field of an enclosing record).
pub fn put_configuration_entry(
    out: &mut Vec<u8>,
    entry: &ConfigurationEntry<PeerId>,
) -> Result<(), EncodeError> {
    out.push(u8::from(entry.old.is_some()));
    put_configuration(out, &entry.current)?;
    if let Some(old) = &entry.old {
        put_configuration(out, old)?;
    }
    Ok(())
}

fn read_peers(reader: &mut Reader<'_>) -> Result<Vec<PeerId>, DecodeError> {
    let count = reader.u32()?;
    let mut peers = Vec::new();
    for _ in 0..count {
        let text = reader.string()?;
        let peer = text
            .parse::<PeerId>()
            .map_err(|e| DecodeError::new(format!("bad peer id {text:?}: {e}")))?;
        peers.push(peer);
    }
    Ok(peers)
}

fn read_configuration(reader: &mut Reader<'_>) -> Result<Configuration<PeerId>, DecodeError> {
    let voters = read_peers(reader)?;
    let learners = read_peers(reader)?;
    Configuration::new(voters, learners).map_err(|e| DecodeError::new(e.to_string()))
}

fn read_configuration_entry(
    reader: &mut Reader<'_>,
) -> Result<ConfigurationEntry<PeerId>, DecodeError> {
    let has_old = match reader.u8()? {
        0 => false,
        1 => true,
        other => return Err(DecodeError::new(format!("bad joint flag {other}"))),
    };
    let current = read_configuration(reader)?;
    let old = if has_old {
        Some(read_configuration(reader)?)
    } else {
        None
    };
    Ok(ConfigurationEntry { current, old })
}

/// Encodes a log entry as a sealed record. An inconsistent entry
/// ([`LogEntry::inconsistency`]: a payload its kind cannot have, or a size that is not
/// its payload's) is refused: it would not read back as it was written.
pub fn encode_entry(entry: &LogEntry) -> Result<Vec<u8>, EncodeError> {
    if let Some(why) = entry.inconsistency() {
        return Err(EncodeError(why));
    }
    let mut out = Vec::with_capacity(ENTRY_HEADER_LEN + CRC_LEN + 64);
    out.push(FORMAT_VERSION);
    let configuration_payload;
    let (kind, payload): (u8, &[u8]) = match &entry.meta.kind {
        EntryKind::Normal => (KIND_NORMAL, &entry.payload),
        EntryKind::Blank => (KIND_BLANK, &[]),
        EntryKind::Configuration(configuration) => {
            let mut buffer = Vec::new();
            put_configuration_entry(&mut buffer, configuration)?;
            configuration_payload = buffer;
            (KIND_CONFIGURATION, &configuration_payload)
        }
    };
    let len = u32::try_from(payload.len())
        .map_err(|_| EncodeError(format!("payload of {} bytes is too large", payload.len())))?;
    out.push(kind);
    out.extend_from_slice(&entry.meta.log_id.term.0.to_be_bytes());
    out.extend_from_slice(&entry.meta.log_id.index.0.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    seal(&mut out, 0);
    Ok(out)
}

/// Decodes and verifies an entry record. The entry's metadata is what the core had when
/// it appended it: a normal entry's size is its payload's length, a blank or
/// configuration entry's is 0.
pub fn decode_entry(record: &[u8]) -> Result<LogEntry, DecodeError> {
    let body = open_record(record)?;
    let mut reader = Reader { bytes: body };
    let kind = reader.u8()?;
    let term = Term(reader.u64()?);
    let index = LogIndex(reader.u64()?);
    let len = usize::try_from(reader.u32()?)
        .map_err(|_| DecodeError::new("payload length does not fit in memory"))?;
    let payload_bytes = reader.take(len)?;
    reader.finish()?;
    let log_id = LogId { term, index };
    let entry = match kind {
        KIND_BLANK if len == 0 => LogEntry::blank(log_id),
        KIND_BLANK => return Err(DecodeError::new("blank entry with a payload")),
        KIND_NORMAL => LogEntry::normal(log_id, Bytes::copy_from_slice(payload_bytes)),
        KIND_CONFIGURATION => {
            let mut inner = Reader {
                bytes: payload_bytes,
            };
            let configuration = read_configuration_entry(&mut inner)?;
            inner.finish()?;
            LogEntry::configuration(log_id, configuration)
        }
        other => return Err(DecodeError::new(format!("unknown entry kind {other}"))),
    };
    Ok(entry)
}

/// Decodes only the log id of an entry record, after verifying its checksum.
pub fn decode_entry_log_id(record: &[u8]) -> Result<LogId, DecodeError> {
    let body = open_record(record)?;
    let mut reader = Reader { bytes: body };
    let _kind = reader.u8()?;
    let term = Term(reader.u64()?);
    let index = LogIndex(reader.u64()?);
    Ok(LogId { term, index })
}

/// Encodes the hard state as a sealed record.
pub fn encode_hard_state(state: &HardState) -> Result<Vec<u8>, EncodeError> {
    let mut out = vec![FORMAT_VERSION];
    out.extend_from_slice(&state.term.0.to_be_bytes());
    match &state.voted_for {
        None => out.push(0),
        Some(peer) => {
            out.push(1);
            put_string(&mut out, &peer.to_string())?;
        }
    }
    // A reset (Input::ResetPeers) follows; without one the record ends here, as
    // records written before resets existed do.
    if let Some(reset) = &state.reset {
        out.push(1);
        out.extend_from_slice(&reset.epoch.to_be_bytes());
        put_configuration(&mut out, &reset.configuration)?;
    }
    seal(&mut out, 0);
    Ok(out)
}

/// Decodes and verifies a hard state record.
pub fn decode_hard_state(record: &[u8]) -> Result<HardState, DecodeError> {
    let body = open_record(record)?;
    let mut reader = Reader { bytes: body };
    let term = Term(reader.u64()?);
    let voted_for = match reader.u8()? {
        0 => None,
        1 => {
            let text = reader.string()?;
            Some(
                text.parse::<PeerId>()
                    .map_err(|e| DecodeError::new(format!("bad peer id {text:?}: {e}")))?,
            )
        }
        other => return Err(DecodeError::new(format!("bad vote flag {other}"))),
    };
    let reset = if reader.bytes.is_empty() {
        None
    } else {
        match reader.u8()? {
            1 => {
                let epoch = reader.u64()?;
                let configuration = read_configuration(&mut reader)?;
                Some(crate::core::ConfigurationReset {
                    epoch,
                    configuration,
                })
            }
            other => return Err(DecodeError::new(format!("bad reset flag {other}"))),
        }
    };
    reader.finish()?;
    Ok(HardState {
        term,
        voted_for,
        reset,
    })
}

/// Encodes a log id (the "last purged" marker) as a sealed record.
pub fn encode_log_id(log_id: LogId) -> Vec<u8> {
    let mut out = vec![FORMAT_VERSION];
    out.extend_from_slice(&log_id.term.0.to_be_bytes());
    out.extend_from_slice(&log_id.index.0.to_be_bytes());
    seal(&mut out, 0);
    out
}

/// Decodes and verifies a log id record.
pub fn decode_log_id(record: &[u8]) -> Result<LogId, DecodeError> {
    let body = open_record(record)?;
    let mut reader = Reader { bytes: body };
    let term = Term(reader.u64()?);
    let index = LogIndex(reader.u64()?);
    reader.finish()?;
    Ok(LogId { term, index })
}

/// Snapshot meta encoding, used by the local snapshot store.
pub(crate) mod snapshot {
    use super::*;
    use crate::storage::snapshot::{SnapshotFileMeta, SnapshotMeta};

    /// Encodes snapshot meta as a sealed record.
    pub(crate) fn encode(meta: &SnapshotMeta) -> Result<Vec<u8>, EncodeError> {
        let mut out = vec![FORMAT_VERSION];
        out.extend_from_slice(&meta.last_included.term.0.to_be_bytes());
        out.extend_from_slice(&meta.last_included.index.0.to_be_bytes());
        put_configuration_entry(&mut out, &meta.configuration)?;
        let count = u32::try_from(meta.files.len())
            .map_err(|_| EncodeError("too many snapshot files".to_string()))?;
        out.extend_from_slice(&count.to_be_bytes());
        for file in &meta.files {
            put_string(&mut out, &file.name)?;
            out.extend_from_slice(&file.size.to_be_bytes());
            out.extend_from_slice(&file.crc32c.to_be_bytes());
        }
        seal(&mut out, 0);
        Ok(out)
    }

    /// Decodes and verifies a snapshot meta record.
    pub(crate) fn decode(record: &[u8]) -> Result<SnapshotMeta, DecodeError> {
        let body = open_record(record)?;
        let mut reader = Reader { bytes: body };
        let term = Term(reader.u64()?);
        let index = LogIndex(reader.u64()?);
        let configuration = read_configuration_entry(&mut reader)?;
        let count = reader.u32()?;
        let mut files = Vec::new();
        for _ in 0..count {
            let name = reader.string()?.to_string();
            let size = reader.u64()?;
            let crc32c = reader.u32()?;
            files.push(SnapshotFileMeta { name, size, crc32c });
        }
        reader.finish()?;
        Ok(SnapshotMeta {
            last_included: LogId { term, index },
            configuration,
            files,
        })
    }
}

/// True when an entry record is shorter than its header declares (or than a header):
/// the signature of a write torn by a crash, as opposed to bit rot in a complete record.
pub fn is_torn_entry(record: &[u8]) -> bool {
    if record.len() < ENTRY_HEADER_LEN + CRC_LEN {
        return true;
    }
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&record[ENTRY_HEADER_LEN - 4..ENTRY_HEADER_LEN]);
    let declared = u64::from(u32::from_be_bytes(raw));
    let full = declared.saturating_add((ENTRY_HEADER_LEN + CRC_LEN) as u64);
    (record.len() as u64) < full
}
