//! What the nodes report about themselves, exactly (not sampled): a state machine
//! wrapper that records every leadership and a running digest of the applied entries,
//! the cores themselves after every step (through the runtime's simulation hook), and
//! a panic trap.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};

use concord::core::{ClusterObserver, ConfigurationEntry, LogId, PeerId, RaftCore};

use crate::check::{fnv, FNV_OFFSET};
use concord::kv::{KvResponse, KvStateMachine};
use concord::runtime::{
    CommittedEntry, LeaderChangeContext, SnapshotContext, SnapshotSave, SnapshotSink,
    SnapshotSource, StateMachine, StateMachineError,
};
use concord::storage::SnapshotWriter;

/// Violations of one kind kept word for word; the rest are counted.
const KEEP: usize = 3;

/// Shared by every node of one seed.
#[derive(Debug, Default)]
pub struct Observations {
    /// term → the nodes that started leading it.
    pub leaders: Mutex<BTreeMap<u64, BTreeSet<usize>>>,
    /// Per node, over all its boots: log index → running digest through that entry, for
    /// every applied client entry. A reboot re-applies the log from the start, and must
    /// apply the same entries again.
    pub digests: Mutex<Vec<BTreeMap<u64, u64>>>,
    /// Entries a node applied differently in a later boot than in an earlier one, or
    /// differently from another node: the nodes involved, and the report.
    pub reapplied: Mutex<Vec<(Vec<usize>, String)>>,
    /// Across nodes: log index → (running digest through it, the first node that
    /// applied it). Every node that applies index i must hold the same state there
    /// (State Machine Safety on the state machines themselves, snapshots included: a
    /// node that loaded a snapshot goes on from the digest in it).
    pub cluster_digests: Mutex<BTreeMap<u64, (u64, usize)>>,
    /// Snapshots saved by the nodes' state machines.
    pub snapshots_saved: std::sync::atomic::AtomicU64,
    /// Snapshots loaded by a state machine that had already applied or loaded state in
    /// its boot: installs from a leader (an install right after a boot is counted with
    /// the boot loads).
    pub snapshot_installs: std::sync::atomic::AtomicU64,
    /// Election Safety, Leader Completeness and State Machine Safety on the cores'
    /// states after every step of every node (`RaftCore` as the runtime holds it).
    pub cores: Mutex<CoreObservations>,
    /// Per node, the vote it has made durable (and so sent, at the end of that step) for
    /// another node: (term, candidate). What the `rolling` nemesis waits for.
    pub durable_grants: Mutex<BTreeMap<PeerId, (u64, PeerId)>>,
    /// Per node, its last log id and the configuration in force after its last step:
    /// what the `disk` nemesis asks before it expects the others to elect a leader.
    pub configurations: Mutex<BTreeMap<PeerId, (LogId, ConfigurationEntry<PeerId>)>>,
}

/// The cluster-wide core properties, checked one node step at a time.
#[derive(Debug, Default)]
pub struct CoreObservations {
    observer: ClusterObserver<PeerId>,
    violations: Vec<String>,
    count: usize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Observations {
    /// For `nodes` nodes.
    pub fn new(nodes: usize) -> Arc<Observations> {
        Arc::new(Observations {
            leaders: Mutex::new(BTreeMap::new()),
            digests: Mutex::new(vec![BTreeMap::new(); nodes]),
            reapplied: Mutex::new(Vec::new()),
            cluster_digests: Mutex::new(BTreeMap::new()),
            snapshots_saved: Default::default(),
            snapshot_installs: Default::default(),
            cores: Mutex::new(CoreObservations::default()),
            durable_grants: Mutex::new(BTreeMap::new()),
            configurations: Mutex::new(BTreeMap::new()),
        })
    }

    /// Checks one node's core after a step (the runtime's `FaultInjector::observe`).
    pub fn observe_core(&self, core: &RaftCore<PeerId>) {
        let durable = core.durable_hard_state();
        if let Some(candidate) = durable.voted_for.as_ref().filter(|c| *c != core.id()) {
            let mut grants = lock(&self.durable_grants);
            let seen = grants.get(core.id());
            if seen.is_none_or(|(term, c)| *term != durable.term.0 || c != candidate) {
                grants.insert(core.id().clone(), (durable.term.0, candidate.clone()));
            }
        }
        {
            let mut configurations = lock(&self.configurations);
            let last = core.last_log_id();
            match configurations.get_mut(core.id()) {
                Some((seen, configuration)) => {
                    *seen = last;
                    if configuration != core.configuration() {
                        *configuration = core.configuration().clone();
                    }
                }
                None => {
                    configurations.insert(core.id().clone(), (last, core.configuration().clone()));
                }
            }
        }
        let mut cores = lock(&self.cores);
        if let Err(violation) = cores.observer.observe_node(core) {
            cores.count += 1;
            if cores.violations.len() < KEEP {
                let now = turmoil::sim_elapsed().unwrap_or_default();
                cores.violations.push(format!(
                    "at {:.3}s, after a step of {}: {}",
                    now.as_secs_f64(),
                    core.id(),
                    violation.description
                ));
            }
        }
    }

    /// A candidate of a term after `after` that holds durable grants from at least
    /// `grants` other nodes (its votes are sent, and it wins once they arrive).
    pub fn granted_candidate(&self, after: u64, grants: usize) -> Option<PeerId> {
        let mut count: BTreeMap<(u64, PeerId), usize> = BTreeMap::new();
        for (term, candidate) in lock(&self.durable_grants).values() {
            if *term > after {
                *count.entry((*term, candidate.clone())).or_default() += 1;
            }
        }
        count
            .into_iter()
            .rev()
            .find(|(_, n)| *n >= grants)
            .map(|((_, candidate), _)| candidate)
    }

    /// What the core observations found.
    pub fn core_violations(&self) -> Vec<String> {
        let cores = lock(&self.cores);
        let mut found = cores.violations.clone();
        if cores.count > found.len() {
            found.push(format!(
                "... {} more core observations failed",
                cores.count - found.len()
            ));
        }
        found
    }

    /// Terms with more than one leader.
    pub fn election_safety_violations(&self) -> Vec<String> {
        let leaders = lock(&self.leaders);
        leaders
            .iter()
            .filter(|(_, nodes)| nodes.len() > 1)
            .map(|(term, nodes)| {
                let names: Vec<String> = nodes.iter().map(|n| format!("n{}", n + 1)).collect();
                format!("election safety: {} all led term {term}", names.join(", "))
            })
            .collect()
    }

    /// Pairs of nodes whose applied entries differ at an index both applied (State
    /// Machine Safety), in any boots, and entries a node applied differently after a
    /// restart.
    pub fn divergence(&self) -> Vec<String> {
        self.divergence_among(None)
    }

    /// `divergence` among `nodes` only (all nodes with `None`): after a reset of the
    /// peers, the survivors' history is not the old members' (their common prefix is
    /// checked by the core's observer, per configuration epoch).
    pub fn divergence_among(&self, nodes: Option<&[usize]>) -> Vec<String> {
        let kept = |node: &usize| nodes.is_none_or(|nodes| nodes.contains(node));
        let maps = lock(&self.digests);
        let mut found: Vec<String> = lock(&self.reapplied)
            .iter()
            .filter(|(involved, _)| involved.iter().all(kept))
            .take(KEEP)
            .map(|(_, report)| report.clone())
            .collect();
        for a in (0..maps.len()).filter(kept) {
            for b in (a + 1..maps.len()).filter(kept) {
                if let Some((index, _)) = maps[a].iter().find(|(index, digest)| {
                    maps[b].get(index).is_some_and(|other| other != *digest)
                }) {
                    found.push(format!(
                        "state machine safety: n{} and n{} applied different entries up to index {index}",
                        a + 1,
                        b + 1
                    ));
                }
            }
        }
        found
    }

    /// The highest applied client entry per node, over all its boots.
    pub fn last_applied(&self) -> Vec<Option<u64>> {
        lock(&self.digests)
            .iter()
            .map(|d| d.keys().next_back().copied())
            .collect()
    }

    fn record_applied(&self, node: usize, index: u64, digest: u64) {
        {
            let mut cluster = lock(&self.cluster_digests);
            let (first, by) = *cluster.entry(index).or_insert((digest, node));
            if first != digest {
                let mut violations = lock(&self.reapplied);
                if violations.len() < KEEP * 4 {
                    violations.push((
                        vec![by, node],
                        format!(
                            "state machine safety: n{} and n{} hold different states after \
                             applying index {index}",
                            by + 1,
                            node + 1
                        ),
                    ));
                }
            }
        }
        let mut digests = lock(&self.digests);
        if let Some(before) = digests[node].insert(index, digest) {
            if before != digest {
                lock(&self.reapplied).push((
                    vec![node],
                    format!(
                        "state machine safety: n{} applied a different entry at index {index} \
                         after a restart than before it",
                        node + 1
                    ),
                ));
            }
        }
    }
}

/// The KV state machine, observed.
pub struct ObservedKv {
    inner: KvStateMachine,
    node: usize,
    digest: u64,
    observations: Arc<Observations>,
    /// Nothing applied or loaded yet in this boot.
    fresh: bool,
}

impl ObservedKv {
    /// A fresh state machine for `node`, in a new boot: it re-applies the log from the
    /// beginning, and its digests must repeat those of its earlier boots.
    pub fn new(node: usize, observations: Arc<Observations>) -> ObservedKv {
        ObservedKv {
            inner: KvStateMachine::new(),
            node,
            digest: FNV_OFFSET,
            observations,
            fresh: true,
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
        self.fresh = false;
        let response = self.inner.on_apply(entry)?;
        if let Err(reason) = &response {
            // The client service refuses undecodable commands before they reach the
            // log, so a committed one means corruption.
            return Err(StateMachineError::new(format!(
                "committed entry {} is not a KV command: {reason}",
                entry.log_id
            )));
        }
        self.digest = fnv(self.digest, &entry.log_id.index.0.to_le_bytes());
        self.digest = fnv(self.digest, &entry.log_id.term.0.to_le_bytes());
        self.digest = fnv(self.digest, &entry.data);
        self.observations
            .record_applied(self.node, entry.log_id.index.0, self.digest);
        Ok(response)
    }

    fn supports_snapshots(&self) -> bool {
        true
    }

    /// The map's snapshot, and the running digest beside it: after a load, the digests
    /// go on from the snapshot's, so they still match every boot's and every node's.
    fn on_snapshot_save(
        &mut self,
        context: &SnapshotContext,
    ) -> Result<SnapshotSave, StateMachineError> {
        let write_map = self.inner.on_snapshot_save(context)?;
        self.observations
            .snapshots_saved
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let digest = self.digest;
        Ok(Box::new(move |sink: &mut SnapshotSink| {
            write_map(sink)?;
            Ok(sink.write_file("digest", &digest.to_le_bytes())?)
        }))
    }

    fn on_snapshot_load(&mut self, snapshot: &SnapshotSource) -> Result<(), StateMachineError> {
        self.inner.on_snapshot_load(snapshot)?;
        let bytes = snapshot.read_file("digest")?;
        let bytes: [u8; 8] = bytes
            .try_into()
            .map_err(|_| StateMachineError::new("the digest file is not 8 bytes"))?;
        self.digest = u64::from_le_bytes(bytes);
        if !std::mem::replace(&mut self.fresh, false) {
            self.observations
                .snapshot_installs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    fn on_leader_start(&mut self, context: &LeaderChangeContext) {
        let term = context.term;
        self.observations
            .leaders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(term.0)
            .or_default()
            .insert(self.node);
    }
}

thread_local! {
    static PANICS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Starts recording panics on this thread (a simulation runs every host on the thread
/// that drives it, and tokio turns a panicking task into a silent `JoinError`).
pub fn trap_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|panics| panics.borrow_mut().push(info.to_string()));
            previous(info);
        }));
    });
    PANICS.with(|panics| panics.borrow_mut().clear());
}

/// The panics recorded on this thread since [`trap_panics`].
pub fn take_panics() -> Vec<String> {
    PANICS.with(|panics| std::mem::take(&mut *panics.borrow_mut()))
}
