//! The counter (JRAFT_GUIDE_NOTES F33; JRaft's `CounterServer` / `CounterClient`): a
//! replicated `i64` with `increment_and_get(delta)` and `get()`.
//!
//! Three servers, each in its own terminal (arguments as in JRaft's example: data
//! directory, group id, this server's id, the initial configuration):
//!
//! ```sh
//! cargo run --release --example counter -- server /tmp/counter/1 counter 127.0.0.1:8081 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083
//! cargo run --release --example counter -- server /tmp/counter/2 counter 127.0.0.1:8082 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083
//! cargo run --release --example counter -- server /tmp/counter/3 counter 127.0.0.1:8083 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083
//! ```
//!
//! and a client (group id, configuration; optionally how many increments of which delta;
//! the group id is accepted for symmetry with JRaft's client, but each server serves one
//! group on its client port, so it selects nothing):
//!
//! ```sh
//! cargo run --release --example counter -- client counter 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083 [COUNT] [DELTA]
//! ```
//!
//! Each server speaks Raft on its own port and serves clients on that port + 1000 (9081,
//! ...). Its log lives in fjall under the data directory and its snapshots in
//! `<data>/snapshots` (one every 30 s, as JRaft's counter takes them, and one every
//! 1000 entries), so a restarted server loads its latest snapshot and replays only the
//! log after it, and the log is compacted. Stop a server with Ctrl-C, the leader
//! included: the client follows the new leader.
//!
//! Membership and leadership (F14–F17; JRaft's `CliService`): start a new server with
//! `-` as its configuration (it waits, outside the group, to be added), then ask the
//! group — the request is redirected to the leader:
//!
//! ```sh
//! cargo run --release --example counter -- server /tmp/counter/4 counter 127.0.0.1:8084 -
//! cargo run --release --example counter -- admin 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083 add-peer 127.0.0.1:8084
//! cargo run --release --example counter -- admin 127.0.0.1:8081,127.0.0.1:8084 transfer-leader 127.0.0.1:8084
//! cargo run --release --example counter -- admin 127.0.0.1:8084 change-peers 127.0.0.1:8082,127.0.0.1:8083,127.0.0.1:8084
//! ```
//!
//! (`add-peer`, `remove-peer`, `change-peers`, `add-learners`, `remove-learners`,
//! `reset-learners`, `transfer-leader [peer]`; each prints the new configuration or the
//! new leader.)

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use concord::core::{
    AdminError, Configuration, ConfigurationEntry, Endpoint, GroupId, MembershipChange, PeerId,
};
use concord::runtime::{
    AdminCallError, CommittedEntry, DurableStorage, Node, NodeOptions, RaftServer, SnapshotContext,
    SnapshotSave, SnapshotSink, SnapshotSource, StateMachine, StateMachineError, StorageOptions,
    Task,
};
use concord::service::{
    serve, service_error, service_read_error, CallError, ClientOptions, Handler, HandlerFuture,
    ServiceClient, ServiceError, ServiceOptions,
};
use concord::storage::SnapshotWriter;
use concord::transport::{TcpOptions, TokioConnector};
use serde::{Deserialize, Serialize};

/// Clients reach a server at its Raft port plus this.
pub const CLIENT_PORT_OFFSET: u16 = 1000;

/// A counter command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CounterCommand {
    /// Add `delta` and return the new value.
    IncrementAndGet {
        /// What to add.
        delta: i64,
    },
    /// Return the value. The service serves it with `Node::read` (ReadIndex, no log
    /// entry); proposed as a task it goes through the log.
    Get,
}

impl CounterCommand {
    fn encode(&self) -> Bytes {
        Bytes::from(postcard::to_stdvec(self).unwrap_or_default())
    }

    fn decode(bytes: &[u8]) -> Result<CounterCommand, String> {
        postcard::from_bytes(bytes).map_err(|e| format!("not a counter command: {e}"))
    }
}

/// What a client sends on the client port: a counter command (a log entry), or an
/// operator's request (membership, leadership), answered by the node directly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CounterRequest {
    /// A command for the replicated counter.
    Command(CounterCommand),
    /// A membership change.
    Change(MembershipChange<PeerId>),
    /// Hand leadership to a peer, or to the most up-to-date voter.
    TransferLeader(Option<PeerId>),
    /// Force the receiving server's voters (JRaft `resetPeers`, after losing a
    /// majority): answered by the server asked, never redirected.
    ResetPeers(Vec<PeerId>),
}

impl CounterRequest {
    fn encode(&self) -> Bytes {
        Bytes::from(postcard::to_stdvec(self).unwrap_or_default())
    }

    fn decode(bytes: &[u8]) -> Result<CounterRequest, String> {
        postcard::from_bytes(bytes).map_err(|e| format!("not a counter request: {e}"))
    }
}

/// Serves the client port: commands go through the log, operator requests to the node.
#[derive(Clone)]
struct CounterHandler {
    node: Node<Counter>,
}

/// An operator request's failure, as the client protocol says it: a follower redirects
/// to its leader; the rest are refusals that changed nothing, or unknown outcomes.
fn admin_error(error: AdminCallError) -> ServiceError {
    match error {
        AdminCallError::Refused(AdminError::NotLeader { leader_hint }) => {
            ServiceError::NotLeader { leader_hint }
        }
        AdminCallError::Refused(
            error @ (AdminError::LeadershipLost | AdminError::TransferTimedOut),
        ) => ServiceError::Unknown {
            reason: error.to_string(),
        },
        error => ServiceError::NotApplied {
            reason: error.to_string(),
        },
    }
}

impl Handler for CounterHandler {
    fn call(&self, body: Bytes) -> HandlerFuture {
        let node = self.node.clone();
        Box::pin(async move {
            let request = CounterRequest::decode(&body)
                .map_err(|reason| ServiceError::BadRequest { reason })?;
            let text = |text: String| Ok(Bytes::from(text.into_bytes()));
            match request {
                CounterRequest::Command(CounterCommand::Get) => {
                    match node.read(|counter: &Counter| counter.value).await {
                        Ok(value) => Ok(Bytes::copy_from_slice(&value.to_le_bytes())),
                        Err(error) => Err(service_read_error(error)),
                    }
                }
                CounterRequest::Command(command) => {
                    match node.apply(Task::new(command.encode())).await {
                        Ok(applied) => match applied.response {
                            Ok(value) => Ok(Bytes::copy_from_slice(&value.to_le_bytes())),
                            Err(reason) => Err(ServiceError::BadRequest { reason }),
                        },
                        Err(error) => Err(service_error(error)),
                    }
                }
                CounterRequest::Change(change) => match node.change_membership(change).await {
                    Ok(configuration) => text(configuration.to_string()),
                    Err(error) => Err(admin_error(error)),
                },
                CounterRequest::TransferLeader(to) => match node.transfer_leadership_to(to).await {
                    Ok(leader) => text(leader.to_string()),
                    Err(error) => Err(admin_error(error)),
                },
                CounterRequest::ResetPeers(voters) => match node.reset_peers(voters).await {
                    Ok(configuration) => text(configuration.to_string()),
                    Err(error) => Err(admin_error(error)),
                },
            }
        })
    }
}

/// The replicated state machine.
#[derive(Debug, Default)]
pub struct Counter {
    value: i64,
}

impl StateMachine for Counter {
    type Response = Result<i64, String>;
    type Context = ();

    fn on_apply(
        &mut self,
        entry: &mut CommittedEntry<()>,
    ) -> Result<Self::Response, StateMachineError> {
        // A command that does not decode was refused before it reached the log; should
        // one appear anyway, it changes nothing and its proposer gets the reason.
        Ok(match CounterCommand::decode(&entry.data) {
            Ok(CounterCommand::IncrementAndGet { delta }) => {
                self.value = self.value.wrapping_add(delta);
                Ok(self.value)
            }
            Ok(CounterCommand::Get) => Ok(self.value),
            Err(reason) => Err(reason),
        })
    }

    fn supports_snapshots(&self) -> bool {
        true
    }

    /// JRaft's `CounterStateMachine#onSnapshotSave`: the value, in a file.
    fn on_snapshot_save(
        &mut self,
        _context: &SnapshotContext,
    ) -> Result<SnapshotSave, StateMachineError> {
        let value = self.value;
        Ok(Box::new(move |sink: &mut SnapshotSink| {
            Ok(sink.write_file("value", &value.to_le_bytes())?)
        }))
    }

    fn on_snapshot_load(&mut self, snapshot: &SnapshotSource) -> Result<(), StateMachineError> {
        let bytes = snapshot.read_file("value")?;
        let bytes: [u8; 8] = bytes[..]
            .try_into()
            .map_err(|_| StateMachineError::new("the value file is not 8 bytes"))?;
        self.value = i64::from_le_bytes(bytes);
        Ok(())
    }
}

fn parse_configuration(text: &str) -> Result<Vec<PeerId>, String> {
    let configuration: Configuration<PeerId> = text
        .parse()
        .map_err(|e| format!("bad configuration {text:?}: {e}"))?;
    if configuration.voters().is_empty() {
        return Err(format!("configuration {text:?} has no voters"));
    }
    Ok(configuration.voters().iter().cloned().collect())
}

fn client_endpoint(peer: &PeerId) -> Result<Endpoint, String> {
    let port = peer
        .endpoint()
        .port()
        .checked_add(CLIENT_PORT_OFFSET)
        .ok_or_else(|| format!("{peer}: no room for the client port"))?;
    Endpoint::new(peer.endpoint().host(), port).map_err(|e| e.to_string())
}

/// Runs one server until `stop` resolves (a snapshot every 30 s and every 1000 entries).
pub async fn run_server(
    data: &Path,
    group: &str,
    server_id: &str,
    configuration: &str,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    run_server_with(data, group, server_id, configuration, 1000, stop).await
}

/// As `run_server`, with a snapshot every `snapshot_every` applied entries.
pub async fn run_server_with(
    data: &Path,
    group: &str,
    server_id: &str,
    configuration: &str,
    snapshot_every: u64,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let group = GroupId::new(group).map_err(|e| e.to_string())?;
    let peer: PeerId = server_id
        .parse()
        .map_err(|e| format!("bad server id {server_id:?}: {e}"))?;
    // `-`: a new server outside the group, waiting for a leader to add it.
    let voters = if configuration == "-" {
        Vec::new()
    } else {
        parse_configuration(configuration)?
    };
    if !voters.is_empty() && !voters.contains(&peer) {
        return Err(format!(
            "{peer} is not in the configuration {configuration} (use - for a new server)"
        ));
    }
    // Log and hard state in `data`, fsynced once per write batch (group commit).
    let storage = DurableStorage::open(&StorageOptions::new(data))
        .map_err(|e| format!("cannot open {}: {e}", data.display()))?;
    let store = storage.log_store(&group).map_err(|e| e.to_string())?;

    let endpoint = peer.endpoint();
    let server = RaftServer::bind(endpoint.host(), endpoint.port(), TcpOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let mut options = NodeOptions::new(
        group,
        peer.clone(),
        ConfigurationEntry::stable(Configuration::with_voters(voters)),
    );
    options.snapshot_dir = Some(data.join("snapshots"));
    options.snapshot_interval = Duration::from_secs(30);
    options.core.snapshot_log_distance = snapshot_every;
    let node = server
        .start_node(options, Counter::default(), store)
        .map_err(|e| e.to_string())?;
    let client_endpoint = client_endpoint(&peer)?;
    let listener = tokio::net::TcpListener::bind((client_endpoint.host(), client_endpoint.port()))
        .await
        .map_err(|e| format!("cannot listen on {client_endpoint}: {e}"))?;
    let handler = CounterHandler { node: node.clone() };
    println!("counter server {peer}: raft on {endpoint}, clients on {client_endpoint}");
    let service = tokio::spawn(serve(listener, handler, ServiceOptions::default()));
    stop.await;
    service.abort();
    node.shutdown();
    node.join().await;
    Ok(())
}

/// A counter client.
pub struct CounterClient {
    inner: ServiceClient<TokioConnector>,
}

impl CounterClient {
    /// A client of the group whose servers are `configuration` (their Raft ids).
    pub fn new(configuration: &str) -> Result<CounterClient, String> {
        let members = parse_configuration(configuration)?
            .into_iter()
            .map(|peer| client_endpoint(&peer).map(|endpoint| (peer, endpoint)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(CounterClient {
            inner: ServiceClient::new(TokioConnector, members, ClientOptions::default()),
        })
    }

    async fn call(&mut self, command: CounterCommand) -> Result<i64, CallError> {
        let body = self
            .inner
            .call(CounterRequest::Command(command).encode())
            .await?;
        let bytes: [u8; 8] = body[..].try_into().map_err(|_| CallError::Unknown {
            reason: format!("a reply of {} bytes is not a counter value", body.len()),
        })?;
        Ok(i64::from_le_bytes(bytes))
    }

    /// Adds `delta`; returns the new value.
    pub async fn increment_and_get(&mut self, delta: i64) -> Result<i64, CallError> {
        self.call(CounterCommand::IncrementAndGet { delta }).await
    }

    /// The current value.
    pub async fn get(&mut self) -> Result<i64, CallError> {
        self.call(CounterCommand::Get).await
    }

    /// Asks the group (its leader, following redirects) for an operator request; returns
    /// the answer's text (the new configuration, or the new leader).
    pub async fn admin(&mut self, request: CounterRequest) -> Result<String, CallError> {
        let body = self.inner.call(request.encode()).await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

/// Parses `counter admin` arguments into a request.
pub fn parse_admin(words: &[&str]) -> Result<CounterRequest, String> {
    let peers = |text: &str| -> Result<std::collections::BTreeSet<PeerId>, String> {
        Ok(parse_configuration(text)?.into_iter().collect())
    };
    let peer = |text: &str| -> Result<PeerId, String> {
        text.parse().map_err(|e| format!("bad peer {text:?}: {e}"))
    };
    Ok(match words {
        ["add-peer", p] => CounterRequest::Change(MembershipChange::AddVoter(peer(p)?)),
        ["remove-peer", p] => CounterRequest::Change(MembershipChange::RemoveVoter(peer(p)?)),
        ["change-peers", c] => CounterRequest::Change(MembershipChange::ChangeVoters(peers(c)?)),
        ["add-learners", c] => CounterRequest::Change(MembershipChange::AddLearners(peers(c)?)),
        ["remove-learners", c] => {
            CounterRequest::Change(MembershipChange::RemoveLearners(peers(c)?))
        }
        ["reset-learners", c] => CounterRequest::Change(MembershipChange::ResetLearners(peers(c)?)),
        ["transfer-leader"] => CounterRequest::TransferLeader(None),
        ["transfer-leader", p] => CounterRequest::TransferLeader(Some(peer(p)?)),
        ["reset-peers", c] => CounterRequest::ResetPeers(peers(c)?.into_iter().collect()),
        _ => return Err(format!("unknown admin request {words:?}\n{USAGE}")),
    })
}

async fn run_client(configuration: &str, count: u64, delta: i64) -> Result<(), String> {
    let mut client = CounterClient::new(configuration)?;
    for _ in 0..count {
        match client.increment_and_get(delta).await {
            Ok(value) => println!("increment_and_get({delta}) = {value}"),
            Err(error) => println!("increment_and_get({delta}) failed: {error}"),
        }
    }
    let value = client.get().await.map_err(|e| e.to_string())?;
    println!("get() = {value}");
    Ok(())
}

const USAGE: &str = "usage:
  counter server <data-dir> <group-id> <server-id host:port> <conf host:port,host:port,...|->
  counter client <group-id> <conf host:port,...> [count=10] [delta=1]
  counter admin <conf host:port,...> add-peer|remove-peer <peer>
  counter admin <conf host:port,...> change-peers|add-learners|remove-learners|reset-learners <peers>
  counter admin <conf host:port,...> transfer-leader [peer]
  counter admin <survivor host:port> reset-peers <peers>   (after losing a majority; ask each survivor)";

#[allow(dead_code)] // when the tests include this file as a module
fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start tokio: {error}");
            return std::process::ExitCode::from(1);
        }
    };
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["server", data, group, server_id, configuration] => runtime.block_on(run_server(
            Path::new(data),
            group,
            server_id,
            configuration,
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        )),
        ["client", _group, configuration, ref rest @ ..] if rest.len() <= 2 => {
            let count = rest.first().map_or(Ok(10), |c| c.parse::<u64>());
            let delta = rest.get(1).map_or(Ok(1), |d| d.parse::<i64>());
            match (count, delta) {
                (Ok(count), Ok(delta)) => runtime.block_on(async {
                    tokio::time::timeout(
                        Duration::from_secs(60 + count),
                        run_client(configuration, count, delta),
                    )
                    .await
                    .unwrap_or_else(|_| Err("timed out".into()))
                }),
                _ => Err(format!("count and delta must be integers\n{USAGE}")),
            }
        }
        ["admin", configuration, ref request @ ..] => match parse_admin(request) {
            Ok(request) => runtime.block_on(async {
                let mut client = CounterClient::new(configuration)?;
                match tokio::time::timeout(Duration::from_secs(60), client.admin(request)).await {
                    Ok(Ok(answer)) => {
                        println!("{answer}");
                        Ok(())
                    }
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(_) => Err("timed out".into()),
                }
            }),
            Err(error) => {
                eprintln!("{error}");
                return std::process::ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("counter: {error}");
            std::process::ExitCode::from(1)
        }
    }
}
