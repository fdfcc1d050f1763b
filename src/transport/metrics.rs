//! Transport counters (F28 names where the guide has them).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters, shared by a transport's tasks.
#[derive(Debug, Default)]
pub struct TransportMetrics {
    frames_sent: AtomicU64,
    frames_dropped_queue_full: AtomicU64,
    frames_dropped_unreachable: AtomicU64,
    frames_received: AtomicU64,
    frames_dropped_inbound_full: AtomicU64,
    frames_rejected_malformed: AtomicU64,
    frames_rejected_identity: AtomicU64,
    connect_failures: AtomicU64,
    write_failures: AtomicU64,
    connections_closed_idle: AtomicU64,
    connections_refused_limit: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TransportMetricsSnapshot {
    /// Frames written to a socket (or handed over in process).
    pub frames_sent: u64,
    /// Frames dropped because the destination's queue was full.
    pub frames_dropped_queue_full: u64,
    /// Frames dropped because the destination could not be reached.
    pub frames_dropped_unreachable: u64,
    /// Frames received and passed on.
    pub frames_received: u64,
    /// Frames received but dropped because the runtime's inbound queue was full.
    pub frames_dropped_inbound_full: u64,
    /// Connections closed because a frame was malformed, too large or of another version.
    pub frames_rejected_malformed: u64,
    /// Raft connections closed because their TLS certificate names no peer, or a
    /// frame's sender is not the peer it names.
    pub frames_rejected_identity: u64,
    /// Failed connection attempts.
    pub connect_failures: u64,
    /// Writes that failed or timed out (the connection is then re-established).
    pub write_failures: u64,
    /// Inbound connections closed after the idle timeout.
    pub connections_closed_idle: u64,
    /// Inbound connections refused because the connection limit was reached.
    pub connections_refused_limit: u64,
}

macro_rules! counters {
    ($($name:ident => $method:ident),* $(,)?) => {
        impl TransportMetrics {
            $(
                pub(crate) fn $method(&self) {
                    self.$name.fetch_add(1, Ordering::Relaxed);
                }
            )*

            /// Reads every counter.
            pub fn snapshot(&self) -> TransportMetricsSnapshot {
                TransportMetricsSnapshot {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                }
            }
        }
    };
}

counters! {
    frames_sent => sent,
    frames_dropped_queue_full => dropped_queue_full,
    frames_dropped_unreachable => dropped_unreachable,
    frames_received => received,
    frames_dropped_inbound_full => dropped_inbound_full,
    frames_rejected_malformed => rejected_malformed,
    frames_rejected_identity => rejected_identity,
    connect_failures => connect_failed,
    write_failures => write_failed,
    connections_closed_idle => closed_idle,
    connections_refused_limit => refused_limit,
}
