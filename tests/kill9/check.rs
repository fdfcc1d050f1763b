//! Acknowledged writes that the final reads prove lost.
//!
//! This is `chaos/src/check.rs`'s `lost_acked_writes`, verbatim. It lives in the chaos
//! crate, which the root package cannot depend on without a dev-dependency cycle
//! (concord → concord-chaos → concord); it belongs in `concord-linearizability` beside
//! the `History` it reads, where both suites could share it.

use std::collections::BTreeMap;

use concord_linearizability::{History, Operation, Outcome, Value};

/// The value an operation writes, if it is a write: `put`'s argument, or `cas`'s new
/// value. (A cas that returned `false` wrote nothing, but it is never acknowledged as a
/// write, and as a candidate "last writer" it cannot be the source of a final value.)
fn written_value(op: &Operation) -> Option<&str> {
    match (op.function.as_str(), &op.argument) {
        ("put", Value::Str(value)) => Some(value),
        ("cas", Value::List(items)) => match items.get(1) {
            Some(Value::Str(value)) => Some(value),
            _ => None,
        },
        _ => None,
    }
}

/// An acknowledged write: ok `put`, or ok `cas` that swapped.
fn acknowledged(op: &Operation) -> bool {
    matches!(
        (&op.outcome, op.function.as_str()),
        (Outcome::Ok(_), "put") | (Outcome::Ok(Value::Bool(true)), "cas")
    )
}

/// Acknowledged writes that the final reads prove lost.
///
/// Values are unique per write, so the final value of a key names the write `X` that
/// produced it (or none: the key is absent). An acknowledged write `A` is lost when `X`
/// completed before `A` was even invoked, or when the key is absent: every
/// linearization puts `A` after `X`, so the final read (which follows both, after the
/// heal) cannot return `X`'s value unless `A` vanished. Writes whose outcome is
/// unknown are never counted as lost, and are fine candidates for `X`.
pub fn lost_acked_writes(
    history: &History,
    final_values: &BTreeMap<String, Option<String>>,
) -> Vec<String> {
    let mut lost = Vec::new();
    for (key, final_value) in final_values {
        let on_key = || {
            history
                .operations()
                .iter()
                .filter(move |op| op.key.as_deref() == Some(key.as_str()))
        };
        let source = final_value
            .as_deref()
            .filter(|value| !value.is_empty())
            .and_then(|value| on_key().find(|op| written_value(op) == Some(value)));
        for write in on_key().filter(|op| acknowledged(op)) {
            let superseded_by_older = match source {
                None => true,
                Some(source) if source.id == write.id => false,
                Some(source) => matches!(
                    (&source.outcome, source.return_time),
                    (Outcome::Ok(_), Some(returned)) if returned < write.call_time
                ),
            };
            if superseded_by_older {
                lost.push(format!(
                    "{key}: acknowledged write {:?} (op {}, process {}) is gone; the final read returned {}",
                    written_value(write).unwrap_or_default(),
                    write.id.0,
                    write.process.0,
                    final_value
                        .as_deref()
                        .map_or("nothing".to_string(), |v| format!("{v:?}")),
                ));
            }
        }
    }
    lost
}

#[test]
fn a_final_value_older_than_an_acknowledged_write_is_a_loss() {
    let mut history = History::new();
    let a = history
        .invoke_keyed(0, Some("k"), "put", Value::Str("a".into()))
        .unwrap();
    history.ok(a, Value::Nil).unwrap();
    let b = history
        .invoke_keyed(0, Some("k"), "put", Value::Str("b".into()))
        .unwrap();
    let c = history
        .invoke_keyed(1, Some("k"), "put", Value::Str("c".into()))
        .unwrap();
    history.ok(b, Value::Nil).unwrap();
    history.info(c).unwrap();
    let finals = |value: &str| BTreeMap::from([("k".to_string(), Some(value.to_string()))]);
    assert_eq!(lost_acked_writes(&history, &finals("a")).len(), 1);
    assert!(lost_acked_writes(&history, &finals("b")).is_empty());
    assert!(lost_acked_writes(&history, &finals("c")).is_empty());
    let absent = BTreeMap::from([("k".to_string(), None)]);
    assert_eq!(lost_acked_writes(&history, &absent).len(), 2);
}
