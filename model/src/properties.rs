//! The model's named properties. Ids follow `concord::core`'s invariants module (ES,
//! LM, LC, SMS). Every property looks at live servers only: a crashed server's volatile
//! state is gone (stateright keeps the stale value until recovery, VERIFICATION.md §1.4).

use concord::core::{check_log_matching, LogId, LogIndex, Term};
use stateright::{Expectation, Model};

use crate::model::{clients, live_servers, ConcordModel, ConcordState};
use crate::server::ServerState;
use crate::types::Durable;
use crate::types::{ModelTimer, Op};

/// Always: at most one leader per term (ES), among live servers now and among every
/// leader the history ever saw.
pub const ELECTION_SAFETY: &str = "election safety";
/// Always: two live logs that share a log id share the whole prefix (LM).
pub const LOG_MATCHING: &str = "log matching";
/// Always: an entry a live server knows committed is in the log of every live leader
/// of a later term than that server's (LC).
pub const LEADER_COMPLETENESS: &str = "leader completeness";
/// Always: applied prefixes of live servers agree (SMS).
pub const STATE_MACHINE_SAFETY: &str = "state machine safety";
/// Always: every entry a live server knows committed is on the *disks* of a quorum of
/// servers (Raft §5.4.2: an entry is committed once a majority stores it durably). The
/// check uses the durable images, not the servers' memory, so acknowledging or counting
/// an entry before it is durable fails here at once, before any crash shows the loss.
pub const COMMITTED_DURABLE: &str = "committed entries are durable on a quorum";
/// Always: no log that a server could run for leader with (its live log, or its durable
/// log after a crash) lacks an entry some live server knows committed while a quorum of
/// servers would find that log up to date (Raft §5.4.1) — even judged by their durable
/// logs, the most permissive vote they could cast after a restart. This is Leader
/// Completeness for every leader that *could* be elected next, so a commit that the next
/// election can undo (Figure 8's old-term commit, a stale-term append that truncates
/// committed entries) fails in the state where it happens, not elections later.
pub const NO_ELECTABLE_LOG_LACKS_COMMITTED: &str = "no electable log lacks a committed entry";
/// Always: `check_invariants()` holds on every live server.
pub const CORE_INVARIANTS: &str = "core invariants";
/// Always: every live server that may have to act on its own can time out — a voter of
/// its configuration that does not lead, and any follower that knows a leader, has its
/// election timer armed (a failed server excepted, and a voter fenced by a reset of the
/// peers that knows no leader: they never campaign). Raft's liveness
/// rests on it: a voter that cannot time out never campaigns, and a follower that
/// cannot time out never forgets a leader that went silent, so it refuses for ever the
/// (pre-)votes of candidates whose configuration counts it (a new server still catching
/// up is a voter in the others' eyes before it is one in its own). A safety property
/// that stands in for the liveness one the checker cannot state (`Eventually` holds
/// only on terminating paths, VERIFICATION.md).
pub const CAN_TIME_OUT: &str = "a server that votes or follows can time out";
/// Always: the client history is linearizable for a register.
pub const LINEARIZABLE: &str = "linearizable";
/// Sometimes: some server becomes leader.
pub const LEADER_ELECTED: &str = "a leader is elected";
/// Sometimes: a client's write is acknowledged.
pub const WRITE_COMMITS: &str = "a client write commits";
/// Sometimes: a client's read is answered (configurations whose clients read): without
/// it, a read path that never answers would leave every `Always` property holding.
pub const READ_COMPLETES: &str = "a client read completes";
/// Sometimes: a server that crashed and restarted learns the latest commit index.
pub const RECOVERY_CATCHES_UP: &str = "a crashed server recovers and catches up";
/// Sometimes: a live leader stops leading without crashing.
pub const LEADER_STEPS_DOWN: &str = "a leader steps down";
/// Always: a server whose disk failed never leads or campaigns.
pub const FAILED_NODE_NEVER_LEADS: &str = "a failed node never leads";
/// Sometimes: after a disk failure, another server leads a later term.
pub const LEADER_AFTER_DISK_FAILURE: &str = "a leader is elected after a disk failure";
/// Sometimes: a server installs a snapshot sent by a leader (profiles with snapshots).
pub const SNAPSHOT_INSTALLED: &str = "a lagging server installs a snapshot";

/// Always: no server the operator's change removes from the voters leads a term at
/// least as new as that of a server knowing the new configuration committed. (An older
/// leader may linger, cut off, until check-quorum deposes it; it can commit nothing.)
/// Only with a membership change.
pub const REMOVED_NEVER_LEADS: &str = "a removed server never leads after C_new commits";

/// Always: no server leads with a configuration of an older epoch than its term's — a
/// member of the old configuration that heard of a reset never leads (the fence,
/// core/reset.rs). Only with a reset.
pub const FENCED_NEVER_LEADS: &str = "a fenced server never leads";

/// Sometimes: the reset server leads a term of the new configuration epoch. Only with a
/// reset.
pub const RESET_CLUSTER_LEADS: &str = "the reset server leads the new epoch";

/// Sometimes: a member of the old configuration hears of the new epoch and is fenced.
/// Only with a reset.
pub const OLD_MEMBER_FENCED: &str = "an old member is fenced";

/// Sometimes: a member of the reset configuration that was not reset itself joins the
/// new epoch (its configuration entry reached it). Only with a reset to more than the
/// reset server.
pub const UNRESET_MEMBER_JOINS: &str = "a member not reset joins the new epoch";

/// Sometimes: the operator's membership change completes (its configuration is
/// committed, stable). Only with a membership change.
pub const MEMBERSHIP_CHANGES: &str = "membership change completes";

/// Sometimes: a leader hands leadership over (`TransferDone` ok). Only with transfers.
pub const LEADERSHIP_TRANSFERRED: &str = "leadership is transferred";

/// Adds every property to the model. The `Sometimes` properties that a configuration
/// cannot reach by construction (a client write without clients, a recovery without
/// crashes, a leader stepping down with a single election and no check-quorum run)
/// are left out, so that "every property holds or is found" is the pass criterion of
/// every configuration.
pub fn add_all(model: ConcordModel) -> ConcordModel {
    let cfg = &model.cfg;
    // From the clients' own operations (`client_ops` or the default pattern): a
    // profile that names its operations (the lease profiles) counts too.
    let runs_op =
        |wanted: fn(&Op) -> bool| (0..cfg.clients).any(|c| cfg.ops_of(c).iter().any(wanted));
    let has_writes = runs_op(|op| matches!(op, Op::Write(_)));
    let has_reads = runs_op(|op| matches!(op, Op::Read));
    let has_crashes = cfg.crashes > 0;
    let can_step_down = cfg.max_elections >= 2 || cfg.max_quorum_checks >= 1;
    // The disk properties count a quorum of all servers: only for one fixed
    // configuration of all of them.
    let membership = matches!(cfg.admin, crate::model::AdminPlan::Change { .. });
    let transfers = cfg.admin == crate::model::AdminPlan::Transfer;
    let reset = matches!(cfg.admin, crate::model::AdminPlan::Reset { .. });
    let joins =
        matches!(&cfg.admin, crate::model::AdminPlan::Reset { voters, .. } if voters.len() > 1);
    let disk_properties = !cfg.skip_disk_properties && !membership && !reset;
    let disk_failures = cfg.disk_failures > 0;
    let snapshots = cfg.snapshots > 0;
    let model = model
        .property(Expectation::Always, ELECTION_SAFETY, election_safety)
        .property(Expectation::Always, LOG_MATCHING, log_matching)
        .property(
            Expectation::Always,
            LEADER_COMPLETENESS,
            leader_completeness,
        )
        .property(
            Expectation::Always,
            STATE_MACHINE_SAFETY,
            state_machine_safety,
        )
        .property(Expectation::Always, CORE_INVARIANTS, core_invariants)
        .property(Expectation::Always, CAN_TIME_OUT, can_time_out)
        .property(Expectation::Always, LINEARIZABLE, linearizable)
        .property(Expectation::Sometimes, LEADER_ELECTED, leader_elected);
    let model = if disk_properties {
        model
            .property(Expectation::Always, COMMITTED_DURABLE, committed_durable)
            .property(
                Expectation::Always,
                NO_ELECTABLE_LOG_LACKS_COMMITTED,
                no_electable_log_lacks_committed,
            )
    } else {
        model
    };
    let model = if has_writes {
        model.property(Expectation::Sometimes, WRITE_COMMITS, write_commits)
    } else {
        model
    };
    let model = if has_reads {
        model.property(Expectation::Sometimes, READ_COMPLETES, read_completes)
    } else {
        model
    };
    let model = if has_crashes {
        model.property(
            Expectation::Sometimes,
            RECOVERY_CATCHES_UP,
            recovery_catches_up,
        )
    } else {
        model
    };
    let model = if disk_failures {
        model
            .property(
                Expectation::Always,
                FAILED_NODE_NEVER_LEADS,
                failed_node_never_leads,
            )
            .property(
                Expectation::Sometimes,
                LEADER_AFTER_DISK_FAILURE,
                leader_after_disk_failure,
            )
    } else {
        model
    };
    let model = if snapshots {
        model.property(
            Expectation::Sometimes,
            SNAPSHOT_INSTALLED,
            snapshot_installed,
        )
    } else {
        model
    };
    let model = if membership {
        model
            .property(
                Expectation::Always,
                REMOVED_NEVER_LEADS,
                removed_never_leads,
            )
            .property(
                Expectation::Sometimes,
                MEMBERSHIP_CHANGES,
                membership_changes,
            )
    } else {
        model
    };
    let model = if reset {
        model
            .property(Expectation::Always, FENCED_NEVER_LEADS, fenced_never_leads)
            .property(
                Expectation::Sometimes,
                RESET_CLUSTER_LEADS,
                reset_cluster_leads,
            )
            .property(Expectation::Sometimes, OLD_MEMBER_FENCED, old_member_fenced)
    } else {
        model
    };
    let model = if joins {
        model.property(
            Expectation::Sometimes,
            UNRESET_MEMBER_JOINS,
            unreset_member_joins,
        )
    } else {
        model
    };
    let model = if transfers {
        model.property(
            Expectation::Sometimes,
            LEADERSHIP_TRANSFERRED,
            leadership_transferred,
        )
    } else {
        model
    };
    if can_step_down {
        model.property(Expectation::Sometimes, LEADER_STEPS_DOWN, leader_steps_down)
    } else {
        model
    }
}

fn fenced_never_leads(model: &ConcordModel, state: &ConcordState) -> bool {
    live_servers(&model.cfg, state)
        .filter(|s| s.core.is_leader())
        .all(|s| s.core.configuration_epoch() == s.core.term().epoch())
}

fn reset_cluster_leads(model: &ConcordModel, state: &ConcordState) -> bool {
    live_servers(&model.cfg, state).any(|s| s.core.is_leader() && s.core.term().epoch() > 0)
}

fn unreset_member_joins(model: &ConcordModel, state: &ConcordState) -> bool {
    let crate::model::AdminPlan::Reset { server, .. } = &model.cfg.admin else {
        return false;
    };
    live_servers(&model.cfg, state)
        .any(|s| s.core.id() != server && s.core.configuration_epoch() >= 1)
}

fn old_member_fenced(model: &ConcordModel, state: &ConcordState) -> bool {
    live_servers(&model.cfg, state).any(|s| s.core.is_fenced())
}

fn removed_never_leads(model: &ConcordModel, state: &ConcordState) -> bool {
    let Some((initial, target)) = plan_configurations(model) else {
        return true;
    };
    let live: Vec<_> = live_servers(&model.cfg, state).collect();
    live.iter()
        .filter(|l| l.core.is_leader())
        .filter(|l| initial.is_voter(l.core.id()) && !target.is_voter(l.core.id()))
        .all(|removed| {
            live.iter().all(|knower| {
                let committed = knower.core.committed_configuration();
                committed.is_joint()
                    || committed.current != target
                    || knower.core.term() > removed.core.term()
            })
        })
}

/// The operator's change as (initial configuration, target configuration).
fn plan_configurations(
    model: &ConcordModel,
) -> Option<(
    concord::core::Configuration<crate::types::ServerId>,
    concord::core::Configuration<crate::types::ServerId>,
)> {
    let crate::model::AdminPlan::Change { voters, change } = &model.cfg.admin else {
        return None;
    };
    let initial = concord::core::Configuration::with_voters(
        (0..*voters).map(|i| crate::types::ServerId(i as u8)),
    );
    let target = change.apply_to(&initial).ok()?;
    Some((initial, target))
}

fn membership_changes(model: &ConcordModel, state: &ConcordState) -> bool {
    let Some((_, target)) = plan_configurations(model) else {
        return false;
    };
    live_servers(&model.cfg, state).any(|s| {
        let committed = s.core.committed_configuration();
        !committed.is_joint() && committed.current == target
    })
}

fn leadership_transferred(model: &ConcordModel, state: &ConcordState) -> bool {
    live_servers(&model.cfg, state).any(|s| s.durable.counters.transfers > 0)
}

fn snapshot_installed(model: &ConcordModel, state: &ConcordState) -> bool {
    live_servers(&model.cfg, state).any(|s| s.durable.counters.installs > 0)
}

/// A server whose disk failed (as the glue knows it, whatever the core was told) never
/// leads or campaigns: it cannot make anything durable, and a leader that cannot commit
/// but keeps heartbeating would stop the others from electing one that can.
fn failed_node_never_leads(model: &ConcordModel, state: &ConcordState) -> bool {
    live_servers(&model.cfg, state)
        .filter(|s| s.disk_failed)
        .all(|s| s.core.role() == concord::core::Role::Follower)
}

/// Reachable: a server's disk failed and another server leads a later term (the group
/// carries on without it).
fn leader_after_disk_failure(model: &ConcordModel, state: &ConcordState) -> bool {
    let live: Vec<_> = live_servers(&model.cfg, state).collect();
    live.iter().filter(|s| s.disk_failed).any(|failed| {
        live.iter()
            .any(|s| s.core.is_leader() && s.core.term() > failed.core.term())
    })
}

/// The names of the `Always` properties, in declaration order.
pub fn always_names(model: &ConcordModel) -> Vec<&'static str> {
    names(model, Expectation::Always)
}

/// The names of the `Sometimes` properties, in declaration order.
pub fn sometimes_names(model: &ConcordModel) -> Vec<&'static str> {
    names(model, Expectation::Sometimes)
}

fn names(model: &ConcordModel, expectation: Expectation) -> Vec<&'static str> {
    model
        .properties()
        .into_iter()
        .filter(|p| p.expectation == expectation)
        .map(|p| p.name)
        .collect()
}

fn election_safety(model: &ConcordModel, state: &ConcordState) -> bool {
    let mut leaders: Vec<_> = live_servers(&model.cfg, state)
        .filter(|s| s.core.is_leader())
        .map(|s| (s.core.term(), *s.core.id()))
        .collect();
    leaders.extend(state.history.leaders.iter().copied());
    leaders.sort();
    leaders.dedup();
    leaders.windows(2).all(|pair| pair[0].0 != pair[1].0)
}

fn log_matching(model: &ConcordModel, state: &ConcordState) -> bool {
    let live: Vec<_> = live_servers(&model.cfg, state).collect();
    live.iter().enumerate().all(|(i, a)| {
        live[i + 1..]
            .iter()
            .all(|b| check_log_matching(&a.core, &b.core).is_ok())
    })
}

/// The term of the entry at `index` in a live server's history: from its log, or, for an
/// entry compacted into its snapshot, from the snapshot's record of what it applied.
/// Compaction therefore hides no entry from the properties: a committed entry a
/// snapshot lost or changed shows up as a missing or different term.
pub fn entry_term(server: &ServerState, index: LogIndex) -> Option<Term> {
    if index > server.core.log_start().index {
        return server.core.term_at(index);
    }
    match &server.durable.snapshot {
        Some(snapshot) if index.0 > 0 => snapshot.term_at(index),
        _ => server.core.term_at(index),
    }
}

fn leader_completeness(model: &ConcordModel, state: &ConcordState) -> bool {
    let live: Vec<_> = live_servers(&model.cfg, state).collect();
    live.iter().all(|knower| {
        // `knower` learned its commit index in a term ≤ its current term, so every
        // leader of a later term must hold all of it — within one configuration epoch:
        // a reset's new cluster need not hold what the old members committed (the
        // survivors may lack it), but every leader of the new epoch must hold what its
        // members committed (one from the old configuration past the fence would not).
        let commit = knower.core.commit_index();
        let epoch = knower.core.configuration_epoch();
        live.iter()
            .filter(|leader| {
                leader.core.is_leader()
                    && leader.core.term() > knower.core.term()
                    && leader.core.term().epoch() == epoch
            })
            .all(|leader| {
                let mut index = LogIndex(1);
                while index <= commit {
                    if entry_term(leader, index) != entry_term(knower, index) {
                        return false;
                    }
                    index = index.next();
                }
                true
            })
    })
}

fn state_machine_safety(model: &ConcordModel, state: &ConcordState) -> bool {
    let live: Vec<_> = live_servers(&model.cfg, state).collect();
    // Within one configuration epoch (see `leader_completeness`).
    live.iter().enumerate().all(|(i, a)| {
        live[i + 1..].iter().all(|b| {
            // A fenced server's applied prefix mixes both histories (see the core's
            // `ClusterObserver`): compared once it is unfenced.
            if a.core.configuration_epoch() != b.core.configuration_epoch()
                || a.core.is_fenced()
                || b.core.is_fenced()
            {
                return true;
            }
            let shared = a.applied.len().min(b.applied.len());
            a.applied[..shared] == b.applied[..shared]
        })
    })
}

/// Every log id a live server knows committed (index order, duplicates possible).
fn committed_log_ids(model: &ConcordModel, state: &ConcordState) -> Vec<LogId> {
    let mut committed = Vec::new();
    for server in live_servers(&model.cfg, state) {
        let mut index = LogIndex(1);
        while index <= server.core.commit_index() {
            if let Some(term) = entry_term(server, index) {
                committed.push(LogId { term, index });
            }
            index = index.next();
        }
    }
    committed.sort();
    committed.dedup();
    committed
}

fn durable_images<'a>(
    model: &ConcordModel,
    state: &'a ConcordState,
) -> impl Iterator<Item = &'a Durable> + Clone + 'a {
    state.actor_storages[..model.cfg.servers]
        .iter()
        .flatten()
        .filter_map(crate::types::Storage::as_server)
}

fn quorum(model: &ConcordModel) -> usize {
    model.cfg.servers / 2 + 1
}

fn durable_holds(durable: &Durable, log_id: LogId) -> bool {
    log_id.index.0 >= 1 && durable.log_id_at(log_id.index) == Some(log_id)
}

fn durable_last(durable: &Durable) -> LogId {
    durable.last_log_id()
}

fn committed_durable(model: &ConcordModel, state: &ConcordState) -> bool {
    committed_log_ids(model, state).into_iter().all(|log_id| {
        durable_images(model, state)
            .filter(|durable| durable_holds(durable, log_id))
            .count()
            >= quorum(model)
    })
}

/// A log a server could campaign with: its last log id and whether it holds an entry.
struct CandidateLog<'a> {
    last: LogId,
    term_at: Box<dyn Fn(LogIndex) -> Option<Term> + 'a>,
}

fn no_electable_log_lacks_committed(model: &ConcordModel, state: &ConcordState) -> bool {
    let committed = committed_log_ids(model, state);
    if committed.is_empty() {
        return true;
    }
    let mut candidates: Vec<CandidateLog<'_>> = Vec::new();
    for server in live_servers(&model.cfg, state) {
        let core = &server.core;
        candidates.push(CandidateLog {
            last: core.last_log_id(),
            term_at: Box::new(move |index| entry_term(server, index)),
        });
    }
    for durable in durable_images(model, state) {
        candidates.push(CandidateLog {
            last: durable_last(durable),
            term_at: Box::new(move |index| durable.log_id_at(index).map(|id| id.term)),
        });
    }
    // The most permissive voters: every server judges by its durable log.
    let voter_lasts: Vec<LogId> = durable_images(model, state).map(durable_last).collect();
    candidates.iter().all(|candidate| {
        let lacks = committed
            .iter()
            .any(|log_id| (candidate.term_at)(log_id.index) != Some(log_id.term));
        !lacks
            || voter_lasts
                .iter()
                .filter(|voter_last| candidate.last >= **voter_last)
                .count()
                < quorum(model)
    })
}

fn core_invariants(model: &ConcordModel, state: &ConcordState) -> bool {
    live_servers(&model.cfg, state).all(|s| s.core.check_invariants().is_ok())
}

fn can_time_out(model: &ConcordModel, state: &ConcordState) -> bool {
    (0..model.cfg.servers)
        .filter(|&index| !state.crashed[index])
        .all(|index| {
            let Some(server) = state.actor_states[index].as_server() else {
                return true;
            };
            let core = &server.core;
            // A failed server never campaigns, nor does a fenced one (it waits for its
            // epoch's configuration, which comes from a leader it then follows); a
            // fenced follower that knows a leader must still be able to forget it.
            let voter = core.configuration().is_voter(core.id()) && !core.is_fenced();
            let must = !core.is_failed() && !core.is_leader() && (voter || core.leader().is_some());
            !must
                || state.timers_set.get(index).is_some_and(|timers| {
                    timers
                        .iter()
                        .any(|timer| matches!(timer, ModelTimer::Election))
                })
        })
}

fn linearizable(_model: &ConcordModel, state: &ConcordState) -> bool {
    state.history.linearizability.serialized_history().is_some()
}

fn leader_elected(model: &ConcordModel, state: &ConcordState) -> bool {
    live_servers(&model.cfg, state).any(|s| s.core.is_leader())
}

fn write_commits(model: &ConcordModel, state: &ConcordState) -> bool {
    clients(&model.cfg, state).any(|c| c.writes_acknowledged > 0)
}

fn read_completes(model: &ConcordModel, state: &ConcordState) -> bool {
    clients(&model.cfg, state).any(|c| !c.reads.is_empty())
}

fn recovery_catches_up(model: &ConcordModel, state: &ConcordState) -> bool {
    let highest = live_servers(&model.cfg, state)
        .map(|s| s.core.commit_index())
        .max()
        .unwrap_or_default();
    highest > LogIndex(0)
        && live_servers(&model.cfg, state).any(|s| s.recovered && s.core.commit_index() == highest)
}

fn leader_steps_down(model: &ConcordModel, state: &ConcordState) -> bool {
    live_servers(&model.cfg, state).any(|s| {
        !s.recovered
            && state.history.leaders.iter().any(|(term, leader)| {
                leader == s.core.id() && (*term < s.core.term() || !s.core.is_leader())
            })
    })
}
