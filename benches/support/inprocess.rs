//! The in-process cluster of `e2e_inprocess` (3 voters, memory log stores, a no-op state
//! machine, the in-process transport, a snapshot every 5,000 entries), shared with the
//! side-by-side comparison against openraft in `baselines/`: both measure the same setup.

use std::sync::Arc;
use std::time::Duration;

use super::common::NoOp;
use concord::core::*;
use concord::runtime::*;
use concord::transport::InProcessNetwork;

/// Starts the three voters and waits until one leads; returns every node and the leader.
pub async fn start_cluster() -> (Vec<Node<NoOp>>, Node<NoOp>) {
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
        // Compaction as openraft does it by default (a snapshot every 5,000 applied
        // entries, the log purged behind it), so neither log grows without bound.
        options.snapshot_store = Some(Arc::new(MemorySnapshotStore::new()));
        options.core.snapshot_log_distance = 5_000;
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
