//! Expected actions shared by the core's exact-action tests.

use concord::core::{Action, LogIndex, RaftCore};

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
