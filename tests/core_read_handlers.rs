//! Exact-action tests of reads (F18, F19): ReadIndex on the leader (rounds, batching,
//! waiting for the term's first commit), follower reads, lease reads, refusals.

use concord::core::*;

#[path = "common/actions.rs"]
mod actions;
use actions::last_write_seq;

fn options() -> CoreOptions {
    CoreOptions {
        pre_vote: false,
        ..CoreOptions::default()
    }
}

fn voter(id: u64, voters: &[u64], options: CoreOptions) -> RaftCore<u64> {
    let configuration =
        ConfigurationEntry::stable(Configuration::with_voters(voters.iter().copied()));
    let mut core = RaftCore::new(id, options, Restored::empty(configuration)).unwrap();
    core.start();
    core
}

fn persisted(actions: &[Action<u64>]) -> Input<u64> {
    Input::Persisted {
        seq: last_write_seq(actions),
    }
}

/// Node 1 of {1, 2, 3}, leader of term 1, its first entry durable but not committed.
fn new_leader(options: CoreOptions) -> RaftCore<u64> {
    let mut core = voter(1, &[1, 2, 3], options);
    let actions = core.step(Input::Timeout(Timer::Election));
    core.step(persisted(&actions));
    let actions = core.step(Input::Message {
        from: 2,
        message: Message::VoteResponse(VoteResponse {
            term: Term(1),
            granted: true,
        }),
    });
    assert!(core.is_leader());
    core.step(persisted(&actions));
    assert_eq!(core.commit_index(), LogIndex(0));
    core
}

fn ack_append(core: &mut RaftCore<u64>, from: u64, index: u64) -> Vec<Action<u64>> {
    core.step(Input::Message {
        from,
        message: Message::AppendResponse(AppendResponse {
            term: Term(1),
            result: AppendResult::Success {
                last_matched: LogIndex(index),
            },
        }),
    })
}

/// `new_leader` with its first entry committed (acknowledged by 2 and 3) and applied.
fn leader(options: CoreOptions) -> RaftCore<u64> {
    let mut core = new_leader(options);
    ack_append(&mut core, 2, 1);
    ack_append(&mut core, 3, 1);
    assert_eq!(core.commit_index(), LogIndex(1));
    core.step(Input::Applied { index: LogIndex(1) });
    core
}

fn read(core: &mut RaftCore<u64>, ids: &[u64], lease_now: Option<u64>) -> Vec<Action<u64>> {
    core.step(Input::ReadIndex {
        ids: ids.iter().map(|&id| RequestId(id)).collect(),
        lease_now,
    })
}

/// `from`'s answer to heartbeat round `round` of leader 1 in term 1, covering a lease
/// of `lease_cover`.
fn heartbeat_ack_covering(
    core: &mut RaftCore<u64>,
    from: u64,
    round: u64,
    lease_cover: u64,
) -> Vec<Action<u64>> {
    core.step(Input::Message {
        from,
        message: Message::HeartbeatResponse(HeartbeatResponse {
            term: Term(1),
            round,
            lease_cover,
        }),
    })
}

fn heartbeat_ack(core: &mut RaftCore<u64>, from: u64, round: u64) -> Vec<Action<u64>> {
    heartbeat_ack_covering(core, from, round, LEASE)
}

/// The heartbeats of round `round` from leader 1 of term 1 (commit = each follower's
/// match index, capped by the commit index).
fn round(round: u64, commits: [(u64, u64); 2]) -> Vec<Action<u64>> {
    commits
        .into_iter()
        .map(|(to, commit)| Action::Send {
            to,
            message: Message::Heartbeat(Heartbeat {
                term: Term(1),
                commit: LogIndex(commit),
                round,
            }),
        })
        .collect()
}

fn ready(ids: &[u64], index: u64) -> Action<u64> {
    Action::ReadReady {
        ids: ids.iter().map(|&id| RequestId(id)).collect(),
        result: Ok(LogIndex(index)),
    }
}

fn refused(ids: &[u64], error: ReadIndexError<u64>) -> Action<u64> {
    Action::ReadReady {
        ids: ids.iter().map(|&id| RequestId(id)).collect(),
        result: Err(error),
    }
}

#[test]
fn a_new_leaders_read_waits_for_the_terms_first_commit_then_takes_a_round() {
    let mut core = new_leader(options());
    // Its commit index (0) may lag what an earlier leader committed: nothing yet.
    assert_eq!(read(&mut core, &[7], None), vec![]);
    let actions = ack_append(&mut core, 2, 1);
    // Committed: the read takes index 1 and round 1 starts.
    let heartbeats = round(1, [(2, 1), (3, 0)]);
    assert!(
        heartbeats.iter().all(|h| actions.contains(h)),
        "{actions:?}"
    );
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::ReadReady { .. })));
    assert_eq!(heartbeat_ack(&mut core, 2, 1), vec![ready(&[7], 1)]);
}

#[test]
fn one_round_in_flight_and_the_reads_arriving_meanwhile_share_the_next() {
    let mut core = leader(options());
    assert_eq!(read(&mut core, &[1, 2], None), round(1, [(2, 1), (3, 1)]));
    // Round 1 is in flight: these wait for round 2.
    assert_eq!(read(&mut core, &[3], None), vec![]);
    assert_eq!(read(&mut core, &[4], None), vec![]);
    // An answer to round 1 from 3 makes a quorum (with the leader): its reads are
    // answered, and round 2 starts for the two that waited.
    let mut expected = vec![ready(&[1, 2], 1)];
    expected.extend(round(2, [(2, 1), (3, 1)]));
    assert_eq!(heartbeat_ack(&mut core, 3, 1), expected);
    // A late answer to round 1 confirms nothing newer.
    assert_eq!(heartbeat_ack(&mut core, 2, 1), vec![]);
    assert_eq!(
        heartbeat_ack(&mut core, 2, 2),
        vec![ready(&[3], 1), ready(&[4], 1)]
    );
}

#[test]
fn the_heartbeat_timer_repeats_the_round_in_flight() {
    let mut core = leader(options());
    read(&mut core, &[1], None);
    // The round's heartbeats or answers were lost: the timer's heartbeats carry it again.
    let mut expected = round(1, [(2, 1), (3, 1)]);
    expected.push(Action::ResetTimer(Timer::Heartbeat));
    assert_eq!(core.step(Input::Timeout(Timer::Heartbeat)), expected);
    assert_eq!(heartbeat_ack(&mut core, 2, 1), vec![ready(&[1], 1)]);
}

#[test]
fn a_deposed_leader_never_answers_its_reads() {
    let mut core = leader(options());
    read(&mut core, &[1], None);
    // Someone answers from a newer term: the leader steps down and the read fails.
    let actions = core.step(Input::Message {
        from: 2,
        message: Message::HeartbeatResponse(HeartbeatResponse {
            term: Term(2),
            round: 1,
            lease_cover: 0,
        }),
    });
    assert_eq!(actions[0], refused(&[1], ReadIndexError::LeadershipLost));
    assert!(!core.is_leader());
    // A late answer from its old term changes nothing.
    assert_eq!(heartbeat_ack(&mut core, 3, 1), vec![]);
}

#[test]
fn the_leader_answers_a_followers_read_after_its_round() {
    let mut core = leader(options());
    let actions = core.step(Input::Message {
        from: 2,
        message: Message::ReadIndex(ReadIndexRequest {
            term: Term(1),
            id: 4,
        }),
    });
    assert_eq!(actions, round(1, [(2, 1), (3, 1)]));
    assert_eq!(
        heartbeat_ack(&mut core, 2, 1),
        vec![Action::Send {
            to: 2,
            message: Message::ReadIndexResponse(ReadIndexResponse {
                term: Term(1),
                id: 4,
                result: ReadIndexResult::Ready(LogIndex(1)),
            }),
        }]
    );
}

/// A heartbeat from leader 1 of term 1, no round.
fn heartbeat_from_leader() -> Input<u64> {
    Input::Message {
        from: 1,
        message: Message::Heartbeat(Heartbeat {
            term: Term(1),
            commit: LogIndex(0),
            round: 0,
        }),
    }
}

/// Node 2 of {1, 2, 3}, following leader 1 in term 1.
fn follower() -> RaftCore<u64> {
    let mut core = voter(2, &[1, 2, 3], options());
    core.step(heartbeat_from_leader());
    assert_eq!(core.leader(), Some(&1));
    core
}

fn leader_answer(core: &mut RaftCore<u64>, id: u64, result: ReadIndexResult) -> Vec<Action<u64>> {
    core.step(Input::Message {
        from: 1,
        message: Message::ReadIndexResponse(ReadIndexResponse {
            term: Term(1),
            id,
            result,
        }),
    })
}

fn forwarded(id: u64) -> Action<u64> {
    Action::Send {
        to: 1,
        message: Message::ReadIndex(ReadIndexRequest { term: Term(1), id }),
    }
}

#[test]
fn a_follower_asks_its_leader_and_answers_with_the_leaders_index() {
    let mut core = follower();
    assert_eq!(read(&mut core, &[7, 8], None), vec![forwarded(1)]);
    assert_eq!(
        leader_answer(&mut core, 1, ReadIndexResult::Ready(LogIndex(5))),
        vec![ready(&[7, 8], 5)]
    );
    // A duplicated answer changes nothing.
    assert_eq!(
        leader_answer(&mut core, 1, ReadIndexResult::Ready(LogIndex(5))),
        vec![]
    );
}

#[test]
fn a_follower_gives_up_reads_whose_answer_was_lost_or_whose_leader_is_gone() {
    let mut core = follower();
    assert_eq!(read(&mut core, &[1], None), vec![forwarded(1)]);
    assert_eq!(read(&mut core, &[2], None), vec![forwarded(2)]);
    assert_eq!(read(&mut core, &[3, 6], None), vec![forwarded(3)]);
    // (`pending_reads` counts the reads waiting, as the status reports them.)
    assert_eq!(core.pending_reads(), 4);
    // A refusal may overtake earlier answers: it answers its own read only.
    assert_eq!(
        leader_answer(&mut core, 3, ReadIndexResult::NotLeader),
        vec![refused(
            &[3, 6],
            ReadIndexError::NotLeader {
                leader_hint: Some(1)
            }
        )]
    );
    assert_eq!(core.pending_reads(), 2);
    // The leader answers confirmed reads in order: the answer to 2 means the one to 1
    // was lost.
    assert_eq!(
        leader_answer(&mut core, 2, ReadIndexResult::Ready(LogIndex(4))),
        vec![refused(&[1], ReadIndexError::AnswerLost), ready(&[2], 4)]
    );
    assert_eq!(core.pending_reads(), 0);
    // A request (or its answer) lost with no later answer: given up after 32
    // heartbeats from the leader.
    assert_eq!(read(&mut core, &[4, 9], None), vec![forwarded(4)]);
    assert_eq!(core.pending_reads(), 2);
    let heartbeat = heartbeat_from_leader();
    for _ in 0..31 {
        let actions = core.step(heartbeat.clone());
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::ReadReady { .. })),
            "{actions:?}"
        );
    }
    let actions = core.step(heartbeat);
    assert!(
        actions.contains(&refused(&[4, 9], ReadIndexError::AnswerLost)),
        "{actions:?}"
    );
    assert_eq!(core.pending_reads(), 0);
    // The election timer fires: the leader is presumed dead, read 5 fails.
    assert_eq!(read(&mut core, &[5], None), vec![forwarded(5)]);
    let actions = core.step(Input::Timeout(Timer::Election));
    assert!(
        actions.contains(&refused(&[5], ReadIndexError::LeadershipLost)),
        "{actions:?}"
    );
}

#[test]
fn the_leader_refuses_reads_from_non_members() {
    let mut core = leader(options());
    assert_eq!(
        core.step(Input::Message {
            from: 9,
            message: Message::ReadIndex(ReadIndexRequest {
                term: Term(1),
                id: 1,
            }),
        }),
        vec![Action::Send {
            to: 9,
            message: Message::ReadIndexResponse(ReadIndexResponse {
                term: Term(1),
                id: 1,
                result: ReadIndexResult::NotLeader,
            }),
        }]
    );
}

#[test]
fn with_leases_a_follower_that_heard_a_leader_refuses_votes_even_after_a_term_change() {
    // Without pre-vote: a higher-term answer clears the known leader, but the refusal
    // the lease rests on lasts until the election timer fires.
    let mut core = voter(2, &[1, 2, 3], lease_options());
    core.step(Input::Timeout(Timer::Election)); // past the start guard: term 1 candidate
    core.step(heartbeat_from_leader());
    assert_eq!(core.leader(), Some(&1));
    // A stale heartbeat's answer from term 3 moves it to term 3 with no leader known.
    core.step(Input::Message {
        from: 3,
        message: Message::HeartbeatResponse(HeartbeatResponse {
            term: Term(3),
            round: 0,
            lease_cover: 0,
        }),
    });
    assert_eq!(core.leader(), None);
    let vote = |term: u64| Input::Message {
        from: 3,
        message: Message::Vote(VoteRequest {
            term: Term(term),
            last_log_id: LogId::new(0, 0),
            leadership_transfer: false,
        }),
    };
    let actions = core.step(vote(3));
    assert!(
        !actions.iter().any(
            |a| matches!(a, Action::SaveHardState { hard_state, .. } if hard_state.voted_for.is_some())
        ),
        "{actions:?}"
    );
    assert_eq!(core.step(vote(4)), vec![]);
    core.step(Input::Timeout(Timer::Election));
}

#[test]
fn a_node_without_a_leader_refuses_reads() {
    let mut core = voter(2, &[1, 2, 3], options());
    assert_eq!(
        read(&mut core, &[1], None),
        vec![refused(
            &[1],
            ReadIndexError::NotLeader { leader_hint: None }
        )]
    );
}

#[test]
fn a_single_voter_answers_at_once() {
    let mut core = voter(1, &[1], options());
    let actions = core.step(Input::Timeout(Timer::Election));
    core.step(persisted(&actions));
    let actions = core.step(Input::Timeout(Timer::Heartbeat));
    let _ = actions;
    // Its entry commits once durable.
    let leader_actions = core.step(Input::Persisted { seq: PersistSeq(2) });
    let _ = leader_actions;
    assert_eq!(core.commit_index(), LogIndex(1));
    assert_eq!(read(&mut core, &[1], None), vec![ready(&[1], 1)]);
}

#[test]
fn reads_beyond_the_pending_limit_are_refused() {
    let mut core = leader(CoreOptions {
        max_pending_reads: 2,
        ..options()
    });
    assert_eq!(read(&mut core, &[1, 2], None).len(), 2);
    assert_eq!(
        read(&mut core, &[3], None),
        vec![refused(&[3], ReadIndexError::Overloaded)]
    );
}

#[test]
fn a_failed_node_refuses_reads() {
    let mut core = leader(options());
    read(&mut core, &[1], None);
    let actions = core.step(Input::Fail);
    assert!(
        actions.contains(&refused(&[1], ReadIndexError::Failed)),
        "{actions:?}"
    );
    assert_eq!(
        read(&mut core, &[2], None),
        vec![refused(&[2], ReadIndexError::Failed)]
    );
    // An empty batch of reads has nothing to answer.
    assert_eq!(read(&mut core, &[], None), vec![]);
}

/// The lease of `lease_options` (every follower here runs with it: their answers cover it).
const LEASE: u64 = 100;

fn lease_options() -> CoreOptions {
    CoreOptions {
        read_lease: LEASE,
        ..options()
    }
}

#[test]
fn a_confirmed_round_gives_a_lease_from_when_its_reads_arrived() {
    let mut core = leader(lease_options());
    assert_eq!(read(&mut core, &[1], Some(10)), round(1, [(2, 1), (3, 1)]));
    assert_eq!(heartbeat_ack(&mut core, 2, 1), vec![ready(&[1], 1)]);
    // Lease until 10 + 100: answered at once.
    assert_eq!(read(&mut core, &[2], Some(109)), vec![ready(&[2], 1)]);
    // A read without a time always takes a round.
    assert_eq!(read(&mut core, &[3], None), round(2, [(2, 1), (3, 1)]));
    assert_eq!(heartbeat_ack(&mut core, 3, 2), vec![ready(&[3], 1)]);
    // Expired: a round, which renews the lease from 110.
    assert_eq!(read(&mut core, &[4], Some(110)), round(3, [(2, 1), (3, 1)]));
    assert_eq!(heartbeat_ack(&mut core, 3, 3), vec![ready(&[4], 1)]);
    assert_eq!(read(&mut core, &[5], Some(209)), vec![ready(&[5], 1)]);
}

#[test]
fn the_lease_is_what_a_quorum_of_the_rounds_answers_covers() {
    let ack = heartbeat_ack_covering;
    // Node 2 runs without leases (covers nothing): the round is confirmed, the read
    // answered, but no lease follows.
    let mut core = leader(lease_options());
    read(&mut core, &[1], Some(10));
    assert_eq!(ack(&mut core, 2, 1, 0), vec![ready(&[1], 1)]);
    assert_eq!(read(&mut core, &[2], Some(11)), round(2, [(2, 1), (3, 1)]));
    // Node 3 covers 40 (a shorter election timeout): with the leader it is a quorum,
    // so the lease runs from 11 for 40, not the leader's 100.
    assert_eq!(ack(&mut core, 3, 2, 40), vec![ready(&[2], 1)]);
    assert_eq!(read(&mut core, &[3], Some(50)), vec![ready(&[3], 1)]);
    assert_eq!(read(&mut core, &[4], Some(51)), round(3, [(2, 1), (3, 1)]));
    // Node 3 answers the next round first, now covering 1000 (more than the leader's
    // own lease, so it counts as 100): the quorum {1, 3} covers 100 — the lease runs
    // from 51 until 151. (The lease is fixed when the round is confirmed: node 2's
    // later answer changes nothing.)
    assert_eq!(ack(&mut core, 3, 3, 1000), vec![ready(&[4], 1)]);
    assert_eq!(ack(&mut core, 2, 3, 0), vec![]);
    assert_eq!(read(&mut core, &[5], Some(150)), vec![ready(&[5], 1)]);
    assert_eq!(read(&mut core, &[6], Some(151)), round(4, [(2, 1), (3, 1)]));
}

/// Only answers to the confirmed round (or a later one) count for its lease: a
/// follower's answer to an earlier round says nothing about the time the new round
/// started from. (Kills the guard `round >= read.round -> true` in
/// `confirm_read_rounds`, which let an old answer's cover extend the lease.)
#[test]
fn answers_to_earlier_rounds_do_not_cover_a_later_rounds_lease() {
    let ack = heartbeat_ack_covering;
    let mut core = leader(lease_options());
    // Round 1, confirmed by node 3 (covering the whole lease): lease from 10 to 110.
    assert_eq!(read(&mut core, &[1], Some(10)), round(1, [(2, 1), (3, 1)]));
    assert_eq!(ack(&mut core, 3, 1, LEASE), vec![ready(&[1], 1)]);
    // Expired at 200: round 2, confirmed by node 2 alone, which runs without leases.
    // Node 3's cover is from round 1: {1, 2} cover nothing, so no lease.
    assert_eq!(read(&mut core, &[2], Some(200)), round(2, [(2, 1), (3, 1)]));
    assert_eq!(ack(&mut core, 2, 2, 0), vec![ready(&[2], 1)]);
    assert_eq!(read(&mut core, &[3], Some(201)), round(3, [(2, 1), (3, 1)]));
    // Node 3 answers round 3: now its cover counts, from 201.
    assert_eq!(ack(&mut core, 3, 3, LEASE), vec![ready(&[3], 1)]);
    assert_eq!(read(&mut core, &[4], Some(300)), vec![ready(&[4], 1)]);
}

#[test]
fn a_leadership_transfer_ends_the_lease_for_the_term() {
    let mut core = leader(lease_options());
    read(&mut core, &[1], Some(10));
    heartbeat_ack(&mut core, 2, 1);
    assert_eq!(read(&mut core, &[2], Some(20)), vec![ready(&[2], 1)]);
    core.step(Input::TransferLeadership {
        id: RequestId(99),
        to: Some(3),
    });
    // The target will campaign past the voters' refusal: no lease.
    assert_eq!(read(&mut core, &[3], Some(30)), round(2, [(2, 1), (3, 1)]));
    assert_eq!(heartbeat_ack(&mut core, 2, 2), vec![ready(&[3], 1)]);
    // Not even after a round confirmed (a late TimeoutNow may still arrive).
    assert_eq!(read(&mut core, &[4], Some(31)), round(3, [(2, 1), (3, 1)]));
}

#[test]
fn a_membership_change_drops_the_lease() {
    let mut core = leader(lease_options());
    ack_append(&mut core, 3, 1);
    read(&mut core, &[1], Some(10));
    heartbeat_ack(&mut core, 2, 1);
    assert_eq!(read(&mut core, &[2], Some(20)), vec![ready(&[2], 1)]);
    // Removing voter 3 appends a configuration entry: the lease is dropped.
    core.step(Input::ChangeMembership {
        id: RequestId(50),
        change: MembershipChange::RemoveVoter(3),
    });
    let actions = read(&mut core, &[3], Some(30));
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::ReadReady { .. })),
        "{actions:?}"
    );
}

#[test]
fn with_leases_a_restarted_voter_refuses_votes_until_its_first_timeout() {
    let vote_request = |term: u64| Input::Message {
        from: 3,
        message: Message::Vote(VoteRequest {
            term: Term(term),
            last_log_id: LogId::new(0, 0),
            leadership_transfer: false,
        }),
    };
    let grants = |actions: &[Action<u64>]| {
        actions.iter().any(|a| {
            matches!(a, Action::SaveHardState { hard_state, .. } if hard_state.voted_for == Some(3))
        })
    };
    // Restarted in term 1: no leader known, but it may have confirmed one's lease.
    let restarted = |options: CoreOptions| {
        let configuration = ConfigurationEntry::stable(Configuration::with_voters([1, 2, 3]));
        let mut restored = Restored::empty(configuration);
        restored.hard_state.term = Term(1);
        let mut core = RaftCore::new(2, options, restored).unwrap();
        core.start();
        core
    };
    let mut core = restarted(lease_options());
    assert_eq!(core.step(vote_request(2)), vec![]);
    assert_eq!(core.term(), Term(1));
    // After a whole election timeout the lease is over: it campaigns itself (term 2),
    // and a vote for term 3 is granted.
    core.step(Input::Timeout(Timer::Election));
    let actions = core.step(vote_request(3));
    assert!(grants(&actions), "{actions:?}");
    // Without leases there is no guard.
    let mut core = restarted(options());
    let actions = core.step(vote_request(2));
    assert!(grants(&actions), "{actions:?}");
    // Nor on a node whose durable term is 0: it never answered a round (see below), so
    // a fresh cluster elects its first leader at once.
    let mut core = voter(2, &[1, 2, 3], lease_options());
    let actions = core.step(vote_request(1));
    assert!(grants(&actions), "{actions:?}");
}

#[test]
fn a_heartbeat_answer_in_a_term_not_yet_durable_waits_for_it() {
    let mut core = voter(2, &[1, 2, 3], lease_options());
    let heartbeat = |round: u64| Input::Message {
        from: 1,
        message: Message::Heartbeat(Heartbeat {
            term: Term(1),
            commit: LogIndex(0),
            round,
        }),
    };
    let answer = |round: u64| Action::Send {
        to: 1,
        message: Message::HeartbeatResponse(HeartbeatResponse {
            term: Term(1),
            round,
            lease_cover: LEASE,
        }),
    };
    // The first heartbeat of term 1 adopts the term: the answer (which may confirm a
    // lease) leaves only once term 1 is durable, so a crash cannot bring the node back
    // with term 0 and no vote guard.
    let actions = core.step(heartbeat(1));
    assert!(!actions.contains(&answer(1)), "{actions:?}");
    assert_eq!(core.step(persisted(&actions)), vec![answer(1)]);
    // Once the term is durable, answers leave at once.
    let actions = core.step(heartbeat(2));
    assert!(actions.contains(&answer(2)), "{actions:?}");
}

/// An answer to a round the leader never sent (a corrupt or hostile peer's) confirms
/// nothing; the answer to the round sent does. (Kills `> with <` in
/// `read_round_acked`, which took answers to future rounds — a read served without the
/// round that makes it linearizable — and dropped late answers to earlier ones.)
#[test]
fn an_answer_to_a_round_never_sent_confirms_nothing() {
    let mut core = leader(options());
    assert_eq!(read(&mut core, &[1], None), round(1, [(2, 1), (3, 1)]));
    assert_eq!(heartbeat_ack(&mut core, 2, 9), vec![]);
    assert_eq!(heartbeat_ack(&mut core, 3, 9), vec![]);
    assert_eq!(heartbeat_ack(&mut core, 3, 1), vec![ready(&[1], 1)]);
}
