//! What the parent and a node process tell each other: the node's spec goes down in an
//! environment variable (JSON), the node's events come up on its stdout, one JSON object
//! per line. Anything else on stdout (the test harness's own lines, a line cut short by
//! SIGKILL) does not parse and is ignored.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The environment variable that puts the test binary into node mode.
pub const NODE_ENV: &str = "CONCORD_KILL9_NODE";

/// Everything a node process needs to start (or restart) its node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeSpec {
    /// 0-based position in the cluster.
    pub index: usize,
    /// The fjall directory; the same on every restart.
    pub data_dir: PathBuf,
    /// Raft ports of all nodes, by index (on 127.0.0.1).
    pub raft_ports: Vec<u16>,
    /// Client-service ports of all nodes, by index.
    pub client_ports: Vec<u16>,
    /// Election-timeout jitter seed, distinct per node and boot.
    pub jitter_seed: u64,
    /// Base election timeout (and the bound of its random extra delay).
    pub election_timeout_ms: u64,
    /// The workload's keys: their local values are reported in every status.
    pub keys: Vec<String>,
    /// False only for the teeth run: the node keeps its log and hard state in memory
    /// (as if no write ever reached the disk), so a restart forgets everything.
    pub durable: bool,
}

/// Every `CHECKPOINT_STRIDE` indexes, a node reports its running digest of the applied
/// entries, so the parent can compare replicas at the same points.
pub const CHECKPOINT_STRIDE: u64 = 512;

/// An event a node process reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NodeEvent {
    /// The node runs and both its ports accept connections.
    Ready {
        /// From process start (storage recovery included).
        startup_ms: u64,
    },
    /// A periodic sample of the node's status.
    Status(NodeSample),
    /// The node became leader of `term` (from `StateMachine::on_leader_start`).
    Leader {
        /// The term.
        term: u64,
    },
    /// The first client entry applied at or past `slot * CHECKPOINT_STRIDE`.
    Checkpoint {
        /// `index / CHECKPOINT_STRIDE`.
        slot: u64,
        /// The entry's log index.
        index: u64,
        /// Running digest of every client entry applied up to and including it.
        digest: u64,
    },
    /// The node could not start (storage, bind, options).
    Fatal {
        /// Why.
        reason: String,
    },
}

/// One status sample.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSample {
    /// `Leader`, `Follower`, `Candidate`, `PreCandidate`.
    pub role: String,
    /// Current term.
    pub term: u64,
    /// Highest index applied to the state machine.
    pub applied: u64,
    /// Highest committed index known.
    pub commit: u64,
    /// Last log index (durable or not).
    pub last_log: u64,
    /// Index of the last client entry applied (0: none).
    pub applied_client: u64,
    /// Running digest through `applied_client`.
    pub digest: u64,
    /// The node's local value of each workload key (not linearizable: what it applied).
    pub values: Vec<Option<String>>,
    /// Set when the node is in its error state.
    pub failure: Option<String>,
}

impl NodeEvent {
    /// Parses one stdout line; `None` for anything that is not an event. The first
    /// event shares its line with the harness's `test kill9_node_child ... ` prefix.
    pub fn parse(line: &str) -> Option<NodeEvent> {
        let start = line.find('{')?;
        serde_json::from_str(line[start..].trim()).ok()
    }
}

#[test]
fn events_round_trip_and_noise_is_ignored() {
    let events = [
        NodeEvent::Ready { startup_ms: 12 },
        NodeEvent::Leader { term: 3 },
        NodeEvent::Checkpoint {
            slot: 2,
            index: 1025,
            digest: u64::MAX,
        },
        NodeEvent::Status(NodeSample {
            role: "Leader".into(),
            term: 3,
            applied: 10,
            commit: 10,
            last_log: 11,
            applied_client: 9,
            digest: 42,
            values: vec![Some("c1-2".into()), None],
            failure: None,
        }),
    ];
    for event in events {
        let line = serde_json::to_string(&event).unwrap();
        assert_eq!(NodeEvent::parse(&line), Some(event));
    }
    assert_eq!(
        NodeEvent::parse("test kill9_node_child ... {\"event\":\"leader\",\"term\":2}"),
        Some(NodeEvent::Leader { term: 2 })
    );
    assert_eq!(NodeEvent::parse("running 1 test"), None);
    assert_eq!(NodeEvent::parse("{\"event\":\"stat"), None); // cut short by SIGKILL
}
