//! The status cell's contract (see `status.rs`): under loom, every interleaving.

mod common;

use common::{block_on, model, set, thread, View};
use concord_sync::status::{self, Closed, Subscriber};

#[test]
fn the_flag_and_the_status_are_one_publication() {
    model(|| {
        let (publisher, subscriber) = status::channel(View::default());
        let driver = thread::spawn(move || {
            publisher.publish_if_modified(true, set(1, true)); // elected
            publisher.publish_if_modified(false, set(2, false)); // stepped down
        });
        // `Node::apply`: a flag seen set comes with (at least) the status that set it…
        let accepting = subscriber.accepting();
        let seen = *subscriber.borrow();
        if accepting {
            assert!(seen.epoch >= 1, "flag ahead of the status: {seen:?}");
        }
        // …and a handle that has seen the step-down never takes the fast path again.
        let seen = *subscriber.borrow();
        let accepting = subscriber.accepting();
        if seen.epoch >= 2 {
            assert!(!accepting, "stepped down, still accepting");
        }
        driver.join().unwrap();
        assert!(!subscriber.accepting());
    });
}

#[test]
fn a_closed_cell_never_accepts_again() {
    // The bug fixed in commit 2c4f3ad: a shut-down leader's handle kept answering as
    // leader because the fast-path flag outlived the node.
    model(|| {
        let (publisher, subscriber) = status::channel(View::default());
        let handle = subscriber.clone();
        let driver = thread::spawn(move || {
            publisher.publish_if_modified(true, set(1, true));
            publisher.close(|view| {
                *view = View {
                    epoch: 2,
                    leading: false,
                }
            });
            // A publication after the close (a bug in the caller) changes nothing.
            publisher.publish_if_modified(true, set(3, true));
        });
        let observer = thread::spawn(move || {
            let closed = handle.is_closed();
            let accepting = handle.accepting();
            assert!(!(closed && accepting), "closed, still accepting");
        });
        driver.join().unwrap();
        observer.join().unwrap();
        assert!(subscriber.is_closed());
        assert!(!subscriber.accepting());
        assert_eq!(
            *subscriber.borrow(),
            View {
                epoch: 2,
                leading: false
            }
        );
    });
}

#[test]
fn a_dropped_publisher_closes_the_cell() {
    // A driver that panicked: its publisher is dropped while the node led.
    model(|| {
        let (publisher, mut subscriber) = status::channel(View::default());
        let driver = thread::spawn(move || {
            publisher.publish_if_modified(true, set(1, true));
            drop(publisher);
        });
        while block_on(subscriber.changed()).is_ok() {}
        assert!(subscriber.is_closed());
        assert!(!subscriber.accepting());
        driver.join().unwrap();
    });
}

/// Waits, as `Node::wait_for` does, until the status reaches `epoch`; returns whether
/// the cell was closed first.
fn wait_for_epoch(subscriber: &mut Subscriber<View>, epoch: u32) -> Result<(), Closed> {
    loop {
        if subscriber.borrow_and_update().epoch >= epoch {
            return Ok(());
        }
        block_on(subscriber.changed())?;
    }
}

#[test]
fn every_waiting_subscriber_is_woken() {
    model(|| {
        let (publisher, subscriber) = status::channel(View::default());
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let mut subscriber = subscriber.clone();
                thread::spawn(move || wait_for_epoch(&mut subscriber, 2))
            })
            .collect();
        publisher.publish_if_modified(true, set(1, true));
        publisher.publish_if_modified(false, set(2, false));
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), Ok(()));
        }
    });
}

#[test]
fn a_last_version_is_reported_before_the_close() {
    model(|| {
        let (publisher, mut subscriber) = status::channel(View::default());
        let driver = thread::spawn(move || {
            publisher.publish_if_modified(true, set(1, true));
            publisher.close(|view| {
                *view = View {
                    epoch: 2,
                    leading: false,
                }
            });
        });
        // Whatever it has seen, the subscriber ends on the last status.
        let mut last = *subscriber.borrow_and_update();
        while block_on(subscriber.changed()).is_ok() {
            last = *subscriber.borrow_and_update();
        }
        assert_eq!(
            last,
            View {
                epoch: 2,
                leading: false
            }
        );
        driver.join().unwrap();
    });
}

#[test]
fn an_unmodified_publication_wakes_nobody() {
    model(|| {
        let (publisher, mut subscriber) = status::channel(View::default());
        assert!(!publisher.publish_if_modified(false, |_| false));
        let mut changed = subscriber.changed();
        assert!(common::poll_once(&mut changed).is_pending());
        drop(changed);
        assert!(publisher.publish_if_modified(true, set(1, true)));
        assert_eq!(block_on(subscriber.changed()), Ok(()));
        assert!(subscriber.accepting());
    });
}
