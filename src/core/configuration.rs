//! Cluster membership: `Configuration` (voters and learners) and `ConfigurationEntry`
//! (a configuration, or the joint old+new pair during a change), JRAFT_GUIDE_NOTES F02.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::ParseError;
use super::peer::PeerId;
use super::types::NodeId;

/// The suffix that marks a learner in the text form of a configuration.
pub const LEARNER_SUFFIX: &str = "/learner";

/// A set of voters and a disjoint set of learners.
///
/// Invariant: `voters ∩ learners = ∅` (enforced by every constructor, deserialization
/// included: a frame or a stored record naming a node in both roles does not decode).
///
/// Voters elect leaders and count towards commit quorums; learners receive the log and
/// apply it but never vote and never count (F16).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(
    bound = "N: NodeId + Serialize + serde::de::DeserializeOwned",
    try_from = "ConfigurationParts<N>"
)]
pub struct Configuration<N: NodeId> {
    voters: BTreeSet<N>,
    learners: BTreeSet<N>,
}

/// A configuration as it is serialized, before its invariant is checked.
#[derive(Deserialize)]
#[serde(bound = "N: NodeId + serde::de::DeserializeOwned")]
struct ConfigurationParts<N: NodeId> {
    voters: BTreeSet<N>,
    learners: BTreeSet<N>,
}

impl<N: NodeId> TryFrom<ConfigurationParts<N>> for Configuration<N> {
    type Error = ConfigurationError;

    fn try_from(parts: ConfigurationParts<N>) -> Result<Self, ConfigurationError> {
        Configuration::new(parts.voters, parts.learners)
    }
}

/// Why a configuration was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigurationError {
    /// The same node is listed both as a voter and as a learner.
    #[error("node {node} is both a voter and a learner")]
    VoterAndLearner {
        /// The node, displayed.
        node: String,
    },
}

impl<N: NodeId> Default for Configuration<N> {
    fn default() -> Self {
        Configuration {
            voters: BTreeSet::new(),
            learners: BTreeSet::new(),
        }
    }
}

impl<N: NodeId> Configuration<N> {
    /// Builds a configuration; fails if a node is both voter and learner.
    pub fn new(
        voters: impl IntoIterator<Item = N>,
        learners: impl IntoIterator<Item = N>,
    ) -> Result<Self, ConfigurationError> {
        let voters: BTreeSet<N> = voters.into_iter().collect();
        let learners: BTreeSet<N> = learners.into_iter().collect();
        if let Some(node) = voters.intersection(&learners).next() {
            return Err(ConfigurationError::VoterAndLearner {
                node: node.to_string(),
            });
        }
        Ok(Configuration { voters, learners })
    }

    /// A configuration of voters only.
    pub fn with_voters(voters: impl IntoIterator<Item = N>) -> Self {
        Configuration {
            voters: voters.into_iter().collect(),
            learners: BTreeSet::new(),
        }
    }

    /// The voters.
    pub fn voters(&self) -> &BTreeSet<N> {
        &self.voters
    }

    /// The learners.
    pub fn learners(&self) -> &BTreeSet<N> {
        &self.learners
    }

    /// True when `node` is a voter.
    pub fn is_voter(&self, node: &N) -> bool {
        self.voters.contains(node)
    }

    /// True when `node` is a learner.
    pub fn is_learner(&self, node: &N) -> bool {
        self.learners.contains(node)
    }

    /// True when `node` is a voter or a learner.
    pub fn contains(&self, node: &N) -> bool {
        self.is_voter(node) || self.is_learner(node)
    }

    /// True when there are neither voters nor learners.
    pub fn is_empty(&self) -> bool {
        self.voters.is_empty() && self.learners.is_empty()
    }

    /// The same configuration with every node renamed by a bijection (see
    /// `RaftCore::relabel`), so voters and learners stay disjoint.
    pub fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        // A rename is a bijection: a set it maps into itself it maps onto itself, and a
        // copy is cheaper than a rebuild (the model checker relabels every state).
        let set = |nodes: &BTreeSet<N>| -> BTreeSet<N> {
            if nodes.iter().all(|node| nodes.contains(&rename(node))) {
                nodes.clone()
            } else {
                nodes.iter().map(rename).collect()
            }
        };
        let relabeled = Configuration {
            voters: set(&self.voters),
            learners: set(&self.learners),
        };
        assert_eq!(
            relabeled.voters.len() + relabeled.learners.len(),
            self.voters.len() + self.learners.len(),
            "relabel needs a bijection"
        );
        relabeled
    }

    /// Voters and learners, voters first, each in order.
    pub fn members(&self) -> impl Iterator<Item = &N> {
        self.voters.iter().chain(self.learners.iter())
    }
}

impl FromStr for Configuration<PeerId> {
    type Err = ParseError;

    /// Parses `"a:1,b:2,c:3,d:4/learner"`: comma-separated peer ids, a `/learner` suffix
    /// marking learners. Spaces around items are ignored; the empty string is the empty
    /// configuration. Duplicates and a peer listed in both roles are rejected.
    fn from_str(input: &str) -> Result<Self, ParseError> {
        let mut voters = BTreeSet::new();
        let mut learners = BTreeSet::new();
        if input.trim().is_empty() {
            return Ok(Configuration::default());
        }
        for item in input.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(ParseError::new(
                    "configuration",
                    input,
                    "empty item between commas",
                ));
            }
            let (peer_text, is_learner) = match item.split_once('/') {
                None => (item, false),
                Some((peer, "learner")) => (peer, true),
                Some((_, role)) => {
                    return Err(ParseError::new(
                        "configuration",
                        input,
                        format!("unknown role suffix '/{role}' (only '/learner' exists)"),
                    ))
                }
            };
            let peer: PeerId = peer_text.parse().map_err(|e: ParseError| {
                ParseError::new(
                    "configuration",
                    input,
                    format!("item {item:?}: {}", e.reason),
                )
            })?;
            if voters.contains(&peer) || learners.contains(&peer) {
                return Err(ParseError::new(
                    "configuration",
                    input,
                    format!("peer {peer} listed twice"),
                ));
            }
            if is_learner {
                learners.insert(peer);
            } else {
                voters.insert(peer);
            }
        }
        Ok(Configuration { voters, learners })
    }
}

impl<N: NodeId> fmt::Display for Configuration<N> {
    /// The text form accepted by `from_str`: voters, then learners with `/learner`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for voter in &self.voters {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{voter}")?;
        }
        for learner in &self.learners {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{learner}{LEARNER_SUFFIX}")?;
        }
        Ok(())
    }
}

/// A membership change, as an operator asks for it (JRaft's `addPeer`, `removePeer`,
/// `changePeers`, `addLearners`, `removeLearners`, `resetLearners`). The leader turns
/// it into a target configuration from the configuration in force when it starts the
/// change ([`MembershipChange::apply_to`]), so two operators never overwrite each
/// other's changes with a stale view.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(bound = "N: NodeId + Serialize + serde::de::DeserializeOwned")]
pub enum MembershipChange<N: NodeId> {
    /// Make `N` a voter (a learner is promoted). Nothing to do if it already votes.
    AddVoter(N),
    /// Remove the voter `N`. Nothing to do if it does not vote.
    RemoveVoter(N),
    /// Make exactly these nodes the voters (learners among them are promoted).
    ChangeVoters(BTreeSet<N>),
    /// Add these learners (none may be a voter).
    AddLearners(BTreeSet<N>),
    /// Remove these learners.
    RemoveLearners(BTreeSet<N>),
    /// Make exactly these nodes the learners (none may be a voter).
    ResetLearners(BTreeSet<N>),
}

impl<N: NodeId> MembershipChange<N> {
    /// The configuration this change makes of `current`, or why it cannot.
    pub fn apply_to(&self, current: &Configuration<N>) -> Result<Configuration<N>, String> {
        let mut voters = current.voters.clone();
        let mut learners = current.learners.clone();
        let check_not_voters = |nodes: &BTreeSet<N>| match nodes.intersection(&voters).next() {
            Some(node) => Err(format!("{node} is a voter")),
            None => Ok(()),
        };
        match self {
            MembershipChange::AddVoter(node) => {
                learners.remove(node);
                voters.insert(node.clone());
            }
            MembershipChange::RemoveVoter(node) => {
                voters.remove(node);
            }
            MembershipChange::ChangeVoters(new_voters) => {
                voters = new_voters.clone();
                learners.retain(|node| !voters.contains(node));
            }
            MembershipChange::AddLearners(nodes) => {
                check_not_voters(nodes)?;
                learners.extend(nodes.iter().cloned());
            }
            MembershipChange::RemoveLearners(nodes) => {
                learners.retain(|node| !nodes.contains(node));
            }
            MembershipChange::ResetLearners(nodes) => {
                check_not_voters(nodes)?;
                learners = nodes.clone();
            }
        }
        if voters.is_empty() {
            return Err("no voter would be left".into());
        }
        Configuration::new(voters, learners).map_err(|error| error.to_string())
    }

    /// The same change with every node renamed.
    pub fn relabel(&self, rename: &impl Fn(&N) -> N) -> Self {
        let set = |nodes: &BTreeSet<N>| nodes.iter().map(rename).collect();
        match self {
            MembershipChange::AddVoter(node) => MembershipChange::AddVoter(rename(node)),
            MembershipChange::RemoveVoter(node) => MembershipChange::RemoveVoter(rename(node)),
            MembershipChange::ChangeVoters(nodes) => MembershipChange::ChangeVoters(set(nodes)),
            MembershipChange::AddLearners(nodes) => MembershipChange::AddLearners(set(nodes)),
            MembershipChange::RemoveLearners(nodes) => MembershipChange::RemoveLearners(set(nodes)),
            MembershipChange::ResetLearners(nodes) => MembershipChange::ResetLearners(set(nodes)),
        }
    }
}

/// The membership a log entry or snapshot establishes: a configuration, or during a
/// joint-consensus change (Raft §6) the pair `old` + `current`, in which every decision
/// needs a majority of both.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(bound = "N: NodeId + Serialize + serde::de::DeserializeOwned")]
pub struct ConfigurationEntry<N: NodeId> {
    /// The new (or only) configuration.
    pub current: Configuration<N>,
    /// The old configuration while a joint change is in progress.
    pub old: Option<Configuration<N>>,
}

impl<N: NodeId> ConfigurationEntry<N> {
    /// A stable (non-joint) configuration.
    pub fn stable(current: Configuration<N>) -> Self {
        ConfigurationEntry { current, old: None }
    }

    /// True while a joint change is in progress.
    pub fn is_joint(&self) -> bool {
        self.old.is_some()
    }

    /// True when `node` votes in either configuration.
    pub fn is_voter(&self, node: &N) -> bool {
        self.current.is_voter(node) || self.old.as_ref().is_some_and(|old| old.is_voter(node))
    }

    /// Every node that must receive the log: voters and learners of both configurations,
    /// in order, without duplicates.
    pub fn all_members(&self) -> BTreeSet<N> {
        let mut all: BTreeSet<N> = self.current.members().cloned().collect();
        if let Some(old) = &self.old {
            all.extend(old.members().cloned());
        }
        all
    }
}

impl<N: NodeId> fmt::Display for ConfigurationEntry<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.old {
            None => write!(f, "{}", self.current),
            Some(old) => write!(f, "{} (joint with old {})", self.current, old),
        }
    }
}
