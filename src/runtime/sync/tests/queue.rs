//! The handoff queue's contract (see `queue.rs`): under loom, every interleaving.

mod common;

use std::task::Poll;

use common::{block_on, model, poll_once, thread, Arc, AtomicUsize, Ordering, Tracked};
use concord_sync::queue::{self, TryRecvError};

#[test]
fn a_full_queue_delivers_everything_in_order_then_ends() {
    model(|| {
        // Room for one item: the producer waits for the consumer twice.
        let (mut sender, mut receiver) = queue::bounded(1);
        let producer = thread::spawn(move || {
            for item in 1..=3u32 {
                assert_eq!(block_on(sender.send(item)), Ok(()));
            }
            // Dropping the sender ends the queue once it is drained.
        });
        let mut received = Vec::new();
        while let Some(item) = block_on(receiver.recv()) {
            received.push(item);
        }
        assert_eq!(received, [1, 2, 3]);
        producer.join().unwrap();
    });
}

#[test]
fn a_dropped_consumer_refuses_items_and_wakes_a_waiting_producer() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut sender, mut receiver) = queue::bounded(1);
        let item_drops = drops.clone();
        let producer = thread::spawn(move || {
            let mut handed_back = Vec::new();
            for id in 1..=3 {
                // With room for one item, a send waits for the consumer to take the
                // previous one, or to go away.
                if let Err(item) = block_on(sender.send(Tracked::new(id, &item_drops))) {
                    handed_back.push(item.id);
                }
            }
            // A refused item means the consumer is gone for good.
            assert!(handed_back.is_empty() || sender.is_closed());
            handed_back
        });
        // The consumer takes the first item and stops (a log writer whose fsync failed).
        let first = block_on(receiver.recv()).map(|item| item.id);
        drop(receiver);
        let handed_back = producer.join().unwrap();
        // Item 1 was received; items 2 and 3 were each handed back or dropped with the
        // queue, never both and never neither: each of the three was dropped once.
        assert_eq!(first, Some(1));
        assert!(!handed_back.contains(&1));
        assert_eq!(drops.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn an_unbounded_queue_drains_before_it_ends() {
    model(|| {
        let (sender, mut receiver) = queue::unbounded();
        let producer = thread::spawn(move || {
            assert_eq!(sender.send(1u32), Ok(()));
            assert_eq!(sender.send(2), Ok(()));
        });
        assert_eq!(block_on(receiver.recv()), Some(1));
        assert_eq!(block_on(receiver.recv()), Some(2));
        assert_eq!(block_on(receiver.recv()), None);
        producer.join().unwrap();
    });
}

#[test]
fn try_recv_sees_every_item_then_the_disconnect() {
    model(|| {
        let (sender, mut receiver) = queue::unbounded();
        let producer = thread::spawn(move || {
            let _ = sender.send(1u32);
        });
        let mut received = Vec::new();
        loop {
            match receiver.try_recv() {
                Ok(item) => received.push(item),
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Disconnected) => break,
            }
        }
        assert_eq!(received, [1]);
        producer.join().unwrap();
    });
}

#[test]
fn a_cancelled_recv_loses_nothing() {
    model(|| {
        let (mut sender, mut receiver) = queue::bounded(2);
        let producer = thread::spawn(move || {
            assert_eq!(block_on(sender.send(1u32)), Ok(()));
        });
        // A `select!` that polls `recv` once and takes another branch.
        let early = match poll_once(&mut receiver.recv()) {
            Poll::Ready(item) => item,
            Poll::Pending => None,
        };
        let rest = block_on(receiver.recv());
        assert_eq!(early.or(rest), Some(1));
        assert_eq!(early.and(rest), None);
        producer.join().unwrap();
    });
}

#[test]
fn a_bounded_queue_holds_exactly_its_capacity() {
    model(|| {
        let (mut sender, mut receiver) = queue::bounded(2);
        assert_eq!(poll_once(&mut sender.send(1u32)), Poll::Ready(Ok(())));
        assert_eq!(poll_once(&mut sender.send(2)), Poll::Ready(Ok(())));
        let mut third = sender.send(3);
        assert_eq!(poll_once(&mut third), Poll::Pending);
        assert_eq!(receiver.try_recv(), Ok(1));
        assert_eq!(poll_once(&mut third), Poll::Ready(Ok(())));
        drop(third);
        drop(sender);
        assert_eq!(receiver.try_recv(), Ok(2));
        assert_eq!(receiver.try_recv(), Ok(3));
        assert_eq!(receiver.try_recv(), Err(TryRecvError::Disconnected));
    });
}
