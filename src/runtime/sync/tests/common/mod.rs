//! What lets every test here run two ways: under `--cfg loom` each `model` explores every
//! interleaving of its threads (bounded by `LOOM_MAX_PREEMPTIONS`, see
//! docs/verification.md), and in a normal build it runs a few hundred times on real
//! threads, as a stress test.

#![allow(dead_code, unused_imports)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

#[cfg(loom)]
pub use loom::{
    future::block_on,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    thread,
};
#[cfg(not(loom))]
pub use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    thread,
};

/// Runs `test` under every interleaving loom's bounds allow (the `LOOM_*` variables),
/// and prints how many it explored (shown with `--nocapture`).
#[cfg(loom)]
pub fn model(test: impl Fn() + Sync + Send + 'static) {
    let explored = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = explored.clone();
    let builder = loom::model::Builder::new();
    let bound = builder.preemption_bound;
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        test();
    });
    let explored = explored.load(std::sync::atomic::Ordering::Relaxed);
    let name = std::thread::current().name().unwrap_or("?").to_string();
    println!("loom: {name}: {explored} interleavings (preemption bound {bound:?})");
}

/// Runs `test` repeatedly on real threads.
#[cfg(not(loom))]
pub fn model(test: impl Fn() + Sync + Send + 'static) {
    for _ in 0..200 {
        test();
    }
}

/// Drives `future` to completion on this thread, parking between polls.
#[cfg(not(loom))]
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}

/// Polls `future` once with a waker that does nothing.
pub fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    let mut context = Context::from_waker(Waker::noop());
    std::pin::Pin::new(future).poll(&mut context)
}

/// A value that counts its drops, to check that each one is dropped exactly once.
pub struct Tracked {
    pub id: u32,
    drops: Arc<AtomicUsize>,
}

impl Tracked {
    pub fn new(id: u32, drops: &Arc<AtomicUsize>) -> Self {
        Tracked {
            id,
            drops: drops.clone(),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// A stand-in for `NodeStatus`: which publication this is, and whether it says leader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct View {
    pub epoch: u32,
    pub leading: bool,
}

/// A status update to `View { epoch, leading }`, for `publish_if_modified`.
pub fn set(epoch: u32, leading: bool) -> impl FnOnce(&mut View) -> bool {
    move |view| {
        *view = View { epoch, leading };
        true
    }
}
