//! Teeth: the checker must catch real bugs. Each test wires deliberately broken glue
//! into the model (broken variants exist only here) and asserts a counterexample; the
//! same configuration with the correct glue must pass.

use std::sync::Arc;

use concord::core::{Action, HardState, Message};
use concord_model::properties::{ELECTION_SAFETY, LEADER_COMPLETENESS};
use concord_model::types::ServerId;
use concord_model::{check, CorrectGlue, Glue, ModelConfig, Outcome, SearchOptions, Verdict};

/// Sends granted votes to other candidates at once instead of after the vote is durable.
#[derive(Debug)]
struct VoteBeforePersist;

impl Glue for VoteBeforePersist {
    fn actions(&self, actions: Vec<Action<ServerId>>) -> Vec<Action<ServerId>> {
        actions
            .into_iter()
            .map(|action| match action {
                Action::SendAfterPersist {
                    to,
                    message: message @ Message::VoteResponse(_),
                } => Action::Send { to, message },
                other => other,
            })
            .collect()
    }
}

/// Restarts with the durable term but forgets whom it voted for.
#[derive(Debug)]
struct ForgetVoteOnRestart;

impl Glue for ForgetVoteOnRestart {
    fn restored_hard_state(&self, durable: HardState<ServerId>) -> HardState<ServerId> {
        HardState {
            term: durable.term,
            voted_for: None,
        }
    }
}

/// Acknowledges appended entries before they are durable.
#[derive(Debug)]
struct AckBeforeDurable;

impl Glue for AckBeforeDurable {
    fn actions(&self, actions: Vec<Action<ServerId>>) -> Vec<Action<ServerId>> {
        actions
            .into_iter()
            .map(|action| match action {
                Action::SendAfterPersist {
                    to,
                    message: message @ Message::AppendResponse(_),
                } => Action::Send { to, message },
                other => other,
            })
            .collect()
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

/// Two terms, one crash, no clients: the first leader's blank entry can be committed
/// and then lost.
fn two_terms(glue: Arc<dyn Glue>) -> ModelConfig {
    let mut cfg = ModelConfig {
        clients: 0,
        max_term: 2,
        max_log: 2,
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
    let outcome = find_bug(two_elections_one_term(Arc::new(VoteBeforePersist)));
    assert_violated(&outcome, ELECTION_SAFETY);
}

#[test]
fn vote_forgotten_on_restart_gives_two_leaders_in_one_term() {
    let outcome = find_bug(two_elections_one_term(Arc::new(ForgetVoteOnRestart)));
    assert_violated(&outcome, ELECTION_SAFETY);
}

#[test]
fn entries_acknowledged_before_durable_lose_a_committed_entry() {
    let outcome = find_bug(two_terms(Arc::new(AckBeforeDurable)));
    assert_violated(&outcome, LEADER_COMPLETENESS);
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

/// About 2.3 million states: 80 s in release on 2 cores. Run with
/// `cargo test --release -p concord-model --test teeth -- --ignored`.
#[test]
#[ignore = "takes minutes in the test profile; run in release"]
fn correct_glue_passes_the_two_terms_configuration() {
    use concord_model::properties::LEADER_STEPS_DOWN;
    let options = SearchOptions {
        threads: 2,
        ..SearchOptions::default()
    };
    let outcome = check(two_terms(Arc::new(CorrectGlue)), &options);
    assert_always_holds(&outcome);
    assert_eq!(outcome.verdict(LEADER_STEPS_DOWN), Some(Verdict::Found));
}
