//! `concord cli`: administer and use `concord serve` clusters (braft_cli's commands and
//! the KV store's get/put/cas).
//!
//! Exit status: 0 done; 1 refused (nothing changed: an invalid change, a peer that did
//! not catch up, a bad request); 2 bad usage; 3 outcome unknown (a timeout or a lost
//! leader after the request may have taken effect: look before retrying); 4 unavailable
//! (no server answered, or no leader within the timeout: nothing changed).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use concord::core::{GroupId, PeerId};
use concord::kv::{KvCommand, KvResponse};
use concord::service::{
    rebalance_plan, AdminRequest, AdminResponse, CallError, ClientOptions, GroupClient, RouteError,
    RouteTable,
};
use concord::transport::{PrefaceConnector, TlsConnector, TokioConnector, SERVICE_PREFACE};
use serde::Serialize;

/// `concord cli`'s options.
#[derive(clap::Args, Debug)]
pub struct CliArgs {
    /// Servers of the group, comma-separated peer ids; requests go to the leader
    /// (redirects are followed).
    #[arg(long, value_delimiter = ',', global = true)]
    conf: Vec<PeerId>,
    /// The one server to ask (`describe`, `snapshot`, `reset-peers` are about one
    /// server; with any other command, where to start).
    #[arg(long, global = true)]
    peer: Option<PeerId>,
    /// The group.
    #[arg(long, default_value = "kv", global = true)]
    group: String,
    /// Give up after this many milliseconds (connecting, finding the leader, waiting
    /// for the answer).
    #[arg(long, default_value_t = 10_000, global = true)]
    timeout_ms: u64,
    /// Print one JSON object on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    tls: crate::tls::TlsArgs,
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(clap::Subcommand, Debug)]
enum CliCommand {
    /// The leader, as the server asked knows it.
    GetLeader,
    /// Voters and learners of the configuration in force.
    GetPeers,
    /// The members the leader heard from in its current check-quorum round.
    ListAlivePeers,
    /// Add a voter (it catches up first, then joint consensus).
    AddPeer {
        /// The new voter's peer id.
        peer: PeerId,
    },
    /// Remove a voter.
    RemovePeer {
        /// The voter to remove.
        peer: PeerId,
    },
    /// Replace the voters (comma-separated).
    ChangePeers {
        /// The new voters.
        #[arg(value_delimiter = ',', required = true)]
        peers: Vec<PeerId>,
    },
    /// Force the voters of one server (`--peer`) without a quorum: disaster recovery
    /// when a majority is lost for good. The old members are fenced.
    ResetPeers {
        /// The new voters.
        #[arg(value_delimiter = ',', required = true)]
        peers: Vec<PeerId>,
    },
    /// Add learners (comma-separated).
    AddLearners {
        /// The learners.
        #[arg(value_delimiter = ',', required = true)]
        peers: Vec<PeerId>,
    },
    /// Remove learners (comma-separated).
    RemoveLearners {
        /// The learners.
        #[arg(value_delimiter = ',', required = true)]
        peers: Vec<PeerId>,
    },
    /// Hand leadership to a voter (default: the most up-to-date one).
    TransferLeader {
        /// The voter to hand over to.
        #[arg(long)]
        to: Option<PeerId>,
    },
    /// Spread the leaders of several groups evenly over the servers of `--conf`
    /// (JRaft's rebalance): leaders above their fair share hand over to voters below
    /// it. Prints the transfers made.
    Rebalance {
        /// The groups to balance (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        groups: Vec<String>,
    },
    /// Take a snapshot on one server (`--peer`) now.
    Snapshot,
    /// One server's status (`--peer`): role, term, log, commit and apply indexes,
    /// configuration, snapshot, failures.
    Describe,
    /// The KV store.
    Kv {
        #[command(subcommand)]
        command: KvCli,
    },
}

#[derive(clap::Subcommand, Debug)]
enum KvCli {
    /// Read a key (linearizable, without a log write).
    Get {
        /// The key.
        key: String,
    },
    /// Write a key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Compare and set: write `new` if the key holds `expected` (`--absent`: if it is
    /// absent).
    Cas {
        /// The key.
        key: String,
        /// The value required.
        #[arg(required_unless_present = "absent")]
        expected: Option<String>,
        /// The value to store.
        #[arg(long)]
        new: String,
        /// Require the key to be absent.
        #[arg(long, conflicts_with = "expected")]
        absent: bool,
    },
}

/// What a command printed as JSON.
#[derive(Serialize)]
struct JsonOutcome<'a, T: Serialize> {
    ok: bool,
    command: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
}

/// How the CLI reaches servers: the client protocol's preface, in TLS when configured.
type Connect = PrefaceConnector<TlsConnector<TokioConnector>>;

pub fn main(args: CliArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("concord cli: cannot start the runtime: {error}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(args))
}

/// Which servers a command talks to: `--peer` alone for the per-server commands,
/// otherwise `--peer` first and then `--conf`.
fn targets(args: &CliArgs) -> Result<Vec<PeerId>, String> {
    let local = matches!(
        args.command,
        CliCommand::Snapshot | CliCommand::Describe | CliCommand::ResetPeers { .. }
    );
    if local {
        return args
            .peer
            .clone()
            .map(|peer| vec![peer])
            .ok_or_else(|| "this command is about one server: name it with --peer".into());
    }
    let mut targets: Vec<PeerId> = args.peer.iter().cloned().collect();
    targets.extend(
        args.conf
            .iter()
            .filter(|p| Some(*p) != args.peer.as_ref())
            .cloned(),
    );
    if targets.is_empty() {
        return Err("name the group's servers with --conf (or one with --peer)".into());
    }
    Ok(targets)
}

async fn run(args: CliArgs) -> ExitCode {
    let name = command_name(&args.command);
    let usage = |message: String| {
        eprintln!("concord cli {name}: {message}");
        ExitCode::from(2)
    };
    let targets = match targets(&args) {
        Ok(targets) => targets,
        Err(message) => return usage(message),
    };
    let group = match GroupId::new(args.group.clone()) {
        Ok(group) => group,
        Err(error) => return usage(format!("--group: {error}")),
    };
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let options = ClientOptions {
        connect_timeout: timeout.min(Duration::from_secs(2)),
        attempt_timeout: timeout,
        redirect_budget: timeout,
        ..ClientOptions::default()
    };
    let tls = match args.tls.load() {
        Ok(tls) => tls,
        Err(message) => return usage(message),
    };
    let connector = PrefaceConnector::new(
        TlsConnector::optional(TokioConnector, tls.as_ref()),
        SERVICE_PREFACE,
    );
    let mut client = GroupClient::new(connector.clone(), group, &targets, options);
    let outcome = match &args.command {
        CliCommand::Kv { command } => kv(&mut client, command).await.map(Output::Kv),
        CliCommand::Rebalance { groups } => {
            match rebalance(&connector, &targets, groups, timeout).await {
                Ok(moves) => Ok(Output::Rebalanced(moves)),
                Err(RebalanceError::Usage(message)) => return usage(message),
                Err(RebalanceError::Call(error)) => Err(error),
            }
        }
        command => {
            let request = admin_request(command);
            client.admin(request).await.map(Output::Admin)
        }
    };
    report(name, args.json, outcome)
}

fn command_name(command: &CliCommand) -> &'static str {
    match command {
        CliCommand::GetLeader => "get-leader",
        CliCommand::GetPeers => "get-peers",
        CliCommand::ListAlivePeers => "list-alive-peers",
        CliCommand::AddPeer { .. } => "add-peer",
        CliCommand::RemovePeer { .. } => "remove-peer",
        CliCommand::ChangePeers { .. } => "change-peers",
        CliCommand::ResetPeers { .. } => "reset-peers",
        CliCommand::AddLearners { .. } => "add-learners",
        CliCommand::RemoveLearners { .. } => "remove-learners",
        CliCommand::TransferLeader { .. } => "transfer-leader",
        CliCommand::Rebalance { .. } => "rebalance",
        CliCommand::Snapshot => "snapshot",
        CliCommand::Describe => "describe",
        CliCommand::Kv { command } => match command {
            KvCli::Get { .. } => "kv get",
            KvCli::Put { .. } => "kv put",
            KvCli::Cas { .. } => "kv cas",
        },
    }
}

fn admin_request(command: &CliCommand) -> AdminRequest {
    match command {
        CliCommand::GetLeader => AdminRequest::GetLeader,
        CliCommand::GetPeers => AdminRequest::GetPeers,
        CliCommand::ListAlivePeers => AdminRequest::ListAlivePeers,
        CliCommand::AddPeer { peer } => AdminRequest::AddPeer(peer.clone()),
        CliCommand::RemovePeer { peer } => AdminRequest::RemovePeer(peer.clone()),
        CliCommand::ChangePeers { peers } => AdminRequest::ChangePeers(peers.clone()),
        CliCommand::ResetPeers { peers } => AdminRequest::ResetPeers(peers.clone()),
        CliCommand::AddLearners { peers } => AdminRequest::AddLearners(peers.clone()),
        CliCommand::RemoveLearners { peers } => AdminRequest::RemoveLearners(peers.clone()),
        CliCommand::TransferLeader { to } => AdminRequest::TransferLeader(to.clone()),
        CliCommand::Snapshot => AdminRequest::Snapshot,
        CliCommand::Describe | CliCommand::Kv { .. } | CliCommand::Rebalance { .. } => {
            AdminRequest::Describe
        }
    }
}

async fn kv(client: &mut GroupClient<Connect>, command: &KvCli) -> Result<KvResponse, CallError> {
    let command = match command {
        KvCli::Get { key } => KvCommand::Get { key: key.clone() },
        KvCli::Put { key, value } => KvCommand::Put {
            key: key.clone(),
            value: Bytes::from(value.clone()),
        },
        KvCli::Cas {
            key,
            expected,
            new,
            absent,
        } => KvCommand::Cas {
            key: key.clone(),
            expected: if *absent {
                None
            } else {
                expected.clone().map(Bytes::from)
            },
            new: Bytes::from(new.clone()),
        },
    };
    let body = client.command(command.encode()).await?;
    postcard::from_bytes(&body).map_err(|e| CallError::Unknown {
        reason: format!("undecodable KV response: {e}"),
    })
}

enum Output {
    Admin(AdminResponse),
    Kv(KvResponse),
    Rebalanced(Vec<Move>),
}

/// One leadership transfer of a rebalance.
#[derive(Serialize)]
struct Move {
    group: String,
    from: String,
    to: String,
    /// The transfer's result: the new leader, or why not.
    result: String,
    /// `done`, `refused` (nothing changed) or `unknown`.
    outcome: &'static str,
}

enum RebalanceError {
    Usage(String),
    Call(CallError),
}

/// Learns every group's configuration and leader from `servers` (a route table), plans
/// the transfers (`concord::service::rebalance_plan`) and runs them one by one.
async fn rebalance(
    connector: &Connect,
    servers: &[PeerId],
    groups: &[String],
    timeout: Duration,
) -> Result<Vec<Move>, RebalanceError> {
    let table = RouteTable::new();
    let mut routes = BTreeMap::new();
    for name in groups {
        let group = GroupId::new(name.clone())
            .map_err(|e| RebalanceError::Usage(format!("--groups {name}: {e}")))?;
        table.update_configuration(&group, servers.to_vec(), Vec::new());
        let route = table
            .refresh_configuration(connector, &group, timeout)
            .await
            .map_err(|error| match error {
                RouteError::Call(error) => RebalanceError::Call(error),
                // Nothing was changed while learning the routes.
                other => RebalanceError::Call(CallError::NotApplied {
                    reason: format!("group {group}: {other}"),
                }),
            })?;
        routes.insert(group, route);
    }
    let mut moves = Vec::new();
    for (group, from, to) in rebalance_plan(servers, &routes) {
        let (result, outcome) = match table.client(connector.clone(), &group, timeout) {
            Ok(mut client) => match client
                .admin(AdminRequest::TransferLeader(Some(to.clone())))
                .await
            {
                Ok(AdminResponse::Transferred(leader)) => {
                    table.update_leader(&group, leader.clone());
                    (format!("leader {leader}"), "done")
                }
                Ok(other) => (format!("unexpected answer {other:?}"), "unknown"),
                Err(error @ (CallError::Rejected { .. } | CallError::NotApplied { .. })) => {
                    (error.to_string(), "refused")
                }
                Err(error) => (error.to_string(), "unknown"),
            },
            Err(error) => (error.to_string(), "refused"),
        };
        moves.push(Move {
            group: group.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            result,
            outcome,
        });
    }
    Ok(moves)
}

/// A value for people: UTF-8 as is, anything else as hex.
fn show(value: &Bytes) -> String {
    match std::str::from_utf8(value) {
        Ok(text) => text.to_string(),
        Err(_) => value.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

fn list(peers: &[PeerId]) -> String {
    peers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn human(output: &Output) -> String {
    match output {
        Output::Rebalanced(moves) if moves.is_empty() => "balanced: nothing to move".into(),
        Output::Rebalanced(moves) => moves
            .iter()
            .map(|m| format!("{}: {} -> {}: {}", m.group, m.from, m.to, m.result))
            .collect::<Vec<_>>()
            .join("\n"),
        Output::Admin(AdminResponse::Leader(leader)) => leader
            .as_ref()
            .map_or_else(|| "no leader known".to_string(), ToString::to_string),
        Output::Admin(AdminResponse::Peers { voters, learners }) => {
            if learners.is_empty() {
                format!("voters {}", list(voters))
            } else {
                format!("voters {}\nlearners {}", list(voters), list(learners))
            }
        }
        Output::Admin(AdminResponse::AlivePeers(peers)) => list(peers),
        Output::Admin(AdminResponse::Transferred(leader)) => format!("leader {leader}"),
        Output::Admin(AdminResponse::Snapshot(Some(id))) => format!("snapshot through {id}"),
        Output::Admin(AdminResponse::Snapshot(None)) => "no snapshot (nothing applied)".into(),
        Output::Admin(AdminResponse::Status(description)) => {
            description.to_string().trim_end().to_string()
        }
        Output::Kv(KvResponse::Written) => "ok".into(),
        Output::Kv(KvResponse::Value(Some(value))) => show(value),
        Output::Kv(KvResponse::Value(None)) => "(absent)".into(),
        Output::Kv(KvResponse::Swapped { swapped, previous }) => format!(
            "{} (previous: {})",
            if *swapped { "swapped" } else { "not swapped" },
            previous.as_ref().map_or_else(|| "absent".to_string(), show)
        ),
    }
}

fn report(name: &str, json: bool, outcome: Result<Output, CallError>) -> ExitCode {
    let (code, outcome_name) = match &outcome {
        // A rebalance is as good as its worst transfer.
        Ok(Output::Rebalanced(moves)) if moves.iter().any(|m| m.outcome == "unknown") => {
            (3, Some("unknown"))
        }
        Ok(Output::Rebalanced(moves)) if moves.iter().any(|m| m.outcome == "refused") => {
            (1, Some("refused"))
        }
        Ok(_) => (0, None),
        Err(CallError::Rejected { .. }) => (1, Some("refused")),
        Err(CallError::Unknown { .. }) => (3, Some("unknown")),
        Err(CallError::NotApplied { .. }) => (4, Some("unavailable")),
        // A kind of error this build does not know: nothing proves it changed nothing.
        Err(_) => (3, Some("unknown")),
    };
    if json {
        let line = match &outcome {
            Ok(Output::Admin(response)) => serde_json::to_string(&JsonOutcome {
                ok: true,
                command: name,
                result: Some(response),
                error: None,
                outcome: None,
            }),
            Ok(Output::Rebalanced(moves)) => serde_json::to_string(&JsonOutcome {
                ok: code == 0,
                command: name,
                result: Some(moves),
                error: None,
                outcome: outcome_name,
            }),
            Ok(Output::Kv(response)) => serde_json::to_string(&JsonOutcome {
                ok: true,
                command: name,
                result: Some(kv_json(response)),
                error: None,
                outcome: None,
            }),
            Err(error) => serde_json::to_string(&JsonOutcome::<()> {
                ok: false,
                command: name,
                result: None,
                error: Some(error.to_string()),
                outcome: outcome_name,
            }),
        };
        println!(
            "{}",
            line.unwrap_or_else(|e| format!("{{\"ok\":false,\"error\":\"{e}\"}}"))
        );
    } else {
        match &outcome {
            Ok(output) => println!("{}", human(output)),
            Err(error) => eprintln!("concord cli {name}: {error}"),
        }
    }
    ExitCode::from(code)
}

/// KV responses as JSON with values as text where they are UTF-8.
fn kv_json(response: &KvResponse) -> serde_json::Value {
    match response {
        KvResponse::Written => serde_json::json!({ "written": true }),
        KvResponse::Value(value) => serde_json::json!({ "value": value.as_ref().map(show) }),
        KvResponse::Swapped { swapped, previous } => {
            serde_json::json!({ "swapped": swapped, "previous": previous.as_ref().map(show) })
        }
    }
}
