//! The driver's input queues as doorbell sources (`concord_sync::doorbell`): every
//! sender into one of them rings its source after each item, so the driver looks only
//! into the queues that have something, and registers its waker once per wait rather
//! than with each of a dozen queues every time (measured in docs/benchmarks.md).

use concord_sync::doorbell::Ringer;
use concord_sync::queue;
use tokio::sync::mpsc;

/// Frames from peers (`FrameSink`).
pub(crate) const FRAMES: u32 = 1 << 0;
/// Client proposals (`Node::apply`).
pub(crate) const PROPOSALS: u32 = 1 << 1;
/// Client reads (`Node::read_index`).
pub(crate) const READS: u32 = 1 << 2;
/// Admin requests (`Node::change_membership`, transfers, snapshots, descriptions).
pub(crate) const CONTROLS: u32 = 1 << 3;
/// The log writer's reports.
pub(crate) const WRITER_DONE: u32 = 1 << 4;
/// The state machine caller's reports.
pub(crate) const FSM_DONE: u32 = 1 << 5;
/// Payload reads done off the driver.
pub(crate) const READ_DONE: u32 = 1 << 6;
/// Snapshots saved or fetched.
pub(crate) const SNAPSHOT_EVENTS: u32 = 1 << 7;

/// A sender into one of the driver's queues that rings the queue's source after each
/// item it queued (never for one refused: nothing arrived).
#[derive(Clone, Debug)]
pub(crate) struct Rung<T> {
    sender: T,
    ringer: Ringer,
    source: u32,
}

impl<T> Rung<T> {
    /// `sender`, ringing `source` on `ringer`.
    pub(crate) fn new(sender: T, ringer: &Ringer, source: u32) -> Self {
        Rung {
            sender,
            ringer: ringer.clone(),
            source,
        }
    }

    fn ring(&self) {
        self.ringer.ring(self.source);
    }
}

impl<T> Rung<queue::UnboundedSender<T>> {
    /// Queues `item`; hands it back when the driver is gone.
    pub(crate) fn send(&self, item: T) -> Result<(), T> {
        self.sender.send(item)?;
        self.ring();
        Ok(())
    }
}

impl<T> Rung<mpsc::UnboundedSender<T>> {
    /// Queues `item`; hands it back when the driver is gone.
    pub(crate) fn send(&self, item: T) -> Result<(), mpsc::error::SendError<T>> {
        self.sender.send(item)?;
        self.ring();
        Ok(())
    }
}

impl<T> Rung<mpsc::Sender<T>> {
    /// Queues `item` without waiting; hands it back when the queue is full or closed.
    pub(crate) fn try_send(&self, item: T) -> Result<(), mpsc::error::TrySendError<T>> {
        self.sender.try_send(item)?;
        self.ring();
        Ok(())
    }

    /// Queues `item`, waiting for room; hands it back when the driver is gone.
    pub(crate) async fn send(&self, item: T) -> Result<(), mpsc::error::SendError<T>> {
        self.sender.send(item).await?;
        self.ring();
        Ok(())
    }
}
