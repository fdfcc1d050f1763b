//! One TCP port for Raft traffic and client/admin requests (JRaft shares one RPC server
//! the same way).
//!
//! Every connection to a shared port starts with a 4-byte preface naming its protocol
//! ([`RAFT_PREFACE`] or [`SERVICE_PREFACE`]); [`split_port`] reads it and hands the
//! stream to the Raft acceptor or the service acceptor, which then see an ordinary
//! stream. The connecting side writes the preface with [`PrefaceConnector`]. A
//! connection that sends another preface, or none within the handshake timeout, is
//! closed and counted; the number of connections waiting for their preface is bounded,
//! so a flood of silent connections holds at most that many sockets.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use concord::transport::{split_port, PrefaceConnector, SplitOptions, TokioConnector, RAFT_PREFACE};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7001").await?;
//! let (raft, service, _counters) = split_port(listener, SplitOptions::default());
//! // `raft` goes to `RaftServer::with_acceptor` with
//! // `PrefaceConnector::new(TokioConnector, RAFT_PREFACE)`, `service` to
//! // `concord::service::serve`.
//! # let _ = (raft, service);
//! # Ok(())
//! # }
//! ```

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

use super::tcp::{transient_accept_error, Acceptor, Connector};
use crate::core::Endpoint;
use crate::trace::event;

/// The preface of a Raft connection (peer to peer).
pub const RAFT_PREFACE: [u8; 4] = *b"CRf1";
/// The preface of a client or admin connection (the client protocol).
pub const SERVICE_PREFACE: [u8; 4] = *b"CSv1";

/// Tunables of [`split_port`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitOptions {
    /// A connection must send its preface within this.
    pub handshake_timeout: Duration,
    /// Most connections waiting for their preface at once; more are closed on accept.
    pub max_handshakes: usize,
    /// Connections accepted but not yet taken by the Raft or service acceptor, per
    /// protocol; beyond it new connections of that protocol are closed.
    pub queue: usize,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            handshake_timeout: Duration::from_secs(5),
            max_handshakes: 256,
            queue: 64,
        }
    }
}

/// Connections [`split_port`] closed without handing them on.
#[derive(Debug, Default)]
pub struct SplitCounters {
    refused: AtomicU64,
}

impl SplitCounters {
    /// Connections closed: an unknown preface, none in time, too many handshakes at
    /// once, or a full queue.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// The streams of one protocol on a shared port.
pub struct SplitAcceptor {
    streams: mpsc::Receiver<TcpStream>,
}

impl Acceptor for SplitAcceptor {
    type Stream = TcpStream;

    async fn accept(&mut self) -> io::Result<TcpStream> {
        self.streams
            .recv()
            .await
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "the shared port stopped"))
    }
}

/// Accepts on `listener` (in a task of its own, until both acceptors are dropped or the
/// listener fails) and splits the connections by preface: `(raft, service, counters)`.
pub fn split_port(
    listener: tokio::net::TcpListener,
    options: SplitOptions,
) -> (SplitAcceptor, SplitAcceptor, Arc<SplitCounters>) {
    let (raft_tx, raft_rx) = mpsc::channel(options.queue.max(1));
    let (service_tx, service_rx) = mpsc::channel(options.queue.max(1));
    let counters = Arc::new(SplitCounters::default());
    let handshakes = Arc::new(Semaphore::new(options.max_handshakes.max(1)));
    let task_counters = counters.clone();
    tokio::spawn(async move {
        loop {
            if raft_tx.is_closed() && service_tx.is_closed() {
                return;
            }
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) if transient_accept_error(&error) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(error) => {
                    event!(error, error = %error, "the shared port stopped accepting");
                    #[cfg(not(feature = "tracing"))]
                    let _ = error;
                    return;
                }
            };
            let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                task_counters.refused.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let (raft_tx, service_tx) = (raft_tx.clone(), service_tx.clone());
            let counters = task_counters.clone();
            let timeout = options.handshake_timeout;
            tokio::spawn(async move {
                let mut stream = stream;
                let mut preface = [0u8; 4];
                let read = tokio::time::timeout(timeout, stream.read_exact(&mut preface)).await;
                drop(permit);
                let queue = match read {
                    Ok(Ok(_)) if preface == RAFT_PREFACE => &raft_tx,
                    Ok(Ok(_)) if preface == SERVICE_PREFACE => &service_tx,
                    _ => {
                        counters.refused.fetch_add(1, Ordering::Relaxed);
                        event!(
                            debug,
                            "connection closed: no known preface in time on the shared port"
                        );
                        return;
                    }
                };
                let _ = stream.set_nodelay(true);
                if queue.try_send(stream).is_err() {
                    counters.refused.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    (
        SplitAcceptor { streams: raft_rx },
        SplitAcceptor {
            streams: service_rx,
        },
        counters,
    )
}

/// A connector that writes `preface` first on every connection it opens: to reach a
/// shared port ([`split_port`]).
#[derive(Clone, Copy, Debug)]
pub struct PrefaceConnector<C> {
    inner: C,
    preface: [u8; 4],
}

impl<C> PrefaceConnector<C> {
    /// Wraps `inner`.
    pub fn new(inner: C, preface: [u8; 4]) -> Self {
        PrefaceConnector { inner, preface }
    }
}

impl<C: Connector> Connector for PrefaceConnector<C> {
    type Stream = C::Stream;

    async fn connect(&self, endpoint: &Endpoint) -> io::Result<C::Stream> {
        let mut stream = self.inner.connect(endpoint).await?;
        stream.write_all(&self.preface).await?;
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TokioConnector;

    #[tokio::test]
    async fn connections_are_split_by_preface_and_strangers_are_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let endpoint = Endpoint::new("127.0.0.1", port).unwrap();
        let options = SplitOptions {
            handshake_timeout: Duration::from_millis(200),
            ..SplitOptions::default()
        };
        let (mut raft, mut service, counters) = split_port(listener, options);

        for (preface, acceptor) in [(RAFT_PREFACE, &mut raft), (SERVICE_PREFACE, &mut service)] {
            let mut out = PrefaceConnector::new(TokioConnector, preface)
                .connect(&endpoint)
                .await
                .unwrap();
            out.write_all(b"x").await.unwrap();
            let mut accepted = acceptor.accept().await.unwrap();
            let mut byte = [0u8; 1];
            accepted.read_exact(&mut byte).await.unwrap();
            assert_eq!(&byte, b"x", "the preface is consumed, the stream is intact");
        }

        // Another protocol's bytes, and a connection that says nothing: closed, counted.
        let mut stranger = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stranger.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let _silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while counters.refused() < 2 {
            assert!(tokio::time::Instant::now() < deadline, "not refused");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut rest = Vec::new();
        let _ = stranger.read_to_end(&mut rest).await;
        assert!(rest.is_empty(), "a stranger gets nothing back");
    }
}
