//! The matrix of model configurations that `concord-model check` (and CI) explores,
//! each exhaustively within its bounds.
//!
//! No single configuration that stateright can finish on two cores holds three terms,
//! heartbeats, check-quorum, a crash, client traffic and pre-vote at once: every
//! election multiplies the state space by about a hundred. So the matrix splits the
//! behaviours among configurations, each exhaustive, and `docs/verification.md` says
//! what each can and cannot reach:
//!
//! - `elections`: three elections (terms 1–3), no crash, an instant disk — every
//!   interleaving of stale votes and appends across three leaders, where Figure 8's
//!   old-term commit and stale-term appends live.
//! - `heartbeats`: two elections, a heartbeat round and a check-quorum run, an instant
//!   disk — commit learned from heartbeats, probes, leaders stepping down.
//! - `crash`: two elections and one crash anywhere between a write and its fsync —
//!   durability of votes, terms and entries, and recovery.
//! - `client-crash`: a client writing then reading, one crash, one election and a
//!   check-quorum run — acknowledged writes and reads across a crash (the model's
//!   linearizability check with a crash).
//! - `clients`: a client writing, then reading at another server (`read_elsewhere`),
//!   across two elections, an instant disk — client commands under leader changes and
//!   stale leaders, and a read at a deposed leader after a write at its successor.
//! - `pre-vote`: two elections with pre-vote and a check-quorum run, an instant disk.
//! - `torn-step`: two elections, one crash that may also fall between two writes of one
//!   step (`PersistMode::Each`).
//! - `disk-failure`: two elections and one disk failure anywhere (`Input::Fail`): the
//!   failed server never leads again, and the others elect a leader without it.
//! - `snapshot`, `snapshot-crash`, `snapshot-probe`: compaction and InstallSnapshot —
//!   across two terms, with a crash anywhere a write is pending, and with a probe that
//!   sends a snapshot while an append to the same follower is still in flight.
//! - `membership`, `transfer`, `reset`, `reset-pair`: the operator's requests (no
//!   symmetry reduction).
//!
//! `deep` is not part of the matrix: it is the `simulate` profile, with bounds no
//! exhaustive search can cover.

use concord::core::MembershipChange;

use crate::model::{AdminPlan, ClockModel, ModelConfig};
use crate::server::PersistMode;
use crate::types::{Op, ServerId};

/// A named configuration of the matrix.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    /// The name used by `--profile`.
    pub name: &'static str,
    /// What the configuration reaches, in one line.
    pub summary: &'static str,
    /// Builds the configuration.
    pub config: fn() -> ModelConfig,
}

/// Three servers, no clients, pre-vote off, nothing else: the base of every profile.
fn base() -> ModelConfig {
    let mut cfg = ModelConfig {
        clients: 0,
        ops_per_client: 0,
        max_elections: 0,
        max_quorum_checks: 0,
        max_heartbeats: 0,
        crashes: 0,
        ..ModelConfig::default()
    };
    cfg.options.pre_vote = false;
    cfg
}

fn elections() -> ModelConfig {
    ModelConfig {
        max_term: 3,
        max_log: 3,
        max_elections: 3,
        persist_mode: PersistMode::Immediate,
        ..base()
    }
}

/// `elections` with one entry per message: a new leader's first append carries only
/// the old-term entries before its own blank one, so a follower can acknowledge an
/// old-term entry alone — Figure 8's shape, within three terms and three servers.
fn figure_8() -> ModelConfig {
    let mut cfg = elections();
    cfg.options.max_entries_per_message = 1;
    cfg
}

fn heartbeats() -> ModelConfig {
    ModelConfig {
        max_term: 2,
        max_log: 3,
        max_elections: 2,
        max_heartbeats: 1,
        max_quorum_checks: 1,
        persist_mode: PersistMode::Immediate,
        ..base()
    }
}

fn crash() -> ModelConfig {
    ModelConfig {
        max_term: 2,
        max_log: 2,
        max_elections: 2,
        crashes: 1,
        persist_mode: PersistMode::Whole,
        ..base()
    }
}

fn client_crash() -> ModelConfig {
    ModelConfig {
        clients: 1,
        ops_per_client: 2,
        max_term: 2,
        max_log: 3,
        max_elections: 1,
        max_quorum_checks: 1,
        crashes: 1,
        persist_mode: PersistMode::Whole,
        ..base()
    }
}

/// A client writes, then reads at another server: across two elections the write can
/// complete at a new leader and the read arrive at the deposed one, which must not
/// answer without confirming its leadership (a ReadIndex round).
fn clients() -> ModelConfig {
    ModelConfig {
        clients: 1,
        ops_per_client: 2,
        max_term: 2,
        max_log: 3,
        max_elections: 2,
        persist_mode: PersistMode::Immediate,
        read_elsewhere: true,
        ..base()
    }
}

/// Two clients on different servers (a write then a read, a read then a write), 2
/// elections: one client can complete a write at a new leader while the other reads at
/// the deposed one, which must not answer from its own state.
fn reads() -> ModelConfig {
    ModelConfig {
        clients: 2,
        ops_per_client: 2,
        max_term: 2,
        max_log: 3,
        max_elections: 2,
        persist_mode: PersistMode::Immediate,
        spread_clients: true,
        ..base()
    }
}

/// The clock of the `lease` profiles: election timers wait 3 ticks, clocks stay within
/// 1 tick of each other, time runs to 4.
pub const LEASE_CLOCK: ClockModel = ClockModel {
    election_timeout: 3,
    max_skew: 1,
    max_time: 4,
};

/// The longest lease that is safe under [`LEASE_CLOCK`]: `election_timeout - 2 *
/// max_skew` ticks (docs/verification.md, "Reads").
pub const SAFE_LEASE: u64 = (LEASE_CLOCK.election_timeout - 2 * LEASE_CLOCK.max_skew) as u64;

/// Lease reads under clocks: a client reads at s0 (the read's round gives s0 a
/// lease), writes at s1, and reads at s0 again (which may be answered from the lease);
/// two elections, an instant disk. A leader whose lease outlives its followers' election
/// timers (as measured by clocks within the skew bound) answers the second read after
/// a new leader acknowledged the write: the `linearizable` property fails. With the
/// lease at [`SAFE_LEASE`] it never does.
pub fn lease_with(read_lease: u64) -> ModelConfig {
    let mut cfg = ModelConfig {
        clients: 1,
        client_ops: vec![vec![Op::Read, Op::Write(1), Op::Read]],
        max_term: 2,
        max_log: 3,
        max_elections: 2,
        persist_mode: PersistMode::Immediate,
        read_target: Some(0),
        write_target: Some(1),
        clock: Some(LEASE_CLOCK),
        ..base()
    };
    cfg.options.read_lease = read_lease;
    cfg
}

fn lease() -> ModelConfig {
    lease_with(SAFE_LEASE)
}

/// [`lease_with`] with s0 and s2 partitioned for the whole run: s1 confirms s0's lease,
/// and s2, which never hears s0, can vote s1 in as soon as s1's election timer fires —
/// the shape of a stale lease read, without the interleavings of the messages the
/// partition drops.
pub fn lease_partition_with(read_lease: u64) -> ModelConfig {
    ModelConfig {
        partition: vec![(0, 2)],
        ..lease_with(read_lease)
    }
}

fn lease_partition() -> ModelConfig {
    lease_partition_with(SAFE_LEASE)
}

fn pre_vote() -> ModelConfig {
    let mut cfg = ModelConfig {
        max_term: 2,
        max_log: 2,
        max_elections: 2,
        max_quorum_checks: 1,
        persist_mode: PersistMode::Immediate,
        ..base()
    };
    cfg.options.pre_vote = true;
    cfg
}

fn torn_step() -> ModelConfig {
    ModelConfig {
        max_term: 2,
        max_log: 2,
        max_elections: 2,
        crashes: 1,
        persist_mode: PersistMode::Each,
        ..base()
    }
}

fn disk_failure() -> ModelConfig {
    ModelConfig {
        max_term: 2,
        max_log: 2,
        max_elections: 2,
        disk_failures: 1,
        persist_mode: PersistMode::Whole,
        ..base()
    }
}

/// Snapshots and InstallSnapshot: a client write, two elections, one snapshot request
/// compacting the whole applied log (no retained tail), an instant disk. A server that falls behind a compaction can only catch up by installing the
/// leader's snapshot, and every property reads compacted entries from the snapshots.
fn snapshot() -> ModelConfig {
    let mut cfg = ModelConfig {
        clients: 1,
        ops_per_client: 1,
        max_term: 2,
        max_log: 3,
        max_elections: 2,
        snapshots: 1,
        persist_mode: PersistMode::Immediate,
        ..base()
    };
    cfg.options.snapshot_retained_entries = 0;
    cfg
}

/// `snapshot` with a crash anywhere between two writes or a write and its fsync (one
/// write made durable at a time) instead of a second election: a crash in the middle of
/// an install (fetched, truncated, not yet durable) and a restart from a snapshot plus
/// the log after it.
fn snapshot_crash() -> ModelConfig {
    let mut cfg = ModelConfig {
        clients: 1,
        ops_per_client: 1,
        max_term: 2,
        max_log: 3,
        max_elections: 1,
        snapshots: 1,
        crashes: 1,
        persist_mode: PersistMode::Each,
        ..base()
    };
    cfg.options.snapshot_retained_entries = 0;
    cfg
}

/// A follower that a probe finds behind the leader's compaction while appends to it
/// are still in flight: a client write, one election, two heartbeat rounds (an answer
/// unpauses a probing follower, and the leader's next send to it falls below its log
/// start: InstallSnapshot), one snapshot request compacting everything, one write made
/// durable at a time, at most 3 messages in flight. The shape of Raft §7's second case —
/// the follower already holds the snapshot's last entry and more, from an append that
/// overtook the snapshot — where the entries kept after the snapshot are not yet durable
/// on a quorum (the leader's own write of them may still be pending), so a follower that
/// counts them committed fails `committed entries are durable on a quorum` at once
/// (`install-commits-kept-suffix`). Without the in-flight bound the two heartbeat rounds
/// make the space too large for CI (not finished in 15 minutes); with at most 4 messages
/// in flight it is 2.3 M states, 2 minutes, a long run.
fn snapshot_probe() -> ModelConfig {
    ModelConfig {
        crashes: 0,
        max_heartbeats: 2,
        max_in_flight: 3,
        ..snapshot_crash()
    }
}

/// A membership change through every phase: 4 servers, s3 outside the cluster; the
/// operator asks the leader for {s0,s1,s2} -> {s1,s2,s3} (catch-up of s3, the joint
/// configuration, C_new; s0 removed, and it may be the leader).
fn membership() -> ModelConfig {
    ModelConfig {
        servers: 4,
        max_term: 2,
        max_log: 4,
        max_elections: 1,
        admin: AdminPlan::Change {
            voters: 3,
            change: MembershipChange::ChangeVoters(
                [ServerId(1), ServerId(2), ServerId(3)]
                    .into_iter()
                    .collect(),
            ),
        },
        admin_requests: 1,
        persist_mode: PersistMode::Immediate,
        ..base()
    }
}

/// The membership profile with a second election (a campaign by any server at any
/// point of the change): a long run, not exhaustive in CI.
fn membership_elections() -> ModelConfig {
    ModelConfig {
        max_elections: 2,
        ..membership()
    }
}

/// A leadership transfer: the operator asks the leader to hand over to the most
/// up-to-date voter, with a competing election (term 2 is the transfer's or the
/// competitor's).
fn transfer() -> ModelConfig {
    ModelConfig {
        max_term: 2,
        max_log: 2,
        max_elections: 2,
        admin: AdminPlan::Transfer,
        admin_requests: 1,
        persist_mode: PersistMode::Immediate,
        ..base()
    }
}

/// A forced reset of the peers: s0 is reset to {s0} at any point (the operator believes
/// s1 and s2 lost) while s1 and s2 go on as the old configuration; every interleaving of
/// their messages with the new epoch's. Two elections (the first leader's, then the reset
/// server's or an old member's: one that heard of the new epoch must not win), instant
/// disk.
fn reset() -> ModelConfig {
    ModelConfig {
        max_term: 2,
        max_log: 3,
        max_elections: 2,
        admin: AdminPlan::Reset {
            server: ServerId(0),
            voters: [ServerId(0)].into_iter().collect(),
        },
        admin_requests: 1,
        persist_mode: PersistMode::Immediate,
        ..base()
    }
}

/// A reset to {s0, s1} of s0 alone: s1 is a member of the new configuration that the
/// operator did not reset. It hears of the epoch from s0 (and is fenced), votes for s0,
/// and is unfenced when the epoch's configuration entry reaches it; s2 is the old
/// member that comes back.
fn reset_pair() -> ModelConfig {
    ModelConfig {
        admin: AdminPlan::Reset {
            server: ServerId(0),
            voters: [ServerId(0), ServerId(1)].into_iter().collect(),
        },
        ..reset()
    }
}

/// The reset profile with a third election: the reset server leads and commits in the
/// new epoch, and the old members elect again after it (a long run).
fn reset_elections() -> ModelConfig {
    ModelConfig {
        max_term: 3,
        max_elections: 3,
        ..reset()
    }
}

/// The deep random-walk profile for `simulate`: many terms, crashes, heartbeats,
/// check-quorum, two clients, pre-vote. A random walk ends when it leaves the bounds or
/// revisits a state, so the bounds are wide and client retries are told apart.
pub fn deep() -> ModelConfig {
    let mut cfg = ModelConfig {
        clients: 2,
        ops_per_client: 3,
        max_term: 40,
        max_log: 40,
        max_pending: 12,
        max_copies: 8,
        max_elections: 40,
        max_quorum_checks: 20,
        max_heartbeats: 100,
        crashes: 3,
        disk_failures: 2,
        snapshots: 12,
        persist_mode: PersistMode::Whole,
        attempt_variants: 8,
        client_crashes: true,
        ..base()
    };
    cfg.options.pre_vote = true;
    // Snapshots compact all but one entry: lagging servers mostly need InstallSnapshot.
    cfg.options.snapshot_retained_entries = 1;
    cfg
}

/// Every profile of the matrix, in the order `check` runs them.
pub const MATRIX: [Profile; 16] = [
    Profile {
        name: "elections",
        summary: "3 elections (terms 1-3), instant disk, no crash",
        config: elections,
    },
    Profile {
        name: "figure-8",
        summary:
            "3 elections, one entry per message, instant disk (old-term entries acknowledged alone)",
        config: figure_8,
    },
    Profile {
        name: "heartbeats",
        summary: "2 elections, a heartbeat round, a check-quorum run, instant disk",
        config: heartbeats,
    },
    Profile {
        name: "crash",
        summary: "2 elections, 1 crash anywhere between a write and its fsync",
        config: crash,
    },
    Profile {
        name: "client-crash",
        summary: "a client write then read, 1 election, 1 check-quorum run, 1 crash",
        config: client_crash,
    },
    Profile {
        name: "clients",
        summary: "a client write, then a read at another server, 2 elections, instant disk",
        config: clients,
    },
    Profile {
        name: "pre-vote",
        summary: "2 elections with pre-vote, a check-quorum run, instant disk",
        config: pre_vote,
    },
    Profile {
        name: "torn-step",
        summary: "2 elections, 1 crash that may also split one step's writes",
        config: torn_step,
    },
    Profile {
        name: "disk-failure",
        summary: "2 elections, 1 disk failure anywhere (the failed server steps aside)",
        config: disk_failure,
    },
    Profile {
        name: "snapshot",
        summary:
            "a client write then read, 2 elections, 2 snapshots compacting everything, instant disk",
        config: snapshot,
    },
    Profile {
        name: "snapshot-crash",
        summary: "a client write, 1 election, 1 snapshot compacting everything, 1 crash between any two writes",
        config: snapshot_crash,
    },
    Profile {
        name: "snapshot-probe",
        summary: "a client write, 1 election, 2 heartbeat rounds, 1 snapshot compacting everything, one write durable at a time, at most 3 messages in flight (a follower holding the snapshot's entry and more when the snapshot arrives)",
        config: snapshot_probe,
    },
    Profile {
        name: "membership",
        summary: "4 servers, {s0,s1,s2} -> {s1,s2,s3}: catch-up, joint, C_new, the removed leader hands over; 1 election, instant disk",
        config: membership,
    },
    Profile {
        name: "transfer",
        summary: "a leadership transfer to the most up-to-date voter against a competing election, instant disk",
        config: transfer,
    },
    Profile {
        name: "reset",
        summary: "s0 reset to {s0} anywhere while s1, s2 go on as the old configuration (the fence); 2 elections, instant disk",
        config: reset,
    },
    Profile {
        name: "reset-pair",
        summary: "s0 reset to {s0,s1} anywhere (s1 not reset: fenced, votes, unfenced by the epoch's configuration entry), s2 the old member; 2 elections, instant disk",
        config: reset_pair,
    },
];

/// A client writing then reading across two elections and a crash: exhaustive, but
/// about 11 million states (12 minutes on 2 shared cores), so it is a long run rather
/// than part of the matrix.
fn client_crash_elections() -> ModelConfig {
    ModelConfig {
        clients: 1,
        ops_per_client: 2,
        max_term: 2,
        max_log: 3,
        max_elections: 2,
        crashes: 1,
        persist_mode: PersistMode::Whole,
        ..base()
    }
}

/// Profiles outside the matrix: long exhaustive runs and the simulation profile.
pub const EXTRA: [Profile; 7] = [
    Profile {
        name: "lease-partition",
        summary: "the lease profile with s0 and s2 partitioned for the whole run",
        config: lease_partition,
    },
    Profile {
        name: "lease",
        summary: "lease reads under clocks within 1 tick: 2 reads at s0, a write at s1, 2 elections, instant disk",
        config: lease,
    },
    Profile {
        name: "reads",
        summary: "long run: 2 clients on different servers (write+read, read+write), 2 elections, instant disk: a read at a deposed leader after a write at the new one (not exhaustive in 14 min)",
        config: reads,
    },
    Profile {
        name: "reset-elections",
        summary: "long run: the reset profile with a third election (the old members campaign again after the new epoch commits)",
        config: reset_elections,
    },
    Profile {
        name: "membership-elections",
        summary: "long run: the membership profile with a second election anywhere (millions of states)",
        config: membership_elections,
    },
    Profile {
        name: "client-crash-elections",
        summary: "long run: a client write then read, 2 elections, 1 crash (about 11M states)",
        config: client_crash_elections,
    },
    Profile {
        name: "deep",
        summary:
            "simulate: up to 40 terms, 3 crashes, heartbeats, check-quorum, 2 clients, pre-vote, snapshots",
        config: deep,
    },
];

/// The profile called `name` (matrix or extra).
pub fn by_name(name: &str) -> Option<Profile> {
    MATRIX
        .iter()
        .chain(EXTRA.iter())
        .copied()
        .find(|p| p.name == name)
}
