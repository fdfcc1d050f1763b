//! Linearizable reads without a log write (F18, F19): ReadIndex (Raft dissertation
//! §6.4), follower and learner reads (§6.4.1), and lease reads.
//!
//! **ReadIndex.** A read arriving at the leader takes the commit index as its read
//! index — but only once the leader has committed an entry of its own term (until then
//! its commit index may lag what an earlier leader committed; such reads wait). Then
//! the leader confirms it still leads: it starts a *round*, numbered, carried by
//! heartbeats to every member and echoed in their answers; once a quorum (joint during a
//! change) has answered the round or a later one, no newer leader can have committed
//! anything before the round started, and every read assigned to the round is answered
//! with its index. One round is in flight at a time: reads arriving meanwhile wait for
//! the next, which starts when the current one is confirmed or at the next heartbeat —
//! one round serves every read that arrived before it. Reads that take a round are
//! answered in arrival order (lease reads and refusals are answered at once).
//!
//! **Follower reads.** A follower or learner forwards reads to the leader it follows
//! (`Message::ReadIndex`, numbered), which treats them like its own and answers with the
//! index; the follower answers its reads with it, and the executor serves them once the
//! follower has applied through it. The follower gives its forwarded reads up
//! (`LeadershipLost`) when its term or leader changes or its election timer fires, and
//! as `AnswerLost` when the answer to a later request arrives first.
//!
//! **Lease reads.** A confirmed round whose reads carried `lease_now` (the caller's
//! monotonic time) gives the leader a lease until `lease_now + cover`: lease reads
//! before then are answered at once with the commit index. Safe because every voter
//! that answered the round reset its election timer on the heartbeat (received after
//! `lease_now`) and refuses votes until that timer fires (F24), a voter restarted with
//! a term refuses votes until its first timeout (`vote_guard`), and each voter's `read_lease`
//! is shorter than its election timeout by the clock drift (`CoreOptions::read_lease`).
//! Each answer carries its sender's `read_lease` (`lease_cover`, 0 for a node without
//! leases, which promises no refusal), and `cover` is the most a quorum of the round's
//! answers covers (the leader's own part being its `read_lease`): so the lease rests only
//! on voters that promised it, whatever options the others run with. The lease
//! is dropped when the configuration changes (new voters promised nothing) and for the
//! rest of the term once a leadership transfer starts (its target campaigns past the
//! voters' refusal, and a late `TimeoutNow` may still make it do so).

use std::collections::{BTreeMap, VecDeque};

use super::error::ReadIndexError;
use super::io::Action;
use super::message::{Heartbeat, Message, ReadIndexRequest, ReadIndexResponse, ReadIndexResult};
use super::quorum::joint_index;
use super::raft::RaftCore;
use super::types::{LogIndex, NodeId, RequestId, Term};
use super::view::LeaderView;

/// Who asked for a read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ReadOrigin<N: NodeId> {
    /// `Input::ReadIndex` on this node.
    Local(Vec<RequestId>),
    /// A follower's `Message::ReadIndex`.
    Remote { from: N, id: u64 },
}

impl<N: NodeId> ReadOrigin<N> {
    fn count(&self) -> u64 {
        match self {
            ReadOrigin::Local(ids) => ids.len() as u64,
            ReadOrigin::Remote { .. } => 1,
        }
    }

    fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        match self {
            ReadOrigin::Local(ids) => ReadOrigin::Local(ids.clone()),
            ReadOrigin::Remote { from, id } => ReadOrigin::Remote {
                from: rename(from),
                id: *id,
            },
        }
    }
}

/// A read answered at once, and its answer.
type ReadAnswer<N> = (ReadOrigin<N>, Result<LogIndex, ReadIndexError<N>>);

/// A read waiting on the leader.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PendingRead<N: NodeId> {
    origin: ReadOrigin<N>,
    /// The commit index when it arrived; `None` while the leader has committed no entry
    /// of its term (then the commit index when that happens).
    index: Option<LogIndex>,
    /// The round that confirms it; 0 until one starts after it got its index.
    round: u64,
    /// The caller's time, for a lease read.
    lease_now: Option<u64>,
}

/// A leader's reads. Invariants: `confirmed <= round`; along `waiting`, reads without
/// an index come first, and rounds never decrease except that unstarted reads (round
/// 0) come last; `count` is the number of read ids in `waiting`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LeaderReads<N: NodeId> {
    /// The latest round started (0: none yet this term).
    round: u64,
    /// The latest round a quorum has answered.
    confirmed: u64,
    /// The latest round each member answered, and the lease that answer covers
    /// (`HeartbeatResponse::lease_cover`).
    acked: BTreeMap<N, (u64, u64)>,
    waiting: VecDeque<PendingRead<N>>,
    count: u64,
    /// Lease reads are answered at once while their time is before this.
    lease_until: Option<u64>,
    /// A leadership transfer started this term: no lease until the term ends.
    lease_off: bool,
}

impl<N: NodeId> Default for LeaderReads<N> {
    fn default() -> Self {
        LeaderReads {
            round: 0,
            confirmed: 0,
            acked: BTreeMap::new(),
            waiting: VecDeque::new(),
            count: 0,
            lease_until: None,
            lease_off: false,
        }
    }
}

impl<N: NodeId> LeaderReads<N> {
    /// Reads waiting, in ids.
    pub(crate) fn waiting(&self) -> u64 {
        self.count
    }

    /// Whether the lease holds at `now`.
    pub(crate) fn lease_holds(&self, now: u64) -> bool {
        !self.lease_off && self.lease_until.is_some_and(|until| now < until)
    }

    /// Drops the lease (a configuration change).
    pub(crate) fn drop_lease(&mut self) {
        self.lease_until = None;
    }

    /// Drops the lease for the rest of the term (a leadership transfer started).
    pub(crate) fn disable_lease(&mut self) {
        self.lease_until = None;
        self.lease_off = true;
    }

    /// Whether a round is due: reads wait with an index and no round, and no round is
    /// in flight.
    fn round_due(&self) -> bool {
        let unstarted = self
            .waiting
            .back()
            .is_some_and(|read| read.index.is_some() && read.round == 0);
        unstarted && self.confirmed == self.round
    }

    /// Starts a new round for the reads that have an index and none yet; `false` (and
    /// nothing changes) when there are none.
    fn begin_round(&mut self) -> bool {
        if !self
            .waiting
            .back()
            .is_some_and(|read| read.index.is_some() && read.round == 0)
        {
            return false;
        }
        self.round += 1;
        let round = self.round;
        for read in self.waiting.iter_mut().rev() {
            if read.round != 0 || read.index.is_none() {
                break;
            }
            read.round = round;
        }
        true
    }

    /// `from` answered `round`, covering a lease of `lease_cover`; `true` when that is
    /// news (a round started and later than the last it answered).
    fn acked(&mut self, from: &N, round: u64, lease_cover: u64) -> bool {
        if round == 0 || round > self.round {
            return false;
        }
        let acked = self.acked.entry(from.clone()).or_insert((0, 0));
        if acked.0 >= round {
            return false;
        }
        *acked = (round, lease_cover);
        true
    }

    /// Takes every waiting read out (the leader stops leading).
    fn take_waiting(&mut self) -> VecDeque<PendingRead<N>> {
        self.count = 0;
        std::mem::take(&mut self.waiting)
    }

    pub(crate) fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        LeaderReads {
            round: self.round,
            confirmed: self.confirmed,
            acked: self.acked.iter().map(|(n, r)| (rename(n), *r)).collect(),
            waiting: self
                .waiting
                .iter()
                .map(|read| PendingRead {
                    origin: read.origin.relabel(rename),
                    index: read.index,
                    round: read.round,
                    lease_now: read.lease_now,
                })
                .collect(),
            count: self.count,
            lease_until: self.lease_until,
            lease_off: self.lease_off,
        }
    }
}

/// A follower's reads forwarded to its leader, in the order sent (ids are unique for
/// the node's lifetime: `CoreOptions::read_id_base`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ForwardedReads<N: NodeId> {
    /// The leader asked, and its term.
    to: Option<(N, Term)>,
    /// The id of the last request sent.
    last_id: u64,
    /// Each request: its id, the reads it carries, and the heartbeats heard from the
    /// leader since it was sent.
    waiting: VecDeque<(u64, Vec<RequestId>, u32)>,
    count: u64,
}

/// Heartbeats from the leader after which a forwarded read still unanswered is given up
/// (`AnswerLost`): the request or its answer was lost (a dropped frame, a reconnect).
/// The leader answers within a round or two, and a round is a heartbeat exchange.
pub(crate) const FORWARDED_READ_PATIENCE: u32 = 32;

impl<N: NodeId> Default for ForwardedReads<N> {
    fn default() -> Self {
        ForwardedReads {
            to: None,
            last_id: 0,
            waiting: VecDeque::new(),
            count: 0,
        }
    }
}

impl<N: NodeId> ForwardedReads<N> {
    /// Numbering its requests after `base` (`CoreOptions::read_id_base`).
    pub(crate) fn starting_at(base: u64) -> Self {
        ForwardedReads {
            last_id: base,
            ..ForwardedReads::default()
        }
    }

    pub(crate) fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        ForwardedReads {
            to: self.to.as_ref().map(|(n, t)| (rename(n), *t)),
            last_id: self.last_id,
            waiting: self.waiting.clone(),
            count: self.count,
        }
    }

    /// Reads waiting for the leader's answer, in ids.
    pub(crate) fn waiting(&self) -> u64 {
        self.count
    }
}

impl<N: NodeId> RaftCore<N> {
    /// `Input::ReadIndex`.
    pub(crate) fn handle_read_index(&mut self, ids: Vec<RequestId>, lease_now: Option<u64>) {
        if ids.is_empty() {
            return;
        }
        if self.is_leader() {
            self.register_read(ReadOrigin::Local(ids), lease_now);
            return;
        }
        let leader = match &self.leader {
            Some(leader) if *leader != self.id => leader.clone(),
            _ => {
                self.push(Action::ReadReady {
                    ids,
                    result: Err(ReadIndexError::NotLeader { leader_hint: None }),
                });
                return;
            }
        };
        let count = ids.len() as u64;
        if self.forwarded.count.saturating_add(count) > self.options.max_pending_reads {
            self.push(Action::ReadReady {
                ids,
                result: Err(ReadIndexError::Overloaded),
            });
            return;
        }
        let term = self.term;
        if self.forwarded.to.as_ref() != Some(&(leader.clone(), term)) {
            self.fail_forwarded_reads(ReadIndexError::LeadershipLost);
            self.forwarded.to = Some((leader.clone(), term));
        }
        self.forwarded.last_id = self.forwarded.last_id.wrapping_add(1);
        let id = self.forwarded.last_id;
        self.forwarded.waiting.push_back((id, ids, 0));
        self.forwarded.count += count;
        self.send(leader, Message::ReadIndex(ReadIndexRequest { term, id }));
    }

    /// A follower's `ReadIndex` in our term.
    pub(crate) fn handle_read_index_request(&mut self, from: N, request: ReadIndexRequest) {
        // Only members are served (a removed node would wait for entries it never gets).
        if self.is_leader() && self.configuration().all_members().contains(&from) {
            self.register_read(
                ReadOrigin::Remote {
                    from,
                    id: request.id,
                },
                None,
            );
        } else {
            let response = ReadIndexResponse {
                term: self.term,
                id: request.id,
                result: ReadIndexResult::NotLeader,
            };
            self.send(from, Message::ReadIndexResponse(response));
        }
    }

    /// The leader's answer to a read we forwarded, in our term.
    pub(crate) fn handle_read_index_response(&mut self, from: N, response: ReadIndexResponse) {
        if self.forwarded.to.as_ref() != Some(&(from, response.term)) {
            return; // not the leader we asked, or not in this term
        }
        // Not one we wait for: answered already (a duplicate), or sent by an earlier
        // incarnation of this node.
        let Some(position) = self
            .forwarded
            .waiting
            .iter()
            .position(|(id, _, _)| *id == response.id)
        else {
            return;
        };
        if !matches!(response.result, ReadIndexResult::Ready(_)) {
            // A refusal may overtake the answers to earlier reads (the leader refuses at
            // once): it answers this read alone.
            let Some((_, ids, _)) = self.forwarded.waiting.remove(position) else {
                return;
            };
            self.forwarded.count -= ids.len() as u64;
            let error = match response.result {
                ReadIndexResult::Overloaded => ReadIndexError::Overloaded,
                ReadIndexResult::NotLeader | ReadIndexResult::Ready(_) => {
                    ReadIndexError::NotLeader {
                        leader_hint: self.leader.clone(),
                    }
                }
            };
            self.push(Action::ReadReady {
                ids,
                result: Err(error),
            });
            return;
        }
        for _ in 0..=position {
            let Some((id, ids, _)) = self.forwarded.waiting.pop_front() else {
                return;
            };
            self.forwarded.count -= ids.len() as u64;
            let result = if id != response.id {
                // The leader answers in order: this one's answer was lost.
                Err(ReadIndexError::AnswerLost)
            } else {
                match response.result {
                    ReadIndexResult::Ready(index) => Ok(index),
                    ReadIndexResult::NotLeader => Err(ReadIndexError::NotLeader {
                        leader_hint: self.leader.clone(),
                    }),
                    ReadIndexResult::Overloaded => Err(ReadIndexError::Overloaded),
                }
            };
            self.push(Action::ReadReady { ids, result });
        }
    }

    /// The leader we follow sent a heartbeat: forwarded reads that waited
    /// `FORWARDED_READ_PATIENCE` heartbeats are given up (their request or answer was
    /// lost), so none waits for ever on a leader that stays.
    pub(crate) fn forwarded_reads_heard_leader(&mut self, from: &N) {
        if self.forwarded.to.as_ref().map(|(leader, _)| leader) != Some(from) {
            return;
        }
        for entry in self.forwarded.waiting.iter_mut() {
            entry.2 += 1;
        }
        while self
            .forwarded
            .waiting
            .front()
            .is_some_and(|(_, _, heard)| *heard >= FORWARDED_READ_PATIENCE)
        {
            let Some((_, ids, _)) = self.forwarded.waiting.pop_front() else {
                break;
            };
            self.forwarded.count -= ids.len() as u64;
            self.push(Action::ReadReady {
                ids,
                result: Err(ReadIndexError::AnswerLost),
            });
        }
    }

    /// Answers every forwarded read with `error`.
    pub(crate) fn fail_forwarded_reads(&mut self, error: ReadIndexError<N>) {
        self.forwarded.count = 0;
        for (_, ids, _) in std::mem::take(&mut self.forwarded.waiting) {
            self.push(Action::ReadReady {
                ids,
                result: Err(error.clone()),
            });
        }
    }

    /// After every step: forwarded reads are given up once the node no longer follows
    /// the leader it asked in the term it asked in (its term moved, its election timer
    /// fired, it failed or it leads).
    pub(crate) fn settle_forwarded_reads(&mut self) {
        let Some((leader, term)) = &self.forwarded.to else {
            return;
        };
        if self.failed {
            self.fail_forwarded_reads(ReadIndexError::Failed);
            self.forwarded.to = None;
        } else if self.term != *term || self.leader.as_ref() != Some(leader) || self.is_leader() {
            self.fail_forwarded_reads(ReadIndexError::LeadershipLost);
            self.forwarded.to = None;
        }
    }

    fn register_read(&mut self, origin: ReadOrigin<N>, lease_now: Option<u64>) {
        let Some(mut view) = self.leader_view() else {
            return;
        };
        if let Some((origin, result)) = view.admit_read(origin, lease_now) {
            self.answer_read(origin, result);
            return;
        }
        self.maybe_start_read_round();
    }

    /// Starts a round when reads wait for one and none is in flight.
    fn maybe_start_read_round(&mut self) {
        if self
            .role
            .leader()
            .is_some_and(|leader| leader.reads().round_due())
        {
            self.start_read_round();
        }
    }

    /// Starts a new round for the reads that have an index and none yet, and sends
    /// heartbeats carrying it (the heartbeat timer's heartbeats carry it again). `true`
    /// when a round started.
    pub(crate) fn start_read_round(&mut self) -> bool {
        if !self
            .role
            .leader_mut()
            .is_some_and(|leader| leader.reads_mut().begin_round())
        {
            return false;
        }
        self.send_heartbeats();
        // A quorum of one (this node alone) confirms at once.
        self.confirm_read_rounds();
        true
    }

    /// Sends every member a heartbeat carrying the current round.
    pub(crate) fn send_heartbeats(&mut self) {
        let Some(view) = self.leader_view() else {
            return;
        };
        for (peer, heartbeat) in view.heartbeats() {
            self.send(peer, Message::Heartbeat(heartbeat));
        }
    }

    /// A member answered a heartbeat of `round`, covering a lease of `lease_cover`.
    pub(crate) fn read_round_acked(&mut self, from: &N, round: u64, lease_cover: u64) {
        if self
            .role
            .leader_mut()
            .is_some_and(|leader| leader.reads_mut().acked(from, round, lease_cover))
        {
            self.confirm_read_rounds();
        }
    }

    /// Answers the reads of every round a quorum has answered, and starts the next.
    /// Also called when the quorum may have changed (a configuration entry appended)
    /// and at every heartbeat tick.
    pub(crate) fn confirm_read_rounds(&mut self) {
        let Some(answered) = self
            .leader_view()
            .and_then(|mut view| view.confirm_read_rounds())
        else {
            return;
        };
        for read in answered {
            let index = read.index.unwrap_or(LogIndex(0));
            self.answer_read(read.origin, Ok(index));
        }
        self.maybe_start_read_round();
    }

    /// The leader committed an entry of its term: the reads that waited for it take the
    /// commit index.
    pub(crate) fn reads_committed_in_term(&mut self) {
        if self
            .leader_view()
            .is_some_and(|mut view| view.reads_take_commit_index())
        {
            self.maybe_start_read_round();
        }
    }

    /// Answers every read waiting on this leader: it stops leading.
    pub(crate) fn fail_leader_reads(&mut self) {
        let error = if self.failed {
            ReadIndexError::Failed
        } else {
            ReadIndexError::LeadershipLost
        };
        let Some(leader) = self.role.leader_mut() else {
            return;
        };
        let waiting = leader.reads_mut().take_waiting();
        for read in waiting {
            self.answer_read(read.origin, Err(error.clone()));
        }
    }

    fn answer_read(&mut self, origin: ReadOrigin<N>, result: Result<LogIndex, ReadIndexError<N>>) {
        match origin {
            ReadOrigin::Local(ids) => self.push(Action::ReadReady { ids, result }),
            ReadOrigin::Remote { from, id } => {
                if self.failed {
                    return; // a failed node sends nothing
                }
                let result = match result {
                    Ok(index) => ReadIndexResult::Ready(index),
                    Err(ReadIndexError::Overloaded) => ReadIndexResult::Overloaded,
                    Err(_) => ReadIndexResult::NotLeader,
                };
                let response = ReadIndexResponse {
                    term: self.term,
                    id,
                    result,
                };
                self.send(from, Message::ReadIndexResponse(response));
            }
        }
    }
}

impl<N: NodeId> LeaderView<'_, N> {
    /// Whether this leader has committed an entry of its term (reads may take the
    /// commit index).
    fn committed_in_term(&self) -> bool {
        self.log.term_at(self.commit_index) == Some(self.term)
    }

    /// Takes a read in: answered at once (`Some`: the lease holds, or too many reads
    /// wait) or queued for a round (`None`).
    fn admit_read(
        &mut self,
        origin: ReadOrigin<N>,
        lease_now: Option<u64>,
    ) -> Option<ReadAnswer<N>> {
        let commit_index = self.commit_index;
        let ready = self.committed_in_term();
        let lease = self.options.read_lease > 0;
        let reads = self.leader.reads_mut();
        if ready && lease && lease_now.is_some_and(|now| reads.lease_holds(now)) {
            return Some((origin, Ok(commit_index)));
        }
        if reads.count.saturating_add(origin.count()) > self.options.max_pending_reads {
            return Some((origin, Err(ReadIndexError::Overloaded)));
        }
        reads.count += origin.count();
        reads.waiting.push_back(PendingRead {
            origin,
            index: ready.then_some(commit_index),
            round: 0,
            lease_now: if lease { lease_now } else { None },
        });
        None
    }

    /// A heartbeat for every member, carrying the current round.
    fn heartbeats(&self) -> Vec<(N, Heartbeat)> {
        let round = self.leader.reads().round;
        self.leader
            .iter()
            .map(|(peer, p)| {
                let heartbeat = Heartbeat {
                    term: self.term,
                    commit: p.match_index.min(self.commit_index),
                    round,
                };
                (peer.clone(), heartbeat)
            })
            .collect()
    }

    /// Confirms every round a quorum has answered: the reads they confirm, in order,
    /// each lease read's round extending the lease; `None` when no new round is
    /// confirmed.
    fn confirm_read_rounds(&mut self) -> Option<Vec<PendingRead<N>>> {
        let (id, configuration) = (self.id, self.configuration);
        let read_lease = self.options.read_lease;
        let reads = self.leader.reads_mut();
        let (latest, acked) = (reads.round, &reads.acked);
        let confirmed = joint_index(configuration, |node| {
            if node == id {
                LogIndex(latest)
            } else {
                LogIndex(acked.get(node).map_or(0, |acked| acked.0))
            }
        })
        .0
        .min(latest);
        if confirmed <= reads.confirmed {
            return None;
        }
        reads.confirmed = confirmed;
        let mut answered = Vec::new();
        while reads
            .waiting
            .front()
            .is_some_and(|read| read.round != 0 && read.round <= confirmed)
        {
            let Some(read) = reads.waiting.pop_front() else {
                break;
            };
            reads.count -= read.origin.count();
            if let (Some(now), false) = (read.lease_now, reads.lease_off) {
                // The lease a quorum of the round's answers covers: every quorum that
                // could elect another leader holds one of them, refusing votes for its
                // cover (this leader's own part is its `read_lease`: it votes for
                // another only after stepping down, when it serves no lease).
                let acked = &reads.acked;
                let cover = joint_index(configuration, |node| {
                    if node == id {
                        LogIndex(read_lease)
                    } else {
                        match acked.get(node) {
                            Some(&(round, cover)) if round >= read.round => {
                                LogIndex(cover.min(read_lease))
                            }
                            _ => LogIndex(0),
                        }
                    }
                })
                .0;
                if cover > 0 {
                    let until = now.saturating_add(cover);
                    reads.lease_until = Some(reads.lease_until.map_or(until, |u| u.max(until)));
                }
            }
            answered.push(read);
        }
        Some(answered)
    }

    /// The reads that waited for an entry of this leader's term to commit take the
    /// commit index; `true` when any did.
    fn reads_take_commit_index(&mut self) -> bool {
        if !self.committed_in_term() {
            return false;
        }
        let mut changed = false;
        for read in self.leader.reads_mut().waiting.iter_mut() {
            if read.index.is_some() {
                break;
            }
            read.index = Some(self.commit_index);
            changed = true;
        }
        changed
    }
}
