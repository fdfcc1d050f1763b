//! What the nodes report about themselves, exactly (not sampled): a state machine
//! wrapper that records every leadership and a running digest of the applied entries,
//! and a panic trap.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, Once, PoisonError};

use concord::core::Term;

use crate::check::{fnv, FNV_OFFSET};
use concord::kv::{KvResponse, KvStateMachine};
use concord::runtime::{CommittedEntry, NodeFailure, StateMachine};

/// Shared by every node of one seed.
#[derive(Debug, Default)]
pub struct Observations {
    /// term → the nodes that started leading it.
    pub leaders: Mutex<BTreeMap<u64, BTreeSet<usize>>>,
    /// Per node (current boot): (log index, running digest through that entry) for every
    /// applied client entry.
    pub digests: Mutex<Vec<Vec<(u64, u64)>>>,
}

impl Observations {
    /// For `nodes` nodes.
    pub fn new(nodes: usize) -> Arc<Observations> {
        Arc::new(Observations {
            leaders: Mutex::new(BTreeMap::new()),
            digests: Mutex::new(vec![Vec::new(); nodes]),
        })
    }

    /// Terms with more than one leader.
    pub fn election_safety_violations(&self) -> Vec<String> {
        let leaders = self.leaders.lock().unwrap_or_else(PoisonError::into_inner);
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
    /// Machine Safety).
    pub fn divergence(&self) -> Vec<String> {
        let digests = self.digests.lock().unwrap_or_else(PoisonError::into_inner);
        let maps: Vec<BTreeMap<u64, u64>> = digests
            .iter()
            .map(|d| d.iter().copied().collect())
            .collect();
        let mut found = Vec::new();
        for a in 0..maps.len() {
            for b in a + 1..maps.len() {
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

    /// The highest applied client entry per node.
    pub fn last_applied(&self) -> Vec<Option<u64>> {
        let digests = self.digests.lock().unwrap_or_else(PoisonError::into_inner);
        digests.iter().map(|d| d.last().map(|(i, _)| *i)).collect()
    }
}

/// The KV state machine, observed.
pub struct ObservedKv {
    inner: KvStateMachine,
    node: usize,
    digest: u64,
    observations: Arc<Observations>,
}

impl ObservedKv {
    /// A fresh state machine for `node` (a new boot: its digest record restarts, as the
    /// node re-applies its log from the beginning).
    pub fn new(node: usize, observations: Arc<Observations>) -> ObservedKv {
        observations
            .digests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)[node]
            .clear();
        ObservedKv {
            inner: KvStateMachine::new(),
            node,
            digest: FNV_OFFSET,
            observations,
        }
    }
}

impl StateMachine for ObservedKv {
    type Response = Result<KvResponse, String>;
    type Context = ();

    fn on_apply(&mut self, entry: &mut CommittedEntry<()>) -> Result<Self::Response, NodeFailure> {
        let response = self.inner.on_apply(entry)?;
        if let Err(reason) = &response {
            // The client service refuses undecodable commands before they reach the
            // log, so a committed one means corruption.
            return Err(NodeFailure {
                reason: format!(
                    "committed entry {} is not a KV command: {reason}",
                    entry.log_id
                ),
            });
        }
        self.digest = fnv(self.digest, &entry.log_id.index.0.to_le_bytes());
        self.digest = fnv(self.digest, &entry.log_id.term.0.to_le_bytes());
        self.digest = fnv(self.digest, &entry.data);
        self.observations
            .digests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)[self.node]
            .push((entry.log_id.index.0, self.digest));
        Ok(response)
    }

    fn on_leader_start(&mut self, term: Term) {
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
