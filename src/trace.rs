//! Tracing events, behind the `tracing` feature (on by default).
//!
//! The runtime and the transports report what an operator needs to see through the
//! [`tracing`](https://docs.rs/tracing) facade: role and term changes (elections),
//! membership changes and leadership transfers finishing, snapshots taken, fetched and
//! installed, storage and state-machine failures, and frames refused or connections
//! closed for malformed input. Every event of a node carries its group and peer id (the
//! `raft` span around its driver, at error level so that any filter keeps it). The library installs no subscriber: an application
//! chooses one; the `concord` binary logs to stderr, filtered by `RUST_LOG` (warnings
//! and errors by default).
//!
//! | level | events |
//! |---|---|
//! | `error` | a node fails (storage, state machine, an internal invariant) |
//! | `warn` | a snapshot could not be saved or fetched |
//! | `info` | a node starts and stops; role, term or leader changes; membership change and transfer results; snapshots saved, fetched and installed |
//! | `debug` | a snapshot started; frames refused (another group or node, a snapshot read the core refuses, an unknown snapshot transfer); connections closed on a malformed frame or over the connection limit (input a hostile peer controls: never above debug, and counted) |
//!
//! The core emits nothing (it is pure, DESIGN.md §2): every event is the runtime's
//! reading of the core's actions. Without the feature the macro below expands to
//! nothing, so no tracing code is compiled in.

/// `event!(level, fields…, "message")`: `tracing::<level>!` with the feature, nothing
/// without it. Arguments must not be the only use of a binding (they vanish without the
/// feature).
macro_rules! event {
    ($level:ident, $($arg:tt)*) => {{
        #[cfg(feature = "tracing")]
        {
            ::tracing::$level!($($arg)*);
        }
    }};
}

pub(crate) use event;
