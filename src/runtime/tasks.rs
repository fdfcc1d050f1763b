//! Client tasks between `Node::apply` and their answer: proposals handed to the core in
//! the step in progress, then accepted tasks waiting (in log order) for their entry to
//! be applied. Which task fails, and with what, follows the core's actions; nothing here
//! decides anything about the protocol.

use std::collections::VecDeque;

use bytes::Bytes;

use super::error::{ApplyError, NodeFailure};
use super::fsm::Completion;
use super::state_machine::StateMachine;
use crate::core::{LogId, LogIndex, Proposal as CoreProposal, ProposeError, RequestId, Term};

/// A client task on its way to the driver.
pub(crate) struct Proposal<S: StateMachine> {
    pub(crate) data: Bytes,
    pub(crate) expected_term: Option<Term>,
    pub(crate) on_committed: Option<Box<dyn FnOnce(LogId) + Send>>,
    pub(crate) context: Option<S::Context>,
    pub(crate) completion: Completion<S::Response>,
}

/// An accepted task: its entry is in the log, not yet applied.
pub(crate) struct PendingTask<S: StateMachine> {
    pub(crate) log_id: LogId,
    pub(crate) on_committed: Option<Box<dyn FnOnce(LogId) + Send>>,
    pub(crate) context: Option<S::Context>,
    pub(crate) completion: Completion<S::Response>,
}

pub(crate) struct PendingTasks<S: StateMachine> {
    next_request: u64,
    /// Proposals handed to the core in the step in progress, by request id from
    /// `first_proposing` on (ids are consecutive; the core answers each in the step).
    proposing: VecDeque<Option<Proposal<S>>>,
    first_proposing: u64,
    /// Accepted tasks, in log order (indices strictly increase).
    accepted: VecDeque<PendingTask<S>>,
}

impl<S: StateMachine> PendingTasks<S> {
    pub(crate) fn new() -> Self {
        PendingTasks {
            next_request: 0,
            proposing: VecDeque::new(),
            first_proposing: 1,
            accepted: VecDeque::new(),
        }
    }

    /// Accepted tasks waiting for apply.
    pub(crate) fn len(&self) -> usize {
        self.accepted.len()
    }

    /// Numbers a batch of proposals for the core and keeps them until it answers
    /// (`batch` is left empty, its buffer kept for the next batch).
    pub(crate) fn propose(&mut self, batch: &mut Vec<Proposal<S>>) -> Vec<CoreProposal> {
        let mut inputs = Vec::with_capacity(batch.len());
        if self.proposing.is_empty() {
            self.first_proposing = self.next_request + 1;
        }
        for proposal in batch.drain(..) {
            self.next_request += 1;
            let id = RequestId(self.next_request);
            inputs.push(CoreProposal {
                id,
                size_bytes: u32::try_from(proposal.data.len()).unwrap_or(u32::MAX),
                expected_term: proposal.expected_term,
            });
            self.proposing.push_back(Some(proposal));
        }
        inputs
    }

    /// The core accepted proposal `id` as the entry `log_id`: returns its payload (to be
    /// written and replicated) and keeps the task until the entry is applied.
    pub(crate) fn accepted(&mut self, id: RequestId, log_id: LogId) -> Option<Bytes> {
        let proposal = self.take_proposing(id)?;
        // A leader's new entries follow its earlier ones; anything at or past this index
        // was overwritten (a previous term's tail) and will never apply as proposed.
        while self
            .accepted
            .back()
            .is_some_and(|task| task.log_id.index >= log_id.index)
        {
            if let Some(task) = self.accepted.pop_back() {
                let _ = task.completion.send(Err(ApplyError::LeadershipLost));
            }
        }
        self.accepted.push_back(PendingTask {
            log_id,
            on_committed: proposal.on_committed,
            context: proposal.context,
            completion: proposal.completion,
        });
        Some(proposal.data)
    }

    /// The proposal with request id `id`, taken out of its slot.
    fn take_proposing(&mut self, id: RequestId) -> Option<Proposal<S>> {
        let slot = usize::try_from(id.0.checked_sub(self.first_proposing)?).ok()?;
        let proposal = self.proposing.get_mut(slot)?.take();
        while matches!(self.proposing.front(), Some(None)) {
            self.proposing.pop_front();
            self.first_proposing += 1;
        }
        proposal
    }

    /// The core refused proposal `id`: nothing was appended for it.
    pub(crate) fn rejected(&mut self, id: RequestId, error: ProposeError<crate::core::PeerId>) {
        let Some(proposal) = self.take_proposing(id) else {
            return;
        };
        let error = match error {
            ProposeError::NotLeader { leader_hint } => ApplyError::NotLeader { leader_hint },
            ProposeError::TermMismatch { expected, actual } => {
                ApplyError::TermMismatch { expected, actual }
            }
            ProposeError::TransferInProgress => ApplyError::TransferInProgress,
            ProposeError::Overloaded => ApplyError::Overloaded,
        };
        let _ = proposal.completion.send(Err(error));
    }

    /// The task whose entry is `log_id`, about to be applied, if this node accepted it.
    /// Tasks at lower indices can no longer apply (their entries were replaced): they
    /// fail with `LeadershipLost`, as does a task at this index from another term.
    pub(crate) fn take_applied(&mut self, log_id: LogId) -> Option<PendingTask<S>> {
        while let Some(task) = self.accepted.front() {
            if task.log_id.index > log_id.index {
                return None;
            }
            let task = self.accepted.pop_front()?;
            if task.log_id == log_id {
                return Some(task);
            }
            let _ = task.completion.send(Err(ApplyError::LeadershipLost));
        }
        None
    }

    /// Leadership ended with entries through `commit_index` committed: the tasks after
    /// it may still commit under a later leader, or never (outcome unknown); the ones
    /// up to it are answered by their apply.
    pub(crate) fn leadership_lost(&mut self, commit_index: LogIndex) {
        while self
            .accepted
            .back()
            .is_some_and(|task| task.log_id.index > commit_index)
        {
            if let Some(task) = self.accepted.pop_back() {
                let _ = task.completion.send(Err(ApplyError::LeadershipLost));
            }
        }
    }

    /// The node failed: every waiting task learns it.
    pub(crate) fn fail_all(&mut self, failure: &NodeFailure) {
        for task in std::mem::take(&mut self.accepted) {
            let _ = task.completion.send(Err(ApplyError::NodeFailed {
                failure: failure.clone(),
            }));
        }
    }

    /// The node is stopping: outcome unknown for everything in flight.
    pub(crate) fn shut_down(&mut self) {
        for proposal in std::mem::take(&mut self.proposing).into_iter().flatten() {
            let _ = proposal.completion.send(Err(ApplyError::ShuttingDown));
        }
        for task in std::mem::take(&mut self.accepted) {
            let _ = task.completion.send(Err(ApplyError::ShuttingDown));
        }
    }
}
