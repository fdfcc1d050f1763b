//! Focused handler tests: set up a core, feed one input, assert the exact actions.

use concord::core::*;

fn three_voters(id: u64, pre_vote: bool) -> RaftCore<u64> {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let options = CoreOptions {
        pre_vote,
        ..CoreOptions::default()
    };
    let mut core = RaftCore::new(id, options, Restored::empty(configuration)).unwrap();
    assert_eq!(core.start(), vec![Action::ResetTimer(Timer::Election)]);
    core
}

fn vote(term: u64, granted: bool) -> Message<u64> {
    Message::VoteResponse(VoteResponse {
        term: Term(term),
        granted,
    })
}

#[test]
fn a_candidate_asks_every_voter_once_its_term_and_vote_are_durable() {
    let mut core = three_voters(1, false);
    let actions = core.step(Input::Timeout(Timer::Election));
    let request = Message::Vote(VoteRequest {
        term: Term(1),
        last_log_id: LogId::ZERO,
    });
    assert_eq!(
        actions,
        vec![
            Action::SaveHardState(HardState {
                term: Term(1),
                voted_for: Some(1)
            }),
            // The requests wait for the term and vote too: a candidate that crashed
            // before they were durable could run for the same term again with a
            // shorter log and count a grant made against the longer one.
            Action::SendAfterPersist {
                to: 2,
                message: request.clone()
            },
            Action::SendAfterPersist {
                to: 3,
                message: request
            },
            Action::SendAfterPersist {
                to: 1,
                message: vote(1, true)
            },
            Action::ResetTimer(Timer::Election),
            Action::RoleChanged {
                role: Role::Candidate,
                term: Term(1),
                leader: None
            },
        ]
    );
    // A peer's grant alone is not a quorum: the candidate's own vote is not durable yet.
    assert!(core
        .step(Input::Message {
            from: 2,
            message: vote(1, true)
        })
        .is_empty());
    assert_eq!(core.role(), Role::Candidate);
    // Its own vote arrives once durable: now it leads.
    core.step(Input::Message {
        from: 1,
        message: vote(1, true),
    });
    assert!(core.is_leader());
    core.check_invariants().unwrap();
}

#[test]
fn answers_from_non_voters_are_not_tallied() {
    let mut core = three_voters(1, false);
    core.step(Input::Timeout(Timer::Election));
    assert!(core
        .step(Input::Message {
            from: 9,
            message: vote(1, true)
        })
        .is_empty());
    assert!(core
        .step(Input::Message {
            from: 1,
            message: vote(1, true)
        })
        .is_empty());
    core.check_invariants().unwrap();
    assert_eq!(
        core.role(),
        Role::Candidate,
        "a stranger's vote made a quorum"
    );
}

#[test]
fn a_malformed_append_is_dropped_without_a_trace() {
    let mut core = three_voters(2, true);
    let gap = Message::Append(AppendRequest {
        term: Term(1),
        prev_log_id: LogId::ZERO,
        entries: vec![EntryMeta {
            log_id: LogId::new(1, 2), // index 1 is missing
            kind: EntryKind::Normal,
            size_bytes: 0,
        }],
        leader_commit: LogIndex(0),
    });
    assert!(core
        .step(Input::Message {
            from: 1,
            message: gap
        })
        .is_empty());
    let from_the_future = Message::Append(AppendRequest {
        term: Term(1),
        prev_log_id: LogId::ZERO,
        entries: vec![EntryMeta {
            log_id: LogId::new(5, 1), // newer than the request's own term
            kind: EntryKind::Normal,
            size_bytes: 0,
        }],
        leader_commit: LogIndex(0),
    });
    assert!(core
        .step(Input::Message {
            from: 1,
            message: from_the_future
        })
        .is_empty());
    // Not even the term moved; both are counted (the runtime reports them in
    // `NodeStatus::frames_rejected`).
    assert_eq!(core.term(), Term(0));
    assert_eq!(core.last_log_id(), LogId::ZERO);
    assert_eq!(core.dropped_messages(), 2);
    core.check_invariants().unwrap();
}

/// Membership does not gate requests (Raft dissertation §4.1): a server outside its
/// own configuration — one being added, that has not yet received the entry naming it
/// — follows the leader that replicates to it, and a vote request from a non-member is
/// answered by the term and log rules. Only answers are screened where they count.
#[test]
fn requests_from_outside_the_configuration_are_answered_by_the_term_rules() {
    // Node 4 is not in its own configuration {1, 2, 3}: it arms no election timer.
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let mut joining =
        RaftCore::new(4u64, CoreOptions::default(), Restored::empty(configuration)).unwrap();
    assert_eq!(joining.start(), vec![]);
    let append = Message::Append(AppendRequest {
        term: Term(2),
        prev_log_id: LogId::ZERO,
        entries: vec![EntryMeta {
            log_id: LogId::new(2, 1),
            kind: EntryKind::Normal,
            size_bytes: 0,
        }],
        leader_commit: LogIndex(0),
    });
    let actions = joining.step(Input::Message {
        from: 1,
        message: append,
    });
    assert_eq!(
        (joining.role(), joining.term(), joining.leader()),
        (Role::Follower, Term(2), Some(&1))
    );
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::AppendLog { .. })));
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::SendAfterPersist {
            to: 1,
            message: Message::AppendResponse(_)
        }
    )));
    assert_eq!(joining.dropped_messages(), 0);

    // A member with no leader grants a non-member candidate whose log is as up to date.
    let mut voter = three_voters(2, false);
    let actions = voter.step(Input::Message {
        from: 9,
        message: Message::Vote(VoteRequest {
            term: Term(1),
            last_log_id: LogId::ZERO,
        }),
    });
    assert_eq!(voter.voted_for(), Some(&9));
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::SendAfterPersist {
            to: 9,
            message: Message::VoteResponse(VoteResponse { granted: true, .. })
        }
    )));
    // (A non-member's grant never counts: `answers_from_non_voters_are_not_tallied`.)
    assert_eq!(voter.dropped_messages(), 0);
    for core in [&joining, &voter] {
        core.check_invariants().unwrap();
    }
}

#[test]
fn restored_logs_are_validated() {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64]));
    let entry = |term, index| EntryMeta {
        log_id: LogId::new(term, index),
        kind: EntryKind::Normal,
        size_bytes: 0,
    };
    let mut restored = Restored::empty(configuration);
    restored.hard_state.term = Term(3);
    restored.entries = vec![entry(1, 1), entry(1, 3)];
    assert!(matches!(
        RaftCore::new(1u64, CoreOptions::default(), restored.clone()),
        Err(RestoreError::NonContiguous { .. })
    ));
    restored.entries = vec![entry(2, 1), entry(1, 2)];
    assert!(matches!(
        RaftCore::new(1u64, CoreOptions::default(), restored.clone()),
        Err(RestoreError::NonContiguous { .. })
    ));
    restored.entries = vec![entry(4, 1)];
    assert!(matches!(
        RaftCore::new(1u64, CoreOptions::default(), restored),
        Err(RestoreError::EntryFromFutureTerm { .. })
    ));
    let bad_options = CoreOptions {
        max_inflight_messages: 0,
        ..CoreOptions::default()
    };
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64]));
    assert!(matches!(
        RaftCore::new(1u64, bad_options, Restored::empty(configuration)),
        Err(RestoreError::Options(_))
    ));
}

/// Found by the core fuzz target: a frame claiming to come from the receiving node itself.
#[test]
fn messages_claiming_to_come_from_the_node_itself_are_refused() {
    // A follower in term 1 that knows no leader.
    let mut core = three_voters(2, false);
    let heartbeat = |term| {
        Message::Heartbeat(Heartbeat {
            term: Term(term),
            commit: LogIndex(0),
        })
    };
    core.step(Input::Message {
        from: 1,
        message: vote(1, false),
    });
    assert_eq!(
        (core.role(), core.term(), core.leader()),
        (Role::Follower, Term(1), None)
    );

    // Before the fix the follower adopted itself as leader of term 1 and answered itself.
    for spoof in [
        heartbeat(1),
        heartbeat(7), // nor may a spoof move the term
        Message::Append(AppendRequest {
            term: Term(1),
            prev_log_id: LogId::ZERO,
            entries: Vec::new(),
            leader_commit: LogIndex(0),
        }),
        Message::Vote(VoteRequest {
            term: Term(1),
            last_log_id: LogId::ZERO,
        }),
        vote(1, true), // a follower has no own vote in flight; ignored either way
    ] {
        assert_eq!(
            core.step(Input::Message {
                from: 2,
                message: spoof.clone()
            }),
            vec![],
            "{spoof} from the node itself"
        );
        assert_eq!(
            (core.role(), core.term(), core.leader()),
            (Role::Follower, Term(1), None)
        );
        assert_eq!(core.voted_for(), None);
        core.check_invariants().unwrap();
    }
    // Counted: all but the last, which looks like the node's own vote (and which a
    // follower, having none in flight, ignores).
    assert_eq!(core.dropped_messages(), 4);

    // The one legitimate self-addressed message still works: a candidate's own durable vote.
    let mut candidate = three_voters(1, false);
    candidate.step(Input::Timeout(Timer::Election));
    // A spoofed "own vote" for another term is refused (it would otherwise move the term).
    assert_eq!(
        candidate.step(Input::Message {
            from: 1,
            message: vote(2, true)
        }),
        vec![]
    );
    assert_eq!(
        (candidate.role(), candidate.term()),
        (Role::Candidate, Term(1))
    );
    candidate.step(Input::Message {
        from: 2,
        message: vote(1, true),
    });
    candidate.step(Input::Message {
        from: 1,
        message: vote(1, true),
    });
    assert!(candidate.is_leader());
    candidate.check_invariants().unwrap();
}

/// `Input::Fail` (the executor's storage or state machine failed): a leader steps down
/// at once — no more heartbeats, so the others elect a new leader — and cancels both
/// timers; from then on the node ignores everything until it is restarted.
#[test]
fn a_failed_leader_steps_down_and_ignores_everything() {
    let mut core = three_voters(1, false);
    core.step(Input::Timeout(Timer::Election));
    core.step(Input::Message {
        from: 1,
        message: vote(1, true),
    });
    core.step(Input::Message {
        from: 2,
        message: vote(1, true),
    });
    assert!(core.is_leader());
    assert_eq!(
        core.step(Input::Fail),
        vec![
            Action::CancelTimer(Timer::Election),
            Action::CancelTimer(Timer::Heartbeat),
            Action::RoleChanged {
                role: Role::Follower,
                term: Term(1),
                leader: None
            },
        ]
    );
    assert!(core.is_failed());
    core.check_invariants().unwrap();
    let ignored = [
        Input::Timeout(Timer::Election),
        Input::Timeout(Timer::Heartbeat),
        Input::Propose(vec![Proposal {
            id: RequestId(1),
            size_bytes: 1,
            expected_term: None,
        }]),
        Input::Message {
            from: 2,
            message: Message::Vote(VoteRequest {
                term: Term(2),
                last_log_id: LogId {
                    term: Term(1),
                    index: LogIndex(9),
                },
            }),
        },
        Input::Message {
            from: 2,
            message: Message::Heartbeat(Heartbeat {
                term: Term(3),
                commit: LogIndex(0),
            }),
        },
        Input::Fail,
    ];
    for input in ignored {
        assert_eq!(core.step(input.clone()), vec![], "{input:?}");
    }
    // Not even the term moves: the node answers nothing and promises nothing.
    assert_eq!(core.term(), Term(1));
    assert_eq!(core.role(), Role::Follower);
}

/// A failed follower never campaigns and never grants a vote.
#[test]
fn a_failed_follower_never_campaigns_or_votes() {
    let mut core = three_voters(2, true);
    assert_eq!(
        core.step(Input::Fail),
        vec![
            Action::CancelTimer(Timer::Election),
            Action::CancelTimer(Timer::Heartbeat)
        ]
    );
    assert!(core.step(Input::Timeout(Timer::Election)).is_empty());
    let pre_vote = Message::PreVote(VoteRequest {
        term: Term(1),
        last_log_id: LogId::ZERO,
    });
    assert!(core
        .step(Input::Message {
            from: 1,
            message: pre_vote
        })
        .is_empty());
    assert_eq!(core.role(), Role::Follower);
    core.check_invariants().unwrap();
}
