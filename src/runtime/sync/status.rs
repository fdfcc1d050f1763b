//! The status cell: the driver publishes a node's latest status, and with it the
//! `accepting` flag that `Node::apply` reads as its lock-free fast path; handles read the
//! status, wait for changes, and check the flag.
//!
//! Contract, checked by `tests/status.rs` under every interleaving:
//!
//! - **one publication**: the flag is written while the status's write lock is held, so
//!   a reader that sees a flag then reads a status at least as new as the one published
//!   with it, and a reader that has seen a status never sees an older flag afterwards
//!   (having seen "stopped leading" in the status, it never takes the fast path again);
//! - **closed is final**: [`Publisher::close`], or dropping the publisher (a driver that
//!   panicked), clears the flag in the same publication that marks the cell closed, and
//!   no later publication sets it again. A handle that has seen the node stop never sees
//!   it accept work (the bug fixed in commit 2c4f3ad: a shut-down leader's handle kept
//!   taking the fast path);
//! - **no lost wakeup**: a subscriber waiting in [`Subscriber::changed`] is woken by every
//!   modifying publication and by the close, and `changed` reports a version it has not
//!   seen before it reports the close.

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::sync::{lock, read, write, Arc, AtomicBool, Mutex, Ordering, RwLock, RwLockReadGuard};

/// The publisher is closed (or dropped) and every version was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the status publisher is closed")
    }
}

impl std::error::Error for Closed {}

struct Versioned<T> {
    value: T,
    /// Grows by one with every publication that modified `value`.
    version: u64,
    /// Set once, by the close; `accepting` is false from then on.
    closed: bool,
}

/// Subscribers waiting in `changed`, by a key each waiting future keeps.
#[derive(Default)]
struct Waiters {
    next_key: u64,
    wakers: BTreeMap<u64, Waker>,
}

struct Shared<T> {
    current: RwLock<Versioned<T>>,
    /// Written only under `current`'s write lock (see the module docs).
    accepting: AtomicBool,
    waiters: Mutex<Waiters>,
}

impl<T> Shared<T> {
    fn wake_all(&self) {
        let wakers = std::mem::take(&mut lock(&self.waiters).wakers);
        for waker in wakers.into_values() {
            waker.wake();
        }
    }
}

/// Creates a cell holding `initial`, not accepting.
pub fn channel<T>(initial: T) -> (Publisher<T>, Subscriber<T>) {
    let shared = Arc::new(Shared {
        current: RwLock::new(Versioned {
            value: initial,
            version: 0,
            closed: false,
        }),
        accepting: AtomicBool::new(false),
        waiters: Mutex::new(Waiters::default()),
    });
    (
        Publisher {
            shared: shared.clone(),
        },
        Subscriber { shared, seen: 0 },
    )
}

/// The publishing half (the driver). Dropping it closes the cell.
pub struct Publisher<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Publisher<T> {
    /// Lets `modify` update the status in place (it returns whether it changed
    /// anything) and sets the flag to `accepting`, as one publication. Subscribers are
    /// woken only when the status changed. After the close this does nothing: the flag
    /// stays false. Returns whether the status changed.
    pub fn publish_if_modified(
        &self,
        accepting: bool,
        modify: impl FnOnce(&mut T) -> bool,
    ) -> bool {
        let mut current = write(&self.shared.current);
        if current.closed {
            return false;
        }
        let modified = modify(&mut current.value);
        if modified {
            current.version += 1;
        }
        self.shared.accepting.store(accepting, Ordering::Release);
        drop(current);
        if modified {
            self.shared.wake_all();
        }
        modified
    }

    /// Publishes a last status (`last` updates it in place) with the flag cleared, marks
    /// the cell closed and wakes every subscriber. Later publications are ignored.
    pub fn close(&self, last: impl FnOnce(&mut T)) {
        self.close_with(Some(last));
    }

    fn close_with(&self, last: Option<impl FnOnce(&mut T)>) {
        let mut current = write(&self.shared.current);
        if current.closed {
            return;
        }
        // Cleared before anything else, so even a panicking `last` leaves it false.
        self.shared.accepting.store(false, Ordering::Release);
        if let Some(last) = last {
            last(&mut current.value);
            current.version += 1;
        }
        current.closed = true;
        drop(current);
        self.shared.wake_all();
    }
}

impl<T> Drop for Publisher<T> {
    fn drop(&mut self) {
        self.close_with(None::<fn(&mut T)>);
    }
}

/// A reading half (the node handles). Cloning it gives an independent subscriber that
/// has seen the same versions.
pub struct Subscriber<T> {
    shared: Arc<Shared<T>>,
    /// The latest version this subscriber has been shown.
    seen: u64,
}

impl<T> Clone for Subscriber<T> {
    fn clone(&self) -> Self {
        Subscriber {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Subscriber<T> {
    /// The fast-path flag: one atomic load. False before the first publication that set
    /// it and forever after the close.
    pub fn accepting(&self) -> bool {
        self.shared.accepting.load(Ordering::Acquire)
    }

    /// The latest status. Holds a read lock until dropped: keep it short, and never hold
    /// it across an `.await` or a `changed` poll (a waiting publisher would block the
    /// second read).
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: read(&self.shared.current),
        }
    }

    /// The latest status, marked as seen (`changed` waits for a newer one).
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = read(&self.shared.current);
        self.seen = guard.version;
        Ref { guard }
    }

    /// True once the publisher closed the cell or was dropped.
    pub fn is_closed(&self) -> bool {
        read(&self.shared.current).closed
    }

    /// Resolves when a version this subscriber has not seen exists (marking it seen), or
    /// with [`Closed`] once the cell is closed and every version was seen. Cancel-safe.
    pub fn changed(&mut self) -> Changed<'_, T> {
        Changed {
            subscriber: self,
            key: None,
        }
    }
}

/// A read guard on the latest status.
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, Versioned<T>>,
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard.value
    }
}

/// The future of [`Subscriber::changed`].
#[must_use = "futures do nothing unless polled"]
pub struct Changed<'a, T> {
    subscriber: &'a mut Subscriber<T>,
    /// This future's entry in the waiter list, once it has registered.
    key: Option<u64>,
}

impl<T> Future for Changed<'_, T> {
    type Output = Result<(), Closed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let shared = &this.subscriber.shared;
        // The check and the registration happen under the waiter lock, which a publisher
        // takes only after its write: either it finds this waker, or this read sees its
        // publication.
        let mut waiters = lock(&shared.waiters);
        let (version, closed) = {
            let current = read(&shared.current);
            (current.version, current.closed)
        };
        let outcome = if version != this.subscriber.seen {
            this.subscriber.seen = version;
            Some(Ok(()))
        } else if closed {
            Some(Err(Closed))
        } else {
            None
        };
        match outcome {
            Some(outcome) => {
                if let Some(key) = this.key.take() {
                    waiters.wakers.remove(&key);
                }
                Poll::Ready(outcome)
            }
            None => {
                let key = *this.key.get_or_insert_with(|| {
                    waiters.next_key += 1;
                    waiters.next_key
                });
                let waker = waiters
                    .wakers
                    .entry(key)
                    .or_insert_with(|| cx.waker().clone());
                if !waker.will_wake(cx.waker()) {
                    waker.clone_from(cx.waker());
                }
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Changed<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let waker = lock(&self.subscriber.shared.waiters).wakers.remove(&key);
            drop(waker);
        }
    }
}
