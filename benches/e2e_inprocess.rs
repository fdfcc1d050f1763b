//! End to end in one process: 3 voters, memory log stores, a no-op state machine, the
//! in-process transport, and N concurrent clients each proposing in a loop on the
//! leader. Throughput = completed `apply` calls (committed and applied) per second.
//! Comparable to openraft's in-process benchmark (see docs/benchmarks.md).

use std::time::{Duration, Instant};

#[path = "support/common.rs"]
mod common;
#[path = "support/inprocess.rs"]
mod inprocess;

use concord::runtime::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use inprocess::start_cluster;

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
