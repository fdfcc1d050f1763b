//! The core's tunables. Durations are not here: timers belong to the caller.

use serde::{Deserialize, Serialize};

/// Protocol options. Defaults follow JRaft's `RaftOptions` (F08) where one exists.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CoreOptions {
    /// Run a pre-vote round before a real election (F23). Default true.
    pub pre_vote: bool,
    /// A leader steps down when it has not heard from a quorum within an election
    /// timeout (F25). Default true.
    pub check_quorum: bool,
    /// Maximum entries in one AppendEntries (JRaft `maxEntriesSize`, 1024).
    pub max_entries_per_message: u64,
    /// Maximum payload bytes in one AppendEntries, beyond its first entry (JRaft
    /// `maxBodySize`, 512 KiB).
    pub max_bytes_per_message: u64,
    /// Maximum AppendEntries in flight to one follower (JRaft `maxReplicatorInflightMsgs`, 256).
    pub max_inflight_messages: usize,
    /// Maximum payload bytes in flight to one follower (default 64 MiB).
    pub max_inflight_bytes: u64,
    /// Most payload bytes a leader holds in entries not yet committed (default 64 MiB,
    /// at least 1). A proposal that would go beyond it is refused with
    /// `ProposeError::Overloaded`, unless nothing is uncommitted (so one large entry can
    /// always be proposed). Bounds a leader's memory while a quorum cannot keep up.
    pub max_uncommitted_bytes: u64,
    /// Most committed entries handed out in `Apply` actions and not yet reported applied
    /// (`Input::Applied`), default 4096, at least 1. Bounds the entries an executor
    /// reads and hands to a slow state machine at a time, and streams a long catch-up (a
    /// restart replaying a large log) in pieces of at most this many entries.
    pub max_apply_ahead: u64,
    /// Most payload bytes in committed entries handed out and not yet reported applied
    /// (default 64 MiB, at least 1; one entry is always handed out when none is
    /// outstanding, however large). Bounds what an executor reads and holds for the
    /// state machine when entries are large.
    pub max_apply_ahead_bytes: u64,
    /// Take a snapshot once this many entries were applied since the latest one (0:
    /// only on `Input::TakeSnapshot`, which an interval timer or an operator sends).
    /// Default 0: the runtime sets it (`NodeOptions`) when the state machine can snapshot.
    pub snapshot_log_distance: u64,
    /// Entries kept in the log below a new snapshot when it compacts the log, so a
    /// follower slightly behind is still caught up from the log rather than sent the
    /// whole snapshot (default 1024; 0 keeps none).
    pub snapshot_retained_entries: u64,
    /// A new voter counts as caught up, and the membership change that adds it goes
    /// on, once it is within this many entries of the leader's last index (JRaft
    /// `catchupMargin`, 1000).
    pub catchup_margin: u64,
    /// The catch-up of a membership change fails (`AdminError::CatchUpFailed`, nothing
    /// appended) when its new voters are not all within `catchup_margin` after this
    /// many check-quorum rounds (election timeouts) — even if they answer. 0 (the
    /// default): no limit, as in JRaft, where a new voter that answers keeps the change
    /// waiting (a large snapshot may take long to copy); a silent one fails it after
    /// one round either way.
    pub catchup_max_rounds: u32,
    /// Most reads (`Input::ReadIndex` ids, and forwarded reads on a leader) waiting for
    /// a read index at a time (default 65,536, at least 1); more are refused with
    /// `ReadIndexError::Overloaded`.
    pub max_pending_reads: u64,
    /// How long a leader may answer lease reads after a heartbeat round confirmed reads
    /// that arrived at `lease_now` (before the round's heartbeats were sent), in the
    /// units of `Input::ReadIndex`'s `lease_now` (the runtime uses nanoseconds of its
    /// clock). 0 (the
    /// default): no leases, every read takes a round. Safe only when shorter than the
    /// voters' election timeout by the clock drift between any two nodes: the runtime
    /// sets `election_timeout / (1 + max_clock_drift)²` (docs/runtime.md, "Reads").
    /// With a lease set, a voter that restarts with a term refuses votes until its first
    /// election timeout, as if it had just heard from a leader, so a restart does not
    /// void a lease it confirmed; its answers to heartbeats carry this value
    /// (`HeartbeatResponse::lease_cover`), and a leader's lease is the most a quorum of
    /// a round's answers covers, so nodes without leases (0) or with shorter timeouts
    /// shorten it rather than break it.
    pub read_lease: u64,
    /// Where this node starts numbering the reads it forwards to its leader; must
    /// differ at every start of the node (the runtime draws it at random, simulations
    /// derive it from the incarnation). A follower matches its leader's answers by
    /// these numbers, so an answer to a read sent before a restart must not match one
    /// sent after it (found by the property tests: a restarted follower took such an
    /// answer for its new read and served it at a stale index). Default 0.
    pub read_id_base: u64,
}

impl Default for CoreOptions {
    fn default() -> Self {
        CoreOptions {
            pre_vote: true,
            check_quorum: true,
            max_entries_per_message: 1024,
            max_bytes_per_message: 512 * 1024,
            max_inflight_messages: 256,
            max_inflight_bytes: 64 * 1024 * 1024,
            max_uncommitted_bytes: 64 * 1024 * 1024,
            max_apply_ahead: 4096,
            max_apply_ahead_bytes: 64 * 1024 * 1024,
            snapshot_log_distance: 0,
            snapshot_retained_entries: 1024,
            catchup_margin: 1000,
            catchup_max_rounds: 0,
            max_pending_reads: 65_536,
            read_lease: 0,
            read_id_base: 0,
        }
    }
}

/// Why a set of options was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid option {name}: {reason}")]
pub struct OptionsError {
    /// The option's field name.
    pub name: &'static str,
    /// Why.
    pub reason: &'static str,
}

impl CoreOptions {
    /// Rejects settings under which the protocol cannot make progress.
    pub fn validate(&self) -> Result<(), OptionsError> {
        let at_least_one = [
            ("max_entries_per_message", self.max_entries_per_message),
            ("max_inflight_messages", self.max_inflight_messages as u64),
            ("max_inflight_bytes", self.max_inflight_bytes),
            ("max_uncommitted_bytes", self.max_uncommitted_bytes),
            ("max_apply_ahead", self.max_apply_ahead),
            ("max_apply_ahead_bytes", self.max_apply_ahead_bytes),
            ("max_pending_reads", self.max_pending_reads),
        ];
        if let Some((name, _)) = at_least_one.into_iter().find(|(_, value)| *value == 0) {
            return Err(OptionsError {
                name,
                reason: "must be at least 1",
            });
        }
        Ok(())
    }
}
