//! `concord demo`: a real three-node cluster on loopback TCP with fjall storage, a
//! concurrent KV workload, a leader kill and restart, and a linearizability verdict.
//! Every node snapshots its state every `SNAPSHOT_EVERY` entries and compacts its log,
//! so the restarted leader, which missed more than that, catches up by installing a
//! snapshot from the new leader.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use concord::core::{Configuration, ConfigurationEntry, GroupId, PeerId, Role};
use concord::kv::{KvClient, KvClientError, KvCommand, KvResponse, KvStateMachine};
use concord::runtime::{DurableStorage, Node, NodeOptions, RaftServer, StorageOptions};
use concord::transport::TcpOptions;
use concord_linearizability::{analyze, CheckOptions, History, ModelKind, Value, Verdict};

/// Each node snapshots after this many applied entries and keeps this many below it.
const SNAPSHOT_EVERY: u64 = 5000;
const SNAPSHOT_RETAINED: u64 = 1000;

/// `concord demo`'s options.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Print one JSON object on the last line of stdout.
    #[arg(long)]
    json: bool,
    /// Nodes keep their whole logs (no snapshots; the restarted node catches up from
    /// the log).
    #[arg(long = "no-snapshots", action = clap::ArgAction::SetFalse)]
    snapshots: bool,
    /// How long the workload runs, in seconds (1 to 3600).
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    seconds: f64,
    /// Concurrent clients (1 to 1024).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    clients: u16,
    /// Distinct keys (1 to 1000000).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    keys: u32,
    /// The workload's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn seconds(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| (1.0..=3600.0).contains(s))
        .ok_or_else(|| "must be a number from 1 to 3600".to_string())
}

/// Removes the temporary directory however the demo ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn main(args: DemoArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("concord demo: cannot start the runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(summary) => summary.print(args.json),
        Err(message) => {
            eprintln!("concord demo failed: {message}");
            ExitCode::from(1)
        }
    }
}

struct Cluster {
    servers: Vec<RaftServer>,
    peers: Vec<PeerId>,
    configuration: ConfigurationEntry<PeerId>,
    group: GroupId,
    dir: PathBuf,
    snapshots: bool,
}

impl Cluster {
    fn start_node(&self, i: usize) -> Result<Node<KvStateMachine>, String> {
        // Log and hard state fsynced once per write batch (group commit).
        let storage = DurableStorage::open(&StorageOptions::new(self.dir.join(format!("node{i}"))))
            .map_err(|e| e.to_string())?;
        let store = storage.log_store(&self.group).map_err(|e| e.to_string())?;
        let mut options = NodeOptions::new(
            self.group.clone(),
            self.peers[i].clone(),
            self.configuration.clone(),
        );
        // Shorter than JRaft's 1 s default so the failover fits a 10-second demo.
        options.election_timeout = Duration::from_millis(300);
        options.max_election_delay = Duration::from_millis(300);
        if self.snapshots {
            options.snapshot_dir = Some(self.dir.join(format!("node{i}")).join("snapshots"));
            options.core.snapshot_log_distance = SNAPSHOT_EVERY;
            options.core.snapshot_retained_entries = SNAPSHOT_RETAINED;
        }
        self.servers[i]
            .start_node(options, KvStateMachine::new(), store)
            .map_err(|e| e.to_string())
    }
}

struct Summary {
    verdict: Verdict,
    ops: usize,
    ok: usize,
    failed: usize,
    unknown: usize,
    seconds: f64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    failover_ms: Option<f64>,
    killed: String,
    check_ms: f64,
    /// With snapshots on: the latest snapshot index of each node at the end, and the
    /// installs the restarted node made.
    snapshots: Option<(Vec<u64>, u64)>,
}

impl Summary {
    fn print(&self, json: bool) -> ExitCode {
        let throughput = self.ok as f64 / self.seconds;
        println!(
            "\n{} operations in {:.1} s: {} ok, {} failed (not applied), {} unknown outcome",
            self.ops, self.seconds, self.ok, self.failed, self.unknown
        );
        println!("throughput      {throughput:.0} ops/s (completed ok)");
        println!(
            "latency         p50 {:.2} ms, p99 {:.2} ms",
            self.latency_p50_ms, self.latency_p99_ms
        );
        match self.failover_ms {
            Some(ms) => println!(
                "failover        {ms:.0} ms (leader {} stopped -> first operation completed by its successor)",
                self.killed
            ),
            None => println!("failover        not measured (no operation succeeded after the kill)"),
        }
        match &self.snapshots {
            Some((indices, installs)) => println!(
                "snapshots       every {SNAPSHOT_EVERY} entries (latest at {}); the restarted node {}",
                indices
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                if *installs > 0 {
                    format!("caught up by installing {installs} snapshot(s) from the leader")
                } else {
                    "caught up from the leader's log (no install needed)".to_string()
                }
            ),
            None => println!("snapshots       off"),
        }
        println!(
            "linearizability {} (checked in {:.0} ms)",
            self.verdict, self.check_ms
        );
        if json {
            let object = serde_json::json!({
                "verdict": self.verdict.to_string(),
                "ops": self.ops,
                "ok": self.ok,
                "failed": self.failed,
                "unknown": self.unknown,
                "seconds": self.seconds,
                "throughput_ops_per_s": throughput,
                "latency_p50_ms": self.latency_p50_ms,
                "latency_p99_ms": self.latency_p99_ms,
                "failover_ms": self.failover_ms,
                "check_ms": self.check_ms,
                "snapshot_indices": self.snapshots.as_ref().map(|(indices, _)| indices.clone()),
                "snapshot_installs": self.snapshots.as_ref().map(|(_, installs)| *installs),
            });
            println!("{object}");
        }
        match self.verdict {
            Verdict::Linearizable => ExitCode::SUCCESS,
            Verdict::NotLinearizable => ExitCode::from(1),
            Verdict::Unknown => ExitCode::from(3),
        }
    }
}

/// What the clients share.
struct Shared {
    history: Mutex<History>,
    /// (invocation time since start, latency) of every ok operation.
    completions: Mutex<Vec<(Duration, Duration)>>,
    stop: AtomicBool,
    start: Instant,
}

async fn run(args: &DemoArgs) -> Result<Summary, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("concord-demo-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let _cleanup = TempDir(dir.clone());

    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(
            RaftServer::bind("127.0.0.1", 0, TcpOptions::default())
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let peers: Vec<PeerId> = servers
        .iter()
        .map(|s| PeerId::new(s.endpoint().clone(), 0))
        .collect();
    let cluster = Cluster {
        configuration: ConfigurationEntry::stable(Configuration::with_voters(peers.clone())),
        peers: peers.clone(),
        servers,
        group: GroupId::new("demo").map_err(|e| e.to_string())?,
        dir: dir.clone(),
        snapshots: args.snapshots,
    };
    let mut nodes = Vec::new();
    for i in 0..3 {
        nodes.push(cluster.start_node(i)?);
    }
    eprintln!(
        "3 nodes on {} (fjall in {})",
        peers
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        dir.display()
    );
    let client = KvClient::new(peers.iter().cloned().zip(nodes.iter().cloned()).collect());
    wait_for_leader(&nodes, Duration::from_secs(10))
        .await
        .ok_or("no leader elected within 10 s")?;

    let shared = Arc::new(Shared {
        history: Mutex::new(History::new()),
        completions: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
        start: Instant::now(),
    });
    let workers: Vec<_> = (0..usize::from(args.clients))
        .map(|c| {
            tokio::spawn(client_loop(
                c,
                usize::from(args.clients),
                args.keys as usize,
                args.seed,
                client.clone(),
                shared.clone(),
            ))
        })
        .collect();

    let total = Duration::from_secs_f64(args.seconds);
    let kill_at = total.mul_f64(0.35);
    let restart_at = total.mul_f64(0.6);
    let mut killed: Option<(usize, Duration)> = None;
    let mut restarted = false;
    while shared.start.elapsed() < total {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let elapsed = shared.start.elapsed();
        if killed.is_none() && elapsed >= kill_at {
            if let Some(leader) = nodes.iter().position(|n| n.describe().role == Role::Leader) {
                nodes[leader].shutdown();
                nodes[leader].join().await;
                cluster.servers[leader].remove_node(&cluster.group, &peers[leader]);
                // Failover is measured from the moment the old leader is gone.
                let when = shared.start.elapsed();
                eprintln!(
                    "\n[{:5.1}s] killed the leader {}",
                    when.as_secs_f64(),
                    peers[leader]
                );
                killed = Some((leader, when));
            }
        }
        if let (Some((leader, _)), false) = (killed, restarted) {
            if elapsed >= restart_at {
                nodes[leader] = cluster.start_node(leader)?;
                client.replace_node(&peers[leader], nodes[leader].clone());
                restarted = true;
                eprintln!(
                    "\n[{:5.1}s] restarted {} from its fjall directory",
                    elapsed.as_secs_f64(),
                    peers[leader]
                );
            }
        }
        progress(&shared, total, &nodes, &peers);
    }
    shared.stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.await;
    }
    let seconds = shared.start.elapsed().as_secs_f64();
    eprintln!();
    let snapshots = args.snapshots.then(|| {
        let indices = nodes
            .iter()
            .map(|node| node.describe().snapshot.map_or(0, |id| id.index.0))
            .collect();
        let installs = killed.map_or(0, |(leader, _)| {
            nodes[leader].describe().snapshots_installed
        });
        (indices, installs)
    });
    for node in &nodes {
        node.shutdown();
    }
    for node in &nodes {
        node.join().await;
    }

    let history = std::mem::take(&mut *shared.history.lock().map_err(|_| "history lock poisoned")?);
    let (mut ok, mut failed, mut unknown) = (0, 0, 0);
    for op in history.operations() {
        match op.outcome {
            concord_linearizability::Outcome::Ok(_) => ok += 1,
            concord_linearizability::Outcome::Fail => failed += 1,
            _ => unknown += 1,
        }
    }
    eprintln!(
        "checking {} operations for linearizability...",
        history.operations().len()
    );
    let check_start = Instant::now();
    let options = CheckOptions {
        timeout: Some(Duration::from_secs(120)),
        ..CheckOptions::default()
    };
    let analysis = analyze(ModelKind::Kv, &history, &options)
        .map_err(|e| format!("history cannot be checked: {e}"))?;
    let check_ms = check_start.elapsed().as_secs_f64() * 1000.0;

    let completions = shared
        .completions
        .lock()
        .map_err(|_| "lock poisoned")?
        .clone();
    let mut latencies: Vec<Duration> = completions.iter().map(|(_, l)| *l).collect();
    latencies.sort();
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[index].as_secs_f64() * 1000.0
    };
    // Failover: from the old leader's stop to the first success of an operation that was
    // invoked after it (so it was necessarily served by a new leader).
    let failover_ms = killed.and_then(|(_, when)| {
        completions
            .iter()
            .filter(|(invoked, _)| *invoked >= when)
            .map(|(invoked, latency)| *invoked + *latency)
            .min()
            .map(|first| (first - when).as_secs_f64() * 1000.0)
    });
    Ok(Summary {
        verdict: analysis.report.verdict,
        ops: history.operations().len(),
        ok,
        failed,
        unknown,
        seconds,
        latency_p50_ms: percentile(0.5),
        latency_p99_ms: percentile(0.99),
        failover_ms,
        killed: killed
            .map(|(leader, _)| peers[leader].to_string())
            .unwrap_or_default(),
        check_ms,
        snapshots,
    })
}

async fn wait_for_leader(nodes: &[Node<KvStateMachine>], limit: Duration) -> Option<usize> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(leader) = nodes.iter().position(|n| n.describe().role == Role::Leader) {
            return Some(leader);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn progress(shared: &Shared, total: Duration, nodes: &[Node<KvStateMachine>], peers: &[PeerId]) {
    // A progress bar only on a terminal: a log file or a pipe gets the events alone.
    if !std::io::stderr().is_terminal() {
        return;
    }
    let elapsed = shared.start.elapsed().min(total);
    let done = (elapsed.as_secs_f64() / total.as_secs_f64() * 30.0) as usize;
    let ok = shared.completions.lock().map(|c| c.len()).unwrap_or(0);
    let leader = nodes
        .iter()
        .position(|n| n.describe().role == Role::Leader)
        .map_or("none".to_string(), |i| peers[i].to_string());
    eprint!(
        "\r[{}{}] {:5.1}s  {:>7} ok  leader {:<21}",
        "#".repeat(done),
        ".".repeat(30 - done),
        elapsed.as_secs_f64(),
        ok,
        leader
    );
    let _ = std::io::stderr().flush();
}

/// Seeded per client, so a seed reproduces the operation mix.
struct Rng(rand::rngs::SmallRng);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(rand::SeedableRng::seed_from_u64(seed))
    }

    fn next(&mut self) -> u64 {
        rand::RngCore::next_u64(&mut self.0)
    }
}

async fn client_loop(
    id: usize,
    clients: usize,
    keys: usize,
    seed: u64,
    mut client: KvClient,
    shared: Arc<Shared>,
) {
    let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(id as u64));
    // A client whose operation ended with an unknown outcome continues as a new process
    // (Jepsen's rule: a process never has two operations open).
    let mut process = id as u64;
    let mut counter = 0u64;
    let mut last_seen: Vec<Option<String>> = vec![None; keys];
    while !shared.stop.load(Ordering::Relaxed) {
        let k = (rng.next() % keys as u64) as usize;
        let key = format!("k{k}");
        counter += 1;
        let fresh = format!("c{id}-{counter}");
        let roll = rng.next() % 100;
        let (command, function, argument) = if roll < 50 {
            (KvCommand::Get { key: key.clone() }, "get", Value::Nil)
        } else if roll < 85 {
            (
                KvCommand::Put {
                    key: key.clone(),
                    value: Bytes::from(fresh.clone()),
                },
                "put",
                Value::Str(fresh.clone()),
            )
        } else {
            let expected = last_seen[k].clone();
            let argument = Value::List(vec![
                Value::Str(expected.clone().unwrap_or_default()),
                Value::Str(fresh.clone()),
            ]);
            (
                KvCommand::Cas {
                    key: key.clone(),
                    expected: expected.map(Bytes::from),
                    new: Bytes::from(fresh.clone()),
                },
                "cas",
                argument,
            )
        };
        let Ok(op) = shared
            .history
            .lock()
            .map(|mut h| h.invoke_keyed(process, Some(&key), function, argument))
        else {
            return;
        };
        let Ok(op) = op else { return };
        let started = Instant::now();
        let invoked = shared.start.elapsed();
        let outcome = client.execute(command).await;
        let latency = started.elapsed();
        let succeeded = outcome.is_ok();
        let Ok(mut history) = shared.history.lock() else {
            return;
        };
        let recorded = match outcome {
            Ok(KvResponse::Written) => history.ok(op, Value::Nil),
            Ok(KvResponse::Value(value)) => {
                let text = value.map(|v| String::from_utf8_lossy(&v).into_owned());
                last_seen[k] = text.clone();
                history.ok(op, text.map_or(Value::Nil, Value::Str))
            }
            Ok(KvResponse::Swapped { swapped, previous }) => {
                last_seen[k] = if swapped {
                    Some(fresh.clone())
                } else {
                    previous.map(|v| String::from_utf8_lossy(&v).into_owned())
                };
                history.ok(op, Value::Bool(swapped))
            }
            Err(KvClientError::NotApplied { .. }) | Err(KvClientError::Rejected { .. }) => {
                history.fail(op)
            }
            Err(_) => {
                process += clients as u64;
                history.info(op)
            }
        };
        drop(history);
        if recorded.is_ok() && succeeded {
            if let Ok(mut completions) = shared.completions.lock() {
                completions.push((invoked, latency));
            }
        }
    }
}
