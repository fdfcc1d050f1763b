//! Moving Raft frames between nodes: the [`Transport`] trait the runtime talks to, a TCP
//! implementation (tokio, generic over the socket type so the chaos suite can run it on
//! turmoil's simulated sockets), an in-process implementation for tests and benchmarks,
//! and the versioned wire codec.
//!
//! Sending never blocks the caller: each destination has a bounded queue drained by its
//! own writer task, and a frame that does not fit is dropped and counted (Raft tolerates
//! message loss; it does not tolerate a core task stuck on a slow peer). Receiving hands
//! decoded, validated frames to a bounded channel. Routing frames to groups, and
//! refusing frames addressed to another group or node, is the runtime's job; who may
//! say what (members, terms) is the core's.

mod in_process;
mod metrics;
mod mux;
mod tcp;
mod tls;
mod wire;

use crate::core::Endpoint;

pub use in_process::{InProcessNetwork, InProcessTransport};
pub use metrics::{TransportMetrics, TransportMetricsSnapshot};
#[cfg(feature = "tls")]
pub use mux::split_port_tls;
pub use mux::{
    split_port, PrefaceConnector, SplitAcceptor, SplitCounters, SplitOptions, SplitPort,
    HTTP_GET_PREFACE, RAFT_PREFACE, SERVICE_PREFACE,
};
pub use tcp::{
    accept_loop, serve, transient_accept_error, Acceptor, Connector, TcpOptions, TcpTransport,
    TokioConnector,
};
pub use tls::{
    certified_peer, certifies, refused_by_tls, MaybeTlsStream, TlsConfig, TlsConnector, TlsError,
};
pub use wire::{
    FrameBody, FrameDecoder, RaftFrame, SnapshotData, SnapshotFileInfo, SnapshotRead,
    SnapshotReply, WireError, DEFAULT_MAX_FRAME_BYTES, WIRE_VERSION,
};

/// Why a [`FrameSink`] dropped a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkError {
    /// The queue is full (the node is slow): the frame is dropped, as a lossy network
    /// would.
    Full,
    /// Nobody receives any more (the node stopped).
    Closed,
}

/// Where received frames go: a node's bounded inbound queue (from `Node::start`), or a
/// channel of the caller's (`FrameSink::new`). Sending never waits: a full queue
/// refuses the frame (Raft tolerates its loss). Cheap to clone.
#[derive(Clone, Debug)]
pub struct FrameSink {
    sender: tokio::sync::mpsc::Sender<RaftFrame>,
    /// A node's: rung after each frame, so its driver learns of it without polling
    /// the queue (`concord_sync::doorbell`).
    ringer: Option<(concord_sync::doorbell::Ringer, u32)>,
}

impl From<tokio::sync::mpsc::Sender<RaftFrame>> for FrameSink {
    fn from(sender: tokio::sync::mpsc::Sender<RaftFrame>) -> Self {
        FrameSink::new(sender)
    }
}

impl FrameSink {
    /// A sink into `sender`, whose receiver is awaited the usual way.
    pub fn new(sender: tokio::sync::mpsc::Sender<RaftFrame>) -> Self {
        FrameSink {
            sender,
            ringer: None,
        }
    }

    /// A node's inbound queue: `source` is rung on `ringer` after each frame.
    pub(crate) fn ringing(
        sender: tokio::sync::mpsc::Sender<RaftFrame>,
        ringer: concord_sync::doorbell::Ringer,
        source: u32,
    ) -> Self {
        FrameSink {
            sender,
            ringer: Some((ringer, source)),
        }
    }

    /// Queues `frame` without waiting; a full or closed queue drops it.
    pub fn try_send(&self, frame: RaftFrame) -> Result<(), SinkError> {
        self.sender.try_send(frame).map_err(|error| match error {
            tokio::sync::mpsc::error::TrySendError::Full(_) => SinkError::Full,
            tokio::sync::mpsc::error::TrySendError::Closed(_) => SinkError::Closed,
        })?;
        if let Some((ringer, source)) = &self.ringer {
            ringer.ring(*source);
        }
        Ok(())
    }

    /// Whether the receiving side is gone (a stopped node).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

/// Why a frame was not accepted for sending. The frame is dropped in every case.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The destination's queue is full (the peer is slow or unreachable).
    #[error("send queue to {to} is full")]
    QueueFull {
        /// The destination.
        to: Endpoint,
    },
    /// No such destination is known (in-process transport) or it is cut off.
    #[error("{to} is unreachable")]
    Unreachable {
        /// The destination.
        to: Endpoint,
    },
    /// The transport is shutting down.
    #[error("transport is shut down")]
    Shutdown,
}

/// Sends frames to other nodes. Implementations are cheap to share across tasks.
pub trait Transport: Send + Sync + 'static {
    /// Queues `frame` for `to` without waiting. Delivery is best effort and unordered
    /// across reconnects; the Raft core tolerates loss, duplication and reordering.
    fn send(&self, to: &Endpoint, frame: RaftFrame) -> Result<(), SendError>;

    /// Counters for observability.
    fn metrics(&self) -> TransportMetricsSnapshot;
}
