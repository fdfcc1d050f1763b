//! Expected actions shared by the core's exact-action tests.
#![allow(dead_code)] // each test file that includes it uses some of the helpers

use concord::core::{Action, LogIndex, PersistSeq, RaftCore};

/// The sequence number of the last persistence action among `actions` (the one whose
/// `Input::Persisted` report covers every write of the step).
pub fn last_write_seq(actions: &[Action<u64>]) -> PersistSeq {
    actions
        .iter()
        .rev()
        .find_map(Action::persist_seq)
        .unwrap_or_else(|| panic!("no persistence action in {actions:?}"))
}

/// The `Apply` of entries `first..=last` of `core`'s log (an `Apply` carries the log's
/// own metadata).
pub fn apply(core: &RaftCore<u64>, first: u64, last: u64) -> Action<u64> {
    Action::Apply {
        entries: (first..=last)
            .map(|i| {
                core.entry_meta(LogIndex(i))
                    .expect("applied entries are in the log")
            })
            .collect(),
    }
}
