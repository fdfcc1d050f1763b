//! The TCP transport on real loopback sockets: delivery, reconnection, and hostile input.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use concord::core::*;
use concord::transport::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

fn frame(from: &Endpoint, to: &Endpoint, commit: u64) -> RaftFrame {
    RaftFrame {
        group: GroupId::new("g").unwrap(),
        from: PeerId::new(from.clone(), 0),
        to: PeerId::new(to.clone(), 0),
        body: FrameBody::Raft(Message::Heartbeat(Heartbeat {
            term: Term(1),
            commit: LogIndex(commit),
            round: 0,
        })),
        payloads: Vec::<Bytes>::new(),
    }
}

fn options() -> TcpOptions {
    TcpOptions {
        backoff_min: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        idle_timeout: Duration::from_millis(300),
        ..TcpOptions::default()
    }
}

struct Server {
    endpoint: Endpoint,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    frames: mpsc::Receiver<RaftFrame>,
    metrics: Arc<TransportMetrics>,
}

async fn start_server(port: u16) -> Server {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sink, frames) = mpsc::channel(1024);
    let sink = FrameSink::new(sink);
    let metrics = Arc::new(TransportMetrics::default());
    let task = tokio::spawn(serve(listener, sink, options(), metrics.clone()));
    Server {
        endpoint: Endpoint::new("127.0.0.1", port).unwrap(),
        task,
        frames,
        metrics,
    }
}

async fn receive(server: &mut Server) -> RaftFrame {
    tokio::time::timeout(Duration::from_secs(5), server.frames.recv())
        .await
        .expect("frame within 5 s")
        .expect("channel open")
}

#[tokio::test]
async fn frames_arrive_in_order() {
    let mut server = start_server(0).await;
    let me = Endpoint::new("127.0.0.1", 1).unwrap();
    let transport = TcpTransport::new(TokioConnector, options());
    for commit in 0..200 {
        transport
            .send(&server.endpoint, frame(&me, &server.endpoint, commit))
            .unwrap();
    }
    for commit in 0..200 {
        let received = receive(&mut server).await;
        assert_eq!(received, frame(&me, &server.endpoint, commit));
    }
    assert_eq!(transport.metrics().frames_sent, 200);
    assert_eq!(server.metrics.snapshot().frames_received, 200);
}

#[tokio::test]
async fn the_writer_reconnects_after_the_peer_restarts() {
    let mut server = start_server(0).await;
    let endpoint = server.endpoint.clone();
    let me = Endpoint::new("127.0.0.1", 1).unwrap();
    let transport = TcpTransport::new(TokioConnector, options());
    transport.send(&endpoint, frame(&me, &endpoint, 1)).unwrap();
    receive(&mut server).await;

    // The peer goes away: frames are dropped and counted, never block the sender.
    server.task.abort();
    drop(server);
    for commit in 0..20 {
        let _ = transport.send(&endpoint, frame(&me, &endpoint, commit));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // It comes back on the same port: delivery resumes.
    let mut server = start_server(endpoint.port()).await;
    let mut delivered = false;
    for commit in 100..400 {
        let _ = transport.send(&endpoint, frame(&me, &endpoint, commit));
        tokio::time::sleep(Duration::from_millis(5)).await;
        if server.frames.try_recv().is_ok() {
            delivered = true;
            break;
        }
    }
    assert!(delivered, "no frame delivered after the peer restarted");
    let metrics = transport.metrics();
    assert!(
        metrics.write_failures + metrics.connect_failures > 0,
        "{metrics:?}"
    );
}

#[tokio::test]
async fn garbage_closes_only_that_connection() {
    let mut server = start_server(0).await;
    let mut raw = TcpStream::connect(("127.0.0.1", server.endpoint.port()))
        .await
        .unwrap();
    raw.write_all(&[0, 0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "connection not closed after a malformed frame"
    );
    assert_eq!(server.metrics.snapshot().frames_rejected_malformed, 1);

    // A hostile length is refused without allocating it.
    let mut raw = TcpStream::connect(("127.0.0.1", server.endpoint.port()))
        .await
        .unwrap();
    raw.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "connection not closed after an oversized frame header"
    );
    assert_eq!(server.metrics.snapshot().frames_rejected_malformed, 2);

    // The server still serves well-behaved peers.
    let me = Endpoint::new("127.0.0.1", 1).unwrap();
    let transport = TcpTransport::new(TokioConnector, options());
    transport
        .send(&server.endpoint, frame(&me, &server.endpoint, 7))
        .unwrap();
    assert_eq!(receive(&mut server).await, frame(&me, &server.endpoint, 7));
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let server = start_server(0).await;
    let mut raw = TcpStream::connect(("127.0.0.1", server.endpoint.port()))
        .await
        .unwrap();
    raw.write_all(&[0, 0]).await.unwrap(); // half a header, then silence
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "idle connection was not closed");
    assert_eq!(server.metrics.snapshot().connections_closed_idle, 1);
}

#[tokio::test]
async fn in_process_network_delivers_and_cuts() {
    let network = InProcessNetwork::new();
    let a = Endpoint::new("a", 1).unwrap();
    let b = Endpoint::new("b", 1).unwrap();
    let (sink, mut frames) = mpsc::channel(4);
    let sink = FrameSink::new(sink);
    network.register(b.clone(), sink);
    let transport = network.transport(a.clone());
    transport.send(&b, frame(&a, &b, 1)).unwrap();
    assert_eq!(frames.recv().await.unwrap(), frame(&a, &b, 1));
    network.cut(&a, &b);
    assert!(matches!(
        transport.send(&b, frame(&a, &b, 2)),
        Err(SendError::Unreachable { .. })
    ));
    network.heal();
    for commit in 0..4 {
        transport.send(&b, frame(&a, &b, commit)).unwrap();
    }
    assert!(matches!(
        transport.send(&b, frame(&a, &b, 9)),
        Err(SendError::QueueFull { .. })
    ));
    assert_eq!(transport.metrics().frames_dropped_queue_full, 1);
}
