//! Snapshots and log compaction (Raft §7; JRaft F11, F21).
//!
//! Three flows, all decided here; the executor only carries out the actions:
//!
//! - **Taking a snapshot** (every node, on its own): when the entries applied since the
//!   last snapshot reach `CoreOptions::snapshot_log_distance`, or on `Input::TakeSnapshot`
//!   (an interval timer or an operator), the core asks for [`Action::TakeSnapshot`] at
//!   the last entry handed out for applying. The executor saves the state machine's
//!   state there, durably, and reports [`Input::SnapshotSaved`]. The core then compacts
//!   its log, keeping `snapshot_retained_entries` entries below the snapshot so slightly
//!   lagging followers are still served from the log ([`Action::CompactLog`]).
//! - **Sending one** (leader): a follower that needs an entry the log no longer holds is
//!   sent [`Message::InstallSnapshot`] with the snapshot's metadata, and its progress
//!   waits in `ProgressState::Snapshot` until the follower answers. The request is sent
//!   again on every heartbeat answer while it waits (a lost request or answer costs one
//!   heartbeat interval); a follower that is still fetching ignores the repeat.
//! - **Installing one** (follower): the core asks the executor to fetch the snapshot's
//!   data from the leader ([`Action::FetchSnapshot`]: chunked, resumable and
//!   deduplicated — executor matters), then to make it the node's snapshot durably
//!   ([`Action::InstallSnapshot`], a persistence action in the write order). Raft §7's
//!   rules: if the log holds the snapshot's last entry, the entries after it are kept;
//!   if it holds a different entry there, that entry and everything after it go first
//!   (they cannot be committed: a committed entry is in every later leader's log, so it
//!   equals the snapshot's). Once the install is durable the log starts at the snapshot,
//!   the snapshot's configuration is in force, the state machine is replaced
//!   ([`Action::RestoreSnapshot`]) and the leader is answered.
//!
//! Safety: a snapshot covers committed entries only (it is taken at an applied index, or
//! installed from a leader that took or installed it the same way), and the log is
//! compacted only up to a snapshot that is durable and, on a node that did not restore
//! it, only up to what its state machine applied, so no committed entry is ever lost —
//! every entry a node drops is either in its durable snapshot or uncommitted.

use serde::{Deserialize, Serialize};

use super::configuration::ConfigurationEntry;
use super::durability::Outstanding;
use super::io::{Action, Timer};
use super::message::Message;
use super::message::{InstallSnapshotRequest, InstallSnapshotResponse, InstallSnapshotResult};
use super::raft::{RaftCore, RoleState};
use super::types::{LogId, LogIndex, NodeId};
use super::view::LeaderView;

/// What identifies a snapshot: the last entry it covers and the configuration in force
/// at that entry. The state machine's data travels beside it (the executor's matter).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(bound = "N: NodeId + Serialize + serde::de::DeserializeOwned")]
pub struct SnapshotMeta<N: NodeId> {
    /// The last log entry the snapshot covers.
    pub last_included: LogId,
    /// The configuration in force at `last_included`.
    pub configuration: ConfigurationEntry<N>,
}

impl<N: NodeId> SnapshotMeta<N> {
    /// The same metadata with the nodes of its configuration renamed.
    pub fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        SnapshotMeta {
            last_included: self.last_included,
            configuration: self.configuration.relabel(rename),
        }
    }
}

/// An install in progress on a follower.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Installing<N: NodeId> {
    /// The leader that sent the snapshot (answered when the install ends).
    pub(crate) from: N,
    pub(crate) meta: SnapshotMeta<N>,
    /// False while the executor fetches the data, true once the durable install was
    /// issued (then the install ends when that write is reported durable).
    pub(crate) writing: bool,
}

/// A core's snapshot state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Snapshots<N: NodeId> {
    /// The latest durable snapshot. Invariant: covers the log's start (`log.start().index
    /// <= current.last_included.index`), and exists whenever the log starts after 0.
    pub(crate) current: Option<SnapshotMeta<N>>,
    /// A snapshot asked for with `TakeSnapshot` and not yet reported saved.
    pub(crate) taking: Option<SnapshotMeta<N>>,
    /// A snapshot being installed from a leader.
    pub(crate) installing: Option<Installing<N>>,
    /// The index of the last snapshot that could not be saved: the log-distance trigger
    /// does not ask there again (an executor that fails at once would loop).
    pub(crate) failed_at: Option<LogIndex>,
}

impl<N: NodeId> Snapshots<N> {
    pub(crate) fn new(current: Option<SnapshotMeta<N>>) -> Self {
        Snapshots {
            current,
            taking: None,
            installing: None,
            failed_at: None,
        }
    }

    /// The index the latest snapshot covers (0 without one).
    pub(crate) fn index(&self) -> LogIndex {
        self.current
            .as_ref()
            .map_or(LogIndex(0), |meta| meta.last_included.index)
    }

    pub(crate) fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        Snapshots {
            current: self.current.as_ref().map(|meta| meta.relabel(rename)),
            taking: self.taking.as_ref().map(|meta| meta.relabel(rename)),
            installing: self.installing.as_ref().map(|installing| Installing {
                from: rename(&installing.from),
                meta: installing.meta.relabel(rename),
                writing: installing.writing,
            }),
            failed_at: self.failed_at,
        }
    }
}

impl<N: NodeId> RaftCore<N> {
    /// Asks for a snapshot at the last entry handed out for applying, if it is newer
    /// than the latest snapshot and none is being taken. Unless `forced`, only when the
    /// entries since the latest snapshot reach `snapshot_log_distance` (0: never).
    pub(crate) fn maybe_take_snapshot(&mut self, forced: bool) {
        // One at a time, and none while an install replaces the state machine (a save
        // that finished after the install could otherwise be older than it).
        if self.snapshots.taking.is_some() || self.snapshots.installing.is_some() || self.failed {
            return;
        }
        let point = self.applied_issued;
        let since = point.0.saturating_sub(self.snapshots.index().0);
        if since == 0 {
            return;
        }
        if !forced && self.snapshots.failed_at == Some(point) {
            return; // a save here failed: wait for more entries, or an explicit request
        }
        let distance = self.options.snapshot_log_distance;
        if !forced && (distance == 0 || since < distance) {
            return;
        }
        let Some(last_included) = self.log.log_id_at(point) else {
            return; // cannot happen: entries handed out are held until snapshotted
        };
        let meta = SnapshotMeta {
            last_included,
            configuration: self.configuration_at(point).clone(),
        };
        self.snapshots.taking = Some(meta.clone());
        self.push(Action::TakeSnapshot { meta });
    }

    /// The configuration in force at `index` (held in the log, or the base one).
    pub(crate) fn configuration_at(&self, index: LogIndex) -> &ConfigurationEntry<N> {
        match self.log.configuration_at(index) {
            Some(configuration) => configuration,
            None => &self.base_configuration,
        }
    }

    /// `Input::SnapshotSaved`: the snapshot asked for is durable (or could not be
    /// saved). Compacts the log up to it, minus the retained tail.
    pub(crate) fn handle_snapshot_saved(&mut self, last_included: LogId, saved: bool) {
        let Some(meta) = self
            .snapshots
            .taking
            .take_if(|m| m.last_included == last_included)
        else {
            return; // not the snapshot asked for: stale or bogus
        };
        if !saved {
            // Asked again once more entries are applied, or on an explicit request.
            self.snapshots.failed_at = Some(last_included.index);
            return;
        }
        self.snapshots.failed_at = None;
        if last_included.index <= self.snapshots.index() {
            return; // an install overtook it
        }
        self.snapshots.current = Some(meta);
        // The state machine saved its state there, so it has applied that far.
        if last_included.index > self.applied {
            self.applied = last_included.index;
            self.emit_apply();
        }
        let retained = self.options.snapshot_retained_entries;
        let through = LogIndex(last_included.index.0.saturating_sub(retained));
        self.compact_log(through, last_included);
    }

    /// Drops the held entries up to `through` (all covered by the durable snapshot
    /// `snapshot`).
    fn compact_log(&mut self, through: LogIndex, snapshot: LogId) {
        if through <= self.log.start().index {
            return;
        }
        let Some(log_id) = self.log.log_id_at(through) else {
            return;
        };
        self.base_epoch = self.configuration_epoch_at(through);
        self.base_configuration = self.configuration_at(through).clone();
        self.log.compact(log_id);
        self.push(Action::CompactLog { through, snapshot });
    }

    /// Sends `peer` the latest snapshot and waits for its answer (the peer needs an entry
    /// the log no longer holds).
    pub(crate) fn send_snapshot(&mut self, peer: &N) {
        let Some(meta) = self.snapshots.current.clone() else {
            return; // cannot happen: a log starting after 0 has a snapshot
        };
        let Some(progress) = self.role.leader_mut().and_then(|l| l.progress_mut(peer)) else {
            return;
        };
        progress.become_snapshot(meta.last_included.index);
        let request = InstallSnapshotRequest {
            term: self.term,
            meta,
        };
        self.send(peer.clone(), Message::InstallSnapshot(request));
    }

    /// The leader's answer to a snapshot it sent.
    pub(crate) fn handle_install_snapshot_response(
        &mut self,
        from: N,
        response: InstallSnapshotResponse,
    ) {
        let Some(mut view) = self.leader_view() else {
            return;
        };
        match view.on_install_snapshot_response(&from, response.result) {
            InstallAnswer::Nothing => {}
            InstallAnswer::Matched { updated } => {
                if updated {
                    self.maybe_commit_as_leader();
                    self.on_progress(&from);
                }
                self.maybe_send_append(&from, false);
            }
        }
    }

    /// A follower is sent a snapshot by the leader of its term.
    pub(crate) fn handle_install_snapshot_request(
        &mut self,
        from: N,
        request: InstallSnapshotRequest<N>,
    ) {
        if !self.follow(&from) {
            return;
        }
        let last_included = request.meta.last_included;
        if last_included.index <= self.commit_index {
            // Already covered: every entry through the commit index is durable here and
            // committed, so it is in the leader's log.
            self.answer_installed(from, self.commit_index);
            return;
        }
        if let Some(installing) = &self.snapshots.installing {
            // One install at a time: a repeat of the one being fetched is ignored (the
            // leader asks again), as is anything while an install is being written. A
            // different snapshot, or one from another leader, replaces a fetch that
            // has not been written yet — the old leader may be gone, and a fetch that
            // never ends must not keep this node from ever catching up.
            if installing.writing || (installing.from == from && installing.meta == request.meta) {
                return;
            }
        }
        self.snapshots.installing = Some(Installing {
            from: from.clone(),
            meta: request.meta.clone(),
            writing: false,
        });
        self.push(Action::FetchSnapshot {
            from,
            meta: request.meta,
        });
    }

    fn answer_installed(&mut self, to: N, last_matched: LogIndex) {
        let response = InstallSnapshotResponse {
            term: self.term,
            result: InstallSnapshotResult::Installed { last_matched },
        };
        // The entries it acknowledges are durable, but the term may not be yet (adopted
        // in this step, or in an earlier one whose write is pending).
        self.send_in_durable_term(to, Message::InstallSnapshotResponse(response));
    }

    /// `Input::SnapshotFetched`: the data of the snapshot being installed is here (or
    /// could not be fetched).
    pub(crate) fn handle_snapshot_fetched(&mut self, last_included: LogId, fetched: bool) {
        let matches = self
            .snapshots
            .installing
            .as_ref()
            .is_some_and(|installing| {
                !installing.writing && installing.meta.last_included == last_included
            });
        if !matches {
            return; // stale or bogus
        }
        let Some(installing) = self.snapshots.installing.take() else {
            return;
        };
        let index = last_included.index;
        if !fetched {
            let response = InstallSnapshotResponse {
                term: self.term,
                result: InstallSnapshotResult::Failed {
                    last_included: index,
                },
            };
            self.send(installing.from, Message::InstallSnapshotResponse(response));
            return;
        }
        if !matches!(self.role, RoleState::Follower) {
            // Campaigning or leading since the fetch began: an install would change the
            // log and configuration under the election (and a leader's log already has
            // it all). Given up; a leader that still needs it sends it again.
            return;
        }
        if index <= self.commit_index {
            // Appends caught the follower up while it fetched.
            self.answer_installed(installing.from, self.commit_index);
            return;
        }
        if self.log.last_index() >= index && !self.log.matches(last_included) {
            // Raft §7: a different entry at the snapshot's index is not committed, nor
            // is anything after it; they go before the snapshot is installed.
            if index <= self.commit_known {
                // We know that entry committed, and the snapshot disagrees: not a real
                // leader's snapshot.
                self.dropped_messages.0 += 1;
                return;
            }
            let could_campaign = self.may_campaign();
            self.truncate_log(index);
            if !could_campaign && self.may_campaign() {
                // The cut entry had taken this node out of the voters, and its timer
                // may have fired since (a non-voter then forgets the leader and stops
                // it): a voter again, it needs the timer to campaign.
                self.push(Action::ResetTimer(Timer::Election));
            }
        }
        let seq = self
            .durability
            .issue(Outstanding::Install(installing.meta.clone()));
        self.push(Action::InstallSnapshot {
            seq,
            meta: installing.meta.clone(),
        });
        let from = installing.from.clone();
        self.snapshots.installing = Some(Installing {
            writing: true,
            ..installing
        });
        let response = InstallSnapshotResponse {
            term: self.term,
            result: InstallSnapshotResult::Installed {
                last_matched: index,
            },
        };
        // The answer promises the snapshot is durable: it leaves once it is.
        self.send_after_persist(from, Message::InstallSnapshotResponse(response));
    }

    /// True when an election timeout would make this node campaign: a voter of its
    /// configuration, not fenced by a reset of the peers (`handle_election_timeout`).
    fn may_campaign(&self) -> bool {
        self.configuration().is_voter(&self.id) && !self.is_fenced()
    }

    /// The install of `meta` is durable: the log starts at the snapshot, its
    /// configuration is in force, and the state machine is replaced by it.
    pub(crate) fn finish_install(&mut self, meta: SnapshotMeta<N>) {
        if self
            .snapshots
            .installing
            .as_ref()
            .is_some_and(|installing| installing.meta == meta)
        {
            self.snapshots.installing = None;
        }
        let last_included = meta.last_included;
        let index = last_included.index;
        if index > self.snapshots.index() {
            self.snapshots.current = Some(meta.clone());
        }
        if index <= self.log.start().index {
            return;
        }
        if self.applied_issued >= index {
            // Appends caught this node up while it installed: everything the snapshot
            // covers is committed and handed out here already, and the state machine
            // goes on from the log. Only what it has applied may be compacted.
            self.compact_log(index.min(self.applied), last_included);
            return;
        }
        let could_campaign = self.may_campaign();
        if !matches!(self.role, RoleState::Follower) {
            // The election timer fired since the install was issued: the campaign
            // counted votes under the log and configuration the install replaces, so it
            // is abandoned (the timer starts another). (Never a leader here: a
            // candidate's own vote is written after the install and released only once
            // durable, after `handle_persisted` has finished the install.)
            let term = self.term;
            self.become_follower(term, None);
        }
        if self.log.matches(last_included) {
            self.log.compact(last_included);
        } else {
            if self.log.last_index() >= index {
                // Cannot happen (the conflicting part was truncated before the install,
                // and a later leader's entries there equal the snapshot's): defensive.
                self.truncate_log(index);
            }
            self.log.reset(last_included);
        }
        (self.base_configuration, self.base_epoch) = super::raft::base_of(
            meta.configuration.clone(),
            last_included,
            self.reset.as_ref(),
        );
        self.reconcile_configuration();
        if !could_campaign && self.may_campaign() {
            // The snapshot's configuration made this node a voter, or lifted the fence
            // of a reset (its configuration is of its term's epoch now): it watches the
            // leader from now on. Its timer may have fired while it could not campaign,
            // and then nothing armed it again.
            self.push(Action::ResetTimer(Timer::Election));
        }
        self.commit_index = self.commit_index.max(index);
        self.commit_known = self.commit_known.max(index);
        self.applied_issued = index;
        self.applied = index;
        self.push(Action::RestoreSnapshot { meta });
        self.push(Action::CompactLog {
            through: index,
            snapshot: last_included,
        });
        self.maybe_advance_commit();
        self.emit_apply();
    }
}

/// What a snapshot's answer asks of the leader
/// (`LeaderView::on_install_snapshot_response`).
enum InstallAnswer {
    /// Nothing more.
    Nothing,
    /// The follower holds the snapshot: send it what follows (`updated`: its match
    /// moved, so the commit index may too).
    Matched { updated: bool },
}

impl<N: NodeId> LeaderView<'_, N> {
    /// `from` answered a snapshot: it was heard from. An install moves its match to what
    /// it holds (unless it claims entries this leader never had) and ends the wait (it
    /// probes from there, and is sent the snapshot again if that is still compacted); a
    /// failure waits for the next heartbeat answer, not a tight loop.
    fn on_install_snapshot_response(
        &mut self,
        from: &N,
        result: InstallSnapshotResult,
    ) -> InstallAnswer {
        let last_index = self.log.last_index();
        let Some(progress) = self.leader.progress_mut(from) else {
            return InstallAnswer::Nothing;
        };
        progress.recent_active = true;
        match result {
            InstallSnapshotResult::Installed { last_matched } => {
                if last_matched > last_index {
                    return InstallAnswer::Nothing; // claims entries we never had
                }
                let updated = progress.maybe_update(last_matched);
                progress.snapshot_answered();
                InstallAnswer::Matched { updated }
            }
            InstallSnapshotResult::Failed { last_included } => {
                progress.snapshot_failed(last_included);
                InstallAnswer::Nothing
            }
            InstallSnapshotResult::StaleTerm => InstallAnswer::Nothing,
        }
    }
}

/// Structural checks on a peer's InstallSnapshot: a snapshot of something (index ≥ 1,
/// term ≥ 1), not from a term later than the request's, with voters. (No log reaches
/// 2^63 entries: refusing such an index keeps the log's index arithmetic from
/// overflowing.)
pub(crate) fn is_well_formed<N: NodeId>(request: &InstallSnapshotRequest<N>) -> bool {
    let last = request.meta.last_included;
    last.index > LogIndex(0)
        && last.index < LogIndex(1 << 63)
        && last.term > super::types::Term(0)
        && last.term <= request.term
        && !request.meta.configuration.current.voters().is_empty()
}
