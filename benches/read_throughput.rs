//! Read throughput and latency, side by side in one run (issue 15): reads through the log
//! (a proposed no-op entry, what every read was before ReadIndex), ReadIndex
//! (`ReadOnlyOption::Safe`) and lease reads (`ReadOnlyOption::LeaseBased`).
//!
//! ```text
//! cargo bench --bench read_throughput                       # 3 s per cell, both transports
//! cargo bench --bench read_throughput -- --seconds 5 --json
//! cargo bench --bench read_throughput -- --transport tcp    # one transport only
//! ```
//!
//! Three voters in this process, fjall log stores with fsync in a temporary directory
//! (`--memory` for memory stores), N clients each reading in a loop for the given time;
//! one fresh cluster per cell. Two transports, side by side in one run:
//!
//! - `in-process`: the nodes talk over the in-process transport, a state machine holds
//!   one counter, and the clients call the leader's `Node` directly.
//! - `tcp`: the nodes talk over loopback TCP (`RaftServer`), each runs the KV state
//!   machine behind the client protocol (`concord::service::serve`), and every client is
//!   a `RemoteKvClient` with its own connection reading one key — what a deployment's
//!   clients see. Log reads propose the `get` as a task (a handler without
//!   `with_reads`); ReadIndex and lease reads use `kv_handler`'s read path.
//!
//! Reports reads per second and the median and 99th percentile latency. Under
//! `cargo test` (no `--bench` argument) it runs 0.2 s cells as a smoke test.

#[path = "support/common.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use concord::core::*;
use concord::kv::*;
use concord::runtime::*;
use concord::service::*;
use concord::transport::{InProcessNetwork, TokioConnector};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    InProcess,
    Tcp,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::InProcess => "in-process",
            Transport::Tcp => "tcp",
        }
    }
}

/// The options every benchmark node runs with.
fn node_options(
    group: &GroupId,
    peer: &PeerId,
    configuration: &ConfigurationEntry<PeerId>,
    index: usize,
    mode: Mode,
) -> NodeOptions {
    let mut options = NodeOptions::new(group.clone(), peer.clone(), configuration.clone());
    options.election_timeout = Duration::from_millis(200);
    options.max_election_delay = Duration::from_millis(200);
    options.jitter_seed = Some(index as u64 + 1);
    options.apply_task_mode = ApplyTaskMode::Blocking;
    if mode == Mode::Lease {
        options.read_only_option = ReadOnlyOption::LeaseBased;
    }
    options
}

/// Node `index`'s log store: fjall with fsync under `dir`, or memory.
fn log_store(
    dir: Option<&std::path::Path>,
    group: &GroupId,
    index: usize,
    storages: &mut Vec<DurableStorage>,
) -> Arc<dyn LogStore> {
    match dir {
        Some(dir) => {
            let storage =
                DurableStorage::open(&StorageOptions::new(dir.join(format!("log{index}"))))
                    .expect("fjall");
            let store = storage.log_store(group).expect("store");
            storages.push(storage);
            store
        }
        None => Arc::new(MemoryLogStore::new()),
    }
}

async fn wait_for_leader<S: StateMachine>(nodes: &[Node<S>]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(leader) = nodes.iter().position(|n| n.describe().role == Role::Leader) {
            return leader;
        }
        assert!(Instant::now() < deadline, "no leader elected in 30 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
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
    let group = GroupId::new("reads").unwrap();
    let peers: Vec<PeerId> = (0..3)
        .map(|i| format!("127.0.0.1:{}", base_port + i).parse().unwrap())
        .collect();
    let configuration = ConfigurationEntry::stable(Configuration::with_voters(peers.clone()));
    let mut nodes = Vec::new();
    let mut storages = Vec::new();
    for (i, peer) in peers.iter().enumerate() {
        let options = node_options(&group, peer, &configuration, i, mode);
        let transport = Arc::new(network.transport(peer.endpoint().clone()));
        let store = log_store(dir, &group, i, &mut storages);
        let (node, sink) = Node::start(options, Counter::default(), store, transport).unwrap();
        network.register(peer.endpoint().clone(), sink);
        nodes.push(node);
    }
    let leader = nodes[wait_for_leader(&nodes).await].clone();
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
    transport: Transport,
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
    summarize(Transport::InProcess, mode, clients, seconds, latencies)
}

fn summarize(
    transport: Transport,
    mode: Mode,
    clients: usize,
    seconds: f64,
    mut latencies: Vec<u32>,
) -> Cell {
    latencies.sort_unstable();
    let at = |q: f64| common::percentile(&latencies, q);
    Cell {
        transport,
        mode,
        clients,
        reads: latencies.len() as u64,
        seconds,
        p50_us: at(0.5),
        p99_us: at(0.99),
    }
}

/// The KV handler of `mode`: log reads propose the `get`, the others serve it with
/// `Node::read`.
fn handler(node: Node<KvStateMachine>, mode: Mode) -> Arc<NodeHandler<KvStateMachine>> {
    match mode {
        Mode::Log => kv_handler_through_log(node),
        Mode::ReadIndex | Mode::Lease => kv_handler(node),
    }
}

/// A cell over loopback TCP: Raft traffic between `RaftServer`s, clients over the client
/// protocol, one connection each.
async fn tcp_cell(mode: Mode, clients: usize, duration: Duration, durable: bool) -> Cell {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = durable.then(|| dir.path());
    let group = GroupId::new("reads").unwrap();
    let (servers, peers) = common::loopback_servers(3).await;
    let configuration = ConfigurationEntry::stable(Configuration::with_voters(peers.clone()));
    let mut nodes = Vec::new();
    let mut members = Vec::new();
    let mut services = Vec::new();
    let mut storages = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let options = node_options(&group, &peers[i], &configuration, i, mode);
        let store = log_store(dir, &group, i, &mut storages);
        let node = server
            .start_node(options, KvStateMachine::new(), store)
            .expect("start");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        services.push(tokio::spawn(serve(
            listener,
            handler(node.clone(), mode),
            ServiceOptions::default(),
        )));
        members.push((peers[i].clone(), Endpoint::new("127.0.0.1", port).unwrap()));
        nodes.push(node);
    }
    // Every client starts at the leader (a redirect would only cost its first request).
    let leader = wait_for_leader(&nodes).await;
    members.rotate_left(leader);
    let key = "k".to_string();
    let mut writer = RemoteKvClient::new(TokioConnector, members.clone(), ClientOptions::default());
    writer
        .execute(&KvCommand::Put {
            key: key.clone(),
            value: Bytes::from_static(b"1"),
        })
        .await
        .expect("first write");
    // Every client connects (and reads once) before the clock starts: connection
    // setup is not a read.
    let get = KvCommand::Get { key };
    let mut ready = Vec::new();
    for _ in 0..clients {
        let mut client =
            RemoteKvClient::new(TokioConnector, members.clone(), ClientOptions::default());
        client.execute(&get).await.expect("warm-up read");
        ready.push(client);
    }
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = ready
        .into_iter()
        .map(|mut client| {
            let get = get.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let response = client.execute(&get).await.expect("read");
                    latencies.push(t.elapsed().as_micros() as u32);
                    assert_eq!(
                        response,
                        KvResponse::Value(Some(Bytes::from_static(b"1"))),
                        "a read missed the write before it"
                    );
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
    for service in services {
        service.abort();
    }
    for node in nodes {
        node.shutdown();
        node.join().await;
    }
    drop(servers);
    drop(storages);
    summarize(Transport::Tcp, mode, clients, seconds, latencies)
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    let position = args.iter().position(|a| a == name)?;
    args.get(position + 1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let json = args.iter().any(|a| a == "--json");
    let seconds = arg::<f64>(&args, "--seconds").unwrap_or(if bench { 3.0 } else { 0.2 });
    let client_counts: Vec<usize> = if bench { vec![1, 64, 256] } else { vec![4] };
    // `--memory`: memory log stores instead of fjall with fsync.
    let durable = !args.iter().any(|a| a == "--memory");
    // `--transport in-process|tcp`: one transport only (default: both).
    let transports: Vec<Transport> = match arg::<String>(&args, "--transport").as_deref() {
        Some("in-process") => vec![Transport::InProcess],
        Some("tcp") => vec![Transport::Tcp],
        None => vec![Transport::InProcess, Transport::Tcp],
        Some(other) => panic!("--transport {other}: expected in-process or tcp"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut cells = Vec::new();
    let mut port = 9100;
    let duration = Duration::from_secs_f64(seconds);
    for &transport in &transports {
        for &clients in &client_counts {
            for mode in [Mode::Log, Mode::ReadIndex, Mode::Lease] {
                cells.push(match transport {
                    Transport::InProcess => {
                        port += 10;
                        runtime.block_on(cell(mode, clients, duration, port, durable))
                    }
                    Transport::Tcp => runtime.block_on(tcp_cell(mode, clients, duration, durable)),
                });
            }
        }
    }
    if json {
        let rows: Vec<String> = cells
            .iter()
            .map(|c| {
                format!(
                    "{{\"transport\":\"{}\",\"mode\":\"{}\",\"clients\":{},\"reads\":{},\"seconds\":{:.3},\"reads_per_second\":{:.0},\"p50_us\":{},\"p99_us\":{}}}",
                    c.transport.name(),
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
    println!("| transport | clients | mode | reads/s | p50 | p99 | vs log |");
    println!("| --- | ---: | --- | ---: | ---: | ---: | ---: |");
    for group in cells.chunks(3) {
        let log = group[0].reads as f64 / group[0].seconds;
        for c in group {
            let rate = c.reads as f64 / c.seconds;
            println!(
                "| {} | {} | {} | {:.0} | {:.0} µs | {:.0} µs | {:.2}x |",
                c.transport.name(),
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
