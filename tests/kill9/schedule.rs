//! The nemesis schedule: drawn entirely from the seed before the run starts, so a seed
//! names the same sequence of kills, pauses and targets every time. Which process is
//! the leader when a "kill the leader" comes due is up to the cluster (process timing is
//! not deterministic); the run log records what actually happened.

use std::fmt;
use std::time::Duration;

use super::rng::Rng;

/// Whom a cycle kills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The node that leads when the kill comes due (any node if none is known).
    Leader,
    /// A node that does not lead, chosen with the cycle's `pick`.
    Follower,
    /// The leader and a follower at once: a majority down, and the victims' disks hold
    /// the only copies that make a majority on restart.
    Majority,
    /// Every node at once: the acknowledged writes survive on the disks or nowhere.
    All,
}

/// One kill/restart cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    /// How long the cluster runs with every node up before the kill (measured from the
    /// previous restart, so a short one can land while that node is still recovering).
    pub up: Duration,
    /// Whom to kill.
    pub target: Target,
    /// Chooses among the candidates (`pick % candidates`).
    pub pick: u64,
    /// How long the victim stays dead before it restarts on the same data directory.
    pub down: Duration,
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match self.target {
            Target::Leader => "the leader",
            Target::Follower => "a follower",
            Target::Majority => "the leader and a follower",
            Target::All => "every node",
        };
        write!(
            f,
            "up {} ms, SIGKILL {target} (pick {}), down {} ms",
            self.up.as_millis(),
            self.pick % 1000,
            self.down.as_millis()
        )
    }
}

/// Time up between kills: from a fraction of an election timeout to several.
const UP_MS: (u64, u64) = (150, 1500);
/// Time dead before the restart: from an immediate restart to a few election rounds.
const DOWN_MS: (u64, u64) = (0, 1200);

/// The schedule of `cycles` cycles for `seed`. The first four cycles kill the leader, a
/// follower, a majority and every node, so even a short run covers each kind; after
/// that a cycle kills every node one time in 16, a majority two in 16, and otherwise
/// the leader (7 in 16) or a follower (6 in 16).
pub fn draw(seed: u64, cycles: usize) -> Vec<Cycle> {
    const KINDS: [Target; 4] = [
        Target::Leader,
        Target::Follower,
        Target::Majority,
        Target::All,
    ];
    let mut rng = Rng::new(seed ^ 0x4B49_4C4C_3921); // "KILL9!": apart from the workload's
    (0..cycles)
        .map(|n| {
            let roll = rng.below(16);
            let target = match (KINDS.get(n), roll) {
                (Some(&first), _) => first,
                (None, 0) => Target::All,
                (None, 1..=2) => Target::Majority,
                (None, 3..=9) => Target::Leader,
                (None, _) => Target::Follower,
            };
            Cycle {
                up: Duration::from_millis(rng.between(UP_MS.0, UP_MS.1)),
                target,
                pick: rng.next_u64(),
                down: Duration::from_millis(rng.between(DOWN_MS.0, DOWN_MS.1)),
            }
        })
        .collect()
}

#[test]
fn a_seed_names_one_schedule() {
    assert_eq!(draw(7, 50), draw(7, 50));
    assert_ne!(draw(7, 50), draw(8, 50));
    let schedule = draw(7, 100);
    assert_eq!(schedule[0].target, Target::Leader);
    assert_eq!(schedule[1].target, Target::Follower);
    assert_eq!(schedule[2].target, Target::Majority);
    assert_eq!(schedule[3].target, Target::All);
    for target in [
        Target::Leader,
        Target::Follower,
        Target::Majority,
        Target::All,
    ] {
        assert!(schedule[4..].iter().any(|c| c.target == target));
    }
    assert!(schedule
        .iter()
        .all(|c| c.up >= Duration::from_millis(UP_MS.0)));
    assert!(schedule
        .iter()
        .all(|c| c.down < Duration::from_millis(DOWN_MS.1)));
}
