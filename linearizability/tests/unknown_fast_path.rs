//! The fast path for operations of unknown outcome: a history linearizable without
//! them is linearizable; otherwise the exhaustive search decides, so the verdict never
//! changes — only the time it takes.

use std::time::{Duration, Instant};

use concord_linearizability::models::{Register, RegisterInput, RegisterOutput};
use concord_linearizability::{check, CheckOptions, Op, OpId, ProcessId, Verdict};

type RegisterOp = Op<RegisterInput, RegisterOutput>;

fn op(
    id: usize,
    input: RegisterInput,
    output: Option<RegisterOutput>,
    call: u64,
    ret: u64,
) -> RegisterOp {
    Op {
        id: OpId(id),
        process: ProcessId(id as u64),
        input,
        output,
        call_time: call,
        return_time: ret,
    }
}

/// `unknown` writes of distinct values that timed out, all concurrent with a known
/// history of `rounds` write-then-read pairs; then `observed`, if set, is read back.
fn history(unknown: usize, rounds: u64, observed: Option<i64>, bad_read: bool) -> Vec<RegisterOp> {
    let mut ops = Vec::new();
    for w in 0..unknown {
        ops.push(op(
            ops.len(),
            RegisterInput::Write(1000 + w as i64),
            None,
            w as u64,
            0,
        ));
    }
    let mut t = unknown as u64;
    for round in 0..rounds {
        let value = round as i64;
        ops.push(op(
            ops.len(),
            RegisterInput::Write(value),
            Some(RegisterOutput::Write),
            t,
            t + 1,
        ));
        let read = if bad_read && round == rounds - 1 {
            value + 1
        } else {
            value
        };
        ops.push(op(
            ops.len(),
            RegisterInput::Read,
            Some(RegisterOutput::Read(Some(read))),
            t + 2,
            t + 3,
        ));
        t += 4;
    }
    if let Some(value) = observed {
        ops.push(op(
            ops.len(),
            RegisterInput::Read,
            Some(RegisterOutput::Read(Some(value))),
            t,
            t + 1,
        ));
    }
    ops
}

fn check_history(ops: &[RegisterOp]) -> (Verdict, Duration) {
    let options = CheckOptions {
        timeout: Some(Duration::from_secs(60)),
        threads: Some(1),
        ..CheckOptions::default()
    };
    let started = Instant::now();
    let report = check(&Register { initial: None }, ops, &options);
    (report.verdict, started.elapsed())
}

#[test]
fn unobserved_unknown_writes_are_proven_without_searching_their_placements() {
    let ops = history(20, 40, None, false);
    let (verdict, elapsed) = check_history(&ops);
    assert_eq!(verdict, Verdict::Linearizable);
    // Without the fast path each of 20 unknown writes may sit anywhere in 80 steps.
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let report = check(&Register { initial: None }, &ops, &CheckOptions::default());
    let listed: usize = report.partitions.iter().map(|p| p.ops.len()).sum();
    assert_eq!(
        listed,
        ops.len(),
        "every operation is listed in its partition"
    );
}

#[test]
fn an_observed_unknown_write_falls_back_to_the_exhaustive_search() {
    // The last read sees 1003: only linearizable if that unknown write took effect.
    let (verdict, _) = check_history(&history(4, 3, Some(1003), false));
    assert_eq!(verdict, Verdict::Linearizable);
    // A value nobody wrote: not linearizable, with or without the unknown writes.
    let (verdict, _) = check_history(&history(4, 3, Some(77), false));
    assert_eq!(verdict, Verdict::NotLinearizable);
}

#[test]
fn a_violation_among_known_operations_is_still_found() {
    let (verdict, _) = check_history(&history(6, 5, None, true));
    assert_eq!(verdict, Verdict::NotLinearizable);
}
