//! What several benchmarks share: loopback `RaftServer`s, a no-op state machine and
//! the percentile of sorted latency samples.

#![allow(dead_code)] // each bench uses a part

use concord::core::PeerId;
use concord::runtime::{
    CommittedEntry, RaftServer, SnapshotContext, SnapshotSave, SnapshotSource, StateMachine,
    StateMachineError,
};
use concord::transport::TcpOptions;

/// `n` servers on loopback ports chosen by the OS, and their peer ids.
pub async fn loopback_servers(n: usize) -> (Vec<RaftServer>, Vec<PeerId>) {
    let mut servers = Vec::new();
    for _ in 0..n {
        servers.push(
            RaftServer::bind("127.0.0.1", 0, TcpOptions::default())
                .await
                .expect("bind"),
        );
    }
    let peers = servers
        .iter()
        .map(|s| PeerId::new(s.endpoint().clone(), 0))
        .collect();
    (servers, peers)
}

/// A state machine that applies nothing (the benchmark measures the replication). Its
/// snapshots are empty: with a snapshot store a node compacts its log behind them.
pub struct NoOp;

impl StateMachine for NoOp {
    type Response = ();
    type Context = ();

    fn on_apply(&mut self, _entry: &mut CommittedEntry<()>) -> Result<(), StateMachineError> {
        Ok(())
    }

    fn supports_snapshots(&self) -> bool {
        true
    }

    fn on_snapshot_save(
        &mut self,
        _context: &SnapshotContext,
    ) -> Result<SnapshotSave, StateMachineError> {
        Ok(Box::new(|_sink| Ok(())))
    }

    fn on_snapshot_load(&mut self, _snapshot: &SnapshotSource) -> Result<(), StateMachineError> {
        Ok(())
    }

    fn blocks(&self) -> bool {
        false
    }
}

/// The nearest-rank percentile `q` of sorted samples (0 when there are none).
pub fn percentile(sorted: &[u32], q: f64) -> f64 {
    let rank = ((sorted.len() as f64 * q).ceil() as usize).max(1);
    sorted
        .get((rank - 1).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0) as f64
}
