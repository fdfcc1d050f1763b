//! The core's hot path: one replication round through three cores — the leader takes a
//! batch of proposals, both followers append it, the leader counts the acknowledgements
//! and commits. Persistence is reported immediately, so this measures protocol logic
//! only (no IO, no encoding). Reported per batch; divide by the batch size for per-entry.

use std::hint::black_box;

use concord::core::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

struct Trio {
    nodes: Vec<RaftCore<u64>>,
    next_request: u64,
}

fn deliver_all(nodes: &mut [RaftCore<u64>], mut queue: Vec<(u64, Action<u64>)>) {
    while let Some((from, action)) = queue.pop() {
        match action {
            Action::Send { to, message } => {
                let actions = nodes[(to - 1) as usize].step(Input::Message { from, message });
                queue.extend(actions.into_iter().map(|a| (to, a)));
            }
            Action::SaveHardState { seq, .. }
            | Action::TruncateLog { seq, .. }
            | Action::AppendLog { seq, .. } => {
                let actions = nodes[(from - 1) as usize].step(Input::Persisted { seq });
                queue.extend(actions.into_iter().map(|a| (from, a)));
            }
            _ => {}
        }
    }
}

impl Trio {
    fn elected() -> Trio {
        let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64, 2, 3]));
        let mut nodes: Vec<RaftCore<u64>> = (1..=3)
            .map(|id| {
                let mut core = RaftCore::new(
                    id,
                    CoreOptions::default(),
                    Restored::empty(configuration.clone()),
                )
                .unwrap();
                core.start();
                core
            })
            .collect();
        let actions = nodes[0].step(Input::Timeout(Timer::Election));
        deliver_all(&mut nodes, actions.into_iter().map(|a| (1, a)).collect());
        assert!(nodes[0].is_leader());
        Trio {
            nodes,
            next_request: 0,
        }
    }

    fn round(&mut self, batch: usize) {
        let proposals: Vec<Proposal> = (0..batch)
            .map(|_| {
                self.next_request += 1;
                Proposal {
                    id: RequestId(self.next_request),
                    size_bytes: 128,
                    expected_term: None,
                }
            })
            .collect();
        let actions = self.nodes[0].step(Input::Propose(proposals));
        deliver_all(
            &mut self.nodes,
            actions.into_iter().map(|a| (1, a)).collect(),
        );
    }
}

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
