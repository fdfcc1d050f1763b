//! The bounded model check that CI runs, plus a state-count tripwire.

use concord_model::properties::{
    always_names, LEADER_ELECTED, LEADER_STEPS_DOWN, RECOVERY_CATCHES_UP, WRITE_COMMITS,
};
use concord_model::{check, ModelConfig, SearchOptions, Verdict};

/// The CI check: the default model minus the check-quorum run (which roughly
/// quadruples the space; `leader steps down` is covered by the teeth configurations
/// and by the full default check below).
fn ci_config() -> ModelConfig {
    ModelConfig {
        max_quorum_checks: 0,
        ..ModelConfig::default()
    }
}

/// Unique states of the CI check. A tripwire: if a change to the core or the glue moves
/// it, make sure the change was meant to alter the explored behaviour, then update it.
const CI_UNIQUE_STATES: usize = 483_685;

#[test]
fn default_configuration_covers_a_crash_and_two_client_operations() {
    let cfg = ModelConfig::default();
    assert!(cfg.crashes >= 1);
    assert!(cfg.clients * cfg.ops_per_client >= 2);
    assert_eq!(cfg.servers, 3);
    let ci = ci_config();
    assert!(ci.crashes >= 1 && ci.clients * ci.ops_per_client >= 2);
}

#[test]
fn bounded_check_passes_exhaustively() {
    let options = SearchOptions {
        threads: 2,
        ..SearchOptions::default()
    };
    let outcome = check(ci_config(), &options);
    eprintln!("{}", outcome.render());
    eprintln!("{}", outcome.to_json());
    assert!(outcome.complete);
    assert!(outcome.counterexamples.is_empty(), "{}", outcome.render());
    let model = ci_config().into_model();
    for name in always_names(&model) {
        assert_eq!(outcome.verdict(name), Some(Verdict::Holds), "{name}");
    }
    for name in [LEADER_ELECTED, WRITE_COMMITS, RECOVERY_CATCHES_UP] {
        assert_eq!(outcome.verdict(name), Some(Verdict::Found), "{name}");
    }
    assert_eq!(
        outcome.unique_states, CI_UNIQUE_STATES,
        "state-count tripwire"
    );
}

/// The full default `concord-model check` (about 1.8 million states). Run it with
/// `cargo test --release -p concord-model --test check -- --ignored`, or better with the
/// binary: `cargo run --release -p concord-model -- check --threads 2`.
#[test]
#[ignore = "takes minutes; run in release"]
fn full_default_check_passes() {
    let options = SearchOptions {
        threads: 2,
        ..SearchOptions::default()
    };
    let outcome = check(ModelConfig::default(), &options);
    assert!(outcome.passed() && outcome.complete, "{}", outcome.render());
    assert_eq!(outcome.verdict(LEADER_STEPS_DOWN), Some(Verdict::Found));
}

#[test]
fn a_leader_steps_down_by_check_quorum() {
    let cfg = ModelConfig {
        clients: 0,
        crashes: 0,
        ..ModelConfig::default()
    };
    let outcome = check(cfg, &SearchOptions::default());
    assert!(outcome.counterexamples.is_empty(), "{}", outcome.render());
    assert_eq!(outcome.verdict(LEADER_STEPS_DOWN), Some(Verdict::Found));
}

#[test]
fn json_summary_has_the_documented_fields() {
    let cfg = ModelConfig {
        clients: 0,
        crashes: 0,
        max_quorum_checks: 0,
        ..ModelConfig::default()
    };
    let outcome = check(cfg, &SearchOptions::default());
    let json: serde_json::Value = serde_json::from_str(&outcome.to_json()).unwrap();
    assert!(json["unique_states"].as_u64().unwrap() > 0);
    assert!(json["max_depth"].as_u64().unwrap() > 0);
    assert!(json["seconds"].as_f64().is_some());
    assert_eq!(json["properties"]["election safety"], "holds");
    assert_eq!(json["properties"]["a leader is elected"], "found");
    assert_eq!(json["properties"]["a client write commits"], "not found");
}
