//! The executor's side of durability: a queue of the core's writes, in order, with the
//! executor's payloads attached.
//!
//! Every executor of the core — the tokio runtime, the model checker's glue, the test
//! cluster — does the same thing with persistence actions: queue them in the order
//! issued, make some prefix of the queue durable (one fsync for many writes, or one
//! write at a time), then report the last durable sequence number. A crash loses
//! whatever is still queued. [`PersistQueue`] is that queue, written once. It is plain
//! data: no IO, so the model checker can keep it in its state.
//!
//! ```
//! use concord::core::*;
//!
//! let configuration = ConfigurationEntry::stable(Configuration::with_voters([1u64]));
//! let mut core = RaftCore::new(1u64, CoreOptions::default(), Restored::empty(configuration))
//!     .unwrap();
//! core.start();
//! let mut queue: PersistQueue<u64, EntryMeta<u64>> = PersistQueue::new();
//! let mut disk = Vec::new();
//! let mut actions = core.step(Input::Timeout(Timer::Election));
//! loop {
//!     for action in actions {
//!         // Writes are queued; everything else would be carried out at once.
//!         let _other: Option<Action<u64>> =
//!             queue.offer(action, |meta| Ok::<_, ()>(meta)).unwrap();
//!     }
//!     let Some(flush) = queue.take_all() else { break };
//!     let report = flush.persisted();
//!     disk.extend(flush.writes); // write and fsync, in order,
//!     actions = core.step(report); // then report them durable
//! }
//! assert!(core.is_leader());
//! assert!(disk.iter().any(|write| matches!(write, Write::Append(_))));
//! ```

use std::collections::VecDeque;

use super::entry::EntryMeta;
use super::io::{Action, HardState, Input};
use super::snapshot::SnapshotMeta;
use super::types::{LogIndex, NodeId, PersistSeq};

/// One write the core asked for, with the executor's entries (`E`: whatever the
/// executor stores per log entry — metadata and payload).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Write<N: NodeId, E> {
    /// `Action::SaveHardState`.
    HardState(HardState<N>),
    /// `Action::TruncateLog`: delete every entry from this index on.
    Truncate(LogIndex),
    /// `Action::AppendLog`: append these entries after the end of the log.
    Append(Vec<E>),
    /// `Action::InstallSnapshot`: make the fetched snapshot the node's snapshot.
    InstallSnapshot(SnapshotMeta<N>),
}

/// Writes taken from a [`PersistQueue`], in order. Carry them out, make them durable,
/// then step [`Flush::persisted`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flush<N: NodeId, E> {
    /// The writes, in the order the core issued them.
    pub writes: Vec<Write<N, E>>,
    /// The sequence number of the last write.
    pub seq: PersistSeq,
}

impl<N: NodeId, E> Flush<N, E> {
    /// The input that reports these writes durable.
    pub fn persisted(&self) -> Input<N> {
        Input::Persisted { seq: self.seq }
    }
}

/// The core's writes not yet durable, in the order issued. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PersistQueue<N: NodeId, E> {
    writes: VecDeque<(PersistSeq, Write<N, E>)>,
}

impl<N: NodeId, E> Default for PersistQueue<N, E> {
    fn default() -> Self {
        PersistQueue {
            writes: VecDeque::new(),
        }
    }
}

impl<N: NodeId, E> PersistQueue<N, E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `action` if it is a persistence action, attaching the executor's entry to
    /// each entry of an `AppendLog` with `entry` (called in order); hands every other
    /// action back. If `entry` fails, nothing is queued and its error is returned.
    pub fn offer<F, Error>(
        &mut self,
        action: Action<N>,
        mut entry: F,
    ) -> Result<Option<Action<N>>, Error>
    where
        F: FnMut(EntryMeta<N>) -> Result<E, Error>,
    {
        let (seq, write) = match action {
            Action::SaveHardState { seq, hard_state } => (seq, Write::HardState(hard_state)),
            Action::TruncateLog { seq, from, .. } => (seq, Write::Truncate(from)),
            Action::AppendLog { seq, entries, .. } => {
                // Sized up front: this is the hot path of every append.
                let mut converted = Vec::with_capacity(entries.len());
                for meta in entries {
                    converted.push(entry(meta)?);
                }
                (seq, Write::Append(converted))
            }
            Action::InstallSnapshot { seq, meta } => (seq, Write::InstallSnapshot(meta)),
            other @ (Action::Send { .. }
            | Action::ResetTimer(_)
            | Action::CancelTimer(_)
            | Action::ProposalAccepted { .. }
            | Action::ProposalRejected { .. }
            | Action::Apply { .. }
            | Action::RoleChanged { .. }
            | Action::MembershipChanged { .. }
            | Action::TransferDone { .. }
            | Action::ReadReady { .. }
            | Action::TakeSnapshot { .. }
            | Action::CompactLog { .. }
            | Action::FetchSnapshot { .. }
            | Action::RestoreSnapshot { .. }) => return Ok(Some(other)),
        };
        self.push(seq, write);
        Ok(None)
    }

    /// Queues one write. Sequence numbers must increase.
    pub fn push(&mut self, seq: PersistSeq, write: Write<N, E>) {
        debug_assert!(
            self.writes.back().is_none_or(|(last, _)| *last < seq),
            "writes are queued in the order issued"
        );
        self.writes.push_back((seq, write));
    }

    /// Takes every queued write (one fsync for all of them).
    pub fn take_all(&mut self) -> Option<Flush<N, E>> {
        let seq = self.writes.back()?.0;
        let writes = self.writes.drain(..).map(|(_, write)| write).collect();
        Some(Flush { writes, seq })
    }

    /// Takes the oldest queued write only (so a crash can fall between two writes).
    pub fn take_oldest(&mut self) -> Option<Flush<N, E>> {
        let (seq, write) = self.writes.pop_front()?;
        Some(Flush {
            writes: vec![write],
            seq,
        })
    }

    /// Forgets every queued write (what a crash or a failed disk loses); returns how
    /// many there were.
    pub fn clear(&mut self) -> usize {
        let lost = self.writes.len();
        self.writes.clear();
        lost
    }

    /// The number of queued writes.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// The queued writes with their sequence numbers, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &(PersistSeq, Write<N, E>)> {
        self.writes.iter()
    }

    /// Lowers every sequence number by `shift` (after `RaftCore::rebase_persist_seqs`).
    /// A write already reported durable (possible only for an executor that reports
    /// early) keeps 0.
    pub fn rebase(&mut self, shift: u64) {
        for (seq, _) in &mut self.writes {
            seq.0 = seq.0.saturating_sub(shift);
        }
    }
}

impl<N: NodeId, E> FromIterator<(PersistSeq, Write<N, E>)> for PersistQueue<N, E> {
    fn from_iter<I: IntoIterator<Item = (PersistSeq, Write<N, E>)>>(iter: I) -> Self {
        PersistQueue {
            writes: iter.into_iter().collect(),
        }
    }
}
