//! `concord serve`: one long-lived server of a replicated KV store.
//!
//! One TCP port carries Raft traffic between servers, client and admin requests, and
//! HTTP GETs for the status page and the metrics (split by the connection preface,
//! `concord::transport::split_port`): `/raft_stat` (every group's
//! `Node::describe_detailed`, text), `/raft_stat.json` (the same as JSON) and
//! `/metrics` (Prometheus). Every group the server hosts shares the port, and one fjall database in `--data-dir` holds every
//! group's log (snapshots under `<data-dir>/snapshots/<group>`). SIGTERM or Ctrl-C
//! shuts the nodes down and closes the storage cleanly; a restart with the same
//! `--data-dir` resumes (the configuration comes from the log, `--peers` is then
//! ignored).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use concord::core::{Configuration, ConfigurationEntry, GroupId, PeerId};
use concord::kv::{kv_handler, KvStateMachine};
use concord::runtime::{DurableStorage, Node, NodeOptions, RaftServer, StorageOptions};
use concord::service::{serve, GroupHandler, ServiceOptions};
use concord::transport::{
    split_port, split_port_tls, PrefaceConnector, SplitOptions, TcpOptions, TlsConnector,
    TokioConnector, RAFT_PREFACE,
};
use metrics_exporter_prometheus::PrometheusBuilder;
use metrics_util::MetricKindMask;

/// `concord serve`'s options.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// This server's peer id, `host:port`: the address it listens on and other
    /// servers and clients reach it at (one port for Raft, clients and admin).
    #[arg(long)]
    id: PeerId,
    /// The initial voters of every group, comma-separated peer ids (this server among
    /// them). Only read on the first start: a restart takes the configuration from the
    /// log.
    #[arg(long, value_delimiter = ',', required_unless_present = "join")]
    peers: Vec<PeerId>,
    /// Start outside the group, waiting to be added (`concord cli add-peer` or
    /// `add-learners`) by the leader of an existing group.
    #[arg(long, conflicts_with = "peers")]
    join: bool,
    /// Where the logs and snapshots live (created if missing).
    #[arg(long)]
    data_dir: PathBuf,
    /// The groups this server hosts (repeat the flag or comma-separate).
    #[arg(long = "group", value_delimiter = ',', default_value = "kv")]
    groups: Vec<String>,
    /// Election timeout in milliseconds (JRaft's default: 1000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    election_timeout_ms: u64,
    /// Take a snapshot after this many applied entries (0: only on the interval timer
    /// and on `concord cli snapshot`).
    #[arg(long, default_value_t = 100_000)]
    snapshot_every: u64,
    /// Take a snapshot this often, in seconds (JRaft's default: 3600; 0: never on a
    /// timer).
    #[arg(long, default_value_t = 3600)]
    snapshot_interval_s: u64,
    #[command(flatten)]
    tls: crate::tls::TlsArgs,
}

pub fn main(args: ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("concord serve: cannot start the runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("concord serve: {message}");
            ExitCode::from(1)
        }
    }
}

async fn run(args: ServeArgs) -> Result<(), String> {
    // Signals are caught from the start, so a SIGTERM during startup is a clean exit too.
    let mut signals = Signals::new().map_err(|e| format!("cannot catch signals: {e}"))?;
    if !args.join && !args.peers.contains(&args.id) {
        return Err(format!("--peers must include this server ({})", args.id));
    }
    let mut groups = Vec::new();
    for name in &args.groups {
        groups.push(GroupId::new(name.clone()).map_err(|e| format!("--group {name}: {e}"))?);
    }
    let endpoint = args.id.endpoint().clone();
    if endpoint.is_unspecified() {
        return Err("--id must be an address peers can reach, not 0.0.0.0 or ::".into());
    }
    let tls = args.tls.load()?;
    if let Some(tls) = &tls {
        // Peers check that the certificate names the endpoint they dial: one naming
        // anything else would be refused by every peer and client.
        if tls.name() != Some(endpoint.to_string().as_str()) {
            return Err(format!(
                "--tls-cert names {}, not this server's endpoint {endpoint} (its common name must be the --id's host:port)",
                tls.name().unwrap_or("nothing (no common name)")
            ));
        }
    }
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", args.data_dir.display()))?;
    let storage =
        DurableStorage::open(&StorageOptions::new(args.data_dir.join("log"))).map_err(|e| {
            format!(
                "cannot open the storage in {}: {e}",
                args.data_dir.display()
            )
        })?;
    let listener = tokio::net::TcpListener::bind((endpoint.host(), endpoint.port()))
        .await
        .map_err(|e| format!("cannot listen on {endpoint}: {e}"))?;
    // Before any node starts: nodes register their metric handles with the recorder
    // installed when they start.
    // Series not updated for a minute (a deposed leader's replicator gauges, a removed
    // follower's) are dropped rather than exported stale forever.
    let prometheus = PrometheusBuilder::new()
        .idle_timeout(MetricKindMask::GAUGE, Some(Duration::from_secs(60)))
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    let upkeep = {
        let prometheus = prometheus.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                prometheus.run_upkeep();
            }
        })
    };
    let port = match &tls {
        Some(tls) => split_port_tls(listener, SplitOptions::default(), tls),
        None => split_port(listener, SplitOptions::default()),
    };
    let server = Arc::new(RaftServer::with_acceptor(
        endpoint.clone(),
        port.raft,
        PrefaceConnector::new(
            TlsConnector::optional(TokioConnector, tls.as_ref()),
            RAFT_PREFACE,
        ),
        TcpOptions::default(),
    ));
    let configuration = if args.join {
        ConfigurationEntry::stable(Configuration::with_voters(Vec::<PeerId>::new()))
    } else {
        ConfigurationEntry::stable(Configuration::with_voters(args.peers.iter().cloned()))
    };
    let mut nodes: Vec<Node<KvStateMachine>> = Vec::new();
    let mut handler = GroupHandler::new();
    for group in &groups {
        let mut options = NodeOptions::new(group.clone(), args.id.clone(), configuration.clone());
        options.election_timeout = Duration::from_millis(args.election_timeout_ms);
        options.max_election_delay = options.election_timeout;
        options.snapshot_dir = Some(args.data_dir.join("snapshots"));
        options.snapshot_interval = Duration::from_secs(args.snapshot_interval_s);
        options.core.snapshot_log_distance = args.snapshot_every;
        let store = storage
            .log_store(group)
            .map_err(|e| format!("group {group}: cannot open its log: {e}"))?;
        let node = server
            .start_node(options, KvStateMachine::new(), store)
            .map_err(|e| format!("group {group}: cannot start: {e}"))?;
        handler = handler.with_group(group.clone(), node.clone(), kv_handler(node.clone()));
        nodes.push(node);
    }
    let service_options = ServiceOptions {
        // The client sets its own deadline (`concord cli --timeout-ms`); a membership
        // change may take long (a new voter catching up), so the server's is generous.
        request_timeout: Duration::from_secs(300),
        ..ServiceOptions::default()
    };
    let mut service = tokio::spawn(serve(port.service, Arc::new(handler), service_options));
    let pages = tokio::spawn(http::serve(
        port.http,
        nodes.clone(),
        prometheus,
        port.counters.clone(),
        server.clone(),
    ));
    tracing::info!(
        id = %args.id,
        groups = ?args.groups,
        data_dir = %args.data_dir.display(),
        "serving"
    );
    eprintln!(
        "concord serve: {} serving {} on {endpoint}{} (data in {})",
        args.id,
        args.groups.join(","),
        if tls.is_some() { " with TLS" } else { "" },
        args.data_dir.display()
    );
    let failure = tokio::select! {
        _ = signals.next() => None,
        ended = &mut service => Some(format!("the client port stopped: {ended:?}")),
    };
    eprintln!("concord serve: shutting down");
    // A second signal while shutting down: exit at once (the log is durable up to its
    // last fsync; nothing acknowledged is lost).
    tokio::spawn(async move {
        signals.next().await;
        eprintln!("concord serve: second signal, exiting now");
        std::process::exit(130);
    });
    service.abort();
    pages.abort();
    upkeep.abort();
    for node in &nodes {
        node.shutdown();
    }
    for node in &nodes {
        if tokio::time::timeout(Duration::from_secs(30), node.join())
            .await
            .is_err()
        {
            return Err("a node did not stop within 30 s".into());
        }
    }
    drop(server);
    drop(storage);
    match failure {
        Some(reason) => Err(reason),
        None => Ok(()),
    }
}

/// SIGTERM and SIGINT (Ctrl-C), caught from the moment they are created.
struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => {}
                _ = self.interrupt.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The HTTP pages on the shared port: a minimal GET-only responder (one request per
/// connection, bounded request size, time and concurrency).
mod http {
    use std::sync::Arc;
    use std::time::Duration;

    use concord::kv::KvStateMachine;
    use concord::runtime::{Node, RaftServer};
    use concord::transport::{Acceptor, MaybeTlsStream, SplitAcceptor, SplitCounters};
    use metrics_exporter_prometheus::PrometheusHandle;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::Semaphore;

    const MAX_REQUEST: usize = 8 * 1024;
    const MAX_CONNECTIONS: usize = 64;

    pub async fn serve(
        mut acceptor: SplitAcceptor,
        nodes: Vec<Node<KvStateMachine>>,
        prometheus: PrometheusHandle,
        port: Arc<SplitCounters>,
        server: Arc<RaftServer>,
    ) {
        let nodes = Arc::new(nodes);
        // Connections the shared port closed before their protocol was known (no or
        // an unknown preface, too many handshakes at once, a full queue).
        let refused = metrics::counter!("shared-port-refused");
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        while let Ok(stream) = acceptor.accept().await {
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                continue; // over the limit: closed
            };
            refused.absolute(port.refused());
            export_transport(&server);
            let (nodes, prometheus) = (nodes.clone(), prometheus.clone());
            tokio::spawn(async move {
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    respond(stream, &nodes, &prometheus),
                )
                .await;
                drop(permit);
            });
        }
    }

    /// The Raft transport's counters as `transport-<name>` (frames sent, received,
    /// dropped; connections refused; frames refused as malformed or, with TLS, from a
    /// peer the certificate does not certify).
    fn export_transport(server: &RaftServer) {
        let snapshot = server.transport_metrics();
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(&snapshot) {
            for (field, value) in fields {
                if let Some(value) = value.as_u64() {
                    metrics::counter!(format!("transport-{}", field.replace('_', "-")))
                        .absolute(value);
                }
            }
        }
    }

    async fn respond(
        mut stream: MaybeTlsStream<tokio::net::TcpStream>,
        nodes: &[Node<KvStateMachine>],
        prometheus: &PrometheusHandle,
    ) -> std::io::Result<()> {
        // The `GET ` preface is consumed: the request line continues with the path.
        let mut request = Vec::with_capacity(512);
        let mut buffer = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let read = stream.read(&mut buffer).await?;
            if read == 0 || request.len() + read > MAX_REQUEST {
                return Ok(());
            }
            request.extend_from_slice(&buffer[..read]);
        }
        let line = String::from_utf8_lossy(&request);
        let target = line.split_whitespace().next().unwrap_or("/");
        let path = target.split('?').next().unwrap_or(target);
        let (status, content_type, body) = match path {
            "/raft_stat" => {
                let mut page = String::new();
                for node in nodes {
                    page.push_str(&node.describe_detailed().await.to_string());
                    page.push('\n');
                }
                ("200 OK", "text/plain; charset=utf-8", page)
            }
            "/raft_stat.json" => {
                let mut pages = Vec::new();
                for node in nodes {
                    pages.push(node.describe_detailed().await);
                }
                let body = serde_json::to_string(&pages).unwrap_or_else(|_| "[]".into());
                ("200 OK", "application/json", body)
            }
            "/metrics" => (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                prometheus.render(),
            ),
            _ => (
                "404 Not Found",
                "text/plain; charset=utf-8",
                "try /raft_stat, /raft_stat.json or /metrics\n".to_string(),
            ),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    }
}
