//! Building the stateright model: actors, network, crashes, history and bounds.

use std::collections::BTreeSet;
use std::sync::Arc;

use concord::core::{CoreOptions, MembershipChange, Message, Term};
use stateright::actor::Id;
use stateright::actor::{ActorModel, ActorModelState, Envelope, LossyNetwork, Network};
use stateright::semantics::register::{Register, RegisterOp, RegisterRet};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};

use crate::actor::ModelActor;
use crate::client::ClientActor;
use crate::properties;
use crate::server::{CorrectGlue, Glue, PersistMode, ServerActor, ServerState};
use crate::types::{Counters, Msg, Op, ServerId, Storage, Value};

/// The checked model.
pub type ConcordModel = ActorModel<ModelActor, ModelConfig, History>;
/// One state of the checked model.
pub type ConcordState = ActorModelState<ModelActor, History>;

/// The network's delivery semantics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NetworkKind {
    /// Each message is delivered at most once, in any order (the default).
    #[default]
    Unordered,
    /// Every message stays deliverable forever, in any order (tests idempotency).
    Duplicating,
}

/// Time, for lease reads (`ModelConfig::clock`). Each server has a clock that moves by
/// ticks (`ModelTimer::Tick`, a step of its own); the live servers' clocks never differ
/// by more than `max_skew` ticks (states beyond are outside the model's boundary), so a
/// tick is real time passing as every clock within the bound sees it. An election timer
/// fires only once `election_timeout` ticks of its server's clock have passed since the
/// core last reset it (at the first start: at once — the servers may have run long
/// before). Reads carry the server's clock as `lease_now`; `CoreOptions::read_lease` is
/// in ticks. A leader's lease is safe when `read_lease <= election_timeout - 2 *
/// max_skew` (docs/verification.md, "Reads").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockModel {
    /// Ticks an election timer waits after its reset.
    pub election_timeout: u8,
    /// The most two live servers' clocks may differ.
    pub max_skew: u8,
    /// Bound: clocks stop here.
    pub max_time: u8,
}

/// What the model's operator asks of the leader (`ModelTimer::Admin`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AdminPlan {
    /// Nothing: every server is a voter of one fixed configuration.
    #[default]
    None,
    /// Servers `s0..s{voters-1}` start as the voters; the others start outside the
    /// cluster (an empty configuration) until a change adds them. The operator asks
    /// whichever server leads for `change`.
    Change {
        /// How many servers start as voters.
        voters: usize,
        /// The change asked for.
        change: MembershipChange<ServerId>,
    },
    /// The operator asks the leader to hand leadership to the most up-to-date voter.
    Transfer,
    /// The operator, believing the others lost, resets `server`'s peers to `voters`
    /// (`Input::ResetPeers`, asked of that server whatever its role). The others go on
    /// as the old configuration, and hear from the reset server as the network allows:
    /// the "lost members come back" of the fence (core/reset.rs).
    Reset {
        /// The server reset.
        server: ServerId,
        /// Its new voters.
        voters: std::collections::BTreeSet<ServerId>,
    },
}

/// Everything that shapes the model. [`ModelConfig::default`] is the CI check.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// Number of servers, 1 to 5.
    pub servers: usize,
    /// Number of clients, 0 to 2.
    pub clients: usize,
    /// Operations per client (see [`ClientActor::ops_for`]).
    pub ops_per_client: usize,
    /// Bound: no state where a server's term exceeds this.
    pub max_term: u64,
    /// Bound: no state where a server's log holds more entries than this.
    pub max_log: u64,
    /// Bound: no state where a server has more than this many writes queued for
    /// persistence (messages waiting for them do not count).
    pub max_pending: usize,
    /// Bound: no state where one message is in flight more than this many times.
    pub max_copies: usize,
    /// Bound: no state with more than this many messages in flight in total.
    pub max_in_flight: usize,
    /// Bound: election-timer firings of non-leaders (elections started), summed over all servers and incarnations.
    pub max_elections: u8,
    /// Bound: check-quorum runs (a leader's election timer firing), summed over all
    /// servers and incarnations.
    pub max_quorum_checks: u8,
    /// Bound: heartbeat-timer firings, summed over all servers and incarnations.
    pub max_heartbeats: u8,
    /// Crash budget: at most this many crashes in a run (and so at most this many
    /// servers down at once).
    pub crashes: usize,
    /// Disk-failure budget: at most this many disk failures in a run (a failed server
    /// stays failed until it crashes and restarts).
    pub disk_failures: u8,
    /// Snapshot budget: at most this many snapshot requests (`Input::TakeSnapshot`) in a
    /// run, summed over servers. With `options.snapshot_retained_entries == 0` every
    /// snapshot compacts the whole applied log, so lagging servers need InstallSnapshot.
    pub snapshots: u8,
    /// Delivery semantics.
    pub network: NetworkKind,
    /// Whether the network may drop messages.
    pub lossy: bool,
    /// How much one persistence event makes durable.
    pub persist_mode: PersistMode,
    /// Options handed to every core.
    pub options: CoreOptions,
    /// The glue (fault injection in tests only).
    pub glue: Arc<dyn Glue>,
    /// How many retries of one client request are told apart (1 for exhaustive checks;
    /// the `deep` simulation profile uses more, see `Msg::Request::attempt`).
    pub attempt_variants: u8,
    /// Leave out the two disk-level properties (`committed entries are durable on a
    /// quorum`, `no electable log lacks a committed entry`), to measure what the other
    /// properties catch on their own (the teeth tests do).
    pub skip_disk_properties: bool,
    /// Let clients crash and restart (they keep their progress and re-send the
    /// outstanding request as a retry). Off in the exhaustive profiles, where a crashed
    /// client only multiplies states; on in `deep`, whose random walks would otherwise
    /// end at the first client crash the walk picks.
    pub client_crashes: bool,
    /// Client `c` sends its first request to server `c` (modulo the servers) instead of
    /// server 0: clients then talk to different servers, so one can complete a write at
    /// a new leader while another still reads at the deposed one (the `reads` profile).
    pub spread_clients: bool,
    /// A read that follows a completed operation goes to a fixed server (the one after
    /// the client's first target) rather than where that operation completed — the
    /// same server only when the operation completed there: so a write acknowledged by
    /// a new leader can be followed by a read at the deposed one, the shape that
    /// catches a leader answering a read without confirming its leadership (the
    /// `clients` profile).
    pub read_elsewhere: bool,
    /// A read that follows a completed operation goes to this server (overrides
    /// `read_elsewhere`; the `lease` profile: every read at the first leader).
    pub read_target: Option<usize>,
    /// A write that follows a completed operation goes to this server rather than
    /// where that operation completed (the `lease` profile: a write at the server that
    /// will be the next leader, between two reads at the current one).
    pub write_target: Option<usize>,
    /// Membership change or leadership transfer asked by an operator.
    pub admin: AdminPlan,
    /// Operator budget: at most this many requests in a run (only those reaching a
    /// leader count).
    pub admin_requests: u8,
    /// Clocks and timed election timers, for lease reads; `None`: timers fire at will
    /// and reads carry no time.
    pub clock: Option<ClockModel>,
    /// Pairs of servers between which every message is lost, for the whole run (a
    /// permanent partition: a subset of what the network may do anyway, explored
    /// without the interleavings of those messages' late deliveries).
    pub partition: Vec<(u8, u8)>,
    /// The operations of each client, replacing `ClientActor::ops_for` (empty: the
    /// default pattern, `ops_per_client` each).
    pub client_ops: Vec<Vec<Op>>,
}

impl Default for ModelConfig {
    /// The default `check`: 3 servers, one client writing then reading, one crash, one
    /// election and one check-quorum run, terms ≤ 2, logs ≤ 3 entries, pre-vote off.
    fn default() -> Self {
        ModelConfig {
            servers: 3,
            clients: 1,
            ops_per_client: 2,
            max_term: 2,
            max_log: 3,
            max_pending: 3,
            max_copies: 1,
            max_in_flight: usize::MAX,
            max_elections: 1,
            max_quorum_checks: 1,
            max_heartbeats: 0,
            crashes: 1,
            disk_failures: 0,
            snapshots: 0,
            network: NetworkKind::Unordered,
            lossy: false,
            persist_mode: PersistMode::Whole,
            options: CoreOptions {
                // Pre-vote adds a message round to every election and multiplies the
                // state space by about 4; it cannot affect safety (it changes no term
                // and no vote). Deeper checks turn it on with `--pre-vote`.
                pre_vote: false,
                ..CoreOptions::default()
            },
            glue: Arc::new(CorrectGlue),
            attempt_variants: 1,
            skip_disk_properties: false,
            client_crashes: false,
            spread_clients: false,
            read_elsewhere: false,
            read_target: None,
            write_target: None,
            admin: AdminPlan::None,
            admin_requests: 0,
            clock: None,
            partition: Vec::new(),
            client_ops: Vec::new(),
        }
    }
}

/// Auxiliary history: facts about the past that no current state shows.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct History {
    /// Client invocations and returns.
    pub linearizability: LinearizabilityTester<Id, Register<Value>>,
    /// Every (term, server) that ever acted as leader: only a leader sends `Append` and
    /// `Heartbeat`, and a new leader sends `Append` to every peer at once, so recording
    /// the senders of those messages catches two leaders of one term even when one of
    /// them crashed or stepped down before the other was elected.
    pub leaders: BTreeSet<(Term, ServerId)>,
}

impl ModelConfig {
    /// Whether the servers are interchangeable, so that the checker may merge states
    /// that differ only by server names (`crate::symmetry`). Not with a partition (it
    /// names servers), nor with an operator: its
    /// requests name servers (a change) or break ties by name (a transfer to any), and
    /// spares restart with another initial configuration than voters.
    pub fn symmetric(&self) -> bool {
        self.admin == AdminPlan::None && self.partition.is_empty()
    }

    /// The operations client `index` runs: `client_ops` if it names them, else
    /// writes and reads alternating (`ClientActor::ops_for`).
    pub fn ops_of(&self, index: usize) -> Vec<Op> {
        self.client_ops
            .get(index)
            .cloned()
            .unwrap_or_else(|| ClientActor::ops_for(index, self.ops_per_client))
    }

    /// The server client `index` sends its first request to.
    fn first_target(&self, index: usize) -> usize {
        if self.spread_clients {
            index % self.servers
        } else {
            0
        }
    }

    /// How many servers start as voters.
    pub fn initial_voters(&self) -> usize {
        match &self.admin {
            AdminPlan::Change { voters, .. } => *voters,
            AdminPlan::None | AdminPlan::Transfer | AdminPlan::Reset { .. } => self.servers,
        }
    }

    /// Builds the stateright model with every property.
    pub fn into_model(self) -> ConcordModel {
        assert!((1..=5).contains(&self.servers), "1 to 5 servers");
        assert!(self.clients <= 2, "at most 2 clients");
        let server = ServerActor {
            server_count: self.servers,
            options: self.options.clone(),
            persist_mode: self.persist_mode,
            glue: Arc::clone(&self.glue),
            disk_failures: self.disk_failures > 0,
            snapshots: self.snapshots > 0,
            voters: self.initial_voters(),
            admin: self.admin.clone(),
            clock: self.clock,
            partition: self.partition.clone(),
        };
        let servers: Vec<ModelActor> = (0..self.servers)
            .map(|_| ModelActor::Server(server.clone()))
            .collect();
        let clients: Vec<ModelActor> = (0..self.clients)
            .map(|index| {
                ModelActor::Client(ClientActor {
                    index,
                    server_count: self.servers,
                    ops: self.ops_of(index),
                    attempt_variants: self.attempt_variants,
                    first_target: self.first_target(index),
                    read_target: self.read_target.or_else(|| {
                        self.read_elsewhere
                            .then(|| (self.first_target(index) + 1) % self.servers)
                    }),
                    write_target: self.write_target,
                })
            })
            .collect();
        let network = match self.network {
            NetworkKind::Unordered => Network::new_unordered_nonduplicating([]),
            NetworkKind::Duplicating => Network::new_unordered_duplicating([]),
        };
        let lossy = if self.lossy {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        };
        let crashes = self.crashes;
        let history = History {
            linearizability: LinearizabilityTester::new(Register(0)),
            leaders: BTreeSet::new(),
        };
        let model = ActorModel::new(self, history)
            .actors(servers)
            .actors(clients)
            .init_network(network)
            .lossy_network(lossy)
            .max_crashes(crashes)
            .record_msg_out(record_msg_out)
            .record_msg_in(record_msg_in)
            .within_boundary(within_boundary);
        properties::add_all(model)
    }
}

/// Live server states, with their actor index.
pub fn live_servers<'a>(
    cfg: &ModelConfig,
    state: &'a ConcordState,
) -> impl Iterator<Item = &'a ServerState> + Clone + 'a {
    let servers = cfg.servers;
    state
        .actor_states
        .iter()
        .take(servers)
        .enumerate()
        .filter(|(index, _)| !state.crashed[*index])
        .filter_map(|(_, actor)| actor.as_server())
}

/// The bounds that keep the state space finite (VERIFICATION.md §1.6: bound by state,
/// not by depth, so a DFS is exhaustive within them).
fn within_boundary(cfg: &ModelConfig, state: &ConcordState) -> bool {
    // Clients crash only where the configuration says so (a restarted client re-sends
    // its outstanding request as a retry, on the same history thread).
    if !cfg.client_crashes && state.crashed[cfg.servers..].iter().any(|crashed| *crashed) {
        return false;
    }
    let servers_within = state
        .actor_states
        .iter()
        .take(cfg.servers)
        .filter_map(|actor| actor.as_server())
        .all(|server| {
            // Elections count within a configuration epoch (a reset opens a new one).
            server.core.term().elections() <= cfg.max_term
                && server.core.last_log_id().index.0 <= cfg.max_log
                && server.pending.len() <= cfg.max_pending
        });
    if !servers_within {
        return false;
    }
    // Live clocks stay within the skew bound of each other.
    if let Some(clock) = cfg.clock {
        let clocks = live_servers(cfg, state).map(|server| server.durable.counters.clock);
        let (low, high) = clocks.fold((u8::MAX, 0), |(low, high), c| (low.min(c), high.max(c)));
        if high.saturating_sub(low) > clock.max_skew {
            return false;
        }
    }
    // The budgets live in the durable image so that crashes do not refill them.
    let mut totals = Counters::default();
    let mut spent = 0u32;
    for counters in state.actor_storages[..cfg.servers]
        .iter()
        .flatten()
        .filter_map(Storage::as_server)
        .map(|durable| durable.counters)
    {
        spent += u32::from(counters.restarts);
        totals.election_timeouts = totals
            .election_timeouts
            .saturating_add(counters.election_timeouts);
        totals.quorum_checks = totals.quorum_checks.saturating_add(counters.quorum_checks);
        totals.heartbeat_timeouts = totals
            .heartbeat_timeouts
            .saturating_add(counters.heartbeat_timeouts);
        totals.disk_failures = totals.disk_failures.saturating_add(counters.disk_failures);
        totals.snapshots = totals.snapshots.saturating_add(counters.snapshots);
        totals.admin_requests = totals
            .admin_requests
            .saturating_add(counters.admin_requests);
    }
    let down = state.crashed[..cfg.servers].iter().filter(|c| **c).count() as u32;
    if totals.election_timeouts > cfg.max_elections
        || totals.quorum_checks > cfg.max_quorum_checks
        || totals.heartbeat_timeouts > cfg.max_heartbeats
        || totals.disk_failures > cfg.disk_failures
        || totals.snapshots > cfg.snapshots
        || totals.admin_requests > cfg.admin_requests
        || down + spent > cfg.crashes as u32
    {
        return false;
    }
    // Timers fire at will, so a leader could pile up identical heartbeats forever.
    state.network.len() <= cfg.max_in_flight && copies_within(&state.network, cfg.max_copies)
}

fn copies_within(network: &Network<Msg>, max_copies: usize) -> bool {
    match network {
        Network::UnorderedNonDuplicating(multiset) => {
            multiset.values().all(|copies| *copies <= max_copies)
        }
        _ => true,
    }
}

fn record_msg_out(
    cfg: &ModelConfig,
    history: &History,
    envelope: Envelope<&Msg>,
) -> Option<History> {
    match envelope.msg {
        Msg::Request {
            op, retry: false, ..
        } => {
            let mut next = history.clone();
            let op = match op {
                Op::Write(value) => RegisterOp::Write(*value),
                Op::Read => RegisterOp::Read,
            };
            // A malformed history (two operations in flight on one client) makes the
            // tester inconsistent, which the linearizability property reports.
            let _ = next.linearizability.on_invoke(envelope.src, op);
            Some(next)
        }
        Msg::Raft {
            message: message @ (Message::Append(_) | Message::Heartbeat(_)),
            ..
        } if usize::from(envelope.src) < cfg.servers => {
            let leader = (message.term(), ServerId::from_actor_id(envelope.src));
            if history.leaders.contains(&leader) {
                return None;
            }
            let mut next = history.clone();
            next.leaders.insert(leader);
            Some(next)
        }
        _ => None,
    }
}

fn record_msg_in(
    _cfg: &ModelConfig,
    history: &History,
    envelope: Envelope<&Msg>,
) -> Option<History> {
    let ret = match envelope.msg {
        Msg::WriteOk { .. } => RegisterRet::WriteOk,
        Msg::ReadOk { value, .. } => RegisterRet::ReadOk(*value),
        _ => return None,
    };
    let mut next = history.clone();
    let _ = next.linearizability.on_return(envelope.dst, ret);
    Some(next)
}

/// The client states, in client order.
pub fn clients<'a>(
    cfg: &ModelConfig,
    state: &'a ConcordState,
) -> impl Iterator<Item = &'a crate::client::ClientState> + 'a {
    state
        .actor_states
        .iter()
        .skip(cfg.servers)
        .filter_map(|actor| actor.as_client())
}
