//! Majority and joint-majority arithmetic, pure and independent of roles.

use std::collections::{BTreeMap, BTreeSet};

use super::configuration::ConfigurationEntry;
use super::types::{LogIndex, NodeId};

/// The outcome of counting votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    /// A quorum granted.
    Won,
    /// A quorum can no longer be reached.
    Lost,
    /// Undecided.
    Pending,
}

/// Counts votes in one majority configuration. An empty voter set wins trivially (it
/// places no constraint), which makes the joint rule `both must win` work for a
/// non-joint entry.
pub fn majority_vote<N: NodeId>(voters: &BTreeSet<N>, votes: &BTreeMap<N, bool>) -> VoteResult {
    if voters.is_empty() {
        return VoteResult::Won;
    }
    let (mut granted, mut rejected) = (0usize, 0usize);
    for voter in voters {
        match votes.get(voter) {
            Some(true) => granted += 1,
            Some(false) => rejected += 1,
            None => {}
        }
    }
    let quorum = voters.len() / 2 + 1;
    if granted >= quorum {
        VoteResult::Won
    } else if rejected > voters.len() - quorum {
        VoteResult::Lost
    } else {
        VoteResult::Pending
    }
}

/// Counts votes under a possibly joint configuration: a decision needs both majorities.
pub fn joint_vote<N: NodeId>(
    configuration: &ConfigurationEntry<N>,
    votes: &BTreeMap<N, bool>,
) -> VoteResult {
    let current = majority_vote(configuration.current.voters(), votes);
    let old = match &configuration.old {
        Some(old) => majority_vote(old.voters(), votes),
        None => VoteResult::Won,
    };
    match (current, old) {
        (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
        (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
        _ => VoteResult::Pending,
    }
}

/// The highest index stored on a majority of `voters`, given each voter's match index
/// (missing voters count as 0). For an empty voter set: `LogIndex(u64::MAX)`, so that
/// the joint rule `min(both)` ignores it.
pub fn majority_index<N: NodeId>(
    voters: &BTreeSet<N>,
    match_index: impl Fn(&N) -> LogIndex,
) -> LogIndex {
    if voters.is_empty() {
        return LogIndex(u64::MAX);
    }
    let mut indexes: Vec<LogIndex> = voters.iter().map(match_index).collect();
    indexes.sort_unstable_by(|a, b| b.cmp(a));
    // With n voters sorted descending, the (n/2+1)-th largest is held by a majority.
    indexes[voters.len() / 2]
}

/// The highest index stored on a quorum of a possibly joint configuration.
pub fn joint_index<N: NodeId>(
    configuration: &ConfigurationEntry<N>,
    match_index: impl Fn(&N) -> LogIndex + Copy,
) -> LogIndex {
    let current = majority_index(configuration.current.voters(), match_index);
    match &configuration.old {
        Some(old) => current.min(majority_index(old.voters(), match_index)),
        None => current,
    }
}

/// True when the nodes for which `active` holds form a quorum.
pub fn joint_active<N: NodeId>(
    configuration: &ConfigurationEntry<N>,
    active: impl Fn(&N) -> bool + Copy,
) -> bool {
    let votes_of = |voters: &BTreeSet<N>| -> BTreeMap<N, bool> {
        voters.iter().map(|v| (v.clone(), active(v))).collect()
    };
    let mut votes = votes_of(configuration.current.voters());
    if let Some(old) = &configuration.old {
        votes.extend(votes_of(old.voters()));
    }
    joint_vote(configuration, &votes) == VoteResult::Won
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Configuration;

    fn votes(pairs: &[(u64, bool)]) -> BTreeMap<u64, bool> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn majority_votes() {
        let voters: BTreeSet<u64> = [1, 2, 3].into();
        assert_eq!(
            majority_vote(&voters, &votes(&[(1, true)])),
            VoteResult::Pending
        );
        assert_eq!(
            majority_vote(&voters, &votes(&[(1, true), (2, true)])),
            VoteResult::Won
        );
        assert_eq!(
            majority_vote(&voters, &votes(&[(2, false), (3, false)])),
            VoteResult::Lost
        );
        // Votes from non-voters do not count.
        assert_eq!(
            majority_vote(&voters, &votes(&[(1, true), (9, true)])),
            VoteResult::Pending
        );
    }

    #[test]
    fn joint_decisions_need_both_majorities() {
        let joint = ConfigurationEntry {
            current: Configuration::with_voters([3u64, 4, 5]),
            old: Some(Configuration::with_voters([1u64, 2, 3])),
        };
        let only_old = votes(&[(1, true), (2, true), (3, true)]);
        assert_eq!(joint_vote(&joint, &only_old), VoteResult::Pending);
        let both = votes(&[(1, true), (3, true), (4, true)]);
        assert_eq!(joint_vote(&joint, &both), VoteResult::Won);
        let lost_new = votes(&[(4, false), (5, false)]);
        assert_eq!(joint_vote(&joint, &lost_new), VoteResult::Lost);
        let match_index = |n: &u64| {
            LogIndex(match n {
                1 => 9,
                2 => 9,
                3 => 5,
                4 => 2,
                _ => 0,
            })
        };
        // old {1,2,3}: 9; new {3,4,5}: 2; joint: the minimum.
        assert_eq!(joint_index(&joint, match_index), LogIndex(2));
    }

    #[test]
    fn majority_index_is_the_median_from_the_top() {
        let voters: BTreeSet<u64> = [1, 2, 3, 4, 5].into();
        let index = majority_index(&voters, |n| LogIndex(*n * 10));
        assert_eq!(index, LogIndex(30)); // 50, 40, 30 are a majority
        let four: BTreeSet<u64> = [1, 2, 3, 4].into();
        assert_eq!(majority_index(&four, |n| LogIndex(*n * 10)), LogIndex(20));
    }
}
