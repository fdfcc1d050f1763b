//! One TCP port for Raft traffic and client/admin requests (JRaft shares one RPC server
//! the same way).
//!
//! Every connection to a shared port starts with a 4-byte preface naming its protocol
//! ([`RAFT_PREFACE`], [`SERVICE_PREFACE`], or `GET ` — an HTTP GET, for status pages
//! and metrics); [`split_port`] reads it and hands the stream to the matching acceptor,
//! which then sees the stream after the preface. The connecting side writes the preface with [`PrefaceConnector`]. A
//! connection that sends another preface, or none within the handshake timeout, is
//! closed and counted; the number of connections waiting for their preface is bounded,
//! so a flood of silent connections holds at most that many sockets.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use concord::transport::{split_port, PrefaceConnector, SplitOptions, TokioConnector, RAFT_PREFACE};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7001").await?;
//! let port = split_port(listener, SplitOptions::default());
//! // `port.raft` goes to `RaftServer::with_acceptor` with
//! // `PrefaceConnector::new(TokioConnector, RAFT_PREFACE)`, `port.service` to
//! // `concord::service::serve`, `port.http` to an HTTP responder (`concord serve`'s
//! // `/raft_stat` and `/metrics`), or is dropped (GETs are then closed).
//! # let _ = port;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

use super::tcp::{transient_accept_error, Acceptor, Connector};
use super::MaybeTlsStream;
#[cfg(feature = "tls")]
use super::TlsConfig;
use crate::core::Endpoint;
use crate::trace::event;

/// The preface of a Raft connection (peer to peer).
pub const RAFT_PREFACE: [u8; 4] = *b"CRf1";
/// The preface of a client or admin connection (the client protocol).
pub const SERVICE_PREFACE: [u8; 4] = *b"CSv1";
/// The first four bytes of an HTTP GET request: handed to [`SplitPort::http`] (which
/// reads the rest of the request line after them).
pub const HTTP_GET_PREFACE: [u8; 4] = *b"GET ";

/// Tunables of [`split_port`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitOptions {
    /// A connection must send its preface within this.
    pub handshake_timeout: Duration,
    /// Most connections waiting for their preface at once; more are closed on accept.
    pub max_handshakes: usize,
    /// Most of those from one IP address, so that one source cannot take every slot.
    pub max_handshakes_per_source: usize,
    /// Connections accepted but not yet taken by the Raft or service acceptor, per
    /// protocol; beyond it new connections of that protocol are closed.
    pub queue: usize,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            // A legitimate connector sends its preface with the connection: a second
            // is plenty, and a silent flood holds its slots that long only.
            handshake_timeout: Duration::from_secs(1),
            max_handshakes: 256,
            max_handshakes_per_source: 32,
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
    /// Connections closed: an unknown preface, none in time (or, with TLS, a failed
    /// handshake), too many handshakes at once (in all or from one address), or a
    /// full queue.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// Handshakes in progress per source address.
struct Sources {
    waiting: Mutex<BTreeMap<IpAddr, usize>>,
    limit: usize,
}

/// One handshake slot of a source, given back when dropped.
struct SourceSlot {
    sources: Arc<Sources>,
    source: IpAddr,
}

impl Sources {
    fn enter(sources: &Arc<Sources>, source: IpAddr) -> Option<SourceSlot> {
        let mut waiting = sources
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = waiting.entry(source).or_insert(0);
        if *count >= sources.limit {
            return None;
        }
        *count += 1;
        Some(SourceSlot {
            sources: sources.clone(),
            source,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut waiting = self
            .sources
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = waiting.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                waiting.remove(&self.source);
            }
        }
    }
}

/// A connection handed on by [`split_port`]: its stream (after the preface) and, with
/// TLS, the name its peer's certificate carries.
type Split = (MaybeTlsStream<TcpStream>, Option<Arc<str>>);

/// The streams of one protocol on a shared port.
pub struct SplitAcceptor {
    streams: mpsc::Receiver<Split>,
}

impl Acceptor for SplitAcceptor {
    type Stream = MaybeTlsStream<TcpStream>;

    async fn accept(&mut self) -> io::Result<Self::Stream> {
        Ok(self.accept_authenticated().await?.0)
    }

    async fn accept_authenticated(&mut self) -> io::Result<Split> {
        self.streams
            .recv()
            .await
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "the shared port stopped"))
    }
}

/// The acceptors of one shared port.
pub struct SplitPort {
    /// Raft connections (peers).
    pub raft: SplitAcceptor,
    /// Client and admin connections.
    pub service: SplitAcceptor,
    /// HTTP GET requests, after the `GET ` preface.
    pub http: SplitAcceptor,
    /// Connections refused.
    pub counters: Arc<SplitCounters>,
}

/// Accepts on `listener` (in a task of its own, until every acceptor is dropped or the
/// listener fails) and splits the connections by preface.
pub fn split_port(listener: tokio::net::TcpListener, options: SplitOptions) -> SplitPort {
    split(listener, options, None)
}

/// As [`split_port`], with TLS and mutual authentication ([`TlsConfig`]): every
/// connection completes a handshake (within the handshake timeout, counted among the
/// handshakes in progress) before its preface is read inside TLS. A connection without
/// a certificate signed by the CA, or speaking in the clear, is closed and counted as
/// refused. The streams handed on carry the client certificate's common name
/// ([`Acceptor::accept_authenticated`]).
#[cfg(feature = "tls")]
pub fn split_port_tls(
    listener: tokio::net::TcpListener,
    options: SplitOptions,
    tls: &TlsConfig,
) -> SplitPort {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config());
    split(listener, options, Some(acceptor))
}

#[cfg(not(feature = "tls"))]
type TlsAcceptorOption = Option<std::convert::Infallible>;
#[cfg(feature = "tls")]
type TlsAcceptorOption = Option<tokio_rustls::TlsAcceptor>;

fn split(
    listener: tokio::net::TcpListener,
    options: SplitOptions,
    tls: TlsAcceptorOption,
) -> SplitPort {
    let (raft_tx, raft_rx) = mpsc::channel(options.queue.max(1));
    let (service_tx, service_rx) = mpsc::channel(options.queue.max(1));
    let (http_tx, http_rx) = mpsc::channel(options.queue.max(1));
    let counters = Arc::new(SplitCounters::default());
    let handshakes = Arc::new(Semaphore::new(options.max_handshakes.max(1)));
    let sources = Arc::new(Sources {
        waiting: Mutex::new(BTreeMap::new()),
        limit: options.max_handshakes_per_source.max(1),
    });
    let task_counters = counters.clone();
    tokio::spawn(async move {
        loop {
            if raft_tx.is_closed() && service_tx.is_closed() && http_tx.is_closed() {
                return;
            }
            let (stream, source) = match listener.accept().await {
                Ok((stream, address)) => (stream, address.ip()),
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
            let Some(from_source) = Sources::enter(&sources, source) else {
                task_counters.refused.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                task_counters.refused.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let (raft_tx, service_tx, http_tx) =
                (raft_tx.clone(), service_tx.clone(), http_tx.clone());
            let counters = task_counters.clone();
            let timeout = options.handshake_timeout;
            #[allow(clippy::clone_on_copy)] // `Option<Infallible>` without the feature
            let tls = tls.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let handshake = async {
                    let (mut stream, name) = match tls {
                        #[cfg(feature = "tls")]
                        Some(tls) => {
                            let (stream, name) = super::tls::accept(&tls, stream).await?;
                            (stream, Some(name))
                        }
                        #[allow(unreachable_patterns)]
                        _ => (MaybeTlsStream::Plain(stream), None),
                    };
                    let mut preface = [0u8; 4];
                    stream.read_exact(&mut preface).await?;
                    io::Result::Ok((preface, stream, name))
                };
                let read = tokio::time::timeout(timeout, handshake).await;
                drop(permit);
                drop(from_source);
                let (queue, accepted) = match read {
                    Ok(Ok((preface, stream, name))) if preface == RAFT_PREFACE => {
                        (&raft_tx, (stream, name))
                    }
                    Ok(Ok((preface, stream, name))) if preface == SERVICE_PREFACE => {
                        (&service_tx, (stream, name))
                    }
                    Ok(Ok((preface, stream, name))) if preface == HTTP_GET_PREFACE => {
                        (&http_tx, (stream, name))
                    }
                    _ => {
                        counters.refused.fetch_add(1, Ordering::Relaxed);
                        event!(
                            debug,
                            "connection closed: no handshake or no known preface in time on the shared port"
                        );
                        return;
                    }
                };
                if queue.try_send(accepted).is_err() {
                    counters.refused.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    SplitPort {
        raft: SplitAcceptor { streams: raft_rx },
        service: SplitAcceptor {
            streams: service_rx,
        },
        http: SplitAcceptor { streams: http_rx },
        counters,
    }
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
        let SplitPort {
            mut raft,
            mut service,
            http: _,
            counters,
        } = split_port(listener, options);

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
        stranger
            .write_all(b"POST / HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
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

    #[tokio::test]
    async fn a_flood_of_silent_connections_holds_at_most_max_handshakes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let endpoint = Endpoint::new("127.0.0.1", port).unwrap();
        let options = SplitOptions {
            handshake_timeout: Duration::from_millis(300),
            max_handshakes: 8,
            max_handshakes_per_source: 8,
            queue: 4,
        };
        let SplitPort {
            mut raft, counters, ..
        } = split_port(listener, options);
        // 60 connections that never send a preface: at most 8 wait for one at a time,
        // the rest are closed on accept (counted), then the 8 time out (counted).
        let mut flood = Vec::new();
        for _ in 0..60 {
            flood.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while counters.refused() < 52 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}",
                counters.refused()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        while counters.refused() < 60 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}",
                counters.refused()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The closed connections read end-of-stream; the port still serves.
        let mut buf = [0u8; 1];
        assert_eq!(flood[0].read(&mut buf).await.unwrap_or(0), 0);
        let mut out = PrefaceConnector::new(TokioConnector, RAFT_PREFACE)
            .connect(&endpoint)
            .await
            .unwrap();
        out.write_all(b"y").await.unwrap();
        let mut accepted = raft.accept().await.unwrap();
        accepted.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"y");
    }

    #[tokio::test]
    async fn one_source_cannot_take_every_handshake_slot() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let options = SplitOptions {
            handshake_timeout: Duration::from_secs(3),
            max_handshakes: 16,
            max_handshakes_per_source: 4,
            queue: 4,
        };
        let SplitPort {
            mut raft, counters, ..
        } = split_port(listener, options);
        // Ten silent connections from 127.0.0.1: four wait, six are closed at once.
        let mut flood = Vec::new();
        for _ in 0..10 {
            flood.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while counters.refused() < 6 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}",
                counters.refused()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Another source (127.0.0.2 is loopback too) is served while they wait.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut other = socket
            .connect(format!("127.0.0.1:{port}").parse().unwrap())
            .await
            .unwrap();
        other.write_all(&RAFT_PREFACE).await.unwrap();
        other.write_all(b"q").await.unwrap();
        let mut accepted = tokio::time::timeout(Duration::from_secs(1), raft.accept())
            .await
            .expect("the other source waited for the flood")
            .unwrap();
        let mut byte = [0u8; 1];
        accepted.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"q");
        assert_eq!(counters.refused(), 6);
        drop(flood);
    }
}
