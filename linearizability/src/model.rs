//! The sequential specification a history is checked against.

use crate::error::ImportError;
use crate::history::Operation;
use smallvec::SmallVec;
use std::fmt::Debug;
use std::hash::Hash;

/// The possible next states of one step: empty means the step is illegal. Most steps have
/// exactly one; an operation with an unknown outcome may have several.
pub type Steps<S> = SmallVec<[S; 2]>;

/// A sequential specification: an initial state and a step relation.
///
/// States must be cheap to clone, compare and hash: the checker caches every
/// (linearized set, state) pair it has explored.
pub trait Model: Sync {
    /// The model's state.
    type State: Clone + Eq + Hash + Debug + Send + Sync;
    /// An operation's input (function and argument).
    type Input: Clone + Debug + Send + Sync;
    /// An operation's output (result).
    type Output: Clone + Debug + Send + Sync;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Every state the object may be in after applying `input` in `state` and returning
    /// `output`. `output` is `None` when the outcome is unknown: then every output must be
    /// accepted. An empty result means the step is illegal.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Steps<Self::State>;

    /// The partition an operation belongs to, for P-compositional models (a kv map is
    /// partitioned by key). Operations in different partitions must be independent.
    /// `None` (the default) puts everything in one partition.
    fn partition(&self, _input: &Self::Input) -> Option<String> {
        None
    }

    /// Bytes `state` owns on the heap beyond its inline size, for the checker's memory
    /// budget ([`crate::CheckOptions::max_memory_bytes`]). An estimate is enough; the
    /// default 0 suits states that own nothing (integers, options).
    fn state_heap_bytes(&self, _state: &Self::State) -> usize {
        0
    }

    /// A human-readable description of a state, for reports and the HTML timeline.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }

    /// A human-readable description of an operation.
    fn describe_operation(&self, input: &Self::Input, output: Option<&Self::Output>) -> String {
        match output {
            Some(output) => format!("{input:?} -> {output:?}"),
            None => format!("{input:?} -> ?"),
        }
    }
}

/// A model that can type the untyped operations of a recorded [`crate::History`].
pub trait Import: Model {
    /// Converts one recorded operation whose outcome is `Ok` (`Some(result)`) or unknown
    /// (`None`). `Ok(None)` drops the operation because it cannot affect the verdict
    /// (for example a read with an unknown result).
    #[allow(clippy::type_complexity)]
    fn import(
        &self,
        operation: &Operation,
        result: Option<&crate::value::Value>,
    ) -> Result<Option<(Self::Input, Option<Self::Output>)>, ImportError>;
}
