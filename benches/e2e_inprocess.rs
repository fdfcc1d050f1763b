//! End to end in one process: 3 voters, memory log stores, a no-op state machine, the
//! in-process transport, and N concurrent clients each proposing in a loop on the
//! leader. Throughput = completed `apply` calls (committed and applied) per second.
//! Comparable to openraft's in-process benchmark (see docs/benchmarks.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support/common.rs"]
mod common;

use common::NoOp;
use concord::core::*;
use concord::runtime::*;
use concord::transport::InProcessNetwork;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

async fn start_cluster() -> (Vec<Node<NoOp>>, Node<NoOp>) {
    let network = InProcessNetwork::new();
    let peers: Vec<PeerId> = (0..3)
        .map(|i| format!("127.0.0.1:{}", 9000 + i).parse().unwrap())
        .collect();
    let configuration = ConfigurationEntry::stable(Configuration::with_voters(peers.clone()));
    let mut nodes = Vec::new();
    for (i, peer) in peers.iter().enumerate() {
        let mut options = NodeOptions::new(
            GroupId::new("bench").unwrap(),
            peer.clone(),
            configuration.clone(),
        );
        options.election_timeout = Duration::from_millis(200);
        options.max_election_delay = Duration::from_millis(200);
        options.jitter_seed = Some(i as u64);
        options.apply_task_mode = ApplyTaskMode::Blocking;
        let transport = Arc::new(network.transport(peer.endpoint().clone()));
        let (node, sink) =
            Node::start(options, NoOp, Arc::new(MemoryLogStore::new()), transport).unwrap();
        network.register(peer.endpoint().clone(), sink);
        nodes.push(node);
    }
    let leader = loop {
        if let Some(leader) = nodes.iter().find(|n| n.describe().role == Role::Leader) {
            break leader.clone();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    (nodes, leader)
}

fn e2e(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("e2e_inprocess");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for clients in [1usize, 64, 256, 4096] {
        // A fresh cluster per client count: the memory log keeps every entry, so a
        // shared cluster would make each case pay for the log grown by the cases before
        // it, and the results would depend on their order.
        let (nodes, leader) = runtime.block_on(start_cluster());
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(
            BenchmarkId::new("clients", clients),
            &clients,
            |b, &clients| {
                b.iter_custom(|iters| {
                    let leader = leader.clone();
                    runtime.block_on(async move {
                        let per_client = (iters as usize).div_ceil(clients).max(1);
                        let start = Instant::now();
                        let workers: Vec<_> = (0..clients)
                            .map(|_| {
                                let leader = leader.clone();
                                tokio::spawn(async move {
                                    for _ in 0..per_client {
                                        leader.apply(Task::new(&b"x"[..])).await.expect("apply");
                                    }
                                })
                            })
                            .collect();
                        for worker in workers {
                            worker.await.unwrap();
                        }
                        let elapsed = start.elapsed();
                        // Report time per operation actually performed.
                        elapsed.mul_f64(iters as f64 / (per_client * clients) as f64)
                    })
                });
            },
        );
        runtime.block_on(async {
            for node in &nodes {
                node.shutdown();
            }
            for node in nodes {
                node.join().await;
            }
        });
    }
    group.finish();
}

criterion_group!(benches, e2e);
criterion_main!(benches);
