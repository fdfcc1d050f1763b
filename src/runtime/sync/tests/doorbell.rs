//! The doorbell's contract (see `doorbell.rs`): under loom, every interleaving.

mod common;

use std::task::Poll;

use common::{block_on, model, poll_once, thread, Arc, AtomicUsize, Ordering};
use concord_sync::doorbell;

#[test]
fn every_ring_is_returned_once_and_wakes_a_waiting_consumer() {
    model(|| {
        let (ringer, mut bell) = doorbell::doorbell();
        let other = ringer.clone();
        let first = thread::spawn(move || ringer.ring(0b01));
        let second = thread::spawn(move || other.ring(0b10));
        // Wait until both sources were seen, each once.
        let mut seen = 0u32;
        while seen != 0b11 {
            let rung = block_on(bell.wait());
            assert_ne!(rung, 0, "a wait resolves to the sources rung");
            assert_eq!(rung & seen, 0, "a source returned twice for one ring");
            seen |= rung;
        }
        first.join().unwrap();
        second.join().unwrap();
        assert_eq!(bell.take(), 0);
    });
}

#[test]
fn what_the_producer_did_before_ringing_is_visible_to_the_consumer() {
    model(|| {
        let (ringer, mut bell) = doorbell::doorbell();
        let queue = Arc::new(AtomicUsize::new(0));
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || {
                queue.store(7, Ordering::Relaxed); // "the item is in the queue"
                ringer.ring(1);
            })
        };
        assert_eq!(block_on(bell.wait()), 1);
        assert_eq!(queue.load(Ordering::Relaxed), 7);
        producer.join().unwrap();
    });
}

#[test]
fn a_ring_while_the_consumer_is_busy_is_taken_next_time() {
    model(|| {
        let (ringer, mut bell) = doorbell::doorbell();
        // A wait that is polled once and dropped (the consumer woke for something
        // else) leaves no waker behind, and loses no ring.
        {
            let mut wait = bell.wait();
            assert_eq!(poll_once(&mut wait), Poll::Pending);
        }
        let producer = thread::spawn(move || ringer.ring(0b100));
        producer.join().unwrap();
        assert_eq!(bell.take(), 0b100);
        assert_eq!(bell.take(), 0);
    });
}

#[test]
fn a_ring_racing_the_consumer_s_look_is_not_lost() {
    model(|| {
        let (ringer, mut bell) = doorbell::doorbell();
        let producer = thread::spawn(move || {
            ringer.ring(1);
            ringer.ring(2);
        });
        // The consumer takes what is there, then waits for the rest.
        let mut seen = bell.take();
        while seen != 0b11 {
            seen |= block_on(bell.wait());
        }
        producer.join().unwrap();
    });
}

#[test]
fn a_wait_dropped_while_a_ring_is_in_flight_loses_nothing() {
    model(|| {
        let (ringer, mut bell) = doorbell::doorbell();
        let producer = thread::spawn(move || ringer.ring(1));
        // The consumer polls a wait once and drops it (it woke for a timer) while the
        // ring may be anywhere: the ring is returned by the next take or wait.
        let first = {
            let mut wait = bell.wait();
            match poll_once(&mut wait) {
                Poll::Ready(rung) => rung,
                Poll::Pending => 0,
            }
        };
        let rest = if first == 0 {
            block_on(bell.wait())
        } else {
            bell.take()
        };
        assert_eq!(first | rest, 1);
        assert_eq!(first & rest, 0, "a source returned twice for one ring");
        producer.join().unwrap();
    });
}

#[test]
fn what_the_producer_did_before_ringing_is_visible_after_take() {
    model(|| {
        let (ringer, bell) = doorbell::doorbell();
        let queue = Arc::new(AtomicUsize::new(0));
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || {
                queue.store(7, Ordering::Relaxed);
                ringer.ring(1);
            })
        };
        // `take`'s fast path is a relaxed load: when it returns the source, the item
        // must be visible all the same.
        if bell.take() == 1 {
            assert_eq!(queue.load(Ordering::Relaxed), 7);
        }
        producer.join().unwrap();
    });
}
