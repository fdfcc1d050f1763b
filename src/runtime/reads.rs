//! Reads without a log write (F18, F19): a `Node` handle queues a read, the driver asks
//! the core for a read index (`Input::ReadIndex`, batched), and once the core answers
//! (`Action::ReadReady`) either hands the index back (`Node::read_index`) or runs the
//! read on the state machine after every entry through the index (`Node::read`): a
//! `FsmJob::Read` queued behind the `Apply` jobs that cover the index, so the state
//! machine's own job order does the waiting.

use std::collections::BTreeMap;

use tokio::sync::oneshot;

use super::error::ReadError;
use super::state_machine::StateMachine;
use crate::core::{LogIndex, RequestId};

/// A read to run on the state machine: called with the state machine once it has
/// applied through the read index, or with the reason there is no read.
pub(crate) type ReadFn<S> = Box<dyn FnOnce(Result<&S, ReadError>) + Send>;

/// What a read wants back.
pub(crate) enum ReadJob<S: StateMachine> {
    /// The read index itself (`Node::read_index`).
    Index(oneshot::Sender<Result<LogIndex, ReadError>>),
    /// A read run on the state machine (`Node::read`).
    Run(ReadFn<S>),
}

impl<S: StateMachine> ReadJob<S> {
    pub(crate) fn fail(self, error: ReadError) {
        match self {
            ReadJob::Index(answer) => {
                let _ = answer.send(Err(error));
            }
            ReadJob::Run(read) => read(Err(error)),
        }
    }
}

/// A read queued by a `Node` handle.
pub(crate) struct ReadRequest<S: StateMachine> {
    /// A lease read (`ReadOnlyOption::LeaseBased`).
    pub(crate) lease: bool,
    pub(crate) job: ReadJob<S>,
}

/// Reads parked in the driver beyond which it takes no new ones from the queue.
pub(crate) const MAX_PARKED_READS: usize = 65_536;

/// The driver's reads: asked of the core, and answered but waiting for their index to
/// be handed to the state machine.
pub(crate) struct PendingReads<S: StateMachine> {
    next: u64,
    asked: BTreeMap<RequestId, ReadJob<S>>,
    parked: BTreeMap<LogIndex, Vec<ReadFn<S>>>,
    parked_count: usize,
}

impl<S: StateMachine> PendingReads<S> {
    pub(crate) fn new() -> Self {
        PendingReads {
            next: 0,
            asked: BTreeMap::new(),
            parked: BTreeMap::new(),
            parked_count: 0,
        }
    }

    /// Numbers `jobs` and keeps them until the core answers.
    pub(crate) fn ask(&mut self, jobs: Vec<ReadJob<S>>) -> Vec<RequestId> {
        jobs.into_iter()
            .map(|job| {
                self.next += 1;
                let id = RequestId(self.next);
                self.asked.insert(id, job);
                id
            })
            .collect()
    }

    /// The core's answer for `id`: the job, if still waiting.
    pub(crate) fn answered(&mut self, id: RequestId) -> Option<ReadJob<S>> {
        self.asked.remove(&id)
    }

    /// Keeps `read` until the state machine has been handed `index`.
    pub(crate) fn park(&mut self, index: LogIndex, read: ReadFn<S>) {
        self.parked.entry(index).or_default().push(read);
        self.parked_count += 1;
    }

    /// The parked reads whose index is at most `handed_over`, in index order.
    pub(crate) fn ready(&mut self, handed_over: LogIndex) -> Vec<ReadFn<S>> {
        let later = self.parked.split_off(&handed_over.next());
        let ready: Vec<ReadFn<S>> = std::mem::replace(&mut self.parked, later)
            .into_values()
            .flatten()
            .collect();
        self.parked_count -= ready.len();
        ready
    }

    /// Reads parked in the driver.
    pub(crate) fn parked(&self) -> usize {
        self.parked_count
    }

    /// Answers every read with `error`.
    pub(crate) fn fail_all(&mut self, error: &ReadError) {
        for (_, job) in std::mem::take(&mut self.asked) {
            job.fail(error.clone());
        }
        for read in std::mem::take(&mut self.parked).into_values().flatten() {
            read(Err(error.clone()));
        }
        self.parked_count = 0;
    }
}
