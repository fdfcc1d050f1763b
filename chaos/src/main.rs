//! `concord-chaos`: run seeds of the chaos suite and report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::{Parser, Subcommand};
use concord_chaos::check::combine;
use concord_chaos::{run_seed, NemesisSet, RunConfig, SeedReport};

#[derive(Parser)]
#[command(
    name = "concord-chaos",
    about = "Jepsen-style chaos testing of Concord in turmoil"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a range of seeds and check each history.
    Run(RunArgs),
}

#[derive(Parser)]
struct RunArgs {
    /// Seeds: `A..B` (B excluded), `A..=B`, or one seed `N`.
    #[arg(long, default_value = "0..10", value_parser = parse_seeds)]
    seeds: Seeds,
    /// Faults: any of partition,kill,crash,pause,skew,window,depose,disk,membership,
    /// transfer,wipe,lag,rolling, or `all` (those thirteen), or `none`; `reset` (a fenced
    /// reset of the peers, judged by the fence instead of linearizability) only by name.
    #[arg(long, default_value = "all")]
    nemesis: NemesisSet,
    /// Cluster size.
    #[arg(long, default_value_t = 3, value_parser = parse_nodes)]
    nodes: usize,
    /// Client operations per seed in the workload phase.
    #[arg(long, default_value_t = 200)]
    ops: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Keys.
    #[arg(long, default_value_t = 3)]
    keys: usize,
    /// Do not fsync (reproduces the data loss JRAFT_GUIDE_NOTES F22 warns of).
    #[arg(long)]
    no_sync: bool,
    /// Turn off buggify (disk latency, moved group-commit boundaries, lost, duplicated
    /// and delayed messages inside the runtime).
    #[arg(long)]
    no_buggify: bool,
    /// Turn pre-vote off: elections move terms at once, so stale votes and appends of
    /// the term just left meet their nodes far more often.
    #[arg(long)]
    no_pre_vote: bool,
    /// The nodes' base election timeout in milliseconds (heartbeats every tenth).
    #[arg(long, default_value_t = 300)]
    election_timeout_ms: u64,
    /// The nodes' random extra election delay bound in milliseconds.
    #[arg(long, default_value_t = 300)]
    election_delay_ms: u64,
    /// Buggify: per thousand messages, how many are held back 250–1500 ms, and as many
    /// again sent now and replayed that much later (stale messages across terms).
    #[arg(long, default_value_t = 5)]
    stale_per_mille: u64,
    /// Each node snapshots after this many applied entries and compacts its log (0:
    /// never). With a small `--snapshot-retained`, lagging followers are caught up by
    /// snapshot install under the faults.
    #[arg(long, default_value_t = 0)]
    snapshot_distance: u64,
    /// Entries a node keeps below its latest snapshot.
    #[arg(long, default_value_t = 1024)]
    snapshot_retained: u64,
    /// The nodes' largest AppendEntries batch, in entries. 1: every entry travels and
    /// is acknowledged alone, so a new leader's entries of older terms are acknowledged
    /// before its own term's first entry (the shape of Raft's Figure 8).
    #[arg(long, default_value_t = 1024)]
    max_entries_per_message: u64,
    /// Teeth only (unsafe): a node whose disk the `wipe` nemesis wiped comes back under
    /// its old id, having forgotten its vote and log, and is not replaced: the operator
    /// error the wipe rule forbids. Runs are expected to fail.
    #[arg(long)]
    unsafe_wipe_keeps_id: bool,
    /// Every node serves reads with leases (`ReadOnlyOption::LeaseBased`); the `skew`
    /// nemesis then changes clock rates only.
    #[arg(long)]
    lease_reads: bool,
    /// The nodes' clock drift bound for leases, in percent (100 covers `skew`'s rates
    /// of 0.5 to 2; 0 is the teeth setting, expected to fail).
    #[arg(long, default_value_t = 100)]
    clock_drift_percent: u32,
    /// How far the simulated clocks really drift with `--lease-reads`, in percent
    /// (rates between 1/(1 + p/100) and 1 + p/100 from the start; 100: half to double).
    #[arg(long, default_value_t = 100)]
    clock_rates_percent: u32,
    /// How long a client waits for an answer before trying the next node.
    #[arg(long, default_value_t = 1500)]
    client_timeout_ms: u64,
    /// Seeds run in parallel (each seed is single-threaded and deterministic).
    #[arg(long)]
    jobs: Option<usize>,
    /// Where failing seeds' histories and timelines go.
    #[arg(long, default_value = "chaos-failures")]
    out: PathBuf,
    /// Print the faults of every seed.
    #[arg(long)]
    verbose: bool,
    /// Print the nodes' tracing events (role and term changes, membership, snapshots,
    /// failures, refused frames) on stderr, filtered by this directive (`info`,
    /// `concord=debug`, as `RUST_LOG`), each stamped with the simulated time and the
    /// node's group and peer. Meant for one seed with `--jobs 1`: seeds running in
    /// parallel interleave their events.
    #[arg(long, value_name = "FILTER")]
    trace: Option<String>,
    /// End with one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Debug)]
struct Seeds(u64, u64);

fn parse_seeds(text: &str) -> Result<Seeds, String> {
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| format!("{s:?} is not a seed (expected a non-negative integer)"))
    };
    let seeds = if let Some((a, b)) = text.split_once("..=") {
        Seeds(number(a)?, number(b)?.saturating_add(1))
    } else if let Some((a, b)) = text.split_once("..") {
        Seeds(number(a)?, number(b)?)
    } else {
        let n = number(text)?;
        Seeds(n, n.saturating_add(1))
    };
    if seeds.0 >= seeds.1 {
        return Err(format!("{text:?} is an empty range"));
    }
    Ok(seeds)
}

fn parse_nodes(text: &str) -> Result<usize, String> {
    match text {
        "3" => Ok(3),
        "5" => Ok(5),
        _ => Err(format!("{text:?}: clusters of 3 or 5 nodes are supported")),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let Command::Run(args) = cli.command;
    if let Some(filter) = &args.trace {
        if let Err(error) = install_trace(filter) {
            eprintln!("--trace {filter:?}: {error}");
            return ExitCode::from(2);
        }
    }
    run(args)
}

/// Simulated time since the run's start, as the chaos reports print it.
struct SimTime;

impl tracing_subscriber::fmt::time::FormatTime for SimTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        match turmoil::sim_elapsed() {
            Some(elapsed) => write!(w, "{:>8.3}s", elapsed.as_secs_f64()),
            None => write!(w, "{:>9}", "-"),
        }
    }
}

/// `--trace`: events of every node on stderr, with simulated timestamps.
fn install_trace(filter: &str) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(SimTime)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| e.to_string())
}

fn reproduce(args: &RunArgs, seed: u64) -> String {
    format!(
        "cargo run --release -p concord-chaos -- run --seeds {seed} --nemesis {} --nodes {} --ops {} --clients {} --keys {} --election-timeout-ms {} --election-delay-ms {} --stale-per-mille {}{}{}{}{}{}{}{}{}",
        args.nemesis,
        args.nodes,
        args.ops,
        args.clients,
        args.keys,
        args.election_timeout_ms,
        args.election_delay_ms,
        args.stale_per_mille,
        if args.no_sync { " --no-sync" } else { "" },
        if args.no_buggify { " --no-buggify" } else { "" },
        if args.no_pre_vote { " --no-pre-vote" } else { "" },
        if args.unsafe_wipe_keeps_id {
            " --unsafe-wipe-keeps-id"
        } else {
            ""
        },
        if args.snapshot_distance > 0 {
            format!(
                " --snapshot-distance {} --snapshot-retained {}",
                args.snapshot_distance, args.snapshot_retained
            )
        } else {
            String::new()
        },
        if args.max_entries_per_message != 1024 {
            format!(
                " --max-entries-per-message {}",
                args.max_entries_per_message
            )
        } else {
            String::new()
        },
        if args.lease_reads {
            format!(
                " --lease-reads --clock-drift-percent {} --clock-rates-percent {}",
                args.clock_drift_percent, args.clock_rates_percent
            )
        } else {
            String::new()
        },
        if args.client_timeout_ms != 1500 {
            format!(" --client-timeout-ms {}", args.client_timeout_ms)
        } else {
            String::new()
        }
    )
}

fn save_failure(out: &Path, report: &SeedReport) -> Result<(PathBuf, Option<PathBuf>), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let seed = report.config.seed;
    let history = out.join(format!("seed-{seed}.jsonl"));
    std::fs::write(&history, concord_linearizability::to_jsonl(&report.history))
        .map_err(|e| format!("cannot write {}: {e}", history.display()))?;
    let html = match &report.analysis {
        Some(analysis) => {
            let path = out.join(format!("seed-{seed}.html"));
            let page = concord_linearizability::html::render(
                &format!("concord-chaos seed {seed}"),
                analysis,
            );
            std::fs::write(&path, page)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Some(path)
        }
        None => None,
    };
    Ok((history, html))
}

fn run(args: RunArgs) -> ExitCode {
    let wall = Instant::now();
    let seeds: Vec<u64> = (args.seeds.0..args.seeds.1).collect();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 64)
        .min(seeds.len());
    let configs: Vec<RunConfig> = seeds
        .iter()
        .map(|&seed| RunConfig {
            nodes: args.nodes,
            nemeses: args.nemesis.clone(),
            ops: args.ops,
            clients: args.clients.max(1),
            keys: args.keys.max(1),
            sync: !args.no_sync,
            buggify: !args.no_buggify,
            election_timeout: std::time::Duration::from_millis(args.election_timeout_ms.max(10)),
            max_election_delay: std::time::Duration::from_millis(args.election_delay_ms),
            stale_per_mille: args.stale_per_mille.min(400),
            pre_vote: !args.no_pre_vote,
            snapshot_distance: args.snapshot_distance,
            snapshot_retained: args.snapshot_retained,
            max_entries_per_message: args.max_entries_per_message.max(1),
            wipe_keeps_id: args.unsafe_wipe_keeps_id,
            lease_reads: args.lease_reads,
            clock_drift_percent: args.clock_drift_percent,
            clock_rates_percent: args.clock_rates_percent,
            client_attempt_timeout: std::time::Duration::from_millis(
                args.client_timeout_ms.max(10),
            ),
            ..RunConfig::new(seed)
        })
        .collect();
    println!(
        "concord-chaos: {} seed(s) {}..{}, nemesis {}, {} nodes, {} ops, fsync {}, {jobs} job(s)",
        seeds.len(),
        args.seeds.0,
        args.seeds.1,
        args.nemesis,
        args.nodes,
        args.ops,
        if args.no_sync { "off" } else { "on" }
    );
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<SeedReport>>> =
        Mutex::new((0..configs.len()).map(|_| None).collect());
    let print_lock = Mutex::new(());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(config) = configs.get(i) else { break };
                let report = run_seed(config);
                {
                    let _guard = print_lock.lock().unwrap_or_else(|e| e.into_inner());
                    print_seed(&args, &report);
                }
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(report);
            });
        }
    });
    let reports: Vec<SeedReport> = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect();

    let failed: Vec<&SeedReport> = reports.iter().filter(|r| !r.passed()).collect();
    let ops: usize = reports.iter().map(|r| r.ops).sum();
    let violations: usize = reports.iter().map(|r| r.violations.len()).sum();
    let not_linearizable = reports
        .iter()
        .filter(|r| r.verdict == concord_linearizability::Verdict::NotLinearizable)
        .count();
    let unknown = reports
        .iter()
        .filter(|r| r.verdict == concord_linearizability::Verdict::Unknown)
        .count();
    let lost: usize = reports.iter().map(|r| r.lost_acked_writes.len()).sum();
    let sim_seconds: f64 = reports.iter().map(|r| r.sim_seconds).sum();
    let digest = combine(reports.iter().map(|r| r.digest));
    for report in &failed {
        let seed = report.config.seed;
        println!("\nFAILED seed {seed}:");
        for violation in &report.violations {
            println!("  violation: {violation}");
        }
        for lost in &report.lost_acked_writes {
            println!("  lost acknowledged write: {lost}");
        }
        if report.verdict != concord_linearizability::Verdict::Linearizable {
            println!("  history is {}", report.verdict_name());
            if let Some(partition) = report
                .analysis
                .as_ref()
                .and_then(|a| a.report.failing_partition())
            {
                println!(
                    "  failing key: {}",
                    partition.key.as_deref().unwrap_or("(whole history)")
                );
            }
        }
        println!("  faults:");
        for fault in &report.faults {
            println!("    {fault}");
        }
        match save_failure(&args.out, report) {
            Ok((history, html)) => {
                println!("  history: {}", history.display());
                if let Some(html) = html {
                    println!("  timeline: {}", html.display());
                }
            }
            Err(error) => println!("  {error}"),
        }
        println!("  reproduce: {}", reproduce(&args, seed));
    }
    let wall_seconds = wall.elapsed().as_secs_f64();
    println!(
        "\n{} seed(s): {} passed, {} failed; {ops} operations; {violations} violation(s), {not_linearizable} not linearizable, {unknown} unknown, {lost} lost acknowledged write(s); {:.1} s simulated in {:.1} s; history digest {digest:016x}",
        reports.len(),
        reports.len() - failed.len(),
        failed.len(),
        sim_seconds,
        wall_seconds
    );
    if args.json {
        let summary = serde_json::json!({
            "seeds": reports.len(),
            "passed": reports.len() - failed.len(),
            "failed_seeds": failed.iter().map(|r| r.config.seed).collect::<Vec<_>>(),
            "ops": ops,
            "violations": violations,
            "not_linearizable": not_linearizable,
            "unknown": unknown,
            "lost_acked_writes": lost,
            "sim_seconds": sim_seconds,
            "wall_seconds": wall_seconds,
            "history_digest": format!("{digest:016x}"),
            "nemesis": args.nemesis.to_string(),
            "nodes": args.nodes,
            "sync": !args.no_sync,
            "snapshots_saved": reports.iter().map(|r| r.snapshots_saved).sum::<u64>(),
            "snapshot_installs": reports.iter().map(|r| r.snapshot_installs).sum::<u64>(),
        });
        println!("{summary}");
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_seed(args: &RunArgs, report: &SeedReport) {
    println!(
        "seed {:>5}: {:<4} {:<16} ops {:>4} (ok {:>4}, fail {:>3}, info {:>3})  faults {:>2}  leaders {:>2}  lost {:>2}  violations {}  sim {:>6.1}s  wall {:>5.1}s  digest {:016x}",
        report.config.seed,
        if report.passed() { "ok" } else { "FAIL" },
        report.verdict_name(),
        report.ops,
        report.ok,
        report.failed,
        report.indeterminate,
        report.faults.iter().filter(|f| !f.contains(" heal ") && !f.contains("workload over")).count(),
        report.leader_terms,
        report.lost_acked_writes.len(),
        report.violations.len(),
        report.sim_seconds,
        report.wall_seconds,
        report.digest,
    );
    if report.snapshots_saved > 0 || report.snapshot_installs > 0 {
        println!(
            "           snapshots: {} saved, {} installed from a leader",
            report.snapshots_saved, report.snapshot_installs
        );
    }
    if args.verbose {
        for fault in &report.faults {
            println!("           {fault}");
        }
    }
}
