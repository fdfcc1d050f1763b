use super::*;

fn log_with_terms(terms: &[u64]) -> RaftLog<u64> {
    let mut log = RaftLog::new(LogId::ZERO);
    for (i, &term) in terms.iter().enumerate() {
        log.push(&EntryMeta {
            log_id: LogId::new(term, i as u64 + 1),
            kind: EntryKind::Normal,
            size_bytes: 10 * (i as u32 + 1),
        });
    }
    log
}

#[test]
fn term_runs_answer_term_queries() {
    let log = log_with_terms(&[1, 1, 1, 4, 4, 5, 5, 6, 6, 6]);
    assert_eq!(log.describe_runs(), "1..=3@t1 4..=5@t4 6..=7@t5 8..=10@t6");
    assert_eq!(log.term_at(LogIndex(0)), Some(Term(0)));
    assert_eq!(log.term_at(LogIndex(3)), Some(Term(1)));
    assert_eq!(log.term_at(LogIndex(4)), Some(Term(4)));
    assert_eq!(log.term_at(LogIndex(10)), Some(Term(6)));
    assert_eq!(log.term_at(LogIndex(11)), None);
    assert_eq!(log.last_log_id(), LogId::new(6, 10));
    log.check_invariants().unwrap();
}

#[test]
fn conflict_search_skips_whole_terms() {
    // Figure 7 (f): 1 1 1 2 2 2 3 3 3 3 3.
    let follower = log_with_terms(&[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]);
    // The leader's prev is 6.10: the follower's last entry ≤ 10 with term ≤ 6 is 3.10.
    assert_eq!(
        follower.find_conflict_by_term(LogIndex(10), Term(6)),
        LogId::new(3, 10)
    );
    // The leader (1 1 1 4 4 5 5 6 6 6) looks for its last entry ≤ 10 with term ≤ 3.
    let leader = log_with_terms(&[1, 1, 1, 4, 4, 5, 5, 6, 6, 6]);
    assert_eq!(
        leader.find_conflict_by_term(LogIndex(10), Term(3)),
        LogId::new(1, 3)
    );
    // Nothing old enough: fall back to the start of the log.
    assert_eq!(
        leader.find_conflict_by_term(LogIndex(10), Term(0)),
        LogId::ZERO
    );
    // An index beyond the end is clipped.
    assert_eq!(
        leader.find_conflict_by_term(LogIndex(99), Term(9)),
        LogId::new(6, 10)
    );
}

#[test]
fn batches_respect_count_and_bytes_but_always_carry_one_entry() {
    let log = log_with_terms(&[1, 1, 1, 1]); // sizes 10, 20, 30, 40
    let ids = |entries: Vec<EntryMeta<u64>>| -> Vec<u64> {
        entries.iter().map(|e| e.log_id.index.0).collect()
    };
    assert_eq!(ids(log.entries_from(LogIndex(1), 2, 1_000)), [1, 2]);
    assert_eq!(ids(log.entries_from(LogIndex(1), 10, 30)), [1, 2]);
    assert_eq!(ids(log.entries_from(LogIndex(4), 10, 1)), [4]); // oversized entry still goes
    assert!(log.entries_from(LogIndex(5), 10, 1_000).is_empty());
}

#[test]
fn late_completion_for_a_truncated_write_is_ignored() {
    // The ABA case: 2.5 is written, replaced by 3.5, then replaced by 2.5 again (three
    // leaders). A completion for the first write must not mark the third durable.
    let mut log = log_with_terms(&[1, 1, 1, 1, 2]);
    let first_epoch = log.epoch();
    log.truncate_from(LogIndex(5));
    log.push(&EntryMeta {
        log_id: LogId::new(3, 5),
        kind: EntryKind::Normal,
        size_bytes: 1,
    });
    log.truncate_from(LogIndex(5));
    log.push(&EntryMeta {
        log_id: LogId::new(2, 5),
        kind: EntryKind::Normal,
        size_bytes: 1,
    });
    assert!(!log.mark_persisted(first_epoch, LogId::new(2, 5)));
    assert_eq!(log.persisted(), LogIndex(0));
    assert!(log.mark_persisted(log.epoch(), LogId::new(2, 5)));
    assert_eq!(log.persisted(), LogIndex(5));
}

#[test]
fn truncation_forgets_configurations_and_blanks() {
    let mut log = log_with_terms(&[1]);
    log.push(&EntryMeta {
        log_id: LogId::new(2, 2),
        kind: EntryKind::Blank,
        size_bytes: 0,
    });
    let configuration =
        ConfigurationEntry::stable(super::super::Configuration::with_voters([1u64]));
    log.push(&EntryMeta {
        log_id: LogId::new(2, 3),
        kind: EntryKind::configuration(configuration),
        size_bytes: 0,
    });
    assert!(log.last_configuration().is_some());
    assert_eq!(log.entry_meta(LogIndex(2)).unwrap().kind, EntryKind::Blank);
    log.truncate_from(LogIndex(2));
    assert!(log.last_configuration().is_none());
    assert_eq!(log.last_log_id(), LogId::new(1, 1));
    log.check_invariants().unwrap();
}

#[test]
fn configuration_steps_are_checked_only_for_the_given_term() {
    let stable = |voters: &[u64]| {
        EntryKind::Configuration(Box::new(ConfigurationEntry::stable(
            crate::core::Configuration::with_voters(voters.iter().copied()),
        )))
    };
    let mut log = RaftLog::new(LogId::ZERO);
    for (index, term, kind) in [
        (1, 1, stable(&[1, 2, 3])),
        // One voter added: every majority of {1,2,3} meets every majority of {1,2,3,4}.
        (2, 1, stable(&[1, 2, 3, 4])),
        // Three voters replaced at once: the majorities {1,2,3} and {4,5,6} are disjoint.
        (3, 2, stable(&[4, 5, 6])),
    ] {
        log.push(&EntryMeta {
            log_id: LogId::new(term, index),
            kind,
            size_bytes: 1,
        });
    }
    // A follower stores what it was sent: not a property of its log.
    log.check_invariants().unwrap();
    assert_eq!(log.check_configuration_steps(Term(1)), Ok(()));
    // The leader of term 2 chose that step: its rule is broken.
    let error = log.check_configuration_steps(Term(2)).unwrap_err();
    assert!(error.contains("configuration at 3"), "{error}");
}

#[test]
fn payload_bytes_are_counted_only_for_held_entries() {
    // sizes 10, 20, 30, 40, 50 at indices 1..=5; compacted through 2.
    let mut log = log_with_terms(&[1, 1, 1, 1, 1]);
    assert_eq!(log.bytes_between(LogIndex(1), LogIndex(5)), 150);
    log.compact(LogId::new(1, 2));
    assert_eq!(log.bytes_between(LogIndex(3), LogIndex(5)), 120);
    // A range reaching below the start or past the end is clamped to what is held.
    assert_eq!(log.bytes_between(LogIndex(1), LogIndex(4)), 70);
    assert_eq!(log.bytes_between(LogIndex(2), LogIndex(9)), 120);
    assert_eq!(log.bytes_between(LogIndex(0), LogIndex(2)), 0);
    assert_eq!(log.bytes_between(LogIndex(6), LogIndex(9)), 0);
    log.check_invariants().unwrap();
}
