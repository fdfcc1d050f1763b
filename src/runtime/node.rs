//! The `Node` handle (F07): what applications hold.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use concord_sync::{completion, doorbell, queue, shutdown, status};
use tokio::sync::mpsc;
use tokio::task::coop::cooperative;
use tokio::task::JoinHandle;

use super::clock::{Clock, Jitter, MonotonicClock};
use super::control::{Channels, Control, DriverSnapshots, MembershipAnswer};
use super::driver::Driver;
use super::error::{AdminCallError, ApplyError, ReadError, SnapshotError, StartError};
use super::fsm::{spawn_fsm, Applied, FsmConfig, FsmHandle, FsmRunner, FsmSnapshots};
use super::inbox::{self, Rung};
use super::options::{ApplyTaskMode, NodeOptions, ReadOnlyOption};
use super::reads::{ReadJob, ReadRequest};
use super::snapshot_store::{LocalSnapshotStore, SnapshotStore};
use super::state_machine::StateMachine;
use super::status::{NodeDescription, NodeStatus};
use super::store::LogStore;
use super::tasks::Proposal;
use super::writer::{run_writer, InlineWriter, WriterSnapshots};
use crate::core::{
    Configuration, CoreRestorer, LogId, LogIndex, MembershipChange, PeerId, RestoreError, Role,
    SnapshotMeta, Term,
};
use crate::metrics::NodeMetrics;
use crate::storage::StorageError;
use crate::transport::{FrameSink, Transport};

/// A command for the replicated state machine (F04).
pub struct Task<C> {
    /// The command, opaque to Raft.
    pub data: Bytes,
    /// Refuse the task unless the leader's term equals this (JRaft `expectedTerm`).
    pub expected_term: Option<Term>,
    /// Called once the entry is committed on a majority, before it is applied. It runs
    /// where the state machine runs — its own thread (or, for entries a failing or
    /// stopping node will not apply, tokio's blocking pool) for a blocking state
    /// machine, the node's loop for one with `blocks() == false` — so it must return
    /// quickly (a panic is caught and ignored).
    pub on_committed: Option<Box<dyn FnOnce(LogId) + Send>>,
    /// Handed to `on_apply` on this node only (the leader need not decode its own request).
    pub context: Option<C>,
}

impl<C> Task<C> {
    /// A task carrying `data`.
    pub fn new(data: impl Into<Bytes>) -> Self {
        Task {
            data: data.into(),
            expected_term: None,
            on_committed: None,
            context: None,
        }
    }

    /// Sets the expected term.
    pub fn with_expected_term(mut self, term: Term) -> Self {
        self.expected_term = Some(term);
        self
    }

    /// Sets the leader-side context.
    pub fn with_context(mut self, context: C) -> Self {
        self.context = Some(context);
        self
    }

    /// Sets the hook run after commit, before apply.
    pub fn on_committed(mut self, hook: impl FnOnce(LogId) + Send + 'static) -> Self {
        self.on_committed = Some(Box::new(hook));
        self
    }
}

/// The driver, log writer and FSM caller tasks of a running node.
type NodeTasks<S> = (JoinHandle<()>, Option<JoinHandle<()>>, FsmHandle<S>);

struct Shared<S: StateMachine> {
    options: NodeOptions,
    proposals: Rung<mpsc::Sender<Proposal<S>>>,
    reads: Rung<mpsc::Sender<ReadRequest<S>>>,
    controls: Rung<mpsc::Sender<Control>>,
    /// Dropped with the last handle, which stops the node as `shutdown` would.
    stop: shutdown::Trigger,
    /// The status and the fast-path flag (leader and not failed), published together.
    status: status::Subscriber<NodeStatus>,
    tasks: Mutex<Option<NodeTasks<S>>>,
    metrics: NodeMetrics,
}

/// A running Raft node. Cheap to clone; every clone talks to the same node.
pub struct Node<S: StateMachine> {
    shared: Arc<Shared<S>>,
}

impl<S: StateMachine> Clone for Node<S> {
    fn clone(&self) -> Self {
        Node {
            shared: self.shared.clone(),
        }
    }
}

impl<S: StateMachine> Node<S> {
    /// Recovers from `store` and starts the node. Returns the handle and the sink that
    /// inbound frames for this node must be delivered to (register it with a transport
    /// or a router).
    pub fn start(
        options: NodeOptions,
        state_machine: S,
        store: Arc<dyn LogStore>,
        transport: Arc<dyn Transport>,
    ) -> Result<(Node<S>, FrameSink), StartError> {
        Self::start_with_clock(
            options,
            state_machine,
            store,
            transport,
            Arc::new(MonotonicClock::new()),
        )
    }

    /// As `start`, with an injected clock (simulations: drift and skew).
    pub fn start_with_clock(
        options: NodeOptions,
        state_machine: S,
        store: Arc<dyn LogStore>,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
    ) -> Result<(Node<S>, FrameSink), StartError> {
        options.validate()?;
        let mut options = options;
        // Leases (and the vote guard on restart that keeps them safe) only where asked:
        // the guard costs a restarted voter an election timeout before it votes, which
        // slows elections after restarts. Tried on every node (2026-12-03): 2 of 300
        // chaos seeds of `--nemesis all` then missed their liveness deadlines (a wiped
        // node's replacement waited on a slower election). So a group that uses leases
        // runs `LeaseBased` on every node (docs/runtime.md).
        options.core.read_lease = match options.read_only_option {
            ReadOnlyOption::LeaseBased => {
                u64::try_from(options.read_lease().as_nanos()).unwrap_or(u64::MAX)
            }
            ReadOnlyOption::Safe => 0,
        };
        // Forwarded reads are numbered apart from every earlier start of this node's:
        // from the operating system's entropy, or, in a simulation (fault points set),
        // from the jitter seed, which the simulation varies at every start.
        let seed = match options.faults {
            Some(_) => options.jitter_seed.map(|seed| seed ^ 0x5EAD_1D5E_5EAD_1D5E),
            None => None,
        };
        options.core.read_id_base = Jitter::new(seed).next_u64();
        // Snapshots need a store and a state machine that can save and load them.
        let snapshot_store: Option<Arc<dyn SnapshotStore>> =
            match (&options.snapshot_store, &options.snapshot_dir) {
                (Some(store), _) => Some(store.clone()),
                (None, Some(dir)) => Some(Arc::new(LocalSnapshotStore::open(
                    dir,
                    options.group.clone(),
                )?)),
                (None, None) => None,
            };
        let snapshot_store = snapshot_store.filter(|_| state_machine.supports_snapshots());
        if snapshot_store.is_none() && options.core.snapshot_log_distance != 0 {
            return Err(StartError::InvalidOption {
                name: "core.snapshot_log_distance",
                reason: "snapshots need a snapshot store (snapshot_dir or snapshot_store) \
                         and a state machine that supports them",
            });
        }
        // Restart = the latest snapshot + the log after it.
        let snapshot = match &snapshot_store {
            Some(store) => store.latest()?.map(|meta| SnapshotMeta {
                last_included: meta.last_included,
                configuration: meta.configuration,
            }),
            None => None,
        };
        // Entry by entry, so a restart never holds the whole log (DESIGN.md §2).
        let hard_state = store.hard_state()?;
        let mut restorer = CoreRestorer::new(
            options.peer.clone(),
            options.core.clone(),
            hard_state,
            snapshot.clone(),
            options.initial_configuration.clone(),
        )
        .map_err(|error| restore_error(&options, error))?;
        let mut last_stored = None;
        store.recover_entries(&mut |meta| {
            last_stored = Some(meta.log_id.index);
            restorer
                .push(&meta)
                .map_err(|error| restore_error(&options, error))
        })?;
        // A crash after an install's snapshot commit but before the log's compaction
        // reached the disk leaves a log that ends below the snapshot: compact it now,
        // or the next append (after the snapshot) would not continue it.
        if let Some(meta) = &snapshot {
            if last_stored.is_none_or(|last| last < meta.last_included.index) {
                store.compact(meta.last_included.index, meta.last_included)?;
            }
        }
        // What recovery read may sit only in the page cache: a killed process's unsynced
        // writes survive it, readable but not durable. The core counts everything it is
        // restored from as persisted, so make it durable first; otherwise the node could
        // acknowledge entries (or rely on a vote) that a power loss would still erase.
        store.sync()?;
        let core = restorer.finish();
        // Every queue into the driver rings its source on the driver's doorbell.
        let (ringer, doorbell) = doorbell::doorbell();
        let (frame_sink, inbound) = mpsc::channel(options.inbound_queue_capacity);
        let frame_sink = FrameSink::ringing(frame_sink, ringer.clone(), inbox::FRAMES);
        let (proposals, proposals_rx) = mpsc::channel(options.proposal_queue_capacity);
        let proposals = Rung::new(proposals, &ringer, inbox::PROPOSALS);
        let (reads, reads_rx) = mpsc::channel(options.read_queue_capacity);
        let reads = Rung::new(reads, &ringer, inbox::READS);
        let (stop, stop_rx) = shutdown::signal();
        // The writer and FSM queues bound the work in flight; their completion queues
        // are bounded by it in turn.
        let (writer_jobs, writer_jobs_rx) = queue::bounded(1024);
        let (writer_done_tx, writer_done) = queue::unbounded();
        let writer_done_tx = Rung::new(writer_done_tx, &ringer, inbox::WRITER_DONE);
        let (fsm_jobs, fsm_jobs_rx) = queue::bounded(1024);
        let (fsm_done_tx, fsm_done) = queue::unbounded();
        let fsm_done_tx = Rung::new(fsm_done_tx, &ringer, inbox::FSM_DONE);
        let (status_tx, status) = status::channel(NodeStatus::default());
        let (controls, controls_rx) = mpsc::channel(64);
        let controls = Rung::new(controls, &ringer, inbox::CONTROLS);
        let (snapshot_events_tx, snapshot_events) = mpsc::unbounded_channel();
        let snapshot_events_tx = Rung::new(snapshot_events_tx, &ringer, inbox::SNAPSHOT_EVENTS);
        let staged = Arc::default();
        let metrics = if options.metrics {
            NodeMetrics::new(&options.group, &options.peer)
        } else {
            NodeMetrics::default()
        };
        let writer_snapshots = snapshot_store.as_ref().map(|store| WriterSnapshots {
            store: store.clone(),
            staged: Arc::clone(&staged),
        });
        // A store that never blocks is written from the driver itself, without a
        // writer task.
        let inline_writer = InlineWriter::for_store(
            &store,
            options.faults.as_ref(),
            writer_snapshots.clone(),
            &metrics,
        );
        let writer = inline_writer.is_none().then(|| {
            tokio::spawn(run_writer(
                store.clone(),
                writer_jobs_rx,
                writer_done_tx,
                256,
                options.faults.clone(),
                writer_snapshots,
                metrics.clone(),
            ))
        });
        let runner = FsmRunner::new(state_machine.blocks(), options.faults.is_some());
        let (fsm, inline_fsm) = spawn_fsm(
            state_machine,
            fsm_jobs_rx,
            fsm_done_tx,
            FsmConfig {
                apply_batch: options.apply_batch,
                runner,
                metrics: metrics.clone(),
            },
            snapshot_store.as_ref().map(|store| FsmSnapshots {
                store: store.clone(),
                saved: snapshot_events_tx.clone(),
            }),
        )
        .map_err(|error| StartError::Resources {
            reason: format!("cannot start the state machine's thread: {error}"),
        })?;
        let channels = Channels {
            inbound,
            proposals: proposals_rx,
            reads: reads_rx,
            stop: stop_rx,
            writer_jobs,
            writer_done,
            fsm_jobs,
            fsm_done,
            controls: controls_rx,
            snapshot_events,
            snapshots: snapshot_store.map(|store| DriverSnapshots {
                store,
                staged,
                partial: Arc::default(),
                events: snapshot_events_tx,
            }),
            metrics: metrics.clone(),
            inline_writer,
            inline_fsm,
            doorbell,
        };
        let driver = Driver::new(
            options.clone(),
            core,
            store,
            transport,
            clock,
            channels,
            status_tx,
        );
        // Every event of the node carries its group and peer (crate::trace); an
        // error-level span is enabled whatever the filter lets through.
        #[cfg(feature = "tracing")]
        let driver = tracing::Instrument::instrument(
            driver.run(),
            tracing::error_span!("raft", group = %options.group, peer = %options.peer),
        );
        #[cfg(not(feature = "tracing"))]
        let driver = driver.run();
        let driver = tokio::spawn(driver);
        let shared = Shared {
            options,
            proposals,
            reads,
            controls,
            stop,
            status,
            tasks: Mutex::new(Some((driver, writer, fsm))),
            metrics,
        };
        Ok((
            Node {
                shared: Arc::new(shared),
            },
            frame_sink,
        ))
    }

    /// Proposes a task. Resolves once the entry is applied here (with the state
    /// machine's response), or fails fast: not leader (with the leader hint), expected
    /// term mismatch, overloaded, shutting down. See [`ApplyError`] for which errors
    /// mean "certainly not applied".
    pub async fn apply(&self, task: Task<S::Context>) -> Result<Applied<S::Response>, ApplyError> {
        // Fast path: one atomic load while this node leads and is healthy. Otherwise read
        // the status for the reason (failure, or the leader hint).
        if !self.shared.status.accepting() {
            let status = self.shared.status.borrow();
            if let Some(failure) = &status.failure {
                return Err(ApplyError::NodeInError {
                    failure: failure.clone(),
                });
            }
            if status.role != Role::Leader {
                return Err(ApplyError::NotLeader {
                    leader_hint: status.leader.as_ref().and_then(|l| l.parse().ok()),
                });
            }
        }
        let (completion, result) = completion::channel();
        let proposal = Proposal {
            data: task.data,
            expected_term: task.expected_term,
            on_committed: task.on_committed,
            context: task.context,
            completion,
        };
        match self.shared.options.apply_task_mode {
            ApplyTaskMode::NonBlocking => match self.shared.proposals.try_send(proposal) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => return Err(ApplyError::Overloaded),
                Err(mpsc::error::TrySendError::Closed(_)) => return Err(ApplyError::Stopped),
            },
            ApplyTaskMode::Blocking => {
                if self.shared.proposals.send(proposal).await.is_err() {
                    return Err(ApplyError::Stopped);
                }
            }
        }
        // A proposal dropped unanswered anywhere (a queue, a stopping driver) abandons its
        // completion: the caller learns the node is shutting down.
        cooperative(result)
            .await
            .unwrap_or(Err(ApplyError::ShuttingDown))
    }

    /// Runs a linearizable read on the state machine without writing the log (F18):
    /// resolves with what `read` returned, run on the state machine once it reflects
    /// every write completed before this call. Works on the leader, on followers and on
    /// learners (they ask the leader for its read index, then wait until they have
    /// applied through it). Confirmed as [`NodeOptions::read_only_option`] says
    /// (ReadIndex by default: a heartbeat round per batch of reads); see
    /// [`Node::read_with`]. `read` runs on the state machine's task or thread, between
    /// two applied batches: keep it short.
    ///
    /// ```
    /// # use concord::runtime::*;
    /// # use concord::kv::KvStateMachine;
    /// # async fn example(node: Node<KvStateMachine>) -> Result<(), ReadError> {
    /// let value = node.read(|kv: &KvStateMachine| kv.local_get("key").cloned()).await?;
    /// println!("key = {value:?}");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn read<R, F>(&self, read: F) -> Result<R, ReadError>
    where
        R: Send + 'static,
        F: FnOnce(&S) -> R + Send + 'static,
    {
        self.read_with(self.shared.options.read_only_option, read)
            .await
    }

    /// [`Node::read`] with the read option chosen for this call: `Safe` always takes a
    /// heartbeat round; `LeaseBased` is answered at once while the leader's lease holds
    /// (on a node started with `LeaseBased`; elsewhere it takes a round — see
    /// [`ReadOnlyOption::LeaseBased`] for when a lease is safe).
    ///
    /// ```
    /// # use concord::runtime::*;
    /// # use concord::kv::KvStateMachine;
    /// # async fn example(node: Node<KvStateMachine>) -> Result<(), ReadError> {
    /// let value = node
    ///     .read_with(ReadOnlyOption::LeaseBased, |kv: &KvStateMachine| {
    ///         kv.local_get("key").cloned()
    ///     })
    ///     .await?;
    /// # let _ = value;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn read_with<R, F>(&self, option: ReadOnlyOption, read: F) -> Result<R, ReadError>
    where
        R: Send + 'static,
        F: FnOnce(&S) -> R + Send + 'static,
    {
        let asked = std::time::Instant::now();
        let (answer, result) = tokio::sync::oneshot::channel();
        let job = ReadJob::Run(Box::new(move |state_machine: Result<&S, ReadError>| {
            let _ = answer.send(state_machine.map(read));
        }));
        self.submit_read(option, job)?;
        let answer = self.read_answer(result).await;
        if answer.is_ok() {
            self.shared.metrics.read_index(asked.elapsed());
        }
        answer
    }

    /// The read index (JRaft `readIndex`, F18): once this node's state machine has
    /// applied through it, a read of it reflects every write completed before this
    /// call. [`Node::read`] does the waiting too; this is for callers that read
    /// elsewhere (a cache kept in step with the log, another store).
    ///
    /// ```
    /// # use concord::runtime::*;
    /// # async fn example<S: StateMachine>(node: Node<S>) -> Result<(), ReadError> {
    /// let index = node.read_index().await?;
    /// println!("serve once applied through {index}");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn read_index(&self) -> Result<LogIndex, ReadError> {
        self.read_index_with(self.shared.options.read_only_option)
            .await
    }

    /// [`Node::read_index`] with the read option chosen for this call.
    pub async fn read_index_with(&self, option: ReadOnlyOption) -> Result<LogIndex, ReadError> {
        let (answer, result) = tokio::sync::oneshot::channel();
        self.submit_read(option, ReadJob::Index(answer))?;
        self.read_answer(result).await
    }

    /// Waits for a submitted read's answer, at most `NodeOptions::read_timeout` (a read
    /// answered later finds nobody waiting: it changes nothing). Dropped unanswered (a
    /// stopping node, a failed state machine, a read that panicked): the node is going
    /// away as far as this read is concerned.
    async fn read_answer<T>(
        &self,
        result: tokio::sync::oneshot::Receiver<Result<T, ReadError>>,
    ) -> Result<T, ReadError> {
        let timeout = self.shared.options.read_timeout();
        match tokio::time::timeout(timeout, cooperative(result)).await {
            Ok(answer) => answer.unwrap_or(Err(ReadError::ShuttingDown)),
            Err(_) => Err(ReadError::Timeout),
        }
    }

    fn submit_read(&self, option: ReadOnlyOption, job: ReadJob<S>) -> Result<(), ReadError> {
        if let Some(failure) = &self.shared.status.borrow().failure {
            return Err(ReadError::NodeInError {
                failure: failure.clone(),
            });
        }
        let read = ReadRequest {
            lease: option == ReadOnlyOption::LeaseBased,
            job,
        };
        match self.shared.reads.try_send(read) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(ReadError::Overloaded),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(ReadError::ShuttingDown),
        }
    }

    /// Takes a snapshot now (JRaft `Node#snapshot`, F11): the state machine saves its
    /// state after the last entry handed to it, the snapshot is committed durably, and
    /// the log is compacted up to it (minus `core.snapshot_retained_entries`). Resolves
    /// with the last entry the snapshot covers — or, when nothing was applied since the
    /// latest snapshot, that snapshot's (`None` without any). If a snapshot is being
    /// taken already, waits for that one.
    ///
    /// ```
    /// # use concord::runtime::*;
    /// # async fn example<S: StateMachine>(node: Node<S>) -> Result<(), SnapshotError> {
    /// if let Some(last_included) = node.snapshot().await? {
    ///     println!("the log is compacted up to {last_included}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn snapshot(&self) -> Result<Option<LogId>, SnapshotError> {
        let (answer, result) = tokio::sync::oneshot::channel();
        if self
            .shared
            .controls
            .send(Control::Snapshot(answer))
            .await
            .is_err()
        {
            return Err(SnapshotError::Stopped);
        }
        result.await.unwrap_or(Err(SnapshotError::Stopped))
    }

    /// The node's state in depth (braft's `/raft_stat`): [`NodeStatus`] plus the vote,
    /// the log's start, a joint configuration's old voters, pending reads, snapshots in
    /// progress and, on a leader, each replicator's state, next and match index and
    /// in-flight messages. Rendered by the node's task on request; `Display` gives the
    /// text page. A stopped node answers with its last published status alone.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use concord::core::*;
    /// # use concord::runtime::*;
    /// # use concord::transport::InProcessNetwork;
    /// # #[derive(Default)] struct Noop;
    /// # impl StateMachine for Noop {
    /// #     type Response = ();
    /// #     type Context = ();
    /// #     fn on_apply(&mut self, _: &mut CommittedEntry<()>) -> Result<(), StateMachineError> { Ok(()) }
    /// # }
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let me: PeerId = "127.0.0.1:7001".parse()?;
    /// let options = NodeOptions::new(
    ///     GroupId::new("demo")?,
    ///     me.clone(),
    ///     ConfigurationEntry::stable(Configuration::with_voters([me.clone()])),
    /// );
    /// let network = InProcessNetwork::new();
    /// let transport = Arc::new(network.transport(me.endpoint().clone()));
    /// let (node, sink) = Node::start(options, Noop, Arc::new(MemoryLogStore::new()), transport)?;
    /// network.register(me.endpoint().clone(), sink);
    /// node.wait_for(|status| status.role == Role::Leader).await;
    /// let page = node.describe_detailed().await;
    /// assert_eq!(page.status.role, Role::Leader);
    /// assert!(page.to_string().contains("state: Leader"));
    /// node.shutdown();
    /// node.join().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn describe_detailed(&self) -> NodeDescription {
        let (answer, result) = tokio::sync::oneshot::channel();
        if self
            .shared
            .controls
            .send(Control::Describe(answer))
            .await
            .is_ok()
        {
            if let Ok(mut description) = result.await {
                // Published by the driver before it answered.
                description.status = self.describe();
                return description;
            }
        }
        NodeDescription {
            status: self.describe(),
            ..NodeDescription::default()
        }
    }

    /// Changes the membership (JRaft `changePeers` and friends, F14–F16); on the leader
    /// only. New voters first catch up as non-voting members (within
    /// `core.catchup_margin` entries); a change of voters then goes through the joint
    /// configuration (old and new), and resolves once the new configuration is
    /// committed, with it. A leader that is not a voter of the new configuration steps
    /// down once it is committed. One change at a time: another one in progress fails
    /// with `AdminError::ChangeInProgress` at once (retry later), and a new voter that
    /// stops answering while catching up fails the change with `CatchUpFailed`.
    /// `LeadershipLost` means the outcome is unknown: look at [`Node::list_peers`].
    ///
    /// A new node is started with an empty initial configuration
    /// (`NodeOptions::initial_configuration` = `Configuration::default()`): it neither
    /// campaigns nor votes on its own, and receives the log (or a snapshot) from the
    /// leader that adds it.
    ///
    /// ```
    /// # use concord::runtime::*;
    /// # use concord::core::{MembershipChange, PeerId};
    /// # async fn example<S: StateMachine>(leader: Node<S>) -> Result<(), AdminCallError> {
    /// let new_peer: PeerId = "127.0.0.1:8084".parse().unwrap();
    /// let configuration = leader.add_peer(new_peer.clone()).await?;
    /// assert!(configuration.is_voter(&new_peer));
    /// // Any set to any set, through the joint configuration:
    /// let voters: Vec<PeerId> = ["127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8084"]
    ///     .iter().map(|p| p.parse().unwrap()).collect();
    /// leader.change_peers(voters).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn change_membership(
        &self,
        change: MembershipChange<PeerId>,
    ) -> Result<Configuration<PeerId>, AdminCallError> {
        self.membership_call(|answer| Control::ChangeMembership(change, answer))
            .await
    }

    /// Sends a membership request to the driver and waits for its answer.
    async fn membership_call(
        &self,
        control: impl FnOnce(MembershipAnswer) -> Control,
    ) -> Result<Configuration<PeerId>, AdminCallError> {
        let (answer, result) = tokio::sync::oneshot::channel();
        if self.shared.controls.send(control(answer)).await.is_err() {
            return Err(AdminCallError::Stopped);
        }
        match result.await {
            Ok(outcome) => outcome.map_err(AdminCallError::Refused),
            Err(_) => Err(AdminCallError::Stopped),
        }
    }

    /// Forces this node's configuration to `voters` (JRaft `resetPeers`, F17): for when a
    /// majority of the voters is permanently lost and the group can no longer change
    /// its membership by consensus. Call it on every surviving node with the same
    /// voters; they elect a leader among themselves, which records the configuration
    /// in the log. Resolves once the reset is durable on this node.
    ///
    /// **Fenced** (no reference Raft library does this): the reset opens the next
    /// configuration epoch, the high bits of the term. If the members you gave up for
    /// lost come back, everything they send is stale to the reset nodes, and the first
    /// refusal they get moves them to the new epoch, where a node whose configuration
    /// is of an older epoch never campaigns: no leader of the old configuration is
    /// elected once they have heard from the new one, and nothing the reset cluster
    /// committed is overwritten. A returned member rejoins only as a new member: wipe
    /// its storage and start it under a new peer id with an empty configuration, then
    /// [`Node::add_peer`]. A retry of a reset that already took effect in this node's
    /// epoch (same voters) changes nothing and answers the configuration in force, so
    /// retrying after an unknown outcome (`Stopped`, `Failed`) is safe. What no
    /// fence can do: members still cut off from every reset node can go on as the old
    /// cluster among themselves until they hear from it. See docs/runtime.md
    /// "Resetting peers".
    ///
    /// A reset is unsafe by nature: entries the old configuration committed that the
    /// survivors lack are gone. Prefer [`Node::change_peers`] whenever a quorum is alive.
    ///
    /// ```
    /// # use concord::runtime::*;
    /// # use concord::core::PeerId;
    /// # async fn example<S: StateMachine>(survivor: Node<S>) -> Result<(), AdminCallError> {
    /// // Of {8081, 8082, 8083}, only 8081 survived: it becomes a cluster of one.
    /// let me: PeerId = "127.0.0.1:8081".parse().unwrap();
    /// let configuration = survivor.reset_peers([me.clone()]).await?;
    /// assert!(configuration.is_voter(&me));
    /// // Then grow it again, by consensus, with fresh nodes:
    /// survivor.add_peer("127.0.0.1:8084".parse().unwrap()).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn reset_peers(
        &self,
        voters: impl IntoIterator<Item = PeerId>,
    ) -> Result<Configuration<PeerId>, AdminCallError> {
        let configuration = Configuration::with_voters(voters);
        self.membership_call(|answer| Control::ResetPeers(configuration, answer))
            .await
    }

    /// Adds a voter (JRaft `addPeer`): see [`Node::change_membership`].
    pub async fn add_peer(&self, peer: PeerId) -> Result<Configuration<PeerId>, AdminCallError> {
        self.change_membership(MembershipChange::AddVoter(peer))
            .await
    }

    /// Removes a voter (JRaft `removePeer`); removing the leader makes it step down once
    /// the change is committed. See [`Node::change_membership`].
    pub async fn remove_peer(&self, peer: PeerId) -> Result<Configuration<PeerId>, AdminCallError> {
        self.change_membership(MembershipChange::RemoveVoter(peer))
            .await
    }

    /// Makes exactly `voters` the voters (JRaft `changePeers`): see
    /// [`Node::change_membership`].
    pub async fn change_peers(
        &self,
        voters: impl IntoIterator<Item = PeerId>,
    ) -> Result<Configuration<PeerId>, AdminCallError> {
        self.change_membership(MembershipChange::ChangeVoters(voters.into_iter().collect()))
            .await
    }

    /// Adds learners (JRaft `addLearners`, F16): they receive the log but never vote.
    pub async fn add_learners(
        &self,
        learners: impl IntoIterator<Item = PeerId>,
    ) -> Result<Configuration<PeerId>, AdminCallError> {
        self.change_membership(MembershipChange::AddLearners(
            learners.into_iter().collect(),
        ))
        .await
    }

    /// Removes learners (JRaft `removeLearners`).
    pub async fn remove_learners(
        &self,
        learners: impl IntoIterator<Item = PeerId>,
    ) -> Result<Configuration<PeerId>, AdminCallError> {
        self.change_membership(MembershipChange::RemoveLearners(
            learners.into_iter().collect(),
        ))
        .await
    }

    /// Makes exactly `learners` the learners (JRaft `resetLearners`).
    pub async fn reset_learners(
        &self,
        learners: impl IntoIterator<Item = PeerId>,
    ) -> Result<Configuration<PeerId>, AdminCallError> {
        self.change_membership(MembershipChange::ResetLearners(
            learners.into_iter().collect(),
        ))
        .await
    }

    /// Hands leadership to the voter `to`, or with `None` to the most up-to-date voter
    /// (JRaft `transferLeadershipTo`, F17); on the leader only. Writes are refused with
    /// `ApplyError::TransferInProgress` while the target is brought up to
    /// date; then it is told to campaign at once. Resolves with the target once this
    /// node has stepped down for it; fails with `TransferTimedOut` after two election
    /// timeouts (this node then leads on and takes writes again).
    ///
    /// ```
    /// # use concord::runtime::*;
    /// # async fn example<S: StateMachine>(leader: Node<S>) -> Result<(), AdminCallError> {
    /// // Before restarting the leader's machine, move leadership elsewhere.
    /// let new_leader = leader.transfer_leadership_to(None).await?;
    /// println!("{new_leader} takes over");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn transfer_leadership_to(
        &self,
        to: Option<PeerId>,
    ) -> Result<PeerId, AdminCallError> {
        let (answer, result) = tokio::sync::oneshot::channel();
        if self
            .shared
            .controls
            .send(Control::TransferLeadership(to, answer))
            .await
            .is_err()
        {
            return Err(AdminCallError::Stopped);
        }
        match result.await {
            Ok(outcome) => outcome.map_err(AdminCallError::Refused),
            Err(_) => Err(AdminCallError::Stopped),
        }
    }

    /// The leader as this node knows it.
    pub fn leader_id(&self) -> Option<PeerId> {
        self.shared
            .status
            .borrow()
            .leader
            .as_ref()
            .and_then(|l| l.parse().ok())
    }

    /// Voters of the configuration in force.
    pub fn list_peers(&self) -> Vec<PeerId> {
        parse_all(&self.shared.status.borrow().voters)
    }

    /// Learners of the configuration in force.
    pub fn list_learners(&self) -> Vec<PeerId> {
        parse_all(&self.shared.status.borrow().learners)
    }

    /// On the leader: the members it heard from recently (itself included). Empty elsewhere.
    pub fn list_alive_peers(&self) -> Vec<PeerId> {
        parse_all(&self.shared.status.borrow().alive_peers)
    }

    /// The node's state as data: as the node's loop last published it — before it
    /// waits for work, before it answers an admin request, and every 8 events while
    /// it is busy (so a busy node's status may be a few events behind).
    pub fn describe(&self) -> NodeStatus {
        self.shared.status.borrow().clone()
    }

    /// Waits until the status satisfies `condition` (for tests and tools).
    pub async fn wait_for(&self, condition: impl Fn(&NodeStatus) -> bool) -> NodeStatus {
        let mut status = self.shared.status.clone();
        loop {
            {
                let current = status.borrow_and_update();
                if condition(&current) {
                    return current.clone();
                }
            }
            if status.changed().await.is_err() {
                return status.borrow().clone();
            }
        }
    }

    /// Asks the node to stop: pending and queued tasks fail with `ShuttingDown`.
    pub fn shutdown(&self) {
        self.shared.stop.request();
    }

    /// Waits until the node has stopped (after `shutdown`), the state machine's
    /// `on_shutdown` included, and returns the state machine. A snapshot save still
    /// writing is waited for too (it is not cut short), and so is the log writer: once
    /// `join` returns, the node's log and its own snapshots are no longer written, and a
    /// node may be started again on the same directories in the same process. (A fetch
    /// of the leader's snapshot is aborted, not waited for: a chunk write it had
    /// already handed to tokio's blocking pool may still finish into its temporary
    /// directory, which it then removes.)
    pub async fn join(&self) -> Option<S> {
        let tasks = self
            .shared
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let (driver, writer, fsm) = tasks?;
        let _ = driver.await;
        // The driver dropped its job senders: the writer and the FSM caller drain and stop.
        if let Some(writer) = writer {
            let _ = writer.await;
        }
        fsm.join().await
    }
}

/// A durable state Raft cannot have written (a gap, a term from the future), as the
/// store's error.
fn restore_error(options: &NodeOptions, error: RestoreError) -> StorageError {
    StorageError::CorruptMeta {
        store: "log".into(),
        group: options.group.clone(),
        record: "recovered log".into(),
        reason: error.to_string(),
    }
}

fn parse_all(texts: &[String]) -> Vec<PeerId> {
    texts.iter().filter_map(|t| t.parse().ok()).collect()
}
