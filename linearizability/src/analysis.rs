//! Gluing a recorded [`History`] to a built-in model: import, check, and keep what the
//! reports and the HTML timeline need.

use crate::checker::{check, CheckOptions, CheckReport, Op};
use crate::error::ImportError;
use crate::history::{History, OpId, Outcome, ProcessId};
use crate::model::Import;
use crate::models::{Counter, Kv, Register, Set};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// The built-in models by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// Register starting unwritten (`nil`): Porcupine's etcd logs.
    Register,
    /// Register starting at 0: Knossos's cas-register.
    CasRegister,
    /// Key-value map, partitioned per key.
    Kv,
    /// Counter.
    Counter,
    /// Set.
    Set,
}

impl FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "register" => ModelKind::Register,
            "cas-register" => ModelKind::CasRegister,
            "kv" => ModelKind::Kv,
            "counter" => ModelKind::Counter,
            "set" => ModelKind::Set,
            _ => return Err(format!("unknown model {s:?}")),
        })
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Kv => "kv",
            ModelKind::Counter => "counter",
            ModelKind::Set => "set",
        })
    }
}

/// One operation as displayed.
#[derive(Clone, Debug, Serialize)]
pub struct OpView {
    /// Its id in the recorded history.
    pub id: OpId,
    /// Its process.
    pub process: ProcessId,
    /// Its partition key, if the model partitions.
    pub key: Option<String>,
    /// Call time.
    pub call_time: u64,
    /// Return time; `None` when indeterminate (open-ended).
    pub return_time: Option<u64>,
    /// The model's description of the operation.
    pub description: String,
    /// 1-based source line of the call.
    pub line: usize,
}

/// A check of a recorded history plus what is needed to display it.
#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    /// The model used.
    pub model: String,
    /// The checker's report.
    pub report: CheckReport,
    /// Every operation that took part in the check (failed operations and reads with
    /// unknown results are dropped before checking).
    pub ops: Vec<OpView>,
}

/// Types a recorded history for `model`: drops `Fail` operations and operations the
/// model says cannot matter, and marks `Info`/`Open` ones indeterminate.
#[allow(clippy::type_complexity)]
pub fn import<M: Import>(
    model: &M,
    history: &History,
) -> Result<Vec<Op<M::Input, M::Output>>, ImportError> {
    let mut ops = Vec::with_capacity(history.operations().len());
    for operation in history.operations() {
        let result = match &operation.outcome {
            Outcome::Fail => continue,
            Outcome::Ok(value) => Some(value),
            Outcome::Info | Outcome::Open => None,
        };
        let Some((input, output)) = model.import(operation, result)? else {
            continue;
        };
        let return_time = match (&output, operation.return_time) {
            (Some(_), Some(time)) => time,
            _ => u64::MAX,
        };
        ops.push(Op {
            id: operation.id,
            process: operation.process,
            input,
            output,
            call_time: operation.call_time,
            return_time,
        });
    }
    Ok(ops)
}

fn analyze_with<M: Import>(
    model: &M,
    name: &str,
    history: &History,
    options: &CheckOptions,
) -> Result<Analysis, ImportError> {
    let ops = import(model, history)?;
    let report = check(model, &ops, options);
    let lines: std::collections::HashMap<OpId, usize> = history
        .operations()
        .iter()
        .map(|o| (o.id, o.line))
        .collect();
    let views = ops
        .iter()
        .map(|op| OpView {
            id: op.id,
            process: op.process,
            key: if options.partition {
                model.partition(&op.input)
            } else {
                None
            },
            call_time: op.call_time,
            return_time: op.output.as_ref().map(|_| op.return_time),
            description: model.describe_operation(&op.input, op.output.as_ref()),
            line: lines.get(&op.id).copied().unwrap_or(0),
        })
        .collect();
    Ok(Analysis {
        model: name.to_string(),
        report,
        ops: views,
    })
}

/// Imports `history` for the built-in model `kind` and checks it.
pub fn analyze(
    kind: ModelKind,
    history: &History,
    options: &CheckOptions,
) -> Result<Analysis, ImportError> {
    let name = kind.to_string();
    match kind {
        ModelKind::Register => analyze_with(&Register::etcd(), &name, history, options),
        ModelKind::CasRegister => analyze_with(&Register::cas_register(), &name, history, options),
        ModelKind::Kv => analyze_with(&Kv, &name, history, options),
        ModelKind::Counter => analyze_with(&Counter, &name, history, options),
        ModelKind::Set => analyze_with(&Set, &name, history, options),
    }
}
