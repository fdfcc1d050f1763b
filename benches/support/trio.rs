//! Three in-memory cores and one replication round between them (the `core_step`
//! benchmark's workload, shared with the comparison against raft-rs in `baselines/`).
//! Persistence completions are reported immediately: protocol logic only.

use concord::core::*;

pub struct Trio {
    pub nodes: Vec<RaftCore<u64>>,
    next_request: u64,
}

/// Runs every action to completion, each batch of actions as the node that issued it
/// (sends delivered at once, writes reported durable at once).
fn deliver_all(nodes: &mut [RaftCore<u64>], from: u64, actions: Vec<Action<u64>>) {
    let mut queue = vec![(from, actions)];
    while let Some((from, actions)) = queue.pop() {
        for action in actions {
            match action {
                Action::Send { to, message } => {
                    let actions = nodes[(to - 1) as usize].step(Input::Message { from, message });
                    queue.push((to, actions));
                }
                Action::SaveHardState { seq, .. }
                | Action::TruncateLog { seq, .. }
                | Action::AppendLog { seq, .. } => {
                    let actions = nodes[(from - 1) as usize].step(Input::Persisted { seq });
                    queue.push((from, actions));
                }
                _ => {}
            }
        }
    }
}

impl Trio {
    pub fn elected() -> Trio {
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
        deliver_all(&mut nodes, 1, actions);
        assert!(nodes[0].is_leader());
        Trio {
            nodes,
            next_request: 0,
        }
    }

    pub fn round(&mut self, batch: usize) {
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
        deliver_all(&mut self.nodes, 1, actions);
    }
}
