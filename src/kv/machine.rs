//! The KV state machine.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::command::{KvCommand, KvResponse};
use crate::runtime::{
    CommittedEntry, SnapshotContext, SnapshotSave, SnapshotSink, SnapshotSource, StateMachine,
    StateMachineError,
};
use crate::storage::SnapshotWriter;

/// The snapshot file holding the map.
const SNAPSHOT_FILE: &str = "kv";

/// An in-memory map. A command that does not decode is answered with an error to its
/// client but does not stop the node: the bytes came from a client, and every replica
/// rejects them the same way, so replicas stay identical.
#[derive(Debug, Default)]
pub struct KvStateMachine {
    map: BTreeMap<String, Bytes>,
    /// Commands applied (including rejected ones).
    applied: u64,
}

/// A state machine a KV read can be served from (`Node::read`): [`KvStateMachine`], or
/// a wrapper around one.
pub trait KvRead {
    /// The value of `key` as this replica has applied it.
    fn get(&self, key: &str) -> Option<Bytes>;
}

impl KvRead for KvStateMachine {
    fn get(&self, key: &str) -> Option<Bytes> {
        self.map.get(key).cloned()
    }
}

impl KvStateMachine {
    /// An empty map.
    pub fn new() -> Self {
        KvStateMachine::default()
    }

    /// The current value of `key` as this replica has applied it (not linearizable).
    pub fn local_get(&self, key: &str) -> Option<&Bytes> {
        self.map.get(key)
    }

    /// Number of commands applied.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Applies one decoded command.
    pub fn execute(&mut self, command: KvCommand) -> KvResponse {
        match command {
            KvCommand::Put { key, value } => {
                self.map.insert(key, value);
                KvResponse::Written
            }
            KvCommand::Get { key } => KvResponse::Value(self.map.get(&key).cloned()),
            KvCommand::Cas { key, expected, new } => {
                let previous = self.map.get(&key).cloned();
                let swapped = previous == expected;
                if swapped {
                    self.map.insert(key, new);
                }
                KvResponse::Swapped { swapped, previous }
            }
        }
    }
}

impl StateMachine for KvStateMachine {
    type Response = Result<KvResponse, String>;
    type Context = ();

    fn on_apply(
        &mut self,
        entry: &mut CommittedEntry<()>,
    ) -> Result<Self::Response, StateMachineError> {
        self.applied += 1;
        Ok(KvCommand::decode(&entry.data)
            .map(|command| self.execute(command))
            .map_err(|e| e.to_string()))
    }

    /// A map in memory: the callbacks are quick, so the node's loop calls them itself.
    /// (Loading a snapshot decodes the whole map there: a very large map pauses the
    /// node's loop for that long — docs/runtime.md.)
    fn blocks(&self) -> bool {
        false
    }

    fn supports_snapshots(&self) -> bool {
        true
    }

    /// Captures a copy of the map (values are shared `Bytes`, so the copy costs one
    /// tree node per key) and encodes it on the snapshot thread.
    fn on_snapshot_save(
        &mut self,
        _context: &SnapshotContext,
    ) -> Result<SnapshotSave, StateMachineError> {
        let map = self.map.clone();
        let applied = self.applied;
        Ok(Box::new(move |sink: &mut SnapshotSink| {
            let bytes = postcard::to_stdvec(&(applied, &map))
                .map_err(|error| StateMachineError::new(format!("encode: {error}")))?;
            Ok(sink.write_file(SNAPSHOT_FILE, &bytes)?)
        }))
    }

    fn on_snapshot_load(&mut self, snapshot: &SnapshotSource) -> Result<(), StateMachineError> {
        let bytes = snapshot.read_file(SNAPSHOT_FILE)?;
        let (applied, map): (u64, BTreeMap<String, Bytes>) = postcard::from_bytes(&bytes)
            .map_err(|error| StateMachineError::new(format!("decode: {error}")))?;
        self.map = map;
        self.applied = applied;
        Ok(())
    }
}
