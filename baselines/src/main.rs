//! Side-by-side baselines (issue 17, docs/benchmarks.md "Against openraft and raft-rs"):
//! the same workload through Concord and through another Raft library, alternating in one
//! process run, printed as one table of ratios.
//!
//! ```sh
//! cd baselines && cargo run --release -- e2e      # Concord vs openraft 0.9.25, in process
//! cd baselines && cargo run --release -- core     # Concord's core vs raft-rs 0.7 RawNode
//! ```
//!
//! `e2e`: `benches/e2e_inprocess`'s cluster (the same code, included below) against
//! openraft's on the same footing: 3 voters, in-memory logs, no-op state machines, an
//! in-process network, N closed-loop clients on the leader, a fresh 2-worker tokio runtime
//! and cluster per cell; throughput over `--seconds` after `--warmup`.
//! `core`: `benches/core_step`'s replication round (the same code) against raft-rs's
//! `RawNode` doing the same round; time per round over a fixed number of entries.
//! Each run alternates which library goes first; the table gives every run, the medians
//! and the ratio of medians with the lowest and highest per-run ratio (the spread).

mod openraft_side;
mod raftrs_side;

#[path = "../../benches/support/common.rs"]
mod common;
#[path = "../../benches/support/inprocess.rs"]
mod inprocess;
#[path = "../../benches/support/trio.rs"]
mod trio;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Concord side by side with openraft and raft-rs, in one run")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Concord vs openraft 0.9.25: 3 voters in process, N clients writing on the leader.
    E2e {
        /// Runs; each alternates which library goes first.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Client counts, one cell each.
        #[arg(long, value_delimiter = ',', default_value = "1,64,256,4096")]
        clients: Vec<usize>,
        /// Measured seconds per cell.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Seconds of load before the measurement starts.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// One JSON object instead of the markdown table.
        #[arg(long)]
        json: bool,
    },
    /// Concord's core vs raft-rs 0.7's RawNode: one replication round through three nodes.
    Core {
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Entries proposed per round.
        #[arg(long, value_delimiter = ',', default_value = "1,64")]
        batches: Vec<usize>,
        /// Entries per measured cell (rounds = entries / batch); bounds the logs' memory.
        #[arg(long, default_value_t = 1_000_000)]
        entries: usize,
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    match Args::parse().command {
        Command::E2e {
            runs,
            clients,
            seconds,
            warmup,
            json,
        } => {
            let mut table = Table::new("clients", "ops/s", true, "openraft 0.9.25", &clients);
            let window = (
                Duration::from_secs_f64(warmup),
                Duration::from_secs_f64(seconds),
            );
            // The first seconds of a process run slower for both libraries (seen: the
            // first cell 20–40 % below the later runs of the same cell): one discarded
            // cell of each first.
            let discarded = (Duration::ZERO, Duration::from_secs(2));
            eprintln!(
                "warm-up (discarded): Concord {:.0} ops/s, openraft {:.0} ops/s",
                concord_e2e(64, discarded),
                openraft_e2e(64, discarded)
            );
            for run in 0..runs {
                for (i, &n) in clients.iter().enumerate() {
                    let (ours, theirs) =
                        alternate(run, || concord_e2e(n, window), || openraft_e2e(n, window));
                    eprintln!(
                        "run {} clients {n}: Concord {ours:.0} ops/s, openraft {theirs:.0} ops/s",
                        run + 1
                    );
                    table.rows[i].ours.push(ours);
                    table.rows[i].theirs.push(theirs);
                }
            }
            table.print(json);
        }
        Command::Core {
            runs,
            batches,
            entries,
            json,
        } => {
            let mut table = Table::new("batch", "ns/entry", false, "raft-rs 0.7 RawNode", &batches);
            for run in 0..runs {
                for (i, &batch) in batches.iter().enumerate() {
                    let rounds = (entries / batch).max(1);
                    let (ours, theirs) = alternate(
                        run,
                        || {
                            let mut trio = trio::Trio::elected();
                            let nanos = per_entry(rounds, batch, || trio.round(batch));
                            let committed = trio.nodes[0].commit_index().0;
                            assert!(
                                committed >= (rounds * batch) as u64,
                                "Concord committed {committed}"
                            );
                            nanos
                        },
                        || {
                            let mut trio = raftrs_side::Trio::elected();
                            let nanos = per_entry(rounds, batch, || trio.round(batch));
                            assert!(trio.commit_index() >= (rounds * batch) as u64);
                            nanos
                        },
                    );
                    eprintln!("run {} batch {batch}: Concord {ours:.0} ns/entry, raft-rs {theirs:.0} ns/entry", run + 1);
                    table.rows[i].ours.push(ours);
                    table.rows[i].theirs.push(theirs);
                }
            }
            table.print(json);
        }
    }
}

/// Runs both sides, Concord first on even runs and the other library first on odd ones.
fn alternate(run: usize, ours: impl FnOnce() -> f64, theirs: impl FnOnce() -> f64) -> (f64, f64) {
    if run.is_multiple_of(2) {
        let a = ours();
        (a, theirs())
    } else {
        let b = theirs();
        (ours(), b)
    }
}

/// Nanoseconds per entry over `rounds` rounds, after a tenth as many to warm up.
fn per_entry(rounds: usize, batch: usize, mut round: impl FnMut()) -> f64 {
    for _ in 0..rounds / 10 {
        round();
    }
    let start = Instant::now();
    for _ in 0..rounds {
        round();
    }
    start.elapsed().as_nanos() as f64 / (rounds * batch) as f64
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn concord_e2e(clients: usize, window: (Duration, Duration)) -> f64 {
    use concord::runtime::Task;
    let rt = runtime();
    rt.block_on(async {
        let (nodes, leader) = inprocess::start_cluster().await;
        let rate = closed_loop(clients, window, move || {
            let leader = leader.clone();
            async move {
                leader.apply(Task::new(&b"x"[..])).await.expect("apply");
            }
        })
        .await;
        for node in &nodes {
            node.shutdown();
        }
        for node in nodes {
            node.join().await;
        }
        rate
    })
}

fn openraft_e2e(clients: usize, window: (Duration, Duration)) -> f64 {
    let rt = runtime();
    rt.block_on(async {
        let (rafts, leader) = openraft_side::start_cluster().await;
        let rate = closed_loop(clients, window, move || {
            let leader = leader.clone();
            async move { openraft_side::write(&leader).await }
        })
        .await;
        openraft_side::stop(rafts).await;
        rate
    })
}

/// `clients` tasks each running `op` in a loop; completed operations per second between
/// the end of the warm-up and the end of the window.
async fn closed_loop<F, Fut>(clients: usize, (warmup, measure): (Duration, Duration), op: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (done, stop, op) = (done.clone(), stop.clone(), op.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    op().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(warmup).await;
    let (start, before) = (Instant::now(), done.load(Ordering::Relaxed));
    tokio::time::sleep(measure).await;
    let (elapsed, after) = (start.elapsed(), done.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("client");
    }
    (after - before) as f64 / elapsed.as_secs_f64()
}

struct Row {
    label: String,
    ours: Vec<f64>,
    theirs: Vec<f64>,
}

struct Table {
    key: &'static str,
    unit: &'static str,
    higher_is_better: bool,
    other: &'static str,
    rows: Vec<Row>,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if !n.is_multiple_of(2) {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

impl Table {
    /// An empty table with one row per cell label.
    fn new(
        key: &'static str,
        unit: &'static str,
        higher_is_better: bool,
        other: &'static str,
        cells: &[usize],
    ) -> Table {
        let rows = cells
            .iter()
            .map(|cell| Row {
                label: cell.to_string(),
                ours: Vec::new(),
                theirs: Vec::new(),
            })
            .collect();
        Table {
            key,
            unit,
            higher_is_better,
            other,
            rows,
        }
    }

    /// Concord's advantage: > 1 means Concord is faster, whatever the unit.
    fn advantage(&self, ours: f64, theirs: f64) -> f64 {
        if self.higher_is_better {
            ours / theirs
        } else {
            theirs / ours
        }
    }

    fn print(&self, json: bool) {
        let rows: Vec<_> = self
            .rows
            .iter()
            .map(|row| {
                let per_run: Vec<f64> = row
                    .ours
                    .iter()
                    .zip(&row.theirs)
                    .map(|(&a, &b)| self.advantage(a, b))
                    .collect();
                let (ours, theirs) = (median(&row.ours), median(&row.theirs));
                (
                    row,
                    per_run.clone(),
                    ours,
                    theirs,
                    self.advantage(ours, theirs),
                )
            })
            .collect();
        if json {
            let cells: Vec<String> = rows
                .iter()
                .map(|(row, per_run, ours, theirs, ratio)| {
                    format!(
                        "{{\"{}\": {}, \"concord\": {:?}, \"other\": {:?}, \"concord_median\": {ours:.1}, \"other_median\": {theirs:.1}, \"ratio\": {ratio:.3}, \"ratio_per_run\": {:?}}}",
                        self.key, row.label, row.ours, row.theirs, per_run
                    )
                })
                .collect();
            println!(
                "{{\"unit\": \"{}\", \"other\": \"{}\", \"rows\": [{}]}}",
                self.unit,
                self.other,
                cells.join(", ")
            );
            return;
        }
        let fmt = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        println!(
            "| {} | Concord, {} (runs) | {}, {} (runs) | Concord median | {} median | advantage (median; per-run min–max) |",
            self.key, self.unit, self.other, self.unit, self.other
        );
        println!("|---:|---|---|---:|---:|---|");
        for (row, per_run, ours, theirs, ratio) in rows {
            let lo = per_run.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = per_run.iter().copied().fold(0.0, f64::max);
            println!(
                "| {} | {} | {} | {ours:.0} | {theirs:.0} | **{ratio:.2}×** ({lo:.2}–{hi:.2}×) |",
                row.label,
                fmt(&row.ours),
                fmt(&row.theirs)
            );
        }
    }
}
