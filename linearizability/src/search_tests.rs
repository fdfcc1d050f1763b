//! Unit tests for the search: the cache never merges configurations on a hash
//! collision; the memory budget stops a search and gets its share back; a paused search
//! resumes to the same verdict.

use super::{Cache, Search, SearchOp, SearchOutcome};
use crate::bitset::Bitset;
use crate::checker::UnknownCause;
use crate::memory::MemoryBudget;
use crate::models::{Register, RegisterInput, RegisterOutput};
use std::sync::atomic::AtomicBool;

#[test]
fn colliding_entries_are_kept_apart() {
    let mut cache: Cache<u8> = Cache::new();
    let mut first = Bitset::new(3);
    first.set(0);
    let mut second = Bitset::new(3);
    second.set(1);
    let mut third = Bitset::new(3);
    third.set(2);
    // Same state and the same (forced) set hash: all three share one chain.
    assert!(cache.insert(&first, 42, &7, 0));
    assert!(cache.insert(&second, 42, &7, 0));
    assert!(!cache.insert(&first, 42, &7, 0));
    assert!(!cache.insert(&second, 42, &7, 0));
    assert!(cache.insert(&third, 42, &7, 0));
    assert!(!cache.insert(&third, 42, &7, 0));
    // A different state with the same set is a different configuration.
    assert!(cache.insert(&first, 42, &8, 0));
    assert_eq!(cache.entries.len(), 4);
}

/// `writes` concurrent writes of 1..=writes that all return, then a read of a value none
/// wrote: refuting it explores every (subset, last value) pair, `writes * 2^(writes-1)`.
fn hopeless_register(writes: i64) -> (Vec<RegisterInput>, Vec<RegisterOutput>) {
    let mut inputs: Vec<RegisterInput> = (1..=writes).map(RegisterInput::Write).collect();
    let mut outputs: Vec<RegisterOutput> = (1..=writes).map(|_| RegisterOutput::Write).collect();
    inputs.push(RegisterInput::Read);
    outputs.push(RegisterOutput::Read(Some(-1)));
    (inputs, outputs)
}

fn search_ops<'a>(
    inputs: &'a [RegisterInput],
    outputs: &'a [RegisterOutput],
) -> Vec<SearchOp<'a, Register>> {
    let writes = inputs.len() as u64 - 1;
    inputs
        .iter()
        .zip(outputs)
        .enumerate()
        .map(|(i, (input, output))| {
            let i = i as u64;
            let (call_time, return_time) = if i < writes {
                (i, writes + i) // all calls, then all returns: all overlap
            } else {
                (2 * writes, 2 * writes + 1)
            };
            SearchOp {
                input,
                output: Some(output),
                call_time,
                return_time,
            }
        })
        .collect()
}

#[test]
fn a_search_past_its_budget_stops_unknown_and_gives_its_share_back() {
    let model = Register::cas_register();
    let (inputs, outputs) = hopeless_register(22);
    let ops = search_ops(&inputs, &outputs);
    let budget = MemoryBudget::new(4 << 20);
    let stop = AtomicBool::new(false);
    let mut search = Search::new(&model, &ops, &budget);
    let outcome = loop {
        if let Some(outcome) = search.run(1 << 16, &stop, None) {
            break outcome;
        }
        assert!(budget.used_bytes() <= 4 << 20, "the budget was overrun");
    };
    assert!(matches!(
        outcome,
        SearchOutcome::Unknown {
            cause: UnknownCause::MemoryLimit,
            ..
        }
    ));
    assert_eq!(budget.used_bytes(), 0, "a stopped search keeps no share");
    drop(search);
    assert_eq!(budget.used_bytes(), 0);
}

#[test]
fn slices_of_any_size_reach_the_same_verdict() {
    let model = Register::cas_register();
    let (inputs, outputs) = hopeless_register(8);
    let ops = search_ops(&inputs, &outputs);
    let budget = MemoryBudget::new(u64::MAX);
    let stop = AtomicBool::new(false);
    for slice in [1 << 10, 1 << 12, u64::MAX] {
        let mut search = Search::new(&model, &ops, &budget);
        let mut slices = 0;
        let outcome = loop {
            slices += 1;
            if let Some(outcome) = search.run(slice, &stop, None) {
                break outcome;
            }
        };
        match outcome {
            SearchOutcome::Illegal { blocking, .. } => assert_eq!(blocking, vec![8]),
            _ => panic!("slice {slice}: expected illegal"),
        }
        if slice == 1 << 10 {
            assert!(slices > 1, "the search was never paused");
        }
        assert!(budget.used_bytes() > 0, "a live search holds its share");
        drop(search);
        assert_eq!(budget.used_bytes(), 0, "a dropped search keeps no share");
    }
}
