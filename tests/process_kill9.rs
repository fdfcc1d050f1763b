//! Real processes, kill -9: a three-node cluster as three OS processes on loopback,
//! each node on fjall with fsync on (the runtime's group commit), the TCP Raft
//! transport and the client service, exactly as `examples/counter.rs` wires a node.
//!
//! The parent re-executes this test binary as each node (node mode, selected by the
//! `CONCORD_KILL9_NODE` environment variable: `kill9_node_child` below), runs
//! concurrent KV clients against them over the client protocol, and a nemesis that
//! SIGKILLs a node — the leader or a follower, and now and then a majority or every
//! node at once — at random moments, restarts it on the same data directory after a
//! random pause, and repeats. Then it heals, reads every key, writes once, and checks
//! that no acknowledged write was lost, that the whole history is linearizable
//! (`concord-linearizability`, kv model), that every replica converges to the same
//! applied state, that no two nodes led one term, that replicas agree at every
//! checkpoint of their applied entries, and that no node died on its own or entered its
//! error state.
//!
//! Knobs (environment):
//!
//! - `CONCORD_KILL9_SEED=N` replays a run's schedule (kills, targets, pauses, the
//!   workload's operation mix); by default each run draws a fresh seed and prints it.
//! - `CONCORD_KILL9_CYCLES=N` kill/restart cycles (default 5; `CONCORD_LONG_TESTS=1`
//!   makes it 1,000). `scripts/kill9.sh` runs the long profile in release mode.
//! - `CONCORD_KILL9_OUT=DIR` keeps the run's directory in `DIR/seed-N` (history as
//!   JSON lines for `lincheck check --model kv`, the nemesis log, node logs and data).
//!   By default it is a temporary directory under the target directory, kept only when
//!   the run fails.

#![cfg(feature = "fjall")]

mod kill9;

/// Node mode: runs one node until the parent kills it. A no-op in a normal test run.
#[test]
fn kill9_node_child() {
    if let Some(spec) = kill9::node::spec_from_env() {
        kill9::node::run(spec);
    }
}

#[test]
fn kill9_three_processes_keep_every_acknowledged_write() {
    if std::env::var_os(kill9::wire::NODE_ENV).is_some() {
        return;
    }
    let config = kill9::RunConfig::from_env().unwrap_or_else(|error| panic!("{error}"));
    let report = kill9::run(&config);
    eprintln!("{}", report.summary());
    if !report.passed() {
        eprintln!("{}", report.schedule_text(60));
        panic!(
            "kill9 failed for seed {} ({} violations, {} lost writes, verdict {:?}); \
             history, nemesis log, node logs and data kept in {}",
            config.seed,
            report.violations.len(),
            report.lost.len(),
            report.verdict,
            report.dir.display()
        );
    }
}

/// Teeth: the same run with nodes that keep their log and hard state in memory only,
/// as if no write ever reached the disk. A restarted node comes back empty at term 0:
/// after the fourth cycle, which kills every node, the cluster starts over from
/// nothing (and after a majority kill it may, when one of the empty nodes wins the
/// election, erase the third node's log). The checks must catch that.
#[test]
fn kill9_teeth_nodes_that_forget_their_log_lose_acknowledged_writes() {
    if std::env::var_os(kill9::wire::NODE_ENV).is_some() {
        return;
    }
    let mut config = kill9::RunConfig::from_env().unwrap_or_else(|error| panic!("{error}"));
    config.durable = false;
    config.keep_failures = false;
    config.cycles = 5;
    // A cluster that lost its data may never serve again: no need to wait long to see.
    config.liveness_bound = std::time::Duration::from_secs(5);
    let report = kill9::run(&config);
    eprintln!("{}", report.summary());
    assert!(
        !report.passed(),
        "seed {}: the checks missed the data loss of nodes that forget their log on restart",
        config.seed
    );
}
