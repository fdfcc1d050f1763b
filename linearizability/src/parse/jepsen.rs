//! Jepsen EDN histories (Knossos, Elle) and Porcupine's kv format (one EDN map per line).
//!
//! Jepsen semantics: `:ok` happened (a read carries the value read; a `nil` read is
//! unknown); `:fail` did not happen; `:info` or a call never completed is unknown;
//! `:nemesis` and other non-integer processes are not clients and are skipped. A process
//! that got `:info` may appear again: its next invoke is a new operation.

use super::edn::{read_all, Edn, EdnKind};
use super::recorder::{Completion, Recorder};
use crate::error::ParseError;
use crate::history::History;
use crate::value::Value;

pub(crate) fn parse(text: &str, porcupine_kv: bool) -> Result<History, ParseError> {
    let forms = read_all(text)?;
    let events: Vec<Edn> = match forms.as_slice() {
        [Edn {
            kind: EdnKind::Seq(items),
            ..
        }] => items.clone(),
        _ => forms,
    };
    let mut recorder = Recorder::default();
    for (index, event) in events.iter().enumerate() {
        let line = event.line;
        let syntax = |reason: String| ParseError::Syntax { line, reason };
        if !matches!(event.kind, EdnKind::Map(_)) {
            return Err(syntax(
                "expected an event map like {:process 0, :type :invoke, :f :read, :value nil}"
                    .to_string(),
            ));
        }
        let process = match event.get("process").map(|p| &p.kind) {
            Some(EdnKind::Int(p)) if *p >= 0 => *p as u64,
            // Nemesis and other named processes are not client operations.
            Some(EdnKind::Keyword(_) | EdnKind::Symbol(_) | EdnKind::Str(_)) => continue,
            Some(_) => {
                return Err(syntax(
                    "':process' must be a non-negative integer or a keyword".to_string(),
                ))
            }
            None => return Err(syntax("missing ':process'".to_string())),
        };
        let kind = match event.get("type").map(|t| &t.kind) {
            Some(EdnKind::Keyword(t)) => t.as_str(),
            _ => return Err(syntax("missing or non-keyword ':type'".to_string())),
        };
        let function = match event.get("f").map(|f| &f.kind) {
            Some(EdnKind::Keyword(f) | EdnKind::Symbol(f) | EdnKind::Str(f)) => f.clone(),
            _ => return Err(syntax("missing or non-keyword ':f'".to_string())),
        };
        let key = match event.get("key") {
            None => None,
            Some(k) => Some(to_value(k).and_then(|v| v.as_text()).ok_or_else(|| {
                syntax("':key' must be a string, keyword or integer".to_string())
            })?),
        };
        if porcupine_kv && key.is_none() {
            return Err(syntax("porcupine kv events need ':key'".to_string()));
        }
        let value = match event.get("value") {
            None => Value::Nil,
            Some(v) => to_value(v).ok_or_else(|| {
                syntax(
                    "':value' has an unsupported type (maps and floats are not supported)"
                        .to_string(),
                )
            })?,
        };
        let time = index as u64;
        match kind {
            "invoke" => recorder.invoke(line, time, process, function, key, value)?,
            "ok" => {
                if function == "read" && value.is_nil() && !porcupine_kv {
                    // Knossos: a nil read is unknown.
                    recorder.complete(
                        line,
                        time,
                        process,
                        Completion::Info,
                        &function,
                        Value::Nil,
                    )?;
                } else {
                    recorder.complete(line, time, process, Completion::Ok, &function, value)?;
                }
            }
            "fail" => {
                recorder.complete(line, time, process, Completion::Fail, &function, Value::Nil)?
            }
            "info" => {
                recorder.complete(line, time, process, Completion::Info, &function, Value::Nil)?
            }
            other => {
                return Err(syntax(format!(
                    "unknown ':type' :{other} (expected :invoke, :ok, :fail, :info)"
                )))
            }
        }
    }
    Ok(recorder.finish())
}

fn to_value(edn: &Edn) -> Option<Value> {
    Some(match &edn.kind {
        EdnKind::Nil => Value::Nil,
        EdnKind::Bool(b) => Value::Bool(*b),
        EdnKind::Int(n) => Value::Int(*n),
        EdnKind::Str(s) | EdnKind::Keyword(s) | EdnKind::Symbol(s) => Value::Str(s.clone()),
        EdnKind::Seq(items) => Value::List(items.iter().map(to_value).collect::<Option<Vec<_>>>()?),
        EdnKind::Float(_) | EdnKind::Map(_) => return None,
    })
}
