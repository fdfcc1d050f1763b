//! `concord serve`: one long-lived server of a replicated KV store.
//!
//! One TCP port carries Raft traffic between servers and client and admin requests
//! (split by the connection preface, `concord::transport::split_port`); every group
//! the server hosts shares it, and one fjall database in `--data-dir` holds every
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
    split_port, PrefaceConnector, SplitOptions, TcpOptions, TokioConnector, RAFT_PREFACE,
};

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
    let (raft, clients, _refused) = split_port(listener, SplitOptions::default());
    let server = RaftServer::with_acceptor(
        endpoint.clone(),
        raft,
        PrefaceConnector::new(TokioConnector, RAFT_PREFACE),
        TcpOptions::default(),
    );
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
    let service = tokio::spawn(serve(clients, Arc::new(handler), ServiceOptions::default()));
    tracing::info!(
        id = %args.id,
        groups = ?args.groups,
        data_dir = %args.data_dir.display(),
        "serving"
    );
    eprintln!(
        "concord serve: {} serving {} on {endpoint} (data in {})",
        args.id,
        args.groups.join(","),
        args.data_dir.display()
    );
    shutdown_signal().await;
    eprintln!("concord serve: shutting down");
    service.abort();
    for node in &nodes {
        node.shutdown();
    }
    for node in &nodes {
        node.join().await;
    }
    drop(server);
    drop(storage);
    Ok(())
}

/// SIGTERM or Ctrl-C (SIGINT).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
