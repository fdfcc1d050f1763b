//! Nodes over real TCP on loopback: three servers, two Raft groups on each (multi-raft),
//! KV traffic through a client that follows redirects.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use concord::core::*;
use concord::kv::*;
use concord::runtime::*;
use concord::transport::*;

fn fast(options: &mut NodeOptions) {
    options.election_timeout = Duration::from_millis(150);
    options.max_election_delay = Duration::from_millis(150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_host_two_groups_each() {
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(
            RaftServer::bind("127.0.0.1", 0, TcpOptions::default())
                .await
                .unwrap(),
        );
    }
    let peers: Vec<PeerId> = servers
        .iter()
        .map(|s| PeerId::new(s.endpoint().clone(), 0))
        .collect();
    let configuration = ConfigurationEntry::stable(Configuration::with_voters(peers.clone()));
    let mut clients = Vec::new();
    for group in ["alpha", "beta"] {
        let mut nodes = Vec::new();
        for (i, server) in servers.iter().enumerate() {
            let mut options = NodeOptions::new(
                GroupId::new(group).unwrap(),
                peers[i].clone(),
                configuration.clone(),
            );
            fast(&mut options);
            options.jitter_seed = Some(i as u64 * 31 + group.len() as u64);
            let node = server
                .start_node(
                    options,
                    KvStateMachine::new(),
                    Arc::new(MemoryLogStore::new()),
                )
                .unwrap();
            nodes.push((peers[i].clone(), node));
        }
        clients.push(KvClient::new(nodes));
    }
    for (g, client) in clients.iter_mut().enumerate() {
        for i in 0..20 {
            let key = format!("k{}", i % 3);
            let value = Bytes::from(format!("g{g}-v{i}"));
            let response = client
                .execute(KvCommand::Put {
                    key: key.clone(),
                    value: value.clone(),
                })
                .await
                .unwrap();
            assert_eq!(response, KvResponse::Written);
            let read = client.execute(KvCommand::Get { key }).await.unwrap();
            assert_eq!(read, KvResponse::Value(Some(value)));
        }
        let swap = client
            .execute(KvCommand::Cas {
                key: "k0".into(),
                expected: None,
                new: Bytes::from_static(b"x"),
            })
            .await
            .unwrap();
        assert!(matches!(swap, KvResponse::Swapped { swapped: false, .. }));
    }
    // The groups are independent: alpha's value is not beta's.
    let alpha = clients[0]
        .execute(KvCommand::Get { key: "k1".into() })
        .await
        .unwrap();
    let beta = clients[1]
        .execute(KvCommand::Get { key: "k1".into() })
        .await
        .unwrap();
    assert_ne!(alpha, beta);

    // A frame for a group nobody hosts is rejected and counted, not delivered.
    let stranger = TcpTransport::new(TokioConnector, TcpOptions::default());
    let frame = RaftFrame {
        group: GroupId::new("nope").unwrap(),
        from: peers[1].clone(),
        to: peers[0].clone(),
        body: FrameBody::Raft(Message::Heartbeat(Heartbeat {
            term: Term(99),
            commit: LogIndex(0),
            round: 0,
        })),
        payloads: Vec::new(),
    };
    stranger.send(servers[0].endpoint(), frame).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while servers[0].router().frames_for_unknown_groups() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "unknown-group frame not counted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn wildcard_addresses_are_refused() {
    let error = RaftServer::bind("0.0.0.0", 0, TcpOptions::default())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            error,
            StartError::InvalidOption {
                name: "endpoint",
                ..
            }
        ),
        "{error:?}"
    );
    let configuration = ConfigurationEntry::stable(Configuration::<PeerId>::default());
    let options = NodeOptions::new(
        GroupId::new("g").unwrap(),
        "0.0.0.0:1".parse().unwrap(),
        configuration,
    );
    assert!(matches!(
        options.validate(),
        Err(StartError::InvalidOption { name: "peer", .. })
    ));
}

/// A server that cannot listen says so as a listen error naming the endpoint (not as a
/// storage error, as before 2026-12-03).
#[tokio::test]
async fn a_port_in_use_is_a_listen_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = taken.local_addr().expect("address").port();
    let error = RaftServer::bind("127.0.0.1", port, TcpOptions::default())
        .await
        .err()
        .expect("the port is taken");
    match &error {
        StartError::Listen { endpoint, reason } => {
            assert_eq!(endpoint, &format!("127.0.0.1:{port}"));
            assert!(!reason.is_empty());
        }
        other => panic!("expected a listen error, got {other:?}"),
    }
    drop(taken);
}
