//! A single-producer, single-consumer handoff queue with close semantics: how the driver
//! hands persistence jobs to the log writer and committed batches to the FSM caller,
//! and how they report back.
//!
//! [`bounded`] queues give the producer backpressure (its `send` waits while the queue
//! is full); [`unbounded`] ones never wait, for reports whose number is already bounded
//! by the work in flight. Contract, checked by `tests/queue.rs` under every
//! interleaving:
//!
//! - **no lost item**: every item is received, in order; or handed back to the producer
//!   (`Err(item)`) because the consumer is gone; or, sent before the consumer stopped
//!   and never received, dropped with the queue. Exactly one of the three, once;
//! - **drain before end**: once the producer is dropped, the consumer still receives
//!   every item sent before, and only then sees the end (`None`);
//! - **no item after close**: once the consumer is dropped, every send fails and hands
//!   its item back, and a producer waiting for room is woken to see it;
//! - a full queue never deadlocks a waiting producer against a consumer that receives.
//!
//! One producer and one consumer: both halves are not `Clone`, and each operation that
//! may wait takes `&mut self`, so at most one waker per side is ever registered.

use std::collections::VecDeque;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::sync::{lock, register, Arc, Mutex};

/// Why `try_recv` returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// The queue is empty and the producer is still there.
    Empty,
    /// The queue is empty and the producer is gone: nothing will arrive any more.
    Disconnected,
}

struct State<T> {
    items: VecDeque<T>,
    /// `usize::MAX` for an unbounded queue.
    capacity: usize,
    producer_alive: bool,
    consumer_alive: bool,
    /// The consumer, waiting for an item or the end.
    consumer_waker: Option<Waker>,
    /// The producer, waiting for room (bounded queues only).
    producer_waker: Option<Waker>,
}

type Shared<T> = Arc<Mutex<State<T>>>;

fn new_shared<T>(capacity: usize) -> Shared<T> {
    Arc::new(Mutex::new(State {
        items: VecDeque::new(),
        capacity,
        producer_alive: true,
        consumer_alive: true,
        consumer_waker: None,
        producer_waker: None,
    }))
}

/// Creates a queue holding at most `capacity` items.
///
/// # Panics
///
/// If `capacity` is zero (a rendezvous is not what any caller wants here).
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "a bounded queue needs room for one item");
    let shared = new_shared(capacity);
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// Creates a queue without a bound: its producer never waits.
pub fn unbounded<T>() -> (UnboundedSender<T>, Receiver<T>) {
    let shared = new_shared(usize::MAX);
    (
        UnboundedSender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// Appends `item` if there is room and the consumer is alive; returns the consumer's
/// waker, to be woken once the lock is released.
fn push<T>(state: &mut State<T>, item: T) -> Result<Option<Waker>, Refused<T>> {
    if !state.consumer_alive {
        return Err(Refused::Closed(item));
    }
    if state.items.len() >= state.capacity {
        return Err(Refused::Full(item));
    }
    state.items.push_back(item);
    Ok(state.consumer_waker.take())
}

enum Refused<T> {
    Full(T),
    Closed(T),
}

fn drop_producer<T>(shared: &Shared<T>) {
    let mut state = lock(shared);
    state.producer_alive = false;
    let waker = state.consumer_waker.take();
    drop(state);
    wake(waker);
}

/// The producing half of a [`bounded`] queue. Dropping it ends the queue once the
/// consumer has drained it.
pub struct Sender<T> {
    shared: Shared<T>,
}

impl<T> Sender<T> {
    /// Appends `item`, waiting while the queue is full. Resolves to `Err(item)` if the
    /// consumer is gone (then or while waiting). Dropping the future before it resolves
    /// drops the item unsent.
    pub fn send(&mut self, item: T) -> SendFuture<'_, T> {
        SendFuture {
            shared: &self.shared,
            item: Some(item),
        }
    }

    /// True once the consumer is gone: every send will fail.
    pub fn is_closed(&self) -> bool {
        !lock(&self.shared).consumer_alive
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        drop_producer(&self.shared);
    }
}

/// The future of [`Sender::send`].
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T> {
    shared: &'a Shared<T>,
    item: Option<T>,
}

// The item is only ever moved, never pinned: `SendFuture` is `Unpin` whatever `T` is.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(item) = self.item.take() else {
            return Poll::Ready(Ok(())); // polled after it resolved
        };
        let mut state = lock(self.shared);
        match push(&mut state, item) {
            Ok(waker) => {
                drop(state);
                wake(waker);
                Poll::Ready(Ok(()))
            }
            Err(Refused::Closed(item)) => Poll::Ready(Err(item)),
            Err(Refused::Full(item)) => {
                // Registered under the same lock that saw the queue full: the consumer's
                // next `pop` (or its drop) finds this waker.
                register(&mut state.producer_waker, cx.waker());
                drop(state);
                self.item = Some(item);
                Poll::Pending
            }
        }
    }
}

/// The producing half of an [`unbounded`] queue.
pub struct UnboundedSender<T> {
    shared: Shared<T>,
}

impl<T> UnboundedSender<T> {
    /// Appends `item`; `Err(item)` if the consumer is gone.
    pub fn send(&self, item: T) -> Result<(), T> {
        let mut state = lock(&self.shared);
        match push(&mut state, item) {
            Ok(waker) => {
                drop(state);
                wake(waker);
                Ok(())
            }
            Err(Refused::Closed(item) | Refused::Full(item)) => Err(item),
        }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        drop_producer(&self.shared);
    }
}

/// The consuming half. Dropping it closes the queue: queued items are dropped and
/// every later send fails.
pub struct Receiver<T> {
    shared: Shared<T>,
}

impl<T> Receiver<T> {
    /// The next item; `None` once the producer is gone and every item it sent was
    /// received. Cancel-safe: dropping the future before it resolves loses nothing.
    pub fn recv(&mut self) -> RecvFuture<'_, T> {
        RecvFuture {
            shared: &self.shared,
        }
    }

    /// The next item if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut state = lock(&self.shared);
        match pop(&mut state) {
            Some((item, waker)) => {
                drop(state);
                wake(waker);
                Ok(item)
            }
            None if state.producer_alive => Err(TryRecvError::Empty),
            None => Err(TryRecvError::Disconnected),
        }
    }
}

/// Takes the first item, and the producer's waker if it waits for the room this makes.
fn pop<T>(state: &mut State<T>) -> Option<(T, Option<Waker>)> {
    let item = state.items.pop_front()?;
    Some((item, state.producer_waker.take()))
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.consumer_alive = false;
        let items = mem::take(&mut state.items);
        let waker = state.producer_waker.take();
        drop(state);
        // Items are dropped outside the lock: their drops may run arbitrary code.
        drop(items);
        wake(waker);
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    shared: &'a Shared<T>,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = lock(self.shared);
        if let Some((item, waker)) = pop(&mut state) {
            drop(state);
            wake(waker);
            return Poll::Ready(Some(item));
        }
        if !state.producer_alive {
            return Poll::Ready(None);
        }
        register(&mut state.consumer_waker, cx.waker());
        Poll::Pending
    }
}
