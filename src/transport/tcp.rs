//! TCP transport: one outbound connection per destination, owned by a writer task that
//! batches queued frames into few writes and reconnects with bounded exponential
//! backoff; an accept loop whose connections are read with an idle timeout.
//!
//! Every wait is bounded: connects and writes time out, and an inbound connection that
//! delivers no complete frame within the idle timeout is closed. This matters beyond
//! real networks: turmoil's simulated TCP never retransmits, so a lost segment stalls a
//! stream forever without an error; the timeouts turn such a stall into a reconnect.
//!
//! The socket types are abstracted by [`Connector`] and [`Acceptor`], so the same code
//! runs on tokio's sockets in production and on turmoil's in the chaos suite.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::metrics::{TransportMetrics, TransportMetricsSnapshot};
use super::wire::{FrameDecoder, RaftFrame, DEFAULT_MAX_FRAME_BYTES};
use super::{FrameSink, SendError, SinkError, Transport};
use crate::core::Endpoint;
use crate::trace::event;

/// Opens outbound streams.
pub trait Connector: Send + Sync + 'static {
    /// The stream type.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Connects to `endpoint`.
    fn connect(&self, endpoint: &Endpoint)
        -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// Accepts inbound streams.
pub trait Acceptor: Send + 'static {
    /// The stream type.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Waits for the next connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Waits for the next connection and the name its peer authenticated as: the
    /// subject common name of its TLS client certificate (empty when the certificate
    /// has none), or `None` for a connection without TLS. The default is
    /// [`Acceptor::accept`] and `None`.
    fn accept_authenticated(
        &mut self,
    ) -> impl Future<Output = io::Result<(Self::Stream, Option<Arc<str>>)>> + Send {
        async { Ok((self.accept().await?, None)) }
    }
}

/// Connects with `tokio::net::TcpStream`, with Nagle's algorithm off.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioConnector;

impl Connector for TokioConnector {
    type Stream = tokio::net::TcpStream;

    async fn connect(&self, endpoint: &Endpoint) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect((endpoint.host(), endpoint.port())).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

impl Acceptor for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&mut self) -> io::Result<Self::Stream> {
        let (stream, _) = tokio::net::TcpListener::accept(self).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Tunables of the TCP transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpOptions {
    /// Largest frame accepted or sent.
    pub max_frame_bytes: u32,
    /// Frames queued per destination before `send` reports `QueueFull`.
    pub queue_capacity: usize,
    /// Bound on one connection attempt.
    pub connect_timeout: Duration,
    /// Bound on writing one batch of frames.
    pub write_timeout: Duration,
    /// An inbound connection idle this long is closed.
    pub idle_timeout: Duration,
    /// First reconnect delay; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Most inbound connections served at once.
    pub max_inbound_connections: usize,
    /// Most bytes coalesced into one write.
    pub write_batch_bytes: usize,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            queue_capacity: 4096,
            connect_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(15),
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_secs(1),
            max_inbound_connections: 1024,
            write_batch_bytes: 1024 * 1024,
        }
    }
}

struct Shared<C> {
    connector: C,
    options: TcpOptions,
    metrics: Arc<TransportMetrics>,
}

/// The sending side of the TCP transport. Must be used inside a tokio runtime (writer
/// tasks are spawned on first use of a destination). Dropping every clone stops them.
pub struct TcpTransport<C: Connector> {
    shared: Arc<Shared<C>>,
    queues: Arc<Mutex<BTreeMap<Endpoint, mpsc::Sender<RaftFrame>>>>,
}

impl<C: Connector> Clone for TcpTransport<C> {
    fn clone(&self) -> Self {
        TcpTransport {
            shared: self.shared.clone(),
            queues: self.queues.clone(),
        }
    }
}

impl<C: Connector> TcpTransport<C> {
    /// A transport connecting with `connector`.
    pub fn new(connector: C, options: TcpOptions) -> Self {
        TcpTransport {
            shared: Arc::new(Shared {
                connector,
                options,
                metrics: Arc::new(TransportMetrics::default()),
            }),
            queues: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// The counters, shared with [`serve`] when passed to it.
    pub fn metrics_handle(&self) -> Arc<TransportMetrics> {
        self.shared.metrics.clone()
    }

    fn queue_for(&self, to: &Endpoint) -> mpsc::Sender<RaftFrame> {
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(queue) = queues.get(to) {
            if !queue.is_closed() {
                return queue.clone();
            }
        }
        let (sender, receiver) = mpsc::channel(self.shared.options.queue_capacity);
        tokio::spawn(run_writer(self.shared.clone(), to.clone(), receiver));
        queues.insert(to.clone(), sender.clone());
        sender
    }
}

impl<C: Connector> Transport for TcpTransport<C> {
    fn send(&self, to: &Endpoint, frame: RaftFrame) -> Result<(), SendError> {
        match self.queue_for(to).try_send(frame) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.metrics.dropped_queue_full();
                Err(SendError::QueueFull { to: to.clone() })
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Shutdown),
        }
    }

    fn metrics(&self) -> TransportMetricsSnapshot {
        self.shared.metrics.snapshot()
    }
}

/// Owns the connection to one destination: encodes queued frames, coalesces them into
/// batched writes, and reconnects with backoff. Frames that cannot be delivered are
/// dropped and counted; Raft retransmits what matters.
async fn run_writer<C: Connector>(
    shared: Arc<Shared<C>>,
    to: Endpoint,
    mut queue: mpsc::Receiver<RaftFrame>,
) {
    let options = &shared.options;
    let metrics = &shared.metrics;
    let mut connection: Option<C::Stream> = None;
    let mut backoff = options.backoff_min;
    let mut batch = BytesMut::new();
    while let Some(first) = queue.recv().await {
        batch.clear();
        let mut frames = 0u64;
        let mut next = Some(first);
        while let Some(frame) = next.take() {
            match frame.encode(options.max_frame_bytes) {
                Ok(bytes) => {
                    batch.extend_from_slice(&bytes);
                    frames += 1;
                }
                Err(_) => metrics.rejected_malformed(),
            }
            if batch.len() < options.write_batch_bytes {
                next = queue.try_recv().ok();
            }
        }
        if frames == 0 {
            continue;
        }
        if connection.is_none() {
            let attempt =
                tokio::time::timeout(options.connect_timeout, shared.connector.connect(&to));
            match attempt.await {
                Ok(Ok(stream)) => {
                    connection = Some(stream);
                    backoff = options.backoff_min;
                }
                Ok(Err(_)) | Err(_) => {
                    metrics.connect_failed();
                    for _ in 0..frames {
                        metrics.dropped_unreachable();
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(options.backoff_max);
                    continue;
                }
            }
        }
        let Some(stream) = connection.as_mut() else {
            continue;
        };
        let write = async {
            stream.write_all(&batch).await?;
            stream.flush().await
        };
        match tokio::time::timeout(options.write_timeout, write).await {
            Ok(Ok(())) => {
                for _ in 0..frames {
                    metrics.sent();
                }
            }
            Ok(Err(_)) | Err(_) => {
                metrics.write_failed();
                connection = None;
            }
        }
    }
}

/// Accept errors that do not mean the listener is gone.
pub fn transient_accept_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::OutOfMemory
    ) || error
        .raw_os_error()
        .is_some_and(|code| code == 23 || code == 24) // ENFILE, EMFILE
}

/// Accepts streams until the acceptor fails for good, running `serve_one` on each (with
/// the name its peer authenticated as, [`Acceptor::accept_authenticated`]) as a
/// task owned by this future (when it goes, its connections go). At most
/// `max_connections` run at once; a stream beyond that is closed and `refused` called.
/// Transient accept errors (out of descriptors, a reset before accept) pause and retry.
/// Shared by the Raft transport's [`serve`] and the client service.
pub async fn accept_loop<A, F, Fut>(
    mut acceptor: A,
    max_connections: usize,
    refused: impl Fn(),
    mut serve_one: F,
) -> io::Result<()>
where
    A: Acceptor,
    F: FnMut(A::Stream, Option<Arc<str>>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // `biased`: deterministic branch order, so simulated runs replay exactly.
        let (stream, name) = tokio::select! {
            biased;
            accepted = acceptor.accept_authenticated() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if transient_accept_error(&error) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(error) => return Err(error),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        // Reap finished connections even when accepts keep the select busy.
        while connections.try_join_next().is_some() {}
        if connections.len() >= max_connections {
            // Debug, not warn: a connection flood must not flood the log (the
            // refusals are counted).
            event!(
                debug,
                max_connections,
                "connection refused: too many connections"
            );
            refused();
            drop(stream);
            continue;
        }
        connections.spawn(serve_one(stream, name));
    }
}

/// Accepts connections and decodes their frames into `sink` until the acceptor fails.
/// Spawn it as a task; aborting (or dropping) it closes every connection it accepted.
///
/// On an authenticated connection (TLS, [`Acceptor::accept_authenticated`] names the
/// peer), a certificate that certifies no peer ([`certified_peer`](super::certified_peer))
/// or a frame whose sender it does not certify ([`certifies`](super::certifies)) closes
/// the connection, counted as `frames_rejected_identity`.
pub async fn serve<A: Acceptor>(
    acceptor: A,
    sink: FrameSink,
    options: TcpOptions,
    metrics: Arc<TransportMetrics>,
) -> io::Result<()> {
    let refused = {
        let metrics = metrics.clone();
        move || metrics.refused_limit()
    };
    accept_loop(
        acceptor,
        options.max_inbound_connections,
        refused,
        move |stream, name| {
            let (sink, options, metrics) = (sink.clone(), options.clone(), metrics.clone());
            async move { read_connection(stream, name, sink, &options, &metrics).await }
        },
    )
    .await
}

async fn read_connection<S: AsyncRead + Unpin>(
    mut stream: S,
    name: Option<Arc<str>>,
    sink: FrameSink,
    options: &TcpOptions,
    metrics: &TransportMetrics,
) {
    // With TLS: the peer the certificate certifies; a certificate naming no peer (an
    // operator's, a client's) does not make a Raft peer.
    let certified = match name.as_deref() {
        None => None,
        Some(name) => match super::certified_peer(name) {
            Some(peer) => Some(peer),
            None => {
                event!(
                    debug,
                    certificate = name,
                    "closing a Raft connection: its certificate names no peer"
                );
                metrics.rejected_identity();
                return;
            }
        },
    };
    let decoder = FrameDecoder::new(options.max_frame_bytes);
    let mut buffer = BytesMut::with_capacity(64 * 1024);
    loop {
        buffer.reserve(16 * 1024);
        let read = tokio::time::timeout(options.idle_timeout, stream.read_buf(&mut buffer)).await;
        match read {
            Err(_) => {
                metrics.closed_idle();
                return;
            }
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => {}
        }
        loop {
            match decoder.decode(&mut buffer) {
                Ok(Some(frame)) => {
                    if let Some(certified) = &certified {
                        if !super::certifies(certified, &frame.from) {
                            // Debug: counted, and a hostile peer reconnects at will.
                            event!(
                                debug,
                                certificate = %certified,
                                from = %frame.from,
                                "closing a Raft connection: a frame from a peer its certificate does not name"
                            );
                            metrics.rejected_identity();
                            return;
                        }
                    }
                    metrics.received();
                    match sink.try_send(frame) {
                        Ok(()) => {}
                        Err(SinkError::Full) => metrics.dropped_inbound_full(),
                        // Nobody listens any more: close, so the peer reconnects elsewhere.
                        Err(SinkError::Closed) => return,
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    // Framing is lost: nothing after this point can be trusted.
                    // Debug: a hostile peer reconnects at will (counted in the
                    // transport's metrics).
                    event!(
                        debug,
                        error = %error,
                        "closing a Raft connection: malformed frame"
                    );
                    #[cfg(not(feature = "tracing"))]
                    let _ = error;
                    metrics.rejected_malformed();
                    return;
                }
            }
        }
    }
}
