//! Exact-action tests for snapshots: taking one and compacting, sending one, installing
//! one (Raft §7), and restoring from one.

use concord::core::*;

#[path = "common/actions.rs"]
mod actions;
use actions::last_write_seq;

fn voters() -> ConfigurationEntry<u64> {
    ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]))
}

fn normal(term: u64, index: u64) -> EntryMeta<u64> {
    EntryMeta {
        log_id: LogId::new(term, index),
        kind: EntryKind::Normal,
        size_bytes: 1,
    }
}

fn meta(term: u64, index: u64) -> SnapshotMeta<u64> {
    SnapshotMeta {
        last_included: LogId::new(term, index),
        configuration: voters(),
    }
}

fn step(core: &mut RaftCore<u64>, input: Input<u64>) -> Vec<Action<u64>> {
    let actions = core.step(input);
    core.check_invariants().unwrap();
    actions
}

/// The fetched data of the snapshot being installed arrives.
fn fetched(core: &mut RaftCore<u64>, last_included: LogId) -> Vec<Action<u64>> {
    step(
        core,
        Input::SnapshotFetched {
            last_included,
            fetched: true,
        },
    )
}

/// Follower 2 of {1, 2, 3} in term `term`, restored with `log` (terms of entries 1..),
/// everything durable, nothing known committed.
fn follower(term: u64, log: &[u64], options: CoreOptions) -> RaftCore<u64> {
    let entries = log
        .iter()
        .enumerate()
        .map(|(i, t)| normal(*t, i as u64 + 1))
        .collect();
    follower_with(term, entries, options)
}

/// Follower 2 of {1, 2, 3} in term `term`, restored with the given entries.
fn follower_with(term: u64, entries: Vec<EntryMeta<u64>>, options: CoreOptions) -> RaftCore<u64> {
    let restored = Restored {
        hard_state: HardState {
            term: Term(term),
            voted_for: None,
            reset: None,
        },
        snapshot: None,
        entries,
        initial_configuration: voters(),
    };
    let mut core = RaftCore::new(2u64, options, restored).unwrap();
    core.start();
    core
}

fn install_request(term: u64, last: (u64, u64)) -> Input<u64> {
    Input::Message {
        from: 1,
        message: Message::InstallSnapshot(InstallSnapshotRequest {
            term: Term(term),
            meta: meta(last.0, last.1),
        }),
    }
}

/// What a follower does once the install of `meta(term, index)` is durable in a term
/// `current` : restore, compact, answer the leader 1.
fn installed(term: u64, index: u64, current: u64) -> Vec<Action<u64>> {
    vec![
        Action::RestoreSnapshot {
            meta: meta(term, index),
        },
        Action::CompactLog {
            through: LogIndex(index),
            snapshot: LogId::new(term, index),
        },
        install_answer(
            1,
            current,
            InstallSnapshotResult::Installed {
                last_matched: LogIndex(index),
            },
        ),
    ]
}

fn install_answer(to: u64, term: u64, result: InstallSnapshotResult) -> Action<u64> {
    Action::Send {
        to,
        message: Message::InstallSnapshotResponse(InstallSnapshotResponse {
            term: Term(term),
            result,
        }),
    }
}

/// A one-node leader with `count` committed, applied entries (index 1 is its
/// configuration entry), with the given options.
fn single_leader(options: CoreOptions, count: u64) -> (RaftCore<u64>, Vec<Action<u64>>) {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64]));
    let mut core = RaftCore::new(1u64, options, Restored::empty(configuration)).unwrap();
    core.start();
    let mut seen = Vec::new();
    let actions = step(&mut core, Input::Timeout(Timer::Election));
    let seq = last_write_seq(&actions);
    let actions = step(&mut core, Input::Persisted { seq });
    let seq = last_write_seq(&actions);
    seen.extend(step(&mut core, Input::Persisted { seq }));
    for id in 1..count {
        let proposal = Proposal {
            id: RequestId(id),
            size_bytes: 1,
            expected_term: None,
        };
        let actions = step(&mut core, Input::Propose(vec![proposal]));
        let seq = last_write_seq(&actions);
        let done = step(&mut core, Input::Persisted { seq });
        let applied = done.iter().find_map(|action| match action {
            Action::Apply { entries } => entries.last().map(|e| e.log_id.index),
            _ => None,
        });
        seen.extend(done);
        if let Some(index) = applied {
            seen.extend(step(&mut core, Input::Applied { index }));
        }
    }
    assert!(core.is_leader());
    (core, seen)
}

/// The log-distance trigger asks for a snapshot at the last entry handed out, once
/// enough entries were applied since the latest one; the report of it saved compacts
/// the log up to it minus the retained tail, and counts everything through it applied.
#[test]
fn a_snapshot_is_taken_at_the_distance_and_compacts_all_but_the_retained_tail() {
    let options = CoreOptions {
        snapshot_log_distance: 3,
        snapshot_retained_entries: 1,
        ..CoreOptions::default()
    };
    let (mut core, seen) = single_leader(options, 3);
    let asked: Vec<&Action<u64>> = seen
        .iter()
        .filter(|a| matches!(a, Action::TakeSnapshot { .. }))
        .collect();
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64]));
    assert_eq!(
        asked,
        vec![&Action::TakeSnapshot {
            meta: SnapshotMeta {
                last_included: LogId::new(1, 3),
                configuration: configuration.clone(),
            }
        }],
        "asked once, at the third entry"
    );
    // Another trigger while one is being taken asks for nothing.
    assert_eq!(step(&mut core, Input::TakeSnapshot), vec![]);
    // A report of another snapshot is stale; a failed one compacts nothing.
    let stale = Input::SnapshotSaved {
        last_included: LogId::new(1, 2),
        saved: true,
    };
    assert_eq!(step(&mut core, stale), vec![]);
    assert_eq!(core.snapshot(), None);
    assert_eq!(
        step(
            &mut core,
            Input::SnapshotSaved {
                last_included: LogId::new(1, 3),
                saved: true,
            }
        ),
        vec![Action::CompactLog {
            through: LogIndex(2),
            snapshot: LogId::new(1, 3),
        }]
    );
    assert_eq!(
        core.snapshot().map(|m| m.last_included),
        Some(LogId::new(1, 3))
    );
    assert_eq!(core.log_start(), LogId::new(1, 2));
    assert_eq!(core.configuration(), &configuration);
    // Nothing applied since: an explicit request asks for nothing.
    assert_eq!(step(&mut core, Input::TakeSnapshot), vec![]);
}

/// A failed save compacts nothing and the next trigger asks again.
#[test]
fn a_failed_save_compacts_nothing_and_is_asked_again() {
    let options = CoreOptions {
        snapshot_retained_entries: 0,
        ..CoreOptions::default()
    };
    let (mut core, seen) = single_leader(options, 2);
    assert!(!seen
        .iter()
        .any(|a| matches!(a, Action::TakeSnapshot { .. })));
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64]));
    let asked = Action::TakeSnapshot {
        meta: SnapshotMeta {
            last_included: LogId::new(1, 2),
            configuration,
        },
    };
    assert_eq!(core.taking_snapshot(), None);
    assert_eq!(step(&mut core, Input::TakeSnapshot), vec![asked.clone()]);
    // The executor can ask which snapshot is being taken (the runtime does, to refuse a
    // second request while one is saved). Kills `taking_snapshot -> None`.
    let Action::TakeSnapshot { meta } = &asked else {
        unreachable!()
    };
    assert_eq!(core.taking_snapshot(), Some(meta));
    let failed = Input::SnapshotSaved {
        last_included: LogId::new(1, 2),
        saved: false,
    };
    assert_eq!(step(&mut core, failed), vec![]);
    assert_eq!(core.taking_snapshot(), None);
    assert_eq!(core.log_start(), LogId::ZERO);
    assert_eq!(step(&mut core, Input::TakeSnapshot), vec![asked]);
}

/// With the log-distance trigger, a failed save is not asked for again at the same
/// entry (an executor failing at once would otherwise loop within one step), only once
/// more entries are applied.
#[test]
fn the_distance_trigger_does_not_retry_a_failed_save_at_the_same_entry() {
    let options = CoreOptions {
        snapshot_log_distance: 2,
        ..CoreOptions::default()
    };
    let (mut core, seen) = single_leader(options, 2);
    assert!(matches!(
        seen.last(),
        Some(Action::TakeSnapshot { meta }) if meta.last_included == LogId::new(1, 2)
    ));
    let failed = Input::SnapshotSaved {
        last_included: LogId::new(1, 2),
        saved: false,
    };
    assert_eq!(step(&mut core, failed), vec![], "not asked again at once");
    let proposal = Proposal {
        id: RequestId(7),
        size_bytes: 1,
        expected_term: None,
    };
    let actions = step(&mut core, Input::Propose(vec![proposal]));
    let seq = last_write_seq(&actions);
    let actions = step(&mut core, Input::Persisted { seq });
    assert!(
        matches!(
            actions.last(),
            Some(Action::TakeSnapshot { meta }) if meta.last_included == LogId::new(1, 3)
        ),
        "asked again once more is applied: {actions:?}"
    );
}

/// Appends that caught the follower up while it installed: once the install is durable
/// the state machine goes on from the log (no restore), and only what it has applied is
/// compacted — entries handed out but not yet applied stay readable.
#[test]
fn an_install_overtaken_by_appends_compacts_only_what_was_applied() {
    let mut core = follower(1, &[1], CoreOptions::default());
    step(&mut core, install_request(1, (1, 4)));
    let actions = fetched(&mut core, LogId::new(1, 4));
    assert!(matches!(actions[..], [Action::InstallSnapshot { .. }]));
    // Meanwhile (a new leader of term 2, say) entries 2..=6 arrive, committed through 6.
    // While the install is being written they are not taken.
    let append = Input::Message {
        from: 1,
        message: Message::Append(AppendRequest {
            term: Term(1),
            prev_log_id: LogId::new(1, 1),
            entries: (2..=6).map(|i| normal(1, i)).collect(),
            leader_commit: LogIndex(6),
        }),
    };
    assert_eq!(
        step(&mut core, append.clone()),
        vec![Action::ResetTimer(Timer::Election)],
        "no append while an install is written"
    );
    // The same scenario where the appends came before the install was issued: fetch
    // again on a fresh follower, append first, then make the append durable first.
    let mut core = follower(1, &[1], CoreOptions::default());
    step(&mut core, install_request(1, (1, 4)));
    let actions = step(&mut core, append);
    let append_seq = last_write_seq(&actions);
    let actions = fetched(&mut core, LogId::new(1, 4));
    // Commit is known through 6 but durable only through 1: the install goes ahead,
    // queued after the append.
    let seq = last_write_seq(&actions);
    assert!(seq > append_seq);
    let done = step(&mut core, Input::Persisted { seq: append_seq });
    assert!(
        matches!(done.first(), Some(Action::Apply { entries }) if entries.len() == 5),
        "2..=6 handed out (1 was, with the append): {done:?}"
    );
    step(&mut core, Input::Applied { index: LogIndex(2) });
    let done = step(&mut core, Input::Persisted { seq });
    assert_eq!(
        done,
        vec![
            // Only what the state machine applied; the snapshot is the one installed.
            Action::CompactLog {
                through: LogIndex(2),
                snapshot: LogId::new(1, 4),
            },
            install_answer(
                1,
                1,
                InstallSnapshotResult::Installed {
                    last_matched: LogIndex(4)
                }
            ),
        ],
        "no restore; compacted only through the applied entry"
    );
    assert_eq!(core.log_start(), LogId::new(1, 2));
    assert_eq!(
        core.snapshot().map(|m| m.last_included),
        Some(LogId::new(1, 4))
    );
    assert!(
        core.entry_meta(LogIndex(3)).is_some(),
        "handed-out entries stay"
    );
}

/// A follower behind the snapshot fetches it, installs it durably, and only then
/// restores its state machine from it and answers the leader. Entries after the
/// snapshot's last entry that match are kept (Raft §7).
#[test]
fn a_follower_fetches_installs_durably_then_restores_and_answers() {
    let mut core = follower(1, &[1, 1, 1, 1, 1, 1], CoreOptions::default());
    assert_eq!(
        step(&mut core, install_request(1, (1, 4))),
        vec![
            Action::ResetTimer(Timer::Election),
            Action::FetchSnapshot {
                from: 1,
                meta: meta(1, 4)
            },
            Action::RoleChanged {
                role: Role::Follower,
                term: Term(1),
                leader: Some(1),
                commit_index: LogIndex(0),
            },
        ]
    );
    // A repeat while fetching is ignored (one install at a time).
    assert_eq!(
        step(&mut core, install_request(1, (1, 4))),
        vec![Action::ResetTimer(Timer::Election)]
    );
    let actions = fetched(&mut core, LogId::new(1, 4));
    let seq = last_write_seq(&actions);
    // The answer waits for the install to be durable.
    assert_eq!(
        actions,
        vec![Action::InstallSnapshot {
            seq,
            meta: meta(1, 4)
        }]
    );
    assert_eq!(
        core.log_start(),
        LogId::ZERO,
        "nothing changes before durable"
    );
    assert_eq!(
        step(&mut core, Input::Persisted { seq }),
        installed(1, 4, 1)
    );
    assert_eq!(core.log_start(), LogId::new(1, 4));
    assert_eq!(
        core.last_log_id(),
        LogId::new(1, 6),
        "the matching suffix is kept"
    );
    assert_eq!(core.commit_index(), LogIndex(4));
    assert_eq!(core.applied_index(), LogIndex(4));
    // Now covered: a repeat is answered at once, without a fetch.
    assert_eq!(
        step(&mut core, install_request(1, (1, 4))),
        vec![
            Action::ResetTimer(Timer::Election),
            install_answer(
                1,
                1,
                InstallSnapshotResult::Installed {
                    last_matched: LogIndex(4)
                }
            ),
        ]
    );
}

/// An install request the follower already covers, from the leader of a term it has
/// not seen: the `Installed` answer is a promise in that term, so it waits until the
/// adopted term is durable (durable promises), then leaves in that term.
#[test]
fn a_covered_snapshot_in_a_new_term_is_answered_once_the_term_is_durable() {
    let mut core = follower(1, &[1, 1, 1, 1, 1, 1], CoreOptions::default());
    step(&mut core, install_request(1, (1, 4)));
    let actions = fetched(&mut core, LogId::new(1, 4));
    let seq = last_write_seq(&actions);
    step(&mut core, Input::Persisted { seq });
    assert_eq!(core.commit_index(), LogIndex(4));
    let actions = step(&mut core, install_request(2, (1, 4)));
    let seq = last_write_seq(&actions);
    assert!(
        actions.iter().all(|a| !matches!(a, Action::Send { .. })),
        "held until term 2 is durable: {actions:?}"
    );
    assert_eq!(
        step(&mut core, Input::Persisted { seq }),
        vec![install_answer(
            1,
            2,
            InstallSnapshotResult::Installed {
                last_matched: LogIndex(4)
            }
        )]
    );
}

/// A different entry at the snapshot's last index is not committed, nor is anything
/// after it: it is truncated before the install is written, so a crash between the two
/// never leaves a log that continues the snapshot with entries of another history.
#[test]
fn a_conflicting_entry_at_the_snapshot_index_is_truncated_before_the_install() {
    let mut core = follower(2, &[1, 1, 1, 1, 1, 1], CoreOptions::default());
    step(&mut core, install_request(2, (2, 5)));
    let actions = fetched(&mut core, LogId::new(2, 5));
    let seq = last_write_seq(&actions);
    assert_eq!(actions, cut_then_install(seq, 2, 5, None));
    assert_eq!(
        step(&mut core, Input::Persisted { seq }),
        installed(2, 5, 2)
    );
    assert_eq!(core.log_start(), LogId::new(2, 5));
    assert_eq!(
        core.last_log_id(),
        LogId::new(2, 5),
        "nothing of the old log is left"
    );
}

/// What a follower does when the fetched snapshot `meta(term, index)` conflicts with its
/// entry at `index`: cut the log there (the write before `seq`), then — after `between`,
/// if any — write the install as `seq`.
fn cut_then_install(
    seq: PersistSeq,
    term: u64,
    index: u64,
    between: Option<Action<u64>>,
) -> Vec<Action<u64>> {
    let mut actions = vec![Action::TruncateLog {
        seq: PersistSeq(seq.0 - 1),
        from: LogIndex(index),
        epoch: LogEpoch(1),
    }];
    actions.extend(between);
    actions.push(Action::InstallSnapshot {
        seq,
        meta: meta(term, index),
    });
    actions
}

/// A fetch that failed is reported to the leader, and a later request starts again.
#[test]
fn a_failed_fetch_is_reported_to_the_leader() {
    let mut core = follower(1, &[1], CoreOptions::default());
    step(&mut core, install_request(1, (1, 4)));
    // A report about another snapshot is ignored.
    let other = Input::SnapshotFetched {
        last_included: LogId::new(1, 3),
        fetched: true,
    };
    assert_eq!(step(&mut core, other), vec![]);
    assert_eq!(
        step(
            &mut core,
            Input::SnapshotFetched {
                last_included: LogId::new(1, 4),
                fetched: false,
            }
        ),
        vec![install_answer(
            1,
            1,
            InstallSnapshotResult::Failed {
                last_included: LogIndex(4)
            }
        )]
    );
    assert!(matches!(
        step(&mut core, install_request(1, (1, 4)))[..],
        [
            Action::ResetTimer(Timer::Election),
            Action::FetchSnapshot { .. }
        ]
    ));
}

/// A request from an older term is answered with the newer term; one that claims to
/// cover no entry, or an entry of a later term than its own, is dropped.
#[test]
fn stale_and_malformed_requests_change_nothing() {
    let mut core = follower(3, &[1], CoreOptions::default());
    let before = core.clone();
    assert_eq!(
        step(&mut core, install_request(2, (1, 4))),
        vec![install_answer(1, 3, InstallSnapshotResult::StaleTerm)]
    );
    for bogus in [install_request(3, (4, 9)), install_request(3, (1, 0))] {
        assert_eq!(step(&mut core, bogus), vec![]);
    }
    assert!(core == before);
    assert_eq!(core.dropped_messages(), 2);
}

/// Leader 1 of {1, 2, 3} whose log was compacted through 4 (a snapshot at 1.4), with
/// follower 2 probing from index 2.
/// Leader `core` takes one-byte proposals with these ids and reports them durable.
fn propose_durably(core: &mut RaftCore<u64>, ids: std::ops::Range<u64>) {
    let proposals = ids
        .map(|id| Proposal {
            id: RequestId(id),
            size_bytes: 1,
            expected_term: None,
        })
        .collect();
    let actions = step(core, Input::Propose(proposals));
    let seq = last_write_seq(&actions);
    step(core, Input::Persisted { seq });
}

/// `from`'s acknowledgement, in term 1, of everything through `last_matched`.
fn append_ack(from: u64, last_matched: u64) -> Input<u64> {
    Input::Message {
        from,
        message: Message::AppendResponse(AppendResponse {
            term: Term(1),
            result: AppendResult::Success {
                last_matched: LogIndex(last_matched),
            },
        }),
    }
}

/// Leader 1's append of entry 5 (after the snapshot at 1.4) to follower 2, in term 1.
fn entry_5_sent_to_2() -> Action<u64> {
    Action::Send {
        to: 2,
        message: Message::Append(AppendRequest {
            term: Term(1),
            prev_log_id: LogId::new(1, 4),
            entries: vec![normal(1, 5)],
            leader_commit: LogIndex(4),
        }),
    }
}

fn compacted_leader() -> RaftCore<u64> {
    let options = CoreOptions {
        pre_vote: false,
        snapshot_retained_entries: 0,
        ..CoreOptions::default()
    };
    let mut core = RaftCore::new(1u64, options, Restored::empty(voters())).unwrap();
    core.start();
    let actions = step(&mut core, Input::Timeout(Timer::Election));
    let seq = last_write_seq(&actions);
    step(&mut core, Input::Persisted { seq });
    let actions = step(
        &mut core,
        Input::Message {
            from: 3,
            message: Message::VoteResponse(VoteResponse {
                term: Term(1),
                granted: true,
            }),
        },
    );
    assert!(core.is_leader());
    let seq = last_write_seq(&actions);
    step(&mut core, Input::Persisted { seq });
    propose_durably(&mut core, 1..4);
    step(&mut core, append_ack(3, 4));
    assert_eq!(core.commit_index(), LogIndex(4));
    step(&mut core, Input::Applied { index: LogIndex(4) });
    step(&mut core, Input::TakeSnapshot);
    let saved = Input::SnapshotSaved {
        last_included: LogId::new(1, 4),
        saved: true,
    };
    assert_eq!(
        step(&mut core, saved),
        vec![Action::CompactLog {
            through: LogIndex(4),
            snapshot: LogId::new(1, 4),
        }]
    );
    core
}

/// Follower 2's answer to a heartbeat of leader 1 in term 1 (no round).
fn heartbeat_answer_from_2() -> Input<u64> {
    Input::Message {
        from: 2,
        message: Message::HeartbeatResponse(HeartbeatResponse {
            term: Term(1),
            round: 0,
            lease_cover: 0,
        }),
    }
}

/// A follower that needs compacted entries is sent the snapshot, and nothing else until
/// it answers; every heartbeat answer meanwhile sends the request again (it or its
/// answer may be lost); once installed, replication goes on after the snapshot.
#[test]
fn a_leader_sends_the_snapshot_to_a_follower_behind_its_log_and_waits() {
    let mut core = compacted_leader();
    // Follower 2 never answered the new leader's first probe (index 1): its next
    // heartbeat answer unpauses the probe, which needs compacted entries.
    let heartbeat_answer = heartbeat_answer_from_2();
    let request = Action::Send {
        to: 2,
        message: Message::InstallSnapshot(InstallSnapshotRequest {
            term: Term(1),
            meta: meta(1, 4),
        }),
    };
    assert_eq!(
        step(&mut core, heartbeat_answer.clone()),
        vec![request.clone()]
    );
    assert_eq!(
        core.progress(&2).map(Progress::state),
        Some(ProgressState::Snapshot {
            pending: LogIndex(4)
        })
    );
    // Proposals are not sent to a follower waiting for a snapshot.
    let proposal = Proposal {
        id: RequestId(9),
        size_bytes: 1,
        expected_term: None,
    };
    let actions = step(&mut core, Input::Propose(vec![proposal]));
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Send { to: 2, .. })),
        "sent to a follower waiting for a snapshot: {actions:?}"
    );
    assert_eq!(step(&mut core, heartbeat_answer), vec![request]);
    let installed = Message::InstallSnapshotResponse(InstallSnapshotResponse {
        term: Term(1),
        result: InstallSnapshotResult::Installed {
            last_matched: LogIndex(4),
        },
    });
    assert_eq!(
        step(
            &mut core,
            Input::Message {
                from: 2,
                message: installed
            }
        ),
        vec![entry_5_sent_to_2()]
    );
    assert_eq!(
        core.progress(&2).map(Progress::match_index),
        Some(LogIndex(4))
    );
}

/// A follower that could not install the snapshot is sent it again only after its next
/// heartbeat answer, not in a tight loop; a failure report about another snapshot is
/// ignored.
#[test]
fn a_failed_install_is_retried_after_the_next_heartbeat_answer() {
    let mut core = compacted_leader();
    let heartbeat_answer = heartbeat_answer_from_2();
    step(&mut core, heartbeat_answer.clone());
    let failed = |index| Input::Message {
        from: 2,
        message: Message::InstallSnapshotResponse(InstallSnapshotResponse {
            term: Term(1),
            result: InstallSnapshotResult::Failed {
                last_included: LogIndex(index),
            },
        }),
    };
    assert_eq!(step(&mut core, failed(3)), vec![]);
    assert!(matches!(
        core.progress(&2).map(Progress::state),
        Some(ProgressState::Snapshot { .. })
    ));
    assert_eq!(step(&mut core, failed(4)), vec![]);
    assert_eq!(
        core.progress(&2).map(Progress::state),
        Some(ProgressState::Probe { paused: true })
    );
    assert_eq!(
        step(&mut core, heartbeat_answer),
        vec![Action::Send {
            to: 2,
            message: Message::InstallSnapshot(InstallSnapshotRequest {
                term: Term(1),
                meta: meta(1, 4),
            }),
        }]
    );
}

/// A restart from a snapshot: the log starts at it, entries it covers are skipped, the
/// snapshot's configuration is in force, and everything through it counts applied; an
/// entry at the snapshot's index with another term is refused.
#[test]
fn a_restore_from_a_snapshot_skips_what_it_covers() {
    let only_1_and_2 = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2]));
    let restored = Restored {
        hard_state: HardState {
            term: Term(2),
            voted_for: None,
            reset: None,
        },
        snapshot: Some(SnapshotMeta {
            last_included: LogId::new(2, 4),
            configuration: only_1_and_2.clone(),
        }),
        entries: vec![normal(1, 3), normal(2, 4), normal(2, 5)],
        initial_configuration: voters(),
    };
    let core = RaftCore::new(1u64, CoreOptions::default(), restored.clone()).unwrap();
    core.check_invariants().unwrap();
    assert_eq!(core.log_start(), LogId::new(2, 4));
    assert_eq!(core.last_log_id(), LogId::new(2, 5));
    assert_eq!(core.commit_index(), LogIndex(4));
    assert_eq!(core.applied_index(), LogIndex(4));
    assert_eq!(core.configuration(), &only_1_and_2);
    let mut mismatch = restored.clone();
    mismatch.entries = vec![normal(1, 4), normal(2, 5)];
    assert!(matches!(
        RaftCore::new(1u64, CoreOptions::default(), mismatch),
        Err(RestoreError::NonContiguous { .. })
    ));
    let mut gap = restored;
    gap.entries = vec![normal(2, 6)];
    assert!(matches!(
        RaftCore::new(1u64, CoreOptions::default(), gap),
        Err(RestoreError::NonContiguous { .. })
    ));
}

/// While a fetch runs, the same leader's request for the same snapshot is a repeat and
/// is ignored, but its request for a newer snapshot (it compacted again meanwhile)
/// replaces the fetch. (Kills `&& with ||` in `handle_install_snapshot_request`, which
/// ignored every request from the fetch's leader.)
#[test]
fn a_newer_snapshot_from_the_same_leader_replaces_the_fetch() {
    let mut core = follower(1, &[1], CoreOptions::default());
    step(&mut core, install_request(1, (1, 4)));
    assert_eq!(core.installing_snapshot(), Some(&meta(1, 4)));
    let repeat = step(&mut core, install_request(1, (1, 4)));
    assert!(
        !repeat
            .iter()
            .any(|a| matches!(a, Action::FetchSnapshot { .. })),
        "{repeat:?}"
    );
    let actions = step(&mut core, install_request(1, (1, 7)));
    assert!(
        actions.contains(&Action::FetchSnapshot {
            from: 1,
            meta: meta(1, 7)
        }),
        "{actions:?}"
    );
    assert_eq!(core.installing_snapshot(), Some(&meta(1, 7)));
}

/// A fetch that may never end (its leader gone) does not keep the follower from
/// catching up: a new term gives it up, and a snapshot from another leader replaces it;
/// the report of the fetch given up is ignored.
#[test]
fn a_fetch_is_given_up_for_a_new_term_or_another_leader() {
    let mut core = follower(1, &[1], CoreOptions::default());
    step(&mut core, install_request(1, (1, 4)));
    assert_eq!(core.installing_snapshot(), Some(&meta(1, 4)));
    // Leader 3 of term 2 sends its own snapshot: the fetch from 1 is replaced.
    let from_3 = Input::Message {
        from: 3,
        message: Message::InstallSnapshot(InstallSnapshotRequest {
            term: Term(2),
            meta: meta(2, 6),
        }),
    };
    let actions = step(&mut core, from_3);
    assert!(
        actions.contains(&Action::FetchSnapshot {
            from: 3,
            meta: meta(2, 6)
        }),
        "{actions:?}"
    );
    // The old fetch's report changes nothing.
    let stale = Input::SnapshotFetched {
        last_included: LogId::new(1, 4),
        fetched: true,
    };
    assert_eq!(step(&mut core, stale), vec![]);
    assert_eq!(core.installing_snapshot(), Some(&meta(2, 6)));
    // A heartbeat of term 3 from a new leader: the unfinished fetch is given up.
    let heartbeat = Input::Message {
        from: 1,
        message: Message::Heartbeat(Heartbeat {
            term: Term(3),
            commit: LogIndex(0),
            round: 0,
        }),
    };
    step(&mut core, heartbeat);
    assert_eq!(core.installing_snapshot(), None);
    let late = Input::SnapshotFetched {
        last_included: LogId::new(2, 6),
        fetched: true,
    };
    assert_eq!(step(&mut core, late), vec![]);
    // The new leader's snapshot is fetched afresh.
    assert!(matches!(
        step(&mut core, install_request(3, (2, 6)))[..],
        [
            Action::ResetTimer(Timer::Election),
            Action::FetchSnapshot { .. }
        ]
    ));
}

/// Any install answer ends the wait for one: an answer to an older snapshot (the leader
/// took a newer one and sent that since) moves the follower's match and the leader
/// probes from there at once — here that needs the newer snapshot again — instead of
/// waiting for the next heartbeat answer. (Kills `Progress::snapshot_answered -> ()`.)
#[test]
fn an_answer_to_an_older_snapshot_ends_the_wait_for_the_newer_one() {
    let mut core = compacted_leader();
    let heartbeat_answer = heartbeat_answer_from_2();
    let request = |index| Action::Send {
        to: 2,
        message: Message::InstallSnapshot(InstallSnapshotRequest {
            term: Term(1),
            meta: meta(1, index),
        }),
    };
    assert_eq!(step(&mut core, heartbeat_answer.clone()), vec![request(4)]);
    // Three more entries, committed by 3 and applied; a snapshot at 7 compacts them.
    propose_durably(&mut core, 10..13);
    step(&mut core, append_ack(3, 7));
    assert_eq!(core.commit_index(), LogIndex(7));
    step(&mut core, Input::Applied { index: LogIndex(7) });
    step(&mut core, Input::TakeSnapshot);
    step(
        &mut core,
        Input::SnapshotSaved {
            last_included: LogId::new(1, 7),
            saved: true,
        },
    );
    // The next heartbeat answer sends the newer snapshot.
    assert_eq!(step(&mut core, heartbeat_answer), vec![request(7)]);
    assert_eq!(
        core.progress(&2).map(Progress::state),
        Some(ProgressState::Snapshot {
            pending: LogIndex(7)
        })
    );
    // 2's answer to the first one arrives: it holds 4; entries after 4 are compacted,
    // so the newer snapshot goes again at once.
    let installed = Message::InstallSnapshotResponse(InstallSnapshotResponse {
        term: Term(1),
        result: InstallSnapshotResult::Installed {
            last_matched: LogIndex(4),
        },
    });
    assert_eq!(
        step(
            &mut core,
            Input::Message {
                from: 2,
                message: installed
            }
        ),
        vec![request(7)]
    );
    assert_eq!(
        core.progress(&2).map(Progress::match_index),
        Some(LogIndex(4))
    );
}

/// While a follower waits for a snapshot, an append acknowledgement that reaches the
/// snapshot's last index ends the wait (replication goes on after it), and one below
/// it does not (the entries it needs are still compacted: the snapshot is still what
/// it waits for, and is not sent twice). (Kills `>= with <` in `Progress::maybe_update`.)
#[test]
fn an_append_answer_ends_the_wait_for_a_snapshot_only_from_its_last_index() {
    let mut core = compacted_leader();
    step(&mut core, heartbeat_answer_from_2());
    let waiting = Some(ProgressState::Snapshot {
        pending: LogIndex(4),
    });
    assert_eq!(core.progress(&2).map(Progress::state), waiting);
    propose_durably(&mut core, 9..10);
    let ack = |last_matched| append_ack(2, last_matched);
    // A late answer to an append sent before the compaction: it matches 2, still short
    // of the snapshot.
    assert_eq!(step(&mut core, ack(2)), vec![]);
    assert_eq!(core.progress(&2).map(Progress::state), waiting);
    assert_eq!(
        core.progress(&2).map(Progress::match_index),
        Some(LogIndex(2))
    );
    // It holds everything the snapshot covers: the entry after it goes at once.
    assert_eq!(step(&mut core, ack(4)), vec![entry_5_sent_to_2()]);
    assert!(!matches!(
        core.progress(&2).map(Progress::state),
        Some(ProgressState::Snapshot { .. })
    ));
}

/// An install answer that matches the leader's whole log (the snapshot was its last
/// entry) is taken: the follower matches through it and the wait ends; one claiming
/// entries past the leader's log is ignored. (Kills `> with >=` in
/// `handle_install_snapshot_response`, which ignored the answer of a follower that
/// holds everything, leaving it waiting for a snapshot until a heartbeat answer.)
#[test]
fn an_install_answer_matching_the_whole_log_is_taken() {
    let mut core = compacted_leader();
    assert_eq!(core.last_log_id(), LogId::new(1, 4));
    let heartbeat_answer = heartbeat_answer_from_2();
    step(&mut core, heartbeat_answer);
    assert_eq!(
        core.progress(&2).map(Progress::state),
        Some(ProgressState::Snapshot {
            pending: LogIndex(4)
        })
    );
    let installed = |last_matched| Input::Message {
        from: 2,
        message: Message::InstallSnapshotResponse(InstallSnapshotResponse {
            term: Term(1),
            result: InstallSnapshotResult::Installed {
                last_matched: LogIndex(last_matched),
            },
        }),
    };
    step(&mut core, installed(5));
    assert_eq!(
        core.progress(&2).map(Progress::match_index),
        Some(LogIndex(0))
    );
    step(&mut core, installed(4));
    assert_eq!(
        core.progress(&2).map(Progress::match_index),
        Some(LogIndex(4))
    );
    assert!(!matches!(
        core.progress(&2).map(Progress::state),
        Some(ProgressState::Snapshot { .. })
    ));
}

/// Who may read this node's snapshot files is the core's decision: the members of the
/// configuration in force (voters and learners of both halves of a joint one) and, on a
/// leader, the peers it replicates to — a voter being added, still catching up — but
/// never the node itself or a stranger.
#[test]
fn snapshot_readers_are_members_and_the_peers_a_leader_replicates_to() {
    let joint = ConfigurationEntry {
        current: Configuration::new([1u64, 2], [4u64]).unwrap(),
        old: Some(Configuration::with_voters([1u64, 2, 3])),
    };
    let core = RaftCore::new(2u64, CoreOptions::default(), Restored::empty(joint)).unwrap();
    for (peer, may) in [(1, true), (3, true), (4, true), (2, false), (5, false)] {
        assert_eq!(core.may_read_snapshot(&peer), may, "peer {peer}");
    }

    let (mut leader, _) = single_leader(CoreOptions::default(), 3);
    assert!(!leader.may_read_snapshot(&2));
    step(
        &mut leader,
        Input::ChangeMembership {
            id: RequestId(1),
            change: MembershipChange::AddVoter(2),
        },
    );
    // Not a member yet: it catches up first, and may fetch the snapshot meanwhile.
    assert!(!leader.configuration().current.contains(&2));
    assert!(leader.progress(&2).is_some());
    assert!(leader.may_read_snapshot(&2));
    assert!(!leader.may_read_snapshot(&3));
    assert!(!leader.may_read_snapshot(&1));
}

/// A voter fenced by a reset of the peers (its term is of epoch 1, its configuration of
/// epoch 0) whose election timer fires while it fetches a snapshot of the new epoch
/// forgets the leader and, fenced, does not arm the timer again. The install lifts the
/// fence, so the node can campaign again: it arms its timer then, or it could never
/// campaign before a leader's next word (the model's `a server that votes or follows
/// can time out`).
#[test]
fn an_install_that_lifts_the_fence_arms_the_election_timer() {
    // The first term of epoch 1 is the reset's own; a leader's is a later one.
    let term = Term::first_of_epoch(1).next().0;
    let mut core = follower(term, &[1, 1, 1], CoreOptions::default());
    assert!(core.is_fenced());
    step(&mut core, install_request(term, (term, 4)));
    let actions = step(&mut core, Input::Timeout(Timer::Election));
    assert!(
        !actions.contains(&Action::ResetTimer(Timer::Election)),
        "fenced: no campaign, no timer: {actions:?}"
    );
    assert_eq!(core.leader(), None);
    let actions = fetched(&mut core, LogId::new(term, 4));
    let seq = last_write_seq(&actions);
    let mut expected = vec![Action::ResetTimer(Timer::Election)];
    expected.extend(installed(term, 4, term));
    assert_eq!(step(&mut core, Input::Persisted { seq }), expected);
    assert!(!core.is_fenced());
}

/// A follower whose log ends with an uncommitted configuration entry that removes it is
/// no voter: when its timer fires it forgets the leader and does not arm the timer
/// again. A snapshot that conflicts at that entry cuts it before the install; a voter
/// again, the node arms its timer at once (before the install is durable).
#[test]
fn a_cut_that_makes_the_node_a_voter_again_arms_the_election_timer() {
    let removal = EntryMeta {
        log_id: LogId::new(1, 3),
        kind: EntryKind::configuration(ConfigurationEntry::stable(Configuration::with_voters([
            1u64, 3,
        ]))),
        size_bytes: 0,
    };
    let mut core = follower_with(
        1,
        vec![normal(1, 1), normal(1, 2), removal],
        CoreOptions::default(),
    );
    step(&mut core, install_request(2, (2, 3)));
    let actions = step(&mut core, Input::Timeout(Timer::Election));
    assert!(
        !actions.contains(&Action::ResetTimer(Timer::Election)),
        "no voter: no campaign, no timer: {actions:?}"
    );
    assert_eq!(core.leader(), None);
    let actions = fetched(&mut core, LogId::new(2, 3));
    let seq = last_write_seq(&actions);
    assert_eq!(
        actions,
        cut_then_install(seq, 2, 3, Some(Action::ResetTimer(Timer::Election)))
    );
    assert_eq!(
        step(&mut core, Input::Persisted { seq }),
        installed(2, 3, 2)
    );
}
