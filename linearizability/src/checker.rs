//! Checking a typed history: partitioning, parallel search, timeout, three-valued results.

use crate::history::{OpId, ProcessId};
use crate::model::Model;
use crate::search::{search, SearchOp, SearchOutcome};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
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
    /// The search was stopped (timeout) before a verdict was proven.
    #[serde(rename = "unknown")]
    Unknown,
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
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            partition: true,
            timeout: None,
            threads: None,
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
    /// Search time.
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

/// Checks `ops` against `model`.
pub fn check<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    options: &CheckOptions,
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
        groups.insert(None, Vec::new());
    }
    let groups: Vec<(Option<String>, Vec<usize>)> = groups.into_iter().collect();
    // Largest partitions first so the slowest start early.
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| std::cmp::Reverse(groups[g].1.len()));

    let stop = AtomicBool::new(false);
    let next_job = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<PartitionReport>>> = Mutex::new(vec![None; groups.len()]);
    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, groups.len().max(1));

    let work = || loop {
        let job = next_job.fetch_add(1, Ordering::Relaxed);
        let Some(&group) = order.get(job) else { break };
        let (key, members) = &groups[group];
        let report = check_partition(model, ops, key.clone(), members, &stop, deadline);
        if report.verdict == Verdict::NotLinearizable {
            // One illegal partition decides the whole history: stop the others.
            stop.store(true, Ordering::Relaxed);
        }
        if let Ok(mut results) = results.lock() {
            results[group] = Some(report);
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
                elapsed: Duration::ZERO,
            })
        })
        .collect();
    let verdict = if partitions
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
    };
    CheckReport {
        verdict,
        partitions,
        elapsed: started.elapsed(),
    }
}

fn check_partition<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    key: Option<String>,
    members: &[usize],
    stop: &AtomicBool,
    deadline: Option<Instant>,
) -> PartitionReport {
    let started = Instant::now();
    let search_ops: Vec<SearchOp<'_, M>> = members
        .iter()
        .map(|&i| SearchOp {
            input: &ops[i].input,
            output: ops[i].output.as_ref(),
            call_time: ops[i].call_time,
            return_time: ops[i].return_time,
        })
        .collect();
    let outcome = search(model, &search_ops, stop, deadline);
    let describe = |steps: Vec<(usize, M::State)>| -> Vec<LinearizationStep> {
        steps
            .into_iter()
            .map(|(local, state)| LinearizationStep {
                op: ops[members[local]].id,
                state: model.describe_state(&state),
            })
            .collect()
    };
    let (verdict, linearization, blocking) = match outcome {
        SearchOutcome::Linearizable(steps) => (Verdict::Linearizable, describe(steps), Vec::new()),
        SearchOutcome::Illegal { longest, blocking } => (
            Verdict::NotLinearizable,
            describe(longest),
            blocking
                .into_iter()
                .map(|local| ops[members[local]].id)
                .collect(),
        ),
        SearchOutcome::Unknown { longest } => (Verdict::Unknown, describe(longest), Vec::new()),
    };
    PartitionReport {
        key,
        verdict,
        ops: members.iter().map(|&i| ops[i].id).collect(),
        linearization,
        blocking,
        elapsed: started.elapsed(),
    }
}
