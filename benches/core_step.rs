//! The core's hot path: one replication round through three cores — the leader takes a
//! batch of proposals, both followers append it, the leader counts the acknowledgements
//! and commits. Persistence is reported immediately, so this measures protocol logic
//! only (no IO, no encoding). Reported per batch; divide by the batch size for per-entry.

use std::hint::black_box;

#[path = "support/trio.rs"]
mod trio;

use concord::core::LogIndex;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use trio::Trio;

fn replication_round(c: &mut Criterion) {
    let mut group = c.benchmark_group("core/replication_round");
    for batch in [1usize, 64] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let mut trio = Trio::elected();
            b.iter(|| {
                trio.round(black_box(batch));
            });
            assert!(trio.nodes[0].commit_index() > LogIndex(1));
        });
    }
    group.finish();
}

criterion_group!(benches, replication_round);
criterion_main!(benches);
