//! Newtypes that cross every module boundary: terms, indexes, log ids, node ids.

use std::fmt;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

/// A Raft term (Raft §5.1): a logical clock that increases with every election.
///
/// Term 0 is the term of the empty log; no leader is ever elected in term 0.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Term(pub u64);

/// How many low bits of a term count elections; the bits above them are the term's
/// configuration epoch (see [`Term::epoch`]).
pub const TERM_EPOCH_SHIFT: u32 = 48;

const ELECTIONS_MASK: u64 = (1u64 << TERM_EPOCH_SHIFT) - 1;

impl Term {
    /// The term that follows this one, in the same configuration epoch.
    ///
    /// Saturates at the last term of the epoch (2^48 - 1 elections; only a hostile
    /// peer's term gets a node there): a term never runs into the next epoch, which
    /// only a reset of the peers opens.
    pub fn next(self) -> Term {
        if self.elections() == ELECTIONS_MASK {
            self
        } else {
            Term(self.0 + 1)
        }
    }

    /// The configuration epoch of this term: the high 16 bits. Every term of a cluster
    /// is in epoch 0 until an operator resets its peers (`Input::ResetPeers`), which
    /// moves the node to the first term of the next epoch. Terms order by epoch first, so
    /// every term of a newer epoch is above every term of an older one: members of the
    /// old configuration that come back are refused by the term rules alone (their
    /// requests are stale), and learn the new epoch from the refusal (the fence, see
    /// docs/runtime.md "Resetting peers").
    pub fn epoch(self) -> u64 {
        self.0 >> TERM_EPOCH_SHIFT
    }

    /// The elections counted within this term's epoch: the low 48 bits.
    pub fn elections(self) -> u64 {
        self.0 & ELECTIONS_MASK
    }

    /// The first term of `epoch` (no election has happened in it yet). Saturates at the
    /// last epoch.
    pub fn first_of_epoch(epoch: u64) -> Term {
        let last_epoch = u64::MAX >> TERM_EPOCH_SHIFT;
        Term(epoch.min(last_epoch) << TERM_EPOCH_SHIFT)
    }
}

impl fmt::Display for Term {
    /// Terms of epoch 0 print as their number; later epochs as `e<epoch>/<term>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.epoch() {
            0 => write!(f, "{}", self.0),
            epoch => write!(f, "e{epoch}/{}", self.elections()),
        }
    }
}

/// A position in the replicated log. The first entry has index 1; index 0 is "before the log".
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct LogIndex(pub u64);

impl LogIndex {
    /// The index that follows this one (saturating).
    pub fn next(self) -> LogIndex {
        LogIndex(self.0.saturating_add(1))
    }

    /// The index before this one; `LogIndex(0).prev()` is `LogIndex(0)`.
    pub fn prev(self) -> LogIndex {
        LogIndex(self.0.saturating_sub(1))
    }

    /// `self + count`, saturating.
    pub fn plus(self, count: u64) -> LogIndex {
        LogIndex(self.0.saturating_add(count))
    }
}

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The identity of a log entry: its index and the term in which a leader created it.
///
/// By the Log Matching property (Raft §5.3) two logs that hold an entry with the same
/// log id are identical up to and including that entry. Log ids order by term first,
/// then index, which is exactly Raft's "more up-to-date" comparison (§5.4.1).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct LogId {
    /// The term of the leader that created the entry. Declared first so `Ord` compares it first.
    pub term: Term,
    /// The entry's position in the log.
    pub index: LogIndex,
}

impl LogId {
    /// The log id "before the first entry": index 0, term 0.
    pub const ZERO: LogId = LogId {
        term: Term(0),
        index: LogIndex(0),
    };

    /// Builds a log id from raw numbers (convenient in tests and scenario scripts).
    pub const fn new(term: u64, index: u64) -> LogId {
        LogId {
            term: Term(term),
            index: LogIndex(index),
        }
    }
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.term, self.index.0)
    }
}

/// Identifies a client request across the core boundary; chosen by the caller, echoed
/// back in the action that answers it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// Counts log truncations. Every `TruncateLog` action starts a new epoch, and a
/// persistence completion is only believed if it carries the current epoch: without
/// it, a late completion for an entry that was truncated and re-appended with the same
/// log id (possible across three leaders) would be mistaken for the new write.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct LogEpoch(pub u64);

/// Numbers the core's persistence actions (`SaveHardState`, `TruncateLog`,
/// `AppendLog`) in the order it issued them, from 1 for each core. The executor reports
/// `Input::Persisted { seq }` once every write numbered up to `seq` is durable.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct PersistSeq(pub u64);

impl fmt::Display for PersistSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "w{}", self.0)
    }
}

/// The name of a Raft group (JRaft's `groupId`). Many groups can share one process and
/// one transport endpoint (multi-raft); every message names its group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GroupId(pub String);

impl GroupId {
    /// Builds a group id, validating it: 1 to 128 characters from `[A-Za-z0-9_.-]`.
    pub fn new(name: impl Into<String>) -> Result<GroupId, crate::core::ParseError> {
        let name = name.into();
        let valid_len = !name.is_empty() && name.len() <= 128;
        let valid_chars = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if valid_len && valid_chars {
            Ok(GroupId(name))
        } else {
            Err(crate::core::ParseError::new(
                "group id",
                &name,
                "must be 1 to 128 characters from [A-Za-z0-9_.-]",
            ))
        }
    }

    /// The group id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the core needs of a node identity. The runtime uses [`crate::core::PeerId`]; the
/// model checker uses a small integer so that states stay cheap to clone and hash.
pub trait NodeId: Clone + Ord + Hash + fmt::Debug + fmt::Display + Send + Sync + 'static {}

impl<T> NodeId for T where T: Clone + Ord + Hash + fmt::Debug + fmt::Display + Send + Sync + 'static {}
