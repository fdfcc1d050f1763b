//! Nemeses: the faults a run injects, drawn from the seed, and how each is undone.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use concord::core::{MembershipChange, PeerId};

use crate::rng::Rng;

/// A kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Nemesis {
    /// Network partitions: random halves, majority/minority, isolate the leader, bridge,
    /// ring (5 nodes).
    Partition,
    /// Process kill: the software stops and restarts later; written-but-unsynced data
    /// survives in the page cache.
    Kill,
    /// Power loss: as kill, and the disk loses every unsynced write (the last one may be
    /// torn).
    Crash,
    /// Pause: a node's traffic is held (queued, not dropped) and released later.
    Pause,
    /// Clock skew: each node's clock runs at its own rate and its reading is stepped
    /// forward or back.
    Skew,
    /// Power loss timed inside a write→fsync window: the nemesis waits until a node has
    /// written a batch that is not durable yet (one holding a vote, sometimes) and cuts
    /// the power of that node or of every node at that instant; power returns shortly.
    Window,
    /// Depose the leader: isolate it from the other nodes (clients still reach it, so it
    /// takes writes it cannot commit while the rest elect a new leader and commit their
    /// own), then heal and, at that instant, kill the new leader. What is left is an old
    /// leader with a longer log of an older term against followers holding the newer
    /// committed entries — the election the log up-to-date rule must get right.
    Depose,
    /// Disk failure: a node's next fsync fails (EIO) and its disk refuses every later
    /// write, usually the leader's. The node must step aside — a failed leader steps
    /// down and goes quiet, no failed node campaigns or votes — so the others elect a
    /// leader and carry on. At heal the node loses power (after a failed fsync nothing
    /// unsynced can be trusted) and restarts on its durable state.
    Disk,
    /// Membership churn (F14–F16): the leader is asked to add a spare node as a voter or
    /// a learner, remove a voter (never below three), replace a voter by a spare
    /// (joint consensus), or drop the learners. Two spare nodes start outside the group.
    Membership,
    /// Leadership transfer (F17): the leader is asked to hand over to a random voter;
    /// half the time that voter is cut off from everyone while the transfer runs (the
    /// transfer must time out and the leader take writes again).
    Transfer,
    /// A forced reset of the peers (F17, fenced; at most once a run): a minority of the
    /// voters is cut off from the rest, which go on as the old group; the operator,
    /// believing the majority lost, resets each survivor to the survivors; at heal the
    /// old members come back and must be fenced. Not part of `all`: a reset gives up
    /// what the old group acknowledged meanwhile, so such a run is judged by the fence
    /// (no old member leads again, the survivors lead and agree) instead of by
    /// linearizability and lost writes.
    Reset,
    /// A wiped disk (F11, F14): a voter loses power and its disk — log, term, vote and
    /// snapshots — is replaced by an empty one. Having forgotten its vote, the node must
    /// never come back under its old id (it could vote twice in a term); the operator
    /// brings it back under a new one (the same address, the next `idx`) and replaces
    /// the old id by the new in the configuration (`change_peers`); the node rebuilds
    /// from the leader's log or snapshot. One wipe at a time: while the configuration
    /// still holds a wiped id, a `wipe` is a power loss instead.
    Wipe,
    /// A lagging link: the leader is cut off from every other node but one follower,
    /// and its link to that follower is held — what it sends is queued, as on a
    /// congested path, not dropped — while clients still reach it (so it appends
    /// entries it cannot commit). The others elect a new leader, and a few milliseconds
    /// after the follower first follows it, the held traffic arrives at once: the old
    /// leader's AppendEntries of the older term, carrying entries the new leader's
    /// overwrote and the follower has not yet learnt are committed. A follower must
    /// refuse them by their term (Raft §5.1).
    Lag,
    /// A rolling partition: the leader is cut off (clients still reach it, so it
    /// appends entries it cannot commit); when a candidate of the others has the votes
    /// to win — sent, not yet arrived — it is cut off too, so it wins and appends
    /// entries of its newer term that reach nobody; then the first leader's links come
    /// back (not to the second), and it is elected again over followers whose logs are
    /// older than the second's. What is left is Raft's Figure 8: a leader holding
    /// entries of an older term that it must not count committed by replicas alone
    /// (Raft §5.4.2) — a log of a newer term that lacks them could still win. With
    /// `--max-entries-per-message 1` those entries are acknowledged alone.
    Rolling,
    /// Voters restarted just before a candidate's campaign, in a read-only spell: a
    /// candidate is cut off from the leader and restarted, and the clients only read (so
    /// the leader appends nothing, its lease is renewed, and the candidate's log stays
    /// as up to date as the others'). Just before the candidate's first campaign can
    /// start, the leader is cut off from every node (not from the clients) and enough
    /// voters for the candidate to win are killed and restarted at once: they come back
    /// having forgotten the leader they heard a moment ago, while the leader's lease
    /// still rests on their answers; the clients write again. A restarted voter must
    /// refuse votes until an election timeout has passed (Raft dissertation §6.4.1);
    /// one that grants at once lets the candidate win and commit writes while the old
    /// leader still serves lease reads. Meant for `--lease-reads`.
    Amnesia,
}

impl Nemesis {
    /// Every nemesis the CLI knows; `all` is every one but `reset` and `amnesia` (see
    /// [`NemesisSet::all`]).
    pub const KNOWN: [Nemesis; 15] = [
        Nemesis::Partition,
        Nemesis::Kill,
        Nemesis::Crash,
        Nemesis::Pause,
        Nemesis::Skew,
        Nemesis::Window,
        Nemesis::Depose,
        Nemesis::Disk,
        Nemesis::Membership,
        Nemesis::Transfer,
        Nemesis::Reset,
        Nemesis::Wipe,
        Nemesis::Lag,
        Nemesis::Rolling,
        Nemesis::Amnesia,
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Nemesis::Partition => "partition",
            Nemesis::Kill => "kill",
            Nemesis::Crash => "crash",
            Nemesis::Pause => "pause",
            Nemesis::Skew => "skew",
            Nemesis::Window => "window",
            Nemesis::Depose => "depose",
            Nemesis::Disk => "disk",
            Nemesis::Membership => "membership",
            Nemesis::Transfer => "transfer",
            Nemesis::Reset => "reset",
            Nemesis::Wipe => "wipe",
            Nemesis::Lag => "lag",
            Nemesis::Rolling => "rolling",
            Nemesis::Amnesia => "amnesia",
        }
    }
}

impl fmt::Display for Nemesis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of nemeses parsed from `partition,kill,...` or `all`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NemesisSet(pub Vec<Nemesis>);

impl NemesisSet {
    /// Every nemesis but `reset` (a run with a reset is judged by the fence instead)
    /// and `amnesia` (a lease-read fault: it belongs with `--lease-reads`; without
    /// leases it is a partition and a kill).
    pub fn all() -> NemesisSet {
        NemesisSet(
            Nemesis::KNOWN
                .into_iter()
                .filter(|n| *n != Nemesis::Reset && *n != Nemesis::Amnesia)
                .collect(),
        )
    }

    /// No faults at all.
    pub fn none() -> NemesisSet {
        NemesisSet(Vec::new())
    }
}

impl fmt::Display for NemesisSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.0.iter().map(|n| n.name()).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for NemesisSet {
    type Err = String;

    fn from_str(text: &str) -> Result<NemesisSet, String> {
        let mut set = Vec::new();
        for word in text.split(',').map(str::trim) {
            match word {
                "all" => set.extend(NemesisSet::all().0),
                "none" => {}
                other => {
                    let nemesis = Nemesis::KNOWN
                        .into_iter()
                        .find(|n| n.name() == other)
                        .ok_or_else(|| {
                            format!(
                                "unknown nemesis {other:?} (expected partition, kill, crash, pause, skew, window, depose, disk, membership, transfer, reset, wipe, lag, rolling, all or none)"
                            )
                        })?;
                    set.push(nemesis);
                }
            }
        }
        set.sort();
        set.dedup();
        Ok(NemesisSet(set))
    }
}

/// Which write→fsync window a `window` fault waits for, and whom it takes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowTarget {
    /// A node whose window has been open for `age_ms` loses power.
    Node {
        /// How long into the window (the rest of the cluster acts meanwhile).
        age_ms: u64,
    },
    /// The first node whose open window holds a granted vote loses power at once.
    Voter,
    /// When some node's window has been open for `age_ms`, every node loses power.
    All {
        /// How long into the window.
        age_ms: u64,
    },
}

/// One fault in force, with what is needed to undo it.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// These node pairs cannot talk.
    Partition {
        /// Which shape.
        shape: &'static str,
        /// The cut links (node indices).
        cuts: Vec<(usize, usize)>,
    },
    /// These nodes are stopped (process kill).
    Kill {
        /// Node indices.
        nodes: Vec<usize>,
    },
    /// These nodes lost power.
    Crash {
        /// Node indices.
        nodes: Vec<usize>,
    },
    /// This node's traffic is held.
    Pause {
        /// Node index.
        node: usize,
    },
    /// Waiting for a write→fsync window to cut the power in (becomes `Crash`).
    Window {
        /// What to wait for and whom to take down.
        target: WindowTarget,
    },
    /// The leader is cut off from the other nodes; when this heals, the leader the
    /// others elected meanwhile is killed (it becomes a `Kill`).
    Depose {
        /// The deposed leader.
        old: usize,
        /// Its links to the other nodes.
        cuts: Vec<(usize, usize)>,
    },
    /// This node's disk fails at its next fsync; when this heals, the node loses power
    /// (it becomes a `Crash`).
    Disk {
        /// Node index.
        node: usize,
    },
    /// The operator asks the leader for a membership change (instantaneous; nothing to
    /// heal).
    Membership {
        /// What is asked.
        change: MembershipChange<PeerId>,
    },
    /// The operator asks the leader to hand leadership to `to`; `cuts` isolate `to`
    /// while the fault lasts (empty: `to` stays reachable).
    Transfer {
        /// Node index of the target.
        to: usize,
        /// Its links to every other node, cut for the fault's duration.
        cuts: Vec<(usize, usize)>,
    },
    /// The survivors (a minority of the voters) are cut off from the others, and the
    /// operator resets each of them to the survivors; at heal the others come back.
    Reset {
        /// Node indexes of the survivors.
        survivors: Vec<usize>,
        /// Their links to every other host.
        cuts: Vec<(usize, usize)>,
    },
    /// This node lost power and its disk was replaced by an empty one; it comes back
    /// at heal as `new`, which the operator then puts in place of `old`.
    Wipe {
        /// Node index.
        node: usize,
        /// The id it had.
        old: PeerId,
        /// The id it comes back with.
        new: PeerId,
    },
    /// The old leader's links to every node but `follower` are cut, and its link to
    /// `follower` is held; the held messages are released `release_after_ms` after
    /// `follower` first follows a leader of a later term (or when the fault's time is
    /// up), then the links are repaired.
    Lag {
        /// The leader cut off.
        old: usize,
        /// The follower whose link from it is held.
        follower: usize,
        /// Its links to the other nodes.
        cuts: Vec<(usize, usize)>,
        /// Delay between the follower's new leader and the release, in milliseconds.
        release_after_ms: u64,
    },
    /// A rolling partition: `first` is cut off (`cuts`); once a candidate has the
    /// grants to win, it (`second`) is cut off too (`second_cuts`); later `first`'s
    /// links come back except to `second` (`first_back`), and at heal everything does.
    Rolling {
        /// The leader cut off first.
        first: usize,
        /// Its links still cut.
        cuts: Vec<(usize, usize)>,
        /// The candidate cut off when it had the votes to win.
        second: Option<usize>,
        /// Its links.
        second_cuts: Vec<(usize, usize)>,
        /// The first leader's links are back (except to the second).
        first_back: bool,
        /// Durable grants a candidate needs to win (a majority of the voters, less its
        /// own vote).
        grants: usize,
    },
    /// The clients only read until the voters' restart; once the writes in flight are
    /// done, `candidate` is cut off from the leader `old` (`cuts`) and killed
    /// (`candidate_down`), and restarted after `downtime_ms` (`candidate_back`); shortly
    /// before its first campaign can start (by its clock),
    /// `old` is cut off from every host and `voters` are killed (`down`), then
    /// restarted after `downtime_ms` (`restarted`).
    Amnesia {
        /// The leader.
        old: usize,
        /// The voter cut off from it, which campaigns.
        candidate: usize,
        /// The voters restarted (with the candidate, a majority of the voters).
        voters: Vec<usize>,
        /// The links cut so far.
        cuts: Vec<(usize, usize)>,
        /// The candidate is cut off and killed.
        candidate_down: bool,
        /// The candidate runs again.
        candidate_back: bool,
        /// The voters are down.
        down: bool,
        /// When the voters came back.
        restarted: Option<Duration>,
        /// A node other than `old` was seen leading after the restart.
        new_leader: bool,
        /// How long the voters stay down, in milliseconds.
        downtime_ms: u64,
    },
    /// Per-node clock rates and steps.
    Skew {
        /// Rate of each node's clock (1.0 = true time).
        rates: Vec<f64>,
        /// How far each node's reading is stepped, in milliseconds (negative: back).
        steps_ms: Vec<i64>,
    },
}

/// `n1,n3`: node indexes as the fault log names them.
pub fn node_names(nodes: &[usize]) -> String {
    nodes
        .iter()
        .map(|n| format!("n{}", n + 1))
        .collect::<Vec<_>>()
        .join(",")
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = node_names;
        match self {
            Fault::Partition { shape, cuts } => {
                let cuts: Vec<String> = cuts
                    .iter()
                    .map(|(a, b)| format!("n{}-n{}", a + 1, b + 1))
                    .collect();
                write!(f, "partition {shape} (cut {})", cuts.join(" "))
            }
            Fault::Kill { nodes } => write!(f, "kill {}", names(nodes)),
            Fault::Crash { nodes } => write!(f, "power loss {}", names(nodes)),
            Fault::Pause { node } => write!(f, "pause n{}", node + 1),
            Fault::Depose { old, .. } => write!(
                f,
                "depose n{}: isolate it from the other nodes, kill the next leader at heal",
                old + 1
            ),
            Fault::Disk { node } => write!(f, "disk of n{} fails at its next fsync", node + 1),
            Fault::Rolling { first, .. } => write!(
                f,
                "rolling partition from n{}: cut it off, then the candidate that wins next",
                first + 1
            ),
            Fault::Lag {
                old,
                follower,
                release_after_ms,
                ..
            } => write!(
                f,
                "lag n{}: cut it off but hold its link to n{}, released {release_after_ms} ms after n{} follows a new leader",
                old + 1,
                follower + 1,
                follower + 1
            ),
            Fault::Amnesia {
                old,
                candidate,
                voters,
                downtime_ms,
                ..
            } => write!(
                f,
                "amnesia: cut n{} off from n{} and restart it; cut n{} off and restart {} for {downtime_ms} ms just before its first campaign",
                candidate + 1,
                old + 1,
                old + 1,
                names(voters)
            ),
            Fault::Membership { change } => write!(f, "ask the leader to change: {change:?}"),
            Fault::Transfer { to, cuts } => write!(
                f,
                "ask the leader to transfer to n{}{}",
                to + 1,
                if cuts.is_empty() { "" } else { " (cut off)" }
            ),
            Fault::Reset { survivors, .. } => write!(
                f,
                "cut off {} and reset them to themselves (the others given up for lost)",
                names(survivors)
            ),
            Fault::Wipe { node, old, new } => write!(
                f,
                "power loss n{} and wipe its disk; it returns as {new} in place of {old}",
                node + 1
            ),
            Fault::Window { target } => match target {
                WindowTarget::Node { age_ms } => write!(
                    f,
                    "await a write window open for {age_ms} ms to cut the power of its node"
                ),
                WindowTarget::Voter => {
                    write!(
                        f,
                        "await a vote's write window to cut the power of the voter"
                    )
                }
                WindowTarget::All { age_ms } => write!(
                    f,
                    "await a write window open for {age_ms} ms to cut the power of every node"
                ),
            },
            Fault::Skew { rates, steps_ms } => {
                let rates: Vec<String> = rates.iter().map(|r| format!("{r:.2}")).collect();
                let steps: Vec<String> = steps_ms.iter().map(|s| format!("{s:+}ms")).collect();
                write!(
                    f,
                    "clock rates [{}] steps [{}]",
                    rates.join(" "),
                    steps.join(" ")
                )
            }
        }
    }
}

/// How many nodes a kill or power loss takes down: usually one, sometimes a majority,
/// occasionally all.
fn victims(rng: &mut Rng, nodes: usize) -> Vec<usize> {
    let roll = rng.below(10);
    let count = if roll < 5 {
        1
    } else if roll < 9 {
        nodes / 2 + 1
    } else {
        nodes
    };
    let mut order: Vec<usize> = (0..nodes).collect();
    rng.shuffle(&mut order);
    order.truncate(count);
    order.sort_unstable();
    order
}

pub fn cut_between(a: &[usize], b: &[usize]) -> Vec<(usize, usize)> {
    let mut cuts = Vec::new();
    for &x in a {
        for &y in b {
            cuts.push((x.min(y), x.max(y)));
        }
    }
    cuts.sort_unstable();
    cuts
}

/// The group as the nemesis sees it: how many hosts run (initial voters first, then
/// spares), the configuration the leader reports, and how a host is named as a peer.
#[derive(Clone, Debug)]
pub struct GroupView {
    /// Every host, voters of the initial configuration first, then the spares.
    pub hosts: usize,
    /// Voters of the configuration in force (host indexes).
    pub voters: Vec<usize>,
    /// Learners of the configuration in force (host indexes).
    pub learners: Vec<usize>,
    /// Voters of the configuration in force that no host answers to (wiped, not
    /// replaced yet), or at least the replacements the operator has not finished (a
    /// joint change's old half may still hold a wiped id).
    pub strangers: usize,
    /// The peer id each host runs under now.
    pub peers: Vec<PeerId>,
}

/// Draws a fault of kind `nemesis` for a cluster of `nodes`; `leader` is the current
/// leader if one is known (for "isolate the leader").
pub fn draw(
    nemesis: Nemesis,
    rng: &mut Rng,
    nodes: usize,
    leader: Option<usize>,
    group: &GroupView,
) -> Fault {
    match nemesis {
        Nemesis::Wipe => {
            if group.strangers > 0 || group.voters.len() < 3 {
                // An earlier wipe is not replaced yet (a second could lose committed
                // entries a majority no longer holds): a power loss instead.
                return Fault::Crash {
                    nodes: vec![rng.below(nodes as u64) as usize],
                };
            }
            let node = group.voters[rng.below(group.voters.len() as u64) as usize];
            let old = group.peers[node].clone();
            let new = PeerId::new(old.endpoint().clone(), old.idx() + 1);
            Fault::Wipe { node, old, new }
        }
        Nemesis::Reset => {
            let mut voters = if group.voters.is_empty() {
                (0..nodes).collect()
            } else {
                group.voters.clone()
            };
            rng.shuffle(&mut voters);
            // A minority: the rest would still be a quorum of the old configuration.
            voters.truncate(((voters.len() - 1) / 2).max(1));
            voters.sort_unstable();
            let rest: Vec<usize> = (0..group.hosts).filter(|n| !voters.contains(n)).collect();
            Fault::Reset {
                cuts: cut_between(&voters, &rest),
                survivors: voters,
            }
        }
        // With a wiped voter not replaced yet, a change drawn from the voters the
        // leader reports would leave the wiped id out (below three voters) and race the
        // replacement: a power loss instead.
        Nemesis::Membership if group.strangers > 0 => Fault::Crash {
            nodes: vec![rng.below(nodes as u64) as usize],
        },
        Nemesis::Membership => Fault::Membership {
            change: draw_change(rng, group),
        },
        Nemesis::Transfer => {
            let candidates: Vec<usize> = group
                .voters
                .iter()
                .copied()
                .filter(|v| Some(*v) != leader)
                .collect();
            let to = if candidates.is_empty() {
                rng.below(nodes as u64) as usize
            } else {
                candidates[rng.below(candidates.len() as u64) as usize]
            };
            let cuts = if rng.below(2) == 0 {
                let rest: Vec<usize> = (0..group.hosts).filter(|&n| n != to).collect();
                cut_between(&[to], &rest)
            } else {
                Vec::new()
            };
            Fault::Transfer { to, cuts }
        }
        Nemesis::Partition => {
            let mut order: Vec<usize> = (0..nodes).collect();
            rng.shuffle(&mut order);
            let shapes = if nodes >= 5 { 5 } else { 4 };
            match rng.below(shapes) {
                0 => {
                    let (a, b) = order.split_at(nodes / 2);
                    Fault::Partition {
                        shape: "halves",
                        cuts: cut_between(a, b),
                    }
                }
                1 => {
                    let minority = 1 + rng.below(((nodes - 1) / 2) as u64) as usize;
                    let (a, b) = order.split_at(minority);
                    Fault::Partition {
                        shape: "majority/minority",
                        cuts: cut_between(a, b),
                    }
                }
                2 => {
                    let isolated = leader.unwrap_or(order[0]);
                    let rest: Vec<usize> = (0..nodes).filter(|&n| n != isolated).collect();
                    Fault::Partition {
                        shape: "isolate leader",
                        cuts: cut_between(&[isolated], &rest),
                    }
                }
                3 => {
                    // Two sides that share one node: each side sees the bridge only.
                    // order[0] is the bridge; it keeps every link.
                    let rest = &order[1..];
                    let (a, b) = rest.split_at(rest.len() / 2);
                    Fault::Partition {
                        shape: "bridge",
                        cuts: cut_between(a, b),
                    }
                }
                _ => {
                    // Each node sees only its two ring neighbours.
                    let mut cuts = Vec::new();
                    for i in 0..nodes {
                        for j in i + 1..nodes {
                            let distance = (j - i).min(nodes - (j - i));
                            if distance > 1 {
                                let (x, y) = (order[i], order[j]);
                                cuts.push((x.min(y), x.max(y)));
                            }
                        }
                    }
                    cuts.sort_unstable();
                    Fault::Partition {
                        shape: "ring",
                        cuts,
                    }
                }
            }
        }
        Nemesis::Kill => Fault::Kill {
            nodes: victims(rng, nodes),
        },
        Nemesis::Depose => {
            let old = leader.unwrap_or_else(|| rng.below(nodes as u64) as usize);
            let rest: Vec<usize> = (0..nodes).filter(|&n| n != old).collect();
            Fault::Depose {
                old,
                cuts: cut_between(&[old], &rest),
            }
        }
        Nemesis::Rolling => {
            let first = leader.unwrap_or_else(|| rng.below(nodes as u64) as usize);
            // Every host: a spare the membership nemesis made a voter is cut off too.
            let rest: Vec<usize> = (0..group.hosts).filter(|&n| n != first).collect();
            let voters = if group.voters.is_empty() {
                nodes
            } else {
                group.voters.len()
            };
            Fault::Rolling {
                first,
                cuts: cut_between(&[first], &rest),
                second: None,
                second_cuts: Vec::new(),
                first_back: false,
                grants: voters / 2,
            }
        }
        Nemesis::Lag => {
            let old = leader.unwrap_or_else(|| rng.below(nodes as u64) as usize);
            // The held follower is a voter (the one the others' election needs least).
            let mut voters: Vec<usize> =
                group.voters.iter().copied().filter(|&n| n != old).collect();
            if voters.is_empty() {
                voters = (0..nodes).filter(|&n| n != old).collect();
            }
            let follower = voters[rng.below(voters.len() as u64) as usize];
            // Every other host is cut off, spares the membership nemesis added included.
            let rest: Vec<usize> = (0..group.hosts)
                .filter(|&n| n != old && n != follower)
                .collect();
            Fault::Lag {
                old,
                follower,
                cuts: cut_between(&[old], &rest),
                // Within a heartbeat interval of the default timeouts: before the
                // follower hears that the new leader's first entries are committed.
                release_after_ms: rng.below(21),
            }
        }
        Nemesis::Amnesia => {
            let old = leader.unwrap_or_else(|| rng.below(nodes as u64) as usize);
            let mut others: Vec<usize> = if group.voters.is_empty() {
                (0..nodes).filter(|&n| n != old).collect()
            } else {
                group.voters.iter().copied().filter(|&n| n != old).collect()
            };
            if others.is_empty() {
                // A single voter: nobody to restart or to campaign.
                return Fault::Kill { nodes: vec![old] };
            }
            rng.shuffle(&mut others);
            // The candidate, and the voters it needs besides itself: a majority of the
            // voters, the leader counted among them.
            let all_voters = others.len() + 1;
            let needed = all_voters / 2;
            let candidate = others[0];
            let mut voters: Vec<usize> = others[1..].iter().copied().take(needed).collect();
            voters.sort_unstable();
            Fault::Amnesia {
                old,
                candidate,
                voters,
                cuts: cut_between(&[old], &[candidate]),
                candidate_down: false,
                candidate_back: false,
                down: false,
                restarted: None,
                new_leader: false,
                downtime_ms: 1 + rng.below(10),
            }
        }
        Nemesis::Crash => Fault::Crash {
            nodes: victims(rng, nodes),
        },
        // A wiped voter not replaced yet leaves no quorum to take over from a failed
        // disk (the check that the others carry on would be wrong): a power loss then.
        Nemesis::Disk if group.strangers > 0 => Fault::Crash {
            nodes: vec![rng.below(nodes as u64) as usize],
        },
        Nemesis::Disk => Fault::Disk {
            // The leader's failure is the one the others must route around.
            node: leader
                .filter(|_| rng.below(3) != 0)
                .unwrap_or_else(|| rng.below(nodes as u64) as usize),
        },
        Nemesis::Pause => Fault::Pause {
            node: leader
                .filter(|_| rng.below(2) == 0)
                .unwrap_or_else(|| rng.below(nodes as u64) as usize),
        },
        Nemesis::Window => Fault::Window {
            target: match rng.below(3) {
                0 => WindowTarget::Node {
                    age_ms: rng.below(10),
                },
                1 => WindowTarget::Voter,
                _ => WindowTarget::All {
                    age_ms: rng.below(10),
                },
            },
        },
        Nemesis::Skew => Fault::Skew {
            // Between half and double speed, in steps of 1/20.
            rates: (0..nodes)
                .map(|_| 0.5 + rng.below(31) as f64 * 0.05)
                .collect(),
            // Up to 1.5 s forward or back, in steps of 100 ms; a third stay put.
            steps_ms: (0..nodes)
                .map(|_| {
                    if rng.below(3) == 0 {
                        0
                    } else {
                        (rng.below(31) as i64 - 15) * 100
                    }
                })
                .collect(),
        },
    }
}

/// A membership change that keeps at least three voters: add a spare as a voter or a
/// learner, remove a voter, replace a voter by a spare, or drop the learners.
fn draw_change(rng: &mut Rng, group: &GroupView) -> MembershipChange<PeerId> {
    let spares: Vec<usize> = (0..group.hosts)
        .filter(|h| !group.voters.contains(h) && !group.learners.contains(h))
        .collect();
    let pick = |rng: &mut Rng, from: &[usize]| from[rng.below(from.len() as u64) as usize];
    let peer = |h: usize| group.peers[h].clone();
    let peers = |hosts: &[usize]| hosts.iter().map(|&h| peer(h)).collect();
    for _ in 0..8 {
        match rng.below(5) {
            0 if !spares.is_empty() => {
                return MembershipChange::AddVoter(peer(pick(rng, &spares)));
            }
            1 if group.voters.len() > 3 => {
                return MembershipChange::RemoveVoter(peer(pick(rng, &group.voters)));
            }
            2 if !spares.is_empty() && !group.voters.is_empty() => {
                let out = pick(rng, &group.voters);
                let mut voters: Vec<usize> =
                    group.voters.iter().copied().filter(|&v| v != out).collect();
                voters.push(pick(rng, &spares));
                return MembershipChange::ChangeVoters(peers(&voters));
            }
            3 if !spares.is_empty() => {
                return MembershipChange::AddLearners(peers(&[pick(rng, &spares)]));
            }
            4 if !group.learners.is_empty() => {
                return MembershipChange::RemoveLearners(peers(&group.learners));
            }
            // Promote a learner.
            _ if !group.learners.is_empty() => {
                return MembershipChange::AddVoter(peer(pick(rng, &group.learners)));
            }
            _ => {}
        }
    }
    // Nothing else fits: ask for the voters as they are (a change that changes nothing).
    MembershipChange::ChangeVoters(peers(&group.voters))
}

/// How long a fault lasts and how long the cluster rests between faults.
pub fn fault_duration(rng: &mut Rng) -> Duration {
    Duration::from_millis(800 + rng.below(2_400))
}

/// How long a deposed leader stays cut off: one to five election timeouts. The short
/// ones often end while the old leader still believes it leads (its check-quorum has not
/// fired yet) and the others already follow a new one; the long ones end after the old
/// leader stepped down but while clients still wait on it, so its log is longer than the
/// new leader's, in an older term.
pub fn depose_duration(rng: &mut Rng, election_timeout: Duration) -> Duration {
    let base = election_timeout.as_millis() as u64;
    Duration::from_millis(base + rng.below(4 * base + 1))
}

/// How long the others get to elect a leader and commit after a disk failure: eight
/// election rounds (a base timeout plus the largest random delay), and at least 5 s —
/// with short timeouts and many stale election messages (`--stale-per-mille 50`
/// delays half of them by up to 1.5 s), two nodes can need many rounds to agree.
pub fn take_over_bound(election_round: Duration) -> Duration {
    (election_round * 8).max(Duration::from_secs(5))
}

/// How long a disk stays failed: long enough for the take-over the run checks
/// (`take_over_bound`), and then some.
pub fn disk_duration(rng: &mut Rng, election_round: Duration) -> Duration {
    take_over_bound(election_round) + fault_duration(rng)
}

/// How long power stays off after a window crash: short, so the node is back while the
/// election or the replication round it interrupted is still going on.
pub fn window_outage(rng: &mut Rng) -> Duration {
    Duration::from_millis(1 + rng.below(200))
}

/// The rest between two faults.
pub fn rest_duration(rng: &mut Rng) -> Duration {
    Duration::from_millis(300 + rng.below(1_200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nemesis_sets_parse_and_reject_garbage() {
        assert_eq!("all".parse::<NemesisSet>().unwrap(), NemesisSet::all());
        assert_eq!(
            "kill, partition,kill".parse::<NemesisSet>().unwrap(),
            NemesisSet(vec![Nemesis::Partition, Nemesis::Kill])
        );
        let error = "partition,flood".parse::<NemesisSet>().unwrap_err();
        assert!(error.contains("flood"), "{error}");
        assert_eq!(
            NemesisSet::all().to_string(),
            "partition,kill,crash,pause,skew,window,depose,disk,membership,transfer,wipe,lag,rolling"
        );
    }

    #[test]
    fn partitions_cut_what_their_shape_says() {
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            for nodes in [3, 5] {
                let group = GroupView {
                    hosts: nodes,
                    voters: (0..nodes).collect(),
                    learners: Vec::new(),
                    strangers: 0,
                    peers: (0..nodes)
                        .map(|i| format!("127.0.0.1:{}", 9000 + i).parse().unwrap())
                        .collect(),
                };
                let fault = draw(Nemesis::Partition, &mut rng, nodes, Some(1), &group);
                let Fault::Partition { shape, cuts } = fault else {
                    panic!("not a partition")
                };
                assert!(!cuts.is_empty(), "{shape} cuts nothing");
                for (a, b) in &cuts {
                    assert!(a < b && *b < nodes);
                }
                if shape == "isolate leader" {
                    assert_eq!(cuts.len(), nodes - 1);
                    assert!(cuts.iter().all(|(a, b)| *a == 1 || *b == 1));
                }
                if shape == "ring" {
                    assert_eq!(nodes, 5);
                    assert_eq!(cuts.len(), 5, "a 5-ring keeps 5 of 10 links");
                }
                if shape == "bridge" {
                    // Some node keeps every link.
                    assert!((0..nodes).any(|n| cuts.iter().all(|(a, b)| *a != n && *b != n)));
                }
            }
        }
    }
}
