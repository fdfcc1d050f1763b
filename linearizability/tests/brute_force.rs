//! The checker agrees with a brute-force search over all orders on small random
//! histories, including indeterminate operations.

use concord_linearizability::models::{
    Kv, KvInput, KvOutput, Register, RegisterInput, RegisterOutput,
};
use concord_linearizability::{check, CheckOptions, Model, Op, OpId, ProcessId, Verdict};
use proptest::prelude::*;

/// Is there an order of some subset of the indeterminate ops plus all determinate ops,
/// respecting real time, that the model accepts? Tries every permutation.
fn brute_force<M: Model>(model: &M, ops: &[Op<M::Input, M::Output>]) -> bool {
    let indeterminate: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].output.is_none())
        .collect();
    for mask in 0u32..(1 << indeterminate.len()) {
        let included: Vec<usize> = (0..ops.len())
            .filter(|&i| match indeterminate.iter().position(|&j| j == i) {
                Some(bit) => mask & (1 << bit) != 0,
                None => true,
            })
            .collect();
        if orders(
            model,
            ops,
            &included,
            &mut vec![false; ops.len()],
            model.init(),
        ) {
            return true;
        }
    }
    false
}

fn return_time<I, O>(op: &Op<I, O>) -> u64 {
    if op.output.is_some() {
        op.return_time
    } else {
        u64::MAX
    }
}

fn orders<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    included: &[usize],
    done: &mut Vec<bool>,
    state: M::State,
) -> bool {
    let remaining: Vec<usize> = included.iter().copied().filter(|&i| !done[i]).collect();
    if remaining.is_empty() {
        return true;
    }
    for &x in &remaining {
        // x may go next only if no remaining op returned before x was called.
        if remaining
            .iter()
            .any(|&y| return_time(&ops[y]) < ops[x].call_time)
        {
            continue;
        }
        for next in model.step(&state, &ops[x].input, ops[x].output.as_ref()) {
            done[x] = true;
            let found = orders(model, ops, included, done, next);
            done[x] = false;
            if found {
                return true;
            }
        }
    }
    false
}

/// Random intervals: (call, length, indeterminate, input choice, output choice).
fn raw_ops() -> impl Strategy<Value = Vec<(u64, u64, bool, u8, u8)>> {
    prop::collection::vec(
        (
            0u64..12,
            1u64..6,
            prop::bool::weighted(0.25),
            0u8..6,
            0u8..4,
        ),
        1..=7,
    )
}

fn register_ops(raw: &[(u64, u64, bool, u8, u8)]) -> Vec<Op<RegisterInput, RegisterOutput>> {
    raw.iter()
        .enumerate()
        .map(|(i, &(call, len, indeterminate, input, output))| {
            let value = i64::from(output % 3);
            let (input, result) = match input % 3 {
                0 => (
                    RegisterInput::Read,
                    RegisterOutput::Read(if output == 3 { None } else { Some(value) }),
                ),
                1 => (
                    RegisterInput::Write(i64::from(input % 3)),
                    RegisterOutput::Write,
                ),
                _ => (
                    RegisterInput::Cas {
                        expected: i64::from(input % 2),
                        new: value,
                    },
                    RegisterOutput::Cas(output % 2 == 0),
                ),
            };
            Op {
                id: OpId(i),
                process: ProcessId(i as u64 % 3),
                input,
                output: if indeterminate { None } else { Some(result) },
                call_time: call,
                return_time: call + len,
            }
        })
        .collect()
}

fn kv_ops(raw: &[(u64, u64, bool, u8, u8)]) -> Vec<Op<KvInput, KvOutput>> {
    let values = ["", "a", "b", "ab", "ba"];
    raw.iter()
        .enumerate()
        .map(|(i, &(call, len, indeterminate, input, output))| {
            let key = if input >= 4 { "y" } else { "x" }.to_string();
            let (input, result) = match input % 4 {
                0 => (
                    KvInput::Get(key),
                    KvOutput::Get(values[usize::from(output)].to_string()),
                ),
                1 => (
                    KvInput::Put(key, values[1 + usize::from(output % 2)].to_string()),
                    KvOutput::Put,
                ),
                2 => (
                    KvInput::Append(key, values[1 + usize::from(output % 2)].to_string()),
                    KvOutput::Append,
                ),
                _ => (
                    KvInput::Cas {
                        key,
                        expected: values[usize::from(output % 3)].to_string(),
                        new: "b".to_string(),
                    },
                    KvOutput::Cas(output % 2 == 0),
                ),
            };
            Op {
                id: OpId(i),
                process: ProcessId(i as u64 % 2),
                input,
                output: if indeterminate { None } else { Some(result) },
                call_time: call,
                return_time: call + len,
            }
        })
        .collect()
}

fn verdict(linearizable: bool) -> Verdict {
    if linearizable {
        Verdict::Linearizable
    } else {
        Verdict::NotLinearizable
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn register_matches_brute_force(raw in raw_ops(), initial in prop::option::of(0i64..2)) {
        let model = Register { initial };
        let ops = register_ops(&raw);
        let expected = verdict(brute_force(&model, &ops));
        let report = check(&model, &ops, &CheckOptions::default());
        prop_assert_eq!(report.verdict, expected, "ops: {:?}", ops);
        if report.verdict == Verdict::Linearizable {
            // The witness covers every determinate op exactly once.
            let witness: Vec<OpId> = report.partitions[0].linearization.iter().map(|s| s.op).collect();
            for op in ops.iter().filter(|o| o.output.is_some()) {
                prop_assert_eq!(witness.iter().filter(|&&w| w == op.id).count(), 1);
            }
        }
    }

    #[test]
    fn kv_matches_brute_force(raw in raw_ops(), partition in any::<bool>()) {
        let ops = kv_ops(&raw);
        let expected = verdict(brute_force(&Kv, &ops));
        let options = CheckOptions { partition, ..CheckOptions::default() };
        let report = check(&Kv, &ops, &options);
        prop_assert_eq!(report.verdict, expected, "ops: {:?}", ops);
    }
}

#[test]
fn the_brute_force_oracle_can_say_no() {
    // A read of a value never written: the oracle must reject it, or the property above
    // proves nothing.
    let model = Register::cas_register();
    let ops = register_ops(&[(0, 1, false, 0, 2)]);
    assert!(!brute_force(&model, &ops));
    assert_eq!(
        check(&model, &ops, &CheckOptions::default()).verdict,
        Verdict::NotLinearizable
    );
}
