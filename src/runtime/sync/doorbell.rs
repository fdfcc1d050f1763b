//! One waker for many queues: how the driver learns that something arrived in one of
//! its input queues without registering its waker with each of them every time it
//! waits, and without looking into the empty ones on every pass.
//!
//! Each queue is a *source*, one bit of a `u32`. A producer puts its item into its
//! queue first, then rings its source ([`Ringer::ring`]); the consumer takes the set of
//! sources rung since it last looked ([`Doorbell::take`], or [`Doorbell::wait`] when it
//! has nothing else to do) and looks only into those queues. Contract, checked by
//! `tests/doorbell.rs` under every interleaving:
//!
//! - **no lost ring**: every source rung is in the set returned by a later `take` or
//!   `wait`, exactly once (until rung again); a `wait` that starts before or while a
//!   ring happens completes;
//! - **happens-before**: what a producer did before it rang (its item in the queue) is
//!   visible to the consumer once `take` or `wait` returned its source;
//! - a waiting consumer is woken once per batch of rings, not once per ring: only the
//!   ring that finds no source rung yet wakes it.
//!
//! A waker is registered only while a [`Wait`] is pending (taken back when it completes
//! or is dropped), so a ring while the consumer is busy wakes nobody: the consumer sees
//! the source at its next `take`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::sync::{lock, register, Arc, AtomicU32, Mutex, Ordering};

struct Shared {
    /// The sources rung and not yet taken.
    rung: AtomicU32,
    /// The consumer, while a `Wait` is pending.
    waker: Mutex<Option<Waker>>,
}

/// Creates a doorbell: a ringer (clone it for every producer) and the consumer's side.
pub fn doorbell() -> (Ringer, Doorbell) {
    let shared = Arc::new(Shared {
        rung: AtomicU32::new(0),
        waker: Mutex::new(None),
    });
    (
        Ringer {
            shared: shared.clone(),
        },
        Doorbell { shared },
    )
}

/// The producers' side.
#[derive(Clone)]
pub struct Ringer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Ringer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ringer").finish_non_exhaustive()
    }
}

impl Ringer {
    /// Rings `sources` (bits): call it after the item is in its queue. Wakes the
    /// consumer if it waits and nothing was rung before.
    pub fn ring(&self, sources: u32) {
        if self.shared.rung.fetch_or(sources, Ordering::AcqRel) != 0 {
            return; // rung already: the consumer has been woken, or will look
        }
        let waker = lock(&self.shared.waker).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The consumer's side.
pub struct Doorbell {
    shared: Arc<Shared>,
}

impl Doorbell {
    /// The sources rung since the last `take` or `wait` (0 when none). Never waits.
    /// May miss a ring made at the same moment (it is returned by the next `take` or
    /// `wait`: a `wait` never misses one).
    pub fn take(&self) -> u32 {
        // A plain load first: the consumer calls this on every pass, and a swap would
        // take the line from the producers' cores even when nothing was rung.
        if self.shared.rung.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        self.shared.rung.swap(0, Ordering::AcqRel)
    }

    /// Resolves to the sources rung (never 0) once any is; at once if some are already.
    /// Cancel-safe: a ring that a dropped `Wait` did not return is returned by the next
    /// `take` or `wait`.
    pub fn wait(&mut self) -> Wait<'_> {
        Wait { doorbell: self }
    }

    /// Another ringer for this doorbell.
    pub fn ringer(&self) -> Ringer {
        Ringer {
            shared: self.shared.clone(),
        }
    }
}

/// The future of [`Doorbell::wait`].
#[must_use = "futures do nothing unless polled"]
pub struct Wait<'a> {
    doorbell: &'a mut Doorbell,
}

impl Future for Wait<'_> {
    type Output = u32;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        let shared = &self.doorbell.shared;
        let rung = shared.rung.swap(0, Ordering::AcqRel);
        if rung != 0 {
            return Poll::Ready(rung);
        }
        register(&mut lock(&shared.waker), cx.waker());
        // A ring between the first look and the registration found no waker to wake.
        let rung = shared.rung.swap(0, Ordering::AcqRel);
        if rung != 0 {
            return Poll::Ready(rung);
        }
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        // Completed or cancelled: a later ring must not wake a consumer that is busy.
        let waker = lock(&self.doorbell.shared.waker).take();
        drop(waker);
    }
}
