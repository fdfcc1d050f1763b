//! A transport that hands frames over through channels inside one process: for tests and
//! benchmarks (the "function-call network"), with link cutting for fault tests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::metrics::{TransportMetrics, TransportMetricsSnapshot};
use super::{FrameSink, RaftFrame, SendError, SinkError, Transport};
use crate::core::Endpoint;

#[derive(Default)]
struct NetworkState {
    sinks: BTreeMap<Endpoint, FrameSink>,
    /// Directed links that drop everything: (from, to).
    cut: BTreeSet<(Endpoint, Endpoint)>,
}

/// The shared "wire" of in-process transports.
#[derive(Clone, Default)]
pub struct InProcessNetwork {
    state: Arc<Mutex<NetworkState>>,
    /// Bumped after every change of the state: a transport's cached routes are good
    /// while it is unchanged.
    generation: Arc<AtomicU64>,
}

impl InProcessNetwork {
    /// An empty network.
    pub fn new() -> Self {
        InProcessNetwork::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, NetworkState> {
        // The state stays consistent even if a holder panicked: every update is one insert/remove.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the state; the transports' cached routes are dropped.
    fn change(&self, change: impl FnOnce(&mut NetworkState)) {
        let mut state = self.state();
        change(&mut state);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Makes `endpoint` reachable; frames to it go to `sink`. Replaces an earlier sink
    /// (a restarted node).
    pub fn register(&self, endpoint: Endpoint, sink: FrameSink) {
        self.change(|state| {
            state.sinks.insert(endpoint, sink);
        });
    }

    /// Makes `endpoint` unreachable (a stopped node).
    pub fn unregister(&self, endpoint: &Endpoint) {
        self.change(|state| {
            state.sinks.remove(endpoint);
        });
    }

    /// A transport sending from `local`.
    pub fn transport(&self, local: Endpoint) -> InProcessTransport {
        InProcessTransport {
            network: self.clone(),
            local,
            metrics: Arc::new(TransportMetrics::default()),
            routes: Arc::default(),
        }
    }

    /// Drops frames in both directions between `a` and `b`.
    pub fn cut(&self, a: &Endpoint, b: &Endpoint) {
        self.change(|state| {
            state.cut.insert((a.clone(), b.clone()));
            state.cut.insert((b.clone(), a.clone()));
        });
    }

    /// Cuts `endpoint` off from every registered endpoint.
    pub fn isolate(&self, endpoint: &Endpoint) {
        let others: Vec<Endpoint> = self.state().sinks.keys().cloned().collect();
        for other in others.iter().filter(|o| *o != endpoint) {
            self.cut(endpoint, other);
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.change(|state| state.cut.clear());
    }
}

/// One node's sending side of an [`InProcessNetwork`].
#[derive(Clone)]
pub struct InProcessTransport {
    network: InProcessNetwork,
    local: Endpoint,
    metrics: Arc<TransportMetrics>,
    /// Where each destination's frames went last (`None`: cut or unregistered), as of a
    /// generation of the network: a send looks here, not into the shared state.
    routes: Arc<Mutex<Routes>>,
}

#[derive(Default)]
struct Routes {
    generation: u64,
    sinks: BTreeMap<Endpoint, Option<FrameSink>>,
}

impl Transport for InProcessTransport {
    fn send(&self, to: &Endpoint, frame: RaftFrame) -> Result<(), SendError> {
        let generation = self.network.generation.load(Ordering::Acquire);
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        if routes.generation != generation {
            routes.sinks.clear();
            routes.generation = generation;
        }
        if !routes.sinks.contains_key(to) {
            let state = self.network.state();
            let route = if state.cut.contains(&(self.local.clone(), to.clone())) {
                None
            } else {
                state.sinks.get(to).cloned()
            };
            drop(state);
            routes.sinks.insert(to.clone(), route);
        }
        let Some(Some(sink)) = routes.sinks.get(to) else {
            drop(routes);
            self.metrics.dropped_unreachable();
            return Err(SendError::Unreachable { to: to.clone() });
        };
        let sent = sink.try_send(frame);
        drop(routes);
        match sent {
            Ok(()) => {
                self.metrics.sent();
                Ok(())
            }
            Err(SinkError::Full) => {
                self.metrics.dropped_queue_full();
                Err(SendError::QueueFull { to: to.clone() })
            }
            Err(SinkError::Closed) => {
                self.metrics.dropped_unreachable();
                Err(SendError::Unreachable { to: to.clone() })
            }
        }
    }

    fn metrics(&self) -> TransportMetricsSnapshot {
        self.metrics.snapshot()
    }
}
