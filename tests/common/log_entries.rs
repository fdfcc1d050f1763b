//! Log entries of every kind for the storage property tests.

use concord::core::{Configuration, ConfigurationEntry, LogId, PeerId};
use concord::storage::LogEntry;

fn peer(text: &str) -> PeerId {
    text.parse().expect("peer id")
}

/// `kind` 0: blank, 1: configuration (joint at even indexes), otherwise normal with
/// `size` bytes derived from the index.
pub fn entry_of_kind(kind: u8, size: usize, log_id: LogId) -> LogEntry {
    let index = log_id.index.0;
    match kind {
        0 => LogEntry::blank(log_id),
        1 => LogEntry::configuration(
            log_id,
            ConfigurationEntry {
                current: Configuration::with_voters([peer("10.0.0.1:80"), peer("10.0.0.2:80:1")]),
                old: index
                    .is_multiple_of(2)
                    .then(|| Configuration::with_voters([peer("[::1]:81")])),
            },
        ),
        _ => LogEntry::normal(
            log_id,
            (0..size)
                .map(|i| (i as u64 ^ index) as u8)
                .collect::<Vec<u8>>(),
        ),
    }
}
