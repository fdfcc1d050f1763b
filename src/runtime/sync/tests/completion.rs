//! The completion slot's contract (see `completion.rs`): under loom, every interleaving.

mod common;

use std::task::Poll;

use common::{block_on, model, poll_once, thread, Arc, AtomicUsize, Ordering, Tracked};
use concord_sync::completion::{self, Abandoned};

#[test]
fn a_sent_value_is_received_exactly_once() {
    model(|| {
        let (completer, waiter) = completion::channel();
        let sender = thread::spawn(move || completer.send(7u32));
        assert_eq!(block_on(waiter), Ok(7));
        assert_eq!(sender.join().unwrap(), Ok(()));
    });
}

#[test]
fn a_dropped_completer_resolves_the_waiter() {
    model(|| {
        let (completer, waiter) = completion::channel::<u32>();
        let dropper = thread::spawn(move || drop(completer));
        assert_eq!(block_on(waiter), Err(Abandoned));
        dropper.join().unwrap();
    });
}

#[test]
fn a_send_to_a_dropped_waiter_hands_the_value_back() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (completer, waiter) = completion::channel();
        let value = Tracked::new(1, &drops);
        let sender = thread::spawn(move || completer.send(value).err().map(|v| v.id));
        drop(waiter);
        // Sent before the waiter went (dropped with the slot) or handed back (dropped
        // here): either way exactly once.
        let handed_back = sender.join().unwrap();
        assert!(handed_back.is_none() || handed_back == Some(1));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_send_after_the_waiter_is_gone_is_refused() {
    model(|| {
        let (completer, waiter) = completion::channel();
        let waiter = thread::spawn(move || drop(waiter));
        waiter.join().unwrap();
        assert_eq!(completer.send(5u32), Err(5));
    });
}

#[test]
fn a_waiter_that_gives_up_after_polling_loses_nothing() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (completer, mut waiter) = completion::channel();
        let value = Tracked::new(1, &drops);
        let sender = thread::spawn(move || completer.send(value).is_ok());
        // A caller whose `apply` future is cancelled: it registered a waker, then left.
        let received = match poll_once(&mut waiter) {
            Poll::Ready(result) => Some(result.map(|v| v.id)),
            Poll::Pending => None,
        };
        drop(waiter);
        let delivered = sender.join().unwrap();
        if let Some(received) = received {
            assert_eq!(received, Ok(1));
            assert!(delivered);
        }
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_resolved_waiter_polled_again_reports_abandoned() {
    model(|| {
        let (completer, mut waiter) = completion::channel();
        assert_eq!(completer.send(3u32), Ok(()));
        assert_eq!(poll_once(&mut waiter), Poll::Ready(Ok(3)));
        assert_eq!(poll_once(&mut waiter), Poll::Ready(Err(Abandoned)));
    });
}
