//! A deterministic in-memory cluster of `RaftCore<u64>` nodes for tests.
//!
//! Storage is modelled exactly as the core's contract requires: persistence actions
//! queue up in order (the library's `PersistQueue`) and become durable only when the
//! test says so (`persist`), which then reports them with `Input::Persisted`; a crash
//! loses everything not yet durable.
//! Every action is also rendered as a line of text, which the scenario tests compare
//! against golden files.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

use concord::core::*;

/// One message on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub from: u64,
    pub to: u64,
    pub message: Message<u64>,
}

/// A snapshot as the cluster stores it: its metadata and, as the "state machine
/// state", the log ids applied through it (so a restored node's `applied` list goes on
/// from there and State Machine Safety still compares whole histories).
pub type SimSnapshot = (SnapshotMeta<u64>, Vec<LogId>);

/// What survives a crash.
#[derive(Clone, Debug, Default)]
pub struct Durable {
    pub hard_state: HardState<u64>,
    /// Log entries in index order; compaction removes a prefix.
    pub entries: Vec<EntryMeta<u64>>,
    /// The latest snapshot.
    pub snapshot: Option<SimSnapshot>,
}

impl Durable {
    /// The log id at `index`, from the log or (for a compacted entry) the snapshot.
    pub fn log_id_at(&self, index: LogIndex) -> Option<LogId> {
        if let Some(entry) = self.entries.iter().find(|e| e.log_id.index == index) {
            return Some(entry.log_id);
        }
        let (meta, applied) = self.snapshot.as_ref()?;
        if index > meta.last_included.index || index.0 == 0 {
            return None;
        }
        applied.get(index.0 as usize - 1).copied()
    }

    /// The last log id (the snapshot's when the log is empty after it).
    pub fn last_log_id(&self) -> LogId {
        let from_log = self.entries.last().map(|e| e.log_id);
        let from_snapshot = self.snapshot.as_ref().map(|(meta, _)| meta.last_included);
        from_log.max(from_snapshot).unwrap_or(LogId::ZERO)
    }
}

pub struct SimNode {
    pub id: u64,
    pub core: Option<RaftCore<u64>>,
    pub durable: Durable,
    pending: PersistQueue<u64, EntryMeta<u64>>,
    pub timers: BTreeSet<Timer>,
    /// Log ids handed out by `Apply` (or restored from a snapshot), in order.
    pub applied: Vec<LogId>,
    /// A snapshot fetched from a leader and not yet installed.
    pub staged: Option<SimSnapshot>,
}

pub struct Cluster {
    pub nodes: BTreeMap<u64, SimNode>,
    pub network: Vec<Envelope>,
    /// Links that drop messages: (from, to).
    pub cut: BTreeSet<(u64, u64)>,
    pub options: CoreOptions,
    pub configuration: ConfigurationEntry<u64>,
    pub trace: String,
    pub observer: ClusterObserver<u64>,
    next_request: u64,
    /// Proposals accepted: request → log id.
    pub accepted: BTreeMap<RequestId, LogId>,
    /// Whether to render actions into `trace`.
    pub tracing: bool,
    /// The last messages delivered, oldest first (at most `DELIVERED_KEPT`), so a test
    /// can deliver a stale one again (`replay`).
    pub delivered: VecDeque<Envelope>,
    /// Snapshots restored from a leader's (installs carried out), over the run.
    pub restores: usize,
    /// Nodes started outside the cluster, with an empty initial configuration (to be
    /// added by a membership change).
    pub spares: BTreeSet<u64>,
    /// An operator reset some node's peers (`Input::ResetPeers`): the disk properties,
    /// which count quorums of the initial configuration, no longer apply.
    pub reset: bool,
    /// Entries known committed by the history the cluster was started from
    /// (`assume_committed`), checked like the ones nodes are seen committing.
    pub assumed_committed: Vec<LogId>,
    /// The highest commit index any node has reached so far.
    pub max_committed: LogIndex,
    /// Nodes started so far (each start's `CoreOptions::read_id_base`).
    pub incarnations: u64,
    /// Reads issued (`Cluster::read`): the highest index committed anywhere when each
    /// was issued, and its answer once given. An answer below the first is a stale read:
    /// `step` panics.
    pub reads: BTreeMap<RequestId, (LogIndex, Option<Result<LogIndex, String>>)>,
}

/// How many delivered messages `Cluster::delivered` keeps.
pub const DELIVERED_KEPT: usize = 64;

impl Cluster {
    pub fn new(voters: &[u64], learners: &[u64], options: CoreOptions) -> Cluster {
        let configuration = ConfigurationEntry::stable(
            Configuration::new(voters.iter().copied(), learners.iter().copied()).unwrap(),
        );
        let mut cluster = Cluster {
            nodes: BTreeMap::new(),
            network: Vec::new(),
            cut: BTreeSet::new(),
            options,
            configuration,
            trace: String::new(),
            observer: ClusterObserver::new(),
            next_request: 1,
            accepted: BTreeMap::new(),
            tracing: true,
            delivered: VecDeque::new(),
            restores: 0,
            spares: BTreeSet::new(),
            reset: false,
            assumed_committed: Vec::new(),
            max_committed: LogIndex(0),
            incarnations: 0,
            reads: BTreeMap::new(),
        };
        for &id in voters.iter().chain(learners) {
            cluster.start_fresh(id);
        }
        cluster
    }

    /// Starts node `id` on empty storage.
    fn start_fresh(&mut self, id: u64) {
        self.nodes.insert(
            id,
            SimNode {
                id,
                core: None,
                durable: Durable::default(),
                pending: PersistQueue::new(),
                timers: BTreeSet::new(),
                applied: Vec::new(),
                staged: None,
            },
        );
        self.restart(id);
    }

    /// Starts a node outside the cluster: empty storage and an empty initial
    /// configuration, so it neither campaigns nor counts until a leader adds it.
    pub fn add_spare(&mut self, id: u64) {
        self.spares.insert(id);
        self.start_fresh(id);
    }

    /// Asks `id` for a membership change; returns the request id.
    pub fn change_membership(&mut self, id: u64, change: MembershipChange<u64>) -> RequestId {
        let request = RequestId(self.next_request);
        self.next_request += 1;
        self.line(format!("{id}: change membership {change:?}"));
        self.step(
            id,
            Input::ChangeMembership {
                id: request,
                change,
            },
        );
        request
    }

    /// Forces `id`'s configuration to `voters` (`Input::ResetPeers`).
    pub fn reset_peers(&mut self, id: u64, voters: &[u64]) -> RequestId {
        let request = RequestId(self.next_request);
        self.next_request += 1;
        self.reset = true;
        self.line(format!("{id}: reset peers to {voters:?}"));
        let configuration = Configuration::with_voters(voters.iter().copied());
        self.step(
            id,
            Input::ResetPeers {
                id: request,
                configuration,
            },
        );
        request
    }

    /// Asks `id` to hand leadership to `to` (any voter with `None`).
    pub fn transfer(&mut self, id: u64, to: Option<u64>) -> RequestId {
        let request = RequestId(self.next_request);
        self.next_request += 1;
        self.line(format!("{id}: transfer leadership to {}", opt(to.as_ref())));
        self.step(id, Input::TransferLeadership { id: request, to });
        request
    }

    fn line(&mut self, text: impl AsRef<str>) {
        if self.tracing {
            self.trace.push_str(text.as_ref());
            self.trace.push('\n');
        }
    }

    /// Replaces a node's durable state (term, vote, log terms) and restarts it.
    pub fn set_durable(&mut self, id: u64, term: u64, vote: Option<u64>, log_terms: &[u64]) {
        let entries = log_terms
            .iter()
            .enumerate()
            .map(|(i, &t)| EntryMeta {
                log_id: LogId::new(t, i as u64 + 1),
                kind: EntryKind::Normal,
                size_bytes: 1,
            })
            .collect();
        let node = self.nodes.get_mut(&id).expect("unknown node");
        node.durable = Durable {
            hard_state: HardState {
                term: Term(term),
                voted_for: vote,
                reset: None,
            },
            entries,
            snapshot: None,
        };
        node.applied.clear();
        self.crash(id);
        self.restart(id);
    }

    /// Declares `log_id` committed by a leader of `term` in a history the cluster was
    /// started from (`set_durable`): no live node remembers committing it (the commit
    /// index is volatile), but it must stay durable on a quorum, every later leader must
    /// hold it, and no node may commit another entry at its index.
    pub fn assume_committed(&mut self, log_id: LogId, term: u64) {
        self.observer.assume_committed(log_id, Term(term));
        self.assumed_committed.push(log_id);
        // A read issued from now on must not be answered below it.
        self.max_committed = self.max_committed.max(log_id.index);
    }

    pub fn is_up(&self, id: u64) -> bool {
        self.nodes.get(&id).is_some_and(|node| node.core.is_some())
    }

    pub fn core(&self, id: u64) -> &RaftCore<u64> {
        self.nodes[&id].core.as_ref().expect("node is down")
    }

    pub fn crash(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).expect("unknown node");
        node.core = None;
        node.pending.clear();
        node.timers.clear();
        node.applied.clear();
        node.staged = None;
        self.line(format!("{id}: crashed"));
    }

    /// The node's disk fails: what it had not made durable is gone (and the messages
    /// waiting for it never leave), and the core is told (`Input::Fail`).
    pub fn fail(&mut self, id: u64) {
        if !self.is_up(id) {
            return;
        }
        self.nodes.get_mut(&id).unwrap().pending.clear();
        self.line(format!("{id}: disk fails"));
        self.step(id, Input::Fail);
    }

    pub fn restart(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).expect("unknown node");
        let restored = Restored {
            hard_state: node.durable.hard_state.clone(),
            snapshot: node.durable.snapshot.as_ref().map(|(meta, _)| meta.clone()),
            entries: node.durable.entries.clone(),
            initial_configuration: if self.spares.contains(&id) {
                ConfigurationEntry::stable(Configuration::default())
            } else {
                self.configuration.clone()
            },
        };
        // The state machine starts from the snapshot.
        node.applied = node
            .durable
            .snapshot
            .as_ref()
            .map_or_else(Vec::new, |(_, applied)| applied.clone());
        // Every start numbers its forwarded reads apart from the ones before.
        self.incarnations += 1;
        let options = CoreOptions {
            read_id_base: self.incarnations * 1_000_000,
            ..self.options.clone()
        };
        let mut core = RaftCore::new(id, options, restored).expect("restore");
        let actions = core.start();
        node.core = Some(core);
        self.execute(id, actions);
    }

    /// Steps one input on a live node and executes the resulting actions.
    pub fn step(&mut self, id: u64, input: Input<u64>) {
        let Some(core) = self.nodes.get_mut(&id).and_then(|n| n.core.as_mut()) else {
            return;
        };
        let actions = core.step(input);
        self.max_committed = self.max_committed.max(core.commit_index());
        self.execute(id, actions);
        if let Some(core) = &self.nodes[&id].core {
            if let Err(violation) = core.check_invariants() {
                panic!("{violation}\n--- trace ---\n{}", self.trace);
            }
        }
    }

    fn execute(&mut self, id: u64, actions: Vec<Action<u64>>) {
        let mut applied_through = None;
        let mut follow_ups = Vec::new();
        for action in actions {
            self.line(format!("  {id}: {}", render_action(&action)));
            let node = self.nodes.get_mut(&id).unwrap();
            let Some(action) = node
                .pending
                .offer(action, Ok::<_, std::convert::Infallible>)
                .unwrap_or_else(|never| match never {})
            else {
                continue;
            };
            match action {
                Action::Send { to, message } => self.network.push(Envelope {
                    from: id,
                    to,
                    message,
                }),
                Action::ResetTimer(timer) => {
                    node.timers.insert(timer);
                }
                Action::CancelTimer(timer) => {
                    node.timers.remove(&timer);
                }
                Action::Apply { entries } => {
                    node.applied.extend(entries.iter().map(|meta| meta.log_id));
                    applied_through = entries.last().map(|meta| meta.log_id.index);
                }
                Action::ProposalAccepted {
                    id: request,
                    log_id,
                } => {
                    self.accepted.insert(request, log_id);
                }
                Action::ReadReady { ids, result } => {
                    for read in ids {
                        let Some((required, answer)) = self.reads.get_mut(&read) else {
                            continue;
                        };
                        if let Ok(index) = result {
                            assert!(
                                index >= *required,
                                "stale read: {read} answered at {index} on {id}, but {required} \
                                 was committed before it was issued\n--- trace ---\n{}",
                                self.trace
                            );
                        }
                        *answer = Some(result.clone().map_err(|e| e.to_string()));
                    }
                }
                Action::ProposalRejected { .. }
                | Action::RoleChanged { .. }
                | Action::MembershipChanged { .. }
                | Action::TransferDone { .. } => {}
                Action::TakeSnapshot { meta } => {
                    // Saved at once, atomically: what the state machine applied, which the
                    // contract makes exactly the entries through `meta.last_included`
                    // (not asserted: a core asking elsewhere gets a snapshot whose record
                    // disagrees with its metadata, and the properties report it).
                    let newer = node
                        .durable
                        .snapshot
                        .as_ref()
                        .is_none_or(|(old, _)| old.last_included < meta.last_included);
                    if newer {
                        node.durable.snapshot = Some((meta.clone(), node.applied.clone()));
                    }
                    follow_ups.push(Input::SnapshotSaved {
                        last_included: meta.last_included,
                        saved: true,
                    });
                }
                Action::CompactLog { through, .. } => {
                    node.durable.entries.retain(|e| e.log_id.index > through);
                }
                Action::FetchSnapshot { from, meta } => {
                    // Fetched at once from the leader's durable snapshot, if it still
                    // is the one asked for.
                    let found = self
                        .nodes
                        .get(&from)
                        .and_then(|leader| leader.durable.snapshot.clone())
                        .filter(|(held, _)| *held == meta);
                    let fetched = found.is_some();
                    self.nodes.get_mut(&id).unwrap().staged = found;
                    self.line(format!("  {id}: fetched={fetched}"));
                    follow_ups.push(Input::SnapshotFetched {
                        last_included: meta.last_included,
                        fetched,
                    });
                }
                Action::RestoreSnapshot { meta } => {
                    let (held, applied) = node
                        .durable
                        .snapshot
                        .clone()
                        .expect("restore of a snapshot never installed");
                    assert_eq!(
                        held, meta,
                        "restore of another snapshot than the durable one"
                    );
                    node.applied = applied;
                    self.restores += 1;
                }
                Action::SaveHardState { .. }
                | Action::TruncateLog { .. }
                | Action::AppendLog { .. }
                | Action::InstallSnapshot { .. } => unreachable!("queued by `offer`"),
            }
        }
        // The cluster's state machine applies at once; it reports so without a line of
        // its own (the core hands out more only past `max_apply_ahead`).
        if let Some(index) = applied_through {
            let core = self.nodes.get_mut(&id).and_then(|n| n.core.as_mut());
            if let Some(core) = core {
                let actions = core.step(Input::Applied { index });
                self.execute(id, actions);
            }
        }
        // Reports of work done at once (snapshot saved or fetched), after the step.
        for input in follow_ups {
            let core = self.nodes.get_mut(&id).and_then(|n| n.core.as_mut());
            if let Some(core) = core {
                let actions = core.step(input);
                self.execute(id, actions);
            }
        }
    }

    /// Makes the oldest `limit` queued writes of `id` durable, one at a time and each
    /// reported on its own (all of them, with one report, if None).
    pub fn persist(&mut self, id: u64, limit: Option<usize>) -> bool {
        let mut done = 0;
        let mut any = false;
        loop {
            if limit.is_some_and(|l| done >= l) {
                break;
            }
            let node = self.nodes.get_mut(&id).unwrap();
            if node.core.is_none() {
                break;
            }
            let flush = match limit {
                Some(_) => node.pending.take_oldest(),
                None => node.pending.take_all(),
            };
            let Some(flush) = flush else {
                break;
            };
            done += flush.writes.len();
            any = true;
            for write in flush.writes.iter().cloned() {
                match write {
                    Write::HardState(hard_state) => node.durable.hard_state = hard_state,
                    Write::Truncate(from) => node.durable.entries.retain(|e| e.log_id.index < from),
                    Write::Append(entries) => node.durable.entries.extend(entries),
                    Write::InstallSnapshot(meta) => {
                        let staged = node.staged.take().expect("install of nothing fetched");
                        assert_eq!(staged.0, meta, "install of another snapshot than fetched");
                        let newer = node.durable.snapshot.as_ref().is_none_or(|(held, _)| {
                            held.last_included.index < meta.last_included.index
                        });
                        if newer {
                            node.durable.snapshot = Some(staged);
                        }
                    }
                }
            }
            self.line(format!("{id}: persisted through {}", flush.seq));
            self.step(id, flush.persisted());
        }
        any
    }

    pub fn persist_all(&mut self) -> bool {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        let mut any = false;
        for id in ids {
            any |= self.persist(id, None);
        }
        any
    }

    pub fn pending_count(&self, id: u64) -> usize {
        self.nodes[&id].pending.len()
    }

    /// Delivers (or drops, if the link is cut or the receiver is down) the message at
    /// `position` in the network.
    pub fn deliver_at(&mut self, position: usize) {
        let envelope = self.network.remove(position);
        if self.cut.contains(&(envelope.from, envelope.to)) || !self.is_up(envelope.to) {
            self.line(format!(
                "dropped {} -> {} {}",
                envelope.from, envelope.to, envelope.message
            ));
            return;
        }
        self.line(format!(
            "{} -> {} {}",
            envelope.from, envelope.to, envelope.message
        ));
        if self.delivered.len() == DELIVERED_KEPT {
            self.delivered.pop_front();
        }
        self.delivered.push_back(envelope.clone());
        self.step(
            envelope.to,
            Input::Message {
                from: envelope.from,
                message: envelope.message,
            },
        );
    }

    /// Delivers again a message that was delivered before (number `i` modulo those
    /// kept): a stale duplicate, possibly from an older term, arriving late.
    pub fn replay(&mut self, i: usize) {
        if self.delivered.is_empty() {
            return;
        }
        let envelope = self.delivered[i % self.delivered.len()].clone();
        self.network.push(envelope);
        let last = self.network.len() - 1;
        self.deliver_at(last);
    }

    /// Delivers every message currently in flight that matches the filter (messages
    /// sent as a result are not included).
    pub fn deliver_matching(&mut self, filter: impl Fn(&Envelope) -> bool) -> usize {
        let mut batch: Vec<Envelope> = Vec::new();
        let mut kept = Vec::new();
        for envelope in self.network.drain(..) {
            if filter(&envelope) {
                batch.push(envelope);
            } else {
                kept.push(envelope);
            }
        }
        self.network = kept;
        let count = batch.len();
        for envelope in batch {
            self.network.insert(0, envelope);
            self.deliver_at(0);
        }
        count
    }

    pub fn drop_matching(&mut self, filter: impl Fn(&Envelope) -> bool) -> usize {
        let before = self.network.len();
        let mut dropped = Vec::new();
        self.network.retain(|e| {
            if filter(e) {
                dropped.push(format!("dropped {} -> {} {}", e.from, e.to, e.message));
                false
            } else {
                true
            }
        });
        for line in dropped {
            self.line(line);
        }
        before - self.network.len()
    }

    /// Persists everything and delivers everything until the cluster is quiet.
    pub fn stabilize(&mut self) {
        for _ in 0..10_000 {
            let persisted = self.persist_all();
            let delivered = self.deliver_matching(|_| true);
            if !persisted && delivered == 0 {
                return;
            }
        }
        panic!("stabilize did not converge\n{}", self.trace);
    }

    pub fn fire(&mut self, id: u64, timer: Timer) {
        if !self.is_up(id) {
            return;
        }
        self.nodes.get_mut(&id).unwrap().timers.remove(&timer);
        self.line(format!("{id}: {timer:?} timer fires"));
        self.step(id, Input::Timeout(timer));
    }

    pub fn propose(
        &mut self,
        id: u64,
        count: usize,
        expected_term: Option<Term>,
    ) -> Vec<RequestId> {
        let proposals: Vec<Proposal> = (0..count)
            .map(|_| {
                let request = RequestId(self.next_request);
                self.next_request += 1;
                Proposal {
                    id: request,
                    size_bytes: 1,
                    expected_term,
                }
            })
            .collect();
        let ids = proposals.iter().map(|p| p.id).collect();
        self.line(format!("{id}: propose {count}"));
        self.step(id, Input::Propose(proposals));
        ids
    }

    /// Issues `count` reads on `id` (`lease_now`: a lease read at that time).
    pub fn read(&mut self, id: u64, count: usize, lease_now: Option<u64>) -> Vec<RequestId> {
        let ids: Vec<RequestId> = (0..count)
            .map(|_| {
                let request = RequestId(self.next_request);
                self.next_request += 1;
                request
            })
            .collect();
        for read in &ids {
            self.reads.insert(*read, (self.max_committed, None));
        }
        match lease_now {
            Some(now) => self.line(format!("{id}: read {count} lease now={now}")),
            None => self.line(format!("{id}: read {count}")),
        }
        self.step(
            id,
            Input::ReadIndex {
                ids: ids.clone(),
                lease_now,
            },
        );
        ids
    }

    pub fn isolate(&mut self, id: u64) {
        let others: Vec<u64> = self.nodes.keys().copied().filter(|&o| o != id).collect();
        for other in others {
            self.cut.insert((id, other));
            self.cut.insert((other, id));
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    pub fn leaders(&self) -> Vec<u64> {
        self.nodes
            .values()
            .filter_map(|n| n.core.as_ref())
            .filter(|c| c.is_leader())
            .map(|c| *c.id())
            .collect()
    }

    /// Runs the global property checks over the live nodes, and the properties that
    /// also need the durable images (see `check_durable_properties`).
    pub fn observe(&mut self) {
        let live: Vec<&RaftCore<u64>> = self
            .nodes
            .values()
            .filter_map(|n| n.core.as_ref())
            .collect();
        if let Err(violation) = self.observer.observe(live) {
            panic!("{violation}\n--- trace ---\n{}", self.trace);
        }
        if let Err(violation) = self.check_durable_properties() {
            panic!("{violation}\n--- trace ---\n{}", self.trace);
        }
    }

    /// The two properties of the model checker that look at disks (model/src/properties.rs
    /// has the reasoning):
    ///
    /// - every entry a live node knows committed is durable on a quorum of voters;
    /// - no log a node could campaign with (its live log, or its durable log after a
    ///   crash) lacks a committed entry while a quorum of voters, judging by their
    ///   durable logs, would find it up to date.
    pub fn check_durable_properties(&self) -> Result<(), String> {
        if self.reset {
            return Ok(());
        }
        let voters: Vec<u64> = self
            .configuration
            .current
            .voters()
            .iter()
            .copied()
            .collect();
        let quorum = voters.len() / 2 + 1;
        let mut committed: Vec<LogId> = Vec::new();
        for core in self.nodes.values().filter_map(|n| n.core.as_ref()) {
            let mut index = core.log_start().index.next();
            while index <= core.commit_index() {
                if let Some(term) = core.term_at(index) {
                    committed.push(LogId { term, index });
                }
                index = index.next();
            }
        }
        committed.extend(self.assumed_committed.iter().copied());
        // Entries compacted into a snapshot were committed too.
        for node in self.nodes.values().filter(|n| n.core.is_some()) {
            if let Some((_, applied)) = &node.durable.snapshot {
                committed.extend(applied.iter().copied());
            }
        }
        committed.sort();
        committed.dedup();
        if committed.is_empty() {
            return Ok(());
        }
        let durable_holds =
            |durable: &Durable, log_id: LogId| durable.log_id_at(log_id.index) == Some(log_id);
        let durable_last = |durable: &Durable| durable.last_log_id();
        for log_id in &committed {
            let holders = voters
                .iter()
                .filter(|v| durable_holds(&self.nodes[v].durable, *log_id))
                .count();
            if holders < quorum {
                return Err(format!(
                    "committed entry {log_id} is durable on {holders} voters, fewer than a quorum\n{}",
                    self.status()
                ));
            }
        }
        let voter_lasts: Vec<LogId> = voters
            .iter()
            .map(|v| durable_last(&self.nodes[v].durable))
            .collect();
        let electable = |last: LogId| voter_lasts.iter().filter(|v| last >= **v).count() >= quorum;
        for node in self.nodes.values() {
            if !voters.contains(&node.id) {
                continue;
            }
            if let Some(core) = &node.core {
                let lacks = committed.iter().find(|c| {
                    c.index > core.log_start().index && core.term_at(c.index) != Some(c.term)
                        || c.index <= core.log_start().index
                            && node.durable.log_id_at(c.index) != Some(**c)
                });
                if let Some(missing) = lacks {
                    if electable(core.last_log_id()) {
                        return Err(format!(
                            "{} could be elected with its live log (last {}) but lacks committed {missing}\n{}",
                            node.id,
                            core.last_log_id(),
                            self.status()
                        ));
                    }
                }
            }
            let lacks = committed
                .iter()
                .find(|c| !durable_holds(&node.durable, **c));
            if let Some(missing) = lacks {
                if electable(durable_last(&node.durable)) {
                    return Err(format!(
                        "{} could be elected with its durable log (last {}) but lacks committed {missing}\n{}",
                        node.id,
                        durable_last(&node.durable),
                        self.status()
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn status(&self) -> String {
        let mut out = String::new();
        for node in self.nodes.values() {
            match &node.core {
                None => writeln!(out, "{}: down", node.id).unwrap(),
                Some(core) => writeln!(
                    out,
                    "{}: {} term={} vote={} leader={} commit={} persisted={} last={} log: {}",
                    node.id,
                    core.role(),
                    core.term(),
                    opt(core.voted_for()),
                    opt(core.leader()),
                    core.commit_index(),
                    core.persisted_index(),
                    core.last_log_id(),
                    core.describe_log()
                )
                .unwrap(),
            }
            if let Some(core) = &node.core {
                if let Some(meta) = core.snapshot() {
                    // Only nodes with a snapshot: the other scenarios read as before.
                    let durable: Vec<String> = node
                        .durable
                        .entries
                        .iter()
                        .map(|e| e.log_id.to_string())
                        .collect();
                    writeln!(
                        out,
                        "   snapshot={} log-start={} applied-through={} durable-log=[{}]",
                        meta.last_included,
                        core.log_start(),
                        node.applied.last().copied().unwrap_or(LogId::ZERO),
                        durable.join(" ")
                    )
                    .unwrap();
                }
            }
        }
        out
    }
}

fn opt(value: Option<&u64>) -> String {
    value.map_or("-".into(), |v| v.to_string())
}

pub fn render_action(action: &Action<u64>) -> String {
    match action {
        Action::SaveHardState { seq, hard_state } => {
            let reset = match &hard_state.reset {
                Some(reset) => format!(" reset=e{}:{}", reset.epoch, reset.configuration),
                None => String::new(),
            };
            format!(
                "SaveHardState {seq} term={} vote={}{reset}",
                hard_state.term,
                hard_state.voted_for.map_or("-".into(), |v| v.to_string()),
            )
        }
        Action::TruncateLog { seq, from, epoch } => {
            format!("TruncateLog {seq} from={from} epoch={}", epoch.0)
        }
        Action::AppendLog { seq, entries, .. } => {
            let ids: Vec<String> = entries.iter().map(|e| e.log_id.to_string()).collect();
            format!("AppendLog {seq} [{}]", ids.join(" "))
        }
        Action::Send { to, message } => format!("Send {to} {message}"),
        Action::ResetTimer(timer) => format!("ResetTimer {timer:?}"),
        Action::CancelTimer(timer) => format!("CancelTimer {timer:?}"),
        Action::ProposalAccepted { id, log_id } => format!("ProposalAccepted {id} at {log_id}"),
        Action::ProposalRejected { id, error } => format!("ProposalRejected {id}: {error}"),
        Action::Apply { entries } => match (entries.first(), entries.last()) {
            (Some(first), Some(last)) => {
                format!("Apply {}..={}", first.log_id.index, last.log_id.index)
            }
            _ => "Apply (nothing)".into(),
        },
        Action::RoleChanged {
            role,
            term,
            leader,
            commit_index,
        } => format!(
            "RoleChanged {role} term={term} leader={} commit={commit_index}",
            leader.map_or("-".into(), |l| l.to_string())
        ),
        Action::MembershipChanged { id, result } => match result {
            Ok(configuration) => format!("MembershipChanged {id} ok {configuration}"),
            Err(error) => format!("MembershipChanged {id} failed: {error}"),
        },
        Action::TransferDone { id, result } => match result {
            Ok(target) => format!("TransferDone {id} ok to={target}"),
            Err(error) => format!("TransferDone {id} failed: {error}"),
        },
        Action::ReadReady { ids, result } => {
            let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
            match result {
                Ok(index) => format!("ReadReady {} at {index}", ids.join(",")),
                Err(error) => format!("ReadReady {} failed: {error}", ids.join(",")),
            }
        }
        Action::TakeSnapshot { meta } => format!("TakeSnapshot last={}", meta.last_included),
        // The snapshot is left out: the golden scenarios predate it, and it is the
        // snapshot the same step reported saved or installed (named there).
        Action::CompactLog { through, .. } => format!("CompactLog through={through}"),
        Action::FetchSnapshot { from, meta } => {
            format!("FetchSnapshot from={from} last={}", meta.last_included)
        }
        Action::InstallSnapshot { seq, meta } => {
            format!("InstallSnapshot {seq} last={}", meta.last_included)
        }
        Action::RestoreSnapshot { meta } => format!("RestoreSnapshot last={}", meta.last_included),
    }
}
