//! A cluster on the durable fjall store: every node stops, restarts from its directory,
//! and the replicated state is intact.

#![cfg(feature = "fjall")]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use concord::core::*;
use concord::kv::*;
use concord::runtime::*;
use concord::transport::InProcessNetwork;

/// `count` voters on fjall, each in its own directory under `dir`.
fn start_cluster(
    dir: &Path,
    network: &InProcessNetwork,
    count: usize,
) -> Vec<(PeerId, Node<KvStateMachine>, DurableStorage)> {
    let peers: Vec<PeerId> = (0..count)
        .map(|i| format!("127.0.0.1:{}", 7100 + i).parse().unwrap())
        .collect();
    let configuration = ConfigurationEntry::stable(Configuration::with_voters(peers.clone()));
    let group = GroupId::new("kv").unwrap();
    peers
        .iter()
        .enumerate()
        .map(|(i, peer)| {
            // Built from options, as users do: fsync once per write batch.
            let storage =
                DurableStorage::open(&StorageOptions::new(dir.join(format!("node{i}")))).unwrap();
            let store = storage.log_store(&group).unwrap();
            let mut node_options =
                NodeOptions::new(group.clone(), peer.clone(), configuration.clone());
            node_options.election_timeout = Duration::from_millis(150);
            node_options.max_election_delay = Duration::from_millis(150);
            node_options.jitter_seed = Some(i as u64);
            let transport = Arc::new(network.transport(peer.endpoint().clone()));
            let (node, sink) =
                Node::start(node_options, KvStateMachine::new(), store, transport).unwrap();
            network.register(peer.endpoint().clone(), sink);
            (peer.clone(), node, storage)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_full_cluster_restart() {
    let dir = tempfile::tempdir().unwrap();
    let network = InProcessNetwork::new();
    let nodes = start_cluster(dir.path(), &network, 3);
    let mut client = KvClient::new(
        nodes
            .iter()
            .map(|(p, n, _)| (p.clone(), n.clone()))
            .collect(),
    );
    for i in 0..30 {
        let command = KvCommand::Put {
            key: format!("key{}", i % 5),
            value: Bytes::from(format!("value{i}")),
        };
        assert_eq!(client.execute(command).await.unwrap(), KvResponse::Written);
    }
    for (_, node, _) in &nodes {
        node.shutdown();
    }
    for (_, node, _) in &nodes {
        node.join().await;
    }
    drop(client);
    drop(nodes); // closes the fjall databases

    let network = InProcessNetwork::new();
    let nodes = start_cluster(dir.path(), &network, 3);
    let mut client = KvClient::new(
        nodes
            .iter()
            .map(|(p, n, _)| (p.clone(), n.clone()))
            .collect(),
    );
    for k in 0..5 {
        let expected = Bytes::from(format!("value{}", 25 + k));
        let read = client
            .execute(KvCommand::Get {
                key: format!("key{k}"),
            })
            .await
            .unwrap();
        assert_eq!(
            read,
            KvResponse::Value(Some(expected)),
            "key{k} lost across the restart"
        );
    }
    let status = nodes[0].1.describe();
    assert!(
        status.term > Term(1),
        "a restart must not reuse term 1: {status:?}"
    );
}

/// A restart replays a log longer than the runtime hands to the state machine at once
/// (it reads committed entries back in chunks of 1024, handing a new one over only
/// while fewer than 4096 are waiting in the state machine, and recovery keeps no
/// payloads): every entry is re-applied, in order — each client's writes are a chain of
/// compare-and-sets, so a skipped, repeated or reordered entry breaks its chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_replays_a_long_log_in_bounded_chunks() {
    const CLIENTS: usize = 32;
    const WRITES: usize = 200; // 6,400 entries in all
    let dir = tempfile::tempdir().unwrap();
    let network = InProcessNetwork::new();
    let (peer, node, fjall) = start_cluster(dir.path(), &network, 1).remove(0);
    let writers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let mut client = KvClient::new(vec![(peer.clone(), node.clone())]);
            tokio::spawn(async move {
                // A chain of compare-and-sets: replaying it skips or reorders nothing,
                // or the chain breaks and the final value differs.
                for i in 0..WRITES {
                    let command = KvCommand::Cas {
                        key: format!("client{c}"),
                        expected: i.checked_sub(1).map(|p| Bytes::from(format!("{p}"))),
                        new: Bytes::from(format!("{i}")),
                    };
                    let response = client.execute(command).await.unwrap();
                    assert!(
                        matches!(response, KvResponse::Swapped { swapped: true, .. }),
                        "{response:?}"
                    );
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    // Every write answered, and the leader's blank entry: the state machine reports to
    // the driver after it answers the clients, so wait for the status to say so.
    let written = node
        .wait_for(|s| s.applied_index.0 > (CLIENTS * WRITES) as u64)
        .await
        .applied_index;
    node.shutdown();
    node.join().await;
    drop((node, fjall));

    let network = InProcessNetwork::new();
    let (peer, node, _fjall) = start_cluster(dir.path(), &network, 1).remove(0);
    let mut client = KvClient::new(vec![(peer, node.clone())]);
    for c in 0..CLIENTS {
        let read = client
            .execute(KvCommand::Get {
                key: format!("client{c}"),
            })
            .await
            .unwrap();
        let expected = Bytes::from(format!("{}", WRITES - 1));
        assert_eq!(read, KvResponse::Value(Some(expected)), "client{c}");
    }
    assert!(node.describe().applied_index > written);
}
