//! Differential test against stateright's `LinearizabilityTester` on random register
//! histories.

use concord_linearizability::models::{Register, RegisterInput, RegisterOutput};
use concord_linearizability::{check, CheckOptions, Op, OpId, ProcessId, Verdict};
use proptest::prelude::*;
use stateright::semantics::register::{Register as SrRegister, RegisterOp, RegisterRet};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};

/// A schedule step: thread, and for an invoke the op choice, for a return the value read.
fn schedule() -> impl Strategy<Value = Vec<(u8, u8, u8)>> {
    prop::collection::vec((0u8..3, 0u8..4, 0u8..3), 1..14)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn register_verdicts_match_stateright(steps in schedule()) {
        let mut tester = LinearizabilityTester::new(SrRegister(0u64));
        let mut ops: Vec<Op<RegisterInput, RegisterOutput>> = Vec::new();
        // Per thread: the index of its in-flight op.
        let mut in_flight: [Option<usize>; 3] = [None; 3];
        for (time, &(thread, choice, value)) in steps.iter().enumerate() {
            let time = time as u64;
            let t = usize::from(thread);
            match in_flight[t] {
                None => {
                    let (sr_op, input) = if choice < 2 {
                        (RegisterOp::Write(u64::from(value) + 1), RegisterInput::Write(i64::from(value) + 1))
                    } else {
                        (RegisterOp::Read, RegisterInput::Read)
                    };
                    tester.on_invoke(thread, sr_op).expect("valid history");
                    in_flight[t] = Some(ops.len());
                    ops.push(Op {
                        id: OpId(ops.len()),
                        process: ProcessId(u64::from(thread)),
                        input,
                        output: None,
                        call_time: time,
                        return_time: u64::MAX,
                    });
                }
                Some(index) => {
                    let (sr_ret, output) = match ops[index].input {
                        RegisterInput::Read => (RegisterRet::ReadOk(u64::from(value)), RegisterOutput::Read(Some(i64::from(value)))),
                        _ => (RegisterRet::WriteOk, RegisterOutput::Write),
                    };
                    tester.on_return(thread, sr_ret).expect("valid history");
                    ops[index].output = Some(output);
                    ops[index].return_time = time;
                    in_flight[t] = None;
                }
            }
        }
        // Ops still in flight are indeterminate in both checkers.
        let theirs = tester.serialized_history().is_some();
        let ours = check(&Register::cas_register(), &ops, &CheckOptions::default()).verdict;
        let expected = if theirs { Verdict::Linearizable } else { Verdict::NotLinearizable };
        prop_assert_eq!(ours, expected, "ops: {:?}", ops);
    }
}
