//! One seed: a turmoil simulation of a Concord cluster under a nemesis, a client
//! workload recording its history, and the checks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use concord::core::{
    AdminError, Configuration, ConfigurationEntry, Endpoint, GroupId, LogIndex, MembershipChange,
    PeerId, Role, Term,
};
use concord::kv::{kv_handler, KvClientError, KvCommand, KvResponse, RemoteKvClient};
use concord::runtime::{
    AdminCallError, DriftingClock, LocalSnapshotStore, Node, NodeOptions, RaftServer,
    StorageLogStore,
};
use concord::service::{ClientOptions, ServiceOptions};
use concord::storage::{SimDisk, SimOptions};
use concord::transport::TcpOptions;
use concord_linearizability::{
    analyze, Analysis, CheckOptions, History, ModelKind, Value, Verdict,
};

use crate::check::{digest, lost_acked_writes};
use crate::faults::{Buggify, DurabilityCheck, WindowProbe, WrapFaults};
use crate::nemesis::{
    cut_between, depose_duration, disk_duration, draw, fault_duration, rest_duration,
    take_over_bound, window_outage, Fault, GroupView, Nemesis, NemesisSet, WindowTarget,
};
use crate::net::{TurmoilAcceptor, TurmoilConnector};
use crate::observe::{take_panics, trap_panics, Observations, ObservedKv};
use crate::rng::Rng;

const RAFT_PORT: u16 = 7000;
const CLIENT_PORT: u16 = 7001;
const GROUP: &str = "chaos";
/// Where a node's snapshot store lives on its simulated disk.
pub(crate) const SNAPSHOT_ROOT: &str = "/snapshots";

/// What one seed runs.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The seed: every random choice of the run derives from it.
    pub seed: u64,
    /// Cluster size (3 or 5).
    pub nodes: usize,
    /// Faults to inject (one at a time, kinds drawn from the set).
    pub nemeses: NemesisSet,
    /// Client operations in the workload phase, over all clients.
    pub ops: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Keys the workload touches.
    pub keys: usize,
    /// fsync every persistence batch (false reproduces JRAFT_GUIDE_NOTES F22's hazard).
    pub sync: bool,
    /// After healing, every key must be read successfully within this much simulated time.
    pub liveness_bound: Duration,
    /// The workload phase ends after this much simulated time even if operations remain.
    pub workload_limit: Duration,
    /// Timeout of the linearizability check (past it the verdict is `unknown`).
    pub check_timeout: Duration,
    /// The nodes' base election timeout (heartbeats every tenth of it). Short timeouts
    /// make elections, split votes and term changes frequent.
    pub election_timeout: Duration,
    /// The nodes' random extra election delay bound.
    pub max_election_delay: Duration,
    /// Buggify: disk latency between write and fsync, late completions, moved
    /// group-commit boundaries, lost, duplicated and delayed messages (`faults.rs`).
    pub buggify: bool,
    /// Buggify: per thousand messages, how many are held back 250–1500 ms, and as many
    /// again sent now and replayed that much later (at most 400).
    pub stale_per_mille: u64,
    /// Pre-vote on the nodes (the default, as in production). Off, every election moves
    /// the term at once, so messages of the term just left go stale far more often.
    pub pre_vote: bool,
    /// Test hook: wraps each node's fault injector (the teeth tests' broken executors).
    pub wrap_faults: Option<WrapFaults>,
    /// End the run as soon as a node acknowledged something before it was durable (the
    /// teeth tests: the seed has failed, the rest of the run would only cost time).
    pub stop_at_durability_violation: bool,
    /// Test-only, the operator error the `wipe` nemesis exists to forbid: a wiped node
    /// comes back under its old id (having forgotten its vote and its log) and nobody
    /// replaces it. The teeth test shows the checks catch what follows.
    pub wipe_keeps_id: bool,
    /// Each node snapshots after this many applied entries and compacts its log (0:
    /// never, the default). Small values make installs happen under the faults.
    pub snapshot_distance: u64,
    /// Entries kept below a snapshot (`CoreOptions::snapshot_retained_entries`). Small
    /// values make lagging followers need a snapshot instead of the log.
    pub snapshot_retained: u64,
    /// The nodes' `CoreOptions::max_entries_per_message` (default 1024). 1 makes every
    /// entry travel, and be acknowledged, alone: a new leader's entries of older terms
    /// are then acknowledged before its own term's first entry (Raft's Figure 8).
    pub max_entries_per_message: u64,
    /// Every node runs `ReadOnlyOption::LeaseBased`: the workload's reads are lease
    /// reads. The `skew` nemesis then changes clock rates only (its steps are left
    /// out: a clock that jumps voids any lease, docs/runtime.md), and the rates it sets
    /// last beyond its heal, through the faults that follow, until the next skew.
    pub lease_reads: bool,
    /// The nodes' `max_clock_drift_percent` (default 100: the `skew` nemesis runs
    /// clocks between half and double speed). 0 only in the teeth test, which must see
    /// a stale lease read.
    pub clock_drift_percent: u32,
    /// How far the simulated clocks really drift with lease reads (default 100: each
    /// host's clock runs at its own rate between half and double speed from the start;
    /// p: between 1/(1 + p/100) and 1 + p/100). Set it to `clock_drift_percent` to run
    /// within the nodes' bound (the `skew` nemesis still draws 0.5-2); below it only in
    /// a teeth test that must see the bound broken.
    pub clock_rates_percent: u32,
    /// How long a client waits for an answer before it gives up (outcome unknown) and
    /// tries the next node (default 1.5 s). Shorter, clients stuck on a cut-off leader
    /// move to the new one sooner: what a stale lease read needs to be seen.
    pub client_attempt_timeout: Duration,
}

impl RunConfig {
    /// Every host of the run: the `nodes` of the initial configuration, and two spares
    /// outside it when the `membership` nemesis may add them.
    pub fn hosts(&self) -> usize {
        if self.nemeses.0.contains(&Nemesis::Membership) {
            self.nodes + 2
        } else {
            self.nodes
        }
    }

    /// The defaults for `seed`: 3 nodes, every nemesis, 200 operations by 4 clients on 3
    /// keys, fsync on.
    pub fn new(seed: u64) -> RunConfig {
        RunConfig {
            seed,
            nodes: 3,
            nemeses: NemesisSet::all(),
            ops: 200,
            clients: 4,
            keys: 3,
            sync: true,
            liveness_bound: Duration::from_secs(30),
            workload_limit: Duration::from_secs(120),
            check_timeout: Duration::from_secs(60),
            election_timeout: Duration::from_millis(300),
            max_election_delay: Duration::from_millis(300),
            buggify: true,
            stale_per_mille: 5,
            pre_vote: true,
            wrap_faults: None,
            stop_at_durability_violation: false,
            wipe_keeps_id: false,
            snapshot_distance: 0,
            snapshot_retained: 1024,
            max_entries_per_message: 1024,
            lease_reads: false,
            clock_drift_percent: 100,
            clock_rates_percent: 100,
            client_attempt_timeout: Duration::from_millis(1500),
        }
    }
}

/// Everything one seed produced.
pub struct SeedReport {
    /// The configuration that ran.
    pub config: RunConfig,
    /// Operations in the history (workload and final reads).
    pub ops: usize,
    /// Operations that returned ok.
    pub ok: usize,
    /// Operations that certainly did not happen.
    pub failed: usize,
    /// Operations with unknown outcome.
    pub indeterminate: usize,
    /// The linearizability verdict.
    pub verdict: Verdict,
    /// Safety and liveness violations other than linearizability and lost writes.
    pub violations: Vec<String>,
    /// Acknowledged writes that the final reads show were lost.
    pub lost_acked_writes: Vec<String>,
    /// The faults injected, with their simulated times.
    pub faults: Vec<String>,
    /// Simulated time of the run.
    pub sim_seconds: f64,
    /// Wall-clock time of the run, checks included.
    pub wall_seconds: f64,
    /// The recorded history.
    pub history: History,
    /// The checker's analysis (for the HTML timeline).
    pub analysis: Option<Analysis>,
    /// A hash of the history: identical seeds give identical digests.
    pub digest: u64,
    /// Terms in which a leader was observed (elections that succeeded).
    pub leader_terms: usize,
    /// Snapshots the nodes saved.
    pub snapshots_saved: u64,
    /// Snapshots installed from a leader (see `Observations::snapshot_installs`).
    pub snapshot_installs: u64,
    /// The survivors of the run's reset of the peers (`reset` nemesis), if one was
    /// injected: the run is then judged by the fence (no old member leads again, the
    /// survivors lead a new epoch and agree), not by linearizability and lost writes,
    /// which a reset gives up.
    pub reset_survivors: Option<Vec<usize>>,
}

impl SeedReport {
    /// True when every check passed and the history was proven linearizable.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
            && (self.reset_survivors.is_some()
                || (self.lost_acked_writes.is_empty() && self.verdict == Verdict::Linearizable))
    }

    /// The verdict as text.
    pub fn verdict_name(&self) -> &'static str {
        if self.reset_survivors.is_some() {
            return "fenced reset";
        }
        match self.verdict {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable => "not linearizable",
            Verdict::Unknown => "unknown",
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the clients and the harness share.
struct Shared {
    history: Mutex<History>,
    /// Clients that finished their workload.
    workload_done: AtomicUsize,
    /// Set by the harness once every fault is healed.
    final_phase: AtomicBool,
    /// The value read per key in the final phase (inner `None`: absent); keys whose
    /// final read never succeeded are missing.
    final_values: Mutex<BTreeMap<String, Option<String>>>,
    violations: Mutex<Vec<String>>,
    /// Set by the `amnesia` nemesis for a while: client `i` only reads while bit `i` is
    /// set (a read-only spell, in which a leader serves lease reads and appends
    /// nothing; then readers and writers).
    reads_only: Arc<AtomicU64>,
}

/// One node's durable and injectable parts, which outlive its software.
#[derive(Clone)]
struct HostParts {
    index: usize,
    name: String,
    disk: SimDisk,
    clock: Arc<DriftingClock>,
    boots: Arc<AtomicU64>,
    /// The `idx` of the peer id the node runs under: 0, and one more after each wipe
    /// (a node that forgot its vote never comes back under its old id).
    identity: Arc<AtomicU32>,
    window: Arc<WindowProbe>,
    /// Acknowledgements that left a node before they were durable.
    durability_violations: Arc<Mutex<Vec<String>>>,
}

/// The peer id host `index` runs under with `identity` as its `idx` (0 until the first
/// wipe of its disk).
fn peer_at(index: usize, identity: u32) -> PeerId {
    let endpoint = Endpoint::new(&format!("n{}", index + 1), RAFT_PORT)
        .unwrap_or_else(|_| unreachable!("n<i> is a valid host name"));
    PeerId::new(endpoint, identity)
}

/// The peer id host `index` starts with.
fn peer_of(index: usize) -> PeerId {
    peer_at(index, 0)
}

fn client_endpoint(index: usize) -> Endpoint {
    Endpoint::new(&format!("n{}", index + 1), CLIENT_PORT)
        .unwrap_or_else(|_| unreachable!("n<i> is a valid host name"))
}

fn tcp_options() -> TcpOptions {
    TcpOptions {
        queue_capacity: 1024,
        connect_timeout: Duration::from_millis(500),
        write_timeout: Duration::from_millis(500),
        // turmoil's TCP never retransmits: a dropped segment stalls a stream for good,
        // so an inbound connection silent for this long is closed and rebuilt.
        idle_timeout: Duration::from_secs(1),
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(400),
        ..TcpOptions::default()
    }
}

fn service_options() -> ServiceOptions {
    ServiceOptions {
        request_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(30),
        write_timeout: Duration::from_millis(500),
        ..ServiceOptions::default()
    }
}

fn client_options(config: &RunConfig) -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_millis(300),
        attempt_timeout: config.client_attempt_timeout,
        redirect_budget: Duration::from_secs(3),
        retry_pause: Duration::from_millis(50),
        ..ClientOptions::default()
    }
}

async fn host_main(
    parts: HostParts,
    config: RunConfig,
    registry: Arc<Mutex<Vec<Option<Node<ObservedKv>>>>>,
    observations: Arc<Observations>,
) -> turmoil::Result {
    let boot = parts.boots.fetch_add(1, Ordering::Relaxed);
    let identity = parts.identity.load(Ordering::Relaxed);
    let peer = peer_at(parts.index, identity);
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", RAFT_PORT)).await?;
    let server = RaftServer::with_acceptor(
        peer.endpoint().clone(),
        TurmoilAcceptor(listener),
        TurmoilConnector,
        tcp_options(),
    );
    let group = GroupId::new(GROUP)?;
    // The store's own per-write sync is off; the runtime's group commit syncs once
    // per batch when `config.sync` is on.
    let log = parts
        .disk
        .log_storage(group.clone(), SimOptions { sync: false })?;
    let meta = parts
        .disk
        .meta_storage(group.clone(), SimOptions { sync: false });
    let store = Arc::new(StorageLogStore::new(log, meta, config.sync));
    // Spare hosts (beyond `config.nodes`) start outside the group, waiting to be added;
    // so does a wiped node under its new id.
    let voters: Vec<PeerId> = if parts.index < config.nodes && identity == 0 {
        (0..config.nodes).map(peer_of).collect()
    } else {
        Vec::new()
    };
    let mut options = NodeOptions::new(
        group,
        peer,
        ConfigurationEntry::stable(Configuration::with_voters(voters)),
    );
    options.election_timeout = config.election_timeout;
    options.max_election_delay = config.max_election_delay;
    options.heartbeat_factor = 10;
    options.check_invariants = true;
    options.core.pre_vote = config.pre_vote;
    if config.lease_reads {
        options.read_only_option = concord::runtime::ReadOnlyOption::LeaseBased;
    }
    options.max_clock_drift_percent = config.clock_drift_percent;
    // Snapshots live on the node's simulated disk too: a power loss keeps only what
    // the store's commit protocol fsynced.
    options.snapshot_store = Some(Arc::new(LocalSnapshotStore::open_on(
        Arc::new(parts.disk.snapshot_fs()),
        SNAPSHOT_ROOT,
        options.group.clone(),
    )?));
    options.snapshot_interval = Duration::ZERO;
    options.core.snapshot_log_distance = config.snapshot_distance;
    options.core.snapshot_retained_entries = config.snapshot_retained;
    options.core.max_entries_per_message = config.max_entries_per_message.max(1);
    let incarnation = config
        .seed
        .wrapping_mul(0x9E37_79B9)
        .wrapping_add((parts.index as u64) << 32)
        .wrapping_add(boot);
    options.jitter_seed = Some(incarnation);
    let durability = DurabilityCheck {
        disk: parts.disk.clone(),
        group: options.group.clone(),
        violations: parts.durability_violations.clone(),
    };
    // Without fsync nothing is ever durable: the check only makes sense with it on.
    let durability = config.sync.then_some(durability);
    let faults: Arc<dyn concord::runtime::FaultInjector> = Arc::new(
        Buggify::new(
            options.peer.clone(),
            incarnation ^ 0xB0661F7,
            config.buggify,
            parts.window.clone(),
            durability,
            observations.clone(),
        )
        .with_stale_per_mille(config.stale_per_mille),
    );
    options.faults = Some(match config.wrap_faults {
        Some(wrap) => wrap(faults),
        None => faults,
    });
    let node = server.start_node_with_clock(
        options,
        ObservedKv::new(parts.index, observations),
        store,
        parts.clock.clone(),
    )?;
    lock(&registry)[parts.index] = Some(node.clone());
    let client_listener = turmoil::net::TcpListener::bind(("0.0.0.0", CLIENT_PORT)).await?;
    concord::service::serve(
        TurmoilAcceptor(client_listener),
        kv_handler(node),
        service_options(),
    )
    .await?;
    drop(server);
    Ok(())
}

/// The value a history records for a KV string.
fn text(bytes: Option<Bytes>) -> Option<String> {
    bytes.map(|b| String::from_utf8_lossy(&b).into_owned())
}

struct ClientRun {
    id: usize,
    config: RunConfig,
    shared: Arc<Shared>,
}

impl ClientRun {
    /// Runs one operation and records it. Returns whether it returned ok, and the value
    /// read if it was an ok read.
    async fn operation(
        &self,
        kv: &mut RemoteKvClient<TurmoilConnector>,
        process: &mut u64,
        key: &str,
        command: KvCommand,
    ) -> Result<(bool, Option<Option<String>>), String> {
        let (function, argument) = match &command {
            KvCommand::Get { .. } => ("get", Value::Nil),
            KvCommand::Put { value, .. } => (
                "put",
                Value::Str(text(Some(value.clone())).unwrap_or_default()),
            ),
            KvCommand::Cas { expected, new, .. } => (
                "cas",
                Value::List(vec![
                    Value::Str(text(expected.clone()).unwrap_or_default()),
                    Value::Str(text(Some(new.clone())).unwrap_or_default()),
                ]),
            ),
        };
        let op = lock(&self.shared.history)
            .invoke_keyed(*process, Some(key), function, argument)
            .map_err(|e| e.to_string())?;
        let mut outcome = kv.execute(&command).await;
        // A reply must answer the command it was sent for.
        if let Ok(response) = &outcome {
            let fits = match (&command, response) {
                (KvCommand::Get { .. }, KvResponse::Value(_)) => true,
                (KvCommand::Put { .. }, KvResponse::Written) => true,
                (KvCommand::Cas { expected, .. }, KvResponse::Swapped { swapped, previous }) => {
                    *swapped == (previous == expected)
                }
                _ => false,
            };
            if !fits {
                lock(&self.shared.violations)
                    .push(format!("reply {response:?} does not answer {command:?}"));
                outcome = Err(KvClientError::Unknown {
                    reason: "mismatched reply".into(),
                });
            }
        }
        let mut history = lock(&self.shared.history);
        let mut read = None;
        let ok = outcome.is_ok();
        let recorded = match outcome {
            Ok(KvResponse::Written) => history.ok(op, Value::Nil),
            Ok(KvResponse::Value(value)) => {
                let value = text(value);
                read = Some(value.clone());
                history.ok(op, value.map_or(Value::Nil, Value::Str))
            }
            Ok(KvResponse::Swapped { swapped, .. }) => history.ok(op, Value::Bool(swapped)),
            Err(KvClientError::NotApplied { .. }) | Err(KvClientError::Rejected { .. }) => {
                history.fail(op)
            }
            Err(_) => {
                // Outcome unknown: this process may never issue another operation.
                *process += self.config.clients as u64;
                history.info(op)
            }
        };
        recorded.map_err(|e| e.to_string())?;
        Ok((ok, read))
    }

    async fn run(self) -> turmoil::Result {
        let members: Vec<(PeerId, Endpoint)> = (0..self.config.hosts())
            .map(|i| (peer_of(i), client_endpoint(i)))
            .collect();
        let mut kv = RemoteKvClient::new(TurmoilConnector, members, client_options(&self.config));
        let mut rng = Rng::new(self.config.seed ^ ((self.id as u64 + 1) << 40));
        let mut process = self.id as u64;
        let keys: Vec<String> = (0..self.config.keys).map(|k| format!("k{k}")).collect();
        let mut last_seen: Vec<Option<String>> = vec![None; keys.len()];
        let share = self.config.ops / self.config.clients
            + usize::from(self.id < self.config.ops % self.config.clients);
        let started = tokio::time::Instant::now();
        for n in 0..share {
            if started.elapsed() > self.config.workload_limit {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10 + rng.below(140))).await;
            let k = rng.below(keys.len() as u64) as usize;
            let key = &keys[k];
            let fresh = Bytes::from(format!("c{}-{}", self.id, n));
            let roll = rng.below(10);
            // (The roll is drawn either way: a read-only spell leaves later draws alone.)
            let reader = self.shared.reads_only.load(Ordering::SeqCst) >> (self.id % 64) & 1 == 1;
            let roll = if reader { 0 } else { roll };
            let command = if roll < 4 {
                KvCommand::Get { key: key.clone() }
            } else if roll < 8 {
                KvCommand::Put {
                    key: key.clone(),
                    value: fresh,
                }
            } else {
                KvCommand::Cas {
                    key: key.clone(),
                    expected: last_seen[k].clone().map(Bytes::from),
                    new: fresh,
                }
            };
            if let (_, Some(value)) = self.operation(&mut kv, &mut process, key, command).await? {
                last_seen[k] = value;
            }
        }
        self.shared.workload_done.fetch_add(1, Ordering::SeqCst);
        if self.id != 0 {
            return Ok(());
        }
        // Client 0 does the final reads once everything is healed.
        while !self.shared.final_phase.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let healed = tokio::time::Instant::now();
        for key in &keys {
            let mut value = None;
            while healed.elapsed() < self.config.liveness_bound {
                let command = KvCommand::Get { key: key.clone() };
                if let (_, Some(read)) = self.operation(&mut kv, &mut process, key, command).await?
                {
                    value = Some(read);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if value.is_none() {
                lock(&self.shared.violations).push(format!(
                    "liveness: no read of {key} succeeded within {:?} of healing",
                    self.config.liveness_bound
                ));
            }
            if let Some(read) = value {
                lock(&self.shared.final_values).insert(key.clone(), read);
            }
        }
        // And a write must commit: a put on a key of its own (so the final values
        // above stay the last word on the workload's keys).
        let key = "after-heal";
        let mut written = false;
        while !written && healed.elapsed() < self.config.liveness_bound {
            let command = KvCommand::Put {
                key: key.into(),
                value: Bytes::from_static(b"done"),
            };
            written = self.operation(&mut kv, &mut process, key, command).await?.0;
            if !written {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        if !written {
            lock(&self.shared.violations).push(format!(
                "liveness: no write committed within {:?} of healing",
                self.config.liveness_bound
            ));
        }
        Ok(())
    }
}

/// What the nemesis asks the leader for, through the operator.
enum AdminRequest {
    Change(MembershipChange<PeerId>),
    Transfer(PeerId),
    /// Reset each of these nodes (indexes) to them all (their peer ids), asking each
    /// one itself.
    Reset(Vec<usize>, Vec<PeerId>),
    /// Put `new` in place of `old` among the voters (a wiped node back under a new id).
    Replace {
        /// The wiped id.
        old: PeerId,
        /// The id the node came back with.
        new: PeerId,
    },
}

/// The operator's inbox (filled by the nemesis) and its log (read into the fault log).
#[derive(Default)]
struct Operator {
    requests: Mutex<std::collections::VecDeque<AdminRequest>>,
    notes: Mutex<Vec<String>>,
    /// Replacements of wiped ids asked for and not finished: until they are, the
    /// configuration may still hold a wiped id (in the old half of a joint change, which
    /// `NodeStatus::voters` does not show), so another wipe must wait.
    replacing: AtomicUsize,
}

/// A simulated operator: asks whichever node leads for the nemesis' requests, as an
/// administrator would (retrying on a new leader for a while), and logs the outcome.
struct OperatorRun {
    operator: Arc<Operator>,
    registry: Arc<Mutex<Vec<Option<Node<ObservedKv>>>>>,
    shared: Arc<Shared>,
    clients: usize,
}

impl OperatorRun {
    fn leader(&self) -> Option<Node<ObservedKv>> {
        lock(&self.registry)
            .iter()
            .flatten()
            .filter(|n| n.describe().role == Role::Leader)
            .max_by_key(|n| n.describe().term)
            .cloned()
    }

    async fn run(self) -> turmoil::Result {
        while self.shared.workload_done.load(Ordering::SeqCst) < self.clients {
            let request = lock(&self.operator.requests).pop_front();
            let Some(request) = request else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            if let AdminRequest::Reset(survivors, voters) = &request {
                let outcome = self.reset(survivors, voters).await;
                let now = turmoil::sim_elapsed().unwrap_or_default();
                lock(&self.operator.notes)
                    .push(format!("{:>8.3}s operator: {outcome}", now.as_secs_f64()));
                continue;
            }
            let mut outcome = String::from("no leader");
            // A replacement is retried until it is done or the workload ends (a wiped id
            // left among the voters costs the group a member for good); the others a
            // few times.
            let replace = matches!(request, AdminRequest::Replace { .. });
            for attempt in 0.. {
                if (!replace && attempt == 5)
                    || self.shared.workload_done.load(Ordering::SeqCst) >= self.clients
                {
                    break;
                }
                let Some(leader) = self.leader() else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                let asked = leader.describe().peer;
                let result = match &request {
                    AdminRequest::Replace { old, new } => {
                        let voters: Vec<PeerId> = leader
                            .describe()
                            .voters
                            .iter()
                            .filter_map(|v| v.parse::<PeerId>().ok())
                            .collect();
                        if !voters.contains(old) {
                            outcome = format!("{asked}: {old} is no longer a voter");
                            break;
                        }
                        let voters = voters
                            .into_iter()
                            .map(|v| if v == *old { new.clone() } else { v })
                            .collect();
                        tokio::time::timeout(
                            Duration::from_secs(5),
                            leader.change_membership(MembershipChange::ChangeVoters(voters)),
                        )
                        .await
                        .map(|r| r.map(|c| format!("{new} in place of {old}: now {c}")))
                    }
                    AdminRequest::Change(change) => tokio::time::timeout(
                        Duration::from_secs(5),
                        leader.change_membership(change.clone()),
                    )
                    .await
                    .map(|r| r.map(|c| format!("now {c}"))),
                    AdminRequest::Transfer(to) => tokio::time::timeout(
                        Duration::from_secs(5),
                        leader.transfer_leadership_to(Some(to.clone())),
                    )
                    .await
                    .map(|r| r.map(|to| format!("handed to {to}"))),
                    AdminRequest::Reset(..) => unreachable!("handled above"),
                };
                let retry = matches!(
                    &result,
                    Ok(Err(AdminCallError::Refused(
                        AdminError::NotLeader { .. } | AdminError::NotReady
                    )))
                ) || (matches!(request, AdminRequest::Replace { .. })
                    && !matches!(result, Ok(Ok(_))));
                outcome = match result {
                    Ok(Ok(done)) => format!("{asked}: {done}"),
                    Ok(Err(error)) => format!("{asked}: {error}"),
                    Err(_) => format!("{asked}: no answer within 5 s"),
                };
                if !retry {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let now = turmoil::sim_elapsed().unwrap_or_default();
            lock(&self.operator.notes)
                .push(format!("{:>8.3}s operator: {outcome}", now.as_secs_f64()));
            if replace {
                self.operator.replacing.fetch_sub(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}

impl OperatorRun {
    /// Resets every survivor (asking each one itself, as `reset_peers` is not
    /// redirected), retrying while one is down or still writing an earlier reset.
    async fn reset(&self, survivors: &[usize], voters: &[PeerId]) -> String {
        let voters = voters.to_vec();
        let mut outcomes = Vec::new();
        for &index in survivors {
            let mut outcome = String::from("down");
            for _ in 0..10 {
                let node = lock(&self.registry)[index].clone();
                let Some(node) = node else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                let result =
                    tokio::time::timeout(Duration::from_secs(5), node.reset_peers(voters.clone()))
                        .await;
                let done = matches!(result, Ok(Ok(_)));
                outcome = match result {
                    Ok(Ok(configuration)) => format!("reset to {configuration}"),
                    Ok(Err(error)) => format!("{error}"),
                    Err(_) => "no answer within 5 s".to_string(),
                };
                if done {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            outcomes.push(format!("n{}: {outcome}", index + 1));
        }
        outcomes.join("; ")
    }
}

/// The harness's view of the cluster, for the nemesis and the observers.
struct Cluster {
    hosts: Vec<HostParts>,
    registry: Arc<Mutex<Vec<Option<Node<ObservedKv>>>>>,
    clients: Vec<String>,
    /// Node failures already reported (per boot).
    reported: Vec<u64>,
    /// The armed `disk` fault, if any.
    disk: Option<DiskWatch>,
    /// The cut-off leader's term when a `lag` or `rolling` fault began.
    fault_term: u64,
    /// A base election timeout plus the largest random delay: one election round.
    election_round: Duration,
    /// What the observers saw happen, for the fault log.
    notes: Vec<String>,
    /// Requests for the operator (membership changes, transfers).
    operator: Arc<Operator>,
    /// The survivors of the run's reset of the peers, once it was injected.
    reset: Option<Vec<usize>>,
    /// See [`RunConfig::wipe_keeps_id`].
    wipe_keeps_id: bool,
    /// See [`RunConfig::lease_reads`]: clock steps are left out.
    lease_reads: bool,
    /// See `Shared::reads_only`.
    reads_only: Arc<AtomicU64>,
    /// What the nodes' cores were seen in (their configurations, for the `disk` check).
    observations: Arc<Observations>,
    /// The election round the `disk` check's take-over deadline counts in
    /// ([`take_over_round`]).
    take_over_round: Duration,
}

/// The election round the `disk` check allows for: a timeout plus the largest random
/// delay — or, when buggify holds back a tenth or more of the vote traffic for up to
/// 1.5 s (`stale_per_mille` ≥ 10: votes go stale ten times as often), that hold, since
/// elections then split until the held votes are through (the churn profile, 50‰: seed
/// 140 of `stale_votes_under_election_churn` ran 7 s of split votes among three healthy
/// voters after a disk failure, with 100 + 50 ms timeouts). Only the check's deadline
/// uses it: the fault's own duration, and so every seed's schedule, is unchanged.
fn take_over_round(config: &RunConfig) -> Duration {
    let round = config.election_timeout + config.max_election_delay;
    if config.buggify && config.stale_per_mille >= 10 {
        round.max(Duration::from_millis(1_500))
    } else {
        round
    }
}

/// What the run expects of a node whose disk the nemesis failed: its failure is no
/// violation, it steps aside at once, and the others elect a leader and commit.
struct DiskWatch {
    node: usize,
    /// The boot the fault was armed in (a restart disarms it).
    boot: u64,
    /// When the node was first seen failed, with its term and commit index then.
    failed: Option<(Duration, Term, LogIndex)>,
    /// Whether the failed node was reported still leading.
    reported_leading: bool,
    /// The node's role when last seen healthy.
    role_before: Role,
    /// Whether another node led (in a later term, if the failed node led) and committed
    /// past the failed node.
    carried_on: bool,
}

/// How long a failed node may still be seen leading: it steps aside in the same
/// event-loop turn, so this only covers the observer's sampling.
const STEP_ASIDE_GRACE: Duration = Duration::from_millis(100);

impl Cluster {
    fn name(&self, index: usize) -> &str {
        &self.hosts[index].name
    }

    /// Why the nodes other than `failed` that run now cannot form a quorum of the
    /// configuration of the most up-to-date of them (the one a take-over would start
    /// from), both halves of a joint one; `None` if they can.
    fn no_quorum_without(&self, failed: usize) -> Option<String> {
        let live: BTreeSet<PeerId> = {
            let registry = lock(&self.registry);
            (0..self.hosts.len())
                .filter(|&i| i != failed && registry.get(i).is_some_and(Option::is_some))
                .map(|i| self.peer(i))
                .collect()
        };
        let configurations = lock(&self.observations.configurations);
        let (_, configuration) = live
            .iter()
            .filter_map(|peer| configurations.get(peer))
            .max_by_key(|(last, _)| *last)?;
        let halves = std::iter::once(&configuration.current).chain(configuration.old.as_ref());
        for half in halves {
            let voters = half.voters();
            let usable = voters.iter().filter(|v| live.contains(*v)).count();
            if usable < voters.len() / 2 + 1 {
                let names: Vec<String> = voters.iter().map(ToString::to_string).collect();
                return Some(format!(
                    "{usable} of the voters {{{}}} run without it",
                    names.join(",")
                ));
            }
        }
        None
    }

    /// The peer id host `index` runs under now.
    fn peer(&self, index: usize) -> PeerId {
        peer_at(index, self.hosts[index].identity.load(Ordering::Relaxed))
    }

    fn leader(&self) -> Option<usize> {
        let registry = lock(&self.registry);
        registry
            .iter()
            .enumerate()
            .filter_map(|(i, node)| node.as_ref().map(|n| (i, n.describe())))
            .filter(|(_, status)| status.role == Role::Leader)
            .max_by_key(|(_, status)| status.term)
            .map(|(i, _)| i)
    }

    /// Samples every live node: a node in its error state (a core invariant broke, or
    /// storage failed) is a violation. (Leaders are recorded exactly, by the state
    /// machine: see `observe.rs`.)
    fn observe(&mut self, violations: &mut Vec<String>, now: Duration) {
        let statuses: Vec<(usize, concord::runtime::NodeStatus)> = lock(&self.registry)
            .iter()
            .enumerate()
            .filter_map(|(i, node)| node.as_ref().map(|n| (i, n.describe())))
            .collect();
        if let Some(watch) = &mut self.disk {
            watch.observe(
                &statuses,
                self.hosts[watch.node].boots.load(Ordering::Relaxed),
                now,
                violations,
                &mut self.notes,
            );
        }
        for (i, status) in statuses {
            let boot = self.hosts[i].boots.load(Ordering::Relaxed);
            let expected = self
                .disk
                .as_ref()
                .is_some_and(|watch| watch.node == i && watch.boot == boot);
            if let Some(failure) = &status.failure {
                if !expected && self.reported[i] != boot {
                    self.reported[i] = boot;
                    violations.push(format!(
                        "at {:.3}s n{} failed: {failure}",
                        now.as_secs_f64(),
                        i + 1
                    ));
                }
            }
        }
    }

    /// Stops a node's software. The host is cut off first, so it vanishes silently:
    /// peers get no FIN or RST and find out by their timeouts. This is what a power
    /// loss looks like, and it keeps runs deterministic: tokio drops a runtime's tasks
    /// in an order that depends on process-global task ids, and turmoil would send (and
    /// draw random latencies for) the dropped sockets' FINs in that order.
    fn stop(&mut self, sim: &mut turmoil::Sim<'_>, index: usize) {
        lock(&self.registry)[index] = None;
        self.hosts[index].window.reset();
        let name = self.name(index).to_string();
        if sim.is_host_running(name.as_str()) {
            for other in self.others(index) {
                sim.partition(name.as_str(), other.as_str());
            }
            sim.crash(name.as_str());
        }
    }

    /// Restarts a stopped node's software and reconnects its host.
    fn start(&mut self, sim: &mut turmoil::Sim<'_>, index: usize) {
        let name = self.name(index).to_string();
        if !sim.is_host_running(name.as_str()) {
            for other in self.others(index) {
                sim.repair(name.as_str(), other.as_str());
            }
            sim.bounce(name.as_str());
        }
    }

    fn apply(&mut self, sim: &mut turmoil::Sim<'_>, fault: &Fault, rng: &mut Rng) {
        let now = sim.elapsed();
        match fault {
            Fault::Partition { cuts, .. } | Fault::Depose { cuts, .. } => {
                for &(a, b) in cuts {
                    sim.partition(self.name(a), self.name(b));
                }
                if let (Fault::Depose { old, .. }, true) = (fault, self.lease_reads) {
                    // The lease's worst case: the deposed leader's clock at half speed,
                    // the others' at double (what a 100 % drift bound must cover).
                    for (index, host) in self.hosts.iter().enumerate() {
                        let rate = if index == *old { 0.5 } else { 2.0 };
                        host.clock.adjust_at(now, Some(rate), 0);
                    }
                    self.notes.push(format!(
                        "{:>8.3}s clocks: n{} at half speed, the others at double",
                        now.as_secs_f64(),
                        old + 1
                    ));
                }
            }
            Fault::Kill { nodes } => {
                for &n in nodes {
                    self.stop(sim, n);
                }
            }
            Fault::Crash { nodes } => {
                for &n in nodes {
                    self.stop(sim, n);
                    // Power loss: unsynced writes go, the last may be torn.
                    let _ = self.hosts[n].disk.crash(rng.next_u64());
                }
            }
            Fault::Pause { node } => {
                let others = self.others(*node);
                for other in others {
                    sim.hold(self.name(*node), other.as_str());
                }
            }
            Fault::Rolling { cuts, .. } => {
                for &(a, b) in cuts {
                    sim.partition(self.name(a), self.name(b));
                }
                self.fault_term = self.highest_term();
            }
            Fault::Amnesia { .. } => {
                // The clients only read until the voters restart: the leader appends
                // nothing meanwhile (so the candidate's log stays as up to date as
                // theirs, else the log rule, not the restart rule, refuses its votes),
                // and the reads renew its lease. The candidate is cut off once the
                // writes in flight are done (`Amnesia`'s own steps).
                self.reads_only.store(u64::MAX, Ordering::SeqCst);
            }
            Fault::Lag {
                old,
                follower,
                cuts,
                ..
            } => {
                for &(a, b) in cuts {
                    sim.partition(self.name(a), self.name(b));
                }
                sim.hold(self.name(*old), self.name(*follower));
                self.fault_term = self.highest_term();
            }
            // Armed: `window_victims` decides when and whom. A vote's window needs an
            // election while the fault is armed, and a healthy group holds none: the
            // leader is asked to hand over to the first other live node, whose
            // campaign makes the others grant votes (and write them).
            Fault::Window {
                target: WindowTarget::Voter,
            } => {
                if let Some(leader) = self.leader() {
                    let live = {
                        let registry = lock(&self.registry);
                        (0..self.hosts.len()).find(|&i| i != leader && registry[i].is_some())
                    };
                    if let Some(to) = live {
                        lock(&self.operator.requests)
                            .push_back(AdminRequest::Transfer(self.peer(to)));
                    }
                }
            }
            Fault::Window { .. } => {}
            Fault::Disk { node } => {
                self.hosts[*node].disk.fail_next_sync();
                self.disk = Some(DiskWatch {
                    node: *node,
                    boot: self.hosts[*node].boots.load(Ordering::Relaxed),
                    failed: None,
                    reported_leading: false,
                    role_before: lock(&self.registry)[*node]
                        .as_ref()
                        .map_or(Role::Follower, |n| n.describe().role),
                    carried_on: false,
                });
            }
            Fault::Membership { change } => {
                lock(&self.operator.requests).push_back(AdminRequest::Change(change.clone()));
            }
            Fault::Transfer { to, cuts } => {
                for &(a, b) in cuts {
                    sim.partition(self.name(a), self.name(b));
                }
                lock(&self.operator.requests).push_back(AdminRequest::Transfer(self.peer(*to)));
            }
            Fault::Reset { survivors, cuts } => {
                for &(a, b) in cuts {
                    sim.partition(self.name(a), self.name(b));
                }
                let voters = survivors.iter().map(|&i| self.peer(i)).collect();
                lock(&self.operator.requests)
                    .push_back(AdminRequest::Reset(survivors.clone(), voters));
                self.reset = Some(survivors.clone());
            }
            Fault::Wipe { node, new, .. } => {
                self.stop(sim, *node);
                // A new, empty disk: log, term, vote and snapshots gone. The node comes
                // back at heal under its new id.
                self.hosts[*node].disk.wipe();
                if !self.wipe_keeps_id {
                    self.hosts[*node]
                        .identity
                        .store(new.idx(), Ordering::Relaxed);
                }
            }
            Fault::Skew { rates, steps_ms } => {
                for ((host, rate), step) in self.hosts.iter().zip(rates).zip(steps_ms) {
                    let step = if self.lease_reads { 0 } else { *step };
                    host.clock
                        .adjust_at(now, Some(*rate), step.saturating_mul(1_000_000));
                }
            }
        }
    }

    /// Drops the handovers the operator has not taken up yet (those a vote window's
    /// fault asked for: one fault at a time, so no other fault's are queued).
    fn drop_queued_transfers(&self) {
        lock(&self.operator.requests)
            .retain(|request| !matches!(request, AdminRequest::Transfer(_)));
    }

    /// For an armed `window` fault: the nodes to cut the power of now, if a window of
    /// the wanted kind is open.
    fn window_victims(&self, target: WindowTarget, now: Duration) -> Option<Vec<usize>> {
        let open = |age_ms: u64, wanted_vote: bool| {
            self.hosts
                .iter()
                .find(|host| {
                    let window = host.window.get();
                    window.open
                        && (!wanted_vote || window.vote)
                        && now.saturating_sub(window.since) >= Duration::from_millis(age_ms)
                })
                .map(|host| host.index)
        };
        match target {
            WindowTarget::Node { age_ms } => open(age_ms, false).map(|n| vec![n]),
            WindowTarget::Voter => open(0, true).map(|n| vec![n]),
            WindowTarget::All { age_ms } => {
                open(age_ms, false).map(|_| (0..self.hosts.len()).collect())
            }
        }
    }

    /// The configuration the leader (or, without one, the first live node) reports.
    fn group_view(&self) -> GroupView {
        let leader = self.leader();
        let status = {
            let registry = lock(&self.registry);
            leader
                .and_then(|l| registry[l].as_ref())
                .or_else(|| registry.iter().flatten().next())
                .map(|n| n.describe())
        };
        let peers: Vec<PeerId> = (0..self.hosts.len()).map(|i| self.peer(i)).collect();
        let index_of = |texts: &[String]| -> Vec<usize> {
            texts
                .iter()
                .filter_map(|t| peers.iter().position(|p| p.to_string() == *t))
                .collect()
        };
        let voters = status
            .as_ref()
            .map_or_else(Vec::new, |s| index_of(&s.voters));
        GroupView {
            hosts: self.hosts.len(),
            strangers: status
                .as_ref()
                .map_or(0, |s| s.voters.len().saturating_sub(voters.len()))
                .max(self.operator.replacing.load(Ordering::SeqCst)),
            voters,
            learners: status
                .as_ref()
                .map_or_else(Vec::new, |s| index_of(&s.learners)),
            peers,
        }
    }

    /// The status host `index` publishes, if it runs.
    fn status(&self, index: usize) -> Option<concord::runtime::NodeStatus> {
        lock(&self.registry)[index].as_ref().map(|n| n.describe())
    }

    /// Every running node's role, term, last log id and commit index, for the fault log.
    fn describe_nodes(&self) -> String {
        (0..self.hosts.len())
            .filter_map(|i| {
                self.status(i).map(|s| {
                    format!(
                        "n{} {:?} t{} last {} commit {}",
                        i + 1,
                        s.role,
                        s.term.0,
                        s.last_log_id,
                        s.commit_index.0
                    )
                })
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// For a `lag` fault: whether `follower` follows a leader of a term later than the
    /// lagging leader's when the fault began.
    fn follows_a_new_leader(&self, follower: usize) -> bool {
        self.status(follower).is_some_and(|s| {
            s.term.0 > self.fault_term
                && s.role == Role::Follower
                && s.leader.as_ref().is_some_and(|leader| *leader != s.peer)
        })
    }

    /// The highest term any running node is in (the baseline of a `lag` or `rolling`
    /// fault: what happens after it starts is what counts).
    fn highest_term(&self) -> u64 {
        (0..self.hosts.len())
            .filter_map(|i| self.status(i))
            .map(|s| s.term.0)
            .max()
            .unwrap_or(0)
    }

    /// Whether node `c`'s last entry is of a term newer than every other running node's
    /// last entry (a rolling partition reached Figure 8's shape).
    fn holds_newest_term(&self, c: usize) -> bool {
        let Some(own) = self.status(c).map(|s| s.last_log_id.term) else {
            return false;
        };
        (0..self.hosts.len())
            .filter(|&i| i != c)
            .filter_map(|i| self.status(i))
            .all(|s| s.last_log_id.term < own)
    }

    fn others(&self, node: usize) -> Vec<String> {
        self.hosts
            .iter()
            .filter(|h| h.index != node)
            .map(|h| h.name.clone())
            .chain(self.clients.iter().cloned())
            .collect()
    }

    /// Heals `fault`; a violation if it was a disk failure the others did not route
    /// around.
    fn heal(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        fault: &Fault,
        rng: &mut Rng,
        violations: &mut Vec<String>,
    ) {
        let now = sim.elapsed();
        match fault {
            Fault::Partition { cuts, .. } | Fault::Depose { cuts, .. } => {
                for &(a, b) in cuts {
                    sim.repair(self.name(a), self.name(b));
                }
            }
            Fault::Kill { nodes } | Fault::Crash { nodes } => {
                for &n in nodes {
                    self.start(sim, n);
                }
            }
            Fault::Wipe { node, old, new } => {
                // The operator's rule for a wiped node: back under a new id, which
                // replaces the old one among the voters.
                self.start(sim, *node);
                if self.wipe_keeps_id {
                    return;
                }
                self.operator.replacing.fetch_add(1, Ordering::SeqCst);
                lock(&self.operator.requests).push_back(AdminRequest::Replace {
                    old: old.clone(),
                    new: new.clone(),
                });
            }
            Fault::Pause { node } => {
                for other in self.others(*node) {
                    sim.release(self.name(*node), other.as_str());
                }
            }
            Fault::Rolling {
                cuts, second_cuts, ..
            } => {
                for &(a, b) in cuts.iter().chain(second_cuts) {
                    sim.repair(self.name(a), self.name(b));
                }
            }
            Fault::Amnesia {
                candidate,
                cuts,
                voters,
                ..
            } => {
                self.reads_only.store(0, Ordering::SeqCst);
                for &n in voters.iter().chain([candidate]) {
                    self.start(sim, n);
                }
                for &(a, b) in cuts {
                    sim.repair(self.name(a), self.name(b));
                }
            }
            Fault::Lag {
                old,
                follower,
                cuts,
                ..
            } => {
                // The held traffic first (it arrives at once, stale), then the links.
                sim.release(self.name(*old), self.name(*follower));
                for &(a, b) in cuts {
                    sim.repair(self.name(a), self.name(b));
                }
            }
            // A vote window that never opened: its handover, if the operator has not
            // taken it up yet, is dropped (it must not land in a later fault).
            Fault::Window {
                target: WindowTarget::Voter,
            } => self.drop_queued_transfers(),
            // Never triggered, or done at once: nothing to undo.
            Fault::Window { .. } | Fault::Membership { .. } => {}
            Fault::Transfer { cuts, .. } | Fault::Reset { cuts, .. } => {
                for &(a, b) in cuts {
                    sim.repair(self.name(a), self.name(b));
                }
            }
            Fault::Disk { node } => {
                if let Some(watch) = self.disk.take() {
                    if let Some((at, _, _)) = watch.failed {
                        let overdue =
                            !watch.carried_on && now >= at + take_over_bound(self.take_over_round);
                        if let (true, Some(why)) = (overdue, self.no_quorum_without(*node)) {
                            // Not the failed node's doing: the others could not elect
                            // without it whatever it did (wiped members not yet
                            // replaced, a change waiting for its old half).
                            self.notes.push(format!(
                                "{:>8.3}s no take-over expected after n{}'s disk failure: {why}",
                                now.as_secs_f64(),
                                node + 1
                            ));
                        } else if overdue {
                            violations.push(format!(
                                "at {:.3}s n{}'s disk failed; by {:.3}s no other node led and committed past it",
                                at.as_secs_f64(),
                                node + 1,
                                now.as_secs_f64()
                            ));
                        }
                    }
                }
                // After a failed fsync nothing unsynced can be trusted: the node loses
                // power (the crash also replaces the failed disk) and the caller
                // restarts it.
                self.stop(sim, *node);
                let _ = self.hosts[*node].disk.crash(rng.next_u64());
            }
            Fault::Skew { .. } => {
                // Rates back to true time; the readings keep their offsets. With lease
                // reads the rates stay until the next skew: drift lasts, as real clocks'
                // does, so a leader cut off later still runs slow against its followers
                // (what a lease's drift bound is for).
                if !self.lease_reads {
                    for host in &self.hosts {
                        host.clock.adjust_at(now, Some(1.0), 0);
                    }
                }
            }
        }
    }
}

impl DiskWatch {
    fn observe(
        &mut self,
        statuses: &[(usize, concord::runtime::NodeStatus)],
        boot: u64,
        now: Duration,
        violations: &mut Vec<String>,
        notes: &mut Vec<String>,
    ) {
        if boot != self.boot {
            return;
        }
        let Some((_, status)) = statuses.iter().find(|(i, _)| *i == self.node) else {
            return;
        };
        if status.failure.is_none() {
            self.role_before = status.role;
        } else if self.failed.is_none() {
            self.failed = Some((now, status.term, status.commit_index));
            notes.push(format!(
                "{:>8.3}s n{} failed (was {:?} of term {})",
                now.as_secs_f64(),
                self.node + 1,
                self.role_before,
                status.term.0
            ));
        }
        let Some((at, term, commit)) = self.failed else {
            return;
        };
        if status.role == Role::Leader && now >= at + STEP_ASIDE_GRACE && !self.reported_leading {
            self.reported_leading = true;
            violations.push(format!(
                "at {:.3}s n{}'s disk failed; at {:.3}s it still leads (term {})",
                at.as_secs_f64(),
                self.node + 1,
                now.as_secs_f64(),
                status.term.0
            ));
        }
        if self.carried_on {
            return;
        }
        if let Some((i, other)) = statuses.iter().find(|(i, other)| {
            // If the failed node led `term`, a leader of another node is of a later term.
            *i != self.node
                && other.role == Role::Leader
                && other.term >= term
                && other.commit_index > commit
        }) {
            self.carried_on = true;
            notes.push(format!(
                "{:>8.3}s n{} leads term {} and committed {} (past the failed node's {})",
                now.as_secs_f64(),
                i + 1,
                other.term.0,
                other.commit_index.0,
                commit.0
            ));
        }
    }
}

/// After the workload: every node must converge on the same applied prefix (the
/// followers catch up with the leader) within 10 s of simulated time.
fn converge(sim: &mut turmoil::Sim<'_>, cluster: &Cluster, violations: &mut Vec<String>) {
    let deadline = sim.elapsed() + Duration::from_secs(10);
    let mut last = Vec::new();
    while sim.elapsed() < deadline {
        for _ in 0..50 {
            if let Err(error) = sim.step() {
                violations.push(format!("simulation failed: {error}"));
                return;
            }
        }
        // The members of the configuration the leader reports (removed nodes and
        // spares never added stop where they are).
        let members = cluster.group_view();
        last = lock(&cluster.registry)
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                members.voters.is_empty()
                    || members.voters.contains(i)
                    || members.learners.contains(i)
            })
            .map(|(_, node)| {
                node.as_ref()
                    .map(|n| n.describe())
                    .map(|s| (s.applied_index.0, s.commit_index.0))
            })
            .collect();
        let first = last.first().copied().flatten();
        if first.is_some()
            && last
                .iter()
                .all(|s| *s == first && s.is_some_and(|(a, c)| a == c))
        {
            return;
        }
    }
    violations.push(format!(
        "replicas did not converge within 10 s after the workload: (applied, commit) per node {last:?}"
    ));
}

/// Runs one seed and checks it.
pub fn run_seed(config: &RunConfig) -> SeedReport {
    let wall = Instant::now();
    trap_panics();
    let config = config.clone();
    let mut sim = turmoil::Builder::new()
        .rng_seed(config.seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .simulation_duration(
            config.workload_limit + config.liveness_bound * 2 + Duration::from_secs(60),
        )
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(10))
        .build();
    let shared = Arc::new(Shared {
        history: Mutex::new(History::new()),
        workload_done: AtomicUsize::new(0),
        final_phase: AtomicBool::new(false),
        final_values: Mutex::new(BTreeMap::new()),
        violations: Mutex::new(Vec::new()),
        reads_only: Arc::new(AtomicU64::new(0)),
    });
    let registry = Arc::new(Mutex::new(vec![None; config.hosts()]));
    let durability_violations = Arc::new(Mutex::new(Vec::new()));
    let hosts: Vec<HostParts> = (0..config.hosts())
        .map(|index| HostParts {
            index,
            name: format!("n{}", index + 1),
            disk: SimDisk::new(),
            // True time is the simulation's global clock, which (unlike a runtime's
            // `Instant`) keeps counting across the host's restarts.
            clock: Arc::new(DriftingClock::with_true_time(1.0, || {
                turmoil::sim_elapsed().unwrap_or_default()
            })),
            boots: Arc::new(AtomicU64::new(0)),
            identity: Arc::new(AtomicU32::new(0)),
            window: Arc::new(WindowProbe::default()),
            durability_violations: durability_violations.clone(),
        })
        .collect();
    let observations = Observations::new(config.hosts());
    for parts in &hosts {
        let (parts, config, registry) = (parts.clone(), config.clone(), registry.clone());
        let observations = observations.clone();
        sim.host(parts.name.clone().as_str(), move || {
            host_main(
                parts.clone(),
                config.clone(),
                registry.clone(),
                observations.clone(),
            )
        });
    }
    let clients: Vec<String> = (0..config.clients).map(|c| format!("c{}", c + 1)).collect();
    for (id, name) in clients.iter().enumerate() {
        let run = ClientRun {
            id,
            config: config.clone(),
            shared: shared.clone(),
        };
        sim.client(name.as_str(), run.run());
    }
    let operator = Arc::new(Operator::default());
    if config.nemeses.0.contains(&Nemesis::Membership)
        || config.nemeses.0.contains(&Nemesis::Transfer)
        || config.nemeses.0.contains(&Nemesis::Reset)
        || config.nemeses.0.contains(&Nemesis::Wipe)
        || config.nemeses.0.contains(&Nemesis::Window)
    {
        let run = OperatorRun {
            operator: operator.clone(),
            registry: registry.clone(),
            shared: shared.clone(),
            clients: config.clients,
        };
        sim.client("op", run.run());
    }
    let mut cluster = Cluster {
        hosts,
        registry,
        clients,
        reported: vec![u64::MAX; config.hosts()],
        operator: operator.clone(),
        reset: None,
        wipe_keeps_id: config.wipe_keeps_id,
        lease_reads: config.lease_reads,
        reads_only: shared.reads_only.clone(),
        disk: None,
        fault_term: 0,
        election_round: config.election_timeout + config.max_election_delay,
        take_over_round: take_over_round(&config),
        notes: Vec::new(),
        observations: observations.clone(),
    };

    let mut rng = Rng::new(config.seed);
    let mut violations = Vec::new();
    let mut faults = Vec::new();
    if config.lease_reads {
        // Leases meet drift from the start: every clock runs at its own rate (half to
        // double speed by default, drawn from a generator of its own so the fault
        // schedule stays the seed's), until a `skew` fault redraws them.
        let mut drift = Rng::new(config.seed ^ 0x00D2_1F7E);
        let fast = 1.0 + f64::from(config.clock_rates_percent) / 100.0;
        let slow = 1.0 / fast;
        let rates: Vec<String> = cluster
            .hosts
            .iter()
            .map(|host| {
                // 31 steps from slow to fast (of 0.05 at 100 %).
                let rate = slow + drift.below(31) as f64 * (fast - slow) / 30.0;
                host.clock.adjust_at(Duration::ZERO, Some(rate), 0);
                format!("{rate:.2}")
            })
            .collect();
        faults.push(format!("0.000s clock rates {}", rates.join(" ")));
    }
    let mut active: Option<Fault> = None;
    let mut next_change = Duration::from_secs(2); // let the first leader settle
    let mut next_observation = Duration::ZERO;
    let mut healing = false;
    // A `lag` fault's release is scheduled once, when its follower first follows a new
    // leader.
    let mut lag_triggered = false;
    loop {
        let done = match sim.step() {
            Ok(done) => done,
            Err(error) => {
                violations.push(format!("simulation failed: {error}"));
                break;
            }
        };
        let now = sim.elapsed();
        if now >= next_observation {
            cluster.observe(&mut violations, now);
            faults.append(&mut cluster.notes);
            faults.append(&mut lock(&cluster.operator.notes));
            next_observation = now + Duration::from_millis(50);
        }
        if config.stop_at_durability_violation && !lock(&durability_violations).is_empty() {
            faults.push(format!(
                "{:>8.3}s stopped: a node acknowledged before durability",
                now.as_secs_f64()
            ));
            break;
        }
        if done {
            converge(&mut sim, &cluster, &mut violations);
            // Where a liveness check failed, how the nodes ended helps the most.
            if lock(&shared.violations)
                .iter()
                .chain(&violations)
                .any(|v| v.starts_with("liveness") || v.starts_with("replicas did not converge"))
            {
                faults.push(format!(
                    "{:>8.3}s the nodes at the end: {}",
                    sim.elapsed().as_secs_f64(),
                    cluster.describe_nodes()
                ));
            }
            if let Some(survivors) = cluster.reset.clone() {
                check_fence(
                    &mut sim,
                    &cluster,
                    &survivors,
                    config.nodes,
                    &mut violations,
                );
            }
            break;
        }
        if healing {
            continue;
        }
        if shared.workload_done.load(Ordering::SeqCst) == config.clients {
            if let Some(fault) = active.take() {
                cluster.heal(&mut sim, &fault, &mut rng, &mut violations);
                faults.push(format!("{:>8.3}s heal {fault}", now.as_secs_f64()));
            }
            for index in 0..config.hosts() {
                cluster.start(&mut sim, index);
            }
            faults.push(format!(
                "{:>8.3}s workload over: all healed",
                now.as_secs_f64()
            ));
            healing = true;
            shared.final_phase.store(true, Ordering::SeqCst);
            continue;
        }
        if let Some(Fault::Window { target }) = &active {
            if let Some(nodes) = cluster.window_victims(*target, now) {
                cluster.drop_queued_transfers();
                let fault = Fault::Crash { nodes };
                cluster.apply(&mut sim, &fault, &mut rng);
                faults.push(format!(
                    "{:>8.3}s {fault} (in a write window)",
                    now.as_secs_f64()
                ));
                active = Some(fault);
                next_change = now + window_outage(&mut rng);
            }
        }
        if let Some(Fault::Lag {
            follower,
            release_after_ms,
            ..
        }) = &active
        {
            if !lag_triggered && cluster.follows_a_new_leader(*follower) {
                lag_triggered = true;
                faults.push(format!(
                    "{:>8.3}s n{} follows a new leader: release in {release_after_ms} ms",
                    now.as_secs_f64(),
                    follower + 1
                ));
                next_change = next_change.min(now + Duration::from_millis(*release_after_ms));
            }
        }
        if let Some(Fault::Rolling {
            first,
            cuts,
            second,
            second_cuts,
            first_back,
            grants,
        }) = &mut active
        {
            match *second {
                None => {
                    let hosts = config.hosts();
                    let winner = observations
                        .granted_candidate(cluster.fault_term, *grants)
                        .and_then(|peer| (0..hosts).find(|&i| cluster.peer(i) == peer))
                        .filter(|&c| c != *first);
                    if let Some(c) = winner {
                        // Cut only what it sends (turmoil drops its messages in flight
                        // too): the grants on their way to it still arrive, it wins, and
                        // what it appends as leader reaches nobody.
                        let rest: Vec<usize> = (0..hosts).filter(|&n| n != c).collect();
                        *second_cuts = cut_between(&[c], &rest);
                        for &other in &rest {
                            sim.partition_oneway(cluster.name(c), cluster.name(other));
                        }
                        *second = Some(c);
                        faults.push(format!(
                            "{:>8.3}s rolling: n{} has the votes to win: cut off what it sends",
                            now.as_secs_f64(),
                            c + 1
                        ));
                        // The first comes back within an election timeout.
                        let timeout = config.election_timeout.as_millis() as u64;
                        next_change = now + Duration::from_millis(1 + rng.below(timeout));
                    }
                }
                Some(c) if !*first_back && now >= next_change => {
                    // The second is cut both ways now, so the first cannot overwrite the
                    // second's newer entries; then the first's links come back.
                    for &(a, b) in second_cuts.iter() {
                        sim.partition(cluster.name(a), cluster.name(b));
                    }
                    for &(a, b) in cuts.iter().filter(|(a, b)| *a != c && *b != c) {
                        sim.repair(cluster.name(a), cluster.name(b));
                    }
                    cuts.retain(|(a, b)| *a == c || *b == c);
                    *first_back = true;
                    let shape = if cluster.holds_newest_term(c) {
                        format!("n{} alone holds entries of the newest term", c + 1)
                    } else {
                        format!("n{} lacks the newest term or shares it", c + 1)
                    };
                    faults.push(format!(
                        "{:>8.3}s rolling: n{} is back (n{} still cut off; {shape}): {}",
                        now.as_secs_f64(),
                        *first + 1,
                        c + 1,
                        cluster.describe_nodes()
                    ));
                    // Time to be elected again and replicate its older entries.
                    let timeout = config.election_timeout.as_millis() as u64;
                    next_change =
                        now + Duration::from_millis(2 * timeout + rng.below(4 * timeout + 1));
                }
                Some(_) => {}
            }
        }
        if let Some(Fault::Amnesia {
            old,
            candidate,
            voters,
            cuts,
            candidate_down,
            candidate_back,
            down,
            restarted,
            new_leader,
            downtime_ms,
        }) = &mut active
        {
            let names = crate::nemesis::node_names;
            if !*candidate_down && now >= next_change {
                for &(a, b) in cuts.iter() {
                    sim.partition(cluster.name(a), cluster.name(b));
                }
                // Killed now, back in a moment: its connections are new when it
                // campaigns (a message on a connection to a process that restarted since
                // is lost — turmoil answers it with a reset, as a kernel would).
                cluster.stop(&mut sim, *candidate);
                *candidate_down = true;
                next_change = now + Duration::from_millis(*downtime_ms);
                faults.push(format!(
                    "{:>8.3}s amnesia: n{} cut off from n{} and killed: {}",
                    now.as_secs_f64(),
                    *candidate + 1,
                    *old + 1,
                    cluster.describe_nodes()
                ));
            } else if *candidate_down && !*candidate_back && now >= next_change {
                cluster.start(&mut sim, *candidate);
                // `start` reconnects the host to every other: not to the leader.
                sim.partition(cluster.name(*old), cluster.name(*candidate));
                *candidate_back = true;
                // Its first campaign starts an election timeout or more after its boot,
                // by its own clock; the voters go down just before, and are back before
                // it starts.
                let rate = cluster.hosts[*candidate].clock.rate().max(0.1);
                let margin = Duration::from_millis(*downtime_ms + 5);
                next_change = now + config.election_timeout.div_f64(rate).saturating_sub(margin);
                faults.push(format!(
                    "{:>8.3}s amnesia: n{} restarted",
                    now.as_secs_f64(),
                    *candidate + 1,
                ));
            } else if *candidate_back && !*down && now >= next_change {
                // The leader is cut off from every host; its lease still rests on the
                // voters' last answers, which they are about to forget.
                let rest: Vec<usize> = (0..config.hosts()).filter(|&n| n != *old).collect();
                for pair in cut_between(&[*old], &rest) {
                    if !cuts.contains(&pair) {
                        sim.partition(cluster.name(pair.0), cluster.name(pair.1));
                        cuts.push(pair);
                    }
                }
                for &n in voters.iter() {
                    cluster.stop(&mut sim, n);
                }
                *down = true;
                next_change = now + Duration::from_millis(*downtime_ms);
                faults.push(format!(
                    "{:>8.3}s amnesia: n{} cut off, {} killed",
                    now.as_secs_f64(),
                    *old + 1,
                    names(voters)
                ));
            } else if *down && restarted.is_none() && now >= next_change {
                for &n in voters.iter() {
                    cluster.start(&mut sim, n);
                    sim.partition(cluster.name(*old), cluster.name(n));
                }
                // Half the clients write again (what they write reaches a new leader
                // only); the others go on reading, from whichever node serves them.
                cluster
                    .reads_only
                    .store(0x5555_5555_5555_5555, Ordering::SeqCst);
                *restarted = Some(now);
                faults.push(format!(
                    "{:>8.3}s amnesia: {} restarted; n{} cut off from the nodes, not from the clients; the odd clients write again",
                    now.as_secs_f64(),
                    names(voters),
                    *old + 1
                ));
                // Time for the candidate to be refused (or, by a voter that forgot too
                // much, elected) and for the clients to find out.
                let timeout = config.election_timeout.as_millis() as u64;
                next_change = now + Duration::from_millis(2 * timeout + rng.below(4 * timeout + 1));
            } else if let (Some(at), false) = (*restarted, *new_leader) {
                let leader = (0..config.hosts())
                    .filter(|&n| n != *old)
                    .find(|&n| cluster.status(n).is_some_and(|s| s.role == Role::Leader));
                if let Some(n) = leader {
                    *new_leader = true;
                    faults.push(format!(
                        "{:>8.3}s amnesia: n{} leads, {} ms after the restart",
                        now.as_secs_f64(),
                        n + 1,
                        (now - at).as_millis()
                    ));
                }
            }
        }
        if now >= next_change && !config.nemeses.0.is_empty() {
            match active.take() {
                Some(fault) => {
                    cluster.heal(&mut sim, &fault, &mut rng, &mut violations);
                    faults.push(format!("{:>8.3}s heal {fault}", now.as_secs_f64()));
                    next_change = now + rest_duration(&mut rng);
                    // A healed disk failure leaves its node powered off for a moment.
                    if let Fault::Disk { node } = fault {
                        let crash = Fault::Crash { nodes: vec![node] };
                        faults.push(format!("{:>8.3}s {crash}", now.as_secs_f64()));
                        active = Some(crash);
                        next_change = now + window_outage(&mut rng);
                    }
                    // The second half of a deposition: the leader elected meanwhile dies
                    // at the instant the old one returns.
                    if let Fault::Depose { old, .. } = fault {
                        if let Some(new) = cluster.leader().filter(|&new| new != old) {
                            let kill = Fault::Kill { nodes: vec![new] };
                            cluster.apply(&mut sim, &kill, &mut rng);
                            faults.push(format!("{:>8.3}s {kill}", now.as_secs_f64()));
                            active = Some(kill);
                            next_change = now + fault_duration(&mut rng);
                        }
                    }
                }
                None => {
                    let kinds = &config.nemeses.0;
                    let mut kind = kinds[rng.below(kinds.len() as u64) as usize];
                    if kind == Nemesis::Reset && cluster.reset.is_some() {
                        // One reset a run: afterwards, partitions stand in for it.
                        kind = Nemesis::Partition;
                    }
                    let group = cluster.group_view();
                    let fault = draw(kind, &mut rng, config.nodes, cluster.leader(), &group);
                    cluster.apply(&mut sim, &fault, &mut rng);
                    faults.push(format!("{:>8.3}s {fault}", now.as_secs_f64()));
                    next_change = now
                        + match fault {
                            Fault::Depose { .. } => {
                                depose_duration(&mut rng, config.election_timeout)
                            }
                            Fault::Disk { .. } => disk_duration(&mut rng, cluster.election_round),
                            // At most; released earlier once the follower follows a
                            // new leader.
                            Fault::Lag { .. } | Fault::Rolling { .. } => {
                                take_over_bound(cluster.election_round)
                            }
                            // The writes in flight finish (they time out at worst);
                            // then `Amnesia`'s own steps.
                            Fault::Amnesia { .. } => {
                                config.client_attempt_timeout + Duration::from_millis(30)
                            }
                            _ => fault_duration(&mut rng),
                        };
                    lag_triggered = false;
                    active = Some(fault);
                }
            }
        }
    }
    let sim_seconds = sim.elapsed().as_secs_f64();
    drop(sim);
    violations.extend(lock(&shared.violations).drain(..));
    {
        // One line per kind of broken promise is enough to read; count the rest.
        let broken = std::mem::take(&mut *lock(&durability_violations));
        let total = broken.len();
        violations.extend(broken.into_iter().take(3));
        if total > 3 {
            violations.push(format!(
                "... {} more acknowledgements before durability",
                total - 3
            ));
        }
    }
    violations.extend(observations.election_safety_violations());
    violations.extend(observations.divergence_among(cluster.reset.as_deref()));
    violations.extend(observations.core_violations());
    violations.extend(
        take_panics()
            .into_iter()
            .map(|panic| format!("a task panicked: {panic}")),
    );

    let history = lock(&shared.history).clone();
    let final_values = lock(&shared.final_values).clone();
    let lost = lost_acked_writes(&history, &final_values);
    let options = CheckOptions {
        timeout: Some(config.check_timeout),
        ..CheckOptions::default()
    };
    let (verdict, analysis) = if cluster.reset.is_some() {
        // Not linearizable by design: what the old members acknowledged after the cut
        // is gone. The fence is what such a run checks.
        (Verdict::Unknown, None)
    } else {
        match analyze(ModelKind::Kv, &history, &options) {
            Ok(analysis) => (analysis.report.verdict, Some(analysis)),
            Err(error) => {
                violations.push(format!("history rejected by the checker: {error}"));
                (Verdict::Unknown, None)
            }
        }
    };
    let count = |f: fn(&concord_linearizability::Outcome) -> bool| {
        history
            .operations()
            .iter()
            .filter(|op| f(&op.outcome))
            .count()
    };
    SeedReport {
        ops: history.operations().len(),
        ok: count(|o| matches!(o, concord_linearizability::Outcome::Ok(_))),
        failed: count(|o| matches!(o, concord_linearizability::Outcome::Fail)),
        indeterminate: count(|o| {
            matches!(
                o,
                concord_linearizability::Outcome::Info | concord_linearizability::Outcome::Open
            )
        }),
        verdict,
        violations,
        lost_acked_writes: lost,
        faults,
        sim_seconds,
        wall_seconds: wall.elapsed().as_secs_f64(),
        digest: digest(&history),
        leader_terms: observations.leaders.lock().map_or(0, |l| l.len()),
        snapshots_saved: observations.snapshots_saved.load(Ordering::Relaxed),
        snapshot_installs: observations.snapshot_installs.load(Ordering::Relaxed),
        history,
        analysis,
        config,
        reset_survivors: cluster.reset.clone(),
    }
}

/// After a reset of the peers and the heal: within ten election rounds every old member
/// (a voter of the initial configuration that was not reset) has heard of the new epoch
/// and is fenced, and none leads; a survivor leads a term of the new epoch. Then, for
/// ten more rounds, no old member leads (a fenced node never campaigns).
fn check_fence(
    sim: &mut turmoil::Sim<'_>,
    cluster: &Cluster,
    survivors: &[usize],
    nodes: usize,
    violations: &mut Vec<String>,
) {
    let statuses = || -> Vec<(usize, concord::runtime::NodeStatus)> {
        lock(&cluster.registry)
            .iter()
            .enumerate()
            .filter_map(|(i, node)| node.as_ref().map(|n| (i, n.describe())))
            .collect()
    };
    let old = |i: usize| i < nodes && !survivors.contains(&i);
    let rounds = cluster.election_round * 10;
    let deadline = sim.elapsed() + rounds;
    let mut fenced = false;
    while sim.elapsed() < deadline {
        if let Err(error) = sim.step() {
            violations.push(format!("simulation failed: {error}"));
            return;
        }
        let now = statuses();
        fenced = now.iter().all(|(i, s)| !old(*i) || s.fenced)
            && now.iter().any(|(i, s)| {
                survivors.contains(i) && s.role == Role::Leader && s.term.epoch() >= 1
            });
        if fenced {
            break;
        }
    }
    if !fenced {
        let states: Vec<String> = statuses()
            .iter()
            .map(|(i, s)| {
                format!(
                    "n{} {:?} term {} fenced {}",
                    i + 1,
                    s.role,
                    s.term,
                    s.fenced
                )
            })
            .collect();
        violations.push(format!(
            "after the reset and the heal, the old members were not all fenced under a leader of the new epoch within ten election rounds: {}",
            states.join(", ")
        ));
        return;
    }
    let until = sim.elapsed() + rounds;
    while sim.elapsed() < until {
        if let Err(error) = sim.step() {
            violations.push(format!("simulation failed: {error}"));
            return;
        }
        if let Some((i, s)) = statuses()
            .into_iter()
            .find(|(i, s)| old(*i) && (s.role != Role::Follower || !s.fenced))
        {
            violations.push(format!(
                "old member n{} is {:?} (fenced: {}) in term {} after it was fenced",
                i + 1,
                s.role,
                s.fenced,
                s.term
            ));
            return;
        }
    }
}
