//! Checking a typed history: partitioning, time-sliced search on worker threads,
//! timeout and memory budget, three-valued results.

use crate::history::{OpId, ProcessId};
use crate::memory::{default_max_memory_bytes, MemoryBudget};
use crate::model::Model;
use crate::search::{Search, SearchOp, SearchOutcome};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// An operation with a model's types.
#[derive(Clone, Debug)]
pub struct Op<I, O> {
    /// Its id (for built-in imports, the id in the recorded history).
    pub id: OpId,
    /// The client that issued it.
    pub process: ProcessId,
    /// The input.
    pub input: I,
    /// The output; `None` when the outcome is unknown. Such an operation may take effect
    /// at any point after its call, or never, and its return time is ignored (+∞).
    pub output: Option<O>,
    /// Real time of the call (only the order matters).
    pub call_time: u64,
    /// Real time of the return (ignored when `output` is `None`).
    pub return_time: u64,
}

/// The three-valued result. Never `Linearizable` unless every partition was proven.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Verdict {
    /// A linearization was found for every partition.
    #[serde(rename = "linearizable")]
    Linearizable,
    /// Some partition has no linearization.
    #[serde(rename = "not linearizable")]
    NotLinearizable,
    /// The search was stopped (timeout, memory budget) before a verdict was proven.
    #[serde(rename = "unknown")]
    Unknown,
}

/// Why a partition's verdict is [`Verdict::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[non_exhaustive]
pub enum UnknownCause {
    /// [`CheckOptions::timeout`] passed.
    #[serde(rename = "timeout")]
    Timeout,
    /// Going on would have taken the search past [`CheckOptions::max_memory_bytes`].
    #[serde(rename = "memory limit")]
    MemoryLimit,
    /// Another partition was proven not linearizable first, which decides the history.
    #[serde(rename = "cancelled")]
    Cancelled,
}

impl std::fmt::Display for UnknownCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UnknownCause::Timeout => "timeout",
            UnknownCause::MemoryLimit => "memory limit",
            UnknownCause::Cancelled => "cancelled",
        })
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable => "not linearizable",
            Verdict::Unknown => "unknown",
        })
    }
}

/// Options for [`check`].
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Split by [`Model::partition`] and check the partitions independently.
    pub partition: bool,
    /// Give up (verdict `Unknown`) after this long.
    pub timeout: Option<Duration>,
    /// Worker threads; `None` uses the available parallelism.
    pub threads: Option<usize>,
    /// The most memory the searches may hold together (caches, stacks, witnesses; an
    /// estimate kept from capacities, not counting the history itself). A partition that
    /// would go past it stops with [`Verdict::Unknown`] ([`UnknownCause::MemoryLimit`])
    /// and frees what it held; the others go on. `None`: half the physical memory, at
    /// most 4 GiB.
    pub max_memory_bytes: Option<u64>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            partition: true,
            timeout: None,
            threads: None,
            max_memory_bytes: None,
        }
    }
}

/// One step of a (partial) linearization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinearizationStep {
    /// The operation linearized.
    pub op: OpId,
    /// The model state right after it.
    pub state: String,
}

/// The result for one partition.
#[derive(Clone, Debug, Serialize)]
pub struct PartitionReport {
    /// The partition key (`None` for the single partition of an unpartitioned check).
    pub key: Option<String>,
    /// The partition's verdict.
    pub verdict: Verdict,
    /// The operations in the partition, in call order.
    pub ops: Vec<OpId>,
    /// The linearization found, or the longest partial one when not linearizable or
    /// unknown.
    pub linearization: Vec<LinearizationStep>,
    /// When not linearizable: the operation(s) that could not be placed after the longest
    /// partial linearization.
    pub blocking: Vec<OpId>,
    /// When unknown: why.
    pub unknown_cause: Option<UnknownCause>,
    /// Search time (the sum of its time slices).
    #[serde(serialize_with = "serialize_duration_ms")]
    pub elapsed: Duration,
}

fn serialize_duration_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

/// The result of [`check`].
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// The overall verdict.
    pub verdict: Verdict,
    /// One report per partition, ordered by key.
    pub partitions: Vec<PartitionReport>,
    /// Total wall time.
    #[serde(serialize_with = "serialize_duration_ms")]
    pub elapsed: Duration,
}

impl CheckReport {
    /// The first partition that is not linearizable, if any.
    pub fn failing_partition(&self) -> Option<&PartitionReport> {
        self.partitions
            .iter()
            .find(|p| p.verdict == Verdict::NotLinearizable)
    }
}

/// Iterations of a partition's first time slice; each later slice doubles, up to
/// [`SLICE_ITERATIONS_MAX`]. Small first slices let every cheap partition finish (or
/// fail) before any expensive one gets much time.
const SLICE_ITERATIONS_MIN: u64 = 1 << 12;
/// The longest time slice (some milliseconds): large enough that switching costs
/// nothing, small enough that a cheap failing partition waits little behind huge ones.
const SLICE_ITERATIONS_MAX: u64 = 1 << 18;

/// One partition waiting for (more) search time.
struct Job<'a, M: Model> {
    group: usize,
    /// Created on the first slice, so waiting partitions hold no memory.
    search: Option<Search<'a, M>>,
    slice_iterations: u64,
    elapsed: Duration,
}

/// The partitions still to search, and how many are being searched right now.
struct Queue<'a, M: Model> {
    waiting: VecDeque<Job<'a, M>>,
    running: usize,
}

/// Checks `ops` against `model`.
///
/// **Fast path for operations of unknown outcome.** Such an operation may have taken
/// effect, or never: so a history is linearizable if it is once some of them are
/// dropped (the dropped ones "never took effect"), and dropping them can only make a
/// history harder to linearize when one of them was observed. Many unknown writes make
/// the search explode (each may be placed anywhere after its call), and in most
/// histories nobody observed them. So when `ops` holds some, every partition is first
/// checked without them (with a quarter of the time budget); a partition proven
/// linearizable that way is linearizable, and only the others are checked again, with
/// every operation (the rest of the budget). Only "linearizable" answers of the reduced
/// check are kept, so without a timeout the verdict is exactly the exhaustive search's,
/// never a guess; with one, a history that needs nearly the whole budget in the
/// exhaustive search may now end `Unknown` (the reduced check took up to a quarter of
/// it). A kept partition's linearization leaves its unknown operations out; a
/// partition searched again reports the time of its second search only.
///
/// Partitions are searched in time slices, round-robin, on `threads` workers: a
/// partition runs for a slice, then goes to the back of the queue with a slice twice as
/// long. So the verdict comes as fast from one thread as it can: a cheap partition that
/// is not linearizable is found after a few slices of every other partition, not after
/// the most expensive one is exhausted. Proving one partition not linearizable stops the
/// others.
pub fn check<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    options: &CheckOptions,
) -> CheckReport {
    if ops.iter().all(|op| op.output.is_some()) {
        return check_exhaustively(model, ops, options, true);
    }
    let started = Instant::now();
    let key = |op: &Op<M::Input, M::Output>| {
        if options.partition {
            model.partition(&op.input)
        } else {
            None
        }
    };
    let known: Vec<Op<M::Input, M::Output>> = ops
        .iter()
        .filter(|op| op.output.is_some())
        .cloned()
        .collect();
    let fast_options = CheckOptions {
        timeout: options.timeout.map(|t| t / 4),
        ..options.clone()
    };
    let fast = check_exhaustively(model, &known, &fast_options, false);
    let mut proven: BTreeMap<Option<String>, PartitionReport> = fast
        .partitions
        .into_iter()
        .filter(|p| p.verdict == Verdict::Linearizable)
        .map(|p| (p.key.clone(), p))
        .collect();
    // Restore the dropped operations in the proven partitions' lists (call order).
    for partition in proven.values_mut() {
        partition.ops.clear();
    }
    let mut rest = Vec::new();
    for op in ops {
        match proven.get_mut(&key(op)) {
            Some(partition) => partition.ops.push(op.id),
            None => rest.push(op.clone()),
        }
    }
    // (An empty reduced history is one trivial partition, which may own nothing here.)
    let mut partitions: Vec<PartitionReport> =
        proven.into_values().filter(|p| !p.ops.is_empty()).collect();
    if !rest.is_empty() {
        let remaining = options.timeout.map(|t| t.saturating_sub(started.elapsed()));
        let full_options = CheckOptions {
            timeout: remaining,
            ..options.clone()
        };
        partitions.extend(check_exhaustively(model, &rest, &full_options, true).partitions);
    }
    partitions.sort_by(|a, b| a.key.cmp(&b.key));
    CheckReport {
        verdict: overall(&partitions),
        partitions,
        elapsed: started.elapsed(),
    }
}

/// The verdict of a history from its partitions' verdicts.
fn overall(partitions: &[PartitionReport]) -> Verdict {
    if partitions
        .iter()
        .any(|p| p.verdict == Verdict::NotLinearizable)
    {
        Verdict::NotLinearizable
    } else if partitions
        .iter()
        .all(|p| p.verdict == Verdict::Linearizable)
    {
        Verdict::Linearizable
    } else {
        Verdict::Unknown
    }
}

/// [`check`] without the fast path: every operation, one search per partition.
///
/// `decisive`: a partition proven not linearizable decides the history and stops the
/// others. The fast path's reduced check is not decisive (a partition may fail there
/// only because an unknown operation it dropped was observed), so it lets every other
/// partition finish.
fn check_exhaustively<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    options: &CheckOptions,
    decisive: bool,
) -> CheckReport {
    let started = Instant::now();
    let deadline = options.timeout.map(|t| started + t);
    let mut groups: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    for (index, op) in ops.iter().enumerate() {
        let key = if options.partition {
            model.partition(&op.input)
        } else {
            None
        };
        groups.entry(key).or_default().push(index);
    }
    if groups.is_empty() {
        // No client operation at all: trivially linearizable (Knossos agrees).
        groups.insert(None, Vec::new());
    }
    let groups: Vec<(Option<String>, Vec<usize>)> = groups.into_iter().collect();
    let search_ops: Vec<Vec<SearchOp<'_, M>>> = groups
        .iter()
        .map(|(_, members)| {
            members
                .iter()
                .map(|&i| SearchOp {
                    input: &ops[i].input,
                    output: ops[i].output.as_ref(),
                    call_time: ops[i].call_time,
                    return_time: ops[i].return_time,
                })
                .collect()
        })
        .collect();
    let memory = MemoryBudget::new(
        options
            .max_memory_bytes
            .unwrap_or_else(default_max_memory_bytes),
    );
    // Smallest first: their first slice usually decides them.
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| groups[g].1.len());
    let queue = Mutex::new(Queue {
        waiting: order
            .into_iter()
            .map(|group| Job {
                group,
                search: None,
                slice_iterations: SLICE_ITERATIONS_MIN,
                elapsed: Duration::ZERO,
            })
            .collect(),
        running: 0,
    });
    let wake = Condvar::new();
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<PartitionReport>>> = Mutex::new(vec![None; groups.len()]);
    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, groups.len().max(1));

    let work = || {
        while let Some(mut job) = next_job(&queue, &wake) {
            // Ends the slice even if the model panics, so no other worker waits forever.
            let mut slice = Slice {
                queue: &queue,
                wake: &wake,
                paused: None,
            };
            let slice_started = Instant::now();
            let search = job
                .search
                .get_or_insert_with(|| Search::new(model, &search_ops[job.group], &memory));
            let outcome = search.run(job.slice_iterations, &stop, deadline);
            job.elapsed += slice_started.elapsed();
            let Some(outcome) = outcome else {
                job.slice_iterations = (job.slice_iterations * 2).min(SLICE_ITERATIONS_MAX);
                slice.paused = Some(job);
                continue;
            };
            // Free the search's memory before anything else runs.
            job.search = None;
            let (key, members) = &groups[job.group];
            let report = partition_report(model, ops, key.clone(), members, outcome, job.elapsed);
            if decisive && report.verdict == Verdict::NotLinearizable {
                // One illegal partition decides the whole history: stop the others.
                stop.store(true, Ordering::Relaxed);
            }
            if let Ok(mut results) = results.lock() {
                results[job.group] = Some(report);
            }
        }
    };
    if threads == 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(work);
            }
        });
    }

    let partitions: Vec<PartitionReport> = results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .into_iter()
        .zip(groups)
        .map(|(report, (key, members))| {
            // A missing report (a worker died) proves nothing: Unknown.
            report.unwrap_or_else(|| PartitionReport {
                key,
                verdict: Verdict::Unknown,
                ops: members.iter().map(|&i| ops[i].id).collect(),
                linearization: Vec::new(),
                blocking: Vec::new(),
                unknown_cause: None,
                elapsed: Duration::ZERO,
            })
        })
        .collect();
    CheckReport {
        verdict: overall(&partitions),
        partitions,
        elapsed: started.elapsed(),
    }
}

/// Takes the next partition to search; waits while others are being searched (they may
/// come back); `None` once every partition is decided.
fn next_job<'a, M: Model>(queue: &Mutex<Queue<'a, M>>, wake: &Condvar) -> Option<Job<'a, M>> {
    let mut queue = queue.lock().ok()?;
    loop {
        if let Some(job) = queue.waiting.pop_front() {
            queue.running += 1;
            return Some(job);
        }
        if queue.running == 0 {
            return None;
        }
        queue = wake.wait(queue).ok()?;
    }
}

/// One slice in progress. Dropping it ends the slice: the worker no longer counts as
/// running, and a paused job goes back to the end of the queue.
struct Slice<'q, 'a, M: Model> {
    queue: &'q Mutex<Queue<'a, M>>,
    wake: &'q Condvar,
    paused: Option<Job<'a, M>>,
}

impl<M: Model> Drop for Slice<'_, '_, M> {
    fn drop(&mut self) {
        // A poisoned queue still needs the count right, or waiting workers never leave.
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        queue.running -= 1;
        if let Some(job) = self.paused.take() {
            queue.waiting.push_back(job);
        }
        drop(queue);
        self.wake.notify_all();
    }
}

fn partition_report<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    key: Option<String>,
    members: &[usize],
    outcome: SearchOutcome<M::State>,
    elapsed: Duration,
) -> PartitionReport {
    let describe = |steps: Vec<(usize, M::State)>| -> Vec<LinearizationStep> {
        steps
            .into_iter()
            .map(|(local, state)| LinearizationStep {
                op: ops[members[local]].id,
                state: model.describe_state(&state),
            })
            .collect()
    };
    let (verdict, linearization, blocking, unknown_cause) = match outcome {
        SearchOutcome::Linearizable(steps) => {
            (Verdict::Linearizable, describe(steps), Vec::new(), None)
        }
        SearchOutcome::Illegal { longest, blocking } => (
            Verdict::NotLinearizable,
            describe(longest),
            blocking
                .into_iter()
                .map(|local| ops[members[local]].id)
                .collect(),
            None,
        ),
        SearchOutcome::Unknown { longest, cause } => {
            (Verdict::Unknown, describe(longest), Vec::new(), Some(cause))
        }
    };
    PartitionReport {
        key,
        verdict,
        ops: members.iter().map(|&i| ops[i].id).collect(),
        linearization,
        blocking,
        unknown_cause,
        elapsed,
    }
}
