//! Node mode: the test binary, re-executed by the parent with [`NODE_ENV`] set, runs one
//! Concord node exactly as a deployment wires it (as `examples/counter.rs` and `concord
//! demo` do): fjall storage with the runtime's group commit (one fsync per persistence
//! batch; fjall's own per-write sync off, as `StorageLogStore` documents), the TCP Raft
//! transport, and the client service serving the replicated KV store. It reports what it
//! does on stdout until the parent SIGKILLs it, and exits if the parent goes away (its
//! stdin closes), so an interrupted test leaves no node behind.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use concord::core::{Configuration, ConfigurationEntry, Endpoint, GroupId, PeerId};
use concord::kv::{kv_handler, KvCommand, KvResponse, KvStateMachine};
use concord::runtime::{
    CommittedEntry, LeaderChangeContext, LogStore, MemoryLogStore, NodeOptions, RaftServer,
    StateMachine, StateMachineError, StorageLogStore,
};
use concord::service::ServiceOptions;
use concord::storage::{FjallOptions, FjallStore};

use super::wire::{NodeEvent, NodeSample, NodeSpec, CHECKPOINT_STRIDE, NODE_ENV};

/// The group every node serves.
pub const GROUP: &str = "kill9";

/// How often a node reports its status.
const STATUS_INTERVAL: Duration = Duration::from_millis(100);

/// The spec if this process is a node.
pub fn spec_from_env() -> Option<NodeSpec> {
    let text = std::env::var(NODE_ENV).ok()?;
    match serde_json::from_str(&text) {
        Ok(spec) => Some(spec),
        Err(error) => {
            emit(&NodeEvent::Fatal {
                reason: format!("bad {NODE_ENV}: {error}"),
            });
            std::process::exit(2);
        }
    }
}

/// Writes one event line. A parent that stopped listening is a parent that is gone.
pub fn emit(event: &NodeEvent) {
    let line = serde_json::to_string(event).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(3);
    }
}

/// The Raft peer id of node `index`.
pub fn peer(spec_ports: &[u16], index: usize) -> PeerId {
    let endpoint = Endpoint::new("127.0.0.1", spec_ports[index])
        .unwrap_or_else(|_| unreachable!("127.0.0.1 is a valid host"));
    PeerId::new(endpoint, 0)
}

/// Runs the node until killed. Never returns.
pub fn run(spec: NodeSpec) -> ! {
    let started = Instant::now();
    // The parent holds our stdin open for as long as it wants us alive.
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(4);
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => fatal(format!("cannot start tokio: {error}")),
    };
    let reason = runtime.block_on(serve_node(&spec, started));
    fatal(reason)
}

fn fatal(reason: String) -> ! {
    emit(&NodeEvent::Fatal { reason });
    std::process::exit(1)
}

/// Starts the node and serves until the process dies; returns only on a startup error.
async fn serve_node(spec: &NodeSpec, started: Instant) -> String {
    let group = match GroupId::new(GROUP) {
        Ok(group) => group,
        Err(error) => return error.to_string(),
    };
    let store: Arc<dyn LogStore> = if spec.durable {
        match open_fjall(spec, &group) {
            Ok(store) => store,
            Err(reason) => return reason,
        }
    } else {
        Arc::new(MemoryLogStore::new())
    };
    let me = peer(&spec.raft_ports, spec.index);
    let server =
        match retry_bind(|| RaftServer::bind("127.0.0.1", me.endpoint().port(), tcp())).await {
            Ok(server) => server,
            Err(error) => return format!("raft port: {error}"),
        };
    let voters: Vec<PeerId> = (0..spec.raft_ports.len())
        .map(|i| peer(&spec.raft_ports, i))
        .collect();
    let mut options = NodeOptions::new(
        group,
        me,
        ConfigurationEntry::stable(Configuration::with_voters(voters)),
    );
    options.election_timeout = Duration::from_millis(spec.election_timeout_ms);
    options.max_election_delay = Duration::from_millis(spec.election_timeout_ms);
    // Every node gets its own jitter seed, drawn from the run's seed, so that a
    // schedule replays with the same election timeouts (the default seeds each node
    // from the operating system).
    options.jitter_seed = Some(spec.jitter_seed);
    options.check_invariants = true;
    let observed = ObservedKv::new(spec.keys.clone());
    let sample = observed.shared.clone();
    let node = match server.start_node(options, observed, store) {
        Ok(node) => node,
        Err(error) => return format!("cannot start the node: {error}"),
    };
    let client_port = spec.client_ports[spec.index];
    let listener = match retry_bind(|| async {
        tokio::net::TcpListener::bind(("127.0.0.1", client_port)).await
    })
    .await
    {
        Ok(listener) => listener,
        Err(error) => return format!("client port: {error}"),
    };
    let service = tokio::spawn(concord::service::serve(
        listener,
        kv_handler(node.clone()),
        ServiceOptions {
            request_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(1),
            ..ServiceOptions::default()
        },
    ));
    emit(&NodeEvent::Ready {
        startup_ms: started.elapsed().as_millis() as u64,
    });
    let mut tick = tokio::time::interval(STATUS_INTERVAL);
    loop {
        tick.tick().await;
        if service.is_finished() {
            return "the client service stopped".into();
        }
        let status = node.describe();
        let applied = lock(&sample).clone();
        emit(&NodeEvent::Status(NodeSample {
            role: status.role.to_string(),
            term: status.term.0,
            applied: status.applied_index.0,
            commit: status.commit_index.0,
            last_log: status.last_log_id.index.0,
            applied_client: applied.index,
            digest: applied.digest,
            values: applied.values,
            failure: status.failure.map(|failure| failure.to_string()),
        }));
    }
}

/// The production wiring: fjall with its own per-write sync off, and the runtime's
/// group commit syncing each persistence batch once.
fn open_fjall(spec: &NodeSpec, group: &GroupId) -> Result<Arc<dyn LogStore>, String> {
    let store = FjallStore::open(
        &spec.data_dir,
        FjallOptions {
            sync: false,
            ..FjallOptions::default()
        },
    )
    .map_err(|error| format!("cannot open {}: {error}", spec.data_dir.display()))?;
    let log = store
        .log_storage(group.clone())
        .map_err(|error| format!("cannot open the log: {error}"))?;
    Ok(Arc::new(StorageLogStore::new(
        log,
        store.meta_storage(group.clone()),
        true,
    )))
}

/// Binding right after a predecessor was killed can race the kernel's cleanup of its
/// sockets; a few retries make that a non-event, and a port that stays taken an error.
async fn retry_bind<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    mut bind: impl FnMut() -> F,
) -> Result<T, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match bind().await {
            Ok(bound) => return Ok(bound),
            Err(error) if Instant::now() >= deadline => return Err(error.to_string()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn tcp() -> concord::transport::TcpOptions {
    concord::transport::TcpOptions {
        connect_timeout: Duration::from_millis(500),
        backoff_max: Duration::from_millis(200),
        ..concord::transport::TcpOptions::default()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// FNV-1a, continued from `hash`.
fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// What the status task reads from the state machine.
#[derive(Clone, Debug, Default)]
struct AppliedSample {
    index: u64,
    digest: u64,
    values: Vec<Option<String>>,
}

/// The KV state machine, observed: a running digest of every applied client entry
/// (index, term, payload), checkpoints of it, the local values of the workload's keys,
/// and every leadership. A restarted node re-applies its log from the start, so its
/// digests are recomputed from scratch and must match its peers' at every checkpoint.
struct ObservedKv {
    inner: KvStateMachine,
    keys: Vec<String>,
    digest: u64,
    next_slot: u64,
    shared: Arc<Mutex<AppliedSample>>,
}

impl ObservedKv {
    fn new(keys: Vec<String>) -> ObservedKv {
        let values = vec![None; keys.len()];
        ObservedKv {
            inner: KvStateMachine::new(),
            keys,
            digest: FNV_OFFSET,
            next_slot: 0,
            shared: Arc::new(Mutex::new(AppliedSample {
                index: 0,
                digest: FNV_OFFSET,
                values,
            })),
        }
    }
}

impl concord::kv::KvRead for ObservedKv {
    fn get(&self, key: &str) -> Option<bytes::Bytes> {
        concord::kv::KvRead::get(&self.inner, key)
    }
}

impl StateMachine for ObservedKv {
    type Response = Result<KvResponse, String>;
    type Context = ();

    fn on_apply(
        &mut self,
        entry: &mut CommittedEntry<()>,
    ) -> Result<Self::Response, StateMachineError> {
        let response = self.inner.on_apply(entry)?;
        let command = match KvCommand::decode(&entry.data) {
            Ok(command) => command,
            // The service refuses undecodable commands before the log: a committed one
            // means the log is corrupt.
            Err(error) => {
                return Err(StateMachineError::new(format!(
                    "committed entry {} is not a KV command: {error}",
                    entry.log_id
                )))
            }
        };
        let index = entry.log_id.index.0;
        self.digest = fnv(self.digest, &index.to_le_bytes());
        self.digest = fnv(self.digest, &entry.log_id.term.0.to_le_bytes());
        self.digest = fnv(self.digest, &entry.data);
        if index / CHECKPOINT_STRIDE >= self.next_slot {
            let slot = index / CHECKPOINT_STRIDE;
            self.next_slot = slot + 1;
            emit(&NodeEvent::Checkpoint {
                slot,
                index,
                digest: self.digest,
            });
        }
        let mut sample = lock(&self.shared);
        sample.index = index;
        sample.digest = self.digest;
        if let Some(position) = self.keys.iter().position(|k| k == command.key()) {
            sample.values[position] = self
                .inner
                .local_get(command.key())
                .map(|v| String::from_utf8_lossy(v).into_owned());
        }
        Ok(response)
    }

    fn on_leader_start(&mut self, context: &LeaderChangeContext) {
        emit(&NodeEvent::Leader {
            term: context.term.0,
        });
    }
}
