//! Snapshots in the runtime (F11, F21): saving, log compaction, restart from the
//! snapshot plus the log tail, and a lagging follower caught up by snapshot install —
//! over the in-process transport, with memory and file-system snapshot stores.

#![cfg(feature = "fjall")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use concord::core::*;
use concord::runtime::*;
use concord::storage::{LogEntry, SnapshotReader, SnapshotWriter};
use concord::transport::*;

/// A counter whose state is the total and an order-sensitive digest of every applied
/// delta: two replicas with equal states applied the same entries in the same order.
#[derive(Default)]
struct Counter {
    state: Arc<Mutex<CounterState>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct CounterState {
    total: i64,
    digest: u64,
    last: u64,
    loads: u64,
}

impl CounterState {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.total.to_le_bytes());
        out.extend_from_slice(&self.digest.to_le_bytes());
        out.extend_from_slice(&self.last.to_le_bytes());
        out
    }
}

impl StateMachine for Counter {
    type Response = i64;
    type Context = ();

    fn on_apply(&mut self, entry: &mut CommittedEntry<()>) -> Result<i64, StateMachineError> {
        let delta = i64::from_le_bytes(
            entry.data[..8]
                .try_into()
                .map_err(|_| StateMachineError::new("bad entry"))?,
        );
        let mut state = self.state.lock().unwrap();
        assert!(
            entry.log_id.index.0 > state.last,
            "entry {} applied after {}",
            entry.log_id.index,
            state.last
        );
        state.total += delta;
        state.digest = state
            .digest
            .wrapping_mul(1_000_003)
            .wrapping_add(delta as u64 ^ entry.log_id.index.0);
        state.last = entry.log_id.index.0;
        Ok(state.total)
    }

    fn supports_snapshots(&self) -> bool {
        true
    }

    fn on_snapshot_save(
        &mut self,
        context: &SnapshotContext,
    ) -> Result<SnapshotSave, StateMachineError> {
        let state = *self.state.lock().unwrap();
        // Entries are applied in order and blanks carry no delta: the counter may have
        // last applied a client entry before `last_included`.
        assert!(state.last <= context.last_included.index.0);
        let bytes = state.encode();
        Ok(Box::new(move |sink: &mut SnapshotSink| {
            sink.write_file("counter", &bytes)?;
            // A second file, the same in every snapshot: deduplicated on transfer.
            Ok(sink.write_file("constant", &CONSTANT)?)
        }))
    }

    fn on_snapshot_load(&mut self, snapshot: &SnapshotSource) -> Result<(), StateMachineError> {
        let bytes = snapshot.read_file("counter")?;
        let field = |i: usize| -> [u8; 8] { bytes[i * 8..i * 8 + 8].try_into().unwrap() };
        let mut state = self.state.lock().unwrap();
        state.total = i64::from_le_bytes(field(0));
        state.digest = u64::from_le_bytes(field(1));
        state.last = u64::from_le_bytes(field(2));
        state.loads += 1;
        Ok(())
    }
}

/// A file of 64 KiB in every snapshot, the same each time.
static CONSTANT: [u8; 65536] = {
    let mut bytes = [0u8; 65536];
    let mut i = 0;
    while i < bytes.len() {
        bytes[i] = (i * 7 % 251) as u8;
        i += 1;
    }
    bytes
};

/// The in-process transport, recording the snapshot reads sent and losing every third
/// snapshot answer (a transfer must resume, not restart).
struct LossyTransport {
    inner: InProcessTransport,
    shared: Arc<TransferLog>,
}

#[derive(Default)]
struct TransferLog {
    /// (file, offset) of every read sent.
    reads: Mutex<Vec<(Option<String>, u64)>>,
    answers: AtomicU64,
    lose_every: AtomicU64,
    /// Send every snapshot answer twice, the second copy late (a duplicate that
    /// arrives after the copy moved on: stale).
    duplicate: std::sync::atomic::AtomicBool,
}

impl Transport for LossyTransport {
    fn send(&self, to: &Endpoint, frame: RaftFrame) -> Result<(), SendError> {
        match &frame.body {
            FrameBody::SnapshotRead(read) => {
                self.shared
                    .reads
                    .lock()
                    .unwrap()
                    .push((read.file.clone(), read.offset));
            }
            FrameBody::SnapshotData(_) => {
                let n = self.shared.answers.fetch_add(1, Ordering::Relaxed);
                let every = self.shared.lose_every.load(Ordering::Relaxed);
                if every > 0 && n % every == every - 1 {
                    return Ok(());
                }
                if self.shared.duplicate.load(Ordering::Relaxed) {
                    let (inner, to, copy) = (self.inner.clone(), to.clone(), frame.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        let _ = inner.send(&to, copy);
                    });
                }
            }
            FrameBody::Raft(_) => {}
        }
        self.inner.send(to, frame)
    }

    fn metrics(&self) -> TransportMetricsSnapshot {
        self.inner.metrics()
    }
}

fn delta(value: i64) -> Task<()> {
    Task::new(value.to_le_bytes().to_vec())
}

fn peer(i: usize) -> PeerId {
    format!("127.0.0.1:{}", 7300 + i).parse().unwrap()
}

struct Member {
    node: Node<Counter>,
    state: Arc<Mutex<CounterState>>,
}

struct Cluster {
    network: InProcessNetwork,
    peers: Vec<PeerId>,
    stores: Vec<Arc<dyn LogStore>>,
    snapshots: Vec<MemorySnapshotStore>,
    members: Vec<Option<Member>>,
    configure: fn(&mut NodeOptions),
    transfers: Arc<TransferLog>,
}

impl Cluster {
    fn new(size: usize, configure: fn(&mut NodeOptions)) -> Cluster {
        let mut cluster = Cluster {
            network: InProcessNetwork::new(),
            peers: (0..size).map(peer).collect(),
            stores: (0..size)
                .map(|_| Arc::new(MemoryLogStore::new()) as Arc<dyn LogStore>)
                .collect(),
            snapshots: (0..size).map(|_| MemorySnapshotStore::new()).collect(),
            members: (0..size).map(|_| None).collect(),
            configure,
            transfers: Arc::default(),
        };
        for i in 0..size {
            cluster.start(i);
        }
        cluster
    }

    fn options(&self, i: usize) -> NodeOptions {
        let configuration =
            ConfigurationEntry::stable(Configuration::with_voters(self.peers.clone()));
        let mut options = NodeOptions::new(
            GroupId::new("snap").unwrap(),
            self.peers[i].clone(),
            configuration,
        );
        options.election_timeout = Duration::from_millis(150);
        options.max_election_delay = Duration::from_millis(150);
        options.jitter_seed = Some(i as u64 + 11);
        options.snapshot_store = Some(Arc::new(self.snapshots[i].clone()));
        (self.configure)(&mut options);
        options
    }

    fn start(&mut self, i: usize) {
        let machine = Counter::default();
        let state = machine.state.clone();
        let transport = Arc::new(LossyTransport {
            inner: self.network.transport(self.peers[i].endpoint().clone()),
            shared: self.transfers.clone(),
        });
        let (node, sink) =
            Node::start(self.options(i), machine, self.stores[i].clone(), transport).unwrap();
        self.network
            .register(self.peers[i].endpoint().clone(), sink);
        self.members[i] = Some(Member { node, state });
    }

    async fn stop(&mut self, i: usize) {
        let member = self.members[i].take().expect("running");
        self.network.unregister(self.peers[i].endpoint());
        member.node.shutdown();
        member.node.join().await;
    }

    fn node(&self, i: usize) -> &Node<Counter> {
        &self.members[i].as_ref().expect("running").node
    }

    fn state(&self, i: usize) -> CounterState {
        *self.members[i]
            .as_ref()
            .expect("running")
            .state
            .lock()
            .unwrap()
    }

    async fn leader(&self) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let leaders: Vec<usize> = (0..self.members.len())
                .filter(|&i| {
                    self.members[i]
                        .as_ref()
                        .is_some_and(|m| m.node.describe().role == Role::Leader)
                })
                .collect();
            if let [leader] = leaders[..] {
                return leader;
            }
            assert!(tokio::time::Instant::now() < deadline, "no leader in 10 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn write(&self, leader: usize, values: std::ops::RangeInclusive<i64>) -> LogId {
        let mut last = LogId::default();
        for value in values {
            last = self.node(leader).apply(delta(value)).await.unwrap().log_id;
        }
        last
    }

    async fn wait_applied(&self, i: usize, index: LogIndex) {
        let node = self.node(i).clone();
        tokio::time::timeout(
            Duration::from_secs(20),
            node.wait_for(|s| s.applied_index >= index),
        )
        .await
        .unwrap_or_else(|_| panic!("node {i} did not apply {index}: {:?}", node.describe()));
    }

    /// The index of the first entry node `i`'s log store still holds.
    fn first_stored(&self, i: usize) -> u64 {
        let mut first = None;
        self.stores[i]
            .recover_entries(&mut |meta| {
                first.get_or_insert(meta.log_id.index.0);
                Ok(())
            })
            .unwrap();
        first.unwrap_or(u64::MAX)
    }
}

/// 4 KiB chunks, a 50 ms request timeout, nothing kept below a snapshot: transfers
/// of many chunks, quickly retried.
/// Starts a node of a one-voter group on `network` and waits until it leads.
async fn start_solo<S: StateMachine>(
    network: &InProcessNetwork,
    me: &PeerId,
    options: NodeOptions,
    machine: S,
    store: Arc<dyn LogStore>,
) -> Node<S> {
    let (node, sink) = Node::start(
        options,
        machine,
        store,
        Arc::new(network.transport(me.endpoint().clone())),
    )
    .unwrap();
    network.register(me.endpoint().clone(), sink);
    node.wait_for(|s| s.role == Role::Leader).await;
    node
}

fn small_chunks(options: &mut NodeOptions) {
    options.snapshot_chunk_bytes = 4096;
    options.snapshot_request_timeout = Some(Duration::from_millis(50));
    options.core.snapshot_retained_entries = 0;
}

fn compacting(options: &mut NodeOptions) {
    options.core.snapshot_log_distance = 50;
    options.core.snapshot_retained_entries = 10;
}

#[tokio::test]
async fn snapshots_compact_the_log_and_a_restart_loads_the_snapshot_plus_the_tail() {
    let mut cluster = Cluster::new(3, compacting);
    let leader = cluster.leader().await;
    let last = cluster.write(leader, 1..=200).await;
    for i in 0..3 {
        cluster.wait_applied(i, last.index).await;
    }
    // Every node snapshots on its own and compacts its log.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..3 {
        let snapshot = cluster.snapshots[i].latest().unwrap().expect("a snapshot");
        assert!(
            snapshot.last_included.index.0 >= 150,
            "node {i}: {snapshot:?}"
        );
        assert!(
            cluster.first_stored(i) > 100,
            "node {i} still stores from {}",
            cluster.first_stored(i)
        );
    }
    let expected = cluster.state(leader);
    assert_eq!(expected.total, (1..=200).sum::<i64>());
    // Restart every node: each loads its snapshot and replays only the tail.
    for i in 0..3 {
        cluster.stop(i).await;
    }
    for i in 0..3 {
        cluster.start(i);
    }
    let leader = cluster.leader().await;
    let last = cluster.write(leader, 201..=210).await;
    for i in 0..3 {
        cluster.wait_applied(i, last.index).await;
        let state = cluster.state(i);
        assert_eq!(state.loads, 1, "node {i} loaded its snapshot once");
        assert_eq!(state.total, (1..=210).sum::<i64>(), "node {i}");
    }
    let digest = cluster.state(0).digest;
    assert!((0..3).all(|i| cluster.state(i).digest == digest));
}

#[tokio::test]
async fn a_follower_down_for_many_entries_catches_up_by_snapshot() {
    let mut cluster = Cluster::new(3, compacting);
    let leader = cluster.leader().await;
    cluster.write(leader, 1..=20).await;
    let lagging = (leader + 1) % 3;
    cluster.stop(lagging).await;
    let last = cluster.write(leader, 21..=400).await;
    let snapshot = cluster.snapshots[leader]
        .latest()
        .unwrap()
        .expect("leader snapshot");
    assert!(snapshot.last_included.index.0 > 300);
    assert!(cluster.first_stored(leader) > 100, "the leader compacted");
    cluster.start(lagging);
    cluster.wait_applied(lagging, last.index).await;
    let state = cluster.state(lagging);
    assert_eq!(state.total, (1..=400).sum::<i64>());
    assert_eq!(state.digest, cluster.state(leader).digest);
    assert!(
        state.loads >= 1,
        "caught up by loading an installed snapshot"
    );
    let installed = cluster.snapshots[lagging]
        .latest()
        .unwrap()
        .expect("installed");
    assert!(installed.last_included.index.0 > 20);
    // And it keeps up from the log afterwards.
    let leader = cluster.leader().await;
    let last = cluster.write(leader, 401..=420).await;
    cluster.wait_applied(lagging, last.index).await;
    assert_eq!(cluster.state(lagging).total, (1..=420).sum::<i64>());
}

#[tokio::test]
async fn node_snapshot_on_demand_and_without_support() {
    let cluster = Cluster::new(3, |_| {});
    let leader = cluster.leader().await;
    let last = cluster.write(leader, 1..=30).await;
    let taken = cluster.node(leader).snapshot().await.unwrap();
    assert_eq!(taken, Some(last), "covers every applied entry");
    // Nothing new applied: the same snapshot stands.
    assert_eq!(cluster.node(leader).snapshot().await.unwrap(), Some(last));
    // A node without a snapshot store says so.
    let network = InProcessNetwork::new();
    let me = peer(9);
    let options = NodeOptions::new(
        GroupId::new("solo").unwrap(),
        me.clone(),
        ConfigurationEntry::stable(Configuration::with_voters([me.clone()])),
    );
    let (node, _sink) = Node::start(
        options,
        Counter::default(),
        Arc::new(MemoryLogStore::new()),
        Arc::new(network.transport(me.endpoint().clone())),
    )
    .unwrap();
    assert_eq!(node.snapshot().await, Err(SnapshotError::Unsupported));
    node.shutdown();
    node.join().await;
}

#[tokio::test]
async fn snapshots_on_the_file_system_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let network = InProcessNetwork::new();
    let me = peer(20);
    let options = || {
        let mut options = NodeOptions::new(
            GroupId::new("disk").unwrap(),
            me.clone(),
            ConfigurationEntry::stable(Configuration::with_voters([me.clone()])),
        );
        options.election_timeout = Duration::from_millis(50);
        options.max_election_delay = Duration::from_millis(50);
        options.snapshot_dir = Some(dir.path().join("snapshots"));
        options.core.snapshot_retained_entries = 0;
        options
    };
    let storage = DurableStorage::open(&StorageOptions::new(dir.path().join("log"))).unwrap();
    let store = storage.log_store(&GroupId::new("disk").unwrap()).unwrap();
    let node = start_solo(&network, &me, options(), Counter::default(), store.clone()).await;
    for value in 1..=40 {
        node.apply(delta(value)).await.unwrap();
    }
    let taken = node.snapshot().await.unwrap().unwrap();
    for value in 41..=45 {
        node.apply(delta(value)).await.unwrap();
    }
    node.shutdown();
    node.join().await;
    drop(store);
    network.unregister(me.endpoint());
    let store = storage.log_store(&GroupId::new("disk").unwrap()).unwrap();
    let machine = Counter::default();
    let state = machine.state.clone();
    let node = start_solo(&network, &me, options(), machine, store.clone()).await;
    node.apply(delta(46)).await.unwrap();
    let state = *state.lock().unwrap();
    assert_eq!(state.loads, 1);
    assert_eq!(state.total, (1..=46).sum::<i64>());
    // The log was compacted through the snapshot: the store starts after it.
    let mut first = None;
    store
        .recover_entries(&mut |meta| {
            first.get_or_insert(meta.log_id.index);
            Ok(())
        })
        .unwrap();
    assert_eq!(first, Some(taken.index.next()));
    let reader =
        LocalSnapshotStore::open(dir.path().join("snapshots"), GroupId::new("disk").unwrap())
            .unwrap()
            .open_latest()
            .unwrap()
            .unwrap();
    assert_eq!(reader.meta().last_included, taken);
    node.shutdown();
    node.join().await;
}

/// A crash right after an install's snapshot commit, before the log's compaction
/// reached the disk, leaves a log that ends below the snapshot. The restart compacts it,
/// so the entries after the snapshot continue the log.
#[tokio::test]
async fn a_restart_repairs_a_log_that_ends_below_the_snapshot() {
    let me = peer(30);
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([me.clone()]));
    let store = Arc::new(MemoryLogStore::new());
    let entries: Vec<LogEntry> = (1..=5)
        .map(|index| LogEntry {
            meta: EntryMeta {
                log_id: LogId::new(1, index),
                kind: EntryKind::Normal,
                size_bytes: 8,
            },
            payload: bytes::Bytes::from(1i64.to_le_bytes().to_vec()),
        })
        .collect();
    store
        .persist(&[
            PersistOp::HardState(HardState {
                term: Term(1),
                voted_for: Some(me.clone()),
                reset: None,
            }),
            PersistOp::Append(entries),
        ])
        .unwrap();
    let snapshots = MemorySnapshotStore::new();
    let installed = CounterState {
        total: 1000,
        digest: 42,
        last: 20,
        loads: 0,
    };
    let mut sink = snapshots
        .create(LogId::new(1, 20), configuration.clone())
        .unwrap();
    sink.write_file("counter", &installed.encode()).unwrap();
    snapshots.commit(sink).unwrap();

    let mut options = NodeOptions::new(GroupId::new("repair").unwrap(), me.clone(), configuration);
    options.election_timeout = Duration::from_millis(50);
    options.max_election_delay = Duration::from_millis(50);
    options.snapshot_store = Some(Arc::new(snapshots));
    let network = InProcessNetwork::new();
    let machine = Counter::default();
    let state = machine.state.clone();
    let (node, sink) = Node::start(
        options,
        machine,
        store.clone(),
        Arc::new(network.transport(me.endpoint().clone())),
    )
    .unwrap();
    network.register(me.endpoint().clone(), sink);
    // Without the repair the node fails at its first append (its log would not continue).
    tokio::time::timeout(
        Duration::from_secs(10),
        node.wait_for(|s| s.role == Role::Leader || s.failure.is_some()),
    )
    .await
    .expect("in time");
    let applied = tokio::time::timeout(Duration::from_secs(10), node.apply(delta(5)))
        .await
        .expect("in time")
        .expect("applied after the snapshot");
    assert!(applied.log_id.index.0 > 20);
    assert_eq!(applied.response, 1005);
    assert_eq!(state.lock().unwrap().loads, 1);
    node.shutdown();
    node.join().await;
}

/// Chunked (4 KiB per answer), resumed after lost answers (every third is lost, and
/// each chunk is asked again from where the copy stands, never from zero), and
/// deduplicated (the 64 KiB file the follower's own snapshot already holds is not
/// copied).
#[tokio::test]
async fn a_transfer_is_chunked_resumed_and_deduplicated() {
    let mut cluster = Cluster::new(3, small_chunks);
    let leader = cluster.leader().await;
    let last = cluster.write(leader, 1..=10).await;
    let lagging = (leader + 1) % 3;
    cluster.wait_applied(lagging, last.index).await;
    // The follower's own snapshot holds the constant file.
    cluster.node(lagging).snapshot().await.unwrap().unwrap();
    cluster.stop(lagging).await;
    let last = cluster.write(leader, 11..=60).await;
    cluster.node(leader).snapshot().await.unwrap().unwrap();
    cluster.transfers.lose_every.store(3, Ordering::Relaxed);
    cluster.start(lagging);
    cluster.wait_applied(lagging, last.index).await;
    let state = cluster.state(lagging);
    assert_eq!(state.total, (1..=60).sum::<i64>());
    assert!(state.loads >= 1, "installed");
    let reads = cluster.transfers.reads.lock().unwrap().clone();
    assert!(
        reads
            .iter()
            .all(|(file, _)| file.as_deref() != Some("constant")),
        "the constant file was copied: {reads:?}"
    );
    assert!(
        reads
            .iter()
            .any(|(file, _)| file.as_deref() == Some("counter")),
        "{reads:?}"
    );
    assert!(cluster.transfers.answers.load(Ordering::Relaxed) >= 2);
}

/// A big file in 4 KiB chunks, four reads in flight, every third answer lost: each
/// lost chunk is asked again at its offset, and no offset more than the losses explain.
#[tokio::test]
async fn a_lost_chunk_is_asked_again_from_its_offset() {
    let mut cluster = Cluster::new(3, small_chunks);
    let leader = cluster.leader().await;
    let lagging = (leader + 1) % 3;
    cluster.stop(lagging).await;
    let last = cluster.write(leader, 1..=30).await;
    cluster.node(leader).snapshot().await.unwrap().unwrap();
    cluster.transfers.lose_every.store(3, Ordering::Relaxed);
    cluster.start(lagging);
    cluster.wait_applied(lagging, last.index).await;
    assert_eq!(cluster.state(lagging).total, (1..=30).sum::<i64>());
    let reads = cluster.transfers.reads.lock().unwrap().clone();
    let constant: Vec<u64> = reads
        .iter()
        .filter(|(file, _)| file.as_deref() == Some("constant"))
        .map(|(_, offset)| *offset)
        .collect();
    // 16 chunks of 4 KiB; about a third of the answers lost and asked again.
    let distinct: std::collections::BTreeSet<u64> = constant.iter().copied().collect();
    assert_eq!(distinct.len(), 16, "{constant:?}");
    assert!(constant.len() > 16, "nothing was lost: {constant:?}");
    assert!(constant.len() < 16 * 2, "restarted from zero: {constant:?}");
    // A lost answer costs its own chunk (and the reads in flight beside it), never the
    // file from the start.
    for offset in &distinct {
        let asked = constant.iter().filter(|o| *o == offset).count();
        assert!(
            asked <= 5,
            "offset {offset} asked {asked} times: {constant:?}"
        );
    }
}

/// The bar: a follower that was down for 100,000 entries catches up by
/// snapshot (the leader snapshots every 10,000 entries and keeps 1,024 below).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_down_for_100k_entries_catches_up_by_snapshot() {
    fn options(options: &mut NodeOptions) {
        options.core.snapshot_log_distance = 10_000;
        options.apply_task_mode = ApplyTaskMode::Blocking;
    }
    let mut cluster = Cluster::new(3, options);
    let leader = cluster.leader().await;
    let lagging = (leader + 1) % 3;
    cluster.stop(lagging).await;
    let writers: Vec<_> = (0..64)
        .map(|w| {
            let node = cluster.node(leader).clone();
            tokio::spawn(async move {
                let mut last = LogId::default();
                for _ in 0..1_563 {
                    last = last.max(node.apply(delta(1)).await.unwrap().log_id);
                }
                let _ = w;
                last
            })
        })
        .collect();
    let mut last = LogId::default();
    for writer in writers {
        last = last.max(writer.await.unwrap());
    }
    assert!(last.index.0 >= 100_000, "{last}");
    cluster.start(lagging);
    cluster.wait_applied(lagging, last.index).await;
    let state = cluster.state(lagging);
    assert_eq!(state.total, 64 * 1_563);
    assert_eq!(state.digest, cluster.state(leader).digest);
    assert!(state.loads >= 1, "caught up by install");
    assert!(
        cluster.first_stored(leader) > 80_000,
        "the leader compacted"
    );
}

/// Every snapshot answer arrives twice, the copy 20 ms late — after the fetch has moved
/// on — and every third is lost: duplicates and stale answers are ignored (matched by
/// request id), and the install is exact.
#[tokio::test]
async fn duplicated_and_stale_chunks_are_ignored() {
    let mut cluster = Cluster::new(3, small_chunks);
    let leader = cluster.leader().await;
    let lagging = (leader + 1) % 3;
    cluster.stop(lagging).await;
    let last = cluster.write(leader, 1..=40).await;
    cluster.node(leader).snapshot().await.unwrap().unwrap();
    cluster.transfers.duplicate.store(true, Ordering::Relaxed);
    cluster.transfers.lose_every.store(3, Ordering::Relaxed);
    cluster.start(lagging);
    cluster.wait_applied(lagging, last.index).await;
    let state = cluster.state(lagging);
    assert_eq!(state.total, (1..=40).sum::<i64>());
    assert_eq!(state.digest, cluster.state(leader).digest);
    assert!(state.loads >= 1);
}

/// A state machine whose snapshot writes take a while, and say when they start and end.
struct SlowSave {
    blocks: bool,
    applied: u64,
    /// Set when a save's writer starts, and when it has written its file.
    started: Arc<tokio::sync::Notify>,
    written: Arc<AtomicU64>,
}

impl StateMachine for SlowSave {
    type Response = ();
    type Context = ();

    fn on_apply(&mut self, _: &mut CommittedEntry<()>) -> Result<(), StateMachineError> {
        self.applied += 1;
        Ok(())
    }

    fn supports_snapshots(&self) -> bool {
        true
    }

    fn blocks(&self) -> bool {
        self.blocks
    }

    fn on_snapshot_save(&mut self, _: &SnapshotContext) -> Result<SnapshotSave, StateMachineError> {
        let (started, written, applied) =
            (self.started.clone(), self.written.clone(), self.applied);
        Ok(Box::new(move |sink: &mut SnapshotSink| {
            started.notify_one();
            std::thread::sleep(Duration::from_millis(400));
            sink.write_file("applied", &applied.to_le_bytes())?;
            written.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }))
    }

    fn on_snapshot_load(&mut self, snapshot: &SnapshotSource) -> Result<(), StateMachineError> {
        let bytes = snapshot.read_file("applied")?;
        self.applied = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        Ok(())
    }
}

/// A node stopped while a snapshot save still writes: `join` returns only once the save
/// has ended and committed, so a node restarted at once in the same process, on the same
/// directories, finds the snapshot whole (it once found a directory with the snapshot's
/// name and no meta: the restart's store cleaned up the temporary directory the stopped
/// node's save was still writing into, which the save then renamed).
#[tokio::test]
async fn stopping_a_node_waits_for_its_snapshot_save_and_a_restart_loads_it() {
    for blocks in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let network = InProcessNetwork::new();
        let me = peer(30);
        let group = GroupId::new("stop").unwrap();
        let options = || {
            let mut options = NodeOptions::new(
                group.clone(),
                me.clone(),
                ConfigurationEntry::stable(Configuration::with_voters([me.clone()])),
            );
            options.election_timeout = Duration::from_millis(50);
            options.max_election_delay = Duration::from_millis(50);
            options.snapshot_dir = Some(dir.path().join("snapshots"));
            options
        };
        let storage = DurableStorage::open(&StorageOptions::new(dir.path().join("log"))).unwrap();
        let (started, written) = (
            Arc::new(tokio::sync::Notify::new()),
            Arc::new(AtomicU64::new(0)),
        );
        let machine = SlowSave {
            blocks,
            applied: 0,
            started: started.clone(),
            written: written.clone(),
        };
        let store = storage.log_store(&group).unwrap();
        let node = start_solo(&network, &me, options(), machine, store.clone()).await;
        for value in 1..=5 {
            node.apply(delta(value)).await.unwrap();
        }
        let node = Arc::new(node);
        let asked = tokio::spawn({
            let node = node.clone();
            async move { node.snapshot().await }
        });
        started.notified().await;
        node.shutdown();
        node.join().await.expect("the state machine back");
        assert_eq!(
            written.load(Ordering::SeqCst),
            1,
            "join returned while the save still wrote (blocks: {blocks})"
        );
        // The save's caller heard the node stop, or the snapshot taken.
        let _ = asked.await.unwrap();
        drop(store);
        network.unregister(me.endpoint());

        let snapshots = LocalSnapshotStore::open(dir.path().join("snapshots"), group.clone())
            .unwrap()
            .open_latest()
            .unwrap()
            .expect("the save committed before join returned");
        let taken = snapshots.meta().last_included;
        let store = storage.log_store(&group).unwrap();
        let (node, sink) = Node::start(
            options(),
            SlowSave {
                blocks,
                applied: 0,
                started,
                written,
            },
            store,
            Arc::new(network.transport(me.endpoint().clone())),
        )
        .unwrap();
        network.register(me.endpoint().clone(), sink);
        let status = node.wait_for(|s| s.role == Role::Leader).await;
        assert!(status.applied_index >= taken.index, "{status:?} {taken}");
        node.shutdown();
        let machine = node.join().await.unwrap();
        // Restored from the snapshot (which counted the five entries), nothing after it.
        assert_eq!(machine.applied, 5);
    }
}
