//! The core's view of the log: log ids, term boundaries, entry sizes and configuration
//! entries — never payloads (DESIGN.md §2, bounded memory).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::configuration::ConfigurationEntry;
use super::entry::{EntryKind, EntryMeta};
use super::types::{LogEpoch, LogId, LogIndex, NodeId, Term};

/// A run of consecutive entries with the same term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct TermRun {
    /// First index of the run.
    first: LogIndex,
    term: Term,
}

/// Log ids of the entries in `(start.index, last]`, stored as term runs, plus what the
/// leader needs to rebuild entry metadata for followers (sizes, blank markers and
/// configuration entries). Memory: one `u32` per entry plus one run per term.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RaftLog<N: NodeId> {
    /// The log id just before the first entry held (index 0 term 0, or a snapshot's last
    /// included entry). Entries up to `start` are committed and compacted.
    start: LogId,
    /// Term runs covering `(start.index, last]`.
    /// Invariant: runs ascend strictly by `first` and by `term`; `runs[0].first ==
    /// start.index + 1` when non-empty.
    runs: Vec<TermRun>,
    /// Payload sizes. Invariant: `sizes.len() == last - start.index`.
    sizes: VecDeque<u32>,
    /// Indexes of blank (no-op) entries. Invariant: within `(start.index, last]`.
    blanks: BTreeSet<LogIndex>,
    /// Configuration entries. Invariant: keys within `(start.index, last]`.
    configurations: BTreeMap<LogIndex, ConfigurationEntry<N>>,
    /// Highest index durably written. Invariant: `start.index <= persisted <= last`.
    persisted: LogIndex,
    /// Bumped by every truncation; see [`LogEpoch`].
    epoch: LogEpoch,
    /// Configuration entries of terms below this one are not in force (a reset of the
    /// peers opened a newer configuration epoch): the lookups skip them. They stay in
    /// the log, and keep their kind when replicated.
    configuration_floor: Term,
}

impl<N: NodeId> RaftLog<N> {
    /// A log whose entries up to `start` are compacted (or `LogId::ZERO` for none).
    pub(crate) fn new(start: LogId) -> Self {
        RaftLog {
            start,
            runs: Vec::new(),
            sizes: VecDeque::new(),
            blanks: BTreeSet::new(),
            configurations: BTreeMap::new(),
            persisted: start.index,
            epoch: LogEpoch(0),
            configuration_floor: Term(0),
        }
    }

    pub(crate) fn start(&self) -> LogId {
        self.start
    }

    pub(crate) fn last_index(&self) -> LogIndex {
        self.start.index.plus(self.sizes.len() as u64)
    }

    /// Payload bytes of the held entries in `first..=last` (clamped to what is held).
    pub(crate) fn bytes_between(&self, first: LogIndex, last: LogIndex) -> u64 {
        let base = self.start.index.0;
        let from = first.0.max(base + 1) - base - 1;
        let to = last.0.min(self.last_index().0).saturating_sub(base);
        if from >= to {
            return 0;
        }
        self.sizes
            .range(from as usize..to as usize)
            .map(|size| u64::from(*size))
            .sum()
    }

    pub(crate) fn last_log_id(&self) -> LogId {
        match self.runs.last() {
            Some(run) => LogId {
                term: run.term,
                index: self.last_index(),
            },
            None => self.start,
        }
    }

    pub(crate) fn persisted(&self) -> LogIndex {
        self.persisted
    }

    pub(crate) fn epoch(&self) -> LogEpoch {
        self.epoch
    }

    /// The term of the entry at `index`; `None` if the index is compacted (below
    /// `start`) or beyond the end. The start entry itself has a known term.
    pub(crate) fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index == self.start.index {
            return Some(self.start.term);
        }
        if index < self.start.index || index > self.last_index() {
            return None;
        }
        // The last run whose first index is <= index.
        let position = self.runs.partition_point(|run| run.first <= index);
        self.runs.get(position.checked_sub(1)?).map(|run| run.term)
    }

    /// The log id at `index`, if known.
    pub(crate) fn log_id_at(&self, index: LogIndex) -> Option<LogId> {
        self.term_at(index).map(|term| LogId { term, index })
    }

    /// True when this log holds `log_id` (or it is the start entry).
    pub(crate) fn matches(&self, log_id: LogId) -> bool {
        self.term_at(log_id.index) == Some(log_id.term)
    }

    /// Metadata of the entry at `index` (must be within `(start, last]`).
    pub(crate) fn entry_meta(&self, index: LogIndex) -> Option<EntryMeta<N>> {
        let term = self.term_at(index)?;
        if index <= self.start.index {
            return None;
        }
        let offset = (index.0 - self.start.index.0 - 1) as usize;
        let size_bytes = *self.sizes.get(offset)?;
        let kind = if let Some(configuration) = self.configurations.get(&index) {
            EntryKind::configuration(configuration.clone())
        } else if self.blanks.contains(&index) {
            EntryKind::Blank
        } else {
            EntryKind::Normal
        };
        Some(EntryMeta {
            log_id: LogId { term, index },
            kind,
            size_bytes,
        })
    }

    /// Entries from `first`, at most `max_count` and, beyond the first entry, at most
    /// `max_bytes` in total. Empty if `first` is beyond the end or compacted.
    pub(crate) fn entries_from(
        &self,
        first: LogIndex,
        max_count: u64,
        max_bytes: u64,
    ) -> Vec<EntryMeta<N>> {
        if first <= self.start.index || first > self.last_index() || max_count == 0 {
            return Vec::new();
        }
        // One pass with cursors (the hot path of replication): the term run, the blank
        // markers and the configuration entries are walked alongside the sizes instead
        // of being looked up per entry.
        let last = self
            .last_index()
            .0
            .min(first.0.saturating_add(max_count - 1));
        let count = (last - first.0 + 1) as usize;
        let offset = (first.0 - self.start.index.0 - 1) as usize;
        // Sized for a usual batch, not for `max_count`, which may be huge when only the
        // byte limit is meant to bind.
        let mut entries = Vec::with_capacity(count.min(256));
        let mut run = self.runs.partition_point(|run| run.first <= first) - 1;
        let mut blanks = self.blanks.range(first..).peekable();
        let mut configurations = self.configurations.range(first..).peekable();
        let mut bytes = 0u64;
        for (index, size) in (first.0..).zip(self.sizes.range(offset..offset + count)) {
            let index = LogIndex(index);
            bytes += u64::from(*size);
            if !entries.is_empty() && bytes > max_bytes {
                break;
            }
            while self
                .runs
                .get(run + 1)
                .is_some_and(|next| next.first <= index)
            {
                run += 1;
            }
            let configuration = configurations.next_if(|(at, _)| **at == index);
            let blank = blanks.next_if(|at| **at == index).is_some();
            let kind = match configuration {
                Some((_, configuration)) => EntryKind::configuration(configuration.clone()),
                None if blank => EntryKind::Blank,
                None => EntryKind::Normal,
            };
            entries.push(EntryMeta {
                log_id: LogId {
                    term: self.runs[run].term,
                    index,
                },
                kind,
                size_bytes: *size,
            });
        }
        entries
    }

    /// Appends an entry at `last + 1`. The caller guarantees the index and that the term
    /// does not decrease (asserted: a violation is our own bug).
    pub(crate) fn push(&mut self, entry: &EntryMeta<N>) {
        assert_eq!(
            entry.log_id.index,
            self.last_index().next(),
            "log append must be contiguous"
        );
        let last_term = self.last_log_id().term;
        assert!(
            entry.log_id.term >= last_term,
            "log terms must not decrease (Leader Append-Only / Log Matching)"
        );
        if self.runs.is_empty() || entry.log_id.term > last_term {
            self.runs.push(TermRun {
                first: entry.log_id.index,
                term: entry.log_id.term,
            });
        }
        self.sizes.push_back(entry.size_bytes);
        match &entry.kind {
            EntryKind::Blank => {
                self.blanks.insert(entry.log_id.index);
            }
            EntryKind::Normal => {}
            EntryKind::Configuration(configuration) => {
                self.configurations
                    .insert(entry.log_id.index, (**configuration).clone());
            }
        }
    }

    /// Deletes entries with index ≥ `from` (which must be above `start`) and starts a new
    /// epoch. Returns the new epoch.
    pub(crate) fn truncate_from(&mut self, from: LogIndex) -> LogEpoch {
        assert!(from > self.start.index, "cannot truncate compacted entries");
        let keep = (from.0 - self.start.index.0 - 1) as usize;
        self.sizes.truncate(keep);
        self.runs.retain(|run| run.first < from);
        self.blanks.retain(|index| *index < from);
        self.configurations.retain(|index, _| *index < from);
        self.persisted = self.persisted.min(from.prev());
        self.epoch = LogEpoch(self.epoch.0 + 1);
        self.epoch
    }

    /// Drops the entries up to `through` (which the log must hold): they are covered by
    /// a durable snapshot, so the log now starts after them. Entries after it are kept,
    /// and `through` counts as durable.
    pub(crate) fn compact(&mut self, through: LogId) {
        assert!(
            through.index > self.start.index && self.matches(through),
            "compaction point must be a held entry"
        );
        let last = self.last_index();
        // Runs starting at or before `through`; the last of them holds it.
        let position = self.runs.partition_point(|run| run.first <= through.index);
        let covering = self.runs[position - 1].term;
        let mut rest = self.runs.split_off(position);
        let next = through.index.next();
        if through.index < last && rest.first().is_none_or(|run| run.first > next) {
            // The run holding `through` goes on after it.
            rest.insert(
                0,
                TermRun {
                    first: next,
                    term: covering,
                },
            );
        }
        self.runs = rest;
        self.sizes
            .drain(..(through.index.0 - self.start.index.0) as usize);
        self.blanks.retain(|index| *index > through.index);
        self.configurations
            .retain(|index, _| *index > through.index);
        self.start = through;
        self.persisted = self.persisted.max(through.index);
    }

    /// Drops every entry and starts the log after `start` (a snapshot installed over a
    /// log that does not hold its last entry). `start` counts as durable.
    pub(crate) fn reset(&mut self, start: LogId) {
        assert!(
            start.index >= self.last_index(),
            "reset would keep entries beyond the snapshot"
        );
        self.runs.clear();
        self.sizes.clear();
        self.blanks.clear();
        self.configurations.clear();
        self.start = start;
        self.persisted = start.index;
    }

    /// Records that entries up to `last` are durable, if `epoch` is current and `last` is
    /// still in the log. Returns whether `persisted` advanced.
    pub(crate) fn mark_persisted(&mut self, epoch: LogEpoch, last: LogId) -> bool {
        if epoch != self.epoch || !self.matches(last) || last.index <= self.persisted {
            return false;
        }
        self.persisted = last.index;
        true
    }

    /// Marks everything currently in the log as durable (used when restoring from storage).
    pub(crate) fn mark_all_persisted(&mut self) {
        self.persisted = self.last_index();
    }

    /// The latest configuration entry in force in the log, with its index.
    pub(crate) fn last_configuration(&self) -> Option<(LogIndex, &ConfigurationEntry<N>)> {
        self.configuration_at_with_index(self.last_index())
    }

    /// The latest configuration entry in force at or below `index` held in the log.
    pub(crate) fn configuration_at(&self, index: LogIndex) -> Option<&ConfigurationEntry<N>> {
        self.configuration_at_with_index(index)
            .map(|(_, configuration)| configuration)
    }

    pub(crate) fn configuration_at_with_index(
        &self,
        index: LogIndex,
    ) -> Option<(LogIndex, &ConfigurationEntry<N>)> {
        // Entries of an epoch before the floor are the old configuration's: terms ascend
        // along the log, so the first one below the floor ends the search.
        let (index, configuration) = self.configurations.range(..=index).next_back()?;
        // (No reset ever: every entry is in force, without looking up its term.)
        let in_force = self.configuration_floor == Term(0)
            || self.term_at(*index)? >= self.configuration_floor;
        in_force.then_some((*index, configuration))
    }

    /// Configuration entries of terms below `floor` stop being in force (a reset of the
    /// peers, `Input::ResetPeers`, opened the epoch `floor` starts).
    pub(crate) fn set_configuration_floor(&mut self, floor: Term) {
        self.configuration_floor = self.configuration_floor.max(floor);
    }

    /// The conflict hint of Raft §5.3's optimization (as etcd's `findConflictByTerm`):
    /// the largest log id at or below `index` whose term is ≤ `term`. Falls back to
    /// `start` when every held entry at or below `index` has a larger term.
    pub(crate) fn find_conflict_by_term(&self, index: LogIndex, term: Term) -> LogId {
        let mut index = index.min(self.last_index());
        if index <= self.start.index {
            return self.start;
        }
        // Walk the runs backwards: O(number of terms), never O(entries).
        for run in self.runs.iter().rev() {
            if run.first > index {
                continue;
            }
            if run.term <= term {
                return LogId {
                    term: run.term,
                    index,
                };
            }
            // Every entry of this run is too new; continue just before the run.
            index = run.first.prev();
            if index <= self.start.index {
                return self.start;
            }
        }
        self.start
    }

    /// The same log with the nodes of its configuration entries renamed.
    pub(crate) fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        RaftLog {
            start: self.start,
            runs: self.runs.clone(),
            sizes: self.sizes.clone(),
            blanks: self.blanks.clone(),
            configurations: self
                .configurations
                .iter()
                .map(|(index, configuration)| (*index, configuration.relabel(rename)))
                .collect(),
            persisted: self.persisted,
            epoch: self.epoch,
            configuration_floor: self.configuration_floor,
        }
    }

    /// Human-readable term runs, e.g. `1..=3@t1 4..=5@t4` (used by scenario tests).
    pub(crate) fn describe_runs(&self) -> String {
        let mut parts = Vec::new();
        for (i, run) in self.runs.iter().enumerate() {
            let end = match self.runs.get(i + 1) {
                Some(next) => next.first.prev(),
                None => self.last_index(),
            };
            parts.push(format!("{}..={}@t{}", run.first, end, run.term));
        }
        if parts.is_empty() {
            "empty".to_string()
        } else {
            parts.join(" ")
        }
    }

    /// Checks this structure's own invariants.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let last = self.last_index();
        if let Some(first) = self.runs.first() {
            if first.first != self.start.index.next() {
                return Err(format!(
                    "first term run starts at {} but the log starts after {}",
                    first.first, self.start.index
                ));
            }
            if first.term < self.start.term {
                return Err("first term run is older than the start entry".into());
            }
        } else if !self.sizes.is_empty() {
            return Err("entries without term runs".into());
        }
        for pair in self.runs.windows(2) {
            if pair[0].first >= pair[1].first || pair[0].term >= pair[1].term {
                return Err(format!("term runs out of order: {:?}", pair));
            }
        }
        if self.runs.last().is_some_and(|run| run.first > last) {
            return Err("a term run starts beyond the last entry".into());
        }
        if self.persisted < self.start.index || self.persisted > last {
            return Err(format!(
                "persisted {} outside [{}, {}]",
                self.persisted, self.start.index, last
            ));
        }
        let in_range = |index: &LogIndex| *index > self.start.index && *index <= last;
        if !self.blanks.iter().all(in_range) || !self.configurations.keys().all(in_range) {
            return Err("blank or configuration marker outside the log".into());
        }
        Ok(())
    }

    /// Membership safety (Raft dissertation §4.2–4.3), for the configurations a leader
    /// appended in `term`: each one and the configuration before it share a member of
    /// every pair of their quorums, so no two leaders can be elected by disjoint
    /// majorities while the change is in progress. Changing more than one voter at once
    /// takes a joint configuration in between. A reset of the peers starts a new
    /// configuration epoch (a new history, fenced by terms), so pairs across epochs are
    /// not compared.
    ///
    /// This is the leader's rule, not a property of any log: a follower stores what its
    /// leader sends (a hostile peer can send anything), so only the node that chose the
    /// change is held to it — and every change is chosen by some leader.
    pub(crate) fn check_configuration_steps(&self, term: Term) -> Result<(), String> {
        let configurations: Vec<_> = self.configurations.iter().collect();
        for pair in configurations.windows(2) {
            let ((before_index, before), (index, after)) = (pair[0], pair[1]);
            if self.term_at(*index) != Some(term) {
                continue;
            }
            let same_epoch = self.term_at(*before_index).map(Term::epoch)
                == self.term_at(*index).map(Term::epoch);
            if same_epoch && !quorums_overlap(before, after) {
                return Err(format!(
                    "configuration at {index} has a quorum disjoint from one of the configuration at {before_index} (a change of several voters without a joint step)"
                ));
            }
        }
        Ok(())
    }
}

/// Whether every quorum of `a` shares a member with every quorum of `b`. A joint
/// configuration's quorums are a majority of each side; a side is compared with a side
/// it must contain or be contained in, so only two stable configurations are checked
/// for disjoint majorities (joint steps are safe by construction of their sides:
/// `C_old → C_old,new → C_new`).
fn quorums_overlap<N: NodeId>(a: &ConfigurationEntry<N>, b: &ConfigurationEntry<N>) -> bool {
    if a.is_joint() || b.is_joint() {
        return true;
    }
    let (a, b) = (a.current.voters(), b.current.voters());
    if a.is_empty() || b.is_empty() {
        return true;
    }
    let shared = a.intersection(b).count();
    let majority = |set: &BTreeSet<N>| set.len() / 2 + 1;
    // Disjoint majorities exist when each side can fill its majority from its own
    // members first and the shared ones left over suffice.
    let from_shared_a = majority(a).saturating_sub(a.len() - shared);
    let from_shared_b = majority(b).saturating_sub(b.len() - shared);
    from_shared_a + from_shared_b > shared
}

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
