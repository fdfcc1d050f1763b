//! Focused handler tests: set up a core, feed one input, assert the exact actions.

use concord::core::*;

#[path = "common/actions.rs"]
mod actions;
use actions::{apply, last_write_seq};

fn three_voters(id: u64, pre_vote: bool) -> RaftCore<u64> {
    voter_with(
        id,
        CoreOptions {
            pre_vote,
            ..CoreOptions::default()
        },
    )
}

/// Voter `id` of {1, 2, 3}, fresh, started.
fn voter_with(id: u64, options: CoreOptions) -> RaftCore<u64> {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
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

fn save(seq: u64, term: u64, voted_for: Option<u64>) -> Action<u64> {
    Action::SaveHardState {
        seq: PersistSeq(seq),
        hard_state: HardState {
            term: Term(term),
            voted_for,
            reset: None,
        },
    }
}

fn persisted(seq: u64) -> Input<u64> {
    Input::Persisted {
        seq: PersistSeq(seq),
    }
}

fn append_request(
    term: u64,
    prev: LogId,
    entries: Vec<EntryMeta<u64>>,
    commit: u64,
) -> Message<u64> {
    Message::Append(AppendRequest {
        term: Term(term),
        prev_log_id: prev,
        entries,
        leader_commit: LogIndex(commit),
    })
}

fn normal(term: u64, index: u64) -> EntryMeta<u64> {
    EntryMeta {
        log_id: LogId::new(term, index),
        kind: EntryKind::Normal,
        size_bytes: 1,
    }
}

fn ack(to: u64, term: u64, last_matched: u64) -> Action<u64> {
    Action::Send {
        to,
        message: Message::AppendResponse(AppendResponse {
            term: Term(term),
            result: AppendResult::Success {
                last_matched: LogIndex(last_matched),
            },
        }),
    }
}

/// A candidate's vote requests, and its own vote, wait for its new term and vote to be
/// durable: the step that reports them durable sends the requests and counts the own
/// vote.
#[test]
fn a_candidate_asks_every_voter_once_its_term_and_vote_are_durable() {
    let mut core = three_voters(1, false);
    let actions = core.step(Input::Timeout(Timer::Election));
    assert_eq!(
        actions,
        vec![
            // The requests wait for the term and vote too: a candidate that crashed
            // before they were durable could run for the same term again with a
            // shorter log and count a grant made against the longer one.
            save(1, 1, Some(1)),
            Action::ResetTimer(Timer::Election),
            Action::RoleChanged {
                role: Role::Candidate,
                term: Term(1),
                leader: None,
                commit_index: LogIndex(0),
            },
        ]
    );
    assert_eq!(core.held_messages(), 3);
    // A peer's grant alone is not a quorum: the candidate's own vote is not durable yet.
    assert!(core
        .step(Input::Message {
            from: 2,
            message: vote(1, true)
        })
        .is_empty());
    assert_eq!(core.role(), Role::Candidate);
    // Its term and vote are durable: the requests leave, its own vote counts, it leads.
    let request = Message::Vote(VoteRequest {
        term: Term(1),
        last_log_id: LogId::ZERO,
        leadership_transfer: false,
    });
    let first = EntryMeta {
        log_id: LogId::new(1, 1),
        kind: EntryKind::configuration(ConfigurationEntry::stable(Configuration::with_voters([
            1u64, 2, 3,
        ]))),
        size_bytes: 0,
    };
    let probe = append_request(1, LogId::ZERO, vec![first.clone()], 0);
    assert_eq!(
        core.step(persisted(1)),
        vec![
            Action::Send {
                to: 2,
                message: request.clone()
            },
            Action::Send {
                to: 3,
                message: request
            },
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
            Action::RoleChanged {
                role: Role::Leader,
                term: Term(1),
                leader: Some(1),
                commit_index: LogIndex(0),
            },
        ]
    );
    assert!(core.is_leader());
    assert_eq!(core.held_messages(), 0);
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
    // Its own vote, durable, counts: with the stranger's it would be a quorum.
    let request = Message::Vote(VoteRequest {
        term: Term(1),
        last_log_id: LogId::ZERO,
        leadership_transfer: false,
    });
    assert_eq!(
        core.step(persisted(1)),
        vec![
            Action::Send {
                to: 2,
                message: request.clone()
            },
            Action::Send {
                to: 3,
                message: request
            },
        ]
    );
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
    // Acknowledged once the term and the entry are durable.
    assert!(!actions.iter().any(|a| matches!(a, Action::Send { .. })));
    assert_eq!(
        joining.step(Input::Persisted {
            seq: last_write_seq(&actions)
        }),
        vec![ack(1, 2, 1)]
    );
    assert_eq!(joining.dropped_messages(), 0);

    // A member with no leader grants a non-member candidate whose log is as up to date.
    let mut voter = three_voters(2, false);
    let actions = voter.step(Input::Message {
        from: 9,
        message: Message::Vote(VoteRequest {
            term: Term(1),
            last_log_id: LogId::ZERO,
            leadership_transfer: false,
        }),
    });
    assert_eq!(voter.voted_for(), Some(&9));
    assert!(!actions.iter().any(|a| matches!(a, Action::Send { .. })));
    assert_eq!(
        voter.step(Input::Persisted {
            seq: last_write_seq(&actions)
        }),
        vec![Action::Send {
            to: 9,
            message: vote(1, true)
        }]
    );
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

/// `CoreRestorer` (what the runtime uses, so a restart keeps no list of entries) builds
/// the same core as `RaftCore::new` over a list, and refuses a bad entry the moment it
/// is pushed.
#[test]
fn a_core_restored_entry_by_entry_equals_one_restored_from_a_list() {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let hard_state = HardState {
        term: Term(3),
        voted_for: Some(2),
        reset: None,
    };
    let entries: Vec<EntryMeta<u64>> = [(1, 1), (1, 2), (2, 3), (3, 4)]
        .into_iter()
        .map(|(term, index)| normal(term, index))
        .collect();
    let restored = Restored {
        hard_state: hard_state.clone(),
        snapshot: None,
        entries: entries.clone(),
        initial_configuration: configuration.clone(),
    };
    let from_list = RaftCore::new(1u64, CoreOptions::default(), restored).unwrap();
    let mut restorer = CoreRestorer::new(
        1u64,
        CoreOptions::default(),
        hard_state.clone(),
        None,
        configuration.clone(),
    )
    .unwrap();
    for entry in &entries {
        restorer.push(entry).unwrap();
    }
    let entry_by_entry = restorer.finish();
    assert_eq!(entry_by_entry, from_list);
    entry_by_entry.check_invariants().unwrap();
    assert_eq!(entry_by_entry.persisted_index(), LogIndex(4));
    assert_eq!(entry_by_entry.durable_hard_state(), &hard_state);

    let mut restorer = CoreRestorer::new(
        1u64,
        CoreOptions::default(),
        hard_state,
        None,
        configuration,
    )
    .unwrap();
    restorer.push(&normal(1, 1)).unwrap();
    assert!(matches!(
        restorer.push(&normal(1, 3)),
        Err(RestoreError::NonContiguous { .. })
    ));
    assert!(matches!(
        restorer.push(&normal(4, 2)),
        Err(RestoreError::EntryFromFutureTerm { .. })
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
            round: 0,
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
            leadership_transfer: false,
        }),
        vote(1, true), // not even what looks like its own vote
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
    // Counted, every one: the last looks like the node's own vote, but a node's own
    // vote never comes through its executor.
    assert_eq!(core.dropped_messages(), 5);

    // Nor does a candidate take a self-addressed message for its own vote: that is
    // counted inside the core, once durable.
    let mut candidate = three_voters(1, false);
    candidate.step(Input::Timeout(Timer::Election));
    // A spoofed "own vote" for another term is refused (it would otherwise move the term),
    // and so is one for the current term.
    for spoof in [vote(2, true), vote(1, true)] {
        assert_eq!(
            candidate.step(Input::Message {
                from: 1,
                message: spoof
            }),
            vec![]
        );
        assert_eq!(
            (candidate.role(), candidate.term()),
            (Role::Candidate, Term(1))
        );
    }
    assert_eq!(candidate.dropped_messages(), 2);
    candidate.step(Input::Message {
        from: 2,
        message: vote(1, true),
    });
    assert_eq!(candidate.role(), Role::Candidate);
    candidate.step(persisted(1));
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
    core.step(persisted(1));
    core.step(Input::Message {
        from: 2,
        message: vote(1, true),
    });
    assert!(core.is_leader());
    // Its first entry (write 2) is not durable yet.
    assert_eq!(core.persist_seqs(), (PersistSeq(2), PersistSeq(1)));
    assert_eq!(
        core.step(Input::Fail),
        vec![
            Action::CancelTimer(Timer::Election),
            Action::CancelTimer(Timer::Heartbeat),
            Action::RoleChanged {
                role: Role::Follower,
                term: Term(1),
                leader: None,
                commit_index: LogIndex(0),
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
                leadership_transfer: false,
            }),
        },
        Input::Message {
            from: 2,
            message: Message::Heartbeat(Heartbeat {
                term: Term(3),
                commit: LogIndex(0),
                round: 0,
            }),
        },
        // The report of a write the failed executor never finished.
        persisted(2),
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
        leadership_transfer: false,
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

/// A vote request to a voter of {1, 2, 3} in term 1, from node 1, with an empty log.
fn vote_request_from_1() -> Input<u64> {
    Input::Message {
        from: 1,
        message: Message::Vote(VoteRequest {
            term: Term(1),
            last_log_id: LogId::ZERO,
            leadership_transfer: false,
        }),
    }
}

/// A granted vote promises the vote is durable: the core holds it until the executor
/// reports the `SaveHardState` that records it, and sends it as a plain `Send` in the
/// step that reports it.
#[test]
fn a_granted_vote_is_held_until_its_hard_state_is_durable() {
    let mut core = three_voters(2, false);
    assert_eq!(
        core.step(vote_request_from_1()),
        vec![
            save(1, 1, Some(1)),
            Action::ResetTimer(Timer::Election),
            Action::RoleChanged {
                role: Role::Follower,
                term: Term(1),
                leader: None,
                commit_index: LogIndex(0),
            },
        ]
    );
    assert_eq!(core.held_messages(), 1);
    assert_eq!(core.persist_seqs(), (PersistSeq(1), PersistSeq(0)));
    assert_eq!(core.durable_hard_state(), &HardState::default());
    core.check_invariants().unwrap();
    assert_eq!(
        core.step(persisted(1)),
        vec![Action::Send {
            to: 1,
            message: vote(1, true)
        }]
    );
    assert_eq!(core.held_messages(), 0);
    assert_eq!(core.persist_seqs(), (PersistSeq(1), PersistSeq(1)));
    assert_eq!(
        core.durable_hard_state(),
        &HardState {
            term: Term(1),
            voted_for: Some(1),
            reset: None,
        }
    );
    core.check_invariants().unwrap();
}

/// A message that waits for durability is sent at once, as a plain `Send`, when every
/// write issued before it is already reported durable: here a follower's
/// acknowledgement of an append that needs no write. While a write is outstanding, the
/// same acknowledgement is held.
#[test]
fn a_message_is_sent_at_once_when_no_write_is_outstanding() {
    let mut core = three_voters(2, false);
    assert_eq!(
        core.step(Input::Message {
            from: 1,
            message: append_request(1, LogId::ZERO, vec![normal(1, 1)], 0)
        }),
        vec![
            save(1, 1, None),
            Action::ResetTimer(Timer::Election),
            Action::AppendLog {
                seq: PersistSeq(2),
                epoch: LogEpoch(0),
                entries: vec![normal(1, 1)]
            },
            Action::RoleChanged {
                role: Role::Follower,
                term: Term(1),
                leader: Some(1),
                commit_index: LogIndex(0),
            },
        ]
    );
    // An append that needs no write, while writes 1 and 2 are outstanding: held.
    let nothing_new = Input::Message {
        from: 1,
        message: append_request(1, LogId::new(1, 1), vec![], 0),
    };
    assert_eq!(
        core.step(nothing_new.clone()),
        vec![Action::ResetTimer(Timer::Election)]
    );
    assert_eq!(core.held_messages(), 2);
    assert_eq!(core.step(persisted(2)), vec![ack(1, 1, 1), ack(1, 1, 1)]);
    // Nothing outstanding: the same append is acknowledged in the same step.
    assert_eq!(
        core.step(nothing_new),
        vec![Action::ResetTimer(Timer::Election), ack(1, 1, 1)]
    );
    // So is a duplicate of an entry already durable.
    assert_eq!(
        core.step(Input::Message {
            from: 1,
            message: append_request(1, LogId::ZERO, vec![normal(1, 1)], 0)
        }),
        vec![Action::ResetTimer(Timer::Election), ack(1, 1, 1)]
    );
    assert_eq!(core.held_messages(), 0);
    assert_eq!(core.persist_seqs(), (PersistSeq(2), PersistSeq(2)));
    core.check_invariants().unwrap();
}

/// A follower of leader 1 in term 1 that received 1.1 (writes 1 and 2) and then 1.2
/// with commit 1 (write 3), none reported durable: two acknowledgements are held.
fn follower_with_three_writes_outstanding() -> RaftCore<u64> {
    let mut core = three_voters(2, false);
    core.step(Input::Message {
        from: 1,
        message: append_request(1, LogId::ZERO, vec![normal(1, 1)], 0),
    });
    assert_eq!(
        core.step(Input::Message {
            from: 1,
            message: append_request(1, LogId::new(1, 1), vec![normal(1, 2)], 1)
        }),
        vec![
            Action::ResetTimer(Timer::Election),
            Action::AppendLog {
                seq: PersistSeq(3),
                epoch: LogEpoch(0),
                entries: vec![normal(1, 2)]
            },
        ]
    );
    assert_eq!(core.persist_seqs(), (PersistSeq(3), PersistSeq(0)));
    assert_eq!(core.held_messages(), 2);
    assert_eq!(core.commit_index(), LogIndex(0), "nothing durable yet");
    core.check_invariants().unwrap();
    core
}

/// Group commit: one report covering several writes makes them all durable and releases
/// every message held for them, in the order they were held (after the entries the
/// report made durable are applied).
#[test]
fn one_report_covering_several_writes_releases_every_held_message_in_order() {
    let mut core = follower_with_three_writes_outstanding();
    assert_eq!(
        core.step(persisted(3)),
        vec![apply(&core, 1, 1), ack(1, 1, 1), ack(1, 1, 2),]
    );
    assert_eq!(core.held_messages(), 0);
    assert_eq!(core.persist_seqs(), (PersistSeq(3), PersistSeq(3)));
    assert_eq!(core.persisted_index(), LogIndex(2));
    assert_eq!(
        core.durable_hard_state(),
        &HardState {
            term: Term(1),
            voted_for: None,
            reset: None,
        }
    );
    core.check_invariants().unwrap();
}

/// A report of writes already reported durable (seq ≤ durable), or of a write never
/// issued (seq > issued), changes nothing: no actions, the same state. A report that
/// covers only some writes releases only what waited for those.
#[test]
fn a_stale_report_or_one_beyond_the_issued_writes_changes_nothing() {
    let mut core = follower_with_three_writes_outstanding();
    for seq in [0, 4, 9] {
        let before = core.clone();
        assert_eq!(core.step(persisted(seq)), vec![], "seq {seq}");
        assert!(core == before, "seq {seq} changed the core");
    }
    // Write 1 (the term) is durable; the acknowledgements wait for writes 2 and 3.
    assert_eq!(core.step(persisted(1)), vec![]);
    assert_eq!(core.persist_seqs(), (PersistSeq(3), PersistSeq(1)));
    assert_eq!(core.held_messages(), 2);
    for seq in [0, 1, 4] {
        let before = core.clone();
        assert_eq!(core.step(persisted(seq)), vec![], "seq {seq}");
        assert!(core == before, "seq {seq} changed the core");
    }
    // Write 2 makes entry 1 durable (and it is known committed): it applies, and the
    // acknowledgement that waited for write 2 leaves; the other waits for write 3.
    assert_eq!(
        core.step(persisted(2)),
        vec![apply(&core, 1, 1), ack(1, 1, 1),]
    );
    assert_eq!(core.held_messages(), 1);
    assert_eq!(core.step(persisted(3)), vec![ack(1, 1, 2)]);
    for seq in [1, 2, 3, 4] {
        let before = core.clone();
        assert_eq!(core.step(persisted(seq)), vec![], "seq {seq}");
        assert!(core == before, "seq {seq} changed the core");
    }
    assert_eq!(core.persist_seqs(), (PersistSeq(3), PersistSeq(3)));
    core.check_invariants().unwrap();
}

/// A node's own vote is delivered inside the core: an `Input::Message` from the node's
/// own id is dropped and counted, even when it looks exactly like the candidate's
/// granted vote of its current term, and it counts for nothing.
#[test]
fn a_message_from_the_node_itself_is_dropped_even_as_its_own_vote() {
    let mut core = three_voters(1, false);
    core.step(Input::Timeout(Timer::Election));
    let before = core.clone();
    assert_eq!(
        core.step(Input::Message {
            from: 1,
            message: vote(1, true)
        }),
        vec![]
    );
    assert!(core == before, "a self-addressed message changed the core");
    assert_eq!(core.dropped_messages(), 1);
    // Had it counted, this grant would make a quorum.
    assert_eq!(
        core.step(Input::Message {
            from: 2,
            message: vote(1, true)
        }),
        vec![]
    );
    assert_eq!(core.role(), Role::Candidate);
    // The real own vote, once durable, does.
    core.step(persisted(1));
    assert!(core.is_leader());
    assert_eq!(core.dropped_messages(), 1);
    core.check_invariants().unwrap();
}

/// A single-node cluster is its own quorum, but its vote counts only once durable: it
/// becomes leader in the step that reports its term and vote durable, not before; its
/// first entry commits once that entry is reported durable.
#[test]
fn a_single_node_cluster_leads_once_its_term_and_vote_are_durable() {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64]));
    let mut core = RaftCore::new(
        1u64,
        CoreOptions::default(),
        Restored::empty(configuration.clone()),
    )
    .unwrap();
    assert_eq!(core.start(), vec![Action::ResetTimer(Timer::Election)]);
    assert_eq!(
        core.step(Input::Timeout(Timer::Election)),
        vec![
            save(1, 1, Some(1)),
            Action::ResetTimer(Timer::Election),
            Action::RoleChanged {
                role: Role::Candidate,
                term: Term(1),
                leader: None,
                commit_index: LogIndex(0),
            },
        ]
    );
    assert!(!core.is_leader());
    assert_eq!(core.held_messages(), 1, "its own vote");
    core.check_invariants().unwrap();
    let first = EntryMeta {
        log_id: LogId::new(1, 1),
        kind: EntryKind::configuration(configuration),
        size_bytes: 0,
    };
    assert_eq!(
        core.step(persisted(1)),
        vec![
            Action::AppendLog {
                seq: PersistSeq(2),
                epoch: LogEpoch(0),
                entries: vec![first]
            },
            Action::ResetTimer(Timer::Heartbeat),
            Action::ResetTimer(Timer::Election),
            Action::RoleChanged {
                role: Role::Leader,
                term: Term(1),
                leader: Some(1),
                commit_index: LogIndex(0),
            },
        ]
    );
    assert!(core.is_leader());
    core.check_invariants().unwrap();
    assert_eq!(core.step(persisted(2)), vec![apply(&core, 1, 1)]);
    core.check_invariants().unwrap();
}

/// `Input::Fail` drops the messages held for durability (a failed node sends nothing
/// more) along with its outstanding writes: a later report sends nothing.
#[test]
fn a_failure_drops_held_messages() {
    let mut core = three_voters(2, false);
    core.step(vote_request_from_1());
    assert_eq!(core.held_messages(), 1);
    assert_eq!(
        core.step(Input::Fail),
        vec![
            Action::CancelTimer(Timer::Election),
            Action::CancelTimer(Timer::Heartbeat)
        ]
    );
    assert_eq!(core.held_messages(), 0);
    assert_eq!(core.persist_seqs(), (PersistSeq(0), PersistSeq(0)));
    assert_eq!(core.step(persisted(1)), vec![]);
    assert_eq!(core.held_messages(), 0);
    core.check_invariants().unwrap();
}

/// A leader bounds the payload bytes of its uncommitted entries: a proposal that would go
/// beyond `max_uncommitted_bytes` is refused with `Overloaded` (nothing appended for
/// it), unless nothing is uncommitted, so one entry larger than the bound still goes
/// through; committing frees the budget.
#[test]
fn a_leader_refuses_proposals_beyond_its_uncommitted_bytes() {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64]));
    let options = CoreOptions {
        max_uncommitted_bytes: 100,
        ..CoreOptions::default()
    };
    let mut core = RaftCore::new(1u64, options, Restored::empty(configuration)).unwrap();
    core.start();
    let actions = core.step(Input::Timeout(Timer::Election));
    core.step(Input::Persisted {
        seq: last_write_seq(&actions),
    });
    assert!(core.is_leader());
    let propose = |core: &mut RaftCore<u64>, sizes: &[(u64, u32)]| {
        let proposals = sizes
            .iter()
            .map(|&(id, size_bytes)| Proposal {
                id: RequestId(id),
                size_bytes,
                expected_term: None,
            })
            .collect();
        let actions = core.step(Input::Propose(proposals));
        core.check_invariants().unwrap();
        actions
    };
    let verdicts = |actions: &[Action<u64>]| -> Vec<(u64, bool)> {
        actions
            .iter()
            .filter_map(|action| match action {
                Action::ProposalAccepted { id, .. } => Some((id.0, true)),
                Action::ProposalRejected {
                    id,
                    error: ProposeError::Overloaded,
                } => Some((id.0, false)),
                _ => None,
            })
            .collect()
    };
    let actions = propose(&mut core, &[(1, 60), (2, 30), (3, 20)]);
    assert_eq!(verdicts(&actions), vec![(1, true), (2, true), (3, false)]);
    assert_eq!(
        core.last_log_id(),
        LogId::new(1, 3),
        "nothing appended for 3"
    );
    // Still 90 bytes uncommitted: even 11 more is too much, 10 fits.
    let actions = propose(&mut core, &[(4, 11), (5, 10)]);
    assert_eq!(verdicts(&actions), vec![(4, false), (5, true)]);
    // Durable and committed: the budget is free again, for an entry above the bound.
    core.step(Input::Persisted {
        seq: last_write_seq(&actions),
    });
    assert_eq!(core.commit_index(), LogIndex(4));
    let actions = propose(&mut core, &[(6, 500), (7, 1)]);
    assert_eq!(verdicts(&actions), vec![(6, true), (7, false)]);
}

/// Committed entries are handed out at most `max_apply_ahead` beyond the last one the
/// executor reported applied, each `Apply` carrying the entries' own metadata; a report
/// of what was not handed out, or of less than an earlier report, changes nothing; a
/// role change says how far the log was committed when it happened.
#[test]
fn committed_entries_are_handed_out_a_bounded_distance_ahead_of_applied() {
    let mut core = voter_with(
        2,
        CoreOptions {
            max_apply_ahead: 2,
            ..CoreOptions::default()
        },
    );
    let entries: Vec<EntryMeta<u64>> = (1..=5).map(|index| normal(1, index)).collect();
    let actions = core.step(Input::Message {
        from: 1,
        message: append_request(1, LogId::ZERO, entries, 5),
    });
    assert_eq!(
        actions.last(),
        Some(&Action::RoleChanged {
            role: Role::Follower,
            term: Term(1),
            leader: Some(1),
            // Nothing is durable here yet, so nothing is committed here yet.
            commit_index: LogIndex(0),
        })
    );
    let seq = last_write_seq(&actions);
    // Durable: 1..=5 commit, but only two are handed out.
    assert_eq!(
        core.step(Input::Persisted { seq }),
        vec![
            Action::Apply {
                entries: vec![normal(1, 1), normal(1, 2)]
            },
            ack(1, 1, 5),
        ]
    );
    assert_eq!(core.commit_index(), LogIndex(5));
    assert_eq!(core.applied_issued(), LogIndex(2));
    core.check_invariants().unwrap();
    // Beyond what was handed out, or nothing new: ignored.
    for index in [0, 3, 9] {
        let before = core.clone();
        assert_eq!(
            core.step(Input::Applied {
                index: LogIndex(index)
            }),
            vec![]
        );
        assert!(core == before, "applied {index} changed the core");
    }
    // One applied: one more handed out.
    assert_eq!(
        core.step(Input::Applied { index: LogIndex(1) }),
        vec![Action::Apply {
            entries: vec![normal(1, 3)]
        }]
    );
    assert_eq!(core.step(Input::Applied { index: LogIndex(1) }), vec![]);
    // Everything handed out applied: the last two.
    assert_eq!(
        core.step(Input::Applied { index: LogIndex(3) }),
        vec![Action::Apply {
            entries: vec![normal(1, 4), normal(1, 5)]
        }]
    );
    assert_eq!(core.applied_index(), LogIndex(3));
    assert_eq!(core.step(Input::Applied { index: LogIndex(5) }), vec![]);
    assert_eq!(core.applied_index(), LogIndex(5));
    core.check_invariants().unwrap();
    // The leader is lost: the role change carries the commit index.
    assert_eq!(
        core.step(Input::Timeout(Timer::Election)).last(),
        Some(&Action::RoleChanged {
            role: Role::PreCandidate,
            term: Term(1),
            leader: None,
            commit_index: LogIndex(5),
        })
    );
}

/// A normal entry of term 1 at `index` with `size_bytes` of payload.
fn sized(index: u64, size_bytes: u32) -> EntryMeta<u64> {
    EntryMeta {
        log_id: LogId::new(1, index),
        kind: EntryKind::Normal,
        size_bytes,
    }
}

/// The byte bound on entries handed out: at most `max_apply_ahead_bytes` of payload
/// outstanding, and one entry at a time when a single entry is larger.
#[test]
fn committed_entries_are_handed_out_within_a_byte_bound() {
    let mut core = voter_with(
        2,
        CoreOptions {
            max_apply_ahead_bytes: 10,
            ..CoreOptions::default()
        },
    );
    let entries = vec![
        sized(1, 4),
        sized(2, 4),
        sized(3, 4),
        sized(4, 30),
        sized(5, 1),
    ];
    let actions = core.step(Input::Message {
        from: 1,
        message: append_request(1, LogId::ZERO, entries, 5),
    });
    let seq = last_write_seq(&actions);
    assert_eq!(
        core.step(Input::Persisted { seq }),
        vec![
            Action::Apply {
                entries: vec![sized(1, 4), sized(2, 4)]
            },
            ack(1, 1, 5),
        ]
    );
    assert_eq!(
        core.step(Input::Applied { index: LogIndex(2) }),
        vec![Action::Apply {
            entries: vec![sized(3, 4)]
        }]
    );
    // 30 bytes: alone, once nothing else is outstanding.
    assert_eq!(
        core.step(Input::Applied { index: LogIndex(3) }),
        vec![Action::Apply {
            entries: vec![sized(4, 30)]
        }]
    );
    assert_eq!(
        core.step(Input::Applied { index: LogIndex(4) }),
        vec![Action::Apply {
            entries: vec![sized(5, 1)]
        }]
    );
    core.check_invariants().unwrap();
}

/// The byte bound is inclusive: entries whose payloads add up to exactly
/// `max_apply_ahead_bytes` go out together. (Kills `> with >=` in `apply_limit`, which
/// held the last of them back.)
#[test]
fn entries_that_fill_the_byte_bound_exactly_go_out_together() {
    let mut core = voter_with(
        2,
        CoreOptions {
            max_apply_ahead_bytes: 10,
            ..CoreOptions::default()
        },
    );
    let actions = core.step(Input::Message {
        from: 1,
        message: append_request(
            1,
            LogId::ZERO,
            vec![sized(1, 5), sized(2, 5), sized(3, 5)],
            3,
        ),
    });
    let seq = last_write_seq(&actions);
    assert_eq!(
        core.step(Input::Persisted { seq }),
        vec![
            Action::Apply {
                entries: vec![sized(1, 5), sized(2, 5)]
            },
            ack(1, 1, 3),
        ]
    );
    assert_eq!(
        core.step(Input::Applied { index: LogIndex(2) }),
        vec![Action::Apply {
            entries: vec![sized(3, 5)]
        }]
    );
    core.check_invariants().unwrap();
}

/// At the last term there is, a campaign could not move to a new term and would vote a
/// second time in this one: the node does not campaign (fuzz finding, 2026-12-02).
#[test]
fn no_campaign_at_the_last_term() {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let mut restored = Restored::empty(configuration);
    restored.hard_state = HardState {
        term: Term(u64::MAX),
        voted_for: Some(3),
        // The last term is of the last configuration epoch: a configuration of that
        // epoch, or the node would merely be fenced (reset.rs) and never campaign.
        reset: Some(ConfigurationReset {
            epoch: Term(u64::MAX).epoch(),
            configuration: Configuration::with_voters([1u64, 2, 3]),
        }),
    };
    for pre_vote in [false, true] {
        let options = CoreOptions {
            pre_vote,
            ..CoreOptions::default()
        };
        let mut core = RaftCore::new(1u64, options, restored.clone()).unwrap();
        core.start();
        assert_eq!(
            core.step(Input::Timeout(Timer::Election)),
            vec![Action::ResetTimer(Timer::Election)]
        );
        assert_eq!(core.voted_for(), Some(&3));
        assert_eq!(core.role(), Role::Follower);
    }
}

/// Granted votes nobody asked for yet (the requests wait for the candidate's term and
/// vote to be durable) do not elect it before its own vote counts (fuzz finding,
/// 2026-12-02): it wins the moment its own vote is durable.
#[test]
fn unsolicited_votes_do_not_elect_before_the_own_vote_is_durable() {
    let mut core = three_voters(1, false);
    let actions = core.step(Input::Timeout(Timer::Election));
    let seq = last_write_seq(&actions);
    for from in [2, 3] {
        core.step(Input::Message {
            from,
            message: vote(1, true),
        });
        core.check_invariants().unwrap();
        assert!(!core.is_leader(), "elected before its own vote is durable");
    }
    core.step(persisted(seq.0));
    assert!(core.is_leader());
}
