//! Lease reads in the model (`ModelConfig::clock`): clocks within a skew bound, election
//! timers that wait their timeout, reads that carry the server's clock.
//!
//! The stale lease read lies 29 steps deep (7 of them clock ticks), and neither the
//! depth-first search (10.7 million states of `lease-partition` in 5 minutes) nor random
//! walks (3 million states) reach it within a CI budget. So its teeth are a schedule:
//! the exact interleaving of a stale lease read, walked through the real model (the
//! glue, the core, the properties), which must break `linearizable` whenever the lease
//! is longer than `election_timeout - 2 * max_skew`, and must not with the safe lease.
//! The searches run as long runs (docs/verification.md, "Lease reads and clocks"). Two
//! more schedules crash a follower, for the two rules a lease rests on across a restart
//! (the held heartbeat answer, the restart guard).

use concord_model::profiles::{lease_partition_with, LEASE_CLOCK, SAFE_LEASE};
use concord_model::properties::LINEARIZABLE;
use concord_model::{simulate, ConcordModel, ConcordState};
use stateright::Model;

/// One step of a schedule: the action whose debug text contains every fragment.
type Step = &'static [&'static str];

/// s0 leads term 1; its clock moves to 1 and a read's round is confirmed by s1, whose
/// clock still reads 0 (s0's lease runs from 1; s1's election timer from 0). s1's clock
/// reaches 3 (s0's and s2's 2), its election timer fires, s2 (which never hears s0)
/// votes it in, and it commits the client's write; the client then reads at s0 again,
/// whose clock reads 2: the lease `[1, 1 + read_lease)` still holds for any lease above
/// `election_timeout - 2 * max_skew` = 1.
const STALE_LEASE_READ: &[Step] = &[
    &["Timeout(Id(0), Election"],
    &["src: Id(0)", "dst: Id(1)", "Vote("],
    &["src: Id(1)", "dst: Id(0)", "VoteResponse"],
    &["src: Id(0)", "dst: Id(1)", "Append("],
    &["src: Id(1)", "dst: Id(0)", "AppendResponse"],
    &["Timeout(Id(0), Tick"],
    &["src: Id(3)", "dst: Id(0)", "Request"],
    &["src: Id(0)", "dst: Id(1)", "Heartbeat("],
    &["src: Id(1)", "dst: Id(0)", "HeartbeatResponse"],
    &["src: Id(0)", "dst: Id(3)", "ReadOk"],
    &["Timeout(Id(1), Tick"],
    &["Timeout(Id(2), Tick"],
    &["Timeout(Id(1), Tick"],
    &["Timeout(Id(0), Tick"],
    &["Timeout(Id(2), Tick"],
    &["Timeout(Id(1), Tick"],
    &["Timeout(Id(1), Election"],
    &["src: Id(1)", "dst: Id(2)", "Vote("],
    &["src: Id(2)", "dst: Id(1)", "VoteResponse"],
    &["src: Id(1)", "dst: Id(2)", "Append("],
    &["src: Id(2)", "dst: Id(1)", "AppendResponse"],
    &["src: Id(3)", "dst: Id(1)", "Request"],
    &["src: Id(1)", "dst: Id(2)", "Append("],
    &["src: Id(2)", "dst: Id(1)", "AppendResponse"],
    &["src: Id(1)", "dst: Id(2)", "Append("],
    &["src: Id(2)", "dst: Id(1)", "AppendResponse"],
    &["src: Id(1)", "dst: Id(3)", "WriteOk"],
    // The read at s0, whose lease (from 1) may still hold at 2.
    &["src: Id(3)", "dst: Id(0)", "Request"],
];

/// The answer to the second read: s0 answering it from its own register.
const STALE_ANSWER: Step = &["src: Id(0)", "dst: Id(3)", "ReadOk"];

fn find(model: &ConcordModel, state: &ConcordState, step: Step) -> Option<ConcordState> {
    let mut actions = Vec::new();
    model.actions(state, &mut actions);
    let action = actions.into_iter().find(|action| {
        let text = format!("{action:?}");
        step.iter().all(|fragment| text.contains(fragment))
    })?;
    model.next_state(state, action)
}

fn walk(model: &ConcordModel, schedule: &[Step]) -> ConcordState {
    let init = model.init_states().pop().expect("one initial state");
    walk_from(model, init, schedule)
}

fn walk_from(model: &ConcordModel, mut state: ConcordState, schedule: &[Step]) -> ConcordState {
    for step in schedule {
        state = find(model, &state, step)
            .unwrap_or_else(|| panic!("the schedule's step {step:?} is not enabled"));
    }
    state
}

fn linearizable(model: &ConcordModel, state: &ConcordState) -> bool {
    let property = model
        .properties()
        .into_iter()
        .find(|p| p.name == LINEARIZABLE)
        .expect("the property exists");
    (property.condition)(model, state)
}

#[test]
fn a_lease_longer_than_the_timeout_less_twice_the_skew_serves_a_stale_read() {
    assert_eq!(SAFE_LEASE, 1);
    // The unsafe leases: with no drift bound (the whole election timeout) and with one
    // tick too many.
    for read_lease in [u64::from(LEASE_CLOCK.election_timeout), SAFE_LEASE + 1] {
        let model = lease_partition_with(read_lease).into_model();
        let state = walk(&model, STALE_LEASE_READ);
        assert!(
            linearizable(&model, &state),
            "lease {read_lease}: fine so far"
        );
        let answered = find(&model, &state, STALE_ANSWER)
            .unwrap_or_else(|| panic!("lease {read_lease}: s0 answers from its lease"));
        assert!(
            !linearizable(&model, &answered),
            "lease {read_lease}: the stale read must break linearizability"
        );
    }
}

#[test]
fn with_the_safe_lease_the_same_schedule_takes_a_round_that_deposes_the_leader() {
    let model = lease_partition_with(SAFE_LEASE).into_model();
    let state = walk(&model, STALE_LEASE_READ);
    // The lease (from 1, one tick) is over at 2: no answer yet, a round instead.
    assert!(find(&model, &state, STALE_ANSWER).is_none());
    // s1 answers the round in term 2: s0 steps down and redirects the read, never
    // answering it.
    let state = walk_from(
        &model,
        state,
        &[
            &["src: Id(0)", "dst: Id(1)", "Heartbeat("],
            &["src: Id(1)", "dst: Id(0)", "HeartbeatResponse"],
        ],
    );
    assert!(find(&model, &state, STALE_ANSWER).is_none());
    assert!(find(&model, &state, &["src: Id(0)", "dst: Id(3)", "Redirect"]).is_some());
    assert!(linearizable(&model, &state));
}

/// Random walks over the safe lease with the partition: a fixed seed and budget, so
/// the same states every run (about 5 s).
#[test]
fn random_walks_find_no_stale_read_with_the_safe_lease() {
    let outcome = simulate(lease_partition_with(SAFE_LEASE), 7, 200, 4000, 1);
    eprintln!("{}", outcome.render());
    assert!(outcome.counterexamples.is_empty(), "{}", outcome.render());
    assert!(outcome.unique_states > 100_000, "{}", outcome.render());
}

/// Walks `schedule` as far as its steps are enabled, checking `linearizable` in every
/// state reached; returns how many steps were taken.
fn walk_checked(model: &ConcordModel, schedule: &[Step]) -> usize {
    let mut state = model.init_states().pop().expect("one initial state");
    for (taken, step) in schedule.iter().enumerate() {
        let Some(next) = find(model, &state, step) else {
            return taken;
        };
        state = next;
        assert!(
            linearizable(model, &state),
            "a stale read after step {taken} {step:?}"
        );
    }
    schedule.len()
}

/// A follower answers a lease's round in a term it has not made durable, crashes, and
/// comes back with term 0 — no restart guard — and votes a new leader in while the old
/// one's lease holds. The core holds that answer until the term is durable
/// (`handle_heartbeat`), so the schedule stops at it; with the answer sent at once
/// (teeth patch `heartbeat-answer-before-durable-term`) it runs to a stale read.
const ANSWER_BEFORE_DURABLE_TERM: &[Step] = &[
    // s0 is elected by s2 and commits its blank entry with it; every write needs its
    // own `Persist` step.
    &["Timeout(Id(0), Election"],
    &["Timeout(Id(0), Persist"],
    &["src: Id(0)", "dst: Id(2)", "Vote("],
    &["Timeout(Id(2), Persist"],
    &["src: Id(2)", "dst: Id(0)", "VoteResponse"],
    &["Timeout(Id(0), Persist"],
    &["src: Id(0)", "dst: Id(2)", "Append("],
    &["Timeout(Id(2), Persist"],
    &["src: Id(2)", "dst: Id(0)", "AppendResponse"],
    // Every clock to 2; the read arrives at s0 at 2 (lease until 3).
    &["Timeout(Id(0), Tick"],
    &["Timeout(Id(1), Tick"],
    &["Timeout(Id(2), Tick"],
    &["Timeout(Id(0), Tick"],
    &["Timeout(Id(1), Tick"],
    &["Timeout(Id(2), Tick"],
    &["src: Id(3)", "dst: Id(0)", "Request"],
    // s1 learns term 1 from the round's heartbeat and answers.
    &["src: Id(0)", "dst: Id(1)", "Heartbeat("],
    &["src: Id(1)", "dst: Id(0)", "HeartbeatResponse"],
    &["src: Id(0)", "dst: Id(3)", "ReadOk"],
    // s1 crashes before term 1 is durable: back with term 0.
    &["Crash(Id(1))"],
    &["Recover(Id(1))"],
    // s2's timer (reset at 0) fires at 3; s1 votes for it at once.
    &["Timeout(Id(2), Tick"],
    &["Timeout(Id(2), Election"],
    &["Timeout(Id(2), Persist"],
    &["src: Id(2)", "dst: Id(1)", "Vote("],
    &["Timeout(Id(1), Persist"],
    &["src: Id(1)", "dst: Id(2)", "VoteResponse"],
    // s2 leads term 2, brings s1 up to date and commits the client's write.
    &["Timeout(Id(2), Persist"],
    &["src: Id(2)", "dst: Id(1)", "Append("],
    &["src: Id(1)", "dst: Id(2)", "AppendResponse"],
    &["src: Id(2)", "dst: Id(1)", "Append("],
    &["Timeout(Id(1), Persist"],
    &["src: Id(1)", "dst: Id(2)", "AppendResponse"],
    &["src: Id(3)", "dst: Id(2)", "Request"],
    &["Timeout(Id(2), Persist"],
    &["src: Id(2)", "dst: Id(1)", "Append("],
    &["Timeout(Id(1), Persist"],
    &["src: Id(1)", "dst: Id(2)", "AppendResponse"],
    &["src: Id(2)", "dst: Id(3)", "WriteOk"],
    // The second read at s0, whose clock still reads 2.
    &["src: Id(3)", "dst: Id(0)", "Request"],
    &["src: Id(0)", "dst: Id(3)", "ReadOk"],
];

#[test]
fn an_answer_in_a_term_not_yet_durable_waits_so_a_restart_cannot_void_a_lease() {
    let cfg = concord_model::ModelConfig {
        crashes: 1,
        persist_mode: concord_model::PersistMode::Whole,
        write_target: Some(2),
        ..concord_model::profiles::lease_with(SAFE_LEASE)
    };
    let model = cfg.into_model();
    let taken = walk_checked(&model, ANSWER_BEFORE_DURABLE_TERM);
    // The held answer: the round cannot be confirmed by s1 before its term is durable.
    assert_eq!(taken, 17, "the schedule stops at s1's answer");
}

/// The schedule above with s1's term made durable before it answers: then the answer
/// may confirm the lease, and s1 restarts with term 1 — guarded: it refuses s2's vote
/// request until its own election timer fires, so the schedule stops there. Without the
/// guard (teeth patch `restart-vote-guard-off`) it runs to a stale read.
#[test]
fn a_voter_restarted_with_a_term_refuses_votes_while_a_lease_may_hold() {
    let cfg = concord_model::ModelConfig {
        crashes: 1,
        persist_mode: concord_model::PersistMode::Whole,
        write_target: Some(2),
        ..concord_model::profiles::lease_with(SAFE_LEASE)
    };
    let model = cfg.into_model();
    let mut schedule: Vec<Step> = ANSWER_BEFORE_DURABLE_TERM.to_vec();
    let answer = schedule
        .iter()
        .position(|step| step.contains(&"HeartbeatResponse"))
        .expect("the schedule has s1's answer");
    schedule.insert(answer, &["Timeout(Id(1), Persist"]);
    let taken = walk_checked(&model, &schedule);
    // s1 ignores the request (a delivery that changes nothing is no step at all).
    assert_eq!(
        schedule[taken],
        &["src: Id(2)", "dst: Id(1)", "Vote("][..],
        "the schedule stops at s2's vote request to s1 (step {taken})"
    );
}
