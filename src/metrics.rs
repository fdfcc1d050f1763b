//! Metrics through the [`metrics`](https://docs.rs/metrics) facade, behind the `metrics`
//! feature (on by default), with the names of the JRaft user guide (F28).
//!
//! The library records; it installs no recorder. An application picks one (for
//! example `metrics-exporter-prometheus`; `concord serve` serves it at `/metrics` on its
//! port), and without one every call is a no-op. Every metric carries the labels
//! `group` and `peer` (the node), replicator gauges also `replicator`. Durations are in
//! seconds. Prometheus renders the dashes as underscores (`append_logs`).
//!
//! | name | kind | what (JRaft's meaning) |
//! |---|---|---|
//! | `append-logs` | histogram, s | one log write batch: write + fsync (group commit) |
//! | `append-logs-count` | histogram | entries per write batch |
//! | `append-logs-bytes` | histogram | payload bytes per write batch |
//! | `truncate-log-prefix` | histogram, s | one compaction (entries covered by a snapshot deleted) |
//! | `truncate-log-suffix` | counter | conflicting suffixes truncated |
//! | `replicate-entries` | counter | AppendEntries messages sent with entries |
//! | `replicate-entries-count` | histogram | entries per AppendEntries sent |
//! | `replicate-entries-bytes` | histogram | payload bytes per AppendEntries sent |
//! | `replicate-inflights-count` | histogram | the replicator's messages in flight, this one included, when an AppendEntries is sent |
//! | `handle-append-entries` | histogram, s | a follower handling one AppendEntries (the core's step and the hand-off of its writes) |
//! | `handle-append-entries-count` | histogram | entries per AppendEntries received |
//! | `pre-vote` | counter | pre-vote rounds started (repeated rounds in a term too) |
//! | `request-vote` | counter | elections started (terms campaigned for) |
//! | `install-snapshot` | histogram, s | a snapshot installed from the leader, fetch started to installed |
//! | `save-snapshot` | counter | snapshots saved |
//! | `fsm-apply-tasks` | histogram, s | one batch of committed entries handed to the state machine |
//! | `fsm-apply-tasks-count` | histogram | entries per batch |
//! | `read-index` | histogram, s | a read through `Node::read`/`read_with` (ReadIndex or lease), asked to answered |
//! | `handle-read-index-entries` | histogram | reads per ReadIndex batch the node's task takes |
//! | `raft-term`, `raft-commit-index`, `raft-applied-index`, `raft-is-leader` | gauges | the node's state |
//! | `replicator-log-lags`, `replicator-next-index` | gauges (label `replicator`) | on a leader, per follower, at every heartbeat |
//!
//! Handles are registered once per node, so recording is an atomic operation or a
//! histogram insert (whatever the recorder makes of it), never a map lookup — except the
//! replicator gauges, looked up per follower at each heartbeat (their labels name the
//! follower). A recorder installed after a node started sees nothing of that node.

#[cfg(feature = "metrics")]
use std::sync::Arc;
use std::time::Duration;

use crate::core::{GroupId, LogIndex, PeerId, RaftCore, Role};

/// A start time taken only when metrics are recorded (`NodeMetrics::stopwatch`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stopwatch(Option<std::time::Instant>);

impl Stopwatch {
    /// The time since the start; zero when metrics are off (nothing records it).
    pub(crate) fn elapsed(&self) -> Duration {
        self.0.map_or(Duration::ZERO, |started| started.elapsed())
    }
}

/// One node's metric handles. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct NodeMetrics {
    #[cfg(feature = "metrics")]
    handles: Option<Arc<Handles>>,
}

#[cfg(feature = "metrics")]
struct Handles {
    group: String,
    peer: String,
    append_logs: metrics::Histogram,
    append_logs_count: metrics::Histogram,
    append_logs_bytes: metrics::Histogram,
    truncate_log_prefix: metrics::Histogram,
    truncate_log_suffix: metrics::Counter,
    replicate_entries: metrics::Counter,
    replicate_entries_count: metrics::Histogram,
    replicate_entries_bytes: metrics::Histogram,
    replicate_inflights_count: metrics::Histogram,
    handle_append_entries: metrics::Histogram,
    handle_append_entries_count: metrics::Histogram,
    pre_vote: metrics::Counter,
    request_vote: metrics::Counter,
    install_snapshot: metrics::Histogram,
    save_snapshot: metrics::Counter,
    fsm_apply_tasks: metrics::Histogram,
    fsm_apply_tasks_count: metrics::Histogram,
    read_index: metrics::Histogram,
    handle_read_index_entries: metrics::Histogram,
    term: metrics::Gauge,
    commit_index: metrics::Gauge,
    applied_index: metrics::Gauge,
    is_leader: metrics::Gauge,
}

impl NodeMetrics {
    /// Registers the node's handles with the installed recorder (no-ops without one).
    pub(crate) fn new(group: &GroupId, peer: &PeerId) -> Self {
        #[cfg(feature = "metrics")]
        {
            let (g, p) = (group.to_string(), peer.to_string());
            let labels = [("group", g.clone()), ("peer", p.clone())];
            let h = |name: &'static str| metrics::histogram!(name, &labels);
            let c = |name: &'static str| metrics::counter!(name, &labels);
            let gauge = |name: &'static str| metrics::gauge!(name, &labels);
            NodeMetrics {
                handles: Some(Arc::new(Handles {
                    append_logs: h("append-logs"),
                    append_logs_count: h("append-logs-count"),
                    append_logs_bytes: h("append-logs-bytes"),
                    truncate_log_prefix: h("truncate-log-prefix"),
                    truncate_log_suffix: c("truncate-log-suffix"),
                    replicate_entries: c("replicate-entries"),
                    replicate_entries_count: h("replicate-entries-count"),
                    replicate_entries_bytes: h("replicate-entries-bytes"),
                    replicate_inflights_count: h("replicate-inflights-count"),
                    handle_append_entries: h("handle-append-entries"),
                    handle_append_entries_count: h("handle-append-entries-count"),
                    pre_vote: c("pre-vote"),
                    request_vote: c("request-vote"),
                    install_snapshot: h("install-snapshot"),
                    save_snapshot: c("save-snapshot"),
                    fsm_apply_tasks: h("fsm-apply-tasks"),
                    fsm_apply_tasks_count: h("fsm-apply-tasks-count"),
                    read_index: h("read-index"),
                    handle_read_index_entries: h("handle-read-index-entries"),
                    term: gauge("raft-term"),
                    commit_index: gauge("raft-commit-index"),
                    applied_index: gauge("raft-applied-index"),
                    is_leader: gauge("raft-is-leader"),
                    group: g,
                    peer: p,
                })),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (group, peer);
            NodeMetrics {}
        }
    }

    /// Whether anything is recorded (the feature on, and `NodeOptions::metrics`): callers
    /// skip computing what only a metric needs.
    pub(crate) fn enabled(&self) -> bool {
        #[cfg(feature = "metrics")]
        {
            self.handles.is_some()
        }
        #[cfg(not(feature = "metrics"))]
        {
            false
        }
    }

    /// Starts timing something only a metric needs: the clock is read only when
    /// metrics are recorded (a clock read per write and per apply batch otherwise).
    pub(crate) fn stopwatch(&self) -> Stopwatch {
        Stopwatch(self.enabled().then(std::time::Instant::now))
    }

    /// One write batch made durable.
    pub(crate) fn append_logs(&self, took: Duration, entries: usize, bytes: u64) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.append_logs.record(took.as_secs_f64());
            h.append_logs_count.record(entries as f64);
            h.append_logs_bytes.record(bytes as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (took, entries, bytes);
    }

    /// One compaction done.
    pub(crate) fn truncate_log_prefix(&self, took: Duration) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.truncate_log_prefix.record(took.as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = took;
    }

    /// `n` suffix truncations written.
    pub(crate) fn truncate_log_suffix(&self, n: u64) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.truncate_log_suffix.increment(n);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = n;
    }

    /// An AppendEntries with `entries` entries of `bytes` payload sent, `in_flight`
    /// messages already in flight to that peer.
    pub(crate) fn replicate_entries(&self, entries: usize, bytes: u64, in_flight: usize) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.replicate_entries.increment(1);
            h.replicate_entries_count.record(entries as f64);
            h.replicate_entries_bytes.record(bytes as f64);
            h.replicate_inflights_count.record(in_flight as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (entries, bytes, in_flight);
    }

    /// An AppendEntries of `entries` entries handled (a follower's step).
    pub(crate) fn handle_append_entries(&self, took: Duration, entries: usize) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.handle_append_entries.record(took.as_secs_f64());
            h.handle_append_entries_count.record(entries as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (took, entries);
    }

    /// The node became `role`: pre-vote and election rounds are counted.
    pub(crate) fn role(&self, role: Role) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            match role {
                Role::PreCandidate => h.pre_vote.increment(1),
                Role::Candidate => h.request_vote.increment(1),
                Role::Leader | Role::Follower => {}
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = role;
    }

    /// A snapshot installed, `took` after its fetch started.
    pub(crate) fn install_snapshot(&self, took: Duration) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.install_snapshot.record(took.as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = took;
    }

    /// A snapshot saved.
    pub(crate) fn save_snapshot(&self) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.save_snapshot.increment(1);
        }
    }

    /// A batch of `entries` applied in `took`.
    pub(crate) fn fsm_apply_tasks(&self, took: Duration, entries: usize) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.fsm_apply_tasks.record(took.as_secs_f64());
            h.fsm_apply_tasks_count.record(entries as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (took, entries);
    }

    /// A read answered `took` after it was asked.
    pub(crate) fn read_index(&self, took: Duration) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.read_index.record(took.as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = took;
    }

    /// The node's task took a batch of `reads` reads.
    pub(crate) fn read_index_batch(&self, reads: usize) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.handle_read_index_entries.record(reads as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = reads;
    }

    /// The node's state gauges.
    pub(crate) fn state(&self, core: &RaftCore<PeerId>, applied: LogIndex) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.term.set(core.term().0 as f64);
            h.commit_index.set(core.commit_index().0 as f64);
            h.applied_index.set(applied.0 as f64);
            h.is_leader.set(if core.role() == Role::Leader {
                1.0
            } else {
                0.0
            });
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (core, applied);
    }

    /// On a leader: each follower's lag and next index (at heartbeat time: labels are
    /// built per call, so not on the hot path).
    pub(crate) fn replicators(&self, core: &RaftCore<PeerId>) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            if core.role() != Role::Leader {
                return;
            }
            let last = core.last_log_id().index.0;
            for peer in core.configuration().all_members() {
                if &peer == core.id() {
                    continue;
                }
                if let Some(progress) = core.progress(&peer) {
                    let labels = [
                        ("group", h.group.clone()),
                        ("peer", h.peer.clone()),
                        ("replicator", peer.to_string()),
                    ];
                    metrics::gauge!("replicator-log-lags", &labels)
                        .set(last.saturating_sub(progress.match_index().0) as f64);
                    metrics::gauge!("replicator-next-index", &labels)
                        .set(progress.next_index().0 as f64);
                }
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = core;
    }
}
