//! A few chaos seeds for mutation testing (`scripts/mutants.sh`, docs/verification.md
//! "Mutation testing"): short enough to run once per mutant. Ignored in the ordinary test
//! run, which runs the full CI profile in `chaos.rs`; the mutation script runs it with
//! `--run-ignored all`.

use concord_chaos::{run_seed, NemesisSet, RunConfig};

fn assert_seed_passes(seed: u64, nodes: usize) {
    let report = run_seed(&RunConfig {
        nodes,
        nemeses: NemesisSet::all(),
        ops: 300,
        ..RunConfig::new(seed)
    });
    assert!(
        report.passed(),
        "seed {seed} on {nodes} nodes: verdict {}, violations {:?}, lost {:?}",
        report.verdict_name(),
        report.violations,
        report.lost_acked_writes
    );
    assert!(
        report.ok * 2 > report.ops,
        "seed {seed}: mostly failures ({} ok of {})",
        report.ok,
        report.ops
    );
}

/// Every nemesis, 3 nodes then 5, fixed seeds (the same as the CI profile's combined runs).
#[test]
#[ignore = "mutation testing only: scripts/mutants.sh"]
fn mutation_chaos_seeds() {
    for seed in 500..503 {
        assert_seed_passes(seed, 3);
    }
    assert_seed_passes(600, 5);
}
