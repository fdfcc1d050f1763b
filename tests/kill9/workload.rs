//! The client side: concurrent clients in the parent doing get / put / cas with unique
//! values over the real client protocol (`RemoteKvClient`, which follows leader
//! redirects), every call bounded by timeouts, and a recorder that writes the history as
//! Concord JSON lines while the run goes (so even an aborted run leaves it behind).
//!
//! Outcomes are recorded exactly as the chaos suite records them: `ok` for an answer,
//! `fail` only when the client protocol proves the command was not appended
//! (`NotApplied`, `Rejected`), `info` for everything else (timeouts, broken connections,
//! leadership lost after the append); after an `info` the client continues under a fresh
//! process id, since the old one may still have an operation in flight.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use concord::core::{Endpoint, PeerId};
use concord::kv::{KvClientError, KvCommand, KvResponse, RemoteKvClient};
use concord::service::ClientOptions;
use concord::transport::TokioConnector;
use serde_json::{json, Value};

use super::cluster::{lock, Observations};
use super::rng::Rng;

/// Bound on one call, on top of the client protocol's own timeouts (which already bound
/// it well below this): past it the outcome is unknown.
const CALL_BOUND: Duration = Duration::from_secs(15);

/// Counts of what the history holds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub ops: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// Ok puts and ok cas that swapped.
    pub acknowledged_writes: u64,
}

struct RecorderState {
    out: BufWriter<File>,
    counts: Counts,
    error: Option<String>,
}

/// Appends history events, in real-time order, to a JSON-lines file.
pub struct Recorder {
    state: Mutex<RecorderState>,
    start: Instant,
}

/// How an operation ended.
pub enum Completion {
    Ok(Value),
    Fail,
    Info,
}

impl Recorder {
    pub fn create(path: &Path, start: Instant) -> std::io::Result<Recorder> {
        Ok(Recorder {
            state: Mutex::new(RecorderState {
                out: BufWriter::new(File::create(path)?),
                counts: Counts::default(),
                error: None,
            }),
            start,
        })
    }

    fn write(&self, state: &mut RecorderState, mut event: Value) {
        // `ms` (wall time since the run began) is for reading the history beside the
        // nemesis log; the checker ignores it. Line order is the real-time order.
        event["ms"] = json!(self.start.elapsed().as_secs_f64() * 1e3);
        if let Err(error) = writeln!(state.out, "{event}") {
            state.error.get_or_insert(error.to_string());
        }
    }

    /// Records a call.
    pub fn invoke(&self, process: u64, key: &str, function: &str, argument: Value) {
        let mut state = lock(&self.state);
        state.counts.ops += 1;
        let event = json!({"process": process, "type": "invoke", "f": function, "key": key, "value": argument});
        self.write(&mut state, event);
    }

    /// Records a call's completion.
    pub fn complete(&self, process: u64, key: &str, function: &str, completion: Completion) {
        let mut state = lock(&self.state);
        let (kind, value) = match completion {
            Completion::Ok(value) => {
                state.counts.ok += 1;
                if function == "put" || (function == "cas" && value == json!(true)) {
                    state.counts.acknowledged_writes += 1;
                }
                ("ok", value)
            }
            Completion::Fail => {
                state.counts.fail += 1;
                ("fail", Value::Null)
            }
            Completion::Info => {
                state.counts.info += 1;
                ("info", Value::Null)
            }
        };
        let event =
            json!({"process": process, "type": kind, "f": function, "key": key, "value": value});
        self.write(&mut state, event);
    }

    pub fn counts(&self) -> Counts {
        lock(&self.state).counts
    }

    /// Flushes the file; an error if any write failed.
    pub fn finish(&self) -> Result<(), String> {
        let mut state = lock(&self.state);
        if let Err(error) = state.out.flush() {
            state.error.get_or_insert(error.to_string());
        }
        state.error.clone().map_or(Ok(()), Err)
    }
}

/// Client-protocol timeouts: a dead leader is noticed within a second or two, and a
/// call gives up looking for a leader after a few election rounds.
pub fn client_options() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_millis(500),
        attempt_timeout: Duration::from_secs(3),
        redirect_budget: Duration::from_secs(5),
        retry_pause: Duration::from_millis(50),
        ..ClientOptions::default()
    }
}

/// One client: its connection, its process id and what it shares with the run.
pub struct Client {
    members: Vec<(PeerId, Endpoint)>,
    kv: RemoteKvClient<TokioConnector>,
    pub process: u64,
    processes: Arc<AtomicU64>,
    recorder: Arc<Recorder>,
    observations: Arc<Observations>,
}

impl Client {
    pub fn new(
        members: Vec<(PeerId, Endpoint)>,
        processes: Arc<AtomicU64>,
        recorder: Arc<Recorder>,
        observations: Arc<Observations>,
    ) -> Client {
        let process = processes.fetch_add(1, Ordering::SeqCst);
        Client {
            kv: RemoteKvClient::new(TokioConnector, members.clone(), client_options()),
            members,
            process,
            processes,
            recorder,
            observations,
        }
    }

    /// Runs one command and records it; the response if it returned ok.
    pub async fn operation(&mut self, command: KvCommand) -> Option<KvResponse> {
        let key = command.key().to_string();
        let (function, argument) = match &command {
            KvCommand::Get { .. } => ("get", Value::Null),
            KvCommand::Put { value, .. } => ("put", json!(text(value))),
            KvCommand::Cas { expected, new, .. } => (
                "cas",
                json!([expected.as_ref().map(text).unwrap_or_default(), text(new)]),
            ),
        };
        self.recorder.invoke(self.process, &key, function, argument);
        let outcome = match tokio::time::timeout(CALL_BOUND, self.kv.execute(&command)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                // The abandoned call may have left its connection mid-request.
                self.kv =
                    RemoteKvClient::new(TokioConnector, self.members.clone(), client_options());
                Err(KvClientError::Unknown {
                    reason: format!("no answer within {CALL_BOUND:?}"),
                })
            }
        };
        let outcome = outcome.and_then(|response| self.check_fits(&command, response));
        let (completion, response) = match outcome {
            Ok(response) => {
                let value = match &response {
                    KvResponse::Written => Value::Null,
                    KvResponse::Value(value) => {
                        value.as_ref().map_or(Value::Null, |v| json!(text(v)))
                    }
                    KvResponse::Swapped { swapped, .. } => json!(swapped),
                };
                (Completion::Ok(value), Some(response))
            }
            Err(KvClientError::NotApplied { .. }) | Err(KvClientError::Rejected { .. }) => {
                (Completion::Fail, None)
            }
            Err(_) => (Completion::Info, None),
        };
        let unknown = matches!(completion, Completion::Info);
        self.recorder
            .complete(self.process, &key, function, completion);
        if unknown {
            self.process = self.processes.fetch_add(1, Ordering::SeqCst);
        }
        response
    }

    /// A reply must answer the command it was sent for.
    fn check_fits(
        &self,
        command: &KvCommand,
        response: KvResponse,
    ) -> Result<KvResponse, KvClientError> {
        let fits = match (command, &response) {
            (KvCommand::Get { .. }, KvResponse::Value(_)) => true,
            (KvCommand::Put { .. }, KvResponse::Written) => true,
            (KvCommand::Cas { expected, .. }, KvResponse::Swapped { swapped, previous }) => {
                *swapped == (previous == expected)
            }
            _ => false,
        };
        if fits {
            return Ok(response);
        }
        self.observations
            .violation(format!("reply {response:?} does not answer {command:?}"));
        Err(KvClientError::Unknown {
            reason: "mismatched reply".into(),
        })
    }
}

pub fn text(bytes: &Bytes) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A workload client: until `stop`, think, then get (40%), put (40%) or cas (20%) a
/// random key; every written value is unique (`c<client>-<n>`), and a cas expects the
/// value this client last saw.
pub async fn run_client(
    id: usize,
    seed: u64,
    keys: Vec<String>,
    think_ms: u64,
    mut client: Client,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Rng::new(seed ^ ((id as u64 + 1) << 40));
    let mut last_seen: Vec<Option<Bytes>> = vec![None; keys.len()];
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(rng.below(think_ms + 1))).await;
        let k = rng.below(keys.len() as u64) as usize;
        let key = keys[k].clone();
        n += 1;
        let fresh = Bytes::from(format!("c{id}-{n}"));
        let roll = rng.below(10);
        let command = if roll < 4 {
            KvCommand::Get { key }
        } else if roll < 8 {
            KvCommand::Put {
                key,
                value: fresh.clone(),
            }
        } else {
            KvCommand::Cas {
                key,
                expected: last_seen[k].clone(),
                new: fresh.clone(),
            }
        };
        match client.operation(command).await {
            Some(KvResponse::Value(value)) => last_seen[k] = value,
            Some(KvResponse::Swapped { swapped, previous }) => {
                last_seen[k] = if swapped { Some(fresh) } else { previous };
            }
            _ => {}
        }
    }
}
