//! The model's vocabulary: node ids, register operations, messages, timers and the
//! durable image a server keeps across crashes.

use std::collections::BTreeMap;
use std::fmt;

use concord::core::{
    EntryMeta, HardState, LogId, LogIndex, Message, RequestId, SnapshotMeta, Term,
};
use stateright::actor::Id;

/// A server's identity inside the core. Servers are the first actors of the model, so
/// `ServerId(i)` is stateright's `Id::from(i)`. A one-byte newtype keeps core states
/// cheap to clone and hash, and prints as `s0`, `s1`, … in invariant messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerId(pub u8);

impl ServerId {
    /// The stateright actor id of this server.
    pub fn actor_id(self) -> Id {
        Id::from(usize::from(self.0))
    }

    /// The server behind a stateright actor id. Only valid for server actors.
    pub fn from_actor_id(id: Id) -> ServerId {
        let index = usize::from(id);
        ServerId(u8::try_from(index).expect("server ids fit in a byte"))
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// The register's value. `0` is the initial value; client `c` writes `c + 1`.
pub type Value = u8;

/// A register operation as a client issues it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// Overwrite the register.
    Write(Value),
    /// Read the register, without a log entry: the server asks its core for a read
    /// index (`Input::ReadIndex`: the leader's commit index, confirmed by a heartbeat
    /// round; followers ask the leader) and answers with the register once it has
    /// applied through it. Whether that is linearizable is what the model checks.
    Read,
}

/// What a client command carries in the log: who asked, which request, what to do. The
/// core never sees it; the glue keeps it beside the entry's log id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Payload {
    /// The client actor that proposed the command (for deduplication and replies).
    pub client: Id,
    /// The client's request id; increasing per client.
    pub request: RequestId,
    /// The operation.
    pub op: Op,
}

/// Every message of the model: Raft messages between servers (with payloads attached
/// to `Append` entries, as a real transport would), and the client protocol.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Msg {
    /// A core message. `payloads` holds the payload of every normal entry of an
    /// `Append`, keyed by log id; it is empty for every other message.
    Raft {
        /// The core's message.
        message: Message<ServerId>,
        /// Payloads of the normal entries carried by an `Append`.
        payloads: Vec<(LogId, Payload)>,
    },
    /// Client → server: please run `op`. `retry` is false on the first attempt only (the
    /// history records the invocation once).
    Request {
        /// The client's request id.
        request: RequestId,
        /// The operation.
        op: Op,
        /// True when re-sent after a redirect.
        retry: bool,
        /// Which attempt this is, modulo the client's `attempt_variants` (always 0 in
        /// exhaustive checks). Random walks end when they revisit a state, and a client
        /// bounced between "no leader known" answers would revisit one at once.
        attempt: u8,
    },
    /// Server → client: the request was not appended because this server is not the
    /// leader; try `leader_hint` (or another server).
    Redirect {
        /// The refused request.
        request: RequestId,
        /// The leader the server knows of, if any.
        leader_hint: Option<ServerId>,
    },
    /// An `InstallSnapshot` with the snapshot's data, which the receiving glue uses to
    /// carry out the `FetchSnapshot` the request causes (the model's transfer is this one
    /// message: a lost or duplicated transfer is a lost or duplicated request).
    InstallSnapshot {
        /// The core's `InstallSnapshot` message.
        message: Message<ServerId>,
        /// The leader's durable snapshot it names.
        data: Box<ModelSnapshot>,
    },
    /// Server → client: the write was applied.
    WriteOk {
        /// The answered request.
        request: RequestId,
    },
    /// Server → client: the read was applied and saw `value`.
    ReadOk {
        /// The answered request.
        request: RequestId,
        /// The register's value at the read's log position.
        value: Value,
    },
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Raft { message, payloads } => {
                write!(f, "{message}")?;
                for (log_id, payload) in payloads {
                    write!(f, " {log_id}={:?}", payload.op)?;
                }
                Ok(())
            }
            Msg::Request {
                request, op, retry, ..
            } => {
                write!(f, "Request {request} {op:?}")?;
                if *retry {
                    f.write_str(" (retry)")?;
                }
                Ok(())
            }
            Msg::Redirect {
                request,
                leader_hint,
            } => match leader_hint {
                Some(hint) => write!(f, "Redirect {request} to {hint}"),
                None => write!(f, "Redirect {request} (no leader known)"),
            },
            Msg::InstallSnapshot { message, data } => {
                write!(f, "{message} register={}", data.register)
            }
            Msg::WriteOk { request } => write!(f, "WriteOk {request}"),
            Msg::ReadOk { request, value } => write!(f, "ReadOk {request} value={value}"),
        }
    }
}

/// Timers of the model. `Election` and `Heartbeat` are the core's; `Persist` is the
/// glue's: it is armed while a server has persistence work queued, and firing it makes
/// that work durable. Because the checker fires timers in any order, persistence
/// completes at any point relative to every other event, and a crash can land between
/// "requested" and "durable".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ModelTimer {
    /// The core's election timer.
    Election,
    /// The core's heartbeat timer (leaders only).
    Heartbeat,
    /// The glue's "storage finished a write" event.
    Persist,
    /// The server's disk fails (budgeted by `ModelConfig::disk_failures`): the writes it
    /// had not made durable are lost, and the core is told (`Input::Fail`).
    DiskFailure,
    /// An interval timer or an operator asks for a snapshot (`Input::TakeSnapshot`;
    /// budgeted by `ModelConfig::snapshots`).
    Snapshot,
    /// The operator asks the leader for the membership change or the transfer of
    /// `ModelConfig::admin` (budgeted by `ModelConfig::admin_requests`).
    Admin,
    /// The server's clock moves one tick (only with `ModelConfig::clock`).
    Tick,
}

/// A server's snapshot: the register, the client sessions and, as the model's record
/// of what the state machine went through, the log ids applied through it (so a server
/// restored from it goes on with a whole history, which State Machine Safety compares,
/// and the terms of compacted entries stay known to the properties).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModelSnapshot {
    /// The last entry covered and the configuration there.
    pub meta: SnapshotMeta<ServerId>,
    /// The register's value after applying through `meta.last_included`.
    pub register: Value,
    /// The last request applied per client, with its answer.
    pub sessions: BTreeMap<Id, (RequestId, Msg)>,
    /// The log ids applied through `meta.last_included`, in order (index `i` at `i - 1`).
    pub applied: Vec<LogId>,
}

impl ModelSnapshot {
    /// The term of the covered entry at `index`.
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        let position = usize::try_from(index.0).ok()?.checked_sub(1)?;
        self.applied.get(position).map(|log_id| log_id.term)
    }
}

/// What survives a crash: a server's durable image, or a client's progress.
// Most values are servers' images (a few hundred bytes, with the hard state's reset
// record); boxing them would add an allocation to every save for the rare client one.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Storage {
    /// A server's disk.
    Server(Durable),
    /// A client's progress (clients crash only in simulations; see
    /// `ModelConfig::client_crashes`).
    Client(crate::client::ClientState),
}

impl Storage {
    /// The server's durable image, if this is a server's storage.
    pub fn as_server(&self) -> Option<&Durable> {
        match self {
            Storage::Server(durable) => Some(durable),
            Storage::Client(_) => None,
        }
    }

    /// The client's saved progress, if this is a client's storage.
    pub fn as_client(&self) -> Option<&crate::client::ClientState> {
        match self {
            Storage::Server(_) => None,
            Storage::Client(client) => Some(client),
        }
    }
}

/// What a server's disk holds: everything the core asked to persist and that became
/// durable, and nothing else. It is the only thing that survives a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Durable {
    /// Term and vote.
    pub hard_state: HardState<ServerId>,
    /// Entry metadata, in index order (from index 1, or from after what was compacted).
    pub entries: Vec<EntryMeta<ServerId>>,
    /// The latest snapshot.
    pub snapshot: Option<ModelSnapshot>,
    /// Payloads of the durable normal entries.
    pub payloads: BTreeMap<LogId, Payload>,
    /// Model instrumentation, not Raft state: counts the bounds of the model check
    /// against. Kept on "disk" so that a crash does not refill the budgets.
    pub counters: Counters,
}

/// Event counters the model's bounds use (see `ModelConfig`). The core never sees them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// Restarts after a crash.
    pub restarts: u8,
    /// Election-timer firings while not leading (each starts an election).
    pub election_timeouts: u8,
    /// Election-timer firings while leading (each runs the check-quorum test).
    pub quorum_checks: u8,
    /// Heartbeat-timer firings.
    pub heartbeat_timeouts: u8,
    /// Disk failures.
    pub disk_failures: u8,
    /// Snapshot requests (`ModelTimer::Snapshot` firings).
    pub snapshots: u8,
    /// Snapshots installed from a leader (not a bound: lets a property see that an
    /// install happened).
    pub installs: u8,
    /// Operator requests (`ModelTimer::Admin` firings on a leader).
    pub admin_requests: u8,
    /// Leadership transfers this server completed as the old leader (not a bound: lets
    /// a property see that one happened).
    pub transfers: u8,
    /// The server's clock, in ticks (`ModelConfig::clock`; always 0 without it). On
    /// "disk" so that a restart resumes it: a monotonic clock that kept running.
    pub clock: u8,
}

impl Durable {
    /// The log id at `index`: from the log, or from the snapshot for a compacted entry.
    pub fn log_id_at(&self, index: LogIndex) -> Option<LogId> {
        if let Some(first) = self.entries.first().map(|entry| entry.log_id.index) {
            if index >= first {
                let position = usize::try_from(index.0 - first.0).ok()?;
                return self
                    .entries
                    .get(position)
                    .map(|entry| entry.log_id)
                    .filter(|log_id| log_id.index == index);
            }
        }
        let snapshot = self.snapshot.as_ref()?;
        if index > snapshot.meta.last_included.index {
            return None;
        }
        snapshot.term_at(index).map(|term| LogId { term, index })
    }

    /// The last log id (the snapshot's when nothing follows it).
    pub fn last_log_id(&self) -> LogId {
        let from_log = self.entries.last().map(|entry| entry.log_id);
        let from_snapshot = self.snapshot.as_ref().map(|s| s.meta.last_included);
        from_log.max(from_snapshot).unwrap_or(LogId::ZERO)
    }
}
