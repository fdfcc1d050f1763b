//! The client protocol's frames: length-delimited, versioned, postcard-encoded.
//!
//! ```text
//! +----------------+---------+----------------------------------------+
//! | length: u32 BE | version | body (postcard ServiceRequest / Reply) |
//! +----------------+---------+----------------------------------------+
//! ```
//!
//! The length is checked against the maximum before anything is allocated.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::core::PeerId;

/// The client protocol version this build speaks.
pub const SERVICE_WIRE_VERSION: u8 = 1;

/// Default largest request or reply: 4 MiB.
pub const DEFAULT_MAX_SERVICE_FRAME_BYTES: u32 = 4 * 1024 * 1024;

/// A client's request: an opaque command for the group's state machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRequest {
    /// Chosen by the client; echoed in the reply.
    pub id: u64,
    /// The command, as the state machine's codec encodes it.
    pub body: Bytes,
}

/// The server's answer to one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceReply {
    /// The request's id.
    pub id: u64,
    /// The state machine's encoded response, or why there is none.
    pub result: Result<Bytes, ServiceError>,
}

/// Why a request produced no response. The variants say what the client may assume
/// about the command's effect, which is what a correct retry policy needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ServiceError {
    /// This node does not lead; nothing was appended. Retry at the hint.
    #[error("not the leader (hint: {leader_hint:?})")]
    NotLeader {
        /// The leader as far as the node knows.
        leader_hint: Option<PeerId>,
    },
    /// The command certainly did not take effect (overloaded, stopped, term mismatch).
    #[error("not applied: {reason}")]
    NotApplied {
        /// Why.
        reason: String,
    },
    /// The command may or may not take effect (leadership lost after append, timeout).
    #[error("outcome unknown: {reason}")]
    Unknown {
        /// Why.
        reason: String,
    },
    /// The request could not be decoded or the state machine refused it; nothing changed.
    #[error("bad request: {reason}")]
    BadRequest {
        /// Why.
        reason: String,
    },
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The connection failed or closed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The announced length exceeds the maximum (or is zero).
    #[error("frame length {length} outside 1..={max}")]
    BadLength {
        /// Announced length.
        length: u32,
        /// The maximum.
        max: u32,
    },
    /// Another protocol version.
    #[error("unsupported client protocol version {0}")]
    Version(u8),
    /// The body is not a valid message.
    #[error("undecodable frame: {0}")]
    Decode(String),
}

/// Whether the first four bytes of an answer, read as a frame length, are a TLS alert
/// record's header (content type 21, version 3.0–3.4, length below 256): a TLS server
/// refusing a client that spoke in the clear, before reading anything of it.
pub(crate) fn tls_alert_header(length: u32) -> bool {
    let [kind, major, minor, length_high] = length.to_be_bytes();
    kind == 0x15 && major == 3 && minor <= 4 && length_high == 0
}

/// Encodes one message as a frame.
pub fn encode_frame<T: Serialize>(message: &T) -> Bytes {
    // Postcard serialization of these types cannot fail (no maps with non-string keys,
    // no unsupported types); an empty body would be rejected by the peer, not trusted.
    let body = postcard::to_stdvec(message).unwrap_or_default();
    let mut frame = BytesMut::with_capacity(5 + body.len());
    frame.put_u32((body.len() + 1) as u32);
    frame.put_u8(SERVICE_WIRE_VERSION);
    frame.put_slice(&body);
    frame.freeze()
}

/// Writes one message.
pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    writer: &mut W,
    message: &T,
) -> std::io::Result<()> {
    writer.write_all(&encode_frame(message)).await?;
    writer.flush().await
}

/// Reads one message, refusing frames longer than `max` before allocating them.
pub async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(
    reader: &mut R,
    max: u32,
) -> Result<T, FrameError> {
    let length = reader.read_u32().await?;
    if length == 0 || length > max {
        return Err(FrameError::BadLength { length, max });
    }
    // Grow with the data actually received, not with the announced length: a peer that
    // announces the maximum and sends nothing holds no memory.
    let mut buffer = Vec::with_capacity((length as usize).min(64 * 1024));
    (&mut *reader)
        .take(u64::from(length))
        .read_to_end(&mut buffer)
        .await?;
    if buffer.len() != length as usize {
        return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    let mut bytes = &buffer[..];
    let version = bytes.get_u8();
    if version != SERVICE_WIRE_VERSION {
        return Err(FrameError::Version(version));
    }
    postcard::from_bytes(bytes).map_err(|e| FrameError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_bad_frames_are_typed_errors() {
        let request = ServiceRequest {
            id: 7,
            body: Bytes::from_static(b"hello"),
        };
        let frame = encode_frame(&request);
        let decoded: ServiceRequest = read_frame(&mut &frame[..], 1024).await.unwrap();
        assert_eq!(decoded, request);

        // Too long for the maximum: refused before allocation.
        let error = read_frame::<_, ServiceRequest>(&mut &frame[..], 3).await;
        assert!(matches!(error, Err(FrameError::BadLength { max: 3, .. })));
        // Truncated.
        let error = read_frame::<_, ServiceRequest>(&mut &frame[..frame.len() - 1], 1024).await;
        assert!(matches!(error, Err(FrameError::Io(_))));
        // Wrong version.
        let mut bad = frame.to_vec();
        bad[4] = 99;
        let error = read_frame::<_, ServiceRequest>(&mut &bad[..], 1024).await;
        assert!(matches!(error, Err(FrameError::Version(99))));
        // Garbage body.
        let garbage = [0, 0, 0, 3, SERVICE_WIRE_VERSION, 0xFF, 0xFF];
        let error = read_frame::<_, ServiceRequest>(&mut &garbage[..], 1024).await;
        assert!(matches!(error, Err(FrameError::Decode(_))));
        // A TLS server's alert (handshake failure) where a frame should be: too long,
        // and recognised by the client as TLS.
        let alert = [0x15u8, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];
        let error = read_frame::<_, ServiceReply>(&mut &alert[..], 4 << 20).await;
        let Err(FrameError::BadLength { length, .. }) = error else {
            panic!("{error:?}");
        };
        assert!(tls_alert_header(length));
        assert!(tls_alert_header(0x1503_0100));
        assert!(!tls_alert_header(0x1503_0500) && !tls_alert_header(0x1503_0301));
        assert!(!tls_alert_header(0x1603_0300));
        assert!(!tls_alert_header(4 << 20));
        // Zero length.
        let error = read_frame::<_, ServiceRequest>(&mut &[0u8, 0, 0, 0][..], 1024).await;
        assert!(matches!(
            error,
            Err(FrameError::BadLength { length: 0, .. })
        ));
    }
}
