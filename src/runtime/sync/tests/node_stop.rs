//! A node's stop path, end to end, with the primitives the runtime uses: a handle asks
//! the driver to stop (`Node::shutdown`), the driver closes the status cell and drops its
//! job queue, the log writer drains what it was handed and stops, and `Node::join`
//! returns. Under loom, every interleaving of the handle, the driver and the writer.

mod common;

use common::{block_on, model, set, thread, View};
use concord_sync::{queue, shutdown, status};

#[test]
fn a_stopping_node_drains_its_writer_and_never_accepts_again() {
    model(|| {
        let (trigger, mut stop) = shutdown::signal();
        let (publisher, subscriber) = status::channel(View::default());
        let (mut jobs, mut writer_jobs) = queue::bounded(1);
        let writer = thread::spawn(move || {
            let mut persisted = Vec::new();
            while let Some(job) = block_on(writer_jobs.recv()) {
                persisted.push(job);
            }
            persisted
        });
        let driver = thread::spawn(move || {
            publisher.publish_if_modified(true, set(1, true));
            for job in 1..=2u32 {
                assert_eq!(block_on(jobs.send(job)), Ok(()));
            }
            block_on(stop.stopped());
            publisher.close(|view| view.leading = false);
            // Returning drops the job queue's sender: the writer drains and stops.
        });
        // The application: asks the node to stop while it runs, and meanwhile a handle
        // that sees the node stopped must not take the fast path.
        trigger.request();
        let closed = subscriber.is_closed();
        let accepting = subscriber.accepting();
        assert!(!(closed && accepting), "stopped, still accepting");
        // `Node::join`: the driver, then the writer.
        driver.join().unwrap();
        assert_eq!(
            writer.join().unwrap(),
            [1, 2],
            "a handed-over job was not persisted"
        );
        assert!(subscriber.is_closed());
        assert!(!subscriber.accepting());
        assert!(!subscriber.borrow().leading);
    });
}
