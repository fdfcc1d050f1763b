//! Wing–Gong/Lowe just-in-time linearization of one partition, with a cache of explored
//! (linearized set, state) pairs (see ../shared/VERIFICATION.md §4.2 and
//! docs/linearizability.md "Algorithm").

use crate::bitset::Bitset;
use crate::model::Model;
use rustc_hash::FxHashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// One operation as the search sees it.
pub(crate) struct SearchOp<'a, M: Model> {
    pub(crate) input: &'a M::Input,
    /// `None`: the outcome is unknown and the operation returns at +∞.
    pub(crate) output: Option<&'a M::Output>,
    pub(crate) call_time: u64,
    pub(crate) return_time: u64,
}

/// What the search of one partition proved.
pub(crate) enum SearchOutcome<S> {
    /// A full linearization: operation indices (local) with the state after each.
    Linearizable(Vec<(usize, S)>),
    /// No linearization exists. The longest partial one and the operations that could not
    /// be placed after it.
    Illegal {
        longest: Vec<(usize, S)>,
        blocking: Vec<usize>,
    },
    /// Stopped by the timeout or because another partition failed.
    Unknown { longest: Vec<(usize, S)> },
}

const NONE: usize = usize::MAX;
/// How many loop iterations between two checks of the kill switch and the deadline.
const STOP_CHECK_INTERVAL: u64 = 1 << 10;

/// The doubly-linked event list. Node `len` is the sentinel head.
struct EventList {
    next: Vec<usize>,
    prev: Vec<usize>,
    /// For a call node, its return node (or NONE if the operation never returns).
    /// For a return node, NONE.
    matching_return: Vec<usize>,
    is_call: Vec<bool>,
    op_of: Vec<usize>,
    head: usize,
}

impl EventList {
    fn build<M: Model>(ops: &[SearchOp<'_, M>]) -> EventList {
        // (time, 0 = call / 1 = return, op): calls sort before returns on equal times,
        // which makes touching operations concurrent (the permissive reading).
        let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
        for (index, op) in ops.iter().enumerate() {
            events.push((op.call_time, 0, index));
            if op.output.is_some() {
                events.push((op.return_time, 1, index));
            }
        }
        events.sort_unstable();
        let len = events.len();
        let head = len;
        let mut list = EventList {
            next: vec![NONE; len + 1],
            prev: vec![NONE; len + 1],
            matching_return: vec![NONE; len],
            is_call: vec![false; len],
            op_of: vec![0; len],
            head,
        };
        let mut call_node = vec![NONE; ops.len()];
        let mut previous = head;
        for (node, &(_, kind, op)) in events.iter().enumerate() {
            list.next[previous] = node;
            list.prev[node] = previous;
            list.op_of[node] = op;
            if kind == 0 {
                list.is_call[node] = true;
                call_node[op] = node;
            } else if let Some(&call) = call_node.get(op) {
                if call != NONE {
                    list.matching_return[call] = node;
                }
            }
            previous = node;
        }
        list
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        if next != NONE {
            self.prev[next] = prev;
        }
    }

    fn relink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        if next != NONE {
            self.prev[next] = node;
        }
    }

    /// Removes a call and its return from the list.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        let ret = self.matching_return[call];
        if ret != NONE {
            self.unlink(ret);
        }
    }

    /// Undoes [`EventList::lift`]; must be called in reverse order of lifts.
    fn unlift(&mut self, call: usize) {
        let ret = self.matching_return[call];
        if ret != NONE {
            self.relink(ret);
        }
        self.relink(call);
    }
}

/// A cheap pseudo-random 64-bit value per operation, XORed into the linearized set's hash.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The explored (linearized set, state) pairs. A compact hash table maps a combined hash
/// of the linearized set (maintained incrementally) and the state to the first entry of a
/// chain in an arena; entries are compared in full, so a hash collision can never prune an
/// unexplored configuration. Keeping the table small makes its probes cache-friendly.
struct Cache<S> {
    heads: FxHashMap<u64, u32>,
    entries: Vec<CacheEntry<S>>,
}

struct CacheEntry<S> {
    linearized: Bitset,
    state: S,
    /// The next entry with the same hash, or `u32::MAX`.
    next: u32,
}

impl<S: Eq + Hash + Clone> Cache<S> {
    fn new() -> Self {
        Cache {
            heads: FxHashMap::default(),
            entries: Vec::new(),
        }
    }

    /// Inserts the pair; `false` if it was already there.
    fn insert(&mut self, linearized: &Bitset, linearized_hash: u64, state: &S) -> bool {
        let mut hasher = rustc_hash::FxHasher::default();
        state.hash(&mut hasher);
        let key = hasher.finish() ^ linearized_hash;
        let new_index = self.entries.len() as u32;
        let head = self.heads.entry(key).or_insert(u32::MAX);
        let mut cursor = *head;
        while let Some(entry) = self.entries.get(cursor as usize) {
            if entry.state == *state && entry.linearized == *linearized {
                return false;
            }
            cursor = entry.next;
        }
        let next = *head;
        *head = new_index;
        self.entries.push(CacheEntry {
            linearized: linearized.clone(),
            state: state.clone(),
            next,
        });
        true
    }
}

/// One frame of the search stack: a linearized call and the state before it.
struct Frame<S> {
    call: usize,
    state_before: S,
    /// Whether the step had other possible next states worth retrying on backtrack.
    had_alternatives: bool,
}

/// Searches for a linearization of `ops` (one partition).
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[SearchOp<'_, M>],
    stop: &AtomicBool,
    deadline: Option<Instant>,
) -> SearchOutcome<M::State> {
    let mut list = EventList::build(ops);
    let op_hash: Vec<u64> = (0..ops.len() as u64).map(splitmix64).collect();
    let mut linearized = Bitset::new(ops.len());
    let mut linearized_hash = 0u64;
    let mut cache = Cache::new();
    let mut stack: Vec<Frame<M::State>> = Vec::new();
    let mut state = model.init();
    let mut determinate_left = ops.iter().filter(|op| op.output.is_some()).count();
    let mut longest: Vec<(usize, M::State)> = Vec::new();
    let mut blocking: Vec<usize> = Vec::new();
    let mut iterations: u64 = 0;
    let mut node = list.next[list.head];

    // Invariant: `linearized` holds exactly the operations of the frames on `stack`, and
    // `state` is the model state after applying them in stack order.
    loop {
        if determinate_left == 0 {
            return SearchOutcome::Linearizable(witness(&stack, &state, &list));
        }
        iterations += 1;
        if iterations.is_multiple_of(STOP_CHECK_INTERVAL)
            && (stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d))
        {
            return SearchOutcome::Unknown { longest };
        }
        if node != NONE && list.is_call[node] {
            let op_index = list.op_of[node];
            let op = &ops[op_index];
            let nexts = model.step(&state, op.input, op.output);
            let had_alternatives = nexts.len() > 1;
            linearized.set(op_index);
            let mut advanced = false;
            for next_state in nexts {
                if cache.insert(
                    &linearized,
                    linearized_hash ^ op_hash[op_index],
                    &next_state,
                ) {
                    let state_before = std::mem::replace(&mut state, next_state);
                    stack.push(Frame {
                        call: node,
                        state_before,
                        had_alternatives,
                    });
                    linearized_hash ^= op_hash[op_index];
                    if op.output.is_some() {
                        determinate_left -= 1;
                    }
                    list.lift(node);
                    advanced = true;
                    break;
                }
            }
            if advanced {
                if stack.len() > longest.len() {
                    longest = witness(&stack, &state, &list);
                    blocking.clear();
                }
                node = list.next[list.head];
            } else {
                linearized.clear(op_index);
                node = list.next[node];
            }
        } else {
            // A return (or the end of the list): the operation it belongs to had to be
            // linearized before this point and was not. Dead end: backtrack.
            if stack.len() == longest.len() && blocking.is_empty() && node != NONE {
                blocking.push(list.op_of[node]);
            }
            let Some(frame) = stack.pop() else {
                if blocking.is_empty() && node != NONE {
                    blocking.push(list.op_of[node]);
                }
                return SearchOutcome::Illegal { longest, blocking };
            };
            let op_index = list.op_of[frame.call];
            linearized.clear(op_index);
            linearized_hash ^= op_hash[op_index];
            if ops[op_index].output.is_some() {
                determinate_left += 1;
            }
            state = frame.state_before;
            list.unlift(frame.call);
            // Retry the same call if it had other possible next states: the ones already
            // explored are in the cache, so the next untried one is picked.
            node = if frame.had_alternatives {
                frame.call
            } else {
                list.next[frame.call]
            };
        }
    }
}

/// The operations on the stack with the state after each.
fn witness<S: Clone>(stack: &[Frame<S>], state: &S, list: &EventList) -> Vec<(usize, S)> {
    stack
        .iter()
        .enumerate()
        .map(|(depth, frame)| {
            let after = stack
                .get(depth + 1)
                .map_or_else(|| state.clone(), |next| next.state_before.clone());
            (list.op_of[frame.call], after)
        })
        .collect()
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
