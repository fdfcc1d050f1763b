//! Concord's JSON-lines history format (specified in docs/linearizability.md).
//!
//! One object per line: `{"process":0,"type":"invoke","f":"write","key":"x","value":3}`.
//! `type` is `invoke`, `ok`, `fail` or `info`; `value` is the argument on `invoke` and the
//! result on `ok`; `key` is optional; `time` (integer nanoseconds) is optional but, if
//! present on one line, required on all, and then orders events (otherwise line order is
//! real-time order). Any other field (`index`, `error`, ...) is ignored.

use super::recorder::{Completion, Recorder};
use crate::error::ParseError;
use crate::history::{History, Outcome};
use crate::value::Value;
use serde_json::json;

pub(crate) fn parse(text: &str) -> Result<History, ParseError> {
    let mut recorder = Recorder::default();
    let mut timed: Option<bool> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let syntax = |reason: String| ParseError::Syntax { line, reason };
        let object: serde_json::Value =
            serde_json::from_str(raw).map_err(|e| syntax(format!("invalid JSON: {e}")))?;
        let Some(map) = object.as_object() else {
            return Err(syntax("expected a JSON object".to_string()));
        };
        let process = map
            .get("process")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| syntax("'process' must be a non-negative integer".to_string()))?;
        let kind = map
            .get("type")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| syntax("missing string 'type'".to_string()))?;
        let function = map
            .get("f")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| syntax("missing string 'f'".to_string()))?
            .to_string();
        let key = match map.get("key") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            Some(_) => return Err(syntax("'key' must be a string or an integer".to_string())),
        };
        let value = match map.get("value") {
            None => Value::Nil,
            Some(v) => Value::from_json(v).ok_or_else(|| {
                syntax(
                    "'value' must be null, a boolean, an integer, a string or an array of those"
                        .to_string(),
                )
            })?,
        };
        let time = match (map.get("time"), timed) {
            (Some(t), None | Some(true)) => {
                timed = Some(true);
                t.as_u64()
                    .ok_or_else(|| syntax("'time' must be a non-negative integer".to_string()))?
            }
            (None, None | Some(false)) => {
                timed = Some(false);
                line as u64
            }
            _ => {
                return Err(syntax(
                    "'time' must be on every line or on none".to_string(),
                ))
            }
        };
        match kind {
            "invoke" => recorder.invoke(line, time, process, function, key, value)?,
            "ok" => recorder.complete(line, time, process, Completion::Ok, &function, value)?,
            "fail" => {
                recorder.complete(line, time, process, Completion::Fail, &function, Value::Nil)?
            }
            "info" => {
                recorder.complete(line, time, process, Completion::Info, &function, Value::Nil)?
            }
            other => {
                return Err(syntax(format!(
                    "unknown 'type' {other:?} (expected invoke, ok, fail, info)"
                )))
            }
        }
    }
    Ok(recorder.finish())
}

/// Serializes a history as Concord JSON lines, events in time order, with `time` fields.
pub fn to_jsonl(history: &History) -> String {
    let mut events: Vec<(u64, u8, String)> = Vec::new();
    for op in history.operations() {
        let mut invoke = json!({
            "process": op.process.0,
            "type": "invoke",
            "f": op.function,
            "value": op.argument,
            "time": op.call_time,
        });
        if let (Some(key), Some(map)) = (&op.key, invoke.as_object_mut()) {
            map.insert("key".to_string(), json!(key));
        }
        events.push((op.call_time, 0, invoke.to_string()));
        let completion = match &op.outcome {
            Outcome::Open => None,
            Outcome::Ok(result) => Some(("ok", result.clone())),
            Outcome::Fail => Some(("fail", Value::Nil)),
            Outcome::Info => Some(("info", Value::Nil)),
        };
        if let (Some((kind, value)), Some(time)) = (completion, op.return_time) {
            let mut event = json!({
                "process": op.process.0,
                "type": kind,
                "f": op.function,
                "value": value,
                "time": time,
            });
            if let (Some(key), Some(map)) = (&op.key, event.as_object_mut()) {
                map.insert("key".to_string(), json!(key));
            }
            events.push((time, 1, event.to_string()));
        }
    }
    events.sort_by_key(|event| (event.0, event.1));
    let mut out = String::new();
    for (_, _, line) in events {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
