//! What the core has asked to be made durable, what its executor has reported durable,
//! and the messages that wait in between.
//!
//! Every persistence action carries a [`PersistSeq`], issued in order. The executor
//! makes the writes durable in that order and reports the highest durable one with
//! `Input::Persisted { seq }` (one report may cover many writes: group commit). A
//! message whose meaning depends on durable state — a granted vote, a candidate's vote
//! requests, an append acknowledgement — is *held* here until every write issued before
//! it is durable, and only then emitted as a plain `Action::Send`. The ordering rule of
//! Raft ("persist before you answer") is therefore kept by the core itself; executors
//! only write in order and report.

use std::collections::VecDeque;

use super::io::HardState;
use super::message::Message;
use super::snapshot::SnapshotMeta;
use super::types::{LogEpoch, LogId, NodeId, PersistSeq};

/// At most this many messages wait for durability. A write that never completes (a
/// stalled disk) must not make the core grow without bound; a message dropped here is
/// a message lost by the network, which Raft tolerates.
pub(crate) const MAX_HELD_MESSAGES: usize = 4096;

/// A write the core issued and has not yet heard to be durable.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Outstanding<N: NodeId> {
    /// `SaveHardState`.
    HardState(HardState<N>),
    /// `TruncateLog` (nothing to mark when it is durable: the log's durable index was
    /// lowered when it was issued).
    Truncate,
    /// `AppendLog` ending at `last`, in `epoch`.
    Append { epoch: LogEpoch, last: LogId },
    /// `InstallSnapshot` of this snapshot.
    Install(SnapshotMeta<N>),
}

/// The durability ledger of one core.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Durability<N: NodeId> {
    /// The last sequence number issued.
    issued: PersistSeq,
    /// The last sequence number reported durable. Invariant: `durable <= issued`.
    durable: PersistSeq,
    /// Writes issued after `durable`, in order.
    outstanding: VecDeque<(PersistSeq, Outstanding<N>)>,
    /// Messages waiting until `durable` reaches their sequence number, in order.
    held: VecDeque<(PersistSeq, N, Message<N>)>,
    /// The term and vote known durable.
    durable_hard_state: HardState<N>,
}

impl<N: NodeId> Durability<N> {
    /// A ledger with nothing outstanding over what storage restored.
    pub(crate) fn new(durable_hard_state: HardState<N>) -> Self {
        Durability {
            issued: PersistSeq(0),
            durable: PersistSeq(0),
            outstanding: VecDeque::new(),
            held: VecDeque::new(),
            durable_hard_state,
        }
    }

    /// Issues the next sequence number for a write.
    pub(crate) fn issue(&mut self, write: Outstanding<N>) -> PersistSeq {
        self.issued = PersistSeq(self.issued.0 + 1);
        self.outstanding.push_back((self.issued, write));
        self.issued
    }

    /// Replaces the hard state of the write `seq` (the newest one), which was never
    /// emitted: the step in progress saves a newer hard state in its place.
    pub(crate) fn replace_hard_state(&mut self, seq: PersistSeq, hard_state: HardState<N>) {
        match self.outstanding.back_mut() {
            Some((last, write)) if *last == seq => *write = Outstanding::HardState(hard_state),
            _ => debug_assert!(false, "write {seq} is not the newest outstanding write"),
        }
    }

    /// Whether a message is held for the write `seq`.
    pub(crate) fn holds_for(&self, seq: PersistSeq) -> bool {
        self.held.iter().any(|(wait, _, _)| *wait == seq)
    }

    /// Whether every issued write is durable.
    pub(crate) fn is_idle(&self) -> bool {
        self.durable == self.issued
    }

    /// Holds `message` until every write issued so far is durable. Returns false (and
    /// drops it) when the hold queue is full.
    pub(crate) fn hold(&mut self, to: N, message: Message<N>) -> bool {
        if self.held.len() >= MAX_HELD_MESSAGES {
            return false;
        }
        self.held.push_back((self.issued, to, message));
        true
    }

    /// Records that every write up to `seq` is durable and returns the writes that
    /// became durable, in order. A report beyond what was issued, or one already
    /// covered, changes nothing (and returns nothing).
    pub(crate) fn mark_durable(&mut self, seq: PersistSeq) -> Vec<Outstanding<N>> {
        if seq <= self.durable || seq > self.issued {
            return Vec::new();
        }
        self.durable = seq;
        let mut done = Vec::new();
        while let Some((write_seq, _)) = self.outstanding.front() {
            if *write_seq > seq {
                break;
            }
            if let Some((_, write)) = self.outstanding.pop_front() {
                if let Outstanding::HardState(hard_state) = &write {
                    self.durable_hard_state = hard_state.clone();
                }
                done.push(write);
            }
        }
        done
    }

    /// The next held message whose writes are all durable.
    pub(crate) fn release(&mut self) -> Option<(N, Message<N>)> {
        match self.held.front() {
            Some((wait, _, _)) if *wait <= self.durable => {
                self.held.pop_front().map(|(_, to, message)| (to, message))
            }
            _ => None,
        }
    }

    /// Forgets every outstanding write and held message: the executor failed, its
    /// writes will never be reported, and a failed node sends nothing more.
    pub(crate) fn abandon(&mut self) {
        self.outstanding.clear();
        self.held.clear();
        self.issued = self.durable;
    }

    pub(crate) fn issued(&self) -> PersistSeq {
        self.issued
    }

    pub(crate) fn durable(&self) -> PersistSeq {
        self.durable
    }

    pub(crate) fn durable_hard_state(&self) -> &HardState<N> {
        &self.durable_hard_state
    }

    pub(crate) fn held_len(&self) -> usize {
        self.held.len()
    }

    /// Whether the held messages are already in the order `relabel` puts them in.
    pub(crate) fn held_in_relabel_order(&self) -> bool {
        self.held
            .iter()
            .zip(self.held.iter().skip(1))
            .all(|(a, b)| (a.0, &a.1) <= (b.0, &b.1))
    }

    /// Renumbers so that the durable sequence number is 0; returns the shift.
    pub(crate) fn rebase(&mut self) -> u64 {
        let shift = self.durable.0;
        let down = |seq: &mut PersistSeq| seq.0 -= shift;
        down(&mut self.issued);
        down(&mut self.durable);
        self.outstanding.iter_mut().for_each(|(seq, _)| down(seq));
        self.held.iter_mut().for_each(|(seq, _, _)| down(seq));
        shift
    }

    /// The same ledger with every node renamed.
    pub(crate) fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        Durability {
            issued: self.issued,
            durable: self.durable,
            outstanding: self
                .outstanding
                .iter()
                .map(|(seq, write)| {
                    let write = match write {
                        Outstanding::HardState(hard_state) => {
                            Outstanding::HardState(hard_state.relabel(rename))
                        }
                        Outstanding::Truncate => Outstanding::Truncate,
                        Outstanding::Append { epoch, last } => Outstanding::Append {
                            epoch: *epoch,
                            last: *last,
                        },
                        Outstanding::Install(meta) => Outstanding::Install(meta.relabel(rename)),
                    };
                    (*seq, write)
                })
                .collect(),
            held: {
                // Messages held for the same write leave together, in any order: sort
                // them by the new names so that renamed states compare equal.
                let mut held: Vec<_> = self
                    .held
                    .iter()
                    .map(|(seq, to, message)| (*seq, rename(to), message.relabel(rename)))
                    .collect();
                held.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
                held.into()
            },
            durable_hard_state: self.durable_hard_state.relabel(rename),
        }
    }

    /// The ledger's own invariants.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        if self.durable > self.issued {
            return Err(format!(
                "durable write {} beyond issued write {}",
                self.durable, self.issued
            ));
        }
        let mut previous = self.durable;
        for (seq, _) in &self.outstanding {
            if *seq <= previous || *seq > self.issued {
                return Err(format!("outstanding write {seq} out of order"));
            }
            previous = *seq;
        }
        if let Some((seq, _, _)) = self.held.front() {
            if *seq <= self.durable {
                return Err(format!(
                    "a message held for durable write {seq} was not sent"
                ));
            }
        }
        let mut previous = PersistSeq(0);
        for (seq, _, _) in &self.held {
            if *seq < previous || *seq > self.issued {
                return Err(format!("message held for write {seq} out of order"));
            }
            previous = *seq;
        }
        if self.held.len() > MAX_HELD_MESSAGES {
            return Err("too many held messages".into());
        }
        Ok(())
    }
}
