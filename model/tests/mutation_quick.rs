//! Small exhaustive model checks for mutation testing (`scripts/mutants.sh`,
//! docs/verification.md "Mutation testing"): a few seconds each in the test profile, so
//! they can run once per mutant. Ignored in the ordinary test run, which already runs
//! the bigger checks in `check.rs` and `teeth.rs`; the mutation script runs them with
//! `--run-ignored all`.

use concord_model::properties::{always_names, LEADER_ELECTED, WRITE_COMMITS};
use concord_model::{check, ModelConfig, SearchOptions, Verdict};

fn search() -> SearchOptions {
    SearchOptions {
        threads: 1,
        // A mutant only needs one counterexample.
        stop_at_first_violation: true,
        ..SearchOptions::default()
    }
}

/// Runs `cfg` exhaustively and requires every `Always` property to hold and each of
/// `sometimes` to be found.
fn assert_passes(name: &str, cfg: ModelConfig, sometimes: &[&str]) {
    let model = cfg.clone().into_model();
    let outcome = check(cfg, &search());
    eprintln!("{name}: {}", outcome.to_json());
    // With `stop_at_first_violation` the outcome is never marked complete; the search
    // still visits every state unless it finds a counterexample.
    assert!(outcome.counterexamples.is_empty(), "{}", outcome.render());
    for property in always_names(&model) {
        assert_eq!(
            outcome.verdict(property),
            Some(Verdict::Holds),
            "{property}"
        );
    }
    for property in sometimes {
        assert_eq!(
            outcome.verdict(property),
            Some(Verdict::Found),
            "{property}"
        );
    }
}

/// Two elections in one term or two terms, one crash, no clients: votes, durability of
/// votes, split votes, a crash between two elections.
#[test]
#[ignore = "mutation testing only: scripts/mutants.sh"]
fn mutation_model_elections() {
    let mut cfg = ModelConfig {
        clients: 0,
        max_term: 2,
        max_log: 1,
        max_elections: 2,
        max_quorum_checks: 0,
        max_heartbeats: 0,
        crashes: 1,
        ..ModelConfig::default()
    };
    cfg.options.pre_vote = false;
    assert_passes("elections", cfg, &[LEADER_ELECTED]);
}

/// Pre-vote on, one election, one client write, one crash: the pre-vote round in the checker.
#[test]
#[ignore = "mutation testing only: scripts/mutants.sh"]
fn mutation_model_pre_vote() {
    let mut cfg = ModelConfig {
        clients: 1,
        ops_per_client: 1,
        max_term: 1,
        max_log: 2,
        max_elections: 1,
        max_quorum_checks: 0,
        max_heartbeats: 0,
        crashes: 1,
        ..ModelConfig::default()
    };
    cfg.options.pre_vote = true;
    assert_passes("pre-vote", cfg, &[LEADER_ELECTED, WRITE_COMMITS]);
}
