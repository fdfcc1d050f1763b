//! Forced reset of the peers (JRaft's `resetPeers`, F17), fenced by configuration
//! epochs.
//!
//! A reset replaces a node's configuration without consensus, for when a majority of
//! the voters is permanently lost. Unfenced (as in JRaft and braft), it is dangerous:
//! if the "lost" members come back, they still form a quorum of the old configuration
//! and elect a leader of their own, with terms that can overtake the reset cluster's and
//! overwrite what it committed. Here a reset also opens the next configuration epoch
//! (`Term::epoch`, the high bits of the term):
//!
//! 1. The reset node moves to the first term of the next epoch. Terms order by epoch
//!    first, so everything a member of the old configuration sends is stale here: its
//!    votes and acknowledgements never count, its appends are refused, and the refusal
//!    carries the new term, which it adopts (the ordinary term rules).
//! 2. A node whose term is of a later epoch than its configuration (`is_fenced`) never
//!    campaigns: a returning member of the old configuration that has heard of the new
//!    epoch cannot lead with the old configuration, nor gather votes for it. It votes
//!    and follows by the term rules, so a member of the new configuration that the
//!    operator did not reset joins as soon as the epoch's first leader replicates the
//!    configuration entry it appends at once.
//!
//! What no fence can do: members of the old configuration that never hear from the new
//! epoch (still partitioned away) can go on as the old cluster among themselves. They
//! are fenced on their first contact with any node of the new epoch; docs/runtime.md
//! "Resetting peers" states the operator's part.

use super::configuration::{Configuration, ConfigurationEntry};
use super::error::AdminError;
use super::io::{Action, ConfigurationReset, Timer};
use super::raft::RaftCore;
use super::types::{NodeId, RequestId, Term};

impl<N: NodeId> RaftCore<N> {
    /// `Input::ResetPeers`.
    pub(crate) fn handle_reset_peers(&mut self, id: RequestId, configuration: Configuration<N>) {
        // (A failed node refuses in `refuse_failed`.)
        let refusal = if self.reset_answer.is_some() {
            // One at a time: the previous reset is not durable yet.
            Some(AdminError::ChangeInProgress)
        } else if !configuration.is_voter(&self.id) {
            Some(AdminError::InvalidChange {
                reason: format!(
                    "a reset must keep this node ({}) as a voter: reset the nodes that survive",
                    self.id
                ),
            })
        } else {
            None
        };
        // A node that heard of a newer epoch than its configuration's (another survivor
        // was reset first and reached it) joins that epoch, with the configuration the
        // operator gives every survivor; any other node opens the next epoch. (Opening
        // yet another epoch here would fence the survivors already running the first.)
        let joins = self.is_fenced();
        let (epoch, term) = if joins {
            (self.term.epoch(), self.term)
        } else {
            let epoch = self.term.epoch().saturating_add(1);
            (epoch, Term::first_of_epoch(epoch))
        };
        // (Opening one past the last epoch saturates at a term not above this one.)
        let refusal = refusal.or_else(|| {
            (!joins && term <= self.term).then(|| AdminError::InvalidChange {
                reason: "no configuration epoch is left".to_string(),
            })
        });
        if let Some(error) = refusal {
            self.push(Action::MembershipChanged {
                id,
                result: Err(error),
            });
            return;
        }
        // A retry of the reset this node already made durable in its current epoch (an
        // answer lost, a caller that retried after a failure): nothing to do. The
        // configuration may have changed since, by consensus; it is the answer.
        let durable = self.durability.durable_hard_state();
        if durable.reset.as_ref().is_some_and(|reset| {
            reset.epoch == self.term.epoch() && reset.configuration == configuration
        }) {
            let result = Ok(self.configuration().current.clone());
            self.push(Action::MembershipChanged { id, result });
            return;
        }
        // Leadership (and whatever it was carrying out) ends — a transfer under way did
        // not succeed — and the new term and the reset are written in one hard-state
        // write; nothing this node sends leaves before it is durable (`send`).
        self.end_leadership(false);
        if term > self.term {
            self.become_follower(term, None);
        }
        self.base_configuration = ConfigurationEntry::stable(configuration.clone());
        self.reset = Some(ConfigurationReset {
            epoch,
            configuration,
        });
        self.base_epoch = epoch;
        self.log
            .set_configuration_floor(Term::first_of_epoch(epoch));
        self.save_hard_state();
        self.push(Action::ResetTimer(Timer::Election));
        self.reset_answer = Some((id, epoch));
    }

    /// Answers the reset being written once the hard state holding it is durable (a
    /// crash before that forgets it, and the caller hears nothing: look at the status).
    pub(crate) fn answer_durable_reset(&mut self) {
        let Some((id, epoch)) = self.reset_answer else {
            return;
        };
        let Some(durable) = self
            .durability
            .durable_hard_state()
            .reset
            .as_ref()
            .filter(|reset| reset.epoch >= epoch)
        else {
            return;
        };
        let result = Ok(durable.configuration.clone());
        self.reset_answer = None;
        self.push(Action::MembershipChanged { id, result });
    }
}
