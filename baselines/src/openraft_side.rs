//! openraft 0.9.25 on `e2e_inprocess`'s workload: 3 voters in one process, an in-memory
//! log, a state machine that applies nothing, an in-process network (a call on the
//! target's `Raft` handle, no encoding), clients calling `client_write` on the leader.
//!
//! The store is written here against openraft's storage-v2 traits, the way openraft's own
//! `benchmarks/minimal` builds its store (a `BTreeMap` log behind an async lock, the flush
//! callback called at once, an empty request type): `openraft-memstore` serializes every
//! entry to JSON and keeps per-client maps in its state machine, which would measure
//! serde, not Raft. The configuration is `benchmarks/minimal`'s.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    Config, Entry, EntryPayload, LogId, OptionalSend, Raft, RaftLogReader, RaftSnapshotBuilder,
    SnapshotMeta, StorageError, StoredMembership, Vote,
};
use tokio::sync::RwLock;

/// The request: empty, as in openraft's own benchmark (Concord's clients send one byte).
#[derive(Debug, Clone)]
pub struct Request;

openraft::declare_raft_types!(
    pub Bench: D = Request, R = (), Node = ()
);

type NodeId = u64;
pub type BenchRaft = Raft<Bench>;

#[derive(Default)]
pub struct LogStore {
    vote: RwLock<Option<Vote<NodeId>>>,
    log: RwLock<BTreeMap<u64, Entry<Bench>>>,
    purged: RwLock<Option<LogId<NodeId>>>,
}

impl RaftLogReader<Bench> for Arc<LogStore> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<Bench>>, StorageError<NodeId>> {
        Ok(self
            .log
            .read()
            .await
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogStorage<Bench> for Arc<LogStore> {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<Bench>, StorageError<NodeId>> {
        let purged = *self.purged.read().await;
        let last = self.log.read().await.values().next_back().map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last.or(purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        *self.vote.write().await = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(*self.vote.read().await)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<Bench>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<Bench>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.log
            .write()
            .await
            .extend(entries.into_iter().map(|e| (e.log_id.index, e)));
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.log.write().await.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        *self.purged.write().await = Some(log_id);
        let mut log = self.log.write().await;
        *log = log.split_off(&(log_id.index + 1));
        Ok(())
    }
}

/// The last applied entry's id and the membership in effect there.
type Applied = (Option<LogId<NodeId>>, StoredMembership<NodeId, ()>);

/// Applies nothing; keeps what openraft requires (the applied id and the membership, and
/// the last snapshot's metadata: openraft snapshots every 5,000 entries by default, purges
/// the log behind it and sends it to a follower that lags behind the purge).
#[derive(Default)]
pub struct NoOpMachine {
    applied: RwLock<Applied>,
    snapshot: RwLock<Option<SnapshotMeta<NodeId, ()>>>,
}

fn empty_snapshot(meta: SnapshotMeta<NodeId, ()>) -> Snapshot<Bench> {
    Snapshot {
        meta,
        snapshot: Box::new(Cursor::new(Vec::new())),
    }
}

impl RaftSnapshotBuilder<Bench> for Arc<NoOpMachine> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<Bench>, StorageError<NodeId>> {
        let (last_log_id, last_membership) = self.applied.read().await.clone();
        let meta = SnapshotMeta {
            last_log_id,
            last_membership,
            snapshot_id: format!("{last_log_id:?}"),
        };
        *self.snapshot.write().await = Some(meta.clone());
        Ok(empty_snapshot(meta))
    }
}

impl RaftStateMachine<Bench> for Arc<NoOpMachine> {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<Applied, StorageError<NodeId>> {
        Ok(self.applied.read().await.clone())
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<Bench>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut applied = self.applied.write().await;
        let mut responses = Vec::new();
        for entry in entries {
            applied.0 = Some(entry.log_id);
            if let EntryPayload::Membership(membership) = entry.payload {
                applied.1 = StoredMembership::new(Some(entry.log_id), membership);
            }
            responses.push(());
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, ()>,
        _snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        *self.applied.write().await = (meta.last_log_id, meta.last_membership.clone());
        *self.snapshot.write().await = Some(meta.clone());
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<Bench>>, StorageError<NodeId>> {
        Ok(self.snapshot.read().await.clone().map(empty_snapshot))
    }
}

/// The in-process network: every node's `Raft` handle by id.
#[derive(Clone, Default)]
pub struct Router {
    nodes: Arc<Mutex<BTreeMap<NodeId, BenchRaft>>>,
}

pub struct Connection {
    target: NodeId,
    raft: BenchRaft,
}

impl RaftNetworkFactory<Bench> for Router {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, _node: &()) -> Connection {
        let raft = self.nodes.lock().unwrap()[&target].clone();
        Connection { target, raft }
    }
}

/// An error the target node returned, as the RPC's error.
fn remote<E: std::error::Error>(target: NodeId, error: E) -> RPCError<NodeId, (), E> {
    RPCError::RemoteError(RemoteError::new(target, error))
}

impl RaftNetwork<Bench> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<Bench>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, (), RaftError<NodeId>>> {
        self.raft
            .append_entries(rpc)
            .await
            .map_err(|e| remote(self.target, e))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<Bench>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, (), RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.raft
            .install_snapshot(rpc)
            .await
            .map_err(|e| remote(self.target, e))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, (), RaftError<NodeId>>> {
        self.raft
            .vote(rpc)
            .await
            .map_err(|e| remote(self.target, e))
    }
}

/// Starts three voters, initializes them with node 0 and waits until the membership entry
/// is applied everywhere; returns the handles and the leader's.
pub async fn start_cluster() -> (Vec<BenchRaft>, BenchRaft) {
    let config = Arc::new(
        Config {
            election_timeout_min: 200,
            election_timeout_max: 2000,
            purge_batch_size: 1024,
            max_payload_entries: 1024,
            ..Default::default()
        }
        .validate()
        .expect("valid config"),
    );
    let router = Router::default();
    let members: BTreeSet<NodeId> = (0..3).collect();
    let mut rafts = Vec::new();
    for id in members.iter().copied() {
        let raft = Raft::new(
            id,
            config.clone(),
            router.clone(),
            Arc::new(LogStore::default()),
            Arc::new(NoOpMachine::default()),
        )
        .await
        .expect("raft");
        router.nodes.lock().unwrap().insert(id, raft.clone());
        rafts.push(raft);
    }
    rafts[0].initialize(members).await.expect("initialize");
    for raft in &rafts {
        raft.wait(Some(Duration::from_secs(10)))
            .applied_index(Some(1), "initial membership")
            .await
            .expect("initial membership applied");
    }
    let leader = loop {
        if let Some(id) = rafts[0].current_leader().await {
            break rafts[id as usize].clone();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    (rafts, leader)
}

pub async fn write(leader: &BenchRaft) {
    leader.client_write(Request).await.expect("client_write");
}

pub async fn stop(rafts: Vec<BenchRaft>) {
    for raft in rafts {
        let _ = raft.shutdown().await;
    }
}
