//! The leader's view of one follower: how far it matches, what to send next, and the
//! bounded window of AppendEntries in flight.

use std::collections::VecDeque;

use super::types::LogIndex;

/// How the leader replicates to a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProgressState {
    /// The match point is unknown: send one AppendEntries at a time and wait for the
    /// answer before sending the next (`paused` while one is outstanding).
    Probe {
        /// True while a probe is outstanding.
        paused: bool,
    },
    /// The follower matched recently: send optimistically, advancing `next_index` as
    /// soon as a message is sent, within the in-flight window.
    Pipeline,
    /// The follower needs entries the log no longer holds: the snapshot ending at
    /// `pending` was sent, and nothing else is until the follower answers.
    Snapshot {
        /// The last index of the snapshot sent.
        pending: LogIndex,
    },
}

/// The bounded window of AppendEntries sent and not yet acknowledged (pipeline only).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Inflights {
    /// `(last index of the message, bytes in it)`, in sending order.
    /// Invariant: indexes strictly ascend.
    messages: VecDeque<(LogIndex, u64)>,
    /// Invariant: the sum of the byte counts in `messages`.
    bytes: u64,
}

impl Inflights {
    fn new() -> Self {
        Inflights {
            messages: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Number of messages in flight.
    pub fn count(&self) -> usize {
        self.messages.len()
    }

    /// Bytes in flight.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn add(&mut self, last: LogIndex, bytes: u64) {
        self.messages.push_back((last, bytes));
        self.bytes += bytes;
    }

    /// Frees every message whose last index is ≤ `index` (acknowledged).
    fn free_up_to(&mut self, index: LogIndex) {
        while let Some(&(last, bytes)) = self.messages.front() {
            if last > index {
                break;
            }
            self.messages.pop_front();
            self.bytes -= bytes;
        }
    }

    fn free_first(&mut self) {
        if let Some((_, bytes)) = self.messages.pop_front() {
            self.bytes -= bytes;
        }
    }

    fn clear(&mut self) {
        self.messages.clear();
        self.bytes = 0;
    }

    pub(crate) fn check_invariants(&self, match_index: LogIndex) -> Result<(), String> {
        let sum: u64 = self.messages.iter().map(|(_, bytes)| bytes).sum();
        if sum != self.bytes {
            return Err(format!("inflight bytes {} != sum {}", self.bytes, sum));
        }
        let mut previous = match_index;
        for &(last, _) in &self.messages {
            if last <= previous {
                return Err(format!(
                    "inflight message ending at {last} not above {previous}"
                ));
            }
            previous = last;
        }
        Ok(())
    }
}

/// Replication progress of one follower or learner.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Progress {
    /// Highest index known to match the leader's log and be durable on the follower.
    /// Invariant: `match_index < next_index`.
    pub(crate) match_index: LogIndex,
    /// Next index to send. Invariant: `next_index <= leader's last index + 1`.
    pub(crate) next_index: LogIndex,
    pub(crate) state: ProgressState,
    pub(crate) inflights: Inflights,
    /// Heard from since the last check-quorum round (F25).
    pub(crate) recent_active: bool,
}

impl Progress {
    /// A fresh progress for a new leader: probe from the leader's last index + 1.
    pub(crate) fn new(next_index: LogIndex) -> Self {
        Progress {
            match_index: LogIndex(0),
            next_index,
            state: ProgressState::Probe { paused: false },
            inflights: Inflights::new(),
            recent_active: false,
        }
    }

    /// Highest index known to match on the follower.
    pub fn match_index(&self) -> LogIndex {
        self.match_index
    }

    /// Next index to send.
    pub fn next_index(&self) -> LogIndex {
        self.next_index
    }

    /// Probe or pipeline.
    pub fn state(&self) -> ProgressState {
        self.state
    }

    /// True when the follower answered since the last check-quorum round (F25).
    pub fn recent_active(&self) -> bool {
        self.recent_active
    }

    /// The in-flight window.
    pub fn inflights(&self) -> &Inflights {
        &self.inflights
    }

    /// True when nothing more may be sent now.
    pub(crate) fn is_paused(&self, max_messages: usize, max_bytes: u64) -> bool {
        match self.state {
            ProgressState::Probe { paused } => paused,
            ProgressState::Pipeline => {
                self.inflights.count() >= max_messages || self.inflights.bytes() >= max_bytes
            }
            ProgressState::Snapshot { .. } => true,
        }
    }

    /// Records that a message ending at `last` with `bytes` of payload was sent.
    pub(crate) fn sent(&mut self, last: LogIndex, bytes: u64, had_entries: bool) {
        match &mut self.state {
            ProgressState::Probe { paused } => *paused = true,
            ProgressState::Pipeline => {
                if had_entries {
                    self.next_index = last.next();
                    self.inflights.add(last, bytes);
                }
            }
            ProgressState::Snapshot { .. } => {}
        }
    }

    /// Handles a successful append up to `index`. Returns true if `match_index` moved.
    pub(crate) fn maybe_update(&mut self, index: LogIndex) -> bool {
        let updated = index > self.match_index;
        if updated {
            self.match_index = index;
        }
        if self.next_index <= index {
            self.next_index = index.next();
        }
        match self.state {
            ProgressState::Probe { .. } => {
                if updated {
                    self.become_pipeline();
                } else {
                    self.state = ProgressState::Probe { paused: false };
                }
            }
            ProgressState::Pipeline => self.inflights.free_up_to(index),
            // Installed (or an earlier append answered beyond it): probe from there.
            ProgressState::Snapshot { pending } => {
                if self.match_index >= pending {
                    self.become_probe();
                }
            }
        }
        updated
    }

    /// The snapshot ending at `pending` was sent: wait for the follower's answer.
    pub(crate) fn become_snapshot(&mut self, pending: LogIndex) {
        self.state = ProgressState::Snapshot { pending };
        self.inflights.clear();
    }

    /// The follower answered a snapshot (installed, or already had it): stop waiting and
    /// probe from what matches.
    pub(crate) fn snapshot_answered(&mut self) {
        if matches!(self.state, ProgressState::Snapshot { .. }) {
            self.next_index = self.match_index.next();
            self.become_probe();
        }
    }

    /// The follower could not install the snapshot ending at `last_included`: probe
    /// again, once the next heartbeat answer unpauses it (then the snapshot is sent
    /// again if the entries are still compacted).
    pub(crate) fn snapshot_failed(&mut self, last_included: LogIndex) {
        if self.state
            == (ProgressState::Snapshot {
                pending: last_included,
            })
        {
            self.state = ProgressState::Probe { paused: true };
        }
    }

    /// Handles a rejection of `rejected_prev` suggesting `probe_from` as the next index
    /// to try. Returns false for a stale rejection that was ignored.
    pub(crate) fn maybe_decrease_to(
        &mut self,
        rejected_prev: LogIndex,
        probe_from: LogIndex,
    ) -> bool {
        match self.state {
            ProgressState::Pipeline => {
                if rejected_prev <= self.match_index || rejected_prev >= self.next_index {
                    return false; // stale: about an index we already know matches
                }
                self.next_index = probe_from.max(self.match_index.next());
                self.become_probe();
                true
            }
            // Waiting for a snapshot's answer: any rejection is of an earlier append.
            ProgressState::Snapshot { .. } => false,
            ProgressState::Probe { .. } => {
                if rejected_prev != self.next_index.prev() {
                    return false; // stale: answers an earlier probe
                }
                self.next_index = probe_from.max(self.match_index.next()).min(self.next_index);
                self.state = ProgressState::Probe { paused: false };
                true
            }
        }
    }

    /// A heartbeat answer arrived: unblock a waiting probe and, if the window is full,
    /// assume its oldest message was lost so replication cannot stall forever.
    pub(crate) fn on_heartbeat_response(&mut self, max_messages: usize, max_bytes: u64) {
        match &mut self.state {
            ProgressState::Probe { paused } => *paused = false,
            ProgressState::Pipeline => {
                if self.inflights.count() >= max_messages || self.inflights.bytes() >= max_bytes {
                    self.inflights.free_first();
                }
            }
            ProgressState::Snapshot { .. } => {}
        }
    }

    fn become_pipeline(&mut self) {
        self.state = ProgressState::Pipeline;
        self.next_index = self.match_index.next();
        self.inflights.clear();
    }

    fn become_probe(&mut self) {
        self.state = ProgressState::Probe { paused: false };
        self.inflights.clear();
    }
}
