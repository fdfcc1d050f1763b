//! raft-rs 0.7 (`RawNode` with its `MemStorage`) on `core_step`'s workload: three nodes in
//! one thread, the leader takes a batch of proposals, both followers append it, the leader
//! counts the answers and commits; every `Ready` is handled at once (entries appended to
//! the in-memory storage, messages delivered in the same thread). No IO, no encoding.
//!
//! A batch is one `MsgPropose` with all its entries (raft-rs's batched proposal; one
//! `propose` call per entry would send one append per entry). Entries carry no data: the
//! Concord core never holds payloads (its proposals are metadata with a size), so empty
//! entries are the closest raft-rs can come — if anything this favours raft-rs.

use raft::prelude::*;
use raft::storage::MemStorage;
use raft::{Config, RawNode};

pub struct Trio {
    nodes: Vec<RawNode<MemStorage>>,
}

impl Trio {
    pub fn elected() -> Trio {
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let nodes = (1..=3u64)
            .map(|id| {
                let config = Config {
                    id,
                    election_tick: 10,
                    heartbeat_tick: 3,
                    max_size_per_msg: 1024 * 1024,
                    max_inflight_msgs: 256,
                    ..Default::default()
                };
                let storage =
                    MemStorage::new_with_conf_state(ConfState::from((vec![1, 2, 3], vec![])));
                RawNode::new(&config, storage, &logger).expect("raw node")
            })
            .collect();
        let mut trio = Trio { nodes };
        trio.nodes[0].campaign().expect("campaign");
        trio.settle();
        assert_eq!(trio.nodes[0].raft.state, raft::StateRole::Leader);
        trio
    }

    pub fn round(&mut self, batch: usize) {
        let mut propose = Message::default();
        propose.set_msg_type(MessageType::MsgPropose);
        propose.from = 1;
        propose.set_entries(
            (0..batch)
                .map(|_| Entry::default())
                .collect::<Vec<_>>()
                .into(),
        );
        self.nodes[0].step(propose).expect("propose");
        self.settle();
    }

    pub fn commit_index(&self) -> u64 {
        self.nodes[0].raft.raft_log.committed
    }

    /// Handles every node's `Ready` and delivers the messages until nothing moves.
    fn settle(&mut self) {
        let mut messages = Vec::new();
        loop {
            for node in &mut self.nodes {
                if node.has_ready() {
                    handle_ready(node, &mut messages);
                }
            }
            if messages.is_empty() {
                break;
            }
            for message in messages.drain(..) {
                let to = message.to as usize - 1;
                self.nodes[to].step(message).expect("step");
            }
        }
    }
}

fn handle_ready(node: &mut RawNode<MemStorage>, out: &mut Vec<Message>) {
    let mut ready = node.ready();
    out.extend(ready.take_messages());
    if !ready.entries().is_empty() {
        node.store().wl().append(ready.entries()).expect("append");
    }
    if let Some(hard_state) = ready.hs() {
        node.store().wl().set_hardstate(hard_state.clone());
    }
    out.extend(ready.take_persisted_messages());
    drop(ready.take_committed_entries());
    let mut light = node.advance(ready);
    if let Some(commit) = light.commit_index() {
        node.store().wl().mut_hard_state().set_commit(commit);
    }
    out.extend(light.take_messages());
    drop(light.take_committed_entries());
    node.advance_apply();
}
