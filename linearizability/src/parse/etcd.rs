//! Porcupine's etcd logs: `INFO  jepsen.util - <process> <type> <f> <value>`.
//!
//! Semantics (shared/data/histories/README.md): `:fail :cas` compared and failed (it
//! happened, changing nothing); `:fail :read` and `:info` are unknown; a `nil` read means
//! "never written".

use super::recorder::{Completion, Recorder};
use crate::error::ParseError;
use crate::history::History;
use crate::value::Value;

pub(crate) fn parse(text: &str) -> Result<History, ParseError> {
    let mut recorder = Recorder::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let syntax = |reason: String| ParseError::Syntax { line, reason };
        let Some((_, event)) = trimmed.split_once(" - ") else {
            return Err(syntax(format!(
                "expected 'INFO  jepsen.util - <process> <type> <f> <value>', got {trimmed:?}"
            )));
        };
        let fields: Vec<&str> = event.split_whitespace().collect();
        if fields.len() < 3 {
            return Err(syntax(format!(
                "expected '<process> <type> <f> <value>', got {event:?}"
            )));
        }
        let process: u64 = fields[0].parse().map_err(|_| {
            syntax(format!(
                "process {:?} is not a non-negative integer",
                fields[0]
            ))
        })?;
        let function = fields[2]
            .strip_prefix(':')
            .ok_or_else(|| syntax(format!("function {:?} is not a keyword", fields[2])))?;
        if !matches!(function, "read" | "write" | "cas") {
            return Err(syntax(format!(
                "unknown function {function:?} (expected read, write, cas)"
            )));
        }
        let value_text = fields[3..].join(" ");
        let value =
            parse_value(&value_text).ok_or_else(|| syntax(format!("bad value {value_text:?}")))?;
        let time = line as u64;
        match fields[1] {
            ":invoke" => {
                let argument = if function == "read" {
                    Value::Nil
                } else {
                    value
                };
                recorder.invoke(line, time, process, function.to_string(), None, argument)?;
            }
            ":ok" => {
                let result = match function {
                    "read" => value,
                    "cas" => Value::Bool(true),
                    _ => Value::Nil,
                };
                recorder.complete(line, time, process, Completion::Ok, function, result)?;
            }
            ":fail" if function == "cas" => {
                recorder.complete(
                    line,
                    time,
                    process,
                    Completion::Ok,
                    function,
                    Value::Bool(false),
                )?;
            }
            // A failed read or write in these logs is a timeout: unknown.
            ":fail" | ":info" => {
                recorder.complete(line, time, process, Completion::Info, function, Value::Nil)?;
            }
            other => {
                return Err(syntax(format!(
                    "unknown event type {other:?} (expected :invoke, :ok, :fail, :info)"
                )))
            }
        }
    }
    Ok(recorder.finish())
}

/// `nil`, an integer, `:keyword`, or `[a b]`.
fn parse_value(text: &str) -> Option<Value> {
    let text = text.trim();
    if text.is_empty() || text == "nil" {
        return Some(Value::Nil);
    }
    if let Some(keyword) = text.strip_prefix(':') {
        return Some(Value::Str(keyword.to_string()));
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return inner
            .split_whitespace()
            .map(|item| parse_value(item).filter(|v| !matches!(v, Value::List(_))))
            .collect::<Option<Vec<_>>>()
            .map(Value::List);
    }
    text.parse::<i64>().ok().map(Value::Int)
}
