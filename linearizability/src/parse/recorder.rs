//! Pairs calls with completions per process while a parser reads events.

use crate::error::ParseError;
use crate::history::{History, OpId, Operation, Outcome, ProcessId};
use crate::value::Value;
use std::collections::HashMap;

/// A completion's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Completion {
    Ok,
    Fail,
    Info,
}

impl Completion {
    fn name(self) -> &'static str {
        match self {
            Completion::Ok => "ok",
            Completion::Fail => "fail",
            Completion::Info => "info",
        }
    }
}

/// Builds a [`History`] from events in real-time order.
#[derive(Default)]
pub(crate) struct Recorder {
    history: History,
    open: HashMap<u64, (OpId, usize)>,
}

impl Recorder {
    pub(crate) fn invoke(
        &mut self,
        line: usize,
        time: u64,
        process: u64,
        function: String,
        key: Option<String>,
        argument: Value,
    ) -> Result<(), ParseError> {
        if let Some(&(_, open_line)) = self.open.get(&process) {
            return Err(ParseError::DoubleInvoke {
                line,
                process,
                open_line,
            });
        }
        let id = self.history.push(Operation {
            id: OpId(0),
            process: ProcessId(process),
            function,
            key,
            argument,
            outcome: Outcome::Open,
            call_time: time,
            return_time: None,
            line,
        });
        self.open.insert(process, (id, line));
        Ok(())
    }

    /// Completes the open call of `process`. `result` is the canonical result for `Ok`.
    pub(crate) fn complete(
        &mut self,
        line: usize,
        time: u64,
        process: u64,
        kind: Completion,
        function: &str,
        result: Value,
    ) -> Result<(), ParseError> {
        let Some((id, _)) = self.open.remove(&process) else {
            return Err(ParseError::UnmatchedReturn {
                line,
                process,
                kind: kind.name().to_string(),
            });
        };
        let Some(operation) = self.history.operation_mut(id) else {
            return Err(ParseError::UnmatchedReturn {
                line,
                process,
                kind: kind.name().to_string(),
            });
        };
        if operation.function != function {
            return Err(ParseError::FunctionMismatch {
                line,
                process,
                expected: operation.function.clone(),
                found: function.to_string(),
            });
        }
        if time < operation.call_time {
            return Err(ParseError::Syntax {
                line,
                reason: format!(
                    "completion time {time} is before its call's time {}",
                    operation.call_time
                ),
            });
        }
        operation.outcome = match kind {
            Completion::Ok => Outcome::Ok(result),
            Completion::Fail => Outcome::Fail,
            Completion::Info => Outcome::Info,
        };
        operation.return_time = Some(time);
        Ok(())
    }

    /// The history; calls still open stay `Open` (indeterminate).
    pub(crate) fn finish(self) -> History {
        self.history
    }
}
