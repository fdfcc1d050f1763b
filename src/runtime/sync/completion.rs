//! A one-shot completion slot: how a proposal's answer reaches the `apply` call waiting
//! for it.
//!
//! The [`Completer`] travels with the proposal (driver, then FSM caller) and is used at
//! most once; the [`Waiter`] is the future the caller awaits. Contract, checked by
//! `tests/completion.rs` under every interleaving:
//!
//! - a value sent while the waiter exists is received exactly once;
//! - a completer dropped without sending resolves the waiter with [`Abandoned`] (the
//!   runtime turns that into `ApplyError::ShuttingDown`, so no caller waits forever for a
//!   proposal that was dropped anywhere on its way);
//! - a send after the waiter was dropped hands the value back (`Err(value)`), and a value
//!   sent but never received is dropped exactly once, with the slot.

use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::sync::{lock, register, Arc, Mutex};

/// The completer was dropped without sending: the answer will never come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Abandoned;

impl std::fmt::Display for Abandoned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the completer was dropped without sending")
    }
}

impl std::error::Error for Abandoned {}

enum Slot<T> {
    /// Nothing sent yet; the waiter's waker once it has been polled.
    Empty(Option<Waker>),
    /// Sent, not yet received.
    Full(T),
    /// The completer was dropped without sending.
    Abandoned,
    /// The waiter received the value, or saw `Abandoned`.
    Done,
    /// The waiter was dropped; a later send is handed back.
    Closed,
}

/// Creates a completion slot.
pub fn channel<T>() -> (Completer<T>, Waiter<T>) {
    let slot = Arc::new(Mutex::new(Slot::Empty(None)));
    (
        Completer {
            slot: Some(slot.clone()),
        },
        Waiter { slot },
    )
}

/// The sending half; consumed by [`Completer::send`].
pub struct Completer<T> {
    /// `None` once sent (so `Drop` knows there is nothing to abandon).
    slot: Option<Arc<Mutex<Slot<T>>>>,
}

impl<T> Completer<T> {
    /// Completes the slot with `value` and wakes the waiter. Returns the value when the
    /// waiter is gone.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let Some(slot) = self.slot.take() else {
            return Err(value); // unreachable: `slot` is taken only here, and `self` is consumed
        };
        let mut state = lock(&slot);
        let waker = match &mut *state {
            Slot::Empty(waker) => waker.take(),
            // Only the waiter's drop can close the slot before a send: hand the value back.
            _ => return Err(value),
        };
        *state = Slot::Full(value);
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else {
            return;
        };
        let mut state = lock(&slot);
        let waker = match &mut *state {
            Slot::Empty(waker) => waker.take(),
            _ => return,
        };
        *state = Slot::Abandoned;
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The receiving half: a future resolving to the sent value, or [`Abandoned`]. Polled
/// again after it resolved, it resolves to `Err(Abandoned)`.
pub struct Waiter<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> Future for Waiter<T> {
    type Output = Result<T, Abandoned>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = lock(&self.slot);
        match mem::replace(&mut *state, Slot::Done) {
            Slot::Empty(mut waker) => {
                register(&mut waker, cx.waker());
                *state = Slot::Empty(waker);
                Poll::Pending
            }
            Slot::Full(value) => Poll::Ready(Ok(value)),
            Slot::Abandoned | Slot::Done | Slot::Closed => Poll::Ready(Err(Abandoned)),
        }
    }
}

impl<T> Drop for Waiter<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.slot);
        let previous = mem::replace(&mut *state, Slot::Closed);
        drop(state);
        // An unreceived value (or a stale waker) is dropped outside the lock.
        drop(previous);
    }
}
