//! The client protocol over real TCP: a remote KV client that starts at a follower and
//! follows the redirect, typed refusals, and a server that survives malformed input.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use concord::core::*;
use concord::kv::*;
use concord::runtime::*;
use concord::service::*;
use concord::transport::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Cluster {
    _servers: Vec<RaftServer>,
    nodes: Vec<Node<KvStateMachine>>,
    members: Vec<(PeerId, Endpoint)>,
}

async fn cluster() -> Cluster {
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
    let mut nodes = Vec::new();
    let mut members = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let mut options = NodeOptions::new(
            GroupId::new("svc").unwrap(),
            peers[i].clone(),
            configuration.clone(),
        );
        options.election_timeout = Duration::from_millis(150);
        options.max_election_delay = Duration::from_millis(150);
        options.jitter_seed = Some(i as u64 * 17 + 3);
        options.check_invariants = true;
        let node = server
            .start_node(
                options,
                KvStateMachine::new(),
                Arc::new(MemoryLogStore::new()),
            )
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(concord::service::serve(
            listener,
            kv_handler(node.clone()),
            ServiceOptions::default(),
        ));
        members.push((peers[i].clone(), Endpoint::new("127.0.0.1", port).unwrap()));
        nodes.push(node);
    }
    Cluster {
        _servers: servers,
        nodes,
        members,
    }
}

async fn leader_index(cluster: &Cluster) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(i) = cluster
            .nodes
            .iter()
            .position(|n| n.describe().role == Role::Leader)
        {
            return i;
        }
        assert!(tokio::time::Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_client_follows_the_redirect_and_reads_its_writes() {
    let cluster = cluster().await;
    let leader = leader_index(&cluster).await;
    // Put a follower first in the member list: the first call must be redirected.
    let mut members = cluster.members.clone();
    let count = members.len();
    members.rotate_left((leader + 1) % count);
    assert_ne!(members[0].0, cluster.members[leader].0);
    let mut client = RemoteKvClient::new(TokioConnector, members, ClientOptions::default());
    for i in 0..10 {
        let value = Bytes::from(format!("v{i}"));
        let put = KvCommand::Put {
            key: "k".into(),
            value: value.clone(),
        };
        assert_eq!(client.execute(&put).await.unwrap(), KvResponse::Written);
        let get = KvCommand::Get { key: "k".into() };
        assert_eq!(
            client.execute(&get).await.unwrap(),
            KvResponse::Value(Some(value))
        );
    }
    let cas = KvCommand::Cas {
        key: "k".into(),
        expected: Some(Bytes::from_static(b"v9")),
        new: Bytes::from_static(b"w"),
    };
    assert_eq!(
        client.execute(&cas).await.unwrap(),
        KvResponse::Swapped {
            swapped: true,
            previous: Some(Bytes::from_static(b"v9"))
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_redirects_writes_and_serves_reads() {
    let cluster = cluster().await;
    let leader = leader_index(&cluster).await;
    let follower = (leader + 1) % 3;
    // Wait until the follower knows the leader.
    let known = cluster.nodes[follower]
        .wait_for(|s| s.leader.is_some())
        .await;
    assert!(known.leader.is_some());
    let mut stream =
        tokio::net::TcpStream::connect(("127.0.0.1", cluster.members[follower].1.port()))
            .await
            .unwrap();
    // A write is redirected to the leader.
    let request = ServiceRequest {
        id: 42,
        body: KvCommand::Put {
            key: "k".into(),
            value: Bytes::from_static(b"v"),
        }
        .encode(),
    };
    write_frame(&mut stream, &request).await.unwrap();
    let reply: ServiceReply = read_frame(&mut stream, 1 << 20).await.unwrap();
    assert_eq!(reply.id, 42);
    assert_eq!(
        reply.result,
        Err(ServiceError::NotLeader {
            leader_hint: Some(cluster.members[leader].0.clone())
        })
    );
    // A read is served by the follower itself (it asks the leader for a read index).
    let request = ServiceRequest {
        id: 43,
        body: KvCommand::Get { key: "k".into() }.encode(),
    };
    write_frame(&mut stream, &request).await.unwrap();
    let reply: ServiceReply = read_frame(&mut stream, 1 << 20).await.unwrap();
    assert_eq!(reply.id, 43);
    let value: KvResponse = postcard::from_bytes(&reply.result.expect("a follower read")).unwrap();
    assert_eq!(value, KvResponse::Value(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_typed_errors_and_the_server_keeps_serving() {
    let cluster = cluster().await;
    let leader = leader_index(&cluster).await;
    let port = cluster.members[leader].1.port();

    // A well-framed request whose body is not a KV command: refused, log untouched.
    let before = cluster.nodes[leader].describe().last_log_id;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = ServiceRequest {
        id: 1,
        body: Bytes::from_static(b"\x07garbage"),
    };
    write_frame(&mut stream, &request).await.unwrap();
    let reply: ServiceReply = read_frame(&mut stream, 1 << 20).await.unwrap();
    assert!(
        matches!(reply.result, Err(ServiceError::BadRequest { .. })),
        "{reply:?}"
    );
    assert_eq!(cluster.nodes[leader].describe().last_log_id, before);

    // A frame that announces 1 GiB: refused before allocation, answered, closed.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(&(1u32 << 30).to_be_bytes()).await.unwrap();
    let reply: ServiceReply = read_frame(&mut stream, 1 << 20).await.unwrap();
    assert!(
        matches!(reply.result, Err(ServiceError::BadRequest { .. })),
        "{reply:?}"
    );
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(
        matches!(closed, Ok(Ok(0))),
        "connection not closed: {closed:?}"
    );

    // Random bytes, then a hang-up mid-frame: no panic, and the server still answers.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(&[0, 0, 0, 9, 1, 2, 3]).await.unwrap();
    drop(stream);
    let mut client = RemoteKvClient::new(
        TokioConnector,
        cluster.members.clone(),
        ClientOptions::default(),
    );
    let put = KvCommand::Put {
        key: "after".into(),
        value: Bytes::from_static(b"ok"),
    };
    assert_eq!(client.execute(&put).await.unwrap(), KvResponse::Written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reachable_member_is_not_applied_within_the_budget() {
    // Nothing listens on these ports (bound, then released).
    let mut members = Vec::new();
    for i in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let endpoint = Endpoint::new("127.0.0.1", port).unwrap();
        members.push((PeerId::new(endpoint.clone(), i), endpoint));
    }
    let options = ClientOptions {
        redirect_budget: Duration::from_millis(300),
        ..ClientOptions::default()
    };
    let mut client = RemoteKvClient::new(TokioConnector, members, options);
    let started = std::time::Instant::now();
    let error = client
        .execute(&KvCommand::Get { key: "k".into() })
        .await
        .unwrap_err();
    assert!(
        matches!(error, KvClientError::NotApplied { .. }),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A fake member: answers every request with `NotLeader { hint }`, or, as the leader,
/// with an empty body.
#[derive(Clone)]
struct Fake {
    hint: Option<PeerId>,
}

impl Handler for Fake {
    fn call(&self, _body: Bytes) -> HandlerFuture {
        let hint = self.hint.clone();
        Box::pin(async move {
            match hint {
                Some(hint) => Err(ServiceError::NotLeader {
                    leader_hint: Some(hint),
                }),
                None => Ok(Bytes::new()),
            }
        })
    }
}

/// Stale hints that point at each other (a removed member naming its old leader, which
/// names the removed one, say) must not keep a client from the leader: a hint to a
/// member asked already in this round is not followed again. Members 0 and 2 hint at
/// each other, member 3 at 0, and member 1 leads; the client starts at 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hints_that_loop_do_not_keep_a_client_from_the_leader() {
    let mut listeners = Vec::new();
    let mut members = Vec::new();
    for i in 0..4u32 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = Endpoint::new("127.0.0.1", listener.local_addr().unwrap().port()).unwrap();
        members.push((PeerId::new(endpoint.clone(), i), endpoint));
        listeners.push(listener);
    }
    let hints = [Some(2), None, Some(0), Some(0)];
    let mut servers = Vec::new();
    for (listener, hint) in listeners.into_iter().zip(hints) {
        let fake = Fake {
            hint: hint.map(|h: usize| members[h].0.clone()),
        };
        servers.push(tokio::spawn(concord::service::serve(
            listener,
            fake,
            ServiceOptions::default(),
        )));
    }
    let options = ClientOptions {
        redirect_budget: Duration::from_secs(5),
        retry_pause: Duration::from_millis(1),
        ..ClientOptions::default()
    };
    let mut client = ServiceClient::new(TokioConnector, members.clone(), options);
    let body = client.call(Bytes::from_static(b"x")).await;
    assert_eq!(body.unwrap(), Bytes::new());
    assert_eq!(client.believed_leader(), &members[1].0);
    for server in servers {
        server.abort();
    }
}
