//! Checks beyond linearizability: acknowledged writes the final reads show were lost,
//! and the history digest.

use std::collections::BTreeMap;

use concord_linearizability::{to_jsonl, History, Operation, Outcome, Value};

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

/// FNV-1a, continued from `hash` (start from [`FNV_OFFSET`]).
pub fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// FNV-1a's initial value.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over the history's JSON lines: equal histories give equal digests.
pub fn digest(history: &History) -> u64 {
    fnv(FNV_OFFSET, to_jsonl(history).as_bytes())
}

/// Combines per-seed digests into one.
pub fn combine(digests: impl IntoIterator<Item = u64>) -> u64 {
    digests
        .into_iter()
        .fold(FNV_OFFSET, |hash, digest| fnv(hash, &digest.to_le_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(
        history: &mut History,
        process: u64,
        key: &str,
        value: &str,
    ) -> concord_linearizability::OpId {
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

    #[test]
    fn digests_differ_for_different_histories() {
        let mut one = History::new();
        let a = put(&mut one, 0, "k", "a");
        one.ok(a, Value::Nil).unwrap();
        let mut two = History::new();
        let b = put(&mut two, 0, "k", "b");
        two.ok(b, Value::Nil).unwrap();
        assert_ne!(digest(&one), digest(&two));
        assert_eq!(digest(&one), digest(&one.clone()));
        assert_ne!(combine([1, 2]), combine([2, 1]));
    }
}
