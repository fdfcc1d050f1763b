//! Memory of a cluster under a steady write load, with and without snapshots (issue
//! 13: "steady-state memory of a leader under a 10-minute write load stays flat").
//!
//! Three voters in this process (in-process transport, fjall log stores with fsync on
//! in a temporary directory, the KV state machine over 1000 keys), 32 clients writing in a loop
//! on the leader. The resident set size is sampled every `--every` seconds. With
//! `--snapshots` each node snapshots every 10,000 entries into a `LocalSnapshotStore`
//! and compacts its log; without, the log (and the core's per-entry metadata) grows
//! with every write.
//!
//! ```text
//! cargo bench --bench steady_memory -- --seconds 600 --snapshots --json
//! cargo bench --bench steady_memory -- --seconds 600 --json
//! ```
//!
//! `--memory`: memory log and snapshot stores instead of fjall and files (what the
//! runtime itself holds, without the database's caches and memtables).
//!
//! Under `cargo test` (no `--bench` argument) it runs 3 seconds as a smoke test.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use concord::core::{Configuration, ConfigurationEntry, GroupId, PeerId, Role};
use concord::kv::{KvCommand, KvStateMachine};
use concord::runtime::{
    ApplyError, ApplyTaskMode, DurableStorage, Node, NodeOptions, StorageOptions, Task,
};
use concord::transport::InProcessNetwork;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Bytes in the files under `path` (the three nodes' logs and snapshots).
fn disk_bytes(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => disk_bytes(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

fn arg(args: &[String], name: &str) -> Option<u64> {
    let position = args.iter().position(|a| a == name)?;
    args.get(position + 1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let seconds = arg(&args, "--seconds").unwrap_or(if bench { 60 } else { 3 });
    let every = arg(&args, "--every")
        .unwrap_or(if bench { 10 } else { 1 })
        .max(1);
    let snapshots = args.iter().any(|a| a == "--snapshots");
    let json = args.iter().any(|a| a == "--json");
    // Memory log and snapshot stores instead of fjall and files: what the runtime
    // itself holds, without the database's caches and memtables.
    let memory = args.iter().any(|a| a == "--memory");
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let samples = runtime.block_on(async {
        let network = InProcessNetwork::new();
        let peers: Vec<PeerId> = (0..3)
            .map(|i| format!("127.0.0.1:{}", 9100 + i).parse().expect("peer"))
            .collect();
        let configuration = ConfigurationEntry::stable(Configuration::with_voters(peers.clone()));
        let group = GroupId::new("steady").expect("group");
        let mut nodes = Vec::new();
        let mut storages = Vec::new();
        for (i, peer) in peers.iter().enumerate() {
            let storage =
                DurableStorage::open(&StorageOptions::new(dir.path().join(format!("log{i}"))))
                    .expect("fjall");
            let store: Arc<dyn concord::runtime::LogStore> = if memory {
                Arc::new(concord::runtime::MemoryLogStore::new())
            } else {
                storage.log_store(&group).expect("store")
            };
            storages.push(storage);
            let mut options = NodeOptions::new(group.clone(), peer.clone(), configuration.clone());
            options.election_timeout = Duration::from_millis(300);
            options.max_election_delay = Duration::from_millis(300);
            options.apply_task_mode = ApplyTaskMode::Blocking;
            if snapshots && memory {
                options.snapshot_store =
                    Some(Arc::new(concord::runtime::MemorySnapshotStore::new()));
            }
            if snapshots {
                options.snapshot_dir = Some(dir.path().join(format!("snap{i}")));
                options.core.snapshot_log_distance = 10_000;
            }
            let transport = Arc::new(network.transport(peer.endpoint().clone()));
            let (node, sink) =
                Node::start(options, KvStateMachine::new(), store, transport).expect("start");
            network.register(peer.endpoint().clone(), sink);
            nodes.push(node);
        }
        let leader: Node<KvStateMachine> = loop {
            if let Some(leader) = nodes.iter().find(|n| n.describe().role == Role::Leader) {
                break leader.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let clients: Vec<_> = (0..32u64)
            .map(|c| {
                let (leader, stop, done) = (leader.clone(), stop.clone(), done.clone());
                tokio::spawn(async move {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        let put = KvCommand::Put {
                            key: format!("key{}", (c * 7919 + i) % 1000),
                            value: vec![b'v'; 100].into(),
                        };
                        match leader.apply(Task::new(put.encode())).await {
                            Ok(_) => {
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(ApplyError::Overloaded) => tokio::task::yield_now().await,
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        let start = Instant::now();
        let mut samples = Vec::new();
        while start.elapsed() < Duration::from_secs(seconds) {
            tokio::time::sleep(Duration::from_secs(every)).await;
            let status = leader.describe();
            samples.push((
                start.elapsed().as_secs(),
                rss_kib(),
                done.load(Ordering::Relaxed),
                status.snapshot.map_or(0, |id| id.index.0),
                disk_bytes(dir.path()),
            ));
        }
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            let _ = client.await;
        }
        for node in &nodes {
            node.shutdown();
        }
        for node in &nodes {
            node.join().await;
        }
        samples
    });
    if json {
        let rows: Vec<String> = samples
            .iter()
            .map(|(t, rss, ops, snapshot, disk)| {
                format!("{{\"t\":{t},\"rss_kib\":{rss},\"ops\":{ops},\"snapshot\":{snapshot},\"disk_bytes\":{disk}}}")
            })
            .collect();
        println!(
            "{{\"snapshots\":{snapshots},\"seconds\":{seconds},\"samples\":[{}]}}",
            rows.join(",")
        );
        return;
    }
    println!(
        "snapshots {}: t, RSS, writes, leader's snapshot index, bytes on disk (3 nodes)",
        if snapshots { "on" } else { "off" }
    );
    for (t, rss, ops, snapshot, disk) in &samples {
        println!(
            "{t:>5} s  {:>8.1} MiB  {ops:>9}  {snapshot:>9}  {:>8.1} MiB",
            *rss as f64 / 1024.0,
            *disk as f64 / (1024.0 * 1024.0)
        );
    }
}
