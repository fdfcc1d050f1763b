//! The wire format: length-delimited, versioned frames carrying one Raft message with
//! the payloads of the entries it replicates.
//!
//! ```text
//! +----------------+---------+-------------------------------+
//! | length: u32 BE | version | body (postcard-encoded Frame) |
//! +----------------+---------+-------------------------------+
//!   counts version + body
//! ```
//!
//! The length is checked against the receiver's maximum before anything is allocated,
//! and every decoded frame is validated (payload count and sizes match the entries), so
//! a malformed or hostile frame is a typed error, never a panic or an unbounded buffer.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::core::{EntryKind, GroupId, LogId, Message, PeerId};

/// The only wire version this build speaks. Bumped on any incompatible change; a frame
/// of another version is rejected with [`WireError::UnsupportedVersion`].
/// Version 2 added snapshot transfer frames; version 3 added reads (a round number on
/// heartbeats and their answers, `ReadIndex` and its answer); version 4 the lease an
/// answer to a heartbeat covers (`HeartbeatResponse::lease_cover`). Nodes of different
/// versions do not talk: upgrade a group all at once (stop, upgrade, start).
pub const WIRE_VERSION: u8 = 4;

/// Default maximum frame size: 16 MiB, comfortably above the default maximum
/// AppendEntries body (512 KiB beyond its first entry).
pub const DEFAULT_MAX_FRAME_BYTES: u32 = 16 * 1024 * 1024;

const HEADER_BYTES: usize = 4;

/// How far ahead of the received data the decoder reserves room for a partial frame.
const RESERVE_AHEAD_BYTES: usize = 64 * 1024;

/// One message between two nodes of one group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftFrame {
    /// The group the message belongs to (multi-raft routing, F09/F35).
    pub group: GroupId,
    /// The sending node.
    pub from: PeerId,
    /// The receiving node.
    pub to: PeerId,
    /// What the frame carries.
    pub body: FrameBody,
    /// For `Message::Append`: one payload per entry, in order (empty for blank and
    /// configuration entries). Empty for every other message.
    pub payloads: Vec<Bytes>,
}

/// What a frame carries: a message of the core, or a piece of a snapshot transfer
/// between the executors of two nodes (the core only says which snapshot to fetch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FrameBody {
    /// A Raft message.
    Raft(Message<PeerId>),
    /// A follower asks the leader for part of a snapshot.
    SnapshotRead(SnapshotRead),
    /// The leader's answer.
    SnapshotData(SnapshotData),
}

/// A request for part of the snapshot ending at `snapshot`: its file list (`file` is
/// `None`) or up to `max_bytes` of `file` from `offset`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRead {
    /// The snapshot, named by its last included entry.
    pub snapshot: LogId,
    /// Chosen by the requester, echoed in the answer.
    pub request: u64,
    /// The file to read, or `None` for the list of files.
    pub file: Option<String>,
    /// Where in the file to start.
    pub offset: u64,
    /// Most bytes to return.
    pub max_bytes: u32,
}

/// One file of a snapshot, as listed to a follower.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFileInfo {
    /// The file name (one plain path component).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// crc32c of its contents.
    pub crc32c: u32,
}

/// The answer to a [`SnapshotRead`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotData {
    /// The snapshot asked about.
    pub snapshot: LogId,
    /// The request answered.
    pub request: u64,
    /// What was read.
    pub reply: SnapshotReply,
}

/// What a [`SnapshotData`] holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotReply {
    /// The snapshot's files.
    Files(Vec<SnapshotFileInfo>),
    /// Bytes of the file asked for, from the offset asked for (empty at its end).
    Chunk(Bytes),
    /// The leader no longer has that snapshot (it took a newer one), or cannot read it.
    Unavailable(String),
}

impl RaftFrame {
    /// A frame carrying a Raft message.
    pub fn raft(
        group: GroupId,
        from: PeerId,
        to: PeerId,
        message: Message<PeerId>,
        payloads: Vec<Bytes>,
    ) -> RaftFrame {
        RaftFrame {
            group,
            from,
            to,
            body: FrameBody::Raft(message),
            payloads,
        }
    }

    /// The Raft message, if the frame carries one.
    pub fn message(&self) -> Option<&Message<PeerId>> {
        match &self.body {
            FrameBody::Raft(message) => Some(message),
            FrameBody::SnapshotRead(_) | FrameBody::SnapshotData(_) => None,
        }
    }
}

/// Why bytes could not be turned into a frame (or a frame into bytes).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The announced frame length exceeds the maximum.
    #[error("frame of {length} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Announced length.
        length: u64,
        /// The configured maximum.
        max: u32,
    },
    /// A zero-length frame (it cannot even hold the version byte).
    #[error("empty frame")]
    Empty,
    /// The frame's version is not [`WIRE_VERSION`].
    #[error("unsupported wire version {found} (this build speaks {WIRE_VERSION})")]
    UnsupportedVersion {
        /// The version found.
        found: u8,
    },
    /// The body does not decode, or decodes into an inconsistent frame.
    #[error("malformed frame: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
}

impl RaftFrame {
    /// Checks that payloads match the entries they belong to.
    /// Also checks what the decoder cannot: the group name is a valid [`GroupId`]. (A
    /// configuration naming a node both voter and learner does not decode at all:
    /// `Configuration`'s deserialization checks its invariant.)
    pub fn validate(&self) -> Result<(), WireError> {
        let malformed = |reason: String| Err(WireError::Malformed { reason });
        if let Err(error) = GroupId::new(self.group.0.as_str()) {
            return malformed(error.to_string());
        }
        let message = match &self.body {
            FrameBody::Raft(message) => message,
            FrameBody::SnapshotRead(read) => {
                if !self.payloads.is_empty() {
                    return malformed("a snapshot read carries payloads".into());
                }
                if let Some(file) = &read.file {
                    if let Err(reason) = crate::storage::check_file_name(file) {
                        return malformed(reason);
                    }
                }
                return Ok(());
            }
            FrameBody::SnapshotData(data) => {
                if !self.payloads.is_empty() {
                    return malformed("snapshot data carries payloads".into());
                }
                if let SnapshotReply::Files(files) = &data.reply {
                    for file in files {
                        if let Err(reason) = crate::storage::check_file_name(&file.name) {
                            return malformed(reason);
                        }
                    }
                }
                return Ok(());
            }
        };
        match message {
            Message::Append(request) => {
                if request.entries.len() != self.payloads.len() {
                    return malformed(format!(
                        "{} entries but {} payloads",
                        request.entries.len(),
                        self.payloads.len()
                    ));
                }
                for (entry, payload) in request.entries.iter().zip(&self.payloads) {
                    let expected = match &entry.kind {
                        EntryKind::Normal => entry.size_bytes as usize,
                        EntryKind::Blank => 0,
                        EntryKind::Configuration(_) => 0,
                    };
                    if payload.len() != expected {
                        return malformed(format!(
                            "entry {} announces {} payload bytes but carries {}",
                            entry.log_id,
                            expected,
                            payload.len()
                        ));
                    }
                }
                Ok(())
            }
            _ if !self.payloads.is_empty() => {
                malformed(format!("{} carries payloads", message.kind_name()))
            }
            _ => Ok(()),
        }
    }

    /// Encodes the frame, header included. Fails if the result would exceed `max_bytes`.
    pub fn encode(&self, max_bytes: u32) -> Result<Bytes, WireError> {
        let body = postcard::to_stdvec(self).map_err(|e| WireError::Malformed {
            reason: format!("cannot encode: {e}"),
        })?;
        let length = body.len() as u64 + 1;
        if length > u64::from(max_bytes) {
            return Err(WireError::TooLarge {
                length,
                max: max_bytes,
            });
        }
        let mut out = BytesMut::with_capacity(HEADER_BYTES + 1 + body.len());
        out.put_u32(length as u32);
        out.put_u8(WIRE_VERSION);
        out.put_slice(&body);
        Ok(out.freeze())
    }
}

/// Incremental decoder for a byte stream of frames.
#[derive(Debug)]
pub struct FrameDecoder {
    max_bytes: u32,
}

impl FrameDecoder {
    /// A decoder refusing frames longer than `max_bytes`.
    pub fn new(max_bytes: u32) -> Self {
        FrameDecoder { max_bytes }
    }

    /// Takes one complete frame off the front of `buffer`, if there is one. On error the
    /// stream is unusable (framing is lost) and the connection must be closed.
    pub fn decode(&self, buffer: &mut BytesMut) -> Result<Option<RaftFrame>, WireError> {
        if buffer.len() < HEADER_BYTES {
            return Ok(None);
        }
        let length = u32::from_be_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]);
        if length == 0 {
            return Err(WireError::Empty);
        }
        if length > self.max_bytes {
            return Err(WireError::TooLarge {
                length: u64::from(length),
                max: self.max_bytes,
            });
        }
        let total = HEADER_BYTES + length as usize;
        if buffer.len() < total {
            // Grow with the data actually received, not with the announced length: a
            // peer that announces the maximum and sends a few bytes holds no memory.
            buffer.reserve((total - buffer.len()).min(RESERVE_AHEAD_BYTES));
            return Ok(None);
        }
        buffer.advance(HEADER_BYTES);
        let mut frame_bytes = buffer.split_to(length as usize);
        let version = frame_bytes.get_u8();
        if version != WIRE_VERSION {
            return Err(WireError::UnsupportedVersion { found: version });
        }
        let frame: RaftFrame =
            postcard::from_bytes(&frame_bytes).map_err(|e| WireError::Malformed {
                reason: e.to_string(),
            })?;
        frame.validate()?;
        Ok(Some(frame))
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
