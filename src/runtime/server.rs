//! One endpoint, many groups (F09, F10, F35): a [`RaftServer`] owns a TCP listener and
//! a router that hands each inbound frame to the node of its group, and starts nodes
//! wired to both.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use super::clock::{Clock, MonotonicClock};
use super::error::StartError;
use super::node::Node;
use super::options::NodeOptions;
use super::state_machine::StateMachine;
use super::store::LogStore;
use crate::core::{Endpoint, GroupId, PeerId};
use crate::transport::{
    serve, Acceptor, Connector, FrameSink, RaftFrame, TcpOptions, TcpTransport, TokioConnector,
    Transport, TransportMetricsSnapshot,
};

/// Routes inbound frames to nodes by (group, destination peer).
#[derive(Clone, Default)]
pub struct Router {
    routes: Arc<Mutex<BTreeMap<(GroupId, PeerId), FrameSink>>>,
    unknown: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Router::default()
    }

    /// Frames for `(group, peer)` go to `sink` from now on.
    pub fn register(&self, group: GroupId, peer: PeerId, sink: FrameSink) {
        self.lock().insert((group, peer), sink);
    }

    /// Stops routing to `(group, peer)`.
    pub fn unregister(&self, group: &GroupId, peer: &PeerId) {
        self.lock().remove(&(group.clone(), peer.clone()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(GroupId, PeerId), FrameSink>> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Frames addressed to a group or node this router does not know (rejected, counted).
    pub fn frames_for_unknown_groups(&self) -> u64 {
        self.unknown.load(Ordering::Relaxed)
    }

    /// Frames dropped because the destination node's inbound queue was full.
    pub fn frames_dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Delivers one frame to its node.
    pub fn route(&self, frame: RaftFrame) {
        let sink = self
            .lock()
            .get(&(frame.group.clone(), frame.to.clone()))
            .cloned();
        match sink {
            None => {
                self.unknown.fetch_add(1, Ordering::Relaxed);
            }
            Some(sink) => {
                if sink.try_send(frame).is_err() {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// A sink whose frames are routed by a spawned dispatcher task.
    pub fn sink(&self, capacity: usize) -> FrameSink {
        let (sender, mut receiver) = mpsc::channel::<RaftFrame>(capacity);
        let router = self.clone();
        tokio::spawn(async move {
            while let Some(frame) = receiver.recv().await {
                router.route(frame);
            }
        });
        FrameSink::new(sender)
    }
}

/// A TCP endpoint hosting any number of Raft nodes of any groups.
pub struct RaftServer {
    endpoint: Endpoint,
    router: Router,
    transport: Arc<dyn Transport>,
    serve_task: tokio::task::JoinHandle<io::Result<()>>,
}

impl RaftServer {
    /// Binds `host:port` (port 0 picks a free port; see [`RaftServer::endpoint`]).
    /// Refuses wildcard addresses: peers must be able to reach the advertised endpoint.
    pub async fn bind(
        host: &str,
        port: u16,
        options: TcpOptions,
    ) -> Result<RaftServer, StartError> {
        let requested = Endpoint::new(host, port).map_err(|_| StartError::InvalidOption {
            name: "endpoint",
            reason: "not a valid host",
        })?;
        if requested.is_unspecified() {
            return Err(StartError::InvalidOption {
                name: "endpoint",
                reason: "a node cannot listen on 0.0.0.0 or ::: peers could not reach it",
            });
        }
        let listener = tokio::net::TcpListener::bind((host, port))
            .await
            .map_err(|e| StartError::Listen {
                endpoint: requested.to_string(),
                reason: e.to_string(),
            })?;
        let bound = listener.local_addr().map_err(|e| StartError::Listen {
            endpoint: requested.to_string(),
            reason: e.to_string(),
        })?;
        let endpoint =
            Endpoint::new(host, bound.port()).map_err(|_| StartError::InvalidOption {
                name: "endpoint",
                reason: "not a valid host",
            })?;
        Ok(Self::with_acceptor(
            endpoint,
            listener,
            TokioConnector,
            options,
        ))
    }

    /// Serves on an already bound acceptor with the given connector (simulations use
    /// turmoil's sockets through this).
    pub fn with_acceptor<A: Acceptor, C: Connector>(
        endpoint: Endpoint,
        acceptor: A,
        connector: C,
        options: TcpOptions,
    ) -> RaftServer {
        let router = Router::new();
        let tcp = TcpTransport::new(connector, options.clone());
        let metrics = tcp.metrics_handle();
        let transport: Arc<dyn Transport> = Arc::new(tcp);
        let sink = router.sink(options.queue_capacity);
        let serve_task = tokio::spawn(serve(acceptor, sink, options, metrics));
        RaftServer {
            endpoint,
            router,
            transport,
            serve_task,
        }
    }

    /// The endpoint peers reach this server at.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The router (for counters).
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Transport counters.
    pub fn transport_metrics(&self) -> TransportMetricsSnapshot {
        self.transport.metrics()
    }

    /// Starts a node of `options.group` on this server (`options.peer` must be on this
    /// server's endpoint) and routes its frames.
    pub fn start_node<S: StateMachine>(
        &self,
        options: NodeOptions,
        state_machine: S,
        store: Arc<dyn LogStore>,
    ) -> Result<Node<S>, StartError> {
        self.start_node_with_clock(
            options,
            state_machine,
            store,
            Arc::new(MonotonicClock::new()),
        )
    }

    /// As [`RaftServer::start_node`], with an injected clock (simulations: drift).
    pub fn start_node_with_clock<S: StateMachine>(
        &self,
        options: NodeOptions,
        state_machine: S,
        store: Arc<dyn LogStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Node<S>, StartError> {
        if options.peer.endpoint() != &self.endpoint {
            return Err(StartError::InvalidOption {
                name: "peer",
                reason: "the node's endpoint must be the server's endpoint",
            });
        }
        let (group, peer) = (options.group.clone(), options.peer.clone());
        let transport = self.transport.clone();
        let (node, sink) = Node::start_with_clock(options, state_machine, store, transport, clock)?;
        self.router.register(group, peer, sink);
        Ok(node)
    }

    /// Stops routing to a node (call after shutting it down).
    pub fn remove_node(&self, group: &GroupId, peer: &PeerId) {
        self.router.unregister(group, peer);
    }
}

impl Drop for RaftServer {
    fn drop(&mut self) {
        self.serve_task.abort();
    }
}
