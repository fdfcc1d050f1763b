//! The core's message handling (`src/core`): a `RaftCore` restored from varied durable
//! state, then driven by a sequence of events chosen by the fuzzer — hostile messages
//! from peers, non-members and the node itself (out-of-range and `u64::MAX` terms and
//! indices), plausible answers to what it sent (so it gets elected and builds leader
//! progress), timers, proposals and persistence completions. After every step: no panic,
//! `check_invariants()` holds, and the actions respect the contract.
//!
//! The harness plays the runtime, which the core trusts to report a write durable only
//! once it is (`Input::Persisted`); it also sends bogus reports (stale, or beyond what
//! was issued), which the core must ignore. Peers are not trusted.

use arbitrary::{Result, Unstructured};
use concord::core::*;
use std::collections::VecDeque;

/// Node ids: voters are 1..=voters, a learner may be `LEARNER`, `STRANGER` is in no
/// configuration.
const LEARNER: u64 = 9;
const STRANGER: u64 = 42;
/// Upper bound on the events of one input, so one input stays fast.
const MAX_EVENTS: usize = 400;

pub fn run(data: &[u8]) {
    let mut input = Unstructured::new(data);
    // Running out of bytes ends the input early: whatever ran so far was checked.
    let _ = drive(&mut input);
}

/// What the runtime holds between steps.
struct Harness {
    core: RaftCore<u64>,
    id: u64,
    /// Persistence work in the order it was issued (the core holds the messages that
    /// wait for it).
    durable_queue: PersistQueue<u64, ()>,
    /// Recent messages the core sent to peers, to which plausible answers are built.
    sent: VecDeque<(u64, Message<u64>)>,
    last_term: Term,
    next_request: u64,
    /// The last index handed out in an `Apply`.
    handed_out: LogIndex,
    /// Reports owed for snapshot work the core asked for (taken or fetched), oldest first.
    snapshot_reports: VecDeque<Input<u64>>,
}

fn drive(input: &mut Unstructured<'_>) -> Result<()> {
    let mut harness = Harness::new(input)?;
    for _ in 0..MAX_EVENTS {
        if input.is_empty() {
            break;
        }
        harness.event(input)?;
    }
    Ok(())
}

impl Harness {
    fn new(input: &mut Unstructured<'_>) -> Result<Harness> {
        let voters: u64 = input.int_in_range(1..=5)?;
        let with_learner = input.arbitrary::<bool>()?;
        let learners: Vec<u64> = if with_learner { vec![LEARNER] } else { vec![] };
        let configuration = match Configuration::new(1..=voters, learners) {
            Ok(configuration) => configuration,
            Err(_) => Configuration::with_voters(1..=voters),
        };
        // Usually a voter; sometimes the learner, or a node the configuration omits.
        let id = match input.int_in_range(0..=7u8)? {
            6 if with_learner => LEARNER,
            7 => STRANGER,
            _ => input.int_in_range(1..=voters)?,
        };
        let options = CoreOptions {
            pre_vote: input.arbitrary()?,
            check_quorum: input.arbitrary()?,
            max_entries_per_message: input.int_in_range(1..=8)?,
            max_bytes_per_message: input.int_in_range(0..=64)?,
            max_inflight_messages: input.int_in_range(1..=4)?,
            max_inflight_bytes: input.int_in_range(1..=256)?,
            max_uncommitted_bytes: input.int_in_range(1..=256)?,
            max_apply_ahead: input.int_in_range(1..=4)?,
            max_apply_ahead_bytes: input.int_in_range(1..=64)?,
            snapshot_log_distance: input.int_in_range(0..=3)?,
            snapshot_retained_entries: input.int_in_range(0..=2)?,
            catchup_margin: input.int_in_range(0..=3)?,
            catchup_max_rounds: input.int_in_range(0..=2)?,
            max_pending_reads: input.int_in_range(1..=4)?,
            read_lease: input.int_in_range(0..=200)?,
            read_id_base: input.arbitrary()?,
        };
        let restored = restored_state(input, ConfigurationEntry::stable(configuration))?;
        let core = match RaftCore::new(id, options, restored.clone()) {
            Ok(core) => core,
            // The generator aims at valid durable state; if it missed, start empty.
            Err(_) => {
                let empty = Restored::empty(restored.initial_configuration);
                RaftCore::new(id, CoreOptions::default(), empty).expect("empty state restores")
            }
        };
        core.check_invariants()
            .expect("a freshly restored core breaks an invariant");
        let mut harness = Harness {
            last_term: core.term(),
            core,
            id,
            durable_queue: PersistQueue::new(),
            sent: VecDeque::new(),
            next_request: 0,
            handed_out: LogIndex(0),
            snapshot_reports: VecDeque::new(),
        };
        harness.handed_out = harness.core.applied_issued();
        let actions = harness.core.start();
        harness.absorb(actions);
        Ok(harness)
    }

    fn event(&mut self, input: &mut Unstructured<'_>) -> Result<()> {
        match input.int_in_range(0..=21u8)? {
            21 => {
                self.next_request += 1;
                let id = RequestId(self.next_request);
                let lease_now = if input.arbitrary()? {
                    Some(input.int_in_range(0..=1000)?)
                } else {
                    None
                };
                self.step(Input::ReadIndex {
                    ids: vec![id],
                    lease_now,
                });
            }
            0 | 1 => self.step(Input::Timeout(Timer::Election)),
            2 => self.step(Input::Timeout(Timer::Heartbeat)),
            // Make the oldest pending write durable, or all of them with one report.
            3..=5 => self.persist_one(),
            6 => {
                if let Some(flush) = self.durable_queue.take_all() {
                    self.step(flush.persisted());
                }
            }
            // A peer answers something the core sent, plausibly.
            7..=10 => {
                if let Some((peer, answer)) = self.plausible_answer(input)? {
                    self.step(Input::Message {
                        from: peer,
                        message: answer,
                    });
                }
            }
            11 => {
                let count = input.int_in_range(1..=4)?;
                let mut proposals = Vec::with_capacity(count);
                for _ in 0..count {
                    self.next_request += 1;
                    let expected_term = if input.arbitrary()? {
                        Some(self.pick_term(input)?)
                    } else {
                        None
                    };
                    proposals.push(Proposal {
                        id: RequestId(self.next_request),
                        size_bytes: input.int_in_range(0..=48)?,
                        expected_term,
                    });
                }
                self.step(Input::Propose(proposals));
            }
            // An arbitrary durability report: stale or beyond what was issued (ignored), or
            // covering queued writes early (trusted, as the runtime is).
            15 if input.arbitrary()? => {
                let seq = PersistSeq(input.int_in_range(0..=64)?);
                self.step(Input::Persisted { seq });
            }
            // The state machine applied through some index: usually what was handed
            // out, sometimes anything (stale or beyond: ignored).
            15 => {
                let index = if input.arbitrary()? {
                    self.handed_out
                } else {
                    LogIndex(input.int_in_range(0..=64)?)
                };
                self.step(Input::Applied { index });
            }
            // An interval timer or an operator asks for a snapshot.
            16 => self.step(Input::TakeSnapshot),
            // Snapshot work asked for ends (saved or fetched, or not), or a bogus report.
            17 => {
                let report = match self.snapshot_reports.pop_front() {
                    Some(Input::SnapshotSaved { last_included, .. }) => Input::SnapshotSaved {
                        last_included,
                        saved: input.ratio(3, 4)?,
                    },
                    Some(Input::SnapshotFetched { last_included, .. }) => Input::SnapshotFetched {
                        last_included,
                        fetched: input.ratio(3, 4)?,
                    },
                    _ => Input::SnapshotFetched {
                        last_included: self.pick_log_id(input)?,
                        fetched: input.arbitrary()?,
                    },
                };
                self.step(report);
            }
            // An operator asks for a membership change, a reset or a transfer, sensible or
            // not.
            18 => {
                self.next_request += 1;
                let id = RequestId(self.next_request);
                let node = self.pick_sender(input)?;
                let nodes: std::collections::BTreeSet<u64> = (0..input.int_in_range(0..=3)?)
                    .map(|_| self.pick_sender(input))
                    .collect::<Result<_>>()?;
                let change = match input.int_in_range(0..=6u8)? {
                    // A forced reset of the peers (any node, any voters).
                    6 => {
                        let configuration = Configuration::with_voters(nodes);
                        self.step(Input::ResetPeers { id, configuration });
                        return Ok(());
                    }
                    0 => MembershipChange::AddVoter(node),
                    1 => MembershipChange::RemoveVoter(node),
                    2 => MembershipChange::ChangeVoters(nodes),
                    3 => MembershipChange::AddLearners(nodes),
                    4 => MembershipChange::RemoveLearners(nodes),
                    _ => MembershipChange::ResetLearners(nodes),
                };
                self.step(Input::ChangeMembership { id, change });
            }
            19 => {
                self.next_request += 1;
                let id = RequestId(self.next_request);
                let to = if input.arbitrary()? {
                    Some(self.pick_sender(input)?)
                } else {
                    None
                };
                self.step(Input::TransferLeadership { id, to });
            }
            // Anything at all from anyone, the node itself included.
            _ => {
                let from = self.pick_sender(input)?;
                let message = self.hostile_message(input)?;
                self.step(Input::Message { from, message });
            }
        }
        Ok(())
    }

    fn step(&mut self, input: Input<u64>) {
        let description = format!("{input:?}");
        let actions = self.core.step(input);
        if let Err(violation) = self.core.check_invariants() {
            panic!("{violation}\nafter {description}\nstate: {:#?}", self.core);
        }
        assert!(
            self.core.term() >= self.last_term,
            "the term went backwards after {description}"
        );
        self.last_term = self.core.term();
        self.absorb(actions);
    }

    /// Files the actions the way a runtime carries them out.
    fn absorb(&mut self, actions: Vec<Action<u64>>) {
        for action in actions {
            match action {
                Action::SaveHardState { .. }
                | Action::TruncateLog { .. }
                | Action::AppendLog { .. }
                | Action::InstallSnapshot { .. } => {
                    let queued = self.durable_queue.offer(action, |_| Ok::<_, ()>(()));
                    assert!(matches!(queued, Ok(None)), "a write is queued");
                }
                Action::Send { to, message } => {
                    assert_ne!(to, self.id, "the core sent {message} to itself");
                    self.remember(to, message);
                }
                Action::Apply { entries } => {
                    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
                        panic!("an empty Apply");
                    };
                    assert_eq!(
                        first.log_id.index,
                        self.handed_out.next(),
                        "applies are contiguous"
                    );
                    assert!(
                        entries
                            .windows(2)
                            .all(|w| w[1].log_id.index == w[0].log_id.index.next()),
                        "an Apply with a gap"
                    );
                    assert!(
                        last.log_id.index <= self.core.commit_index(),
                        "applied beyond commit"
                    );
                    assert!(
                        last.log_id.index.0
                            <= self.core.applied_index().0 + self.core.options().max_apply_ahead,
                        "handed out beyond max_apply_ahead"
                    );
                    self.handed_out = last.log_id.index;
                }
                Action::TakeSnapshot { meta } => {
                    assert_eq!(
                        meta.last_included.index, self.handed_out,
                        "a snapshot not at the last entry handed out"
                    );
                    self.snapshot_reports.push_back(Input::SnapshotSaved {
                        last_included: meta.last_included,
                        saved: true,
                    });
                }
                Action::FetchSnapshot { meta, .. } => {
                    self.snapshot_reports.push_back(Input::SnapshotFetched {
                        last_included: meta.last_included,
                        fetched: true,
                    });
                }
                Action::CompactLog { through, snapshot } => {
                    assert!(
                        through <= self.core.commit_index(),
                        "compacted uncommitted entries"
                    );
                    assert!(
                        through <= snapshot.index,
                        "compacted entries no snapshot covers"
                    );
                }
                Action::RestoreSnapshot { meta } => {
                    assert!(
                        meta.last_included.index > self.handed_out,
                        "a restore behind what was applied"
                    );
                    self.handed_out = meta.last_included.index;
                }
                Action::ResetTimer(_)
                | Action::CancelTimer(_)
                | Action::ProposalAccepted { .. }
                | Action::ProposalRejected { .. }
                | Action::MembershipChanged { .. }
                | Action::TransferDone { .. }
                | Action::ReadReady { .. }
                | Action::RoleChanged { .. } => {}
            }
        }
    }

    fn remember(&mut self, to: u64, message: Message<u64>) {
        if self.sent.len() == 32 {
            self.sent.pop_front();
        }
        self.sent.push_back((to, message));
    }

    fn persist_one(&mut self) {
        if let Some(flush) = self.durable_queue.take_oldest() {
            self.step(flush.persisted());
        }
    }

    /// An answer a correct peer could give to one of the recent messages.
    fn plausible_answer(
        &mut self,
        input: &mut Unstructured<'_>,
    ) -> Result<Option<(u64, Message<u64>)>> {
        if self.sent.is_empty() {
            return Ok(None);
        }
        let pick = input.choose_index(self.sent.len())?;
        let (peer, message) = self.sent[pick].clone();
        let granted = input.ratio(3, 4)?;
        let answer = match message {
            Message::PreVote(request) => Message::PreVoteResponse(VoteResponse {
                term: if granted {
                    request.term
                } else {
                    self.core.term()
                },
                granted,
            }),
            Message::Vote(request) => Message::VoteResponse(VoteResponse {
                term: request.term,
                granted,
            }),
            Message::Append(request) => {
                let result = if granted {
                    AppendResult::Success {
                        last_matched: request.prev_log_id.index.plus(request.entries.len() as u64),
                    }
                } else {
                    AppendResult::Conflict {
                        rejected_prev: request.prev_log_id.index,
                        hint: LogId {
                            term: Term(input.int_in_range(0..=request.prev_log_id.term.0)?),
                            index: LogIndex(input.int_in_range(0..=request.prev_log_id.index.0)?),
                        },
                    }
                };
                Message::AppendResponse(AppendResponse {
                    term: request.term,
                    result,
                })
            }
            Message::Heartbeat(heartbeat) => Message::HeartbeatResponse(HeartbeatResponse {
                term: heartbeat.term,
                round: heartbeat.round,
                lease_cover: 0,
            }),
            Message::ReadIndex(request) => Message::ReadIndexResponse(ReadIndexResponse {
                term: request.term,
                id: request.id,
                result: if granted {
                    ReadIndexResult::Ready(self.core.commit_index())
                } else {
                    ReadIndexResult::NotLeader
                },
            }),
            Message::InstallSnapshot(request) => {
                Message::InstallSnapshotResponse(InstallSnapshotResponse {
                    term: request.term,
                    result: if granted {
                        InstallSnapshotResult::Installed {
                            last_matched: request.meta.last_included.index,
                        }
                    } else {
                        InstallSnapshotResult::Failed {
                            last_included: request.meta.last_included.index,
                        }
                    },
                })
            }
            // Answers need no answer; a peer may still repeat the core's own message back
            // (a misrouted frame).
            other => other,
        };
        Ok(Some((peer, answer)))
    }

    fn pick_sender(&self, input: &mut Unstructured<'_>) -> Result<u64> {
        Ok(match input.int_in_range(0..=10u8)? {
            0 => self.id,
            1 => STRANGER,
            2 => LEARNER,
            3 => input.arbitrary()?,
            _ => input.int_in_range(1..=5)?,
        })
    }

    /// A term near the interesting values: ours, its neighbours, zero, the top.
    fn pick_term(&self, input: &mut Unstructured<'_>) -> Result<Term> {
        let current = self.core.term().0;
        Ok(Term(match input.int_in_range(0..=7u8)? {
            0 | 1 => current,
            2 => current.saturating_add(1),
            3 => current.saturating_sub(1),
            4 => 0,
            5 => u64::MAX,
            6 => u64::MAX - 1,
            _ => input.arbitrary()?,
        }))
    }

    /// An index near the interesting values: our last, commit, neighbours, huge.
    fn pick_index(&self, input: &mut Unstructured<'_>) -> Result<LogIndex> {
        let last = self.core.last_log_id().index.0;
        let commit = self.core.commit_index().0;
        Ok(LogIndex(match input.int_in_range(0..=8u8)? {
            0 => last,
            1 => last.saturating_add(1),
            2 => last.saturating_sub(1),
            3 => commit,
            4 => 0,
            5 => u64::MAX,
            6 => u64::MAX - 1,
            7 => input.int_in_range(0..=last.saturating_add(4))?,
            _ => input.arbitrary()?,
        }))
    }

    fn pick_log_id(&self, input: &mut Unstructured<'_>) -> Result<LogId> {
        if input.ratio(1, 3)? {
            // A log id the node actually holds, so matching paths are reached.
            let index = LogIndex(input.int_in_range(0..=self.core.last_log_id().index.0)?);
            if let Some(term) = self.core.term_at(index) {
                return Ok(LogId { term, index });
            }
        }
        Ok(LogId {
            term: self.pick_term(input)?,
            index: self.pick_index(input)?,
        })
    }

    fn hostile_message(&self, input: &mut Unstructured<'_>) -> Result<Message<u64>> {
        let term = self.pick_term(input)?;
        Ok(match input.int_in_range(0..=12u8)? {
            11 => Message::ReadIndex(ReadIndexRequest {
                term,
                id: input.int_in_range(0..=8)?,
            }),
            12 => Message::ReadIndexResponse(ReadIndexResponse {
                term,
                id: input.int_in_range(0..=8)?,
                result: match input.int_in_range(0..=2u8)? {
                    0 => ReadIndexResult::Ready(self.pick_index(input)?),
                    1 => ReadIndexResult::NotLeader,
                    _ => ReadIndexResult::Overloaded,
                },
            }),
            10 => Message::TimeoutNow(TimeoutNow {
                term,
                last_log_id: self.pick_log_id(input)?,
            }),
            0 => Message::PreVote(VoteRequest {
                term,
                last_log_id: self.pick_log_id(input)?,
                leadership_transfer: false,
            }),
            1 => Message::Vote(VoteRequest {
                term,
                last_log_id: self.pick_log_id(input)?,
                leadership_transfer: input.arbitrary()?,
            }),
            2 => Message::PreVoteResponse(VoteResponse {
                term,
                granted: input.arbitrary()?,
            }),
            3 => Message::VoteResponse(VoteResponse {
                term,
                granted: input.arbitrary()?,
            }),
            4 => Message::Append(self.hostile_append(input, term)?),
            5 => Message::AppendResponse(AppendResponse {
                term,
                result: match input.int_in_range(0..=2u8)? {
                    0 => AppendResult::Success {
                        last_matched: self.pick_index(input)?,
                    },
                    1 => AppendResult::Conflict {
                        rejected_prev: self.pick_index(input)?,
                        hint: self.pick_log_id(input)?,
                    },
                    _ => AppendResult::StaleTerm,
                },
            }),
            6 => Message::Heartbeat(Heartbeat {
                term,
                commit: self.pick_index(input)?,
                round: input.int_in_range(0..=4)?,
            }),
            7 => Message::HeartbeatResponse(HeartbeatResponse {
                term,
                round: input.int_in_range(0..=4)?,
                lease_cover: input.int_in_range(0..=200)?,
            }),
            8 => Message::InstallSnapshot(InstallSnapshotRequest {
                term,
                meta: SnapshotMeta {
                    last_included: self.pick_log_id(input)?,
                    configuration: self.core.configuration().clone(),
                },
            }),
            _ => Message::InstallSnapshotResponse(InstallSnapshotResponse {
                term,
                result: match input.int_in_range(0..=2u8)? {
                    0 => InstallSnapshotResult::Installed {
                        last_matched: self.pick_index(input)?,
                    },
                    1 => InstallSnapshotResult::Failed {
                        last_included: self.pick_index(input)?,
                    },
                    _ => InstallSnapshotResult::StaleTerm,
                },
            }),
        })
    }

    /// Mostly well-formed (so the follower paths run), sometimes not.
    fn hostile_append(
        &self,
        input: &mut Unstructured<'_>,
        term: Term,
    ) -> Result<AppendRequest<u64>> {
        let prev_log_id = self.pick_log_id(input)?;
        let count = input.int_in_range(0..=6usize)?;
        let mut entries = Vec::with_capacity(count);
        let mut previous = prev_log_id;
        for _ in 0..count {
            let well_formed = input.ratio(7, 8)?;
            let log_id = if well_formed {
                let bump = input.ratio(1, 4)? && previous.term < term;
                LogId {
                    term: if bump { term } else { previous.term },
                    index: previous.index.next(),
                }
            } else {
                self.pick_log_id(input)?
            };
            let kind = match input.int_in_range(0..=9u8)? {
                0 => EntryKind::Blank,
                1 => EntryKind::configuration(self.some_configuration(input)?),
                _ => EntryKind::Normal,
            };
            entries.push(EntryMeta {
                log_id,
                kind,
                size_bytes: input.int_in_range(0..=32)?,
            });
            previous = log_id;
        }
        Ok(AppendRequest {
            term,
            prev_log_id,
            entries,
            leader_commit: self.pick_index(input)?,
        })
    }

    /// A valid configuration (the wire decoder refuses invalid ones), possibly joint,
    /// possibly without this node.
    fn some_configuration(&self, input: &mut Unstructured<'_>) -> Result<ConfigurationEntry<u64>> {
        let one = |input: &mut Unstructured<'_>| -> Result<Configuration<u64>> {
            let mut voters = Vec::new();
            let mut learners = Vec::new();
            for node in [1u64, 2, 3, 4, 5, LEARNER, STRANGER] {
                match input.int_in_range(0..=3u8)? {
                    0 | 1 => voters.push(node),
                    2 => learners.push(node),
                    _ => {}
                }
            }
            Ok(Configuration::new(voters, learners).unwrap_or_default())
        };
        let current = one(input)?;
        let old = if input.ratio(1, 3)? {
            Some(one(input)?)
        } else {
            None
        };
        Ok(ConfigurationEntry { current, old })
    }
}

/// Durable state as storage could hand it back: a term, maybe a vote, maybe a snapshot
/// boundary, and a log whose terms never decrease and never pass the durable term.
fn restored_state(
    input: &mut Unstructured<'_>,
    initial_configuration: ConfigurationEntry<u64>,
) -> Result<Restored<u64>> {
    let term = Term(input.int_in_range(0..=6)?);
    let voted_for = if input.arbitrary()? {
        Some(input.int_in_range(1..=5)?)
    } else {
        None
    };
    let snapshot = if term.0 > 0 && input.ratio(1, 4)? {
        let boundary = LogId::new(input.int_in_range(1..=term.0)?, input.int_in_range(1..=20)?);
        Some(SnapshotMeta {
            last_included: boundary,
            configuration: initial_configuration.clone(),
        })
    } else {
        None
    };
    let mut previous = snapshot
        .as_ref()
        .map_or(LogId::ZERO, |meta| meta.last_included);
    // Every entry was written by a leader of a term in 1..=term.
    let length = if term.0 == 0 {
        0
    } else {
        input.int_in_range(0..=12)?
    };
    let mut entries = Vec::with_capacity(length);
    for _ in 0..length {
        let lowest = previous.term.0.max(1);
        let entry_term = if input.ratio(1, 3)? || previous.term.0 == 0 {
            Term(input.int_in_range(lowest..=term.0.max(lowest))?)
        } else {
            previous.term
        };
        let log_id = LogId {
            term: entry_term,
            index: previous.index.next(),
        };
        entries.push(EntryMeta {
            log_id,
            kind: EntryKind::Normal,
            size_bytes: input.int_in_range(0..=16)?,
        });
        previous = log_id;
    }
    Ok(Restored {
        hard_state: HardState {
            term,
            voted_for,
            reset: None,
        },
        snapshot,
        entries,
        initial_configuration,
    })
}
