//! A KV client over in-process node handles that follows leader redirects.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use super::command::{KvCommand, KvResponse};
use super::machine::{KvRead, KvStateMachine};
use crate::core::PeerId;
use crate::runtime::{ApplyError, Node, ReadError, Task};
use crate::service::CallError;

/// Why a KV operation failed: the client protocol's [`CallError`] (not applied, outcome
/// unknown, rejected), shared by the in-process and the remote client.
pub type KvClientError = CallError;

/// The node list shared by a client's clones.
type SharedNodes = Arc<RwLock<Vec<(PeerId, Node<KvStateMachine>)>>>;

/// Sends commands to whichever node leads, following `NotLeader` hints. Only errors
/// that prove the command was not appended are retried, so a retry can never apply a
/// command twice.
///
/// Clones share the node list (so `replace_node` reaches all of them) but each keeps its
/// own idea of the leader.
#[derive(Clone)]
pub struct KvClient {
    nodes: SharedNodes,
    leader: usize,
    /// Total time to find a leader before giving up.
    pub redirect_budget: Duration,
    /// How long one attempt may take before the outcome is declared unknown.
    pub attempt_timeout: Duration,
}

impl KvClient {
    /// A client over these nodes.
    pub fn new(nodes: Vec<(PeerId, Node<KvStateMachine>)>) -> Self {
        KvClient {
            nodes: Arc::new(RwLock::new(nodes)),
            leader: 0,
            redirect_budget: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(5),
        }
    }

    /// Replaces the handle of a restarted node.
    pub fn replace_node(&self, peer: &PeerId, node: Node<KvStateMachine>) {
        let mut nodes = self.nodes.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = nodes.iter_mut().find(|(p, _)| p == peer) {
            entry.1 = node;
        }
    }

    fn node(&self, position: usize) -> (Node<KvStateMachine>, usize) {
        let nodes = self.nodes.read().unwrap_or_else(PoisonError::into_inner);
        (nodes[position % nodes.len()].1.clone(), nodes.len())
    }

    fn position_of(&self, peer: &PeerId) -> Option<usize> {
        let nodes = self.nodes.read().unwrap_or_else(PoisonError::into_inner);
        nodes.iter().position(|(p, _)| p == peer)
    }

    /// Runs one command. A `get` is served by `Node::read` (ReadIndex, no log entry),
    /// on the leader.
    pub async fn execute(&mut self, command: KvCommand) -> Result<KvResponse, KvClientError> {
        if let KvCommand::Get { key } = command {
            return self.get(key).await;
        }
        let data = command.encode();
        let deadline = tokio::time::Instant::now() + self.redirect_budget;
        let mut last_refusal = String::from("no node reachable");
        let mut hinting = Hinting::default();
        while tokio::time::Instant::now() < deadline {
            let (node, count) = self.node(self.leader);
            let attempt = node.apply(Task::new(data.clone()));
            let outcome = match tokio::time::timeout(self.attempt_timeout, attempt).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    self.leader = (self.leader + 1) % count;
                    return Err(KvClientError::Unknown {
                        reason: "timed out waiting for the leader".into(),
                    });
                }
            };
            match outcome {
                Ok(applied) => {
                    return applied
                        .response
                        .map_err(|reason| KvClientError::Rejected { reason })
                }
                Err(ApplyError::NotLeader { leader_hint }) => {
                    last_refusal = "not leader".into();
                    self.follow_hint(leader_hint, count, &mut hinting).await;
                }
                Err(error) if error.definitely_not_applied() => {
                    last_refusal = error.to_string();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(error) => {
                    // Try elsewhere next time: this node just lost or gave up leadership.
                    self.leader = (self.leader + 1) % count;
                    return Err(KvClientError::Unknown {
                        reason: error.to_string(),
                    });
                }
            }
        }
        Err(KvClientError::NotApplied {
            reason: last_refusal,
        })
    }

    /// After a `NotLeader`: to the hinted node, or with no (new) hint — or a hint back to
    /// a node that itself hinted elsewhere in this round — to the next one after a short
    /// pause.
    async fn follow_hint(
        &mut self,
        leader_hint: Option<PeerId>,
        count: usize,
        hinting: &mut Hinting,
    ) {
        let hinted = leader_hint.and_then(|hint| self.position_of(&hint));
        if hinted.is_some() {
            hinting.insert(self.leader, count);
        }
        self.leader = match hinted {
            Some(position) if position != self.leader && !hinting.contains(position) => position,
            _ => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                (self.leader + 1) % count
            }
        };
    }

    async fn get(&mut self, key: String) -> Result<KvResponse, KvClientError> {
        let deadline = tokio::time::Instant::now() + self.redirect_budget;
        let mut last_refusal = String::from("no node reachable");
        let mut hinting = Hinting::default();
        while tokio::time::Instant::now() < deadline {
            let (node, count) = self.node(self.leader);
            let key = key.clone();
            let attempt = node.read(move |kv: &KvStateMachine| kv.get(&key));
            let outcome = match tokio::time::timeout(self.attempt_timeout, attempt).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    // A read changes nothing: try the next node within the budget.
                    last_refusal = "timed out waiting for the read".into();
                    self.leader = (self.leader + 1) % count;
                    continue;
                }
            };
            match outcome {
                Ok(value) => return Ok(KvResponse::Value(value)),
                Err(ReadError::NotLeader { leader_hint }) => {
                    last_refusal = "not leader".into();
                    self.follow_hint(leader_hint, count, &mut hinting).await;
                }
                Err(error) => {
                    // Every read refusal is safe to retry; try the next node.
                    last_refusal = error.to_string();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    self.leader = (self.leader + 1) % count;
                }
            }
        }
        Err(KvClientError::NotApplied {
            reason: last_refusal,
        })
    }
}

/// The nodes that answered one round of a call with a hint elsewhere: a hint back to one
/// of them is not followed until the round is over (a removed node's stale hint, and the
/// hints of the nodes it names, could otherwise send a client round a loop that never
/// reaches the leader). A node that answered without a hint may have been elected
/// since, so a hint to it is followed.
#[derive(Default)]
struct Hinting(std::collections::BTreeSet<usize>);

impl Hinting {
    fn insert(&mut self, position: usize, count: usize) {
        if self.0.len() >= count {
            self.0.clear();
        }
        self.0.insert(position % count.max(1));
    }

    fn contains(&self, position: usize) -> bool {
        self.0.contains(&position)
    }
}
