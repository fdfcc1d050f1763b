//! TLS with mutual authentication on a shared port (`split_port_tls`, `TlsConnector`):
//! Raft frames from the peer a certificate names pass; frames claiming another sender,
//! connections in the clear, certificates of another CA and servers presenting another
//! server's certificate are refused and counted.

#[path = "support/certs.rs"]
mod certs;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use certs::Ca;
use concord::core::*;
use concord::transport::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

fn frame(from: &PeerId, to: &PeerId, commit: u64) -> RaftFrame {
    RaftFrame {
        group: GroupId::new("g").unwrap(),
        from: from.clone(),
        to: to.clone(),
        body: FrameBody::Raft(Message::Heartbeat(Heartbeat {
            term: Term(1),
            commit: LogIndex(commit),
            round: 0,
        })),
        payloads: Vec::<Bytes>::new(),
    }
}

fn config(ca: &Ca, name: &str) -> TlsConfig {
    let issued = ca.issue(name, &["127.0.0.1"]);
    TlsConfig::from_pem(
        ca.pem.as_bytes(),
        issued.cert.as_bytes(),
        issued.key.as_bytes(),
    )
    .unwrap()
}

fn options() -> TcpOptions {
    TcpOptions {
        backoff_min: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        ..TcpOptions::default()
    }
}

struct Server {
    id: PeerId,
    frames: mpsc::Receiver<RaftFrame>,
    metrics: Arc<TransportMetrics>,
    counters: Arc<SplitCounters>,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A TLS shared port whose Raft connections feed `frames`, and whose service
/// connections are answered by an echo of one byte.
async fn start(ca: &Ca) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let endpoint = Endpoint::new("127.0.0.1", port).unwrap();
    let tls = config(ca, &endpoint.to_string());
    assert_eq!(tls.name(), Some(endpoint.to_string().as_str()));
    let options = SplitOptions {
        handshake_timeout: Duration::from_millis(500),
        ..SplitOptions::default()
    };
    let SplitPort {
        raft,
        mut service,
        counters,
        ..
    } = split_port_tls(listener, options, &tls);
    let (sink, frames) = mpsc::channel(1024);
    let sink = FrameSink::new(sink);
    let metrics = Arc::new(TransportMetrics::default());
    let raft_task = {
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let _ = serve(raft, sink, TcpOptions::default(), metrics).await;
        })
    };
    let echo_task = tokio::spawn(async move {
        while let Ok((mut stream, name)) = service.accept_authenticated().await {
            assert!(name.is_some(), "a TLS connection names its peer");
            tokio::spawn(async move {
                let mut byte = [0u8; 1];
                if stream.read_exact(&mut byte).await.is_ok() {
                    let _ = stream.write_all(&byte).await;
                    let _ = stream.flush().await;
                }
            });
        }
    });
    Server {
        id: PeerId::new(endpoint, 0),
        frames,
        metrics,
        counters,
        _tasks: vec![raft_task, echo_task],
    }
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn frames_from_the_named_peer_pass_and_impostors_are_refused_and_counted() {
    let ca = Ca::new("concord test CA");
    let mut server = start(&ca).await;
    let me = PeerId::new(Endpoint::new("127.0.0.1", 7001).unwrap(), 0);
    let tls = config(&ca, "127.0.0.1:7001");
    let connector = PrefaceConnector::new(TlsConnector::new(TokioConnector, &tls), RAFT_PREFACE);
    let transport = TcpTransport::new(connector, options());
    let to = server.id.endpoint().clone();

    // As itself, and as another index on its own endpoint (a replaced disk): delivered.
    transport.send(&to, frame(&me, &server.id, 1)).unwrap();
    let again = PeerId::new(me.endpoint().clone(), 1);
    transport.send(&to, frame(&again, &server.id, 2)).unwrap();
    for commit in [1, 2] {
        let received = tokio::time::timeout(Duration::from_secs(10), server.frames.recv())
            .await
            .expect("a frame within 10 s")
            .unwrap();
        assert_eq!(received.body, frame(&me, &server.id, commit).body);
    }

    // Claiming to be another server: the connection is closed, the frame counted and
    // never delivered.
    let other = PeerId::new(Endpoint::new("127.0.0.1", 7002).unwrap(), 0);
    transport.send(&to, frame(&other, &server.id, 3)).unwrap();
    eventually("the impostor frame is refused", || {
        server.metrics.snapshot().frames_rejected_identity == 1
    })
    .await;
    // The sender reconnects; its own frames pass again.
    let mut delivered = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while delivered.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no frame after the refusal"
        );
        let _ = transport.send(&to, frame(&me, &server.id, 4));
        if let Ok(Some(received)) =
            tokio::time::timeout(Duration::from_millis(200), server.frames.recv()).await
        {
            delivered = Some(received);
        }
    }
    let received = delivered.unwrap();
    assert_eq!(received.from, me);
    assert!(
        !matches!(&received.body, FrameBody::Raft(Message::Heartbeat(h)) if h.commit == LogIndex(3)),
        "the impostor's frame was delivered"
    );
    assert_eq!(server.metrics.snapshot().frames_rejected_identity, 1);
}

#[tokio::test]
async fn strangers_are_refused_at_the_handshake_and_counted() {
    let ca = Ca::new("concord test CA");
    let server = start(&ca).await;
    let endpoint = server.id.endpoint().clone();

    // In the clear, with the Raft preface: no TLS handshake, closed.
    let mut plain = TcpStream::connect((endpoint.host(), endpoint.port()))
        .await
        .unwrap();
    plain.write_all(&RAFT_PREFACE).await.unwrap();
    plain.write_all(&[0u8; 64]).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut rest)).await;
    eventually("the plain connection is refused", || {
        server.counters.refused() >= 1
    })
    .await;

    // A certificate of another CA: the server refuses the handshake (and the client
    // does not trust the server either).
    let rogue = Ca::new("another CA");
    let rogue_tls = config(&rogue, "127.0.0.1:7001");
    let refused_before = server.counters.refused();
    let attempt = TlsConnector::new(TokioConnector, &rogue_tls)
        .connect(&endpoint)
        .await;
    assert!(attempt.is_err(), "a server of another CA was trusted");
    eventually("the rogue handshake is counted", || {
        server.counters.refused() > refused_before
    })
    .await;

    // A client certificate of the right CA: the service echo answers.
    let tls = config(&ca, "admin");
    let mut stream =
        PrefaceConnector::new(TlsConnector::new(TokioConnector, &tls), SERVICE_PREFACE)
            .connect(&endpoint)
            .await
            .unwrap();
    stream.write_all(b"z").await.unwrap();
    stream.flush().await.unwrap();
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut byte))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&byte, b"z");
}

#[tokio::test]
async fn a_server_presenting_another_servers_certificate_is_not_trusted() {
    let ca = Ca::new("concord test CA");
    // The server at port P holds a certificate valid for 127.0.0.1 but naming another
    // endpoint: hostname verification alone would pass it.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let impostor = config(&ca, "127.0.0.1:1");
    let _port = split_port_tls(listener, SplitOptions::default(), &impostor);
    let tls = config(&ca, "admin");
    let error = TlsConnector::new(TokioConnector, &tls)
        .connect(&Endpoint::new("127.0.0.1", port).unwrap())
        .await
        .expect_err("a server naming another endpoint was trusted");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
}

#[tokio::test]
async fn bad_configurations_are_typed_errors() {
    let ca = Ca::new("concord test CA");
    let issued = ca.issue("127.0.0.1:7001", &["127.0.0.1"]);
    let other = ca.issue("127.0.0.1:7002", &["127.0.0.1"]);
    let build = |ca: &str, cert: &str, key: &str| {
        TlsConfig::from_pem(ca.as_bytes(), cert.as_bytes(), key.as_bytes())
    };
    assert!(matches!(
        build("", &issued.cert, &issued.key),
        Err(TlsError::Pem { .. })
    ));
    assert!(matches!(
        build(&ca.pem, "not a certificate", &issued.key),
        Err(TlsError::Pem { .. })
    ));
    assert!(matches!(
        build(&ca.pem, &issued.cert, "garbage"),
        Err(TlsError::Pem { .. })
    ));
    // A key that is not the certificate's.
    assert!(matches!(
        build(&ca.pem, &issued.cert, &other.key),
        Err(TlsError::Config(_))
    ));
    assert!(matches!(
        TlsConfig::from_pem_files("/nonexistent/ca.pem", "/x", "/y"),
        Err(TlsError::Read { .. })
    ));
    // A TLS connector to a port in the clear: the handshake fails, nothing is sent.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let plain = split_port(listener, SplitOptions::default());
    let tls = build(&ca.pem, &issued.cert, &issued.key).unwrap();
    let attempt = TlsConnector::new(TokioConnector, &tls)
        .connect(&Endpoint::new("127.0.0.1", port).unwrap())
        .await;
    assert!(attempt.is_err());
    eventually("the TLS hello is refused by the plain port", || {
        plain.counters.refused() >= 1
    })
    .await;
}

/// A TLS client that trusts the cluster's CA and presents `identity` (none: no
/// certificate at all): its service connection gets no answer, the refusal is a TLS
/// alert the client recognises, and the server counts it.
async fn untrusted_client_is_refused(identity: Option<&certs::Issued>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let ca = Ca::new("concord test CA");
    let server = start(&ca).await;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(issued) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(issued.cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_slice(issued.key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    let endpoint = server.id.endpoint().clone();
    let refused_before = server.counters.refused();
    let tcp = TcpStream::connect((endpoint.host(), endpoint.port()))
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    // With TLS 1.3 the client's side of the handshake completes before the server has
    // judged its certificate; the refusal arrives on the first read.
    let outcome = async {
        let mut stream = connector
            .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
            .await?;
        stream.write_all(&SERVICE_PREFACE).await?;
        stream.write_all(b"z").await?;
        stream.flush().await?;
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await?;
        std::io::Result::Ok(byte)
    };
    let error = tokio::time::timeout(Duration::from_secs(5), outcome)
        .await
        .expect("an answer within 5 s")
        .expect_err("an untrusted client was served");
    assert!(
        refused_by_tls(&error),
        "not recognised as a TLS refusal: {error:?}"
    );
    eventually("the refusal is counted", || {
        server.counters.refused() > refused_before
    })
    .await;
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    untrusted_client_is_refused(None).await;
}

#[tokio::test]
async fn a_client_with_a_certificate_of_another_ca_is_refused() {
    let rogue = Ca::new("another CA");
    untrusted_client_is_refused(Some(&rogue.issue("admin", &["127.0.0.1"]))).await;
}

#[tokio::test]
async fn an_operator_certificate_is_not_a_raft_peer() {
    let ca = Ca::new("concord test CA");
    let mut server = start(&ca).await;
    // A certificate of the right CA whose name is no peer id (an operator's): its Raft
    // connection is closed before any frame, whatever the frames claim.
    let admin = config(&ca, "admin");
    let connector = PrefaceConnector::new(TlsConnector::new(TokioConnector, &admin), RAFT_PREFACE);
    let transport = TcpTransport::new(connector, options());
    let me = PeerId::new(Endpoint::new("127.0.0.1", 7001).unwrap(), 0);
    transport
        .send(server.id.endpoint(), frame(&me, &server.id, 1))
        .unwrap();
    eventually("the operator's Raft connection is refused", || {
        server.metrics.snapshot().frames_rejected_identity >= 1
    })
    .await;
    assert!(server.frames.try_recv().is_err(), "a frame was delivered");
    // A certificate for one peer id (with an index) certifies that id only.
    let exact = certified_peer("127.0.0.1:7001:2").unwrap();
    assert!(certifies(&exact, &"127.0.0.1:7001:2".parse().unwrap()));
    assert!(!certifies(&exact, &"127.0.0.1:7001".parse().unwrap()));
    let endpoint = certified_peer("[::1]:7001").unwrap();
    assert!(certifies(&endpoint, &"[::1]:7001:3".parse().unwrap()));
    assert!(certified_peer("admin").is_none());
    assert!(
        certified_peer("127.0.0.1:7001:0").is_none(),
        "not canonical"
    );
}
