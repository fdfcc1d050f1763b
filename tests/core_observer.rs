//! The cluster observer's Electable Completeness check (`ClusterObserver::observe_node`,
//! `EC`), on hand-built logs: a Figure-8 commit is flagged the moment it is seen, and a
//! commit made the way Raft makes it is not.

use concord::core::*;

fn entry(term: u64, index: u64) -> EntryMeta<u64> {
    EntryMeta {
        log_id: LogId::new(term, index),
        kind: EntryKind::Normal,
        size_bytes: 1,
    }
}

/// Voter `id` of {1, 2, 3}, restored in `term` with `log` (every entry durable).
fn restored(id: u64, term: u64, log: &[(u64, u64)]) -> RaftCore<u64> {
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
    let mut restored = Restored::empty(configuration);
    restored.hard_state.term = Term(term);
    restored.entries = log.iter().map(|&(t, i)| entry(t, i)).collect();
    let mut core = RaftCore::new(id, CoreOptions::default(), restored).unwrap();
    core.start();
    core
}

/// A leader of `term` (node 9) tells `core` that everything through its last entry is
/// committed.
fn learn_commit(core: &mut RaftCore<u64>, term: u64) {
    let last = core.last_log_id();
    core.step(Input::Message {
        from: 9,
        message: Message::Append(AppendRequest {
            term: Term(term),
            prev_log_id: last,
            entries: Vec::new(),
            leader_commit: last.index,
        }),
    });
    assert_eq!(core.commit_index(), last.index);
}

/// Raft's Figure 8 (three voters): entry 2 of term 2 sits on nodes 1 and 3, and a leader
/// of term 4 counts it committed by its replicas alone. Node 2's log ends with an entry
/// of term 3 at index 2: its own vote and node 1's (whose durable log ends at 2.2) would
/// elect it, and it lacks 2.2.
#[test]
fn a_figure_8_commit_is_flagged_while_a_newer_log_lacking_it_is_electable() {
    let mut n1 = restored(1, 2, &[(1, 1), (2, 2)]);
    let n2 = restored(2, 3, &[(1, 1), (3, 2)]);
    let n3 = restored(3, 2, &[(1, 1), (2, 2)]);
    learn_commit(&mut n1, 4);
    let mut observer = ClusterObserver::new();
    observer.observe_node(&n1).unwrap();
    observer.observe_node(&n3).unwrap();
    let violation = observer.observe_node(&n2).unwrap_err();
    assert!(
        violation
            .description
            .starts_with("EC: 2 (last 3.2) lacks committed entry 2.2 and is electable"),
        "{violation}"
    );
}

/// The same logs, but the leader of term 4 commits the way Raft does: through an entry of
/// its own term (4.3) on a quorum. Node 2 still lacks 2.2, but nodes 1 and 3 would refuse
/// it their votes: nothing is flagged.
#[test]
fn a_commit_through_an_entry_of_the_leaders_term_leaves_no_electable_log_lacking_it() {
    let mut n1 = restored(1, 4, &[(1, 1), (2, 2), (4, 3)]);
    let n2 = restored(2, 3, &[(1, 1), (3, 2)]);
    let n3 = restored(3, 4, &[(1, 1), (2, 2), (4, 3)]);
    learn_commit(&mut n1, 4);
    let mut observer = ClusterObserver::new();
    for node in [&n1, &n3, &n2] {
        observer.observe_node(node).unwrap();
    }
}

/// Only voters seen count, each by its durable log as last seen. Node 1 knows 4.3
/// committed (as if a quorum held it); node 2 lacks it and has only its own vote while
/// node 3 is unseen; once node 3 is seen with a log that would grant node 2 its vote,
/// node 2 is electable and flagged.
#[test]
fn voters_count_once_seen() {
    let mut n1 = restored(1, 4, &[(1, 1), (2, 2), (4, 3)]);
    let n2 = restored(2, 3, &[(1, 1), (3, 2)]);
    let n3 = restored(3, 1, &[(1, 1)]);
    learn_commit(&mut n1, 4);
    let mut observer = ClusterObserver::new();
    observer.observe_node(&n1).unwrap();
    observer.observe_node(&n2).unwrap();
    observer.observe_node(&n3).unwrap();
    let violation = observer.observe_node(&n2).unwrap_err();
    assert!(
        violation
            .description
            .starts_with("EC: 2 (last 3.2) lacks committed entry 4.3 and is electable"),
        "{violation}"
    );
}
