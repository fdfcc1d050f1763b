//! The pure Raft protocol core.
//!
//! (Module documentation with the glossary and the inputs/actions contract follows with
//! the state machine.)

mod configuration;
mod entry;
mod error;
mod peer;
mod types;

pub use configuration::{Configuration, ConfigurationEntry, ConfigurationError, LEARNER_SUFFIX};
pub use entry::{EntryKind, EntryMeta};
pub use error::{ParseError, ProposeError};
pub use peer::{Endpoint, PeerId};
pub use types::{GroupId, LogEpoch, LogId, LogIndex, NodeId, RequestId, Term};
