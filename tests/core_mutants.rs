//! Semantic tests written to kill mutants of `src/core` that the other tests let
//! survive (scripts/mutants.sh; docs/verification.md, "Mutation testing", names the
//! mutant each test kills). Like `core_handlers.rs`: set up a core, feed inputs, assert
//! the exact actions or the exact state.

use concord::core::*;

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
    })
}

fn pre_vote_request(term: u64, last: LogId) -> Message<u64> {
    Message::PreVote(VoteRequest {
        term: Term(term),
        last_log_id: last,
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
    })
}

fn hard_state(term: u64, vote: Option<u64>) -> Action<u64> {
    Action::SaveHardState(HardState {
        term: Term(term),
        voted_for: vote,
    })
}

fn role(role: Role, term: u64, leader: Option<u64>) -> Action<u64> {
    Action::RoleChanged {
        role,
        term: Term(term),
        leader,
    }
}

/// A vote for a higher term moves the term and casts the vote in one step: the two
/// `SaveHardState`s coalesce into one, the two election-timer resets into one, and the
/// step ends with the role change (the term moved).
#[test]
fn a_vote_in_a_higher_term_saves_term_and_vote_once() {
    let mut core = voter(1, false);
    assert_eq!(
        receive(&mut core, 2, vote_request(1, LogId::ZERO)),
        vec![
            hard_state(1, Some(2)),
            Action::ResetTimer(Timer::Election),
            Action::SendAfterPersist {
                to: 2,
                message: vote_response(1, true)
            },
            role(Role::Follower, 1, None),
        ]
    );
    // The same candidate asking again gets the same answer, with nothing to save again.
    assert_eq!(
        receive(&mut core, 2, vote_request(1, LogId::ZERO)),
        vec![
            Action::ResetTimer(Timer::Election),
            Action::SendAfterPersist {
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
    assert_eq!(core.hard_state(), HardState { term: Term(1), voted_for: Some(2) });
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
            Some(Message::HeartbeatResponse(HeartbeatResponse { term: Term(3) })),
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
            Message::HeartbeatResponse(HeartbeatResponse { term: Term(2) }),
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
    receive(&mut core, 1, heartbeat(1, 0));
    assert_eq!(receive(&mut core, 3, vote_request(2, LogId::ZERO)), vec![]);
    assert_eq!((core.term(), core.voted_for()), (Term(1), None));
    // Once its election timer fires (it pre-campaigns, which moves no term) the leader is
    // presumed dead, and the same request wins its vote.
    core.step(Input::Timeout(Timer::Election));
    let actions = receive(&mut core, 3, vote_request(2, LogId::ZERO));
    assert!(actions.contains(&Action::SendAfterPersist {
        to: 3,
        message: vote_response(2, true)
    }));
    assert_eq!((core.term(), core.voted_for()), (Term(2), Some(&3)));
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
            role(Role::PreCandidate, 0, None),
        ]
    );
    // Answers to another round, and answers from non-voters, are not counted.
    assert_eq!(receive(&mut core, 2, pre_vote_response(2, true)), vec![]);
    assert_eq!(receive(&mut core, 9, pre_vote_response(1, true)), vec![]);
    assert_eq!((core.role(), core.term()), (Role::PreCandidate, Term(0)));
    // A grant for term 1 does not move the term by itself; with our own, it is a quorum.
    let vote = vote_request(1, LogId::ZERO);
    assert_eq!(
        receive(&mut core, 2, pre_vote_response(1, true)),
        vec![
            hard_state(1, Some(1)),
            Action::Send {
                to: 2,
                message: vote.clone()
            },
            Action::Send {
                to: 3,
                message: vote
            },
            Action::SendAfterPersist {
                to: 1,
                message: vote_response(1, true)
            },
            Action::ResetTimer(Timer::Election),
            role(Role::Candidate, 1, None),
        ]
    );
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
            hard_state(4, None),
            Action::ResetTimer(Timer::Election),
            role(Role::Follower, 4, None),
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
            role(Role::Follower, 0, None),
        ]
    );
}

/// Who gets a pre-vote: a voter grants one for a later term, or for its own term to the
/// node it voted for or when it has not voted; never with a log more up to date than the
/// candidate's, and never while it hears from a leader. Granting changes nothing here.
#[test]
fn pre_votes_follow_the_vote_rules_without_changing_state() {
    let grant = |term| vec![Action::Send { to: 2, message: pre_vote_response(term, true) }];
    let refuse = |term| vec![Action::Send { to: 2, message: pre_vote_response(term, false) }];
    // Term 1, no vote, no leader (a refused vote moved it there).
    let mut core = voter(3, true);
    receive(&mut core, 1, vote_response(1, false));
    assert_eq!((core.term(), core.voted_for(), core.leader()), (Term(1), None, None));
    assert_eq!(receive(&mut core, 2, pre_vote_request(1, LogId::ZERO)), grant(1));
    // Term 1, voted for 1: refuses 2 for term 1, grants it term 2, grants 1 term 1.
    receive(&mut core, 1, vote_request(1, LogId::ZERO));
    assert_eq!(core.voted_for(), Some(&1));
    assert_eq!(receive(&mut core, 2, pre_vote_request(1, LogId::ZERO)), refuse(1));
    assert_eq!(receive(&mut core, 2, pre_vote_request(2, LogId::ZERO)), grant(2));
    assert_eq!(
        receive(&mut core, 1, pre_vote_request(1, LogId::ZERO)),
        vec![Action::Send { to: 1, message: pre_vote_response(1, true) }]
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
    assert_eq!(receive(&mut core, 2, pre_vote_request(2, LogId::ZERO)), vec![]);
    core.step(Input::Timeout(Timer::Election));
    let term = core.term().0;
    assert_eq!(receive(&mut core, 2, pre_vote_request(term + 1, LogId::ZERO)), refuse(term));
    assert_eq!(
        receive(&mut core, 2, pre_vote_request(term + 1, LogId::new(1, 1))),
        grant(term + 1)
    );
    assert_eq!(core.term().0, term);
}
