//! The chaos suite's CI profile: every nemesis alone and combined, on 3 and 5 nodes,
//! the teeth (fsync off + power loss must lose acknowledged writes, and the suite must
//! say so), determinism, and the CLI contract.

use std::process::Command;

use concord_chaos::{run_seed, Nemesis, NemesisSet, RunConfig, SeedReport};
use concord_linearizability::Verdict;

fn config(seed: u64, nemeses: NemesisSet, nodes: usize) -> RunConfig {
    RunConfig {
        nodes,
        nemeses,
        ops: 600,
        ..RunConfig::new(seed)
    }
}

/// How many fault-log lines of these reports contain `text` (the vacuity checks).
fn lines_containing(reports: &[SeedReport], text: &str) -> usize {
    reports
        .iter()
        .flat_map(|report| &report.faults)
        .filter(|line| line.contains(text))
        .count()
}

fn describe(report: &SeedReport) -> String {
    format!(
        "seed {} ({} on {} nodes): verdict {}, violations {:?}, lost {:?}\nfaults:\n{}",
        report.config.seed,
        report.config.nemeses,
        report.config.nodes,
        report.verdict_name(),
        report.violations,
        report.lost_acked_writes,
        report.faults.join("\n")
    )
}

fn assert_seeds_pass(
    seeds: std::ops::Range<u64>,
    nemeses: NemesisSet,
    nodes: usize,
) -> Vec<SeedReport> {
    assert_configs_pass(seeds.map(|seed| config(seed, nemeses.clone(), nodes)))
}

/// Runs each configuration; each must pass, with faults injected and most operations
/// completed.
fn assert_configs_pass(configs: impl IntoIterator<Item = RunConfig>) -> Vec<SeedReport> {
    let mut reports = Vec::new();
    for config in configs {
        let report = run_seed(&config);
        assert!(report.passed(), "{}", describe(&report));
        // Not vacuous: faults happened and most operations completed.
        if !config.nemeses.0.is_empty() {
            assert!(
                report.faults.len() > 2,
                "no fault injected: {}",
                describe(&report)
            );
        }
        assert!(
            report.ok * 2 > report.ops,
            "mostly failures: {}",
            describe(&report)
        );
        reports.push(report);
    }
    reports
}

#[test]
fn partitions_on_three_nodes() {
    assert_seeds_pass(0..8, NemesisSet(vec![Nemesis::Partition]), 3);
}

#[test]
fn kills_on_three_nodes() {
    assert_seeds_pass(100..108, NemesisSet(vec![Nemesis::Kill]), 3);
}

#[test]
fn power_loss_with_fsync_on_three_nodes() {
    assert_seeds_pass(200..208, NemesisSet(vec![Nemesis::Crash]), 3);
}

#[test]
fn pauses_on_three_nodes() {
    assert_seeds_pass(300..308, NemesisSet(vec![Nemesis::Pause]), 3);
}

#[test]
fn clock_drift_on_three_nodes() {
    assert_seeds_pass(400..408, NemesisSet(vec![Nemesis::Skew]), 3);
}

/// The nemeses that can make a lease read stale: clocks at different rates, a leader
/// cut off or paused while the others elect, kills.
fn lease_nemeses() -> NemesisSet {
    NemesisSet(vec![
        Nemesis::Skew,
        Nemesis::Partition,
        Nemesis::Pause,
        Nemesis::Kill,
    ])
}

/// Lease reads (F19) with the drift bound set honestly (clocks between half and double
/// speed: 100 %; every clock drifts from the start): every history linearizable. Teeth:
/// `teeth_a_lease_without_a_drift_bound_serves_a_stale_read` below, and
/// `tests/runtime_clock.rs`.
#[test]
fn lease_reads_under_clock_drift() {
    for seed in 420..426 {
        let report = run_seed(&RunConfig {
            lease_reads: true,
            ..config(seed, lease_nemeses(), 3)
        });
        assert!(report.passed(), "{}", describe(&report));
        assert!(report.ok * 2 > report.ops, "{}", describe(&report));
    }
}

/// Teeth for the lease's drift bound: with lease reads, the `depose` nemesis cuts the
/// leader off with its clock at half speed and the others' at double (the worst case a
/// 100 % bound covers), and clients leave a silent node after 200 ms. With the bound at
/// 0 % (a lease as long as the election timeout) a stale read is served that the
/// checker catches; with 100 % the same seed passes. Found by a search: 4 of seeds
/// 1..801 fail at 0 % (396, 589, 594, 599; 2026-12-04, after payload reads left the
/// driver's task and changed the runs — seed 49, 1 of 1..201 before, no longer did),
/// and those four pass at 100 % (docs/verification.md, "Reads"). The test takes the
/// first of them that fails, so one more change of the runs does not blunt it at once.
/// The slow writes of 2026-12-05 changed the runs again: none of the four fails now;
/// 606 and 654 of 1..801 and 1575 of 801..1601 do (each passes at 100 %).
#[test]
fn teeth_a_lease_without_a_drift_bound_serves_a_stale_read() {
    let lease = |seed, drift| RunConfig {
        lease_reads: true,
        clock_drift_percent: drift,
        client_attempt_timeout: std::time::Duration::from_millis(200),
        ..config(seed, NemesisSet(vec![Nemesis::Skew, Nemesis::Depose]), 3)
    };
    let caught = [606, 654, 1575, 589, 599, 396, 594]
        .into_iter()
        .find(|&seed| run_seed(&lease(seed, 0)).verdict == Verdict::NotLinearizable)
        .expect("a lease without a drift bound serves a stale read on one of the seeds");
    let report = run_seed(&lease(caught, 100));
    assert!(report.passed(), "{}", describe(&report));
}

/// Lease reads across voters that restart (`amnesia`), at the runtime's default drift
/// bound (10 %, clocks within it): the clients only read (the leader appends nothing
/// and its lease is renewed); a candidate is cut off from the leader and restarted, and
/// just before its first campaign the leader is cut off from the nodes and enough
/// voters for the candidate to win restart; then half the clients write again. A
/// restarted voter that grants votes before its first election timeout
/// (`restart-vote-guard-off`) elects the candidate within the old leader's lease, and a
/// reader still on the old leader reads stale: 10 of the 60 seeds fail (5 of the 40
/// three-node seeds, 5 of the 20 five-node ones, one of them by the checker's timeout;
/// 2026-12-04). With the guard the candidate leads an election timeout after the
/// restart at the soonest (297 ms, clocks up to 10 % fast), past the lease; 200
/// three-node and 100 five-node seeds more pass (docs/verification.md).
#[test]
fn lease_reads_across_restarted_voters() {
    let amnesia = |seed, nodes| RunConfig {
        ops: 1200,
        clients: 8,
        lease_reads: true,
        clock_drift_percent: 10,
        clock_rates_percent: 10,
        max_election_delay: std::time::Duration::from_millis(50),
        client_attempt_timeout: std::time::Duration::from_millis(50),
        ..config(seed, NemesisSet(vec![Nemesis::Amnesia]), nodes)
    };
    let reports = assert_configs_pass(
        (1500..1540)
            .map(|seed| amnesia(seed, 3))
            .chain((1550..1570).map(|seed| amnesia(seed, 5))),
    );
    // Not vacuous: the voters restarted just before the candidate's campaign, and
    // a new leader followed.
    let seen = |text: &str| lines_containing(&reports, text);
    let restarted = seen("the odd clients write again");
    let led = seen("ms after the restart");
    assert!(
        restarted >= 300 && led >= 250,
        "{restarted} restarts, {led} new leaders after them (60 seeds)"
    );
}

/// An old leader with a longer log of an older term against followers holding newer
/// committed entries, its successor killed at the heal (the log up-to-date rule's
/// election; the teeth variant `vote-compares-index-only` fails here).
#[test]
fn depositions_on_three_nodes() {
    assert_seeds_pass(700..708, NemesisSet(vec![Nemesis::Depose]), 3);
}

/// A node's disk fails (usually the leader's): it must step aside at once, and the
/// others must elect a leader of a later term and commit past it while it is down
/// (`run.rs`, `DiskWatch`). Not vacuous: most seeds see a failure and the take-over.
#[test]
fn disk_failures_on_three_nodes() {
    let reports = assert_seeds_pass(800..808, NemesisSet(vec![Nemesis::Disk]), 3);
    let routed_around = reports
        .iter()
        .filter(|report| {
            let seen = |text: &str| report.faults.iter().any(|f| f.contains(text));
            seen(" failed (was Leader") && seen("past the failed node's")
        })
        .count();
    assert!(
        routed_around * 2 >= reports.len(),
        "only {routed_around} of {} seeds saw a failed leader routed around",
        reports.len()
    );
}

/// Election churn: pre-vote off, 100 ms election timeouts (+ up to 50 ms), and half of
/// the election messages held back or replayed 250–1500 ms later (`stale_per_mille`
/// 50, ten times that for election traffic), under every nemesis: votes and appends of
/// the term just left meet their nodes constantly. The teeth variant
/// `stale-vote-response-counted` (a grant of an older term counts) fails seeds 146
/// and 149 here (Leader Completeness on the cores, replicas that never converge); the
/// correct code passes them (docs/verification.md, teeth table).
#[test]
fn stale_votes_under_election_churn() {
    // The eleven nemeses `all` meant when these seeds were chosen (before `lag` and
    // `rolling`), so that the seeds keep drawing the faults the teeth row was measured
    // with.
    let nemeses = NemesisSet(
        NemesisSet::all()
            .0
            .into_iter()
            .filter(|n| !matches!(n, Nemesis::Lag | Nemesis::Rolling))
            .collect(),
    );
    for seed in 140..152 {
        let churn = RunConfig {
            pre_vote: false,
            election_timeout: std::time::Duration::from_millis(100),
            max_election_delay: std::time::Duration::from_millis(50),
            stale_per_mille: 50,
            ..config(seed, nemeses.clone(), 3)
        };
        let report = run_seed(&churn);
        assert!(report.passed(), "{}", describe(&report));
    }
}

/// Snapshots every 3 applied entries with nothing retained below them, five nodes, and
/// a fifth of the messages held back or replayed 250–1500 ms later (`stale_per_mille`
/// 200): appends overtake one another and the InstallSnapshots sent between them, so a
/// follower installs a snapshot whose last entry it already holds, with entries after
/// it — the case where Raft keeps the suffix (§7) and must not count it committed. The
/// teeth variant `install-commits-kept-suffix` (the kept suffix counted committed)
/// fails seeds 4008, 4012 and 4017 here with CD's first version (4008, the first, was
/// re-checked after its acknowledgement rule) (CD on the cores: a follower counts committed
/// an entry durable on 2 of the 5 voters); the correct code passes all 24 (and 200 of
/// 200 of the same profile, docs/verification.md). Every nemesis but `disk`, whose
/// deadline for a new leader the held-back traffic stretches past.
#[test]
fn snapshot_installs_over_reordered_appends_on_five_nodes() {
    let nemeses = NemesisSet(
        NemesisSet::all()
            .0
            .into_iter()
            .filter(|n| *n != Nemesis::Disk)
            .collect(),
    );
    let mut installs = 0;
    for seed in 4000..4024 {
        let report = run_seed(&RunConfig {
            snapshot_distance: 3,
            snapshot_retained: 0,
            stale_per_mille: 200,
            ..config(seed, nemeses.clone(), 5)
        });
        assert!(report.passed(), "{}", describe(&report));
        installs += report.snapshot_installs;
    }
    assert!(
        installs >= 24,
        "only {installs} snapshot installs in 24 seeds"
    );
}

/// A lagging link (`lag`): the leader is cut off from all but one follower, whose link
/// from it is held, not cut; a few milliseconds after that follower follows the leader
/// the others elected, the old leader's held AppendEntries of the older term arrive at
/// once, carrying entries the new leader overwrote at indexes the follower does not yet
/// know are committed. The teeth variant `stale-term-append-accepted` (a follower takes
/// an AppendEntries of an older term) fails these seeds with State Machine Safety on
/// the cores (`n2 committed 4.92 where 5.92 was committed before`) and replicas that
/// never converge (docs/verification.md, teeth table); the correct code passes them.
/// Not vacuous: the release follows the held follower's move to a new leader in 46 of
/// the 76 faults (2026-12-04); in most of the others the held follower won the election
/// itself, and its held link is released at heal instead.
#[test]
fn lagging_links_on_three_and_five_nodes() {
    let lag = NemesisSet(vec![Nemesis::Lag]);
    let mut reports = assert_seeds_pass(1300..1308, lag.clone(), 3);
    reports.extend(assert_seeds_pass(1350..1354, lag, 5));
    let released = lines_containing(&reports, "follows a new leader: release in");
    assert!(
        released >= 40,
        "only {released} lag faults were released after a new leader (12 seeds)"
    );
}

/// A rolling partition (`rolling`): the leader is cut off, then what the candidate that
/// has the votes to win the next election sends (so it wins and appends alone), then the
/// first leader comes back while the second is still out — Raft's Figure 8, on the real runtime. With
/// one entry per message, the returning leader's entries of its older term are
/// acknowledged before its new term's first entry. The teeth variant
/// `figure8-commit-old-term` (a leader counts an older term's entry committed by its
/// replicas) fails these seeds with Electable Completeness on the cores (`EC: n2 lacks
/// committed entry 4.46 and is electable`); the correct code passes them
/// (docs/verification.md, teeth table). Not vacuous: candidates are cut off with the
/// votes to win, and when the first leader comes back the second alone holds entries of
/// the newest term (counted from the fault log).
#[test]
fn rolling_partitions_figure_8() {
    let rolling = NemesisSet(vec![Nemesis::Rolling]);
    let mut reports = assert_configs_pass((1400..1408).map(|seed| RunConfig {
        max_entries_per_message: 1,
        ..config(seed, rolling.clone(), 3)
    }));
    reports.extend(assert_seeds_pass(1410..1414, rolling.clone(), 3));
    reports.extend(assert_seeds_pass(1450..1453, rolling, 5));
    let seen = |text: &str| lines_containing(&reports, text);
    assert!(
        seen("has the votes to win") >= 60,
        "too few candidates cut off"
    );
    // The shape itself: when the first leader came back, the second alone held entries
    // of the newest term.
    let shapes = seen("alone holds entries of the newest term");
    assert!(
        shapes >= 150,
        "Figure 8's shape reached only {shapes} times"
    );
}

/// Membership churn (two spare nodes added as voters or learners, voters removed or
/// replaced through joint consensus, learners dropped) and leadership transfers (half
/// of them to a target cut off, which must time out), alone and mixed with crashes,
/// kills and partitions, on 3 and 5 nodes. Not vacuous: changes complete and
/// leadership is handed over.
#[test]
fn membership_and_transfers() {
    let churn = NemesisSet(vec![Nemesis::Membership, Nemesis::Transfer]);
    let mixed = NemesisSet(vec![
        Nemesis::Partition,
        Nemesis::Kill,
        Nemesis::Crash,
        Nemesis::Membership,
        Nemesis::Transfer,
    ]);
    let mut reports = assert_seeds_pass(1000..1006, churn.clone(), 3);
    reports.extend(assert_seeds_pass(1010..1016, mixed, 3));
    reports.extend(assert_seeds_pass(1020..1023, churn, 5));
    let seen = |text: &str| lines_containing(&reports, text);
    assert!(
        seen("operator: ") >= 10,
        "the operator was asked too little"
    );
    assert!(seen(": now ") >= 5, "too few membership changes completed");
    assert!(seen("handed to") >= 2, "too few transfers completed");
}

/// The fenced reset of the peers (F17): a minority of the voters is cut off and reset
/// to itself while the rest go on as the old group; at heal the old members must be
/// fenced within ten election rounds, never lead again, and the survivors lead the new
/// epoch and agree (3 and 5 nodes, alone and with partitions and kills afterwards).
/// Not vacuous: every seed resets, and the teeth variant `reset-fence-removed` fails
/// every seed (docs/verification.md).
#[test]
fn reset_fences_the_old_members() {
    let reset = NemesisSet(vec![Nemesis::Reset]);
    let mixed = NemesisSet(vec![Nemesis::Reset, Nemesis::Partition, Nemesis::Kill]);
    let mut reports = assert_seeds_pass(1100..1106, reset.clone(), 3);
    reports.extend(assert_seeds_pass(1110..1114, mixed, 3));
    reports.extend(assert_seeds_pass(1120..1123, reset, 5));
    let resets = reports
        .iter()
        .filter(|report| report.reset_survivors.is_some())
        .count();
    assert!(resets >= 10, "only {resets} of 13 seeds reset the peers");
    assert!(lines_containing(&reports, ": reset to ") > 0);
}

/// A wiped disk (F11, F14): a voter loses power and its disk; the operator brings it
/// back under a new id (same address, next `idx`) in place of the old one, and it
/// rebuilds from the leader — from its log, or, in the snapshot profile, from a
/// snapshot. Alone and mixed with partitions, kills and power loss, 3 and 5 nodes. Not
/// vacuous: replacements complete and wiped nodes install snapshots.
#[test]
fn wiped_nodes_come_back_under_new_ids() {
    let wipe = NemesisSet(vec![Nemesis::Wipe]);
    let mixed = NemesisSet(vec![
        Nemesis::Wipe,
        Nemesis::Partition,
        Nemesis::Kill,
        Nemesis::Crash,
    ]);
    let mut reports = assert_seeds_pass(1200..1204, wipe.clone(), 3);
    reports.extend(assert_seeds_pass(1210..1214, mixed, 3));
    reports.extend(assert_seeds_pass(1220..1222, wipe.clone(), 5));
    let mut installs = 0;
    for seed in 1230..1234 {
        let report = run_seed(&RunConfig {
            snapshot_distance: 20,
            snapshot_retained: 5,
            ..config(seed, wipe.clone(), 3)
        });
        assert!(report.passed(), "{}", describe(&report));
        installs += report.snapshot_installs;
        reports.push(report);
    }
    let replaced = reports
        .iter()
        .flat_map(|report| &report.faults)
        .filter(|line| line.contains(" in place of ") && line.contains(": now "))
        .count();
    assert!(replaced >= 8, "only {replaced} wiped nodes were replaced");
    assert!(installs >= 2, "only {installs} snapshot installs");
}

/// Teeth for the wipe rule: the same nemesis with the operator error it forbids — the
/// wiped node back under its old id, not replaced, wipe after wipe — must fail a seed by
/// a property (leader completeness, state machine safety), not only by a digest. Under
/// its old id a wiped node is never caught up (the leader's match index for it says it
/// holds entries it lost, so its rejections look stale): the group runs a copy short
/// without knowing, and the next wipe loses committed entries. (A single such wipe shows
/// as replicas that never converge; docs/verification.md, "Wiped disks".)
#[test]
fn teeth_a_wiped_node_back_under_its_old_id_is_caught() {
    let wipe = NemesisSet(vec![Nemesis::Wipe]);
    let caught = (1..10).find_map(|seed| {
        let report = run_seed(&RunConfig {
            wipe_keeps_id: true,
            ops: 200,
            check_timeout: std::time::Duration::from_secs(5),
            ..config(seed, wipe.clone(), 3)
        });
        (!report.violations.is_empty()).then_some(report)
    });
    let report = caught.expect("no seed of 1..10 caught a wiped node under its old id");
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.contains("LC:") || v.contains("state machine safety")),
        "{}",
        describe(&report)
    );
}

#[test]
fn all_nemeses_on_three_nodes() {
    assert_seeds_pass(500..508, NemesisSet::all(), 3);
}

#[test]
fn all_nemeses_on_five_nodes() {
    assert_seeds_pass(600..608, NemesisSet::all(), 5);
}

/// Every nemesis with one entry per message: a wiped node's replacement catches up
/// slowly, so a leader's failure can fall while it is not yet a voter in its own
/// configuration — yet one in the others', whose candidates need its vote. Seed 5830
/// has that shape (the `disk` nemesis fails the leader n3 while `n1:7000:1` catches up):
/// with a core in which such a server kept its silent leader for ever (no election
/// timer for non-voters, so every pre-vote was ignored), no other node led for 5.6 s and
/// the `disk` take-over check failed (docs/verification.md, "Found by the chaos
/// suite"); in this test's run without the fix, seed 5828 lost all liveness first (no
/// read or write within 30 s of healing). A regression pinned to seeds: a change of the runtime's schedule may move
/// the shape off them; the exact-action test
/// `a_server_not_yet_a_voter_forgets_a_silent_leader_and_grants_pre_votes` guards the
/// rule itself.
#[test]
fn a_leader_fails_while_a_replacement_catches_up() {
    assert_configs_pass((5826..5834).map(|seed| RunConfig {
        max_entries_per_message: 1,
        ..config(seed, NemesisSet::all(), 3)
    }));
}

/// The snapshot-heavy profile: every node snapshots each 20 applied entries and keeps
/// 5 below it, so a follower cut off by a partition, a crash or a pause comes back to a
/// leader whose log no longer holds what it needs, and is caught up by snapshot install
/// — under every nemesis, with all checks on. Not vacuous: installs happen.
#[test]
fn snapshot_installs_under_all_nemeses() {
    let mut installs = 0;
    for (seeds, nodes) in [(900..908, 3), (950..954, 5)] {
        for seed in seeds {
            let report = run_seed(&RunConfig {
                snapshot_distance: 20,
                snapshot_retained: 5,
                ..config(seed, NemesisSet::all(), nodes)
            });
            assert!(report.passed(), "{}", describe(&report));
            assert!(report.snapshots_saved > 0, "{}", describe(&report));
            installs += report.snapshot_installs;
        }
    }
    assert!(
        installs >= 6,
        "only {installs} snapshot installs in 12 seeds"
    );
}

#[test]
fn no_faults_no_failures() {
    let report = run_seed(&config(7, NemesisSet::none(), 3));
    assert!(report.passed(), "{}", describe(&report));
    assert_eq!(report.indeterminate, 0, "{}", describe(&report));
    assert_eq!(report.failed, 0, "{}", describe(&report));
}

/// JRAFT_GUIDE_NOTES F22: with fsync off, a power loss on a majority loses acknowledged
/// writes. The suite must catch it on some seed, and the same seeds must pass with
/// fsync on.
#[test]
fn teeth_power_loss_without_fsync_loses_acknowledged_writes() {
    let crash = NemesisSet(vec![Nemesis::Crash]);
    let mut caught = None;
    for seed in 0..6 {
        if caught.is_none() {
            let mut unsynced = config(seed, crash.clone(), 3);
            unsynced.sync = false;
            let report = run_seed(&unsynced);
            // Lost writes, a non-linearizable history, or replicas that diverged.
            let lost_data = !report.lost_acked_writes.is_empty()
                || report.verdict == Verdict::NotLinearizable
                || report
                    .violations
                    .iter()
                    .any(|v| v.contains("state machine safety") || v.contains("converge"));
            if lost_data {
                caught = Some(seed);
            }
        }
        let synced = run_seed(&config(seed, crash.clone(), 3));
        assert!(synced.passed(), "with fsync: {}", describe(&synced));
    }
    assert!(caught.is_some(), "no seed lost data with fsync off");
}

/// In one process too, and with other seeds running on other threads: nothing
/// process-global (tokio task ids, allocation order) leaks into a run.
#[test]
fn a_seed_replays_in_process_while_other_seeds_run() {
    let first = run_seed(&config(21, NemesisSet::all(), 3));
    let noise = std::thread::spawn(|| run_seed(&config(22, NemesisSet::all(), 5)).digest);
    let second = run_seed(&config(21, NemesisSet::all(), 3));
    let _ = noise.join();
    assert_eq!(first.digest, second.digest);
    assert_eq!(first.faults, second.faults);
    assert_eq!(
        concord_linearizability::to_jsonl(&first.history),
        concord_linearizability::to_jsonl(&second.history)
    );
}

fn chaos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_concord-chaos"))
}

fn last_json(output: &std::process::Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {stdout}"))
}

/// The same seed twice (fresh processes, as a user reproduces a seed) gives the same
/// history digest; a different seed gives a different one.
#[test]
fn a_seed_replays_to_the_same_history() {
    let run = |seeds: &str| {
        let output = chaos()
            .args([
                "run", "--seeds", seeds, "--ops", "300", "--json", "--jobs", "1",
            ])
            .output()
            .expect("runs");
        assert!(output.status.success(), "{output:?}");
        last_json(&output)["history_digest"]
            .as_str()
            .expect("digest")
            .to_string()
    };
    let first = run("11");
    assert_eq!(first, run("11"));
    assert_ne!(first, run("12"));
}

#[test]
fn json_summary_has_the_documented_fields() {
    let output = chaos()
        .args([
            "run",
            "--seeds",
            "3..5",
            "--nemesis",
            "partition,kill",
            "--ops",
            "100",
            "--json",
        ])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let summary = last_json(&output);
    for field in [
        "seeds",
        "ops",
        "violations",
        "lost_acked_writes",
        "sim_seconds",
        "wall_seconds",
        "history_digest",
    ] {
        assert!(summary.get(field).is_some(), "missing {field}: {summary}");
    }
    assert_eq!(summary["seeds"], 2);
    assert_eq!(summary["violations"], 0);
}

#[test]
fn a_failing_seed_exits_1_with_reproduction_history_and_timeline() {
    let out = std::env::temp_dir().join(format!("concord-chaos-test-{}", std::process::id()));
    let mut found = false;
    // fsync off + power loss: the teeth test shows some early seed loses writes.
    for seed in 0..6 {
        let output = chaos()
            .args([
                "run",
                "--seeds",
                &seed.to_string(),
                "--nemesis",
                "crash",
                "--no-sync",
            ])
            .arg("--out")
            .arg(&out)
            .output()
            .expect("runs");
        if output.status.code() == Some(1) {
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(stdout.contains(&format!("FAILED seed {seed}")), "{stdout}");
            assert!(
                stdout.contains(&format!("reproduce: cargo run --release -p concord-chaos -- run --seeds {seed} --nemesis crash")),
                "{stdout}"
            );
            assert!(out.join(format!("seed-{seed}.jsonl")).exists());
            assert!(out.join(format!("seed-{seed}.html")).exists());
            // The history file is valid input for lincheck.
            let text = std::fs::read_to_string(out.join(format!("seed-{seed}.jsonl"))).unwrap();
            assert!(
                concord_linearizability::parse(&text, concord_linearizability::Format::Jsonl)
                    .is_ok()
            );
            found = true;
            break;
        }
        assert_eq!(output.status.code(), Some(0), "{output:?}");
    }
    let _ = std::fs::remove_dir_all(&out);
    assert!(found, "no failing seed among 0..6");
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        vec!["run", "--seeds", "5..2"],
        vec!["run", "--nemesis", "flood"],
        vec!["run", "--nodes", "4"],
        vec!["explode"],
    ] {
        let output = chaos().args(&args).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    }
}
