//! `NodeOptions`: JRaft's `NodeOptions`/`RaftOptions` (F08) with their defaults.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::snapshot_store::SnapshotStore;

use crate::core::{ConfigurationEntry, CoreOptions, GroupId, PeerId};

/// What `Node::apply` does when the proposal queue is full (F31).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ApplyTaskMode {
    /// Wait for room in the queue.
    Blocking,
    /// Fail at once with `ApplyError::Overloaded`.
    #[default]
    NonBlocking,
}

/// How reads are confirmed (JRaft `ReadOnlyOption`, F18–F19): [`Node::read`] and
/// [`Node::read_index`] use the node's [`NodeOptions::read_only_option`], the `_with`
/// variants choose per call.
///
/// [`Node::read`]: super::Node::read
/// [`Node::read_index`]: super::Node::read_index
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadOnlyOption {
    /// ReadIndex: every read (batched) waits for a heartbeat round acknowledged by a
    /// quorum. Safe whatever the clocks do.
    #[default]
    Safe,
    /// Lease reads: while a round confirmed less than the lease ago, the leader answers
    /// at once. The lease is `election_timeout / (1 + max_clock_drift_percent/100)²`,
    /// measured from when the confirming round's reads arrived. Safe only when every
    /// node's clock runs within that drift bound of every other's and never jumps, and
    /// every node has the same `election_timeout` (the lease is computed from the
    /// leader's own; a voter with a shorter one could vote a new leader in while the
    /// lease holds). Every node's heartbeat answers say how long a lease they cover (its
    /// own lease; 0 on a node started `Safe`, which neither refuses votes after a
    /// restart nor after a higher-term answer), and the leader's lease is the most a
    /// quorum of a round's answers covers: mixed options and unequal election timeouts
    /// shorten leases (or leave none) instead of breaking them. A `Safe` node is not
    /// guarded so that elections after restarts stay fast. On a node whose option is
    /// `Safe`, a per-call `LeaseBased` read takes a round.
    LeaseBased,
}

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// The group this node belongs to.
    pub group: GroupId,
    /// This node's id; its endpoint is where peers reach it.
    pub peer: PeerId,
    /// Used only when storage is empty (JRaft `initialConf`).
    pub initial_configuration: ConfigurationEntry<PeerId>,
    /// Base election timeout (JRaft default 1000 ms). Followers wait a random time in
    /// `[election_timeout, election_timeout + max_election_delay)`.
    pub election_timeout: Duration,
    /// Random extra delay bound (JRaft `maxElectionDelayMs`, default 1000 ms).
    pub max_election_delay: Duration,
    /// Heartbeat interval = election timeout / this factor (JRaft default 10).
    pub heartbeat_factor: u32,
    /// Most committed entries handed to the state machine in one `on_apply` (JRaft
    /// `applyBatch`, 32).
    pub apply_batch: usize,
    /// Capacity of the proposal queue (JRaft `disruptorBufferSize`, 16384).
    pub proposal_queue_capacity: usize,
    /// Full-queue behaviour (F31).
    pub apply_task_mode: ApplyTaskMode,
    /// Most proposals turned into one log append.
    pub propose_batch: usize,
    /// Capacity of the inbound frame queue.
    pub inbound_queue_capacity: usize,
    /// Protocol options (pre-vote, check-quorum, message and window bounds).
    pub core: CoreOptions,
    /// Seed for the election-timeout jitter. `None` (the default) seeds it from the
    /// operating system, so every node's election timer fires at its own time;
    /// deterministic simulations set `Some(seed)`, a different seed per node. Nodes that
    /// share a seed draw the same timeouts and campaign in lockstep: split votes, term
    /// after term.
    pub jitter_seed: Option<u64>,
    /// Run `RaftCore::check_invariants()` after every core step and put the node into
    /// its error state on a violation (off by default: it costs a walk over the core's
    /// state per step; the chaos suite and tests turn it on).
    pub check_invariants: bool,
    /// Where this node keeps its snapshots (JRaft `snapshotUri`): a directory, opened
    /// as a [`super::LocalSnapshotStore`] under `<snapshot_dir>/<group>`. `None` (the
    /// default) and no `snapshot_store`: the node takes no snapshots and keeps its
    /// whole log.
    pub snapshot_dir: Option<PathBuf>,
    /// A snapshot store of the caller's (in memory, simulated); takes precedence over
    /// `snapshot_dir`.
    pub snapshot_store: Option<Arc<dyn SnapshotStore>>,
    /// Take a snapshot this often (JRaft `snapshotIntervalSecs`, default 3600 s); zero
    /// turns the timer off. Only with a snapshot store and a state machine that
    /// supports snapshots. `core.snapshot_log_distance` triggers one after that many
    /// applied entries as well, and `Node::snapshot` on demand.
    pub snapshot_interval: Duration,
    /// Most bytes of a snapshot file sent in one frame (default 1 MiB; at most 8 MiB,
    /// below the transport's 16 MiB frame limit).
    pub snapshot_chunk_bytes: u32,
    /// How long a follower fetching a snapshot waits for an answer before asking again
    /// (`None`, the default: the election timeout). A fetch fails after 5 unanswered
    /// requests in a row; the leader then sends the snapshot again.
    pub snapshot_request_timeout: Option<Duration>,
    /// Fault points for deterministic simulation (see [`super::FaultInjector`]). `None`
    /// (the default) in every real deployment.
    pub faults: Option<Arc<dyn super::FaultInjector>>,
    /// How reads are confirmed by default (`Safe`: ReadIndex).
    pub read_only_option: ReadOnlyOption,
    /// The most any node's clock may run faster or slower than another's, in percent
    /// (default 10), for lease reads: the lease is `election_timeout / (1 + d/100)²`.
    /// 0 only in tests that must show a stale read (the chaos suite's teeth).
    pub max_clock_drift_percent: u32,
    /// Reads waiting in the node's read queue (default 16,384); more fail at once with
    /// `ReadError::Overloaded`.
    pub read_queue_capacity: usize,
    /// How long [`Node::read`] and [`Node::read_index`] wait for an answer before
    /// failing with `ReadError::Timeout` (default: `election_timeout +
    /// max_election_delay`, 2 s at the defaults; `Duration::MAX` waits as long as the
    /// protocol does). A leader cut off from its quorum is deposed by check-quorum
    /// within two election timeouts, so its reads may fail either way. A read that
    /// times out is not withdrawn: it is answered, to nobody, when the node gets to it
    /// (it still counts against `read_queue_capacity` and the core's pending reads
    /// meanwhile).
    ///
    /// [`Node::read`]: super::Node::read
    /// [`Node::read_index`]: super::Node::read_index
    pub read_timeout: Option<Duration>,
    /// Record metrics through the `metrics` facade (JRaft `enableMetrics`; default
    /// true: without a recorder installed a record is a no-op; names in
    /// docs/operations.md). Needs the `metrics` feature.
    pub metrics: bool,
}

impl NodeOptions {
    /// Options with JRaft's defaults.
    pub fn new(
        group: GroupId,
        peer: PeerId,
        initial_configuration: ConfigurationEntry<PeerId>,
    ) -> NodeOptions {
        NodeOptions {
            group,
            peer,
            initial_configuration,
            election_timeout: Duration::from_millis(1000),
            max_election_delay: Duration::from_millis(1000),
            heartbeat_factor: 10,
            apply_batch: 32,
            proposal_queue_capacity: 16384,
            apply_task_mode: ApplyTaskMode::default(),
            propose_batch: 256,
            inbound_queue_capacity: 4096,
            core: CoreOptions::default(),
            jitter_seed: None,
            check_invariants: false,
            snapshot_dir: None,
            snapshot_store: None,
            snapshot_interval: Duration::from_secs(3600),
            snapshot_chunk_bytes: 1024 * 1024,
            snapshot_request_timeout: None,
            faults: None,
            read_only_option: ReadOnlyOption::Safe,
            max_clock_drift_percent: 10,
            read_queue_capacity: 16384,
            read_timeout: None,
            metrics: true,
        }
    }

    /// The leader lease of `ReadOnlyOption::LeaseBased`, in nanoseconds (see there).
    pub fn read_lease(&self) -> Duration {
        let timeout = self.election_timeout.as_nanos();
        let scale = 100 + u128::from(self.max_clock_drift_percent);
        let lease = timeout * 100 * 100 / (scale * scale);
        Duration::from_nanos(u64::try_from(lease).unwrap_or(u64::MAX))
    }

    /// How long a read waits for its answer (`read_timeout`, or its default).
    pub fn read_timeout(&self) -> Duration {
        self.read_timeout.unwrap_or(
            self.election_timeout
                .saturating_add(self.max_election_delay),
        )
    }

    /// How long a snapshot fetch waits for an answer before asking again.
    pub fn snapshot_request_timeout(&self) -> Duration {
        self.snapshot_request_timeout
            .unwrap_or(self.election_timeout)
    }

    /// The heartbeat interval.
    pub fn heartbeat_interval(&self) -> Duration {
        self.election_timeout / self.heartbeat_factor.max(1)
    }

    /// Rejects settings a node cannot run with, naming the option.
    pub fn validate(&self) -> Result<(), super::StartError> {
        let invalid = |name: &'static str, reason: &'static str| {
            Err(super::StartError::InvalidOption { name, reason })
        };
        if self.peer.endpoint().is_unspecified() {
            return invalid(
                "peer",
                "a node cannot run on 0.0.0.0 or ::: peers could not reach it",
            );
        }
        if self.election_timeout < Duration::from_millis(10) {
            return invalid("election_timeout", "must be at least 10 ms");
        }
        if self.heartbeat_factor < 2 {
            return invalid(
                "heartbeat_factor",
                "must be at least 2 (heartbeats must beat elections)",
            );
        }
        if self.apply_batch == 0 {
            return invalid("apply_batch", "must be at least 1");
        }
        if self.proposal_queue_capacity == 0 || self.propose_batch == 0 {
            return invalid(
                "proposal_queue_capacity",
                "queue and batch must be at least 1",
            );
        }
        if self.inbound_queue_capacity == 0 {
            return invalid("inbound_queue_capacity", "must be at least 1");
        }
        if self.read_queue_capacity == 0 {
            return invalid("read_queue_capacity", "must be at least 1");
        }
        if self.read_timeout.is_some_and(|timeout| timeout.is_zero()) {
            return invalid("read_timeout", "must be more than 0");
        }
        if self.snapshot_chunk_bytes == 0 || self.snapshot_chunk_bytes > 8 * 1024 * 1024 {
            return invalid("snapshot_chunk_bytes", "must be between 1 byte and 8 MiB");
        }
        if self
            .snapshot_request_timeout
            .is_some_and(|timeout| timeout.is_zero())
        {
            return invalid("snapshot_request_timeout", "must not be zero");
        }
        if let Err(error) = self.core.validate() {
            return Err(super::StartError::InvalidOption {
                name: error.name,
                reason: error.reason,
            });
        }
        Ok(())
    }
}
