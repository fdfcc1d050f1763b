//! The history digest (the check for lost acknowledged writes lives in
//! `concord-linearizability`, shared with the kill -9 runs).

pub use concord_linearizability::lost_acked_writes;
use concord_linearizability::{to_jsonl, History};

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
    use concord_linearizability::Value;

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
