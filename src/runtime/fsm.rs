//! The FSM caller: applies committed batches to the state machine in order, answers the
//! clients waiting on them, and delivers role notifications in log order.

use std::panic::{catch_unwind, AssertUnwindSafe};

use concord_sync::{completion, queue};
use tokio::task::coop::cooperative;

use super::error::{ApplyError, NodeFailure};
use super::state_machine::{CommittedEntry, StateMachine};
use crate::core::{ConfigurationEntry, LogId, LogIndex, PeerId, Term};

/// The result a client gets for an applied task.
#[derive(Debug, PartialEq, Eq)]
pub struct Applied<R> {
    /// Where the task's entry sits in the log.
    pub log_id: LogId,
    /// What the state machine returned.
    pub response: R,
}

pub(crate) type Completion<R> = completion::Completer<Result<Applied<R>, ApplyError>>;

/// A committed entry on its way to the state machine.
pub(crate) enum ApplyItem<S: StateMachine> {
    Client {
        entry: CommittedEntry<S::Context>,
        completion: Option<Completion<S::Response>>,
        /// The task's `on_committed` hook (proposing node only): run just before the
        /// entry is applied; a panic in it is contained and ignored.
        on_committed: Option<Box<dyn FnOnce(LogId) + Send>>,
    },
    Configuration(LogId, ConfigurationEntry<PeerId>),
    Blank(LogId),
}

pub(crate) enum FsmJob<S: StateMachine> {
    Apply(Vec<ApplyItem<S>>),
    LeaderStart(Term),
    LeaderStop(Term),
    StartFollowing(PeerId, Term),
    StopFollowing(PeerId, Term),
}

pub(crate) enum FsmDone {
    Applied(LogIndex),
    Failed(NodeFailure),
}

pub(crate) async fn run_fsm<S: StateMachine>(
    mut state_machine: S,
    mut jobs: queue::Receiver<FsmJob<S>>,
    done: queue::UnboundedSender<FsmDone>,
    apply_batch: usize,
) -> S {
    let mut failed: Option<NodeFailure> = None;
    while let Some(job) = cooperative(jobs.recv()).await {
        if let Some(failure) = &failed {
            if let FsmJob::Apply(items) = job {
                answer_failed(items, failure);
            }
            continue;
        }
        let outcome = match job {
            FsmJob::Apply(items) => apply_items(&mut state_machine, items, apply_batch),
            FsmJob::LeaderStart(term) => guarded(|| state_machine.on_leader_start(term)),
            FsmJob::LeaderStop(term) => guarded(|| state_machine.on_leader_stop(term)),
            FsmJob::StartFollowing(leader, term) => {
                guarded(|| state_machine.on_start_following(&leader, term))
            }
            FsmJob::StopFollowing(leader, term) => {
                guarded(|| state_machine.on_stop_following(&leader, term))
            }
        };
        match outcome {
            Ok(Some(index)) => {
                let _ = done.send(FsmDone::Applied(index));
            }
            Ok(None) => {}
            Err(failure) => {
                let _ = catch_unwind(AssertUnwindSafe(|| state_machine.on_error(&failure)));
                let _ = done.send(FsmDone::Failed(failure.clone()));
                failed = Some(failure);
            }
        }
    }
    let _ = catch_unwind(AssertUnwindSafe(|| state_machine.on_shutdown()));
    state_machine
}

fn guarded(f: impl FnOnce()) -> Result<Option<LogIndex>, NodeFailure> {
    catch_unwind(AssertUnwindSafe(f))
        .map(|_| None)
        .map_err(|panic| NodeFailure {
            reason: format!("state machine callback panicked: {}", panic_message(&panic)),
        })
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic".to_string()
    }
}

/// Applies items in order, client entries in batches of at most `apply_batch`.
/// Returns the last index applied.
fn apply_items<S: StateMachine>(
    state_machine: &mut S,
    items: Vec<ApplyItem<S>>,
    apply_batch: usize,
) -> Result<Option<LogIndex>, NodeFailure> {
    let mut last = None;
    let mut entries: Vec<CommittedEntry<S::Context>> = Vec::new();
    let mut completions: Vec<Option<Completion<S::Response>>> = Vec::new();
    let mut items = items.into_iter().peekable();
    while let Some(item) = items.next() {
        match item {
            ApplyItem::Client {
                entry,
                completion,
                on_committed,
            } => {
                if let Some(hook) = on_committed {
                    let log_id = entry.log_id;
                    // Committed on a majority, not yet applied. The hook belongs to the
                    // client that proposed; its panic must not fail the node.
                    let _ = catch_unwind(AssertUnwindSafe(|| hook(log_id)));
                }
                last = Some(entry.log_id.index);
                entries.push(entry);
                completions.push(completion);
                let batch_ends = entries.len() >= apply_batch
                    || !matches!(items.peek(), Some(ApplyItem::Client { .. }));
                if batch_ends {
                    if let Err(failure) =
                        apply_batch_now(state_machine, &mut entries, &mut completions)
                    {
                        let rest: Vec<ApplyItem<S>> = items.collect();
                        answer_failed(rest, &failure);
                        return Err(failure);
                    }
                }
            }
            ApplyItem::Configuration(log_id, configuration) => {
                last = Some(log_id.index);
                if let Err(failure) =
                    guarded(|| state_machine.on_configuration_committed(&configuration))
                {
                    let rest: Vec<ApplyItem<S>> = items.collect();
                    answer_failed(rest, &failure);
                    return Err(failure);
                }
            }
            ApplyItem::Blank(log_id) => last = Some(log_id.index),
        }
    }
    Ok(last)
}

fn apply_batch_now<S: StateMachine>(
    state_machine: &mut S,
    entries: &mut Vec<CommittedEntry<S::Context>>,
    completions: &mut Vec<Option<Completion<S::Response>>>,
) -> Result<(), NodeFailure> {
    let result = catch_unwind(AssertUnwindSafe(|| state_machine.on_apply_batch(entries)))
        .unwrap_or_else(|panic| {
            Err(NodeFailure {
                reason: format!(
                    "state machine panicked in on_apply: {}",
                    panic_message(&panic)
                ),
            })
        });
    let responses = match result {
        Ok(responses) if responses.len() == entries.len() => responses,
        Ok(responses) => {
            let failure = NodeFailure {
                reason: format!(
                    "on_apply_batch returned {} responses for {} entries",
                    responses.len(),
                    entries.len()
                ),
            };
            fail_all(completions, &failure);
            entries.clear();
            return Err(failure);
        }
        Err(failure) => {
            fail_all(completions, &failure);
            entries.clear();
            return Err(failure);
        }
    };
    for ((entry, completion), response) in
        entries.drain(..).zip(completions.drain(..)).zip(responses)
    {
        if let Some(completion) = completion {
            let _ = completion.send(Ok(Applied {
                log_id: entry.log_id,
                response,
            }));
        }
    }
    Ok(())
}

fn fail_all<R>(completions: &mut Vec<Option<Completion<R>>>, failure: &NodeFailure) {
    for completion in completions.drain(..).flatten() {
        let _ = completion.send(Err(ApplyError::NodeFailed {
            reason: failure.reason.clone(),
        }));
    }
}

fn answer_failed<S: StateMachine>(items: Vec<ApplyItem<S>>, failure: &NodeFailure) {
    for item in items {
        if let ApplyItem::Client {
            entry,
            completion,
            on_committed,
        } = item
        {
            // Committed all the same: the hook still hears of it.
            if let Some(hook) = on_committed {
                let log_id = entry.log_id;
                let _ = catch_unwind(AssertUnwindSafe(|| hook(log_id)));
            }
            if let Some(completion) = completion {
                let _ = completion.send(Err(ApplyError::NodeFailed {
                    reason: failure.reason.clone(),
                }));
            }
        }
    }
}
