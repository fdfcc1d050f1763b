//! Wing–Gong/Lowe just-in-time linearization of one partition, with a cache of explored
//! (linearized set, state) pairs (see ../shared/VERIFICATION.md §4.2 and
//! docs/linearizability.md "Algorithm").

use crate::bitset::Bitset;
use crate::checker::UnknownCause;
use crate::memory::MemoryBudget;
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
    /// Stopped before a verdict: timeout, memory budget, or another partition failed.
    Unknown {
        longest: Vec<(usize, S)>,
        cause: UnknownCause,
    },
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
    /// What the entries own on the heap (spilled bitsets, state contents).
    heap_bytes: usize,
}

struct CacheEntry<S> {
    linearized: Bitset,
    state: S,
    /// The next entry with the same hash, or `u32::MAX`.
    next: u32,
}

/// Bytes one slot of the hash table costs: the (hash, head) pair, hashbrown's control
/// byte, and the slack of its 7/8 load factor.
const TABLE_SLOT_BYTES: usize = (std::mem::size_of::<(u64, u32)>() + 1) * 8 / 7 + 1;

impl<S: Eq + Hash + Clone> Cache<S> {
    fn new() -> Self {
        Cache {
            heads: FxHashMap::default(),
            entries: Vec::new(),
            heap_bytes: 0,
        }
    }

    /// Inserts the pair; `false` if it was already there. `state_heap_bytes` is what the
    /// state owns on the heap (for the memory estimate).
    fn insert(
        &mut self,
        linearized: &Bitset,
        linearized_hash: u64,
        state: &S,
        state_heap_bytes: usize,
    ) -> bool {
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
        self.heap_bytes += linearized.heap_bytes() + state_heap_bytes;
        self.entries.push(CacheEntry {
            linearized: linearized.clone(),
            state: state.clone(),
            next,
        });
        true
    }

    /// The memory held, estimated from capacities.
    fn footprint_bytes(&self) -> usize {
        self.heads.capacity() * TABLE_SLOT_BYTES
            + self.entries.capacity() * std::mem::size_of::<CacheEntry<S>>()
            + self.heap_bytes
    }

    /// The bytes the next insert would newly allocate if the table or the arena is full
    /// (both double; the old allocation lives until the move is done); 0 otherwise.
    fn growth_bytes(&self) -> usize {
        let mut growth = 0;
        if self.heads.len() >= self.heads.capacity() {
            growth += (self.heads.capacity().max(4) * 2) * TABLE_SLOT_BYTES;
        }
        if self.entries.len() >= self.entries.capacity() {
            growth += self.entries.capacity().max(4) * 2 * std::mem::size_of::<CacheEntry<S>>();
        }
        growth
    }
}

/// One frame of the search stack: a linearized call and the state before it.
struct Frame<S> {
    call: usize,
    state_before: S,
    /// Whether the step had other possible next states worth retrying on backtrack.
    had_alternatives: bool,
}

/// The search of one partition, resumable: [`Search::run`] works for a bounded number of
/// iterations and can be called again, so a scheduler can interleave partitions (a
/// cheap illegal partition is then found before a huge one is exhausted).
pub(crate) struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [SearchOp<'a, M>],
    memory: &'a MemoryBudget,
    list: EventList,
    op_hash: Vec<u64>,
    linearized: Bitset,
    linearized_hash: u64,
    cache: Cache<M::State>,
    stack: Vec<Frame<M::State>>,
    state: M::State,
    determinate_left: usize,
    /// The longest partial linearization, once the search has backtracked below it.
    longest: Vec<(usize, M::State)>,
    /// Its length. While `longest_live`, it is the bottom `longest_len` frames of the
    /// stack and is copied out only when a backtrack is about to pop one of them: copying
    /// at every new record made a linearizable history of n operations cost O(n²).
    longest_len: usize,
    longest_live: bool,
    blocking: Vec<usize>,
    node: usize,
    iterations: u64,
    /// Bytes this search has added to `memory` (its last published footprint).
    published_bytes: usize,
    /// Bytes of the structures sized by the partition (event list, hashes, bitset).
    fixed_bytes: usize,
}

impl<'a, M: Model> Search<'a, M> {
    /// Prepares the search of `ops` (one partition); its memory counts against `memory`.
    pub(crate) fn new(model: &'a M, ops: &'a [SearchOp<'a, M>], memory: &'a MemoryBudget) -> Self {
        let list = EventList::build(ops);
        let node = list.next[list.head];
        let fixed_bytes = ops.len() * (2 * 5 * std::mem::size_of::<usize>() + 8 + 8);
        Search {
            model,
            ops,
            memory,
            list,
            op_hash: (0..ops.len() as u64).map(splitmix64).collect(),
            linearized: Bitset::new(ops.len()),
            linearized_hash: 0,
            cache: Cache::new(),
            stack: Vec::new(),
            state: model.init(),
            determinate_left: ops.iter().filter(|op| op.output.is_some()).count(),
            longest: Vec::new(),
            longest_len: 0,
            longest_live: false,
            blocking: Vec::new(),
            node,
            iterations: 0,
            published_bytes: 0,
            fixed_bytes,
        }
    }

    /// Searches for up to `iterations_max` more iterations. `None`: not decided yet, call
    /// again. Stops with `Unknown` when `stop` is set, the deadline passes or the memory
    /// budget would be exceeded.
    pub(crate) fn run(
        &mut self,
        iterations_max: u64,
        stop: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Option<SearchOutcome<M::State>> {
        if let Some(cause) = self.check_limits(stop, deadline, 0) {
            return Some(self.give_up(cause));
        }
        let end = self.iterations.saturating_add(iterations_max);
        // Invariant: `linearized` holds exactly the operations of the frames on `stack`,
        // and `state` is the model state after applying them in stack order.
        loop {
            if self.determinate_left == 0 {
                return Some(SearchOutcome::Linearizable(witness(
                    &self.stack,
                    &self.state,
                    &self.list,
                )));
            }
            self.iterations += 1;
            if self.iterations.is_multiple_of(STOP_CHECK_INTERVAL) {
                if let Some(cause) = self.check_limits(stop, deadline, 0) {
                    return Some(self.give_up(cause));
                }
                if self.iterations >= end {
                    return None;
                }
            }
            let node = self.node;
            if node != NONE && self.list.is_call[node] {
                if let Some(cause) = self.try_linearize(node, stop, deadline) {
                    return Some(self.give_up(cause));
                }
            } else if let Some(outcome) = self.backtrack(node) {
                return Some(outcome);
            }
        }
    }

    /// Tries to linearize the call at `node` next; on success descends, else moves on.
    fn try_linearize(
        &mut self,
        node: usize,
        stop: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Option<UnknownCause> {
        let op_index = self.list.op_of[node];
        let op = &self.ops[op_index];
        let nexts = self.model.step(&self.state, op.input, op.output);
        let had_alternatives = nexts.len() > 1;
        self.linearized.set(op_index);
        let mut advanced = false;
        for next_state in nexts {
            // A full table or arena doubles on the next insert: make sure that fits.
            let growth = self.cache.growth_bytes();
            if growth > 0 {
                if let Some(cause) = self.check_limits(stop, deadline, growth) {
                    self.linearized.clear(op_index);
                    return Some(cause);
                }
            }
            let state_bytes = self.model.state_heap_bytes(&next_state);
            if self.cache.insert(
                &self.linearized,
                self.linearized_hash ^ self.op_hash[op_index],
                &next_state,
                state_bytes,
            ) {
                let state_before = std::mem::replace(&mut self.state, next_state);
                self.stack.push(Frame {
                    call: node,
                    state_before,
                    had_alternatives,
                });
                self.linearized_hash ^= self.op_hash[op_index];
                if op.output.is_some() {
                    self.determinate_left -= 1;
                }
                self.list.lift(node);
                advanced = true;
                break;
            }
        }
        if advanced {
            if self.stack.len() > self.longest_len {
                self.longest_len = self.stack.len();
                self.longest_live = true;
                self.blocking.clear();
            }
            self.node = self.list.next[self.list.head];
        } else {
            self.linearized.clear(op_index);
            self.node = self.list.next[node];
        }
        None
    }

    /// A return (or the end of the list) at `node`: the operation it belongs to had to be
    /// linearized before this point and was not. Dead end: backtrack, or prove there is
    /// no linearization when nothing is left to undo.
    fn backtrack(&mut self, node: usize) -> Option<SearchOutcome<M::State>> {
        if self.stack.len() == self.longest_len && self.blocking.is_empty() && node != NONE {
            self.blocking.push(self.list.op_of[node]);
        }
        self.save_longest();
        let Some(frame) = self.stack.pop() else {
            if self.blocking.is_empty() && node != NONE {
                self.blocking.push(self.list.op_of[node]);
            }
            return Some(SearchOutcome::Illegal {
                longest: std::mem::take(&mut self.longest),
                blocking: std::mem::take(&mut self.blocking),
            });
        };
        let op_index = self.list.op_of[frame.call];
        self.linearized.clear(op_index);
        self.linearized_hash ^= self.op_hash[op_index];
        if self.ops[op_index].output.is_some() {
            self.determinate_left += 1;
        }
        self.state = frame.state_before;
        self.list.unlift(frame.call);
        // Retry the same call if it had other possible next states: the ones already
        // explored are in the cache, so the next untried one is picked.
        self.node = if frame.had_alternatives {
            frame.call
        } else {
            self.list.next[frame.call]
        };
        None
    }

    /// Why the search must stop now, if it must. `extra_bytes` is an allocation about to
    /// happen. Publishes this search's footprint to the shared budget (cheap: a few
    /// loads and one atomic add, every `STOP_CHECK_INTERVAL` iterations or before a
    /// table grows).
    fn check_limits(
        &mut self,
        stop: &AtomicBool,
        deadline: Option<Instant>,
        extra_bytes: usize,
    ) -> Option<UnknownCause> {
        if stop.load(Ordering::Relaxed) {
            return Some(UnknownCause::Cancelled);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(UnknownCause::Timeout);
        }
        let footprint = self.footprint_bytes();
        let total = self.memory.replace(self.published_bytes, footprint);
        self.published_bytes = footprint;
        if total.saturating_add(extra_bytes as u64) > self.memory.limit_bytes {
            return Some(UnknownCause::MemoryLimit);
        }
        None
    }

    /// An estimate of the memory this search holds, from capacities (O(1)).
    fn footprint_bytes(&self) -> usize {
        let frame = std::mem::size_of::<Frame<M::State>>();
        let step = std::mem::size_of::<(usize, M::State)>();
        // While the longest linearization lives on the stack, count what copying it out
        // will take.
        let longest_heap: usize = self
            .longest
            .last()
            .map_or_else(
                || self.model.state_heap_bytes(&self.state),
                |(_, state)| self.model.state_heap_bytes(state),
            )
            .saturating_mul(self.longest_len.max(self.longest.len()));
        self.fixed_bytes
            + self.cache.footprint_bytes()
            + self.stack.capacity() * frame
            + self.longest.capacity().max(self.longest_len) * step
            + longest_heap
    }

    /// Copies the longest partial linearization out of the stack while the stack still
    /// holds it.
    fn save_longest(&mut self) {
        if self.longest_live && self.stack.len() == self.longest_len {
            self.longest = witness(&self.stack, &self.state, &self.list);
            self.longest_live = false;
        }
    }

    /// Stops the search: frees its memory and reports the longest partial linearization.
    fn give_up(&mut self, cause: UnknownCause) -> SearchOutcome<M::State> {
        self.save_longest();
        self.cache = Cache::new();
        self.stack = Vec::new();
        self.publish_release();
        SearchOutcome::Unknown {
            longest: std::mem::take(&mut self.longest),
            cause,
        }
    }

    fn publish_release(&mut self) {
        self.memory.replace(self.published_bytes, 0);
        self.published_bytes = 0;
    }
}

impl<M: Model> Drop for Search<'_, M> {
    fn drop(&mut self) {
        self.publish_release();
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
