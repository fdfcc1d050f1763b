//! Exact-action tests of membership change and leadership transfer: one input, the
//! actions it must cause (golden scenarios 17–20 show whole runs).

use std::collections::BTreeSet;

use concord::core::*;

#[path = "common/actions.rs"]
mod actions;
use actions::last_write_seq;

fn persisted_all(core: &mut RaftCore<u64>) -> Vec<Action<u64>> {
    let (issued, _) = core.persist_seqs();
    core.step(Input::Persisted { seq: issued })
}

fn from(peer: u64, message: Message<u64>) -> Input<u64> {
    Input::Message {
        from: peer,
        message,
    }
}

fn ack(term: u64, last_matched: u64) -> Message<u64> {
    Message::AppendResponse(AppendResponse {
        term: Term(term),
        result: AppendResult::Success {
            last_matched: LogIndex(last_matched),
        },
    })
}

fn change(id: u64, change: MembershipChange<u64>) -> Input<u64> {
    Input::ChangeMembership {
        id: RequestId(id),
        change,
    }
}

fn set(ids: &[u64]) -> BTreeSet<u64> {
    ids.iter().copied().collect()
}

/// Node 1 elected leader of term 1 over `voters` (and `learners`), without pre-vote; its
/// first entry durable but acknowledged by nobody yet (so not committed).
fn elected(voters: &[u64], learners: &[u64], options: CoreOptions) -> RaftCore<u64> {
    let configuration = ConfigurationEntry::stable(
        Configuration::new(voters.iter().copied(), learners.iter().copied()).unwrap(),
    );
    let options = CoreOptions {
        pre_vote: false,
        ..options
    };
    let mut core = RaftCore::new(1, options, Restored::empty(configuration)).unwrap();
    core.start();
    let actions = core.step(Input::Timeout(Timer::Election));
    core.step(Input::Persisted {
        seq: last_write_seq(&actions),
    });
    for voter in voters.iter().copied().filter(|v| *v != 1) {
        core.step(from(
            voter,
            Message::VoteResponse(VoteResponse {
                term: Term(1),
                granted: true,
            }),
        ));
    }
    assert!(core.is_leader());
    persisted_all(&mut core);
    core
}

/// Node 1 restarted from `restored` (its term 1), elected in term 2, without pre-vote,
/// with its own vote (durable) and 2's. Returns the core and the actions of the step
/// that made it leader.
fn elected_from(restored: Restored<u64>) -> (RaftCore<u64>, Vec<Action<u64>>) {
    let options = CoreOptions {
        pre_vote: false,
        ..CoreOptions::default()
    };
    let mut core = RaftCore::new(1, options, restored).unwrap();
    core.start();
    let actions = core.step(Input::Timeout(Timer::Election));
    core.step(Input::Persisted {
        seq: last_write_seq(&actions),
    });
    let actions = core.step(from(
        2,
        Message::VoteResponse(VoteResponse {
            term: Term(2),
            granted: true,
        }),
    ));
    assert!(core.is_leader());
    (core, actions)
}

/// Node 1 leading {voters} with its first entry committed (every voter acknowledged it).
fn leader(voters: &[u64], learners: &[u64], options: CoreOptions) -> RaftCore<u64> {
    let mut core = elected(voters, learners, options);
    let last = core.last_log_id().index.0;
    for peer in voters.iter().chain(learners).copied().filter(|v| *v != 1) {
        core.step(from(peer, ack(1, last)));
    }
    assert_eq!(core.commit_index(), core.last_log_id().index);
    core
}

/// Node 1 leading {1,2,3} (and `learners`) with a zero catch-up margin: a new voter
/// counts as caught up only once it holds the leader's whole log.
fn strict_leader(learners: &[u64]) -> RaftCore<u64> {
    leader(
        &[1, 2, 3],
        learners,
        CoreOptions {
            catchup_margin: 0,
            ..CoreOptions::default()
        },
    )
}

fn refused(id: u64, error: AdminError<u64>) -> Vec<Action<u64>> {
    vec![Action::MembershipChanged {
        id: RequestId(id),
        result: Err(error),
    }]
}

/// The configuration entry a leader appended last, if the step appended one.
fn appended_configuration(actions: &[Action<u64>]) -> Option<ConfigurationEntry<u64>> {
    actions.iter().find_map(|action| match action {
        Action::AppendLog { entries, .. } => entries.iter().find_map(|e| match &e.kind {
            EntryKind::Configuration(configuration) => Some((**configuration).clone()),
            _ => None,
        }),
        _ => None,
    })
}

/// A new leader that has not committed an entry of its own term is not ready: it cannot
/// know whether a configuration entry of an earlier term is settled (whether its first
/// entry records the configuration, or is a blank after an inherited one).
#[test]
fn a_leader_that_has_not_committed_an_entry_of_its_term_refuses_a_change() {
    let mut core = elected(&[1, 2, 3], &[], CoreOptions::default());
    assert_eq!(
        core.step(change(7, MembershipChange::AddVoter(4))),
        refused(7, AdminError::NotReady)
    );
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let restored = Restored {
        hard_state: HardState {
            term: Term(1),
            voted_for: None,
            reset: None,
        },
        snapshot: None,
        entries: vec![EntryMeta {
            log_id: LogId::new(1, 1),
            kind: EntryKind::configuration(configuration.clone()),
            size_bytes: 0,
        }],
        initial_configuration: configuration,
    };
    let (mut core, _) = elected_from(restored);
    assert_eq!(
        core.step(change(7, MembershipChange::AddVoter(4))),
        refused(7, AdminError::NotReady)
    );
}

#[test]
fn a_follower_refuses_a_change_and_a_transfer_naming_its_leader() {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let mut core =
        RaftCore::new(2, CoreOptions::default(), Restored::empty(configuration)).unwrap();
    core.start();
    core.step(from(
        1,
        Message::Heartbeat(Heartbeat {
            term: Term(1),
            commit: LogIndex(0),
            round: 0,
        }),
    ));
    assert_eq!(
        core.step(change(1, MembershipChange::RemoveVoter(3))),
        refused(
            1,
            AdminError::NotLeader {
                leader_hint: Some(1)
            }
        )
    );
    assert_eq!(
        core.step(Input::TransferLeadership {
            id: RequestId(2),
            to: None
        }),
        vec![Action::TransferDone {
            id: RequestId(2),
            result: Err(AdminError::NotLeader {
                leader_hint: Some(1)
            }),
        }]
    );
}

#[test]
fn a_change_that_changes_nothing_is_answered_at_once_and_appends_nothing() {
    let mut core = leader(&[1, 2, 3], &[], CoreOptions::default());
    assert_eq!(
        core.step(change(1, MembershipChange::AddVoter(2))),
        vec![Action::MembershipChanged {
            id: RequestId(1),
            result: Ok(Configuration::with_voters([1, 2, 3])),
        }]
    );
}

/// A new voter is only replicated to until it has acknowledged an append within the
/// catch-up margin; only then is the joint entry appended.
#[test]
fn a_new_voter_catches_up_before_the_joint_entry_is_appended() {
    let mut core = strict_leader(&[]);
    let actions = core.step(change(1, MembershipChange::AddVoter(4)));
    assert_eq!(appended_configuration(&actions), None);
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Send {
            to: 4,
            message: Message::Append(_)
        }
    )));
    assert!(core.progress(&4).is_some(), "4 is replicated to");
    assert!(!core.configuration().is_voter(&4), "but is no member yet");
    // 4 answers with the whole log: the joint configuration is appended.
    let actions = core.step(from(4, ack(1, 1)));
    assert_eq!(
        appended_configuration(&actions),
        Some(ConfigurationEntry {
            current: Configuration::with_voters([1, 2, 3, 4]),
            old: Some(Configuration::with_voters([1, 2, 3])),
        })
    );
    // Writes go on meanwhile.
    let actions = core.step(Input::Propose(vec![Proposal {
        id: RequestId(9),
        size_bytes: 1,
        expected_term: None,
    }]));
    assert!(matches!(actions[0], Action::ProposalAccepted { .. }));
}

/// Under C_old,new every decision needs a majority of both: {1,2,3} -> {1,4,5} with
/// only 2 and 3 acknowledging commits nothing.
#[test]
fn a_joint_entry_commits_only_with_majorities_of_both_configurations() {
    let mut core = strict_leader(&[]);
    core.step(change(1, MembershipChange::ChangeVoters(set(&[1, 4, 5]))));
    core.step(from(4, ack(1, 1)));
    let actions = core.step(from(5, ack(1, 1)));
    assert!(appended_configuration(&actions).is_some_and(|c| c.is_joint()));
    persisted_all(&mut core);
    let joint = core.last_log_id().index;
    core.step(from(2, ack(1, joint.0)));
    core.step(from(3, ack(1, joint.0)));
    assert!(
        core.commit_index() < joint,
        "C_old's majority alone commits nothing"
    );
    // One member of C_new besides the leader makes both majorities: committed, and
    // C_new follows at once.
    let actions = core.step(from(4, ack(1, joint.0)));
    assert_eq!(core.commit_index(), joint);
    assert_eq!(
        appended_configuration(&actions),
        Some(ConfigurationEntry::stable(Configuration::with_voters([
            1, 4, 5
        ])))
    );
}

/// The leader of {1,2,3} -> {2,3,4} is not in C_new: once C_new is appended its own
/// durable log no longer counts, and when C_new commits it answers, hands over to an
/// up-to-date voter and steps down without arming an election timer.
#[test]
fn a_leader_not_in_c_new_does_not_count_itself_and_steps_down_once_it_commits() {
    let mut core = strict_leader(&[]);
    core.step(change(1, MembershipChange::ChangeVoters(set(&[2, 3, 4]))));
    core.step(from(4, ack(1, 1)));
    persisted_all(&mut core);
    let joint = core.last_log_id().index.0;
    core.step(from(2, ack(1, joint)));
    core.step(from(4, ack(1, joint)));
    assert_eq!(core.commit_index().0, joint);
    persisted_all(&mut core);
    let c_new = core.last_log_id().index.0;
    assert_eq!(c_new, joint + 1);
    // The leader's own durable copy and 2's acknowledgement are not a majority of
    // {2,3,4}.
    core.step(from(2, ack(1, c_new)));
    assert_eq!(core.commit_index().0, joint);
    let actions = core.step(from(4, ack(1, c_new)));
    assert_eq!(core.commit_index().0, c_new);
    let tail: Vec<Action<u64>> = actions
        .into_iter()
        .filter(|a| !matches!(a, Action::Apply { .. }))
        .collect();
    assert_eq!(
        tail,
        vec![
            Action::MembershipChanged {
                id: RequestId(1),
                result: Ok(Configuration::with_voters([2, 3, 4])),
            },
            // 4 holds the whole log (2 does too; the highest id wins the tie).
            Action::Send {
                to: 4,
                message: Message::TimeoutNow(TimeoutNow {
                    term: Term(1),
                    last_log_id: LogId::new(1, c_new),
                }),
            },
            Action::CancelTimer(Timer::Heartbeat),
            Action::CancelTimer(Timer::Election),
            Action::RoleChanged {
                role: Role::Follower,
                term: Term(1),
                leader: None,
                commit_index: LogIndex(c_new),
            },
        ]
    );
    // It never campaigns again.
    assert_eq!(core.step(Input::Timeout(Timer::Election)), vec![]);
}

#[test]
fn one_change_at_a_time_and_none_during_a_transfer() {
    let mut core = leader(&[1, 2, 3], &[], CoreOptions::default());
    // 4 never answers: the change stays in catch-up.
    core.step(change(1, MembershipChange::AddVoter(4)));
    assert_eq!(
        core.step(change(2, MembershipChange::AddLearners(set(&[5])))),
        refused(2, AdminError::ChangeInProgress)
    );
    assert_eq!(
        core.step(Input::TransferLeadership {
            id: RequestId(3),
            to: Some(2)
        }),
        vec![Action::TransferDone {
            id: RequestId(3),
            result: Err(AdminError::ChangeInProgress),
        }]
    );
    // Leadership lost while catching up: the change is answered, nothing was appended.
    let actions = core.step(from(
        2,
        Message::AppendResponse(AppendResponse {
            term: Term(5),
            result: AppendResult::StaleTerm,
        }),
    ));
    assert_eq!(
        actions[0],
        Action::MembershipChanged {
            id: RequestId(1),
            result: Err(AdminError::LeadershipLost),
        }
    );
    assert_eq!(
        core.configuration().current,
        Configuration::with_voters([1, 2, 3])
    );
}

#[test]
fn a_transfer_refuses_writes_and_sends_timeout_now_only_to_an_up_to_date_target() {
    let mut core = leader(&[1, 2, 3], &[], CoreOptions::default());
    let last = core.last_log_id().index.0;
    // 3 is up to date (it acknowledged the first entry): TimeoutNow leaves at once.
    let actions = core.step(Input::TransferLeadership {
        id: RequestId(1),
        to: Some(3),
    });
    assert_eq!(
        actions,
        vec![Action::Send {
            to: 3,
            message: Message::TimeoutNow(TimeoutNow {
                term: Term(1),
                last_log_id: LogId::new(1, last),
            }),
        }]
    );
    assert_eq!(
        core.step(Input::Propose(vec![Proposal {
            id: RequestId(2),
            size_bytes: 1,
            expected_term: None,
        }])),
        vec![Action::ProposalRejected {
            id: RequestId(2),
            error: ProposeError::TransferInProgress,
        }]
    );
    // The target's vote request in term 2 ends this leadership: the transfer succeeded.
    let actions = core.step(from(
        3,
        Message::Vote(VoteRequest {
            term: Term(2),
            last_log_id: LogId::new(1, last),
            leadership_transfer: true,
        }),
    ));
    assert_eq!(
        actions[0],
        Action::TransferDone {
            id: RequestId(1),
            result: Ok(3),
        }
    );
    assert!(!core.is_leader());
}

#[test]
fn a_transfer_to_a_learner_or_a_stranger_is_refused_and_any_picks_the_most_up_to_date() {
    let mut core = leader(&[1, 2, 3], &[4], CoreOptions::default());
    for target in [4, 9] {
        assert_eq!(
            core.step(Input::TransferLeadership {
                id: RequestId(target),
                to: Some(target),
            }),
            vec![Action::TransferDone {
                id: RequestId(target),
                result: Err(AdminError::NotAVoter { peer: Some(target) }),
            }]
        );
    }
    let actions = core.step(Input::TransferLeadership {
        id: RequestId(1),
        to: None,
    });
    assert!(matches!(
        actions[..],
        [Action::Send {
            to: 3,
            message: Message::TimeoutNow(_)
        }]
    ));
}

/// A follower that hears from its leader refuses an ordinary vote request of a higher
/// term (the lease, F24) but grants one that says it is a handover; the log check still
/// applies to both.
#[test]
fn only_a_handover_vote_request_passes_the_lease() {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let mut core =
        RaftCore::new(2, CoreOptions::default(), Restored::empty(configuration)).unwrap();
    core.start();
    core.step(from(
        1,
        Message::Heartbeat(Heartbeat {
            term: Term(1),
            commit: LogIndex(0),
            round: 0,
        }),
    ));
    let request = |transfer: bool| VoteRequest {
        term: Term(2),
        last_log_id: LogId::new(1, 5),
        leadership_transfer: transfer,
    };
    assert_eq!(core.step(from(3, Message::Vote(request(false)))), vec![]);
    assert_eq!(core.term(), Term(1), "the lease keeps the term too");
    let actions = core.step(from(3, Message::Vote(request(true))));
    assert_eq!(core.term(), Term(2));
    assert_eq!(core.voted_for(), Some(&3));
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::SaveHardState { .. })));
    // A handover request with a shorter log than ours is still refused.
    let mut behind = RaftCore::new(
        2,
        CoreOptions::default(),
        Restored {
            hard_state: HardState {
                term: Term(1),
                voted_for: None,
                reset: None,
            },
            snapshot: None,
            entries: vec![EntryMeta {
                log_id: LogId::new(1, 1),
                kind: EntryKind::Normal,
                size_bytes: 1,
            }],
            initial_configuration: ConfigurationEntry::stable(Configuration::with_voters([
                1u64, 2, 3,
            ])),
        },
    )
    .unwrap();
    behind.start();
    let actions = behind.step(from(
        3,
        Message::Vote(VoteRequest {
            term: Term(2),
            last_log_id: LogId::ZERO,
            leadership_transfer: true,
        }),
    ));
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Send {
            message: Message::VoteResponse(VoteResponse { granted: false, .. }),
            ..
        }
    )));
}

/// `TimeoutNow` counts only from the leader this node follows, only on a voter, and only
/// if this node's log ends where the leader's did when it sent it.
#[test]
fn timeout_now_from_anyone_but_the_leader_or_to_a_learner_does_nothing() {
    let configuration =
        ConfigurationEntry::stable(Configuration::new([1u64, 2, 3], [4u64]).unwrap());
    for id in [2u64, 4] {
        let mut core = RaftCore::new(
            id,
            CoreOptions::default(),
            Restored::empty(configuration.clone()),
        )
        .unwrap();
        core.start();
        core.step(from(
            1,
            Message::Heartbeat(Heartbeat {
                term: Term(1),
                commit: LogIndex(0),
                round: 0,
            }),
        ));
        let timeout_now = Message::TimeoutNow(TimeoutNow {
            term: Term(1),
            last_log_id: LogId::ZERO,
        });
        assert_eq!(core.step(from(3, timeout_now.clone())), vec![]);
        // From the leader, but naming a log this node does not end with: a late copy.
        let late = Message::TimeoutNow(TimeoutNow {
            term: Term(1),
            last_log_id: LogId::new(1, 4),
        });
        assert_eq!(core.step(from(1, late)), vec![]);
        let actions = core.step(from(1, timeout_now));
        if id == 4 {
            assert_eq!(actions, vec![], "a learner never campaigns");
        } else {
            assert_eq!(core.role(), Role::Candidate, "the voter campaigns at once");
            assert_eq!(core.term(), Term(2));
        }
    }
}

/// A failed node answers admin requests instead of dropping them.
#[test]
fn a_failed_node_answers_admin_requests() {
    let mut core = leader(&[1, 2, 3], &[], CoreOptions::default());
    core.step(Input::Fail);
    assert_eq!(
        core.step(change(1, MembershipChange::AddVoter(4))),
        refused(1, AdminError::Failed)
    );
}

/// A new voter that has not answered for a whole check-quorum round fails the change;
/// its replication stops.
#[test]
fn a_silent_new_voter_fails_the_change_after_a_whole_round() {
    let mut core = leader(&[1, 2, 3], &[], CoreOptions::default());
    core.step(change(1, MembershipChange::AddVoter(4)));
    let keep_alive = |core: &mut RaftCore<u64>| {
        core.step(from(
            2,
            Message::HeartbeatResponse(HeartbeatResponse {
                term: Term(1),
                round: 0,
                lease_cover: 0,
            }),
        ));
    };
    keep_alive(&mut core);
    // The first round may have started just before the request: not counted.
    let actions = core.step(Input::Timeout(Timer::Election));
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::MembershipChanged { .. })));
    keep_alive(&mut core);
    let actions = core.step(Input::Timeout(Timer::Election));
    assert_eq!(
        actions[0],
        Action::MembershipChanged {
            id: RequestId(1),
            result: Err(AdminError::CatchUpFailed { peer: 4 }),
        }
    );
    assert!(core.progress(&4).is_none());
    assert!(core.is_leader());
}

/// A learner being promoted that has stopped answering fails the change like a new
/// node would (it must not keep the change, and every later one, waiting).
#[test]
fn a_silent_learner_being_promoted_fails_the_change() {
    let last = 1;
    // A zero margin, so that 4 (at `last`) is behind once 2 and 3 hold one entry more.
    let mut core = {
        let mut strict = strict_leader(&[4]);
        strict.step(Input::Propose(vec![Proposal {
            id: RequestId(50),
            size_bytes: 1,
            expected_term: None,
        }]));
        persisted_all(&mut strict);
        strict.step(from(2, ack(1, last + 1)));
        strict.step(from(3, ack(1, last + 1)));
        strict
    };
    assert!(appended_configuration(&core.step(change(1, MembershipChange::AddVoter(4)))).is_none());
    let keep_alive = |core: &mut RaftCore<u64>| {
        core.step(from(
            2,
            Message::HeartbeatResponse(HeartbeatResponse {
                term: Term(1),
                round: 0,
                lease_cover: 0,
            }),
        ));
    };
    keep_alive(&mut core);
    core.step(Input::Timeout(Timer::Election));
    keep_alive(&mut core);
    let actions = core.step(Input::Timeout(Timer::Election));
    assert_eq!(
        actions[0],
        Action::MembershipChanged {
            id: RequestId(1),
            result: Err(AdminError::CatchUpFailed { peer: 4 }),
        }
    );
    // 4 is still a learner, still replicated to; a new change may start.
    assert!(core.configuration().current.is_learner(&4));
    assert!(core.progress(&4).is_some());
    let actions = core.step(change(2, MembershipChange::RemoveLearners(set(&[4]))));
    assert!(appended_configuration(&actions).is_some());
}

// ---- Forced reset of the peers, fenced by configuration epochs (golden 21) ----

fn reset(id: u64, voters: &[u64]) -> Input<u64> {
    Input::ResetPeers {
        id: RequestId(id),
        configuration: Configuration::with_voters(voters.iter().copied()),
    }
}

fn epoch_term(epoch: u64, elections: u64) -> Term {
    Term(Term::first_of_epoch(epoch).0 + elections)
}

/// A reset on a leader ends its leadership and opens the next epoch in one hard-state
/// write; the answer, the configuration now in force, comes once that write is durable.
#[test]
fn a_reset_opens_the_next_epoch_with_one_hard_state_write() {
    let mut core = leader(&[1, 2, 3], &[], CoreOptions::default());
    let commit = core.commit_index();
    let actions = core.step(reset(9, &[1, 2]));
    let configuration = Configuration::with_voters([1u64, 2]);
    let term = Term::first_of_epoch(1);
    assert_eq!(
        actions,
        vec![
            Action::CancelTimer(Timer::Heartbeat),
            Action::SaveHardState {
                seq: last_write_seq(&actions),
                hard_state: HardState {
                    term,
                    voted_for: None,
                    reset: Some(ConfigurationReset {
                        epoch: 1,
                        configuration: configuration.clone(),
                    }),
                },
            },
            Action::ResetTimer(Timer::Election),
            Action::RoleChanged {
                role: Role::Follower,
                term,
                leader: None,
                commit_index: commit,
            },
        ]
    );
    // One at a time: a second reset while the first is being written is refused.
    assert_eq!(
        core.step(reset(10, &[1])),
        refused(10, AdminError::ChangeInProgress)
    );
    // The answer comes once the reset is durable.
    assert_eq!(
        persisted_all(&mut core),
        vec![Action::MembershipChanged {
            id: RequestId(9),
            result: Ok(configuration.clone()),
        }]
    );
    assert_eq!(core.configuration().current, configuration);
    assert_eq!(core.configuration_epoch(), 1);
    assert!(!core.is_fenced());
    core.check_invariants().unwrap();
}

/// The first leader of the epoch records the reset configuration in its log at once
/// (the old epoch's configuration entries do not count any more).
#[test]
fn the_first_leader_of_an_epoch_records_its_configuration() {
    let mut core = leader(&[1, 2, 3], &[], CoreOptions::default());
    core.step(reset(9, &[1, 2]));
    persisted_all(&mut core);
    let actions = core.step(Input::Timeout(Timer::Election));
    assert!(actions.iter().any(|a| matches!(a,
        Action::SaveHardState { hard_state, .. } if hard_state.term == epoch_term(1, 1))));
    persisted_all(&mut core);
    let vote = Message::VoteResponse(VoteResponse {
        term: epoch_term(1, 1),
        granted: true,
    });
    let actions = core.step(from(2, vote));
    assert!(core.is_leader());
    assert_eq!(
        appended_configuration(&actions),
        Some(ConfigurationEntry::stable(Configuration::with_voters([
            1u64, 2
        ])))
    );
    core.check_invariants().unwrap();
}

#[test]
fn a_reset_that_leaves_this_node_out_is_refused() {
    let mut core = leader(&[1, 2, 3], &[], CoreOptions::default());
    let actions = core.step(reset(9, &[2, 3]));
    assert!(matches!(
        actions.as_slice(),
        [Action::MembershipChanged {
            id: RequestId(9),
            result: Err(AdminError::InvalidChange { .. })
        }]
    ));
    assert!(core.is_leader());
    assert_eq!(core.term(), Term(1));
}

/// Node 2 of {1,2,3} hears from the reset node (a term of epoch 1): it adopts the term
/// and is fenced — its election timer fires and it does not campaign — yet it votes
/// and follows by the term rules. Once the epoch's configuration entry (naming it)
/// reaches its log it campaigns again.
#[test]
fn a_node_that_hears_of_a_newer_epoch_is_fenced_until_the_epochs_configuration_arrives() {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let mut core =
        RaftCore::new(2, CoreOptions::default(), Restored::empty(configuration)).unwrap();
    core.start();
    let term = epoch_term(1, 1);
    core.step(from(
        1,
        Message::Heartbeat(Heartbeat {
            term,
            commit: LogIndex(0),
            round: 0,
        }),
    ));
    persisted_all(&mut core);
    assert_eq!(core.term(), term);
    assert!(core.is_fenced());
    let actions = core.step(Input::Timeout(Timer::Election));
    assert_eq!(
        actions,
        vec![Action::RoleChanged {
            role: Role::Follower,
            term,
            leader: None,
            commit_index: LogIndex(0),
        }],
        "a fenced node never campaigns"
    );
    // It still votes, by the term and log rules (its vote counts only where a
    // configuration of the new epoch names it).
    let request = VoteRequest {
        term: epoch_term(1, 2),
        last_log_id: LogId::new(epoch_term(1, 1).0, 1),
        leadership_transfer: false,
    };
    let actions = core.step(from(1, Message::Vote(request)));
    persisted_all(&mut core);
    assert!(actions.iter().any(|a| matches!(a,
        Action::SaveHardState { hard_state, .. } if hard_state.voted_for == Some(1))));
    // The epoch's leader replicates its configuration entry {1,2}: no longer fenced.
    let entry = EntryMeta {
        log_id: LogId::new(epoch_term(1, 2).0, 1),
        kind: EntryKind::configuration(ConfigurationEntry::stable(Configuration::with_voters([
            1u64, 2,
        ]))),
        size_bytes: 0,
    };
    core.step(from(
        1,
        Message::Append(AppendRequest {
            term: epoch_term(1, 2),
            prev_log_id: LogId::ZERO,
            entries: vec![entry],
            leader_commit: LogIndex(0),
        }),
    ));
    persisted_all(&mut core);
    assert!(!core.is_fenced());
    let actions = core.step(Input::Timeout(Timer::Election));
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Send {
                to: 1,
                message: Message::PreVote(_)
            }
        )),
        "unfenced, it campaigns: {actions:?}"
    );
    core.check_invariants().unwrap();
}

/// The reset is durable: a restart uses its configuration over the old epoch's entries,
/// and a configuration entry of the new epoch over the reset.
#[test]
fn a_restart_keeps_the_reset_configuration() {
    let old = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let entries = vec![EntryMeta {
        log_id: LogId::new(1, 1),
        kind: EntryKind::configuration(old.clone()),
        size_bytes: 0,
    }];
    let hard_state = HardState {
        term: Term::first_of_epoch(1),
        voted_for: None,
        reset: Some(ConfigurationReset {
            epoch: 1,
            configuration: Configuration::with_voters([1u64]),
        }),
    };
    let restored = Restored {
        hard_state: hard_state.clone(),
        snapshot: None,
        entries: entries.clone(),
        initial_configuration: old.clone(),
    };
    let core = RaftCore::new(1, CoreOptions::default(), restored).unwrap();
    assert_eq!(
        core.configuration(),
        &ConfigurationEntry::stable(Configuration::with_voters([1u64]))
    );
    assert_eq!(core.configuration_epoch(), 1);
    assert!(!core.is_fenced());
    // Later in the epoch, a configuration entry of epoch 1 is in force.
    let mut later = entries;
    later.push(EntryMeta {
        log_id: LogId::new(epoch_term(1, 1).0, 2),
        kind: EntryKind::configuration(ConfigurationEntry::stable(Configuration::with_voters([
            1u64, 4,
        ]))),
        size_bytes: 0,
    });
    let restored = Restored {
        hard_state: HardState {
            term: epoch_term(1, 1),
            ..hard_state
        },
        snapshot: None,
        entries: later,
        initial_configuration: old,
    };
    let core = RaftCore::new(1, CoreOptions::default(), restored).unwrap();
    assert_eq!(
        core.configuration(),
        &ConfigurationEntry::stable(Configuration::with_voters([1u64, 4]))
    );
    assert_eq!(core.configuration_epoch(), 1);
}

/// A retry of a reset that is already durable in this node's epoch (same voters)
/// changes nothing and answers the configuration in force.
#[test]
fn a_retried_reset_changes_nothing() {
    let mut core = leader(&[1, 2, 3], &[], CoreOptions::default());
    core.step(reset(9, &[1, 2]));
    persisted_all(&mut core);
    let term = core.term();
    assert_eq!(
        core.step(reset(10, &[1, 2])),
        vec![Action::MembershipChanged {
            id: RequestId(10),
            result: Ok(Configuration::with_voters([1u64, 2])),
        }]
    );
    assert_eq!(core.term(), term);
    // Other voters open the next epoch.
    core.step(reset(11, &[1]));
    assert_eq!(core.term(), Term::first_of_epoch(2));
}

/// A survivor that heard of the epoch another survivor's reset opened (it is fenced)
/// joins that epoch when it is reset, instead of opening one more (which would fence
/// the survivors already running the first): same term, same vote, the configuration
/// given, and it may campaign again.
#[test]
fn a_fenced_survivor_joins_the_epoch_it_heard_of() {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let mut core =
        RaftCore::new(2, CoreOptions::default(), Restored::empty(configuration)).unwrap();
    core.start();
    let term = epoch_term(1, 1);
    let request = VoteRequest {
        term,
        last_log_id: LogId::ZERO,
        leadership_transfer: false,
    };
    core.step(from(1, Message::Vote(request)));
    persisted_all(&mut core);
    assert!(core.is_fenced());
    assert_eq!(core.voted_for(), Some(&1));
    let actions = core.step(reset(9, &[1, 2]));
    assert_eq!(
        actions,
        vec![
            Action::SaveHardState {
                seq: last_write_seq(&actions),
                hard_state: HardState {
                    term,
                    voted_for: Some(1),
                    reset: Some(ConfigurationReset {
                        epoch: 1,
                        configuration: Configuration::with_voters([1u64, 2]),
                    }),
                },
            },
            Action::ResetTimer(Timer::Election),
        ]
    );
    assert!(!core.is_fenced());
    assert_eq!(core.configuration_epoch(), 1);
    persisted_all(&mut core);
    let actions = core.step(Input::Timeout(Timer::Election));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Send { to: 1, message: Message::PreVote(r) } if r.term == epoch_term(1, 2))),
        "{actions:?}"
    );
}

/// Nothing of the new epoch leaves the reset node before the reset is durable: a
/// refusal of an old member's append waits (a crash now would forget the reset, and an
/// old member told of the epoch would be fenced by a reset that never happened).
#[test]
fn nothing_of_the_new_epoch_leaves_before_the_reset_is_durable() {
    let mut core = leader(&[1, 2, 3], &[], CoreOptions::default());
    core.step(reset(9, &[1]));
    let stale = Message::Heartbeat(Heartbeat {
        term: Term(1),
        commit: LogIndex(0),
        round: 0,
    });
    let actions = core.step(from(2, stale));
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Send { .. })),
        "{actions:?}"
    );
    let actions = persisted_all(&mut core);
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::MembershipChanged { result: Ok(_), .. })));
    assert!(
        actions.iter().any(|a| matches!(a,
            Action::Send { to: 2, message: Message::HeartbeatResponse(r) } if r.term == Term::first_of_epoch(1))),
        "{actions:?}"
    );
}

#[test]
fn terms_never_run_into_the_next_epoch() {
    let last = Term(Term::first_of_epoch(1).0 - 1);
    assert_eq!(last.epoch(), 0);
    assert_eq!(last.next(), last, "saturates within its epoch");
    assert_eq!(Term(5).next(), Term(6));
    assert_eq!(epoch_term(2, 3).to_string(), "e2/3");
    assert_eq!(Term(7).to_string(), "7");
}

/// `catchup_max_rounds`: a new voter that answers but stays behind fails the change
/// after that many whole rounds; with 0 (the default, as JRaft) it keeps it waiting.
#[test]
fn a_new_voter_that_answers_but_stays_behind_fails_after_the_rounds_allowed() {
    for max_rounds in [0u32, 2] {
        let options = CoreOptions {
            catchup_margin: 0,
            catchup_max_rounds: max_rounds,
            ..CoreOptions::default()
        };
        let mut core = leader(&[1, 2, 3], &[], options);
        core.step(Input::Propose(vec![Proposal {
            id: RequestId(50),
            size_bytes: 1,
            expected_term: None,
        }]));
        persisted_all(&mut core);
        core.step(from(2, ack(1, 2)));
        core.step(from(3, ack(1, 2)));
        core.step(change(1, MembershipChange::AddVoter(4)));
        let mut answered = None;
        for round in 1..=6 {
            // 2 and 4 answer every round; 4 stays one entry behind.
            core.step(from(2, ack(1, 2)));
            core.step(from(4, ack(1, 1)));
            let actions = core.step(Input::Timeout(Timer::Election));
            if let Some(result) = actions.iter().find_map(|a| match a {
                Action::MembershipChanged { result, .. } => Some(result.clone()),
                _ => None,
            }) {
                answered = Some((round, result));
                break;
            }
        }
        match max_rounds {
            0 => assert_eq!(answered, None, "no limit: the change keeps waiting"),
            _ => assert_eq!(
                answered,
                Some((3, Err(AdminError::CatchUpFailed { peer: 4 }))),
                "fails on the firing after two whole rounds"
            ),
        }
        assert!(core.is_leader());
        core.check_invariants().unwrap();
    }
}

/// A leader that inherited a joint configuration finishes that change first: once the
/// joint entry commits (with the leader's first entry) it appends C_new, and until C_new
/// commits it refuses another change and a transfer, though no change of its own is
/// pending. (Kills `configuration_settled -> true`: a change or a handover started on
/// top of a configuration not yet committed.)
#[test]
fn an_inherited_change_is_finished_before_another_change_or_a_transfer() {
    let old = Configuration::with_voters([1u64, 2, 3]);
    let new = Configuration::with_voters([1u64, 2, 4]);
    let joint = ConfigurationEntry {
        current: new.clone(),
        old: Some(old.clone()),
    };
    let restored = Restored {
        hard_state: HardState {
            term: Term(1),
            voted_for: None,
            reset: None,
        },
        snapshot: None,
        entries: vec![EntryMeta {
            log_id: LogId::new(1, 1),
            kind: EntryKind::configuration(joint.clone()),
            size_bytes: 0,
        }],
        initial_configuration: ConfigurationEntry::stable(old),
    };
    // 2's vote makes a majority of both halves ({1, 2}).
    let (mut core, _) = elected_from(restored);
    assert_eq!(core.configuration(), &joint);
    persisted_all(&mut core);
    // Its first entry (2) acknowledged by 2 commits the joint entry: C_new follows.
    let actions = core.step(from(2, ack(2, 2)));
    assert_eq!(core.commit_index(), LogIndex(2));
    assert_eq!(
        appended_configuration(&actions),
        Some(ConfigurationEntry::stable(new.clone()))
    );
    // C_new (3) is not committed yet.
    assert_eq!(
        core.step(change(7, MembershipChange::AddLearners(set(&[5])))),
        refused(7, AdminError::ChangeInProgress)
    );
    assert_eq!(
        core.step(Input::TransferLeadership {
            id: RequestId(8),
            to: Some(2),
        }),
        vec![Action::TransferDone {
            id: RequestId(8),
            result: Err(AdminError::ChangeInProgress),
        }]
    );
    // Once it commits, a change is taken.
    persisted_all(&mut core);
    core.step(from(2, ack(2, 3)));
    assert_eq!(core.commit_index(), LogIndex(3));
    assert_eq!(core.configuration(), &ConfigurationEntry::stable(new));
    let actions = core.step(change(9, MembershipChange::AddLearners(set(&[5]))));
    assert!(
        !actions
            .iter()
            .any(|action| matches!(action, Action::MembershipChanged { result: Err(_), .. })),
        "{actions:?}"
    );
}

/// A removed node still being told of its removal (leaving) and added back as a learner
/// before it heard is a member again: it stays replicated to once it holds the entry
/// that removed it. (Kills `&& with ||` in `LeaderState::reconcile`'s `leaving` filter:
/// kept as leaving — which the invariant "no member is also leaving" flags at once — the
/// learner would be let go as soon as it caught up.)
#[test]
fn a_leaving_node_added_back_as_a_learner_stays_replicated_to() {
    let mut core = leader(&[1, 2, 3, 4], &[], CoreOptions::default());
    core.step(change(1, MembershipChange::RemoveVoter(4)));
    // 2 and 3 acknowledge whatever the leader appends (the joint entry, then C_new);
    // 4 hears nothing.
    for _ in 0..4 {
        persisted_all(&mut core);
        let last = core.last_log_id().index.0;
        core.step(from(2, ack(1, last)));
        core.step(from(3, ack(1, last)));
        core.check_invariants().unwrap();
    }
    assert_eq!(
        core.configuration(),
        &ConfigurationEntry::stable(Configuration::with_voters([1, 2, 3]))
    );
    assert_eq!(core.commit_index(), core.last_log_id().index);
    assert!(core.progress(&4).is_some(), "4 is told it was removed");
    let actions = core.step(change(2, MembershipChange::AddLearners(set(&[4]))));
    assert!(appended_configuration(&actions).is_some(), "{actions:?}");
    assert_eq!(
        core.configuration().current,
        Configuration::new([1, 2, 3], [4]).unwrap()
    );
    core.check_invariants().unwrap();
    persisted_all(&mut core);
    let last = core.last_log_id().index.0;
    core.step(from(4, ack(1, last)));
    core.check_invariants().unwrap();
    assert!(core.progress(&4).is_some(), "the learner is replicated to");
}

/// A new leader whose log ends with a configuration entry not yet committed that removed
/// a node (its predecessor's change) keeps replicating to that node until it holds the
/// entry: otherwise a removed node that missed it campaigns on forever. (Kills `!= with
/// ==` in `track_inherited_removals`: no removed node was tracked.)
#[test]
fn a_new_leader_tells_a_node_its_predecessor_removed() {
    let old = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3, 4]));
    let new = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let restored = Restored {
        hard_state: HardState {
            term: Term(1),
            voted_for: None,
            reset: None,
        },
        snapshot: None,
        entries: vec![
            EntryMeta {
                log_id: LogId::new(1, 1),
                kind: EntryKind::configuration(old.clone()),
                size_bytes: 0,
            },
            EntryMeta {
                log_id: LogId::new(1, 2),
                kind: EntryKind::configuration(new.clone()),
                size_bytes: 0,
            },
        ],
        initial_configuration: old,
    };
    let (mut core, actions) = elected_from(restored);
    assert_eq!(core.configuration(), &new);
    core.check_invariants().unwrap();
    assert!(core.progress(&4).is_some(), "4 is told it was removed");
    assert!(
        actions.iter().any(|action| matches!(
            action,
            Action::Send {
                to: 4,
                message: Message::Append(_)
            }
        )),
        "{actions:?}"
    );
    // Once 4 holds the entry that removed it, it is let go.
    persisted_all(&mut core);
    let last = core.last_log_id().index.0;
    core.step(from(4, ack(2, last)));
    core.check_invariants().unwrap();
    assert!(core.progress(&4).is_none(), "4 holds its removal");
}

/// While a reset of the peers is being written nothing leaves the node (an old member
/// that learned the new epoch from an answer would be fenced by a reset a crash then
/// forgets): answers wait for the write, at most `MAX_HELD_MESSAGES` (4,096) of them;
/// beyond that they are dropped and counted, as a network may lose them. (Kills `+=
/// with -=` in `send`'s count of those drops.)
#[test]
fn answers_wait_for_a_reset_to_be_durable_and_beyond_the_hold_limit_are_counted_dropped() {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let mut core =
        RaftCore::new(2, CoreOptions::default(), Restored::empty(configuration)).unwrap();
    core.start();
    core.step(reset(1, &[2]));
    let stale = from(
        1,
        Message::Heartbeat(Heartbeat {
            term: Term(1),
            commit: LogIndex(0),
            round: 0,
        }),
    );
    for _ in 0..4_100 {
        assert_eq!(core.step(stale.clone()), vec![]);
    }
    assert_eq!(core.held_messages(), 4_096);
    assert_eq!(core.dropped_messages(), 4);
}

/// A removed voter is replicated to until it holds the entry that removed it — while it
/// answers. One that answered in a check-quorum round stays tracked; one silent for a
/// whole round is let go. (Kills `delete !` in `membership_round`'s filter.)
#[test]
fn a_leaving_peer_is_let_go_only_after_a_silent_round() {
    let mut core = leader(&[1, 2, 3], &[], CoreOptions::default());
    // A round in which everyone answered: the "heard from" flags start afresh.
    core.step(Input::Timeout(Timer::Election));
    core.step(change(1, MembershipChange::RemoveVoter(3)));
    persisted_all(&mut core);
    let joint = core.last_log_id().index;
    // 2 alone makes both majorities with the leader: the joint entry commits and C_new
    // (without 3) is appended; 3, silent since, is leaving.
    let actions = core.step(from(2, ack(1, joint.0)));
    assert!(appended_configuration(&actions).is_some_and(|c| !c.is_joint()));
    persisted_all(&mut core);
    let c_new = core.last_log_id().index;
    core.step(from(2, ack(1, c_new.0)));
    assert_eq!(core.commit_index(), c_new);
    assert!(!core.configuration().current.contains(&3));
    assert!(core.progress(&3).is_some(), "3 does not hold C_new yet");
    let heartbeat_answer = |core: &mut RaftCore<u64>, peer: u64| {
        core.step(from(
            peer,
            Message::HeartbeatResponse(HeartbeatResponse {
                term: Term(1),
                round: 0,
                lease_cover: 0,
            }),
        ));
    };
    // A round in which 3 answered (an old acknowledgement, below C_new): kept — and
    // only because it answered (nothing from 3 since the last round).
    heartbeat_answer(&mut core, 2);
    assert!(!core.progress(&3).unwrap().recent_active());
    core.step(from(3, ack(1, joint.0)));
    core.step(Input::Timeout(Timer::Election));
    assert!(core.is_leader());
    assert!(
        core.progress(&3).is_some(),
        "an answering leaving peer is kept"
    );
    // A whole round without a word from 3: let go.
    heartbeat_answer(&mut core, 2);
    core.step(Input::Timeout(Timer::Election));
    assert!(core.is_leader());
    assert!(
        core.progress(&3).is_none(),
        "a silent leaving peer is let go"
    );
}

/// A leader that fails while a new voter catches up answers the change `Failed` (not
/// `LeadershipLost`: the caller should not simply retry at the next leader as if
/// nothing happened here). (Kills the match guard `self.failed` with `false` in
/// `end_leadership`.)
#[test]
fn a_failing_leader_answers_a_change_catching_up_with_failed() {
    let mut core = leader(&[1, 2, 3], &[], CoreOptions::default());
    core.step(change(7, MembershipChange::AddVoter(4)));
    let actions = core.step(Input::Fail);
    assert!(
        actions.contains(&Action::MembershipChanged {
            id: RequestId(7),
            result: Err(AdminError::Failed),
        }),
        "{actions:?}"
    );
}

/// One proposal of one byte, appended but acknowledged by nobody.
fn propose_one(core: &mut RaftCore<u64>) {
    let proposal = Proposal {
        id: RequestId(50),
        size_bytes: 1,
        expected_term: None,
    };
    core.step(Input::Propose(vec![proposal]));
}

/// The joint configuration must commit before C_new is appended: a commit that stops
/// short of the joint entry (an earlier entry reaching a quorum) appends nothing. (Kills
/// `||` with `&&` in `advance_membership`.)
#[test]
fn c_new_waits_for_the_joint_entry_to_commit() {
    let mut core = leader(&[1, 2, 3], &[], CoreOptions::default());
    propose_one(&mut core);
    let before_joint = core.last_log_id().index;
    let actions = core.step(change(1, MembershipChange::RemoveVoter(3)));
    assert!(appended_configuration(&actions).is_some_and(|c| c.is_joint()));
    persisted_all(&mut core);
    let joint = core.last_log_id().index;
    // 2 holds the proposal but not the joint entry: the proposal commits, C_new waits.
    let actions = core.step(from(2, ack(1, before_joint.0)));
    assert_eq!(core.commit_index(), before_joint);
    assert_eq!(appended_configuration(&actions), None, "{actions:?}");
    assert_eq!(core.last_log_id().index, joint);
}

/// A transfer that never told its target to campaign did not succeed, even when
/// leadership then ends for a newer term. (Kills `&&` with `||` in `end_leadership`.)
#[test]
fn a_transfer_that_sent_no_timeout_now_fails_when_leadership_ends() {
    let mut core = leader(&[1, 2, 3], &[], CoreOptions::default());
    propose_one(&mut core);
    persisted_all(&mut core);
    // 2 lacks the new entry: no TimeoutNow yet, the transfer waits for it to catch up.
    let actions = core.step(Input::TransferLeadership {
        id: RequestId(8),
        to: Some(2),
    });
    assert!(!actions.iter().any(|a| matches!(
        a,
        Action::Send {
            message: Message::TimeoutNow(_),
            ..
        }
    )));
    // A newer term from 3: leadership ends, the transfer did not happen.
    let actions = core.step(from(
        3,
        Message::Heartbeat(Heartbeat {
            term: Term(2),
            commit: LogIndex(0),
            round: 0,
        }),
    ));
    assert!(
        actions.contains(&Action::TransferDone {
            id: RequestId(8),
            result: Err(AdminError::LeadershipLost),
        }),
        "{actions:?}"
    );
}

/// A transfer whose TimeoutNow went out did not succeed when leadership ends without a
/// newer term: a leader that fails in its own term answers the transfer `Failed`.
/// (Kills `>` with `>=` in `become_follower`'s `end_leadership(term > self.term)`.)
#[test]
fn a_leader_failing_after_its_timeout_now_answers_the_transfer_failed() {
    let mut core = leader(&[1, 2, 3], &[], CoreOptions::default());
    let actions = core.step(Input::TransferLeadership {
        id: RequestId(1),
        to: Some(3),
    });
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Send {
            to: 3,
            message: Message::TimeoutNow(_)
        }
    )));
    let actions = core.step(Input::Fail);
    assert!(
        actions.contains(&Action::TransferDone {
            id: RequestId(1),
            result: Err(AdminError::Failed),
        }),
        "{actions:?}"
    );
    assert!(!core.is_leader());
}

/// The alive peers (`RaftCore::alive_peers`, the runtime's `list_alive_peers`): the
/// leader itself and the members of the configuration in force it heard from since its
/// last check-quorum round — learners too, both halves of a joint configuration, each
/// member once; a peer only catching up is no member; nobody when not leading.
#[test]
fn the_alive_peers_are_the_members_a_leader_heard_from_each_once() {
    let alive = |core: &RaftCore<u64>| core.alive_peers().copied().collect::<Vec<_>>();
    let heartbeat_answer = |peer: u64| {
        from(
            peer,
            Message::HeartbeatResponse(HeartbeatResponse {
                term: Term(1),
                round: 0,
                lease_cover: 0,
            }),
        )
    };
    let mut core = strict_leader(&[4]);
    assert_eq!(alive(&core), [1, 2, 3, 4], "voters first, then learners");
    // A check-quorum round forgets who answered.
    core.step(Input::Timeout(Timer::Election));
    assert!(core.is_leader());
    assert_eq!(alive(&core), [1]);
    core.step(heartbeat_answer(4));
    core.step(heartbeat_answer(2));
    assert_eq!(alive(&core), [1, 2, 4]);
    // {1,2,3} -> {1,2,5}: 5 answers while it catches up, a stranger still.
    core.step(change(1, MembershipChange::ChangeVoters(set(&[1, 2, 5]))));
    core.step(heartbeat_answer(5));
    assert!(core.progress(&5).is_some_and(|p| p.recent_active()));
    assert_eq!(alive(&core), [1, 2, 4], "a peer catching up is no member");
    let actions = core.step(from(5, ack(1, core.last_log_id().index.0)));
    let joint = appended_configuration(&actions).expect("5 caught up: C_old,new appended");
    assert!(joint.is_joint());
    assert_eq!(
        alive(&core),
        [1, 2, 5, 4],
        "C_new's members, then C_old's others"
    );
    core.step(heartbeat_answer(3));
    assert_eq!(
        alive(&core),
        [1, 2, 5, 4, 3],
        "1 and 2, in both halves, once"
    );
    // A follower lists nobody.
    let mut follower = RaftCore::new(
        2,
        CoreOptions::default(),
        Restored::empty(ConfigurationEntry::stable(Configuration::with_voters([
            1, 2, 3,
        ]))),
    )
    .unwrap();
    follower.start();
    assert_eq!(alive(&follower), [] as [u64; 0]);
}
