//! Property tests: clusters of 3 and 5 in-memory cores driven by random schedules of
//! deliveries (in any order, which reorders), drops, duplicates, replays of stale
//! messages, partial persistence, timer firings, proposals and crash-restarts that keep
//! only durable state. After every step: each live node's `check_invariants()`, Election
//! Safety, Log Matching, Leader Completeness and State Machine Safety across the cluster
//! (`ClusterObserver`), and the two disk-level properties of the model checker
//! (committed entries durable on a quorum; no electable log lacks one).
//!
//! The schedules are built to reach hard histories, not only long ones:
//!
//! - **divergent logs**: a run may start from logs that a random history of leaders left
//!   behind (Raft Figure 7's shapes: followers missing entries, holding extra entries of
//!   old terms, or both), so conflict resolution and the up-to-date check start at once;
//! - **crashes between two elections of one term**: an operation fires two nodes'
//!   election timers back to back (two candidates in one term), and another crashes and
//!   restarts a node at once (it must not vote twice in a term it already voted in);
//! - **stale messages**: a delivered message is delivered again later, possibly terms
//!   after it was sent;
//! - **swarm testing**: each run draws its own operation mix (some kinds switched off,
//!   the others weighted at random), so runs with no drops, or with nothing but
//!   elections and crashes, happen as well as the average mix.

mod common;

use common::cluster::Cluster;
use concord::core::*;
use proptest::prelude::*;

#[path = "common/proptest_cases.rs"]
mod proptest_cases;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use proptest_cases::cases;

#[derive(Clone, Debug)]
enum Op {
    /// Deliver the message at this position (modulo the number in flight).
    Deliver(usize),
    /// Lose it.
    Drop(usize),
    /// Deliver a copy and keep the original in flight.
    Duplicate(usize),
    /// Make up to `count` pending persistence items of a node durable.
    Persist(usize, usize),
    /// Fire a node's election timer.
    Election(usize),
    /// Fire a node's heartbeat timer (ignored by non-leaders).
    Heartbeat(usize),
    /// A client proposes `count` commands (see `apply` for the target).
    Propose(usize, usize),
    Crash(usize),
    Restart(usize),
    /// Deliver again a message delivered earlier (a stale duplicate).
    Replay(usize),
    /// Fire two nodes' election timers back to back: two candidates in one term.
    Elections(usize, usize),
    /// Crash a node and restart it at once (between two elections of one term, say).
    Reboot(usize),
    /// Ask a node for a snapshot (`Input::TakeSnapshot`): it compacts its whole applied
    /// log, so lagging nodes are caught up by InstallSnapshot.
    Snapshot(usize),
    /// A client reads (`Input::ReadIndex`) at a node that believes it leads (possibly a
    /// deposed one) or, half the time, at any node (a follower read). The cluster
    /// panics on an answer below what was committed when the read was issued.
    Read(usize, usize),
}

/// The kinds of operation, for swarm weights.
const KINDS: usize = 14;

/// The default mix, in `Op` declaration order (deliver, drop, duplicate, persist,
/// election, heartbeat, propose, crash, restart, replay, elections, reboot, snapshot,
/// read).
/// The kinds that make histories hard are rare here, so that most default schedules
/// still commit under faults; swarm mixes weight them up at random.
const DEFAULT_WEIGHTS: [u32; KINDS] = [80, 8, 6, 50, 4, 16, 20, 2, 4, 4, 1, 1, 8, 10];

/// The operation of kind `kind` with raw parameters (node indexes are taken modulo the
/// cluster size when applied, message positions modulo what is in flight).
fn op_of(kind: usize, n: usize, m: usize, i: usize, count: usize) -> Op {
    match kind {
        0 => Op::Deliver(i),
        1 => Op::Drop(i),
        2 => Op::Duplicate(i),
        3 => Op::Persist(n, 1 + count % 3),
        4 => Op::Election(n),
        5 => Op::Heartbeat(n),
        6 => Op::Propose(n, 1 + count % 2),
        7 => Op::Crash(n),
        8 => Op::Restart(n),
        9 => Op::Replay(i),
        10 => Op::Elections(n, m),
        11 => Op::Reboot(n),
        12 => Op::Snapshot(n),
        _ => Op::Read(n, m),
    }
}

/// The kind a draw in `0..sum(weights)` falls on.
fn kind_of(weights: &[u32; KINDS], draw: u32) -> usize {
    let mut acc = 0;
    for (kind, weight) in weights.iter().enumerate() {
        acc += weight;
        if draw < acc {
            return kind;
        }
    }
    KINDS - 1
}

fn op_strategy_weighted(weights: [u32; KINDS]) -> impl Strategy<Value = Op> {
    let total: u32 = weights.iter().sum();
    (0..total, 0usize..5, 0usize..5, 0usize..64, 0usize..6)
        .prop_map(move |(draw, n, m, i, c)| op_of(kind_of(&weights, draw), n, m, i, c))
}

fn op_strategy() -> impl Strategy<Value = Op> {
    op_strategy_weighted(DEFAULT_WEIGHTS)
}

/// Swarm weights: each kind is switched off with probability 1/4, else weighted 1–40;
/// deliveries and persistence always stay on (without them nothing happens at all).
fn swarm_weights() -> impl Strategy<Value = [u32; KINDS]> {
    prop::array::uniform14(prop_oneof![1 => Just(0u32), 3 => 1u32..40]).prop_map(|mut w| {
        w[0] = w[0].max(10);
        w[3] = w[3].max(5);
        w
    })
}

/// A swarm schedule: its own mix, then operations drawn from it.
fn swarm_schedule(max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    swarm_weights()
        .prop_flat_map(move |w| prop::collection::vec(op_strategy_weighted(w), 1..max_len))
}

/// Logs left behind by a random history of leaders (Figure 7's shapes). Each element
/// is one term: its leader, how many entries it appended, and for every node how far
/// past the common prefix it copied the leader's log (0: nothing).
#[derive(Clone, Debug)]
struct LeaderHistory(Vec<(usize, usize, Vec<usize>)>);

fn leader_history(size: usize) -> impl Strategy<Value = LeaderHistory> {
    prop::collection::vec(
        (
            0..size,
            1usize..4,
            // Half the nodes copy nothing of a term: that is what leaves conflicts.
            prop::collection::vec(prop_oneof![Just(0usize), 1usize..5], size),
        ),
        1..6,
    )
    .prop_map(LeaderHistory)
}

impl LeaderHistory {
    /// The log terms each node ends with, and the last term.
    fn logs(&self, size: usize) -> (Vec<Vec<u64>>, u64) {
        let mut logs: Vec<Vec<u64>> = vec![Vec::new(); size];
        for (term_index, (leader, appended, copies)) in self.0.iter().enumerate() {
            let term = term_index as u64 + 1;
            let leader = leader % size;
            let mut leader_log = logs[leader].clone();
            leader_log.extend(std::iter::repeat_n(term, *appended));
            for (node, log) in logs.iter_mut().enumerate() {
                if node == leader {
                    continue;
                }
                let common = log
                    .iter()
                    .zip(&leader_log)
                    .take_while(|(a, b)| a == b)
                    .count();
                let upto = (common + copies[node]).min(leader_log.len());
                if upto > common {
                    // The follower took the leader's entries up to `upto`, replacing its
                    // conflicting suffix (Raft §5.3).
                    *log = leader_log[..upto].to_vec();
                }
            }
            logs[leader] = leader_log;
        }
        (logs, self.0.len() as u64)
    }

    /// Installs the logs as every node's durable state: all nodes have seen the last
    /// term (so no one can lead a term that already had a leader) and voted in none.
    fn install(&self, cluster: &mut Cluster, size: usize) {
        let (logs, last_term) = self.logs(size);
        for (node, terms) in logs.iter().enumerate() {
            cluster.set_durable(node as u64 + 1, last_term, None, terms);
        }
    }
}

/// Applies one operation; node indexes are taken modulo the cluster size.
fn apply(cluster: &mut Cluster, op: &Op, size: usize) {
    let node = |n: usize| (n % size) as u64 + 1;
    match *op {
        Op::Deliver(i) => {
            if !cluster.network.is_empty() {
                let position = i % cluster.network.len();
                cluster.deliver_at(position);
            }
        }
        Op::Drop(i) => {
            if !cluster.network.is_empty() {
                let position = i % cluster.network.len();
                cluster.network.remove(position);
            }
        }
        Op::Duplicate(i) => {
            if !cluster.network.is_empty() {
                let position = i % cluster.network.len();
                let copy = cluster.network[position].clone();
                cluster.network.push(copy);
                let last = cluster.network.len() - 1;
                cluster.deliver_at(last);
            }
        }
        Op::Persist(n, count) => {
            cluster.persist(node(n), Some(count));
        }
        Op::Election(n) => cluster.fire(node(n), Timer::Election),
        Op::Heartbeat(n) => cluster.fire(node(n), Timer::Heartbeat),
        Op::Propose(n, count) => {
            // Clients follow leader hints, so proposals mostly reach a node that believes
            // it leads (possibly a deposed one); with no leader, any node.
            let leaders = cluster.leaders();
            let target = if leaders.is_empty() {
                node(n)
            } else {
                leaders[n % leaders.len()]
            };
            if cluster.is_up(target) {
                cluster.propose(target, count, None);
            }
        }
        Op::Crash(n) => {
            if cluster.is_up(node(n)) {
                cluster.crash(node(n));
            }
        }
        Op::Restart(n) => {
            if !cluster.is_up(node(n)) {
                cluster.restart(node(n));
            }
        }
        Op::Replay(i) => cluster.replay(i),
        Op::Elections(a, b) => {
            cluster.fire(node(a), Timer::Election);
            cluster.fire(node(b), Timer::Election);
        }
        Op::Reboot(n) => {
            if cluster.is_up(node(n)) {
                cluster.crash(node(n));
            }
            cluster.restart(node(n));
        }
        Op::Snapshot(n) => {
            if cluster.is_up(node(n)) {
                cluster.step(node(n), Input::TakeSnapshot);
            }
        }
        Op::Read(n, m) => {
            let leaders = cluster.leaders();
            let target = if leaders.is_empty() || m % 2 == 1 {
                node(n)
            } else {
                leaders[n % leaders.len()]
            };
            if cluster.is_up(target) {
                cluster.read(target, 1, None);
            }
        }
    }
}

fn new_cluster(size: usize) -> Cluster {
    let voters: Vec<u64> = (1..=size as u64).collect();
    let options = CoreOptions {
        // Keep no entry below a snapshot: a node behind one needs InstallSnapshot.
        snapshot_retained_entries: 0,
        ..CoreOptions::default()
    };
    let mut cluster = Cluster::new(&voters, &[], options);
    cluster.tracing = false;
    cluster
}

/// Runs a schedule, checking every property after every step (the observer panics with
/// the violation). Returns the highest commit index reached on any node.
fn run(size: usize, schedule: &[Op]) -> (Cluster, LogIndex) {
    run_from(size, None, schedule)
}

/// `run`, starting from the logs a leader history left behind (if given).
fn run_from(size: usize, history: Option<&LeaderHistory>, schedule: &[Op]) -> (Cluster, LogIndex) {
    let mut cluster = new_cluster(size);
    if let Some(history) = history {
        history.install(&mut cluster, size);
    }
    let mut highest = LogIndex(0);
    for op in schedule {
        apply(&mut cluster, op, size);
        cluster.observe();
        highest = highest.max(highest_commit(&cluster));
    }
    (cluster, highest)
}

fn highest_commit(cluster: &Cluster) -> LogIndex {
    cluster
        .nodes
        .values()
        .filter_map(|n| n.core.as_ref())
        .map(|c| c.commit_index())
        .max()
        .unwrap_or_default()
}

/// Liveness once faults stop: restart every node, then let election timers fire one node
/// at a time (as randomized timeouts would) with everything delivered and persisted in
/// between. Within 3 rounds per node a leader must exist and commit a new proposal.
fn recover_and_commit(cluster: &mut Cluster, size: usize) {
    let ids: Vec<u64> = (1..=size as u64).collect();
    for &id in &ids {
        if !cluster.is_up(id) {
            cluster.restart(id);
        }
    }
    cluster.stabilize();
    for round in 0..3 * size {
        if let [leader] = cluster.leaders()[..] {
            // A leader might be stale (deposed without knowing): heartbeats settle it.
            cluster.fire(leader, Timer::Heartbeat);
            cluster.stabilize();
            cluster.observe();
            if !cluster.core(leader).is_leader() {
                continue;
            }
            let before = cluster.accepted.len();
            cluster.propose(leader, 1, None);
            cluster.fire(leader, Timer::Heartbeat);
            cluster.stabilize();
            cluster.observe();
            let accepted = *cluster.accepted.values().last().expect("proposal accepted");
            assert_eq!(cluster.accepted.len(), before + 1);
            if cluster.core(leader).commit_index() >= accepted.index {
                return;
            }
            continue;
        }
        let id = ids[round % size];
        cluster.fire(id, Timer::Election);
        cluster.stabilize();
        cluster.observe();
    }
    panic!(
        "no leader committed a proposal after faults stopped\n{}",
        cluster.status()
    );
}

/// Cases per property test: `CONCORD_PROPTEST_CASES`, default 10,000 (about 40 s for the
/// whole file in the test profile on 2 cores; docs/verification.md has the numbers).
const DEFAULT_CASES: u32 = 10_000;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(DEFAULT_CASES),
        ..ProptestConfig::default()
    })]

    #[test]
    fn three_nodes_stay_safe_and_recover(schedule in prop::collection::vec(op_strategy(), 1..400)) {
        let (mut cluster, _) = run(3, &schedule);
        recover_and_commit(&mut cluster, 3);
    }

    #[test]
    fn five_nodes_stay_safe_and_recover(schedule in prop::collection::vec(op_strategy(), 1..400)) {
        let (mut cluster, _) = run(5, &schedule);
        recover_and_commit(&mut cluster, 5);
    }

    #[test]
    fn swarm_mixes_stay_safe_and_recover(size in prop_oneof![Just(3usize), Just(5usize)], schedule in swarm_schedule(300)) {
        let (mut cluster, _) = run(size, &schedule);
        recover_and_commit(&mut cluster, size);
    }

    #[test]
    fn divergent_logs_stay_safe_and_recover(
        size in prop_oneof![Just(3usize), Just(5usize)],
        history in leader_history(5),
        schedule in swarm_schedule(300),
    ) {
        let (mut cluster, _) = run_from(size, Some(&history), &schedule);
        recover_and_commit(&mut cluster, size);
    }
}

/// The generators are not vacuous: divergent histories really diverge, and swarm mixes
/// really differ from each other (sampled with a fixed seed).
#[test]
fn generators_reach_hard_shapes() {
    let mut runner = TestRunner::deterministic();
    let mut diverged = 0;
    let mut old_term_suffix = 0;
    for _ in 0..200 {
        let history = leader_history(5).new_tree(&mut runner).unwrap().current();
        let (logs, _) = history.logs(3);
        if logs.windows(2).any(|pair| pair[0] != pair[1]) {
            diverged += 1;
        }
        // Figure 7 (d)/(e)/(f): two logs holding different terms at one index.
        let conflicting = logs
            .iter()
            .any(|a| logs.iter().any(|b| a.iter().zip(b).any(|(x, y)| x != y)));
        if conflicting {
            old_term_suffix += 1;
        }
    }
    assert!(diverged > 100, "only {diverged}/200 histories diverged");
    assert!(
        old_term_suffix > 40,
        "only {old_term_suffix}/200 had conflicting entries"
    );
    let mut switched_off = 0;
    for _ in 0..100 {
        let weights = swarm_weights().new_tree(&mut runner).unwrap().current();
        if weights.contains(&0) {
            switched_off += 1;
        }
    }
    assert!(switched_off > 50, "swarm mixes rarely switch kinds off");
}

/// A seeded generator, so the liveness sample is reproducible.
struct Seeded(rand::rngs::SmallRng);

impl Seeded {
    fn new(seed: u64) -> Seeded {
        Seeded(rand::SeedableRng::seed_from_u64(seed))
    }

    fn below(&mut self, n: u64) -> usize {
        rand::Rng::random_range(&mut self.0, 0..n) as usize
    }

    /// An operation from the default mix.
    fn op(&mut self) -> Op {
        let total: u32 = DEFAULT_WEIGHTS.iter().sum();
        let kind = kind_of(&DEFAULT_WEIGHTS, self.below(u64::from(total)) as u32);
        let (n, m, i, c) = (self.below(5), self.below(5), self.below(64), self.below(6));
        op_of(kind, n, m, i, c)
    }
}

/// The property tests would pass vacuously if random schedules never got anywhere. This
/// samples 200 seeded schedules of 400 steps per cluster size (same operation mix as the
/// property tests), counts how many commit a client entry *during* the faults (index ≥ 2:
/// index 1 is the first leader's configuration entry), and requires every one of them to
/// commit a new entry once the faults stop. Measured numbers: docs/verification.md.
#[test]
fn random_schedules_make_progress() {
    for size in [3usize, 5] {
        let runs = 200;
        let mut committed_under_faults = 0;
        let mut installed = 0;
        for seed in 0..runs {
            let mut rng = Seeded::new(seed * 7919 + size as u64);
            let schedule: Vec<Op> = (0..400).map(|_| rng.op()).collect();
            let (mut cluster, highest) = run(size, &schedule);
            if highest >= LogIndex(2) {
                committed_under_faults += 1;
            }
            if cluster.restores > 0 {
                installed += 1;
            }
            recover_and_commit(&mut cluster, size);
        }
        println!(
            "{size} nodes: {committed_under_faults}/{runs} schedules committed a client entry \
             under faults; {runs}/{runs} committed after the faults stopped; {installed}/{runs} \
             installed a snapshot under faults"
        );
        // Snapshots are rare in the mix, but a lagging node must install one sometimes,
        // or the property tests say nothing about InstallSnapshot.
        assert!(installed > 0, "no schedule installed a snapshot");
        // The hard operations (two candidates at once, reboots, stale replays) cost
        // progress under faults: measured 34–94 of 200 (docs/verification.md); a tenth
        // of the runs committing is the floor.
        assert!(
            committed_under_faults * 10 >= runs,
            "only {committed_under_faults}/{runs} random schedules committed a client entry"
        );
    }
}
