//! Payload reads off the driver's task. The driver finds most payloads in its cache;
//! the rest — entries a follower far behind needs again, the apply of a log replayed
//! after a restart — come from the store, and a store read may wait for the disk (or
//! for a store that locks across its fsync). Done on the driver's task, such a read
//! would stall every group event behind it: heartbeats, votes, the other followers'
//! replication. The reader runs it on tokio's blocking pool instead and hands the
//! result back through a channel the driver's loop listens on.
//!
//! A store that never blocks (in memory) is read inline, as the log writer writes it.
//! Under a simulation (a fault injector is set) the read runs on a task of the
//! simulated runtime, after the injector's `read_delay`, so the chaos suite reaches
//! the orders this creates (a chunk's payloads arriving after later events) and stays
//! deterministic.
//!
//! Bounded: at most one read per peer for replication (a further append to a peer whose
//! read is running is dropped, as the network may drop it: the core retransmits), and
//! apply reads are bounded by the core's apply pacing (`CoreOptions::max_apply_ahead`).

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use concord_sync::doorbell::Ringer;
use tokio::sync::mpsc;

use super::faults::FaultInjector;
use super::inbox::{self, Rung};
use super::payloads::read_payloads;
use super::store::LogStore;
use crate::core::{EntryMeta, GroupId, Message, PeerId};
use crate::storage::StorageError;

/// What a read is for.
pub(crate) enum ReadFor {
    /// The apply chunk with this ticket, waiting in the driver's queue to the state
    /// machine.
    Apply(u64),
    /// An append to send once its payloads are read.
    Send {
        to: PeerId,
        message: Message<PeerId>,
    },
}

/// A finished read: the payloads of `entries`, in order, or why they could not be read.
pub(crate) struct ReadDone {
    pub(crate) purpose: ReadFor,
    pub(crate) result: Result<Vec<Bytes>, StorageError>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// On the caller's task (a store that never blocks).
    Inline,
    /// On tokio's blocking pool.
    Blocking,
    /// On a task of the (simulated) runtime, after the fault injector's delay.
    Simulated,
}

pub(crate) struct PayloadReader {
    store: Arc<dyn LogStore>,
    group: GroupId,
    mode: Mode,
    faults: Option<Arc<dyn FaultInjector>>,
    done: Rung<mpsc::UnboundedSender<ReadDone>>,
    /// Peers with a replication read running.
    sending: BTreeSet<PeerId>,
    next_ticket: u64,
}

impl PayloadReader {
    /// A reader and the receiver of its results (for the driver's loop).
    pub(crate) fn new(
        store: Arc<dyn LogStore>,
        group: GroupId,
        faults: Option<Arc<dyn FaultInjector>>,
        ringer: &Ringer,
    ) -> (Self, mpsc::UnboundedReceiver<ReadDone>) {
        let mode = if faults.is_some() {
            Mode::Simulated
        } else if store.blocks() {
            Mode::Blocking
        } else {
            Mode::Inline
        };
        let (done, results) = mpsc::unbounded_channel();
        let done = Rung::new(done, ringer, inbox::READ_DONE);
        let reader = PayloadReader {
            store,
            group,
            mode,
            faults,
            done,
            sending: BTreeSet::new(),
            next_ticket: 0,
        };
        (reader, results)
    }

    /// Whether reads run inline: the caller reads the store itself.
    pub(crate) fn inline(&self) -> bool {
        self.mode == Mode::Inline
    }

    /// Starts reading the payloads of an apply chunk; its ticket (`ReadFor::Apply`).
    pub(crate) fn start_apply(&mut self, entries: Vec<EntryMeta<PeerId>>) -> u64 {
        self.next_ticket += 1;
        self.start(ReadFor::Apply(self.next_ticket), entries);
        self.next_ticket
    }

    /// Starts reading the payloads of an append to `to`, unless a read for `to` is
    /// running (one per peer: the append is then dropped, as the network may drop it).
    pub(crate) fn start_send(&mut self, to: PeerId, message: Message<PeerId>) {
        let Message::Append(request) = &message else {
            return;
        };
        if self.sending.insert(to.clone()) {
            let entries = request.entries.clone();
            self.start(ReadFor::Send { to, message }, entries);
        }
    }

    /// Starts reading the payloads of `entries` (contiguous) for `purpose`.
    fn start(&mut self, purpose: ReadFor, entries: Vec<EntryMeta<PeerId>>) {
        let store = Arc::clone(&self.store);
        let group = self.group.clone();
        let done = self.done.clone();
        // A store that panics is a failed read (reported, never a chunk waiting forever).
        let read = move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                read_payloads(store.as_ref(), &group, &entries)
            }))
            .unwrap_or_else(|_| {
                Err(StorageError::Fatal {
                    store: "log".into(),
                    reason: "the store panicked in a read".into(),
                })
            })
        };
        match self.mode {
            Mode::Blocking => {
                tokio::task::spawn_blocking(move || {
                    let result = read();
                    let _ = done.send(ReadDone { purpose, result });
                });
            }
            Mode::Inline => unreachable!("an inline reader's caller reads the store itself"),
            Mode::Simulated => {
                let delay = self
                    .faults
                    .as_ref()
                    .map_or(std::time::Duration::ZERO, |faults| faults.read_delay());
                tokio::spawn(async move {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let result = read();
                    let _ = done.send(ReadDone { purpose, result });
                });
            }
        }
    }

    /// The driver took a result back.
    pub(crate) fn finished(&mut self, purpose: &ReadFor) {
        if let ReadFor::Send { to, .. } = purpose {
            self.sending.remove(to);
        }
    }
}
