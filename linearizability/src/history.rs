//! Recorded histories: operations with a process, a call and a return, a function, an
//! argument and an outcome, plus the builder the chaos suite uses to record them.

use std::collections::BTreeMap;

use crate::error::HistoryError;
use crate::value::Value;
use serde::Serialize;

/// Index of an operation in its [`History`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct OpId(pub usize);

/// A single-threaded logical client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ProcessId(pub u64);

/// How an operation ended, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No completion recorded yet: at the end of a history this is indeterminate.
    Open,
    /// It definitely happened and returned this value (for reads, the value read).
    Ok(Value),
    /// It definitely did not happen (Jepsen `:fail`): the checker drops it.
    Fail,
    /// Unknown (Jepsen `:info`, a timeout): it may take effect any time after its call,
    /// or never.
    Info,
}

impl Outcome {
    /// The result if the operation is known to have happened; `None` when indeterminate.
    pub fn ok_value(&self) -> Option<&Value> {
        match self {
            Outcome::Ok(value) => Some(value),
            _ => None,
        }
    }
}

/// One operation of a history, before a model gives it types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Its index in the history.
    pub id: OpId,
    /// The client that issued it.
    pub process: ProcessId,
    /// The function name (`read`, `write`, `cas`, `get`, `put`, `append`, `add`).
    pub function: String,
    /// The key for keyed models (`kv`), `None` otherwise.
    pub key: Option<String>,
    /// The argument given at the call.
    pub argument: Value,
    /// How it ended.
    pub outcome: Outcome,
    /// Real time of the call. Only the order of times matters.
    pub call_time: u64,
    /// Real time of the completion event, `None` if none was recorded. The checker treats
    /// an `Info` or `Open` operation as returning at +∞ whatever this says.
    pub return_time: Option<u64>,
    /// 1-based line of the call in the source file (0 when built in memory).
    pub line: usize,
}

/// A history of concurrent operations.
///
/// Build one by hand (this is what the chaos suite does) or read one with
/// [`crate::parse()`]. Times are logical: each builder call advances a counter, so the
/// order of calls is the real-time order.
///
/// ```
/// use concord_linearizability::{History, Value};
/// let mut history = History::new();
/// let write = history.invoke(0, "write", Value::Int(1)).unwrap();
/// let read = history.invoke(1, "read", Value::Nil).unwrap();
/// history.ok(write, Value::Nil).unwrap();
/// history.ok(read, Value::Int(1)).unwrap();
/// assert_eq!(history.operations().len(), 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct History {
    operations: Vec<Operation>,
    clock: u64,
    /// The last operation each process called (it may have completed since): finds a
    /// busy process without scanning the history, which made building a history of n
    /// operations O(n²).
    last_call: BTreeMap<u64, OpId>,
}

impl PartialEq for History {
    fn eq(&self, other: &Self) -> bool {
        self.operations == other.operations && self.clock == other.clock
    }
}

impl Eq for History {}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// All operations, in call order for built histories.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// Records a call of `function(argument)` by `process` with no key.
    pub fn invoke(
        &mut self,
        process: u64,
        function: &str,
        argument: impl Into<Value>,
    ) -> Result<OpId, HistoryError> {
        self.invoke_keyed(process, None, function, argument)
    }

    /// Records a call of `function(key, argument)` by `process`.
    pub fn invoke_keyed(
        &mut self,
        process: u64,
        key: Option<&str>,
        function: &str,
        argument: impl Into<Value>,
    ) -> Result<OpId, HistoryError> {
        if let Some(open) = self
            .last_call
            .get(&process)
            .filter(|op| self.operations[op.0].outcome == Outcome::Open)
        {
            return Err(HistoryError::ProcessBusy {
                process,
                open: open.0,
            });
        }
        self.clock += 1;
        let id = OpId(self.operations.len());
        self.last_call.insert(process, id);
        self.operations.push(Operation {
            id,
            process: ProcessId(process),
            function: function.to_string(),
            key: key.map(str::to_string),
            argument: argument.into(),
            outcome: Outcome::Open,
            call_time: self.clock,
            return_time: None,
            line: 0,
        });
        Ok(id)
    }

    /// Records that `op` happened and returned `result`.
    pub fn ok(&mut self, op: OpId, result: impl Into<Value>) -> Result<(), HistoryError> {
        self.complete(op, Outcome::Ok(result.into()))
    }

    /// Records that `op` definitely did not happen.
    pub fn fail(&mut self, op: OpId) -> Result<(), HistoryError> {
        self.complete(op, Outcome::Fail)
    }

    /// Records that the outcome of `op` is unknown (timeout, crash, disconnect).
    pub fn info(&mut self, op: OpId) -> Result<(), HistoryError> {
        self.complete(op, Outcome::Info)
    }

    fn complete(&mut self, op: OpId, outcome: Outcome) -> Result<(), HistoryError> {
        self.clock += 1;
        let clock = self.clock;
        match self.operations.get_mut(op.0) {
            Some(operation) if operation.outcome == Outcome::Open => {
                operation.outcome = outcome;
                operation.return_time = Some(clock);
                Ok(())
            }
            _ => Err(HistoryError::NotOpen { op: op.0 }),
        }
    }

    /// Appends an operation read from a file; parsers use this.
    pub(crate) fn push(&mut self, mut operation: Operation) -> OpId {
        let id = OpId(self.operations.len());
        operation.id = id;
        // A parsed history may hold several open operations of one process (each an
        // `info` that never completed); the builder only looks at the last.
        self.last_call.insert(operation.process.0, id);
        self.operations.push(operation);
        id
    }

    /// Mutable access for parsers completing operations.
    pub(crate) fn operation_mut(&mut self, id: OpId) -> Option<&mut Operation> {
        self.operations.get_mut(id.0)
    }
}
