//! Typed errors for parsing, importing and building histories.

use thiserror::Error;

/// Why a history file could not be read. Every variant names the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The text is not well formed for the format (truncated, garbage, wrong types).
    #[error("line {line}: {reason}")]
    Syntax {
        /// 1-based line of the offending text.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A completion (`ok`, `fail`, `info`) for a process with no open call.
    #[error("line {line}: {kind} from process {process} has no matching open call")]
    UnmatchedReturn {
        /// 1-based line.
        line: usize,
        /// The process named by the completion.
        process: u64,
        /// The completion type.
        kind: String,
    },
    /// An invoke by a process that already has an open call.
    #[error("line {line}: process {process} invoked again while its call from line {open_line} is still open")]
    DoubleInvoke {
        /// 1-based line.
        line: usize,
        /// The process.
        process: u64,
        /// Where the open call was made.
        open_line: usize,
    },
    /// The completion names a different function than its call.
    #[error("line {line}: completion of process {process} is for {found:?} but its open call is {expected:?}")]
    FunctionMismatch {
        /// 1-based line.
        line: usize,
        /// The process.
        process: u64,
        /// The function of the open call.
        expected: String,
        /// The function of the completion.
        found: String,
    },
}

impl ParseError {
    /// The 1-based line the error refers to.
    pub fn line(&self) -> usize {
        match self {
            ParseError::Syntax { line, .. }
            | ParseError::UnmatchedReturn { line, .. }
            | ParseError::DoubleInvoke { line, .. }
            | ParseError::FunctionMismatch { line, .. } => *line,
        }
    }
}

/// Why an operation cannot be given to a model (unknown function, wrong argument type).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {reason}")]
pub struct ImportError {
    /// 1-based line of the operation's call in the source file (0 if built in memory).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Misuse of the [`crate::History`] builder.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// The process already has an open call.
    #[error("process {process} already has an open call (operation {open})")]
    ProcessBusy {
        /// The process.
        process: u64,
        /// The open operation's id.
        open: usize,
    },
    /// The operation id does not exist or was already completed.
    #[error("operation {op} is not open")]
    NotOpen {
        /// The operation id.
        op: usize,
    },
}
