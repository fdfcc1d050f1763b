//! The stop request: any node handle may ask the driver to stop, any number of times,
//! from any thread; and a node whose handles are all gone stops as if asked.
//!
//! Contract, checked by `tests/shutdown.rs` under every interleaving (and by
//! `tests/node_stop.rs` with the drain that follows: the status cell's close and the
//! queues' end):
//!
//! - a request made before the listener waits, or while it waits, is seen (latched, no
//!   lost wakeup), whichever thread makes it;
//! - dropping the last [`Trigger`] counts as a request ([`Stop::HandlesDropped`]);
//! - requests are idempotent.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::sync::{lock, register, Arc, AtomicBool, Mutex, Ordering};

/// Why the listener was told to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A trigger's [`Trigger::request`].
    Requested,
    /// Every trigger was dropped without a request.
    HandlesDropped,
}

struct Shared {
    state: Mutex<State>,
    /// Set (under the lock) once `State::stop` is `Some`: `Listener::check` reads it
    /// without locking.
    stopping: AtomicBool,
}

struct State {
    requested: bool,
    triggers: usize,
    waker: Option<Waker>,
}

impl State {
    fn stop(&self) -> Option<Stop> {
        if self.requested {
            Some(Stop::Requested)
        } else if self.triggers == 0 {
            Some(Stop::HandlesDropped)
        } else {
            None
        }
    }
}

/// Creates a stop signal: a trigger (clone it for every handle) and its listener.
pub fn signal() -> (Trigger, Listener) {
    let state = Arc::new(Shared {
        state: Mutex::new(State {
            requested: false,
            triggers: 1,
            waker: None,
        }),
        stopping: AtomicBool::new(false),
    });
    (
        Trigger {
            state: state.clone(),
        },
        Listener { state },
    )
}

/// The requesting side, held by the node handles.
pub struct Trigger {
    state: Arc<Shared>,
}

impl Trigger {
    /// Asks the listener to stop. Idempotent.
    pub fn request(&self) {
        let mut state = lock(&self.state.state);
        state.requested = true;
        self.state.stopping.store(true, Ordering::Release);
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Clone for Trigger {
    fn clone(&self) -> Self {
        lock(&self.state.state).triggers += 1;
        Trigger {
            state: self.state.clone(),
        }
    }
}

impl Drop for Trigger {
    fn drop(&mut self) {
        let mut state = lock(&self.state.state);
        state.triggers -= 1;
        let waker = if state.triggers == 0 {
            self.state.stopping.store(true, Ordering::Release);
            state.waker.take()
        } else {
            None
        };
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The listening side, held by the driver.
pub struct Listener {
    state: Arc<Shared>,
}

impl Listener {
    /// Resolves once a stop was requested or every trigger is gone; at once if that
    /// already happened. Cancel-safe, and may be awaited again.
    pub fn stopped(&mut self) -> Stopped<'_> {
        Stopped { listener: self }
    }

    /// The stop, if one was requested (or implied) already.
    pub fn check(&self) -> Option<Stop> {
        // Without locking while nothing happened: the driver asks on every pass.
        if !self.state.stopping.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.state.state).stop()
    }
}

/// The future of [`Listener::stopped`].
#[must_use = "futures do nothing unless polled"]
pub struct Stopped<'a> {
    listener: &'a mut Listener,
}

impl Future for Stopped<'_> {
    type Output = Stop;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Stop> {
        let mut state = lock(&self.listener.state.state);
        match state.stop() {
            Some(stop) => Poll::Ready(stop),
            None => {
                register(&mut state.waker, cx.waker());
                Poll::Pending
            }
        }
    }
}
