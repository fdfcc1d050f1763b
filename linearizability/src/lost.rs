//! Acknowledged writes that a history's final reads prove lost: the check the chaos
//! suite and the kill -9 runs share.

use std::collections::BTreeMap;

use crate::{History, Operation, Outcome, Value};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn put(history: &mut History, process: u64, key: &str, value: &str) -> crate::OpId {
        history
            .invoke_keyed(process, Some(key), "put", Value::Str(value.into()))
            .unwrap()
    }

    #[test]
    fn a_final_value_older_than_an_acknowledged_write_is_a_loss() {
        let mut history = History::new();
        let a = put(&mut history, 0, "k", "a");
        history.ok(a, Value::Nil).unwrap();
        let b = put(&mut history, 0, "k", "b");
        history.ok(b, Value::Nil).unwrap();
        let finals = BTreeMap::from([("k".to_string(), Some("a".to_string()))]);
        let lost = lost_acked_writes(&history, &finals);
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert!(lost[0].contains("\"b\""), "{lost:?}");
        // The latest value: nothing lost.
        let finals = BTreeMap::from([("k".to_string(), Some("b".to_string()))]);
        assert!(lost_acked_writes(&history, &finals).is_empty());
        // Absent after acknowledged writes: both lost.
        let finals = BTreeMap::from([("k".to_string(), None)]);
        assert_eq!(lost_acked_writes(&history, &finals).len(), 2);
    }

    #[test]
    fn concurrent_and_indeterminate_writes_may_win() {
        let mut history = History::new();
        let a = put(&mut history, 0, "k", "a");
        let b = put(&mut history, 1, "k", "b"); // concurrent with a
        history.ok(a, Value::Nil).unwrap();
        history.ok(b, Value::Nil).unwrap();
        let c = put(&mut history, 2, "k", "c");
        history.info(c).unwrap(); // unknown: may land any time later
        for winner in ["a", "b", "c"] {
            let finals = BTreeMap::from([("k".to_string(), Some(winner.to_string()))]);
            assert!(lost_acked_writes(&history, &finals).is_empty(), "{winner}");
        }
    }
}
