//! Read throughput and latency, side by side in one run (issue 15): reads through the log
//! (a proposed no-op entry, what every read was before ReadIndex), ReadIndex
//! (`ReadOnlyOption::Safe`) and lease reads (`ReadOnlyOption::LeaseBased`).
//!
//! ```text
//! cargo bench --bench read_throughput                       # 3 s per cell
//! cargo bench --bench read_throughput -- --seconds 5 --json
//! ```
//!
//! Three voters in this process (in-process transport, fjall log stores with fsync in a
//! temporary directory — `--memory` for memory stores — a state machine holding one
//! counter), N clients each reading in a loop on the leader for the given time; one
//! fresh cluster per cell. Reports reads per second and the median and
//! 99th percentile latency. Under `cargo test` (no `--bench` argument) it runs 0.2 s
//! cells as a smoke test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use concord::core::*;
use concord::runtime::*;
use concord::transport::InProcessNetwork;

#[derive(Default)]
struct Counter {
    value: u64,
}

impl StateMachine for Counter {
    type Response = u64;
    type Context = ();

    fn on_apply(&mut self, entry: &mut CommittedEntry<()>) -> Result<u64, StateMachineError> {
        if !entry.data.is_empty() {
            self.value += 1;
        }
        Ok(self.value)
    }

    fn blocks(&self) -> bool {
        false
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Log,
    ReadIndex,
    Lease,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Log => "log",
            Mode::ReadIndex => "read-index",
            Mode::Lease => "lease",
        }
    }
}

/// The cluster's log stores: memory, or fjall with fsync in `dir` (what a deployment
/// runs: a read through the log then costs a durable write on a quorum).
async fn start_cluster(
    mode: Mode,
    base_port: u16,
    dir: Option<&std::path::Path>,
) -> (Node<Counter>, Vec<Node<Counter>>, Vec<DurableStorage>) {
    let network = InProcessNetwork::new();
    let peers: Vec<PeerId> = (0..3)
        .map(|i| format!("127.0.0.1:{}", base_port + i).parse().unwrap())
        .collect();
    let configuration = ConfigurationEntry::stable(Configuration::with_voters(peers.clone()));
    let mut nodes = Vec::new();
    let mut storages = Vec::new();
    for (i, peer) in peers.iter().enumerate() {
        let mut options = NodeOptions::new(
            GroupId::new("reads").unwrap(),
            peer.clone(),
            configuration.clone(),
        );
        options.election_timeout = Duration::from_millis(200);
        options.max_election_delay = Duration::from_millis(200);
        options.jitter_seed = Some(i as u64 + 1);
        options.apply_task_mode = ApplyTaskMode::Blocking;
        if mode == Mode::Lease {
            options.read_only_option = ReadOnlyOption::LeaseBased;
        }
        let transport = Arc::new(network.transport(peer.endpoint().clone()));
        let store: Arc<dyn LogStore> = match dir {
            Some(dir) => {
                let storage =
                    DurableStorage::open(&StorageOptions::new(dir.join(format!("log{i}"))))
                        .expect("fjall");
                let store = storage
                    .log_store(&GroupId::new("reads").unwrap())
                    .expect("store");
                storages.push(storage);
                store
            }
            None => Arc::new(MemoryLogStore::new()),
        };
        let (node, sink) = Node::start(options, Counter::default(), store, transport).unwrap();
        network.register(peer.endpoint().clone(), sink);
        nodes.push(node);
    }
    let leader = loop {
        if let Some(leader) = nodes.iter().find(|n| n.describe().role == Role::Leader) {
            break leader.clone();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // One write so the state machine holds something and the term's entry is applied.
    leader.apply(Task::new(vec![1u8])).await.unwrap();
    (leader, nodes, storages)
}

async fn read_once(node: &Node<Counter>, mode: Mode) -> u64 {
    match mode {
        // An empty entry: a read through the log (applied, answers the counter).
        Mode::Log => node.apply(Task::new(Vec::new())).await.unwrap().response,
        Mode::ReadIndex | Mode::Lease => node.read(|c: &Counter| c.value).await.unwrap(),
    }
}

struct Cell {
    mode: Mode,
    clients: usize,
    reads: u64,
    seconds: f64,
    p50_us: f64,
    p99_us: f64,
}

async fn cell(
    mode: Mode,
    clients: usize,
    duration: Duration,
    base_port: u16,
    durable: bool,
) -> Cell {
    let dir = tempfile::tempdir().expect("temp dir");
    let (leader, nodes, storages) =
        start_cluster(mode, base_port, durable.then(|| dir.path())).await;
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let node = leader.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let value = read_once(&node, mode).await;
                    latencies.push(t.elapsed().as_micros() as u32);
                    assert!(value >= 1, "a read missed the write before it");
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    // Every node stops before the next cell starts (no idle cluster competes with it).
    for node in nodes {
        node.shutdown();
        node.join().await;
    }
    drop(leader);
    drop(storages);
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
    };
    Cell {
        mode,
        clients,
        reads: latencies.len() as u64,
        seconds,
        p50_us: at(0.5),
        p99_us: at(0.99),
    }
}

fn arg(args: &[String], name: &str) -> Option<f64> {
    let position = args.iter().position(|a| a == name)?;
    args.get(position + 1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let json = args.iter().any(|a| a == "--json");
    let seconds = arg(&args, "--seconds").unwrap_or(if bench { 3.0 } else { 0.2 });
    let client_counts: Vec<usize> = if bench { vec![1, 64, 256] } else { vec![4] };
    // `--memory`: memory log stores instead of fjall with fsync.
    let durable = !args.iter().any(|a| a == "--memory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut cells = Vec::new();
    let mut port = 9100;
    for &clients in &client_counts {
        for mode in [Mode::Log, Mode::ReadIndex, Mode::Lease] {
            port += 10;
            let duration = Duration::from_secs_f64(seconds);
            cells.push(runtime.block_on(cell(mode, clients, duration, port, durable)));
        }
    }
    if json {
        let rows: Vec<String> = cells
            .iter()
            .map(|c| {
                format!(
                    "{{\"mode\":\"{}\",\"clients\":{},\"reads\":{},\"seconds\":{:.3},\"reads_per_second\":{:.0},\"p50_us\":{},\"p99_us\":{}}}",
                    c.mode.name(),
                    c.clients,
                    c.reads,
                    c.seconds,
                    c.reads as f64 / c.seconds,
                    c.p50_us,
                    c.p99_us
                )
            })
            .collect();
        println!("[{}]", rows.join(","));
        return;
    }
    println!("| clients | mode | reads/s | p50 | p99 | vs log |");
    println!("| ---: | --- | ---: | ---: | ---: | ---: |");
    for group in cells.chunks(3) {
        let log = group[0].reads as f64 / group[0].seconds;
        for c in group {
            let rate = c.reads as f64 / c.seconds;
            println!(
                "| {} | {} | {:.0} | {:.0} µs | {:.0} µs | {:.2}x |",
                c.clients,
                c.mode.name(),
                rate,
                c.p50_us,
                c.p99_us,
                rate / log
            );
        }
    }
}
