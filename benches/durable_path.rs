//! The durable path (issue 17): three voters over loopback TCP (`RaftServer`), each
//! with a fjall log store with fsync on (the default `StorageOptions`), default node
//! options; clients in the leader's process propose 128-byte entries with
//! `Node::apply` and wait until each is committed and applied.
//!
//! ```text
//! cargo bench --bench durable_path                       # 3 s per cell
//! cargo bench --bench durable_path -- --seconds 5 --json
//! cargo bench --bench durable_path -- --dir /data/bench        # the disk to measure
//! ```
//!
//! Reported in one run, side by side:
//!
//! - commit latency (p50, p99) for 1 client, and throughput at 1, 16 and 256 clients
//!   (closed loop: each client proposes its next entry when the last one is applied);
//! - raw probes on the same machine, before and after the cells: `write` of one entry's
//!   bytes + `fdatasync` on a file on the same disk (a floor for one durable append: the
//!   store's journal is pre-allocated and synced with `fsync`, and in the cluster three
//!   nodes sync at once on one disk, so the probe is a lower bound), and a loopback TCP round trip of one AppendEntries-sized message
//!   on the same tokio runtime (the network's floor for one replication);
//! - the physical limit of one commit: the leader's fsync runs in parallel with the
//!   follower's (send, fsync, answer), so a commit cannot take less than
//!   `max(fsync, rtt + fsync) = rtt + fsync`; the ratio of the 1-client p50 to it (goal:
//!   within 2×).
//!
//! Under `cargo test` (no `--bench` argument) it runs 0.2 s cells as a smoke test.

#[path = "support/common.rs"]
mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{percentile, NoOp};
use concord::core::*;
use concord::runtime::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ENTRY_BYTES: usize = 128;

struct Cluster {
    leader: Node<NoOp>,
    nodes: Vec<Node<NoOp>>,
    _servers: Vec<RaftServer>,
    _storages: Vec<DurableStorage>,
    _dir: tempfile::TempDir,
}

async fn start_cluster() -> Cluster {
    let dir = scratch_dir();
    let group = GroupId::new("durable").unwrap();
    let (servers, peers) = common::loopback_servers(3).await;
    let configuration = ConfigurationEntry::stable(Configuration::with_voters(peers.clone()));
    let mut nodes = Vec::new();
    let mut storages = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let options = NodeOptions::new(group.clone(), peers[i].clone(), configuration.clone());
        let storage = DurableStorage::open(&StorageOptions::new(dir.path().join(format!("n{i}"))))
            .expect("fjall");
        let store = storage.log_store(&group).expect("log store");
        storages.push(storage);
        nodes.push(server.start_node(options, NoOp, store).expect("start"));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let leader = loop {
        if let Some(leader) = nodes.iter().find(|n| n.describe().role == Role::Leader) {
            break leader.clone();
        }
        assert!(Instant::now() < deadline, "no leader in 30 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // The term's first entry is committed before the clock starts.
    leader
        .apply(Task::new(vec![0u8; ENTRY_BYTES]))
        .await
        .expect("first write");
    Cluster {
        leader,
        nodes,
        _servers: servers,
        _storages: storages,
        _dir: dir,
    }
}

struct Cell {
    clients: usize,
    commits: u64,
    seconds: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Where the stores and the fsync probe live: `--dir` (the disk to measure), else the
/// system's temporary directory — check it is not a tmpfs, where fsync costs nothing.
fn scratch_dir() -> tempfile::TempDir {
    let args: Vec<String> = std::env::args().collect();
    match arg::<String>(&args, "--dir") {
        Some(dir) => tempfile::tempdir_in(dir).expect("--dir: a writable directory"),
        None => tempfile::tempdir().expect("temp dir"),
    }
}

async fn cell(clients: usize, duration: Duration) -> Cell {
    let cluster = start_cluster().await;
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let node = cluster.leader.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    node.apply(Task::new(vec![7u8; ENTRY_BYTES]))
                        .await
                        .expect("commit");
                    latencies.push(t.elapsed().as_micros() as u32);
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
    for node in &cluster.nodes {
        node.shutdown();
    }
    for node in &cluster.nodes {
        node.join().await;
    }
    latencies.sort_unstable();
    Cell {
        clients,
        commits: latencies.len() as u64,
        seconds,
        p50_us: percentile(&latencies, 0.5),
        p99_us: percentile(&latencies, 0.99),
    }
}

/// `write` of one entry's bytes (with a record header's worth more) + `fdatasync`,
/// appended to one file in a fresh directory beside the stores': p50 and p99 in µs.
fn probe_fsync(duration: Duration) -> (f64, f64) {
    let dir = scratch_dir();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("probe"))
        .expect("probe file");
    let record = vec![0x5Au8; ENTRY_BYTES + 64];
    let mut samples = Vec::new();
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline || samples.len() < 20 {
        let t = Instant::now();
        file.write_all(&record).expect("write");
        file.sync_data().expect("fdatasync");
        samples.push(t.elapsed().as_micros() as u32);
    }
    samples.sort_unstable();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

/// A loopback TCP round trip of an AppendEntries-sized message (one entry) and a small
/// answer, between two tasks of this runtime: p50 and p99 in µs.
async fn probe_rtt(duration: Duration) -> (f64, f64) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let request = ENTRY_BYTES + 96;
    let answer = 48;
    let echo = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        stream.set_nodelay(true).expect("nodelay");
        let mut buffer = vec![0u8; request];
        let reply = vec![1u8; answer];
        while stream.read_exact(&mut buffer).await.is_ok() {
            if stream.write_all(&reply).await.is_err() {
                return;
            }
        }
    });
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let message = vec![2u8; request];
    let mut reply = vec![0u8; answer];
    let mut samples = Vec::new();
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline || samples.len() < 20 {
        let t = Instant::now();
        stream.write_all(&message).await.expect("send");
        stream.read_exact(&mut reply).await.expect("answer");
        samples.push(t.elapsed().as_micros() as u32);
    }
    drop(stream);
    let _ = echo.await;
    samples.sort_unstable();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
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
    let duration = Duration::from_secs_f64(seconds);
    let client_counts: Vec<usize> = if bench { vec![1, 16, 256] } else { vec![1, 4] };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let probe = Duration::from_secs_f64(seconds.min(2.0));
    let fsync_before = probe_fsync(probe);
    let rtt_before = runtime.block_on(probe_rtt(probe));
    let cells: Vec<Cell> = client_counts
        .iter()
        .map(|&clients| runtime.block_on(cell(clients, duration)))
        .collect();
    let fsync_after = probe_fsync(probe);
    let rtt_after = runtime.block_on(probe_rtt(probe));
    // The floor of one commit, from the probes' medians (the lower of before and after:
    // the disk's speed drifts on a virtual machine).
    let fsync = fsync_before.0.min(fsync_after.0);
    let rtt = rtt_before.0.min(rtt_after.0);
    let limit = rtt + fsync;
    let one = &cells[0];
    let ratio = one.p50_us / limit;
    let base = one.commits as f64 / one.seconds;
    let machine = std::thread::available_parallelism().map_or(0, |n| n.get());
    if json {
        let rows: Vec<String> = cells
            .iter()
            .map(|c| {
                format!(
                    "{{\"clients\":{},\"commits\":{},\"seconds\":{:.3},\"commits_per_second\":{:.0},\"p50_us\":{},\"p99_us\":{}}}",
                    c.clients,
                    c.commits,
                    c.seconds,
                    c.commits as f64 / c.seconds,
                    c.p50_us,
                    c.p99_us
                )
            })
            .collect();
        println!(
            "{{\"cpus\":{machine},\"entry_bytes\":{ENTRY_BYTES},\"fsync_p50_us\":[{},{}],\"fsync_p99_us\":[{},{}],\"rtt_p50_us\":[{},{}],\"rtt_p99_us\":[{},{}],\"limit_us\":{limit},\"one_client_p50_over_limit\":{ratio:.2},\"cells\":[{}]}}",
            fsync_before.0,
            fsync_after.0,
            fsync_before.1,
            fsync_after.1,
            rtt_before.0,
            rtt_after.0,
            rtt_before.1,
            rtt_after.1,
            rows.join(",")
        );
        return;
    }
    println!(
        "stores and probe under {} (the disk measured)",
        arg::<String>(&args, "--dir")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .display()
    );
    println!(
        "raw probes (before / after): write {}+fdatasync p50 {:.0} / {:.0} µs (p99 {:.0} / {:.0}); loopback RTT p50 {:.0} / {:.0} µs (p99 {:.0} / {:.0})",
        ENTRY_BYTES + 64,
        fsync_before.0,
        fsync_after.0,
        fsync_before.1,
        fsync_after.1,
        rtt_before.0,
        rtt_after.0,
        rtt_before.1,
        rtt_after.1
    );
    println!(
        "physical limit of one commit: rtt + fsync = {limit:.0} µs; 1-client p50 {:.0} µs = {ratio:.2}x the limit",
        one.p50_us
    );
    println!();
    println!("| clients | commits/s | p50 | p99 | vs 1 client |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for c in &cells {
        let rate = c.commits as f64 / c.seconds;
        println!(
            "| {} | {:.0} | {:.0} µs | {:.0} µs | {:.1}x |",
            c.clients,
            rate,
            c.p50_us,
            c.p99_us,
            rate / base
        );
    }
}
