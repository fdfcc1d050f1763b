//! Teeth: the checker must catch real bugs. Each test wires deliberately broken glue
//! into the model (broken variants exist only here) and asserts a counterexample; the
//! same configuration with the correct glue must pass.

use std::sync::Arc;

use concord::core::{HardState, Write};
use concord_model::profiles::by_name;
use concord_model::properties::{
    COMMITTED_DURABLE, ELECTION_SAFETY, FAILED_NODE_NEVER_LEADS, LEADER_COMPLETENESS, LINEARIZABLE,
};
use concord_model::server::{Queue, QueuedEntry};
use concord_model::types::ServerId;
use concord_model::{
    check, simulate, CorrectGlue, Glue, ModelConfig, Outcome, SearchOptions, Verdict,
};

/// Tells the core that its queued writes are durable as soon as they are queued, when
/// the queue is of the shape `early` picks — before they are, so a crash still loses
/// them (an executor that reports fsync before fsync: the one duty the core's contract
/// leaves executors, broken).
#[derive(Debug)]
struct EarlyReport {
    early: fn(ServerId, &Queue) -> bool,
}

impl Glue for EarlyReport {
    fn reports_before_durable(&self, me: ServerId, queue: &Queue) -> bool {
        (self.early)(me, queue)
    }
}

/// The newest queued write.
fn newest(queue: &Queue) -> Option<&Write<ServerId, QueuedEntry>> {
    queue.iter().last().map(|(_, write)| write)
}

/// Grants votes before they are durable.
fn vote_before_persist() -> Arc<dyn Glue> {
    Arc::new(EarlyReport {
        early: |me, queue| matches!(newest(queue), Some(Write::HardState(h)) if h.voted_for.is_some_and(|v| v != me)),
    })
}

/// Sends a candidate's vote requests before its new term and vote (and whatever was
/// queued before them) are durable: what the core itself did until the `deep`
/// simulation caught it.
fn vote_request_before_persist() -> Arc<dyn Glue> {
    Arc::new(EarlyReport {
        early: |me, queue| matches!(newest(queue), Some(Write::HardState(h)) if h.voted_for == Some(me)),
    })
}

/// Acknowledges appended entries before they are durable.
fn ack_before_durable() -> Arc<dyn Glue> {
    Arc::new(EarlyReport {
        early: |_, queue| {
            queue
                .iter()
                .all(|(_, write)| matches!(write, Write::Append(_) | Write::Truncate(_)))
        },
    })
}

/// Restarts with the durable term but forgets whom it voted for.
#[derive(Debug)]
struct ForgetVoteOnRestart;

impl Glue for ForgetVoteOnRestart {
    fn restored_hard_state(&self, durable: HardState<ServerId>) -> HardState<ServerId> {
        HardState {
            voted_for: None,
            ..durable
        }
    }
}

/// Two elections in one term, one crash, no clients: enough for a double vote.
fn two_elections_one_term(glue: Arc<dyn Glue>) -> ModelConfig {
    let mut cfg = ModelConfig {
        clients: 0,
        max_term: 1,
        max_log: 1,
        max_elections: 2,
        max_quorum_checks: 0,
        max_heartbeats: 0,
        crashes: 1,
        glue,
        ..ModelConfig::default()
    };
    cfg.options.pre_vote = false;
    cfg
}

/// The matrix's `crash` profile (two terms, one crash, no clients) with other glue: the
/// first leader's blank entry can be committed and then lost.
fn two_terms(glue: Arc<dyn Glue>) -> ModelConfig {
    let profile = by_name("crash").expect("the crash profile exists");
    ModelConfig {
        glue,
        ..(profile.config)()
    }
}

fn find_bug(cfg: ModelConfig) -> Outcome {
    let options = SearchOptions {
        threads: 2,
        stop_at_first_violation: true,
        // Breadth-first: the shortest counterexample, found before the deep states.
        breadth_first: true,
        ..SearchOptions::default()
    };
    check(cfg, &options)
}

fn assert_violated(outcome: &Outcome, property: &str) {
    assert_eq!(
        outcome.verdict(property),
        Some(Verdict::Violated),
        "expected a counterexample to {property:?}\n{}",
        outcome.render()
    );
    let path = &outcome.counterexamples[property];
    eprintln!("{}", outcome.render().lines().next().unwrap_or_default());
    eprintln!("counterexample for {property:?}:\n{path}");
    assert!(
        path.contains("step 1:"),
        "the counterexample is printed step by step"
    );
}

fn assert_always_holds(outcome: &Outcome) {
    assert!(
        outcome.counterexamples.is_empty(),
        "correct glue must pass\n{}",
        outcome.render()
    );
    assert!(outcome.complete);
}

#[test]
fn vote_sent_before_it_is_durable_gives_two_leaders_in_one_term() {
    let outcome = find_bug(two_elections_one_term(vote_before_persist()));
    assert_violated(&outcome, ELECTION_SAFETY);
}

#[test]
fn vote_forgotten_on_restart_gives_two_leaders_in_one_term() {
    let outcome = find_bug(two_elections_one_term(Arc::new(ForgetVoteOnRestart)));
    assert_violated(&outcome, ELECTION_SAFETY);
}

/// Caught where it happens: the entry is counted committed while a quorum's disks do
/// not hold it, before any crash turns that into a lost entry.
#[test]
fn entries_acknowledged_before_durable_are_committed_without_a_durable_quorum() {
    let outcome = find_bug(two_terms(ack_before_durable()));
    assert_violated(&outcome, COMMITTED_DURABLE);
}

/// Without the disk-level properties the same bug is still caught, later, as a lost
/// committed entry (the property this test pinned before those existed).
#[test]
fn entries_acknowledged_before_durable_lose_a_committed_entry() {
    let outcome = find_bug(ModelConfig {
        skip_disk_properties: true,
        ..two_terms(ack_before_durable())
    });
    assert_violated(&outcome, LEADER_COMPLETENESS);
}

/// A candidate's executor reports its new term and vote durable — and with them
/// whatever was queued before, an unsynced log tail included — as soon as they are
/// queued. The core then sends the vote requests, and the acknowledgements it held for
/// the tail, too early. In the core itself (the teeth patch `vote-request-before-durable`,
/// sending only the requests early) this takes three elections, two by the same server
/// for the same term, a crash and a commit: beyond the exhaustive profiles, so random
/// walks of the `deep` profile look for it (they found it first, in the core). This
/// executor-level lie is coarser and the walks catch it at once (walk 3).
#[test]
fn vote_requested_before_durable_elects_a_leader_without_a_committed_entry() {
    let cfg = ModelConfig {
        glue: vote_request_before_persist(),
        // The walks that find it (seed 7) predate disk failures in `deep`; with them,
        // the same budget spends its steps elsewhere.
        disk_failures: 0,
        ..concord_model::profiles::deep()
    };
    let outcome = simulate(cfg, 7, 400, 20_000, 2);
    assert_violated(&outcome, COMMITTED_DURABLE);
}

/// Swallows disk failures: the core is never told (`Input::Fail`), as an executor that
/// logs a failed fsync and carries on would.
#[derive(Debug)]
struct SwallowDiskFailure;

impl Glue for SwallowDiskFailure {
    fn reports_disk_failure(&self) -> bool {
        false
    }
}

/// A leader whose disk failed, never told, keeps leading: it can commit nothing more,
/// and its heartbeats keep the others from electing a leader that can.
#[test]
fn a_swallowed_disk_failure_leaves_a_failed_leader_in_charge() {
    let profile = by_name("disk-failure").expect("the disk-failure profile exists");
    let outcome = find_bug(ModelConfig {
        glue: Arc::new(SwallowDiskFailure),
        ..(profile.config)()
    });
    assert_violated(&outcome, FAILED_NODE_NEVER_LEADS);
}

#[test]
fn correct_glue_passes_the_two_elections_configuration() {
    let options = SearchOptions {
        threads: 2,
        ..SearchOptions::default()
    };
    assert_always_holds(&check(
        two_elections_one_term(Arc::new(CorrectGlue)),
        &options,
    ));
}

/// A leader that answers reads from its register at once, without the ReadIndex round:
/// a leader that believes it still leads.
#[derive(Debug)]
struct ReadsWithoutRound;

impl Glue for ReadsWithoutRound {
    fn reads_without_round(&self) -> bool {
        true
    }
}

/// A leader that answers reads from its register at once serves stale values: a new
/// leader that has not committed an entry of its term yet (its register lags what an
/// earlier leader committed; what seed 7 finds), or a deposed one. Reads go through the
/// core's ReadIndex, and without it the linearizability property fails.
#[test]
fn reads_answered_without_read_index_are_stale() {
    let cfg = ModelConfig {
        glue: Arc::new(ReadsWithoutRound),
        ..concord_model::profiles::deep()
    };
    let outcome = simulate(cfg, 7, 400, 20_000, 2);
    assert_violated(&outcome, LINEARIZABLE);
}
