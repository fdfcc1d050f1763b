//! Semantic tests written to kill mutants of `src/core` that the other tests let
//! survive (scripts/mutants.sh; docs/verification.md, "Mutation testing", names the
//! mutant each test kills). Like `core_handlers.rs`: set up a core, feed inputs, assert
//! the exact actions or the exact state.

use concord::core::*;

#[path = "common/actions.rs"]
mod actions;
use actions::{apply, last_write_seq};

/// A voter of {1, 2, 3} with empty storage, started (its election timer armed).
fn voter(id: u64, pre_vote: bool) -> RaftCore<u64> {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let options = CoreOptions {
        pre_vote,
        ..CoreOptions::default()
    };
    let mut core = RaftCore::new(id, options, Restored::empty(configuration)).unwrap();
    core.start();
    core
}

fn receive(core: &mut RaftCore<u64>, from: u64, message: Message<u64>) -> Vec<Action<u64>> {
    let actions = core.step(Input::Message { from, message });
    core.check_invariants().unwrap();
    actions
}

fn vote_request(term: u64, last: LogId) -> Message<u64> {
    Message::Vote(VoteRequest {
        term: Term(term),
        last_log_id: last,
        leadership_transfer: false,
    })
}

fn pre_vote_request(term: u64, last: LogId) -> Message<u64> {
    Message::PreVote(VoteRequest {
        term: Term(term),
        last_log_id: last,
        leadership_transfer: false,
    })
}

fn vote_response(term: u64, granted: bool) -> Message<u64> {
    Message::VoteResponse(VoteResponse {
        term: Term(term),
        granted,
    })
}

fn pre_vote_response(term: u64, granted: bool) -> Message<u64> {
    Message::PreVoteResponse(VoteResponse {
        term: Term(term),
        granted,
    })
}

fn heartbeat(term: u64, commit: u64) -> Message<u64> {
    Message::Heartbeat(Heartbeat {
        term: Term(term),
        commit: LogIndex(commit),
        round: 0,
    })
}

fn hard_state(seq: u64, term: u64, vote: Option<u64>) -> Action<u64> {
    Action::SaveHardState {
        seq: PersistSeq(seq),
        hard_state: HardState {
            term: Term(term),
            voted_for: vote,
            reset: None,
        },
    }
}

/// Reports every write up to `seq` durable.
fn persisted(core: &mut RaftCore<u64>, seq: PersistSeq) -> Vec<Action<u64>> {
    let actions = core.step(Input::Persisted { seq });
    core.check_invariants().unwrap();
    actions
}

fn role(role: Role, term: u64, leader: Option<u64>, commit: u64) -> Action<u64> {
    Action::RoleChanged {
        role,
        term: Term(term),
        leader,
        commit_index: LogIndex(commit),
    }
}

/// A vote for a higher term moves the term and casts the vote in one step: the two
/// `SaveHardState`s coalesce into one write (one sequence number), the two
/// election-timer resets into one, and the step ends with the role change (the term
/// moved). The granted vote is held until that write is reported durable.
#[test]
fn a_vote_in_a_higher_term_saves_term_and_vote_once() {
    let mut core = voter(1, false);
    assert_eq!(
        receive(&mut core, 2, vote_request(1, LogId::ZERO)),
        vec![
            hard_state(1, 1, Some(2)),
            Action::ResetTimer(Timer::Election),
            role(Role::Follower, 1, None, 0),
        ]
    );
    assert_eq!(core.persist_seqs(), (PersistSeq(1), PersistSeq(0)));
    assert_eq!(core.held_messages(), 1);
    assert_eq!(
        persisted(&mut core, PersistSeq(1)),
        vec![Action::Send {
            to: 2,
            message: vote_response(1, true)
        }]
    );
    assert_eq!(
        core.durable_hard_state(),
        &HardState {
            term: Term(1),
            voted_for: Some(2),
            reset: None,
        }
    );
    // The same candidate asking again gets the same answer, with nothing to save again
    // (so nothing to wait for: it is sent at once).
    assert_eq!(
        receive(&mut core, 2, vote_request(1, LogId::ZERO)),
        vec![
            Action::ResetTimer(Timer::Election),
            Action::Send {
                to: 2,
                message: vote_response(1, true)
            },
        ]
    );
    // Another candidate of the same term is refused, at once and with nothing to save.
    assert_eq!(
        receive(&mut core, 3, vote_request(1, LogId::ZERO)),
        vec![Action::Send {
            to: 3,
            message: vote_response(1, false)
        }]
    );
    assert_eq!(core.voted_for(), Some(&2));
    assert_eq!(
        core.hard_state(),
        HardState {
            term: Term(1),
            voted_for: Some(2),
            reset: None,
        }
    );
    assert_eq!(core.persist_seqs(), (PersistSeq(1), PersistSeq(1)));
}

/// Requests from an older term are answered with the current term (so the sender steps
/// down); stale answers are dropped.
#[test]
fn stale_requests_get_the_current_term_and_stale_answers_nothing() {
    let mut core = voter(2, false);
    receive(&mut core, 1, heartbeat(3, 0));
    assert_eq!((core.term(), core.leader()), (Term(3), Some(&1)));
    let append = Message::Append(AppendRequest {
        term: Term(2),
        prev_log_id: LogId::ZERO,
        entries: Vec::new(),
        leader_commit: LogIndex(0),
    });
    let cases = [
        (
            append,
            Some(Message::AppendResponse(AppendResponse {
                term: Term(3),
                result: AppendResult::StaleTerm,
            })),
        ),
        (
            heartbeat(2, 0),
            Some(Message::HeartbeatResponse(HeartbeatResponse {
                term: Term(3),
                round: 0,
                lease_cover: 0,
            })),
        ),
        (
            pre_vote_request(2, LogId::ZERO),
            Some(pre_vote_response(3, false)),
        ),
        (vote_request(2, LogId::ZERO), Some(vote_response(3, false))),
        (vote_response(2, true), None),
        (pre_vote_response(2, true), None),
        (
            Message::AppendResponse(AppendResponse {
                term: Term(2),
                result: AppendResult::StaleTerm,
            }),
            None,
        ),
        (
            Message::HeartbeatResponse(HeartbeatResponse {
                term: Term(2),
                round: 0,
                lease_cover: 0,
            }),
            None,
        ),
    ];
    for (stale, reply) in cases {
        let expected: Vec<Action<u64>> = reply
            .map(|message| Action::Send { to: 3, message })
            .into_iter()
            .collect();
        assert_eq!(receive(&mut core, 3, stale.clone()), expected, "{stale}");
        assert_eq!((core.term(), core.leader()), (Term(3), Some(&1)), "{stale}");
    }
}

/// F24: a follower that hears from a live leader ignores a vote request of a higher
/// term entirely: it neither adopts the term nor votes.
#[test]
fn a_follower_with_a_live_leader_ignores_a_disruptive_candidate() {
    let mut core = voter(2, true);
    // (Its answer leaves once term 1 is durable.)
    let actions = receive(&mut core, 1, heartbeat(1, 0));
    persisted(&mut core, last_write_seq(&actions));
    assert_eq!(receive(&mut core, 3, vote_request(2, LogId::ZERO)), vec![]);
    assert_eq!((core.term(), core.voted_for()), (Term(1), None));
    // Once its election timer fires (it pre-campaigns, which moves no term) the leader is
    // presumed dead, and the same request wins its vote.
    core.step(Input::Timeout(Timer::Election));
    let actions = receive(&mut core, 3, vote_request(2, LogId::ZERO));
    assert_eq!((core.term(), core.voted_for()), (Term(2), Some(&3)));
    // The grant leaves once the new term and vote are durable.
    assert!(
        !actions
            .iter()
            .any(|action| matches!(action, Action::Send { to: 3, .. })),
        "{actions:?}"
    );
    assert_eq!(
        persisted(&mut core, last_write_seq(&actions)),
        vec![Action::Send {
            to: 3,
            message: vote_response(2, true)
        }]
    );
}

/// Pre-vote (F23): the round asks for votes in term + 1 without moving the term; a
/// quorum of grants starts the real election.
#[test]
fn a_pre_candidate_campaigns_only_after_a_quorum_of_pre_votes() {
    let mut core = voter(1, true);
    let request = pre_vote_request(1, LogId::ZERO);
    assert_eq!(
        core.step(Input::Timeout(Timer::Election)),
        vec![
            Action::Send {
                to: 2,
                message: request.clone()
            },
            Action::Send {
                to: 3,
                message: request
            },
            Action::ResetTimer(Timer::Election),
            role(Role::PreCandidate, 0, None, 0),
        ]
    );
    // Answers to another round, and answers from non-voters, are not counted.
    assert_eq!(receive(&mut core, 2, pre_vote_response(2, true)), vec![]);
    assert_eq!(receive(&mut core, 9, pre_vote_response(1, true)), vec![]);
    assert_eq!((core.role(), core.term()), (Role::PreCandidate, Term(0)));
    // A grant for term 1 does not move the term by itself; with our own, it is a quorum.
    // The vote requests (and its own vote) wait for the new term and vote to be durable.
    assert_eq!(
        receive(&mut core, 2, pre_vote_response(1, true)),
        vec![
            hard_state(1, 1, Some(1)),
            Action::ResetTimer(Timer::Election),
            role(Role::Candidate, 1, None, 0),
        ]
    );
    assert_eq!(core.held_messages(), 3);
    let vote = vote_request(1, LogId::ZERO);
    assert_eq!(
        persisted(&mut core, PersistSeq(1)),
        vec![
            Action::Send {
                to: 2,
                message: vote.clone()
            },
            Action::Send {
                to: 3,
                message: vote
            },
        ]
    );
    // Its own vote is counted now, but one vote of three is no quorum.
    assert_eq!((core.role(), core.held_messages()), (Role::Candidate, 0));
}

/// A refused pre-vote carries the voter's own term: a higher one makes the pre-candidate
/// follow that term; a quorum of refusals in our term ends the round.
#[test]
fn refused_pre_votes_end_the_round() {
    let mut core = voter(1, true);
    core.step(Input::Timeout(Timer::Election));
    assert_eq!(
        receive(&mut core, 2, pre_vote_response(4, false)),
        vec![
            hard_state(1, 4, None),
            Action::ResetTimer(Timer::Election),
            role(Role::Follower, 4, None, 0),
        ]
    );
    let mut core = voter(1, true);
    core.step(Input::Timeout(Timer::Election));
    assert_eq!(receive(&mut core, 2, pre_vote_response(0, false)), vec![]);
    assert_eq!(core.role(), Role::PreCandidate);
    assert_eq!(
        receive(&mut core, 3, pre_vote_response(0, false)),
        vec![
            Action::ResetTimer(Timer::Election),
            role(Role::Follower, 0, None, 0),
        ]
    );
}

/// Who gets a pre-vote: a voter grants one for a later term, or for its own term to the
/// node it voted for or when it has not voted; never with a log more up to date than the
/// candidate's, and never while it hears from a leader. Granting changes nothing here.
#[test]
fn pre_votes_follow_the_vote_rules_without_changing_state() {
    let grant = |term| {
        vec![Action::Send {
            to: 2,
            message: pre_vote_response(term, true),
        }]
    };
    let refuse = |term| {
        vec![Action::Send {
            to: 2,
            message: pre_vote_response(term, false),
        }]
    };
    // Term 1, no vote, no leader (a refused vote moved it there).
    let mut core = voter(3, true);
    receive(&mut core, 1, vote_response(1, false));
    assert_eq!(
        (core.term(), core.voted_for(), core.leader()),
        (Term(1), None, None)
    );
    assert_eq!(
        receive(&mut core, 2, pre_vote_request(1, LogId::ZERO)),
        grant(1)
    );
    // Term 1, voted for 1: refuses 2 for term 1, grants it term 2, grants 1 term 1.
    receive(&mut core, 1, vote_request(1, LogId::ZERO));
    assert_eq!(core.voted_for(), Some(&1));
    assert_eq!(
        receive(&mut core, 2, pre_vote_request(1, LogId::ZERO)),
        refuse(1)
    );
    assert_eq!(
        receive(&mut core, 2, pre_vote_request(2, LogId::ZERO)),
        grant(2)
    );
    assert_eq!(
        receive(&mut core, 1, pre_vote_request(1, LogId::ZERO)),
        vec![Action::Send {
            to: 1,
            message: pre_vote_response(1, true)
        }]
    );
    assert_eq!((core.term(), core.voted_for()), (Term(1), Some(&1)));
    // A leader's entry makes our log more up to date than an empty one.
    receive(
        &mut core,
        1,
        Message::Append(AppendRequest {
            term: Term(1),
            prev_log_id: LogId::ZERO,
            entries: vec![EntryMeta {
                log_id: LogId::new(1, 1),
                kind: EntryKind::Blank,
                size_bytes: 0,
            }],
            leader_commit: LogIndex(0),
        }),
    );
    // While the leader is alive: no answer at all.
    assert_eq!(
        receive(&mut core, 2, pre_vote_request(2, LogId::ZERO)),
        vec![]
    );
    core.step(Input::Timeout(Timer::Election));
    let term = core.term().0;
    assert_eq!(
        receive(&mut core, 2, pre_vote_request(term + 1, LogId::ZERO)),
        refuse(term)
    );
    assert_eq!(
        receive(&mut core, 2, pre_vote_request(term + 1, LogId::new(1, 1))),
        grant(term + 1)
    );
    assert_eq!(core.term().0, term);
}

fn append_response(term: u64, result: AppendResult) -> Message<u64> {
    Message::AppendResponse(AppendResponse {
        term: Term(term),
        result,
    })
}

fn success(last_matched: u64) -> AppendResult {
    AppendResult::Success {
        last_matched: LogIndex(last_matched),
    }
}

fn entry(term: u64, index: u64, kind: EntryKind<u64>, size_bytes: u32) -> EntryMeta<u64> {
    EntryMeta {
        log_id: LogId::new(term, index),
        kind,
        size_bytes,
    }
}

fn members() -> ConfigurationEntry<u64> {
    ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]))
}

/// Node 1 elected leader of term 1 in {1, 2, 3} with votes from itself (counted once its
/// term and vote are reported durable) and 2. Returns the core and the actions of the
/// step that made it leader.
fn leader_with(options: CoreOptions) -> (RaftCore<u64>, Vec<Action<u64>>) {
    let mut core = RaftCore::new(
        1u64,
        CoreOptions {
            pre_vote: false,
            ..options
        },
        Restored::empty(members()),
    )
    .unwrap();
    core.start();
    let actions = core.step(Input::Timeout(Timer::Election));
    persisted(&mut core, last_write_seq(&actions));
    let actions = receive(&mut core, 2, vote_response(1, true));
    assert!(core.is_leader());
    (core, actions)
}

/// A new leader appends an entry of its term at once (recording the configuration, as
/// the log holds none), arms both timers and probes every peer with it.
#[test]
fn a_new_leader_appends_its_first_entry_and_probes_every_peer() {
    let (core, actions) = leader_with(CoreOptions::default());
    let first = entry(1, 1, EntryKind::configuration(members()), 0);
    let probe = Message::Append(AppendRequest {
        term: Term(1),
        prev_log_id: LogId::ZERO,
        entries: vec![first.clone()],
        leader_commit: LogIndex(0),
    });
    assert_eq!(
        actions,
        vec![
            Action::AppendLog {
                seq: PersistSeq(2),
                epoch: LogEpoch(0),
                entries: vec![first]
            },
            Action::ResetTimer(Timer::Heartbeat),
            Action::ResetTimer(Timer::Election),
            Action::Send {
                to: 2,
                message: probe.clone()
            },
            Action::Send {
                to: 3,
                message: probe
            },
            role(Role::Leader, 1, Some(1), 0),
        ]
    );
    for peer in [2, 3] {
        let progress = core.progress(&peer).unwrap();
        assert_eq!(
            (
                progress.match_index(),
                progress.next_index(),
                progress.state()
            ),
            (
                LogIndex(0),
                LogIndex(1),
                ProgressState::Probe { paused: true }
            )
        );
    }
    assert_eq!(core.progress(&1), None, "no progress for itself");
    assert_eq!(core.leader(), Some(&1));
}

/// Commit needs a quorum that counts the leader only up to what it made durable, and an
/// entry of the leader's own term; it is then handed out for applying, once.
#[test]
fn a_leader_commits_what_a_quorum_holds_durably() {
    let (mut core, actions) = leader_with(CoreOptions::default());
    let append = last_write_seq(&actions);
    // Both followers hold entry 1, but the leader's own copy is not durable yet.
    assert_eq!(
        receive(&mut core, 2, append_response(1, success(1))),
        vec![]
    );
    assert_eq!(
        receive(&mut core, 3, append_response(1, success(1))),
        vec![]
    );
    assert_eq!(core.commit_index(), LogIndex(0));
    // A report of writes already durable (the term and vote, 1), or of a write never
    // issued (3), is ignored: it says nothing about the entry.
    assert_eq!(append, PersistSeq(2));
    for seq in [0, 1, 3] {
        assert_eq!(persisted(&mut core, PersistSeq(seq)), vec![], "seq {seq}");
        assert_eq!(core.persisted_index(), LogIndex(0), "seq {seq}");
        assert_eq!(core.persist_seqs(), (PersistSeq(2), PersistSeq(1)));
    }
    assert_eq!(persisted(&mut core, append), vec![apply(&core, 1, 1)]);
    assert_eq!(
        (
            core.commit_index(),
            core.applied_issued(),
            core.persisted_index()
        ),
        (LogIndex(1), LogIndex(1), LogIndex(1))
    );
    // Acknowledgements of entries the leader never had are ignored.
    assert_eq!(
        receive(&mut core, 2, append_response(1, success(2))),
        vec![]
    );
    assert_eq!(core.progress(&2).unwrap().match_index(), LogIndex(1));
}

/// A quorum of the leader and one follower commits; the follower's progress turns to
/// pipelining and the leader keeps it fed.
#[test]
fn a_follower_that_matches_is_pipelined() {
    let (mut core, actions) = leader_with(CoreOptions::default());
    persisted(&mut core, last_write_seq(&actions));
    assert_eq!(core.commit_index(), LogIndex(0), "one copy of three");
    assert_eq!(
        receive(&mut core, 2, append_response(1, success(1))),
        vec![apply(&core, 1, 1)]
    );
    let progress = core.progress(&2).unwrap();
    assert_eq!(
        (
            progress.match_index(),
            progress.next_index(),
            progress.state()
        ),
        (LogIndex(1), LogIndex(2), ProgressState::Pipeline)
    );
    // A proposal: accepted ones are appended and sent to the pipelined follower at once;
    // the probed one (3) waits for its answer. A wrong expected term is refused.
    let actions = core.step(Input::Propose(vec![
        Proposal {
            id: RequestId(7),
            size_bytes: 5,
            expected_term: None,
        },
        Proposal {
            id: RequestId(8),
            size_bytes: 5,
            expected_term: Some(Term(9)),
        },
        Proposal {
            id: RequestId(9),
            size_bytes: 6,
            expected_term: Some(Term(1)),
        },
    ]));
    let new = vec![
        entry(1, 2, EntryKind::Normal, 5),
        entry(1, 3, EntryKind::Normal, 6),
    ];
    assert_eq!(
        actions,
        vec![
            Action::ProposalAccepted {
                id: RequestId(7),
                log_id: LogId::new(1, 2)
            },
            Action::ProposalRejected {
                id: RequestId(8),
                error: ProposeError::TermMismatch {
                    expected: Term(9),
                    actual: Term(1)
                }
            },
            Action::ProposalAccepted {
                id: RequestId(9),
                log_id: LogId::new(1, 3)
            },
            Action::AppendLog {
                seq: PersistSeq(3),
                epoch: LogEpoch(0),
                entries: new.clone()
            },
            Action::Send {
                to: 2,
                message: Message::Append(AppendRequest {
                    term: Term(1),
                    prev_log_id: LogId::new(1, 1),
                    entries: new,
                    leader_commit: LogIndex(1),
                })
            },
        ]
    );
    let progress = core.progress(&2).unwrap();
    assert_eq!(progress.next_index(), LogIndex(4));
    assert_eq!(
        (progress.inflights().count(), progress.inflights().bytes()),
        (1, 11)
    );
    // Only refused proposals: nothing to append or send.
    assert_eq!(
        core.step(Input::Propose(vec![Proposal {
            id: RequestId(10),
            size_bytes: 1,
            expected_term: Some(Term(2)),
        }])),
        vec![Action::ProposalRejected {
            id: RequestId(10),
            error: ProposeError::TermMismatch {
                expected: Term(2),
                actual: Term(1)
            }
        }]
    );
    // The acknowledgement frees the window.
    receive(&mut core, 2, append_response(1, success(3)));
    let progress = core.progress(&2).unwrap();
    assert_eq!(
        (progress.match_index(), progress.next_index()),
        (LogIndex(3), LogIndex(4))
    );
    assert_eq!(
        (progress.inflights().count(), progress.inflights().bytes()),
        (0, 0)
    );
}

/// Non-leaders refuse proposals and name the leader they follow.
#[test]
fn followers_refuse_proposals_with_a_leader_hint() {
    let mut core = voter(2, false);
    let propose = Input::Propose(vec![Proposal {
        id: RequestId(1),
        size_bytes: 1,
        expected_term: None,
    }]);
    let refused = |hint| {
        vec![Action::ProposalRejected {
            id: RequestId(1),
            error: ProposeError::NotLeader { leader_hint: hint },
        }]
    };
    assert_eq!(core.step(propose.clone()), refused(None));
    receive(&mut core, 3, heartbeat(1, 0));
    assert_eq!(core.step(propose), refused(Some(3)));
}

/// Heartbeats carry min(commit, the follower's match) so a follower never learns a
/// commit index past what it is known to hold; an answer from a follower that lags gets
/// it a new probe at once, an answer from one that is up to date nothing.
#[test]
fn heartbeats_carry_a_safe_commit_and_answers_reprobe_laggards() {
    let (mut core, actions) = leader_with(CoreOptions::default());
    persisted(&mut core, last_write_seq(&actions));
    receive(&mut core, 2, append_response(1, success(1)));
    assert_eq!(core.commit_index(), LogIndex(1));
    assert_eq!(
        core.step(Input::Timeout(Timer::Heartbeat)),
        vec![
            Action::Send {
                to: 2,
                message: heartbeat(1, 1)
            },
            Action::Send {
                to: 3,
                message: heartbeat(1, 0)
            },
            Action::ResetTimer(Timer::Heartbeat),
        ]
    );
    let up_to_date = Message::HeartbeatResponse(HeartbeatResponse {
        term: Term(1),
        round: 0,
        lease_cover: 0,
    });
    assert_eq!(receive(&mut core, 2, up_to_date.clone()), vec![]);
    assert_eq!(
        receive(&mut core, 3, up_to_date),
        vec![Action::Send {
            to: 3,
            message: Message::Append(AppendRequest {
                term: Term(1),
                prev_log_id: LogId::ZERO,
                entries: vec![entry(1, 1, EntryKind::configuration(members()), 0)],
                leader_commit: LogIndex(1),
            })
        }]
    );
    assert_eq!(
        core.progress(&3).unwrap().state(),
        ProgressState::Probe { paused: true }
    );
}

fn append(term: u64, prev: LogId, entries: Vec<EntryMeta<u64>>, commit: u64) -> Message<u64> {
    Message::Append(AppendRequest {
        term: Term(term),
        prev_log_id: prev,
        entries,
        leader_commit: LogIndex(commit),
    })
}

/// A leader made durable and acknowledged by follower 2 (pipelined); 3 is still probed.
fn leader_with_follower_2(options: CoreOptions) -> RaftCore<u64> {
    let (mut core, actions) = leader_with(options);
    persisted(&mut core, last_write_seq(&actions));
    receive(&mut core, 2, append_response(1, success(1)));
    assert_eq!(core.commit_index(), LogIndex(1));
    core
}

fn proposals(sizes: &[u32]) -> Input<u64> {
    Input::Propose(
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size_bytes)| Proposal {
                id: RequestId(100 + i as u64),
                size_bytes,
                expected_term: None,
            })
            .collect(),
    )
}

fn sent_appends(actions: &[Action<u64>], to: u64) -> Vec<(LogId, Vec<LogId>)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Send {
                to: peer,
                message: Message::Append(request),
            } if *peer == to => Some((
                request.prev_log_id,
                request.entries.iter().map(|e| e.log_id).collect(),
            )),
            _ => None,
        })
        .collect()
}

/// Pipelining sends message after message within the in-flight window (count and
/// bytes); a heartbeat answer while the window is full frees its oldest slot.
#[test]
fn the_pipeline_fills_its_window_and_no_more() {
    let options = CoreOptions {
        max_entries_per_message: 1,
        max_inflight_messages: 2,
        ..CoreOptions::default()
    };
    let mut core = leader_with_follower_2(options);
    let actions = core.step(proposals(&[1, 1, 1]));
    assert_eq!(
        sent_appends(&actions, 2),
        vec![
            (LogId::new(1, 1), vec![LogId::new(1, 2)]),
            (LogId::new(1, 2), vec![LogId::new(1, 3)]),
        ]
    );
    assert_eq!(
        sent_appends(&actions, 3),
        vec![],
        "3 is probed and its probe is out"
    );
    let progress = core.progress(&2).unwrap();
    assert_eq!(
        (progress.next_index(), progress.inflights().count()),
        (LogIndex(4), 2)
    );
    // The window is full: a heartbeat answer assumes the oldest message lost.
    let answer = Message::HeartbeatResponse(HeartbeatResponse {
        term: Term(1),
        round: 0,
        lease_cover: 0,
    });
    let actions = receive(&mut core, 2, answer);
    assert_eq!(
        sent_appends(&actions, 2),
        vec![(LogId::new(1, 3), vec![LogId::new(1, 4)])]
    );
    assert_eq!(core.progress(&2).unwrap().inflights().count(), 2);
    // Acknowledgements free what they cover, and more is sent.
    receive(&mut core, 2, append_response(1, success(3)));
    let progress = core.progress(&2).unwrap();
    assert_eq!(
        (progress.match_index(), progress.inflights().count()),
        (LogIndex(3), 1)
    );

    // The byte bound: 6-byte entries, 10 bytes in flight at most.
    let options = CoreOptions {
        max_entries_per_message: 1,
        max_inflight_bytes: 10,
        ..CoreOptions::default()
    };
    let mut core = leader_with_follower_2(options);
    let actions = core.step(proposals(&[6, 6, 6]));
    assert_eq!(sent_appends(&actions, 2).len(), 2);
    assert_eq!(core.progress(&2).unwrap().inflights().bytes(), 12);
    // With room for everything, one message carries every entry.
    let mut core = leader_with_follower_2(CoreOptions::default());
    let actions = core.step(proposals(&[6, 6, 6]));
    assert_eq!(
        sent_appends(&actions, 2),
        vec![(
            LogId::new(1, 1),
            vec![LogId::new(1, 2), LogId::new(1, 3), LogId::new(1, 4)]
        )]
    );
}

/// A rejection makes the leader probe again from the follower's hint (F27: a whole
/// term's run at a time); a rejection that answers an earlier probe is ignored.
#[test]
fn a_rejection_backs_off_by_the_hint() {
    let mut restored = Restored::empty(members());
    restored.hard_state.term = Term(2);
    restored.entries = vec![
        entry(1, 1, EntryKind::Normal, 1),
        entry(1, 2, EntryKind::Normal, 1),
        entry(2, 3, EntryKind::Normal, 1),
        entry(2, 4, EntryKind::Normal, 1),
    ];
    let options = CoreOptions {
        pre_vote: false,
        ..CoreOptions::default()
    };
    let mut core = RaftCore::new(1u64, options, restored).unwrap();
    core.start();
    let actions = core.step(Input::Timeout(Timer::Election));
    persisted(&mut core, last_write_seq(&actions)); // its own vote counts
    let actions = receive(&mut core, 2, vote_response(3, true));
    assert!(core.is_leader());
    assert_eq!(
        sent_appends(&actions, 3),
        vec![(LogId::new(2, 4), vec![LogId::new(3, 5)])]
    );
    // 3 holds only 1.1 and 1.2: it rejects prev 2.4 and hints 1.2.
    let reject = |rejected_prev, hint| {
        append_response(
            3,
            AppendResult::Conflict {
                rejected_prev: LogIndex(rejected_prev),
                hint,
            },
        )
    };
    let actions = receive(&mut core, 3, reject(4, LogId::new(1, 2)));
    assert_eq!(
        sent_appends(&actions, 3),
        vec![(
            LogId::new(1, 2),
            vec![LogId::new(2, 3), LogId::new(2, 4), LogId::new(3, 5)]
        )]
    );
    assert_eq!(core.progress(&3).unwrap().next_index(), LogIndex(3));
    // The same rejection again answers the earlier probe: ignored.
    assert_eq!(receive(&mut core, 3, reject(4, LogId::new(1, 2))), vec![]);
    assert_eq!(core.progress(&3).unwrap().next_index(), LogIndex(3));
    // A hint with a term the leader does not hold at that index moves back to the last
    // index whose term is not newer than the hint's.
    let actions = receive(&mut core, 3, reject(2, LogId::new(0, 0)));
    assert_eq!(
        sent_appends(&actions, 3),
        vec![(
            LogId::ZERO,
            vec![
                LogId::new(1, 1),
                LogId::new(1, 2),
                LogId::new(2, 3),
                LogId::new(2, 4),
                LogId::new(3, 5)
            ]
        )]
    );
    // Stale answers of the current term are ignored once matched.
    receive(&mut core, 3, append_response(3, success(5)));
    let progress = core.progress(&3).unwrap();
    assert_eq!(
        (
            progress.match_index(),
            progress.next_index(),
            progress.state()
        ),
        (LogIndex(5), LogIndex(6), ProgressState::Pipeline)
    );
    assert_eq!(receive(&mut core, 3, reject(4, LogId::new(1, 2))), vec![]);
    assert_eq!(core.progress(&3).unwrap().next_index(), LogIndex(6));
}

/// Raft §5.4.2 (Figure 8): an entry of an earlier term is never committed by counting
/// replicas; only an entry of the leader's own term commits, and it carries the older
/// ones with it.
#[test]
fn entries_of_earlier_terms_commit_only_through_one_of_the_current_term() {
    let mut restored = Restored::empty(members());
    restored.hard_state.term = Term(1);
    restored.entries = vec![entry(1, 1, EntryKind::Normal, 1)];
    let options = CoreOptions {
        pre_vote: false,
        ..CoreOptions::default()
    };
    let mut core = RaftCore::new(1u64, options, restored).unwrap();
    core.start();
    let actions = core.step(Input::Timeout(Timer::Election));
    persisted(&mut core, last_write_seq(&actions)); // its own vote counts
    let actions = receive(&mut core, 2, vote_response(2, true));
    assert!(core.is_leader());
    // The leader's entry 2.2 is durable.
    persisted(&mut core, last_write_seq(&actions));
    assert_eq!(core.persisted_index(), LogIndex(2));
    // 1.1 is now on a quorum (the leader and 2), but it is of term 1.
    receive(
        &mut core,
        2,
        append_response(
            2,
            AppendResult::Conflict {
                rejected_prev: LogIndex(1),
                hint: LogId::ZERO,
            },
        ),
    );
    let actions = receive(&mut core, 2, append_response(2, success(1)));
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Apply { .. })),
        "{actions:?}"
    );
    assert_eq!(core.commit_index(), LogIndex(0));
    assert_eq!(
        receive(&mut core, 2, append_response(2, success(2))),
        vec![apply(&core, 1, 2)]
    );
}

/// F25: a leader that heard from a quorum since the last check stays and re-arms the
/// timer; one that did not steps down. With check-quorum off it never does.
#[test]
fn check_quorum_deposes_a_leader_cut_off_from_a_quorum() {
    let mut core = leader_with_follower_2(CoreOptions::default());
    // (`recent_active` is what the runtime's status reports as a peer's liveness.)
    assert!(core.progress(&2).unwrap().recent_active(), "2 answered");
    assert!(!core.progress(&3).unwrap().recent_active(), "3 did not");
    assert_eq!(
        core.step(Input::Timeout(Timer::Election)),
        vec![Action::ResetTimer(Timer::Election)]
    );
    assert!(core.is_leader());
    assert!(
        !core.progress(&2).unwrap().recent_active(),
        "reset for the next round"
    );
    assert_eq!(
        core.step(Input::Timeout(Timer::Election)),
        vec![
            Action::CancelTimer(Timer::Heartbeat),
            Action::ResetTimer(Timer::Election),
            role(Role::Follower, 1, None, 1),
        ]
    );
    assert_eq!((core.term(), core.voted_for()), (Term(1), Some(&1)));

    let options = CoreOptions {
        check_quorum: false,
        ..CoreOptions::default()
    };
    let mut core = leader_with_follower_2(options);
    for _ in 0..3 {
        assert_eq!(
            core.step(Input::Timeout(Timer::Election)),
            vec![Action::ResetTimer(Timer::Election)]
        );
    }
    assert!(core.is_leader());
}

/// Raft §5.4.1: no vote for a candidate whose log is less up to date (by last term,
/// then by length).
#[test]
fn votes_go_only_to_candidates_at_least_as_up_to_date() {
    let mut restored = Restored::empty(members());
    restored.hard_state.term = Term(2);
    restored.entries = vec![
        entry(1, 1, EntryKind::Normal, 1),
        entry(2, 2, EntryKind::Normal, 1),
    ];
    let mut core = RaftCore::new(3u64, CoreOptions::default(), restored).unwrap();
    core.start();
    for (term, last, granted) in [
        (3, LogId::new(1, 9), false), // older last term, longer log
        (4, LogId::new(2, 1), false), // same last term, shorter log
        (5, LogId::new(2, 2), true),  // the same log
    ] {
        let actions = receive(&mut core, 1, vote_request(term, last));
        let answer = Action::Send {
            to: 1,
            message: vote_response(term, granted),
        };
        if granted {
            // A grant leaves once the vote is durable.
            assert!(!actions.contains(&answer), "term {term}: {actions:?}");
            assert_eq!(
                persisted(&mut core, last_write_seq(&actions)),
                vec![answer],
                "term {term}"
            );
        } else {
            assert!(actions.contains(&answer), "term {term}: {actions:?}");
        }
    }
    assert_eq!(core.voted_for(), Some(&1));
}

/// A leader of this term hears from a node claiming to lead it too: impossible with a
/// correct quorum, so the message is dropped and the leader stays.
#[test]
fn a_leader_ignores_appends_and_heartbeats_of_its_own_term() {
    let (mut core, _) = leader_with(CoreOptions::default());
    assert_eq!(receive(&mut core, 2, heartbeat(1, 0)), vec![]);
    assert_eq!(
        receive(&mut core, 3, append(1, LogId::ZERO, vec![], 0)),
        vec![]
    );
    assert!(core.is_leader());
}

/// A candidate that hears from the leader of its term follows it and keeps its vote
/// (for itself) for that term.
#[test]
fn a_candidate_follows_a_leader_of_its_term_and_keeps_its_vote() {
    let mut core = voter(3, false);
    // Its term and vote durable (else the heartbeat's answer would wait for them).
    let actions = core.step(Input::Timeout(Timer::Election));
    persisted(&mut core, last_write_seq(&actions));
    assert_eq!(
        receive(&mut core, 1, heartbeat(1, 0)),
        vec![
            Action::ResetTimer(Timer::Election),
            Action::Send {
                to: 1,
                message: Message::HeartbeatResponse(HeartbeatResponse {
                    term: Term(1),
                    round: 0,
                    lease_cover: 0,
                })
            },
            role(Role::Follower, 1, Some(1), 0),
        ]
    );
    assert_eq!((core.term(), core.voted_for()), (Term(1), Some(&3)));
    // So it refuses another candidate of that term.
    assert_eq!(
        receive(&mut core, 2, vote_request(1, LogId::ZERO)),
        vec![Action::Send {
            to: 2,
            message: vote_response(1, false)
        }]
    );
}

fn follower_with(id: u64, term: u64, snapshot: Option<LogId>, log: &[(u64, u64)]) -> RaftCore<u64> {
    let mut restored = Restored::empty(members());
    restored.hard_state.term = Term(term);
    restored.snapshot = snapshot.map(|last_included| SnapshotMeta {
        last_included,
        configuration: members(),
    });
    restored.entries = log
        .iter()
        .map(|&(term, index)| entry(term, index, EntryKind::Normal, 1))
        .collect();
    let mut core = RaftCore::new(id, CoreOptions::default(), restored).unwrap();
    core.start();
    core
}

/// An acknowledgement to leader 1 (held by the core until what it acknowledges is
/// durable, then sent).
fn ack(term: u64, last_matched: u64) -> Action<u64> {
    Action::Send {
        to: 1,
        message: append_response(term, success(last_matched)),
    }
}

/// Entries at or below the snapshot are skipped: a message that starts below it is cut
/// to its new part, and one that ends below it is acknowledged up to the snapshot. (The
/// acknowledgements wait for the write of entry 6, issued before them.)
#[test]
fn appends_reaching_below_the_snapshot_are_cut_at_it() {
    let mut core = follower_with(2, 1, Some(LogId::new(1, 5)), &[]);
    assert_eq!(core.commit_index(), LogIndex(5));
    let normal = |index| entry(1, index, EntryKind::Normal, 1);
    assert_eq!(
        receive(
            &mut core,
            1,
            append(
                1,
                LogId::new(1, 3),
                vec![normal(4), normal(5), normal(6)],
                6
            )
        ),
        vec![
            Action::ResetTimer(Timer::Election),
            Action::AppendLog {
                seq: PersistSeq(1),
                epoch: LogEpoch(0),
                entries: vec![normal(6)]
            },
            role(Role::Follower, 1, Some(1), 5),
        ]
    );
    assert_eq!(core.last_log_id(), LogId::new(1, 6));
    assert_eq!(core.held_messages(), 1);
    // Ends below the snapshot: nothing to write, acknowledged up to the snapshot.
    assert_eq!(
        receive(
            &mut core,
            1,
            append(1, LogId::new(1, 2), vec![normal(3)], 6)
        ),
        vec![Action::ResetTimer(Timer::Election)]
    );
    assert_eq!(core.held_messages(), 2);
    // Ends exactly at the snapshot.
    assert_eq!(
        receive(
            &mut core,
            1,
            append(1, LogId::new(1, 3), vec![normal(4), normal(5)], 6)
        ),
        vec![Action::ResetTimer(Timer::Election)]
    );
    assert_eq!(core.held_messages(), 3);
    assert_eq!(core.persist_seqs(), (PersistSeq(1), PersistSeq(0)));
    assert_eq!(
        persisted(&mut core, PersistSeq(1)),
        vec![apply(&core, 6, 6), ack(1, 6), ack(1, 5), ack(1, 5),]
    );
    assert_eq!(core.commit_index(), LogIndex(6));
}

/// Raft §5.3: a conflicting suffix is truncated (a new epoch) and replaced; entries
/// already held are not written again; a message that would truncate a committed entry
/// is not from a real leader and is dropped.
#[test]
fn a_follower_replaces_a_conflicting_suffix_but_never_a_committed_entry() {
    let mut core = follower_with(2, 1, None, &[(1, 1), (1, 2)]);
    let blank = entry(2, 2, EntryKind::Blank, 0);
    assert_eq!(
        receive(
            &mut core,
            1,
            append(2, LogId::new(1, 1), vec![blank.clone()], 0)
        ),
        vec![
            hard_state(1, 2, None),
            Action::ResetTimer(Timer::Election),
            Action::TruncateLog {
                seq: PersistSeq(2),
                from: LogIndex(2),
                epoch: LogEpoch(1)
            },
            Action::AppendLog {
                seq: PersistSeq(3),
                epoch: LogEpoch(1),
                entries: vec![blank.clone()]
            },
            role(Role::Follower, 2, Some(1), 0),
        ]
    );
    assert_eq!(
        core.persisted_index(),
        LogIndex(1),
        "truncation lowers the durable end"
    );
    assert_eq!(core.entry_meta(LogIndex(2)), Some(blank.clone()));
    // A duplicate of what we hold: acknowledged (once the writes before it are
    // durable), nothing written.
    assert_eq!(
        receive(
            &mut core,
            1,
            append(2, LogId::ZERO, vec![entry(1, 1, EntryKind::Normal, 1)], 0)
        ),
        vec![Action::ResetTimer(Timer::Election)]
    );
    assert_eq!(core.held_messages(), 2);
    // A heartbeat's commit is capped at our last index; it applies once durable. Its
    // answer waits for term 2 to be durable (it may confirm a lease).
    assert_eq!(
        receive(&mut core, 1, heartbeat(2, 9)),
        vec![Action::ResetTimer(Timer::Election), apply(&core, 1, 1)]
    );
    assert_eq!(core.commit_index(), LogIndex(1));
    let heartbeat_answer = Action::Send {
        to: 1,
        message: Message::HeartbeatResponse(HeartbeatResponse {
            term: Term(2),
            round: 0,
            lease_cover: 0,
        }),
    };
    assert_eq!(
        persisted(&mut core, PersistSeq(3)),
        vec![apply(&core, 2, 2), ack(2, 2), ack(2, 1), heartbeat_answer]
    );
    // Entry 2 is committed: a message that conflicts with it is dropped unanswered.
    assert_eq!(
        receive(
            &mut core,
            1,
            append(
                2,
                LogId::new(1, 1),
                vec![entry(1, 2, EntryKind::Normal, 1)],
                2
            )
        ),
        vec![Action::ResetTimer(Timer::Election)]
    );
    assert_eq!(core.last_log_id(), LogId::new(2, 2));
}

/// A completion is matched to its write by sequence number, and the completion of an
/// append issued before a truncation covers none of the entries written after it, even
/// where they carry the same log ids: the log's epoch check (`RaftLog::mark_persisted`)
/// refuses it. Here entry 1.2 is written, truncated by the leader of term 2, and
/// written again by the leader of term 3: the report of the first write (whose entry
/// the pending truncation will delete) must not let the commit index pass what is
/// durable.
#[test]
fn a_completion_from_before_a_truncation_covers_nothing_written_after_it() {
    let mut core = voter(2, false);
    let normal = |term, index| entry(term, index, EntryKind::Normal, 1);
    // Term 1: 1.1 and 1.2 (writes 1 and 2).
    let actions = receive(
        &mut core,
        1,
        append(1, LogId::ZERO, vec![normal(1, 1), normal(1, 2)], 0),
    );
    let first_append = last_write_seq(&actions);
    assert_eq!(first_append, PersistSeq(2));
    // Term 2 (leader 3): 1.2 is replaced by 2.2 (writes 3 to 5, epoch 1).
    let actions = receive(
        &mut core,
        3,
        append(2, LogId::new(1, 1), vec![normal(2, 2)], 0),
    );
    assert!(
        actions.contains(&Action::TruncateLog {
            seq: PersistSeq(4),
            from: LogIndex(2),
            epoch: LogEpoch(1)
        }),
        "{actions:?}"
    );
    let second_append = last_write_seq(&actions);
    // Term 3 (leader 1 again): 2.2 is replaced by 1.2 and 3.3 (writes 6 to 8, epoch 2),
    // and everything up to 3 is known committed.
    let actions = receive(
        &mut core,
        1,
        append(3, LogId::new(1, 1), vec![normal(1, 2), normal(3, 3)], 3),
    );
    assert!(
        actions.contains(&Action::AppendLog {
            seq: PersistSeq(8),
            epoch: LogEpoch(2),
            entries: vec![normal(1, 2), normal(3, 3)]
        }),
        "{actions:?}"
    );
    let third_append = last_write_seq(&actions);
    assert_eq!(core.describe_log(), "1..=2@t1 3..=3@t3");
    assert_eq!(
        (core.commit_index(), core.persisted_index()),
        (LogIndex(0), LogIndex(0))
    );
    // The first append is durable, the truncations after it are not: the log holds 1.2
    // again, but not durably. Only the term-1 acknowledgement (true when sent) leaves.
    assert_eq!(
        persisted(&mut core, first_append),
        vec![Action::Send {
            to: 1,
            message: append_response(1, success(2))
        }]
    );
    assert_eq!(
        (core.commit_index(), core.persisted_index()),
        (LogIndex(0), LogIndex(0))
    );
    // The second append belongs to epoch 1 and its entry is gone: still nothing durable.
    assert_eq!(
        persisted(&mut core, second_append),
        vec![Action::Send {
            to: 3,
            message: append_response(2, success(2))
        }]
    );
    assert_eq!(
        (core.commit_index(), core.persisted_index()),
        (LogIndex(0), LogIndex(0))
    );
    // The re-append is durable: everything commits.
    assert_eq!(
        persisted(&mut core, third_append),
        vec![
            apply(&core, 1, 3),
            Action::Send {
                to: 1,
                message: append_response(3, success(3))
            },
        ]
    );
    assert_eq!(
        (core.commit_index(), core.persisted_index()),
        (LogIndex(3), LogIndex(3))
    );
}

/// A follower that lacks the previous entry rejects with a hint: the last entry it holds
/// at or below it with a term not newer than the leader's previous entry.
#[test]
fn a_follower_without_the_previous_entry_rejects_with_a_hint() {
    let mut core = follower_with(2, 3, None, &[(1, 1), (1, 2), (3, 3)]);
    assert_eq!(
        receive(&mut core, 1, append(3, LogId::new(2, 5), vec![], 0)),
        vec![
            Action::ResetTimer(Timer::Election),
            Action::Send {
                to: 1,
                message: append_response(
                    3,
                    AppendResult::Conflict {
                        rejected_prev: LogIndex(5),
                        hint: LogId::new(1, 2)
                    }
                )
            },
            role(Role::Follower, 3, Some(1), 0),
        ]
    );
}

/// Learners follow and apply but never campaign. A learner arms the election timer only
/// while it knows a leader, to forget a leader that went silent.
#[test]
fn learners_never_campaign() {
    let configuration =
        ConfigurationEntry::stable(Configuration::new([1u64, 2, 3], [4u64]).unwrap());
    let mut core = RaftCore::new(
        4u64,
        CoreOptions::default(),
        Restored::empty(configuration.clone()),
    )
    .unwrap();
    assert_eq!(core.start(), vec![]);
    assert_eq!(core.step(Input::Timeout(Timer::Election)), vec![]);
    assert_eq!(
        receive(&mut core, 1, heartbeat(1, 0)),
        vec![
            hard_state(1, 1, None),
            Action::ResetTimer(Timer::Election),
            role(Role::Follower, 1, Some(1), 0)
        ]
    );
    // The answer leaves once term 1 is durable.
    assert_eq!(
        persisted(&mut core, PersistSeq(1)),
        vec![Action::Send {
            to: 1,
            message: Message::HeartbeatResponse(HeartbeatResponse {
                term: Term(1),
                round: 0,
                lease_cover: 0,
            })
        }]
    );
    // A leader replicates to the learner but does not count it.
    let mut leader = RaftCore::new(
        1u64,
        CoreOptions {
            pre_vote: false,
            ..CoreOptions::default()
        },
        Restored::empty(configuration),
    )
    .unwrap();
    leader.start();
    let actions = leader.step(Input::Timeout(Timer::Election));
    persisted(&mut leader, last_write_seq(&actions)); // its own vote counts
    let actions = receive(&mut leader, 2, vote_response(1, true));
    assert_eq!(sent_appends(&actions, 4).len(), 1);
    persisted(&mut leader, last_write_seq(&actions));
    assert_eq!(leader.persisted_index(), LogIndex(1));
    receive(&mut leader, 4, append_response(1, success(1)));
    assert_eq!(
        leader.commit_index(),
        LogIndex(0),
        "a learner is not a quorum"
    );
    receive(&mut leader, 3, append_response(1, success(1)));
    assert_eq!(leader.commit_index(), LogIndex(1));
    // The learner's timer fires: it forgets the leader and still does not campaign.
    assert_eq!(
        core.step(Input::Timeout(Timer::Election)),
        vec![role(Role::Follower, 1, None, 0)]
    );
    assert_eq!(core.leader(), None);
    assert_eq!(core.role(), Role::Follower);
}

/// With leases, a restarted node refuses votes until an election timeout has passed
/// (`vote_guard`): a node that is no voter in its own configuration arms the timer at
/// start for that, or it would refuse the others' candidates for ever.
#[test]
fn a_restarted_non_voter_with_leases_ends_its_vote_guard() {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let options = CoreOptions {
        read_lease: 1,
        ..CoreOptions::default()
    };
    let mut restored = Restored::empty(configuration);
    restored.hard_state.term = Term(3);
    let mut core = RaftCore::new(4u64, options, restored).unwrap();
    assert_eq!(core.start(), vec![Action::ResetTimer(Timer::Election)]);
    // The guard holds: a candidate's pre-vote gets no answer.
    assert_eq!(
        receive(&mut core, 2, pre_vote_request(4, LogId::new(3, 5))),
        vec![]
    );
    // The timer ends it (no campaign), and the pre-vote is granted.
    assert_eq!(core.step(Input::Timeout(Timer::Election)), vec![]);
    assert_eq!(
        receive(&mut core, 2, pre_vote_request(4, LogId::new(3, 5))),
        vec![Action::Send {
            to: 2,
            message: pre_vote_response(4, true)
        }]
    );
}

/// A new server catching up has not yet received the entry that makes it a voter, so it
/// is no voter in its own configuration — but it is one in the configuration of the
/// others, and their candidates need its (pre-)vote. While it knows a leader it refuses
/// them (leader stickiness, F24); it must forget a leader that went silent after an
/// election timeout like any voter, or a cluster whose leader failed during the
/// catch-up could not elect another until that leader came back (chaos suite,
/// `--max-entries-per-message 1`, seed 5830: n2 pre-campaigned for 5.6 s, refused by the
/// catching-up replacement of n1, until the failed leader restarted).
#[test]
fn a_server_not_yet_a_voter_forgets_a_silent_leader_and_grants_pre_votes() {
    // Server 4 replaces 1: it has not reached the entry {2, 3, 4} yet.
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let mut core =
        RaftCore::new(4u64, CoreOptions::default(), Restored::empty(configuration)).unwrap();
    assert_eq!(core.start(), vec![], "no voter: no timer at start");
    // Leader 3 of term 1 appends to it: it follows, and arms the timer.
    let actions = receive(&mut core, 3, heartbeat(1, 0));
    assert!(
        actions.contains(&Action::ResetTimer(Timer::Election)),
        "{actions:?}"
    );
    assert_eq!(core.leader(), Some(&3));
    // Every further word from the leader re-arms it.
    let actions = receive(&mut core, 3, heartbeat(1, 0));
    assert!(
        actions.contains(&Action::ResetTimer(Timer::Election)),
        "{actions:?}"
    );
    // While the leader is known, a pre-vote of server 2 (for whom 4 is a voter) gets
    // no answer: stickiness.
    assert_eq!(
        receive(&mut core, 2, pre_vote_request(2, LogId::new(1, 5))),
        vec![]
    );
    // The leader goes silent: the timer fires, the leader is forgotten, no campaign.
    assert_eq!(
        core.step(Input::Timeout(Timer::Election)),
        vec![role(Role::Follower, 1, None, 0)]
    );
    assert_eq!((core.leader(), core.role()), (None, Role::Follower));
    // Now the pre-vote is granted (server 2's log is more up to date than the empty one).
    assert_eq!(
        receive(&mut core, 2, pre_vote_request(2, LogId::new(1, 5))),
        vec![Action::Send {
            to: 2,
            message: pre_vote_response(2, true)
        }]
    );
}

/// Membership queries (the runtime and tools use them; the protocol asks `is_voter` and
/// `all_members`).
#[test]
fn configuration_queries_tell_voters_learners_and_strangers_apart() {
    let both = Configuration::new([1u64, 2], [3u64]).unwrap();
    assert!(both.is_voter(&1) && !both.is_voter(&3) && !both.is_voter(&9));
    assert!(both.is_learner(&3) && !both.is_learner(&1) && !both.is_learner(&9));
    assert!(both.contains(&1) && both.contains(&3) && !both.contains(&9));
    assert!(!both.is_empty());
    assert!(!Configuration::with_voters([1u64]).is_empty());
    assert!(!Configuration::new(Vec::<u64>::new(), [3u64])
        .unwrap()
        .is_empty());
    assert!(Configuration::<u64>::default().is_empty());
    assert_eq!(both.members().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(
        both.voters().iter().copied().collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(both.learners().iter().copied().collect::<Vec<_>>(), vec![3]);
    let joint = ConfigurationEntry {
        current: Configuration::new([3u64, 4], [5u64]).unwrap(),
        old: Some(both.clone()),
    };
    assert!(joint.is_joint() && !ConfigurationEntry::stable(both).is_joint());
    assert!(joint.is_voter(&1) && joint.is_voter(&4) && !joint.is_voter(&5));
    assert_eq!(
        joint.all_members().into_iter().collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
}

/// Renaming nodes (the model checker's symmetry reduction) renames every id a core or a
/// message holds, and nothing else.
#[test]
fn relabel_renames_every_node_id() {
    let swap = |n: &u64| match *n {
        1 => 3,
        3 => 1,
        other => other,
    };
    let configuration = Configuration::new([1u64, 2], [3u64]).unwrap();
    let renamed = configuration.relabel(&swap);
    assert_eq!(renamed, Configuration::new([3u64, 2], [1u64]).unwrap());
    let joint = ConfigurationEntry {
        current: configuration.clone(),
        old: Some(Configuration::with_voters([1u64])),
    };
    assert_eq!(
        joint.relabel(&swap),
        ConfigurationEntry {
            current: renamed.clone(),
            old: Some(Configuration::with_voters([3u64])),
        }
    );
    let conf_entry = entry(2, 7, EntryKind::configuration(joint.clone()), 3);
    assert_eq!(
        conf_entry.relabel(&swap),
        entry(2, 7, EntryKind::configuration(joint.relabel(&swap)), 3)
    );
    for kind in [EntryKind::Blank, EntryKind::Normal] {
        assert_eq!(
            entry(2, 7, kind.clone(), 3).relabel(&swap),
            entry(2, 7, kind, 3)
        );
    }
    assert_eq!(
        HardState {
            term: Term(4),
            voted_for: Some(1u64),
            reset: None,
        }
        .relabel(&swap),
        HardState {
            term: Term(4),
            voted_for: Some(3),
            reset: None,
        }
    );
    let message = append(2, LogId::new(1, 6), vec![conf_entry.clone()], 5);
    assert_eq!(
        message.relabel(&swap),
        append(2, LogId::new(1, 6), vec![conf_entry.relabel(&swap)], 5)
    );
    assert_eq!(heartbeat(3, 2).relabel(&swap), heartbeat(3, 2));

    // A leader, renamed: itself, its vote (and the durable one), its leader, its
    // followers' progress and its configuration.
    let mut core = leader_with_follower_2(CoreOptions::default());
    core.step(Input::Timeout(Timer::Election)); // a check-quorum round: 2 answered, it stays
    let renamed = core.relabel(&swap);
    assert_eq!(renamed.id(), &3);
    assert_eq!(renamed.voted_for(), Some(&3));
    assert_eq!(
        renamed.durable_hard_state(),
        &HardState {
            term: Term(1),
            voted_for: Some(3),
            reset: None,
        }
    );
    assert_eq!(renamed.persist_seqs(), core.persist_seqs());
    assert_eq!(renamed.leader(), Some(&3));
    assert!(renamed.is_leader());
    assert_eq!(renamed.term(), core.term());
    assert_eq!(renamed.commit_index(), core.commit_index());
    assert_eq!(renamed.last_log_id(), core.last_log_id());
    assert_eq!(
        renamed.progress(&1).map(|p| p.match_index()),
        Some(LogIndex(0))
    );
    assert_eq!(
        renamed.progress(&2).map(|p| p.match_index()),
        Some(LogIndex(1))
    );
    assert_eq!(renamed.progress(&3), None);
    assert_eq!(renamed.configuration(), &members().relabel(&swap));
    renamed.check_invariants().unwrap();
    // Renaming back gives the original.
    assert_eq!(renamed.relabel(&swap), core);
}

/// A follower learns a commit index only up to what the message proved it shares with
/// the leader (Figure 2: `min(leaderCommit, index of last new entry)`): an entry past
/// the matched prefix may be a stale one of an older term, which the leader's commit
/// index says nothing about. (Teeth variant `follower-commit-beyond-match`.)
#[test]
fn a_follower_commits_only_what_the_message_matched() {
    let mut core = follower_with(2, 1, None, &[(1, 1), (1, 2)]);
    let mut actions = receive(&mut core, 1, append(2, LogId::new(1, 1), vec![], 2));
    assert_eq!(core.commit_index(), LogIndex(1), "{actions:?}");
    // The acknowledgement waits for the new term to be durable.
    assert!(!actions.contains(&ack(2, 1)), "{actions:?}");
    let released = persisted(&mut core, last_write_seq(&actions));
    assert_eq!(released, vec![ack(2, 1)]);
    assert_eq!(core.commit_index(), LogIndex(1));
    actions.extend(released);
    assert!(
        !actions
            .iter()
            .any(|action| matches!(action, Action::Apply { entries } if entries.last().is_some_and(|m| m.log_id.index > LogIndex(1)))),
        "{actions:?}"
    );
}

/// A granted vote from an earlier term is not a vote in this one: a candidate that ran
/// twice counts only answers to its current request. (Teeth variant
/// `stale-vote-response-counted`: counted, it makes two leaders in one term.) The same
/// holds for its own vote: the vote of its first candidacy, once durable, does not count
/// in the second (counted, it would lead before its vote of the new term is durable).
#[test]
fn a_stale_granted_vote_is_not_counted() {
    let mut core = voter(1, false);
    core.step(Input::Timeout(Timer::Election)); // candidate of term 1: write 1
    core.step(Input::Timeout(Timer::Election)); // split vote: candidate of term 2: write 2
    assert_eq!((core.role(), core.term()), (Role::Candidate, Term(2)));
    assert_eq!(core.persist_seqs(), (PersistSeq(2), PersistSeq(0)));
    // Its own vote for term 2 is durable: it counts.
    persisted(&mut core, PersistSeq(2));
    assert_eq!((core.role(), core.term()), (Role::Candidate, Term(2)));
    // Node 2's grant for term 1 arrives late.
    assert_eq!(receive(&mut core, 2, vote_response(1, true)), vec![]);
    assert_eq!((core.role(), core.term()), (Role::Candidate, Term(2)));
    // A grant for term 2 makes the quorum.
    receive(&mut core, 2, vote_response(2, true));
    assert_eq!((core.role(), core.term()), (Role::Leader, Term(2)));

    // Only the vote of term 1 is durable when node 2 grants term 2: no quorum yet.
    let mut core = voter(1, false);
    core.step(Input::Timeout(Timer::Election));
    core.step(Input::Timeout(Timer::Election));
    let request = |term| vote_request(term, LogId::ZERO);
    assert_eq!(
        persisted(&mut core, PersistSeq(1)),
        vec![
            Action::Send {
                to: 2,
                message: request(1)
            },
            Action::Send {
                to: 3,
                message: request(1)
            },
        ]
    );
    assert_eq!(receive(&mut core, 2, vote_response(2, true)), vec![]);
    assert_eq!((core.role(), core.term()), (Role::Candidate, Term(2)));
    // Its vote of term 2 is durable: now it leads.
    persisted(&mut core, PersistSeq(2));
    assert_eq!((core.role(), core.term()), (Role::Leader, Term(2)));
}

/// Each kind of membership change makes exactly the configuration its documentation
/// names, and refuses what it must (kills `delete !` in `MembershipChange::apply_to`'s
/// `ChangeVoters` arm: a change of voters that kept promoted learners as learners too,
/// or dropped the learners it did not name).
#[test]
fn membership_changes_make_exactly_the_documented_configuration() {
    let set = |ids: &[u64]| {
        ids.iter()
            .copied()
            .collect::<std::collections::BTreeSet<u64>>()
    };
    let config = |voters: &[u64], learners: &[u64]| {
        Configuration::new(voters.iter().copied(), learners.iter().copied()).unwrap()
    };
    // Voters {1, 2, 3}, learners {4, 5}.
    let current = config(&[1, 2, 3], &[4, 5]);
    // A change and what it must make (`Err(())`: refused).
    type Case = (MembershipChange<u64>, Result<Configuration<u64>, ()>);
    let cases: Vec<Case> = vec![
        // A learner named as a voter is promoted; the other learner stays a learner.
        (
            MembershipChange::ChangeVoters(set(&[1, 2, 4])),
            Ok(config(&[1, 2, 4], &[5])),
        ),
        (
            MembershipChange::ChangeVoters(set(&[6])),
            Ok(config(&[6], &[4, 5])),
        ),
        (MembershipChange::ChangeVoters(set(&[])), Err(())),
        (
            MembershipChange::AddVoter(5),
            Ok(config(&[1, 2, 3, 5], &[4])),
        ),
        (MembershipChange::AddVoter(1), Ok(current.clone())),
        (
            MembershipChange::RemoveVoter(3),
            Ok(config(&[1, 2], &[4, 5])),
        ),
        (MembershipChange::RemoveVoter(9), Ok(current.clone())),
        (
            MembershipChange::AddLearners(set(&[6, 7])),
            Ok(config(&[1, 2, 3], &[4, 5, 6, 7])),
        ),
        (MembershipChange::AddLearners(set(&[2, 6])), Err(())),
        (
            MembershipChange::RemoveLearners(set(&[4, 9])),
            Ok(config(&[1, 2, 3], &[5])),
        ),
        (
            MembershipChange::ResetLearners(set(&[7])),
            Ok(config(&[1, 2, 3], &[7])),
        ),
        (MembershipChange::ResetLearners(set(&[1])), Err(())),
    ];
    for (change, expected) in cases {
        assert_eq!(
            change.apply_to(&current).map_err(|_| ()),
            expected,
            "{change:?}"
        );
    }
    // Removing the last voter is refused.
    assert!(MembershipChange::RemoveVoter(1)
        .apply_to(&config(&[1], &[2]))
        .is_err());
}

/// Without leases, a follower refuses votes only while it knows a leader: once a later
/// term clears the leader (here a higher-term answer), a candidate of that term gets the
/// vote at once. With `read_lease`, the refusal a lease rests on lasts until the
/// election timer fires, whatever happens to the term. (Kills `> with >=` in `follow`:
/// the refusal kept without leases, so a follower that heard a leader and then a later
/// term stalled every election until its own timer fired.)
#[test]
fn without_leases_a_vote_waits_only_while_a_leader_is_known() {
    for read_lease in [0, 5] {
        let options = CoreOptions {
            pre_vote: false,
            read_lease,
            ..CoreOptions::default()
        };
        let mut core = RaftCore::new(2u64, options, Restored::empty(members())).unwrap();
        core.start();
        let actions = receive(&mut core, 1, heartbeat(1, 0));
        persisted(&mut core, last_write_seq(&actions));
        assert_eq!(core.leader(), Some(&1));
        // A late answer of term 2 (from 3, which campaigned) moves the term; no leader
        // of term 2 is known.
        receive(&mut core, 3, vote_response(2, false));
        assert_eq!((core.term(), core.leader()), (Term(2), None));
        let actions = receive(&mut core, 3, vote_request(2, LogId::ZERO));
        if read_lease == 0 {
            assert_eq!(core.voted_for(), Some(&3), "{actions:?}");
            assert_eq!(
                persisted(&mut core, last_write_seq(&actions)),
                vec![Action::Send {
                    to: 3,
                    message: vote_response(2, true)
                }]
            );
        } else {
            assert_eq!(core.voted_for(), None, "{actions:?}");
            assert!(
                !actions.contains(&Action::Send {
                    to: 3,
                    message: vote_response(2, true)
                }),
                "{actions:?}"
            );
        }
    }
}

/// A heartbeat's answer does not wait behind log writes once the term is durable: it
/// promises nothing about the log (kills `< with <=` in `send_in_durable_term`, which
/// held every heartbeat answer of a busy follower behind its fsyncs, so a leader's
/// rounds — check-quorum, ReadIndex, leases — waited for the follower's disk).
#[test]
fn a_heartbeat_answer_does_not_wait_for_log_writes_in_a_durable_term() {
    let mut core = follower_with(2, 1, None, &[(1, 1)]);
    let appended = receive(
        &mut core,
        1,
        append(
            1,
            LogId::new(1, 1),
            vec![entry(1, 2, EntryKind::Normal, 1)],
            1,
        ),
    );
    // The entry's write is pending; its acknowledgement is held for it.
    assert!(
        appended
            .iter()
            .any(|action| matches!(action, Action::AppendLog { .. })),
        "{appended:?}"
    );
    assert!(!appended.contains(&ack(1, 2)), "{appended:?}");
    assert_eq!(core.held_messages(), 1);
    let answer = Action::Send {
        to: 1,
        message: Message::HeartbeatResponse(HeartbeatResponse {
            term: Term(1),
            round: 0,
            lease_cover: 0,
        }),
    };
    let actions = receive(&mut core, 1, heartbeat(1, 1));
    assert!(actions.contains(&answer), "{actions:?}");
    assert_eq!(core.held_messages(), 1);
    assert_eq!(
        persisted(&mut core, last_write_seq(&appended)),
        vec![ack(1, 2)]
    );
}

/// The executor's persistence queue (`PersistQueue`): writes queued in order, counted,
/// taken oldest first or all at once, renumbered by `rebase`, forgotten by `clear`
/// (kills `len -> 0`; the test cluster reads its backlog from it).
#[test]
fn the_persist_queue_counts_and_hands_out_writes_in_order() {
    let mut queue: PersistQueue<u64, EntryMeta<u64>> = PersistQueue::new();
    assert_eq!((queue.len(), queue.is_empty()), (0, true));
    let state = HardState {
        term: Term(3),
        voted_for: Some(1),
        reset: None,
    };
    let other = queue
        .offer(
            Action::SaveHardState {
                seq: PersistSeq(5),
                hard_state: state.clone(),
            },
            Ok::<_, ()>,
        )
        .unwrap();
    assert_eq!(other, None);
    let timer = Action::ResetTimer(Timer::Election);
    assert_eq!(queue.offer(timer.clone(), Ok::<_, ()>), Ok(Some(timer)));
    queue.push(PersistSeq(6), Write::Truncate(LogIndex(4)));
    queue.push(
        PersistSeq(7),
        Write::Append(vec![entry(3, 4, EntryKind::Normal, 1)]),
    );
    assert_eq!((queue.len(), queue.is_empty()), (3, false));
    let oldest = queue.take_oldest().unwrap();
    assert_eq!(oldest.writes, vec![Write::HardState(state)]);
    assert_eq!(oldest.persisted(), Input::Persisted { seq: PersistSeq(5) });
    assert_eq!(queue.len(), 2);
    queue.rebase(4);
    assert_eq!(
        queue.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        vec![PersistSeq(2), PersistSeq(3)]
    );
    let all = queue.clone().take_all().unwrap();
    assert_eq!((all.writes.len(), all.seq), (2, PersistSeq(3)));
    // A queue collected from another's writes holds the same writes (the model's
    // symmetry reduction rebuilds queues this way).
    let rebuilt: PersistQueue<u64, EntryMeta<u64>> = queue.iter().cloned().collect();
    assert_eq!(rebuilt, queue);
    assert_eq!(queue.clear(), 2);
    assert_eq!((queue.len(), queue.is_empty()), (0, true));
    assert!(queue.take_all().is_none());
}

/// A conflicting suffix replaced by an entry of an older term than the one it held (the
/// paper's Figure 7: the leader of term 3 holds a normal term-1 entry where this follower
/// holds the uncommitted blank entry of a term-2 leader): the log then holds the leader's
/// entry there, its term and its kind. (Kills `< with <=` in `RaftLog::truncate_from`'s
/// blank filter: the replaced blank's marker kept, the new entry was handed to the state
/// machine as a blank, without its payload; and in its run filter: the replaced term's
/// run kept, the append of the term-1 entry trips the log's "terms never decrease"
/// assertion.)
#[test]
fn a_suffix_replaced_by_an_entry_of_an_older_term_holds_that_entry() {
    let mut restored = Restored::empty(members());
    restored.hard_state.term = Term(2);
    restored.entries = vec![
        entry(1, 1, EntryKind::Normal, 1),
        entry(1, 2, EntryKind::Normal, 1),
        entry(2, 3, EntryKind::Blank, 0),
    ];
    let mut core = RaftCore::new(2, CoreOptions::default(), restored).unwrap();
    core.start();
    assert_eq!(core.last_log_id(), LogId::new(2, 3));
    let replacement = entry(1, 3, EntryKind::Normal, 1);
    let actions = receive(
        &mut core,
        1,
        append(3, LogId::new(1, 2), vec![replacement.clone()], 3),
    );
    assert!(
        actions.iter().any(
            |action| matches!(action, Action::TruncateLog { from, .. } if *from == LogIndex(3))
        ),
        "{actions:?}"
    );
    assert_eq!(core.last_log_id(), LogId::new(1, 3));
    let released = persisted(&mut core, last_write_seq(&actions));
    let applied: Vec<EntryMeta<u64>> = actions
        .iter()
        .chain(&released)
        .filter_map(|action| match action {
            Action::Apply { entries } => Some(entries.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(applied.last(), Some(&replacement), "{applied:?}");
}

/// `unchanged_by_identity_relabel` says whether a relabel by the identity returns the
/// core as it is (the model checker shares such a core instead of rebuilding it): yes
/// for a core holding nothing; no for a candidate whose held messages are not in the
/// order a relabel puts them in (its vote requests to 1 and 3, then its own vote to 2),
/// and yes for the relabelled copy. A follower's forwarded reads survive a relabel.
/// (Kills `held_in_relabel_order -> true` and `-> false`, and
/// `ForwardedReads::relabel -> Default::default()`.)
#[test]
fn a_relabel_by_the_identity_changes_only_the_order_of_held_messages() {
    let identity = |n: &u64| *n;
    let idle = voter(2, false);
    assert!(idle.unchanged_by_identity_relabel());
    assert_eq!(idle.relabel(&identity), idle);

    let mut candidate = voter(2, false);
    let actions = candidate.step(Input::Timeout(Timer::Election));
    assert_eq!(candidate.held_messages(), 3);
    assert!(!candidate.unchanged_by_identity_relabel());
    let sorted = candidate.relabel(&identity);
    assert_ne!(sorted, candidate);
    assert!(sorted.unchanged_by_identity_relabel());
    assert_eq!(sorted.relabel(&identity), sorted);
    // The same messages leave, the vote requests to 1 and 3 in either order.
    let released = |mut core: RaftCore<u64>| {
        let mut sent: Vec<u64> = persisted(&mut core, last_write_seq(&actions))
            .into_iter()
            .filter_map(|action| match action {
                Action::Send {
                    to,
                    message: Message::Vote(_),
                } => Some(to),
                _ => None,
            })
            .collect();
        sent.sort();
        sent
    };
    assert_eq!(released(candidate), vec![1, 3]);
    assert_eq!(released(sorted), vec![1, 3]);

    let mut follower = voter(2, false);
    receive(&mut follower, 1, heartbeat(1, 0));
    follower.step(Input::ReadIndex {
        ids: vec![RequestId(7)],
        lease_now: None,
    });
    assert_eq!(follower.pending_reads(), 1);
    let copy = follower.relabel(&identity);
    assert_eq!(copy, follower);
    assert_eq!(copy.pending_reads(), 1);

    // A leader's reads waiting for their round survive a relabel too, and are answered
    // alike. (Kills `LeaderReads::relabel -> Default::default()`.)
    let mut leader = leader_with_follower_2(CoreOptions::default());
    let sent = read_ids(&mut leader, &[8]);
    let round = sent
        .iter()
        .find_map(|action| match action {
            Action::Send {
                to: 2,
                message: Message::Heartbeat(heartbeat),
            } => Some(heartbeat.round),
            _ => None,
        })
        .expect("a read round");
    assert_eq!(leader.pending_reads(), 1);
    let mut copy = leader.relabel(&identity);
    assert_eq!(copy, leader);
    assert_eq!(copy.pending_reads(), 1);
    let answer = |core: &mut RaftCore<u64>| {
        let answer = Message::HeartbeatResponse(HeartbeatResponse {
            term: Term(1),
            round,
            lease_cover: 0,
        });
        receive(core, 2, answer)
    };
    let answered = answer(&mut leader);
    assert_eq!(answer(&mut copy), answered);
    assert!(
        answered
            .iter()
            .any(|action| matches!(action, Action::ReadReady { .. })),
        "{answered:?}"
    );
}

/// Rebasing the persistence sequence numbers (the model checker does it after every
/// step) moves every number down by the last durable one — issued, durable, and the
/// writes still outstanding — and returns the shift; a report of the rebased number
/// then makes the outstanding write durable. (Kills `rebase_persist_seqs -> 0`.)
#[test]
fn rebasing_the_persist_seqs_keeps_outstanding_writes_reportable() {
    let mut core = voter(2, false);
    let first = core.step(Input::Timeout(Timer::Election));
    persisted(&mut core, last_write_seq(&first));
    receive(&mut core, 1, vote_request(2, LogId::ZERO));
    let (issued, durable) = core.persist_seqs();
    assert!(
        issued > durable && durable > PersistSeq(0),
        "{issued:?} {durable:?}"
    );
    let shift = core.rebase_persist_seqs();
    assert_eq!(shift, durable.0);
    assert_eq!(
        core.persist_seqs(),
        (PersistSeq(issued.0 - shift), PersistSeq(0))
    );
    let held = core.held_messages();
    assert!(held > 0);
    persisted(&mut core, PersistSeq(issued.0 - shift));
    assert_eq!(core.held_messages(), 0);
    assert_eq!(core.persist_seqs().1, PersistSeq(issued.0 - shift));
}

fn read_ids(core: &mut RaftCore<u64>, ids: &[u64]) -> Vec<Action<u64>> {
    core.step(Input::ReadIndex {
        ids: ids.iter().map(|&id| RequestId(id)).collect(),
        lease_now: None,
    })
}

fn read_refused(ids: &[u64], error: ReadIndexError<u64>) -> Action<u64> {
    Action::ReadReady {
        ids: ids.iter().map(|&id| RequestId(id)).collect(),
        result: Err(error),
    }
}

fn read_ready(ids: &[u64], index: u64) -> Action<u64> {
    Action::ReadReady {
        ids: ids.iter().map(|&id| RequestId(id)).collect(),
        result: Ok(LogIndex(index)),
    }
}

/// Node 2 of {1, 2, 3}, following leader 1 in term 1, forwarding at most `limit` reads.
fn follower_with_read_limit(limit: u64) -> RaftCore<u64> {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let options = CoreOptions {
        max_pending_reads: limit,
        ..CoreOptions::default()
    };
    let mut core = RaftCore::new(2, options, Restored::empty(configuration)).unwrap();
    core.start();
    receive(&mut core, 1, heartbeat(1, 0));
    core
}

/// A follower forwards reads while at most `max_pending_reads` wait, counting every
/// id of a batch: a batch that would pass the limit is refused, one that reaches it
/// exactly is forwarded. (Kills `>` with `==` and with `>=` in `handle_read_index`.)
#[test]
fn a_follower_forwards_reads_up_to_the_pending_limit_and_no_more() {
    let mut core = follower_with_read_limit(2);
    assert_eq!(
        read_ids(&mut core, &[7, 8, 9]),
        vec![read_refused(&[7, 8, 9], ReadIndexError::Overloaded)]
    );
    assert_eq!(read_ids(&mut core, &[7, 8]), vec![forwarded_to_1(1, 1)]);
    assert_eq!(core.pending_reads(), 2);
    assert_eq!(
        read_ids(&mut core, &[9]),
        vec![read_refused(&[9], ReadIndexError::Overloaded)]
    );
}

fn heartbeat_answer(core: &mut RaftCore<u64>, from: u64, round: u64) -> Vec<Action<u64>> {
    receive(
        core,
        from,
        Message::HeartbeatResponse(HeartbeatResponse {
            term: Term(1),
            round,
            lease_cover: 0,
        }),
    )
}

/// Reads answered leave the leader's pending count: with a limit of 2, one read
/// answered leaves room for two more. (Kills `-=` with `+=` and with `/=` in
/// `confirm_read_rounds`.)
#[test]
fn answered_reads_free_their_place_under_the_pending_limit() {
    let mut core = leader_with_follower_2(CoreOptions {
        max_pending_reads: 2,
        ..CoreOptions::default()
    });
    read_ids(&mut core, &[1]);
    assert_eq!(core.pending_reads(), 1);
    assert_eq!(heartbeat_answer(&mut core, 2, 1), vec![read_ready(&[1], 1)]);
    assert_eq!(core.pending_reads(), 0);
    let actions = read_ids(&mut core, &[2, 3]);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::ReadReady { .. })),
        "{actions:?}"
    );
    assert_eq!(core.pending_reads(), 2);
    assert_eq!(
        heartbeat_answer(&mut core, 2, 2),
        vec![read_ready(&[2, 3], 1)]
    );
}

/// The heartbeat timer starts a new round for reads that arrived while a round was in
/// flight; the reads of that earlier round stay in it, and are answered when a quorum
/// answers it. (Kills `||` with `&&` in `start_read_round`: the earlier reads moved to
/// the new round and waited for it.)
#[test]
fn a_new_round_leaves_the_reads_of_the_round_in_flight_in_it() {
    let mut core = leader_with_follower_2(CoreOptions::default());
    read_ids(&mut core, &[1, 2]); // round 1
    assert_eq!(read_ids(&mut core, &[3]), vec![]); // waits: round 1 in flight
    let actions = core.step(Input::Timeout(Timer::Heartbeat));
    assert!(
        actions.iter().any(|a| matches!(a,
            Action::Send { message: Message::Heartbeat(h), .. } if h.round == 2)),
        "{actions:?}"
    );
    assert_eq!(
        heartbeat_answer(&mut core, 2, 1),
        vec![read_ready(&[1, 2], 1)]
    );
    assert_eq!(heartbeat_answer(&mut core, 2, 2), vec![read_ready(&[3], 1)]);
}

/// A transfer whose target does not take over within its two check-quorum rounds is
/// given up: the caller hears `TransferTimedOut` at the second round, not the first,
/// and the leader takes writes again. (Kills `transfer_round -> ()` and `==` with `!=`
/// in it.)
#[test]
fn a_transfer_is_given_up_after_its_rounds() {
    let mut core = leader_with_follower_2(CoreOptions::default());
    let actions = core.step(Input::TransferLeadership {
        id: RequestId(5),
        to: Some(2),
    });
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Send {
                to: 2,
                message: Message::TimeoutNow(_)
            }
        )),
        "{actions:?}"
    );
    let timed_out = |actions: &[Action<u64>]| {
        actions.iter().any(|a| {
            a == &Action::TransferDone {
                id: RequestId(5),
                result: Err(AdminError::TransferTimedOut),
            }
        })
    };
    heartbeat_answer(&mut core, 2, 0);
    let actions = core.step(Input::Timeout(Timer::Election));
    assert!(core.is_leader());
    assert!(!timed_out(&actions), "one round left: {actions:?}");
    heartbeat_answer(&mut core, 2, 0);
    let actions = core.step(Input::Timeout(Timer::Election));
    assert!(core.is_leader());
    assert!(timed_out(&actions), "{actions:?}");
    let actions = core.step(proposals(&[1]));
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::ProposalRejected { .. })),
        "{actions:?}"
    );
}

/// A survivor fenced by a newer epoch, which already follows that epoch's leader,
/// joins the epoch when it is reset: one hard-state write, and it keeps the leader it
/// follows (the term is unchanged). (Kills `>` with `>=` in `handle_reset_peers`: the
/// node left that leader for a term it was already in.)
#[test]
fn a_fenced_survivor_joining_the_epoch_keeps_following_its_leader() {
    let mut core = voter(2, false);
    let term = Term(Term::first_of_epoch(1).0 + 1);
    let heartbeat = Message::Heartbeat(Heartbeat {
        term,
        commit: LogIndex(0),
        round: 0,
    });
    let actions = receive(&mut core, 1, heartbeat);
    persisted(&mut core, last_write_seq(&actions));
    assert!(core.is_fenced());
    assert_eq!(core.leader(), Some(&1));
    let actions = core.step(Input::ResetPeers {
        id: RequestId(9),
        configuration: Configuration::with_voters([1u64, 2]),
    });
    assert_eq!(
        actions,
        vec![
            Action::SaveHardState {
                seq: last_write_seq(&actions),
                hard_state: HardState {
                    term,
                    voted_for: None,
                    reset: Some(ConfigurationReset {
                        epoch: 1,
                        configuration: Configuration::with_voters([1u64, 2]),
                    }),
                },
            },
            Action::ResetTimer(Timer::Election),
        ]
    );
    assert_eq!(core.leader(), Some(&1));
    assert!(!core.is_fenced());
    core.check_invariants().unwrap();
}

fn install_request(term: u64, last_included: LogId, voters: &[u64]) -> Message<u64> {
    Message::InstallSnapshot(InstallSnapshotRequest {
        term: Term(term),
        meta: SnapshotMeta {
            last_included,
            configuration: ConfigurationEntry::stable(Configuration::with_voters(
                voters.iter().copied(),
            )),
        },
    })
}

/// No snapshot is taken while one is being installed, even on request (a save that
/// finished after the install could be older than it). (Kills the second `||` with
/// `&&` in `maybe_take_snapshot`.)
#[test]
fn no_snapshot_is_taken_while_one_is_installed() {
    let mut core = follower_with(2, 1, None, &[(1, 1), (1, 2)]);
    receive(&mut core, 1, append(1, LogId::new(1, 2), vec![], 2));
    assert_eq!(core.commit_index(), LogIndex(2));
    let mut control = core.clone();
    assert!(control
        .step(Input::TakeSnapshot)
        .iter()
        .any(|a| matches!(a, Action::TakeSnapshot { .. })));
    let actions = receive(
        &mut core,
        1,
        install_request(1, LogId::new(1, 5), &[1, 2, 3]),
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::FetchSnapshot { from: 1, .. })),
        "{actions:?}"
    );
    assert_eq!(core.step(Input::TakeSnapshot), vec![]);
}

/// A learner whose election timer fired (it forgot its silent leader, and a non-voter
/// does not re-arm the timer) and which becomes a voter by installing a snapshot arms
/// the timer again: without it, it would never campaign. (Kills `delete !` before
/// `was_voter` in `finish_install`, and `delete !` before `self.is_leader()` in the
/// form of the condition before the dead leader branch was removed.)
#[test]
fn a_snapshot_that_makes_a_learner_a_voter_arms_its_election_timer() {
    let configuration =
        ConfigurationEntry::stable(Configuration::new([1u64, 2, 3], [4u64]).unwrap());
    let mut core =
        RaftCore::new(4u64, CoreOptions::default(), Restored::empty(configuration)).unwrap();
    core.start();
    let actions = receive(&mut core, 1, heartbeat(1, 0));
    persisted(&mut core, last_write_seq(&actions));
    let last_included = LogId::new(1, 5);
    receive(
        &mut core,
        1,
        install_request(1, last_included, &[1, 2, 3, 4]),
    );
    assert_eq!(
        core.step(Input::Timeout(Timer::Election)),
        vec![role(Role::Follower, 1, None, 0)]
    );
    let actions = core.step(Input::SnapshotFetched {
        last_included,
        fetched: true,
    });
    let actions = persisted(&mut core, last_write_seq(&actions));
    assert!(core.configuration().current.is_voter(&4));
    assert!(
        actions.contains(&Action::ResetTimer(Timer::Election)),
        "{actions:?}"
    );
}

/// A snapshot request whose last included entry has term 0 (with an index above 0) is
/// malformed: dropped and counted, not even its term is adopted. (Kills `>` with `>=`
/// in `snapshot::is_well_formed`.)
#[test]
fn a_snapshot_of_term_zero_is_dropped() {
    let mut core = voter(2, false);
    let dropped = core.dropped_messages();
    assert_eq!(
        receive(
            &mut core,
            1,
            install_request(1, LogId::new(0, 5), &[1, 2, 3])
        ),
        vec![]
    );
    assert_eq!(core.term(), Term(0));
    assert_eq!(core.dropped_messages(), dropped + 1);
    // No log reaches 2^63 entries: a snapshot claiming that index is refused too, so
    // the log's index arithmetic cannot overflow. (Kills `<` with `<=` there.)
    let huge = LogId {
        term: Term(1),
        index: LogIndex(1 << 63),
    };
    assert_eq!(
        receive(&mut core, 1, install_request(1, huge, &[1, 2, 3])),
        vec![]
    );
    assert_eq!(core.dropped_messages(), dropped + 2);
}

/// A fetched snapshot that disagrees with an entry this follower knows is committed
/// (its leader said so, though the entry is not durable here yet) is no real leader's
/// snapshot: it is not installed, and the drop is counted. (Kills `+=` with `*=` on
/// that counter in `handle_snapshot_fetched`.)
#[test]
fn a_snapshot_that_contradicts_a_known_commit_is_dropped_and_counted() {
    let mut core = voter(2, false);
    let entries = (1..=3)
        .map(|index| entry(1, index, EntryKind::Normal, 1))
        .collect();
    receive(&mut core, 1, append(2, LogId::ZERO, entries, 3));
    assert_eq!(core.commit_index(), LogIndex(0), "not durable yet");
    let last_included = LogId::new(2, 3);
    let actions = receive(&mut core, 1, install_request(2, last_included, &[1, 2, 3]));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::FetchSnapshot { .. })),
        "{actions:?}"
    );
    let dropped = core.dropped_messages();
    let actions = core.step(Input::SnapshotFetched {
        last_included,
        fetched: true,
    });
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::InstallSnapshot { .. })),
        "{actions:?}"
    );
    assert_eq!(core.dropped_messages(), dropped + 1);
    assert_eq!(core.last_log_id(), LogId::new(1, 3));
}

/// Answers that wait for durability are held up to the limit (4,096) and the rest are
/// counted dropped: a stalled disk never grows the core without bound. (Kills `+=`
/// with `*=` on the counter in `send_after_persist`.)
#[test]
fn held_answers_beyond_the_limit_are_counted_dropped() {
    let mut core = voter(2, false);
    for _ in 0..4_100 {
        core.step(Input::Message {
            from: 3,
            message: vote_request(1, LogId::ZERO),
        });
    }
    assert_eq!(core.held_messages(), 4_096);
    assert_eq!(core.dropped_messages(), 4);
    core.check_invariants().unwrap();
}

fn forwarded_to_1(id: u64, term: u64) -> Action<u64> {
    Action::Send {
        to: 1,
        message: Message::ReadIndex(ReadIndexRequest {
            term: Term(term),
            id,
        }),
    }
}

/// A read the leader refuses leaves the follower's pending count: with a limit of 2, a
/// refused batch of two leaves room for two more. (Kills `-=` with `/=` in
/// `handle_read_index_response`: 2 / 2 leaves 1.)
#[test]
fn a_refused_forwarded_read_frees_its_place_under_the_limit() {
    let mut core = follower_with_read_limit(2);
    assert_eq!(read_ids(&mut core, &[7, 8]), vec![forwarded_to_1(1, 1)]);
    let refusal = Message::ReadIndexResponse(ReadIndexResponse {
        term: Term(1),
        id: 1,
        result: ReadIndexResult::Overloaded,
    });
    assert_eq!(
        receive(&mut core, 1, refusal),
        vec![read_refused(&[7, 8], ReadIndexError::Overloaded)]
    );
    assert_eq!(core.pending_reads(), 0);
    assert_eq!(read_ids(&mut core, &[9, 10]), vec![forwarded_to_1(2, 1)]);
}

/// With pre-vote a follower whose election timer fires stays in its term, but it no
/// longer follows a leader: the reads it forwarded fail at once (their answer would
/// come from a leader it no longer trusts). (Kills the second `||` with `&&` in
/// `settle_forwarded_reads`.)
#[test]
fn forwarded_reads_fail_when_the_leader_is_forgotten_within_the_term() {
    let mut core = voter(2, true);
    receive(&mut core, 1, heartbeat(1, 0));
    assert_eq!(read_ids(&mut core, &[5]), vec![forwarded_to_1(1, 1)]);
    let actions = core.step(Input::Timeout(Timer::Election));
    assert_eq!(core.term(), Term(1), "pre-vote keeps the term");
    assert!(
        actions.contains(&read_refused(&[5], ReadIndexError::LeadershipLost)),
        "{actions:?}"
    );
    assert_eq!(core.pending_reads(), 0);
}

/// A snapshot taken after the durable reset of the peers (its last entry in the reset's
/// epoch or a later one) holds the configuration in force: membership changed by
/// consensus after the reset. Only a reset of a newer epoch than the snapshot's last
/// entry overrides it. (Kills the match guard `reset.epoch > start.term.epoch()` with
/// `true` in `base_of`.)
#[test]
fn a_snapshot_newer_than_the_reset_keeps_its_configuration() {
    let reset_voters = Configuration::with_voters([1u64, 2]);
    let later_voters = Configuration::with_voters([1u64, 2, 3]);
    let restore = |reset_epoch: u64, snapshot_epoch: u64| {
        let snapshot_term = Term(Term::first_of_epoch(snapshot_epoch).0 + 2);
        let restored = Restored {
            hard_state: HardState {
                term: Term(Term::first_of_epoch(reset_epoch.max(snapshot_epoch)).0 + 3),
                voted_for: None,
                reset: Some(ConfigurationReset {
                    epoch: reset_epoch,
                    configuration: reset_voters.clone(),
                }),
            },
            snapshot: Some(SnapshotMeta {
                last_included: LogId {
                    term: snapshot_term,
                    index: LogIndex(10),
                },
                configuration: ConfigurationEntry::stable(later_voters.clone()),
            }),
            entries: Vec::new(),
            initial_configuration: ConfigurationEntry::stable(reset_voters.clone()),
        };
        let core = RaftCore::new(2u64, CoreOptions::default(), restored).unwrap();
        core.check_invariants().unwrap();
        core.configuration().current.clone()
    };
    // The snapshot's last entry is in the reset's epoch, or a later one: its configuration.
    assert_eq!(restore(1, 1), later_voters);
    assert_eq!(restore(1, 2), later_voters);
    // The reset is newer than the snapshot: the reset's configuration.
    assert_eq!(restore(2, 1), reset_voters);
}

/// A hard-state write issued earlier in the same step is replaced by the newer hard
/// state even while an acknowledgement waits for an *earlier* write: only a message
/// held for that very write prevents it. (Kills `==` with `!=` in `holds_for`.)
#[test]
fn a_held_ack_for_an_earlier_write_does_not_stop_the_hard_state_replacement() {
    let mut core = follower_with(2, 1, None, &[(1, 1)]);
    let actions = receive(
        &mut core,
        1,
        append(
            1,
            LogId::new(1, 1),
            vec![entry(1, 2, EntryKind::Normal, 1)],
            1,
        ),
    );
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::AppendLog { .. })));
    assert_eq!(core.held_messages(), 1, "the ack waits for the append");
    // A candidate of term 2 with an up-to-date log, campaigning on a handover (so the
    // live leader does not keep it out): term adopted and vote granted in one step, in
    // one hard-state write.
    let request = Message::Vote(VoteRequest {
        term: Term(2),
        last_log_id: LogId::new(1, 2),
        leadership_transfer: true,
    });
    let actions = receive(&mut core, 3, request);
    let saves: Vec<&Action<u64>> = actions
        .iter()
        .filter(|a| matches!(a, Action::SaveHardState { .. }))
        .collect();
    assert_eq!(saves.len(), 1, "{actions:?}");
    assert!(
        matches!(saves[0], Action::SaveHardState { hard_state, .. }
            if hard_state.term == Term(2) && hard_state.voted_for == Some(3)),
        "{actions:?}"
    );
}

/// A probing follower that acknowledges no more than it was known to hold stays
/// probing (the answer unpauses it, and the next probe goes out at once), rather than
/// being pipelined on an answer that proved nothing new. (Kills `>` with `>=` in
/// `Progress::maybe_update`.)
#[test]
fn an_acknowledgement_that_proves_nothing_new_keeps_a_peer_probing() {
    let mut core = leader_with_follower_2(CoreOptions::default());
    assert!(matches!(
        core.progress(&3).unwrap().state(),
        ProgressState::Probe { .. }
    ));
    receive(&mut core, 3, append_response(1, success(0)));
    assert!(
        matches!(
            core.progress(&3).unwrap().state(),
            ProgressState::Probe { .. }
        ),
        "{:?}",
        core.progress(&3)
    );
}

/// A heartbeat answer frees the oldest in-flight message only when the window is full
/// (assuming it lost); with room left, nothing in flight is forgotten. (Kills `>=` with
/// `<` in `Progress::on_heartbeat_response`.)
#[test]
fn a_heartbeat_answer_frees_nothing_while_the_window_has_room() {
    let mut core = leader_with_follower_2(CoreOptions::default());
    core.step(proposals(&[1]));
    assert_eq!(core.progress(&2).unwrap().inflights().count(), 1);
    let answer = Message::HeartbeatResponse(HeartbeatResponse {
        term: Term(1),
        round: 0,
        lease_cover: 0,
    });
    receive(&mut core, 2, answer);
    assert_eq!(core.progress(&2).unwrap().inflights().count(), 1);
}

/// An election is lost only once a majority can no longer be reached: of five voters,
/// two refusals leave it pending, three lose it. (Kills `-` with `/` in
/// `majority_vote`.)
#[test]
fn five_voters_lose_an_election_only_with_three_refusals() {
    let voters: std::collections::BTreeSet<u64> = (1..=5).collect();
    let votes = |refusals: &[u64]| -> std::collections::BTreeMap<u64, bool> {
        refusals.iter().map(|&v| (v, false)).collect()
    };
    assert_eq!(majority_vote(&voters, &votes(&[2, 3])), VoteResult::Pending);
    assert_eq!(majority_vote(&voters, &votes(&[2, 3, 4])), VoteResult::Lost);
    let two: std::collections::BTreeSet<u64> = [1, 2].into_iter().collect();
    assert_eq!(majority_vote(&two, &votes(&[])), VoteResult::Pending);
    assert_eq!(majority_vote(&two, &votes(&[2])), VoteResult::Lost);
}

/// A pipelined follower's stale rejection (of an index it has since acknowledged)
/// changes nothing: it stays pipelined, its next index where it was. (Kills `||` with
/// `&&` in `Progress::maybe_decrease_to`.)
#[test]
fn a_stale_rejection_leaves_a_pipelined_follower_alone() {
    let mut core = leader_with_follower_2(CoreOptions::default());
    core.step(proposals(&[1]));
    let before = core.progress(&2).unwrap().clone();
    assert_eq!(before.state(), ProgressState::Pipeline);
    assert_eq!(before.match_index(), LogIndex(1));
    let stale = append_response(
        1,
        AppendResult::Conflict {
            rejected_prev: LogIndex(1),
            hint: LogId::new(1, 1),
        },
    );
    receive(&mut core, 2, stale);
    let after = core.progress(&2).unwrap();
    assert_eq!(after.state(), ProgressState::Pipeline);
    assert_eq!(after.next_index(), before.next_index());
}

/// An acknowledgement that a follower holds nothing new, with every write durable,
/// leaves in the same step — nothing is outstanding for it to wait behind. (Written for
/// `!=` with `==` in `send_after_persist`, which it does not kill: the mutant holds the
/// ack, and the end of the step releases it, every write being durable.)
#[test]
fn an_ack_with_nothing_outstanding_leaves_at_once() {
    let mut core = follower_with(2, 1, None, &[(1, 1), (1, 2)]);
    assert_eq!(core.persist_seqs().0, core.persist_seqs().1, "all durable");
    let actions = receive(&mut core, 1, append(1, LogId::new(1, 2), vec![], 2));
    assert!(
        actions.iter().any(|a| matches!(a,
            Action::Send { to: 1, message: Message::AppendResponse(r) }
                if r.result == AppendResult::Success { last_matched: LogIndex(2) })),
        "{actions:?}"
    );
    assert_eq!(core.held_messages(), 0);
}

/// An append that ends exactly at the snapshot's last entry is checked against it like
/// any other: one whose entry there contradicts the snapshot (another term — a real
/// leader never sends one) is refused, not acknowledged. (Kills `<` with `<=` in
/// `handle_append_request`'s early answer for appends ending below the snapshot.)
#[test]
fn an_append_ending_at_the_snapshot_must_agree_with_it() {
    let mut core = follower_with(2, 2, Some(LogId::new(1, 5)), &[]);
    let entries = vec![
        entry(1, 4, EntryKind::Normal, 1),
        entry(2, 5, EntryKind::Normal, 1),
    ];
    let actions = receive(&mut core, 1, append(2, LogId::new(1, 3), entries, 5));
    assert!(
        !actions.iter().any(|a| matches!(
            a,
            Action::Send {
                message: Message::AppendResponse(AppendResponse {
                    result: AppendResult::Success { .. },
                    ..
                }),
                ..
            }
        )),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Send {
                message: Message::AppendResponse(AppendResponse {
                    result: AppendResult::Conflict { .. },
                    ..
                }),
                ..
            }
        )),
        "{actions:?}"
    );
    // One that agrees with it is acknowledged up to the snapshot.
    let entries = vec![
        entry(1, 4, EntryKind::Normal, 1),
        entry(1, 5, EntryKind::Normal, 1),
    ];
    let actions = receive(&mut core, 1, append(2, LogId::new(1, 3), entries, 5));
    assert!(actions.contains(&ack(2, 5)), "{actions:?}");
}

/// The options a core reports are the ones it was built with. (Kills `options ->
/// Default::default()` in `RaftCore::options`.)
#[test]
fn a_core_reports_the_options_it_was_built_with() {
    let options = CoreOptions {
        pre_vote: false,
        read_lease: 77,
        max_inflight_messages: 3,
        ..CoreOptions::default()
    };
    assert_ne!(options, CoreOptions::default());
    let core = RaftCore::new(1u64, options.clone(), Restored::empty(members())).unwrap();
    assert_eq!(core.options(), &options);
}
