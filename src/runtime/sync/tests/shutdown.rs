//! The stop signal's contract (see `shutdown.rs`): under loom, every interleaving.

mod common;

use common::{block_on, model, thread};
use concord_sync::shutdown::{self, Stop};

#[test]
fn a_request_from_another_thread_is_seen() {
    model(|| {
        let (trigger, mut listener) = shutdown::signal();
        let handle = trigger.clone();
        let requester = thread::spawn(move || {
            handle.request();
            handle.request(); // idempotent
        });
        // The original trigger goes away meanwhile: the request still wins, because
        // the requesting clone is dropped only after it asked.
        let dropper = thread::spawn(move || drop(trigger));
        assert_eq!(block_on(listener.stopped()), Stop::Requested);
        requester.join().unwrap();
        dropper.join().unwrap();
        assert_eq!(listener.check(), Some(Stop::Requested));
    });
}

#[test]
fn dropping_every_trigger_stops_the_listener() {
    model(|| {
        let (trigger, mut listener) = shutdown::signal();
        let other = trigger.clone();
        let first = thread::spawn(move || drop(trigger));
        let second = thread::spawn(move || drop(other));
        assert_eq!(block_on(listener.stopped()), Stop::HandlesDropped);
        first.join().unwrap();
        second.join().unwrap();
    });
}

#[test]
fn no_stop_is_reported_before_one_happens() {
    model(|| {
        let (trigger, listener) = shutdown::signal();
        assert_eq!(listener.check(), None);
        trigger.request();
        assert_eq!(listener.check(), Some(Stop::Requested));
    });
}
