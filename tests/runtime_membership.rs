//! Membership change and leadership transfer in the runtime (F14–F17), over the
//! in-process transport with memory stores: a 3-node group grows to 5, replaces a dead
//! node with a fresh one, shrinks back to 3 (removing its leader) and moves its leader,
//! under client load, and no acknowledged write is lost.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use concord::core::*;
use concord::runtime::*;
use concord::transport::*;

/// A state machine that records every value applied, in order.
#[derive(Default)]
struct Recorder {
    applied: Arc<Mutex<Vec<u64>>>,
}

impl StateMachine for Recorder {
    type Response = ();
    type Context = ();

    fn on_apply(&mut self, entry: &mut CommittedEntry<()>) -> Result<(), StateMachineError> {
        let value = u64::from_le_bytes(
            entry.data[..8]
                .try_into()
                .map_err(|_| StateMachineError::new("bad entry"))?,
        );
        self.applied.lock().unwrap().push(value);
        Ok(())
    }
}

fn peer(i: usize) -> PeerId {
    format!("127.0.0.1:{}", 7400 + i).parse().unwrap()
}

struct Member {
    node: Node<Recorder>,
    applied: Arc<Mutex<Vec<u64>>>,
}

/// Nodes by index; node `i` is `peer(i)`.
struct Group {
    network: InProcessNetwork,
    members: BTreeMap<usize, Member>,
}

impl Group {
    /// Starts node `i`: a voter of `initial` (indexes), or outside the group when
    /// `initial` is empty (a new node waiting to be added).
    fn start(&mut self, i: usize, initial: &[usize]) {
        let configuration = ConfigurationEntry::stable(Configuration::with_voters(
            initial.iter().map(|&j| peer(j)),
        ));
        let mut options =
            NodeOptions::new(GroupId::new("members").unwrap(), peer(i), configuration);
        options.election_timeout = Duration::from_millis(150);
        options.max_election_delay = Duration::from_millis(150);
        options.core.catchup_margin = 10;
        let machine = Recorder::default();
        let applied = machine.applied.clone();
        let transport = Arc::new(self.network.transport(peer(i).endpoint().clone()));
        let store: Arc<dyn LogStore> = Arc::new(MemoryLogStore::new());
        let (node, sink) = Node::start(options, machine, store, transport).unwrap();
        self.network.register(peer(i).endpoint().clone(), sink);
        self.members.insert(i, Member { node, applied });
    }

    async fn kill(&mut self, i: usize) {
        let member = self.members.remove(&i).expect("running");
        self.network.unregister(peer(i).endpoint());
        member.node.shutdown();
        member.node.join().await;
    }

    /// The one node that leads, among those running.
    async fn leader(&self) -> Node<Recorder> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let leaders: Vec<&Member> = self
                .members
                .values()
                .filter(|m| m.node.describe().role == Role::Leader)
                .collect();
            if let [leader] = leaders[..] {
                return leader.node.clone();
            }
            if tokio::time::Instant::now() >= deadline {
                let states: Vec<String> = self
                    .members
                    .values()
                    .map(|m| {
                        let s = m.node.describe();
                        format!(
                            "{} {:?} term={} leader={:?} voters={:?} commit={} applied={}",
                            s.peer,
                            s.role,
                            s.term,
                            s.leader,
                            s.voters,
                            s.commit_index,
                            s.applied_index
                        )
                    })
                    .collect();
                panic!("no single leader within 10 s:\n{}", states.join("\n"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Asks the leader for `change`, retrying while the group is busy or electing.
    async fn change(&self, change: MembershipChange<PeerId>) -> Configuration<PeerId> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let leader = self.leader().await;
            match leader.change_membership(change.clone()).await {
                Ok(configuration) => return configuration,
                Err(AdminCallError::Refused(
                    AdminError::NotLeader { .. }
                    | AdminError::NotReady
                    | AdminError::ChangeInProgress
                    | AdminError::LeadershipLost,
                )) => {}
                Err(other) => panic!("{change:?} failed: {other}"),
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{change:?} never completed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn voters(&self, indexes: &[usize]) -> BTreeSet<PeerId> {
        indexes.iter().map(|&i| peer(i)).collect()
    }
}

/// Clients writing unique values through whichever node leads, retrying elsewhere when
/// refused. Returns the values acknowledged.
fn spawn_load(
    members: Arc<Mutex<Vec<Node<Recorder>>>>,
    stop: Arc<AtomicBool>,
    client: u64,
) -> tokio::task::JoinHandle<Vec<u64>> {
    tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        let mut next = client << 32;
        while !stop.load(Ordering::Relaxed) {
            let nodes = members.lock().unwrap().clone();
            let Some(leader) = nodes
                .iter()
                .find(|n| n.describe().role == Role::Leader)
                .cloned()
            else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            next += 1;
            let value = next;
            let task = Task::new(value.to_le_bytes().to_vec());
            match tokio::time::timeout(Duration::from_secs(2), leader.apply(task)).await {
                Ok(Ok(_)) => acknowledged.push(value),
                // Refused (not leader, transfer in progress, ...) or unknown: retried
                // with a new value; an unknown one may or may not be applied.
                Ok(Err(_)) | Err(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
        acknowledged
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_grows_replaces_a_dead_node_shrinks_and_moves_its_leader_under_load() {
    let mut group = Group {
        network: InProcessNetwork::new(),
        members: BTreeMap::new(),
    };
    for i in 0..3 {
        group.start(i, &[0, 1, 2]);
    }
    let running = Arc::new(Mutex::new(
        group
            .members
            .values()
            .map(|m| m.node.clone())
            .collect::<Vec<_>>(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (1..=4)
        .map(|c| spawn_load(running.clone(), stop.clone(), c))
        .collect();
    group.leader().await;

    // Grow to 5: two fresh nodes, started outside the group, added one at a time.
    for i in [3, 4] {
        group.start(i, &[]);
        running.lock().unwrap().push(group.members[&i].node.clone());
        let configuration = group.change(MembershipChange::AddVoter(peer(i))).await;
        assert!(configuration.is_voter(&peer(i)));
    }
    assert_eq!(group.leader().await.list_peers().len(), 5);

    // Node 1 dies; a fresh node 5 replaces it (any set to any set: joint consensus).
    group.kill(1).await;
    running
        .lock()
        .unwrap()
        .retain(|n| n.describe().peer != peer(1).to_string());
    group.start(5, &[]);
    running.lock().unwrap().push(group.members[&5].node.clone());
    let configuration = group
        .change(MembershipChange::ChangeVoters(
            group.voters(&[0, 2, 3, 4, 5]),
        ))
        .await;
    assert_eq!(configuration.voters(), &group.voters(&[0, 2, 3, 4, 5]));

    // Shrink to 3, removing whichever node leads now (it steps down once C_new commits).
    let leader = group.leader().await;
    let leader_peer: PeerId = leader.describe().peer.parse().unwrap();
    let mut keep: Vec<usize> = [0, 2, 3, 4, 5]
        .into_iter()
        .filter(|&i| peer(i) != leader_peer)
        .collect();
    keep.truncate(3);
    let configuration = group
        .change(MembershipChange::ChangeVoters(group.voters(&keep)))
        .await;
    assert_eq!(configuration.voters(), &group.voters(&keep));
    let new_leader = group.leader().await;
    assert_ne!(new_leader.describe().peer, leader_peer.to_string());
    assert!(keep
        .iter()
        .any(|&i| peer(i).to_string() == new_leader.describe().peer));

    // Move the leader to a chosen voter.
    let target = keep
        .iter()
        .map(|&i| peer(i))
        .find(|p| p.to_string() != new_leader.describe().peer)
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let leader = group.leader().await;
        if leader.describe().peer == target.to_string() {
            break;
        }
        match leader.transfer_leadership_to(Some(target.clone())).await {
            Ok(to) => assert_eq!(to, target),
            Err(AdminCallError::Refused(
                AdminError::TransferTimedOut
                | AdminError::LeadershipLost
                | AdminError::NotLeader { .. }
                | AdminError::ChangeInProgress,
            )) => {}
            Err(other) => panic!("transfer failed: {other}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "leadership never moved"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A little more load under the final configuration, then stop the clients.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = BTreeSet::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap());
    }
    assert!(
        acknowledged.len() > 50,
        "the load made progress: {}",
        acknowledged.len()
    );

    // Every voter of the final configuration applies the same sequence, holding every
    // acknowledged write exactly once.
    let leader = group.leader().await;
    let last = leader.describe().commit_index;
    for &i in &keep {
        let node = group.members[&i].node.clone();
        tokio::time::timeout(
            Duration::from_secs(10),
            node.wait_for(|s| s.applied_index >= last),
        )
        .await
        .expect("every voter applies everything");
    }
    let sequences: Vec<Vec<u64>> = keep
        .iter()
        .map(|i| {
            let applied = group.members[i].applied.lock().unwrap().clone();
            applied
        })
        .collect();
    let shortest = sequences.iter().map(Vec::len).min().unwrap();
    for sequence in &sequences {
        assert_eq!(
            sequence[..shortest],
            sequences[0][..shortest],
            "replicas diverge"
        );
    }
    let longest = sequences.iter().max_by_key(|s| s.len()).unwrap();
    let applied: BTreeSet<u64> = longest.iter().copied().collect();
    assert_eq!(applied.len(), longest.len(), "a value applied twice");
    let lost: Vec<&u64> = acknowledged.difference(&applied).collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
}

/// Learners receive the log but never vote; removing them stops their replication.
#[tokio::test]
async fn learners_are_added_promoted_and_removed() {
    let mut group = Group {
        network: InProcessNetwork::new(),
        members: BTreeMap::new(),
    };
    for i in 0..3 {
        group.start(i, &[0, 1, 2]);
    }
    group.start(3, &[]);
    let configuration = group
        .change(MembershipChange::AddLearners(group.voters(&[3])))
        .await;
    assert!(configuration.is_learner(&peer(3)));
    let leader = group.leader().await;
    leader
        .apply(Task::new(7u64.to_le_bytes().to_vec()))
        .await
        .unwrap();
    let index = leader.describe().commit_index;
    let learner = group.members[&3].node.clone();
    tokio::time::timeout(
        Duration::from_secs(10),
        learner.wait_for(|s| s.applied_index >= index),
    )
    .await
    .expect("the learner applies");
    assert_eq!(learner.list_learners(), vec![peer(3)]);
    // A learner is no transfer target; promoted, it is.
    assert!(matches!(
        leader.transfer_leadership_to(Some(peer(3))).await,
        Err(AdminCallError::Refused(AdminError::NotAVoter { .. }))
    ));
    let configuration = group.change(MembershipChange::AddVoter(peer(3))).await;
    assert!(configuration.is_voter(&peer(3)));
    assert!(configuration.learners().is_empty());
    let configuration = group.change(MembershipChange::RemoveVoter(peer(3))).await;
    assert!(!configuration.is_voter(&peer(3)));
}

/// F17, fenced: node 0 is cut off from 1 and 2, which go on as the old group; the
/// operator resets 0 to {0}. When the partition heals, 1 and 2 hear of the new epoch and
/// are fenced: they never lead again (not even after many election timeouts), node 0
/// keeps leading, and what it acknowledged stays. (What 1 and 2 acknowledged while cut
/// off is the price of a reset: gone from the new group.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_minority_fences_the_old_members_when_they_come_back() {
    let mut group = Group {
        network: InProcessNetwork::new(),
        members: BTreeMap::new(),
    };
    for i in 0..3 {
        group.start(i, &[0, 1, 2]);
    }
    let leader = group.leader().await;
    leader
        .apply(Task::new(1u64.to_le_bytes().to_vec()))
        .await
        .unwrap();
    group.network.isolate(peer(0).endpoint());
    let node0 = group.members[&0].node.clone();
    let old: Vec<Node<Recorder>> = [1, 2]
        .iter()
        .map(|i| group.members[i].node.clone())
        .collect();
    // The old members elect a leader of their own (epoch 0) and take a write.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let old_write = loop {
        if let Some(old_leader) = old.iter().find(|n| n.describe().role == Role::Leader) {
            if let Ok(Ok(_)) = tokio::time::timeout(
                Duration::from_secs(1),
                old_leader.apply(Task::new(2u64.to_le_bytes().to_vec())),
            )
            .await
            {
                break 2u64;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the old members elect no leader"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let configuration = node0.reset_peers([peer(0)]).await.unwrap();
    assert_eq!(configuration, Configuration::with_voters([peer(0)]));
    let status = tokio::time::timeout(
        Duration::from_secs(10),
        node0.wait_for(|s| s.role == Role::Leader && s.term.epoch() == 1),
    )
    .await
    .expect("the reset node leads the new epoch");
    assert_eq!(status.configuration_epoch, 1);
    node0
        .apply(Task::new(3u64.to_le_bytes().to_vec()))
        .await
        .unwrap();
    // The old members come back.
    group.network.heal();
    for node in &old {
        tokio::time::timeout(Duration::from_secs(10), node.wait_for(|s| s.fenced))
            .await
            .expect("an old member is fenced");
    }
    // Twenty election timeouts later: still fenced, never a leader; node 0 leads on.
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < until {
        for node in &old {
            let status = node.describe();
            assert!(status.fenced && status.role != Role::Leader, "{status:?}");
        }
        assert_eq!(node0.describe().role, Role::Leader);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node0
        .apply(Task::new(4u64.to_le_bytes().to_vec()))
        .await
        .unwrap();
    let applied = group.members[&0].applied.lock().unwrap().clone();
    assert_eq!(
        applied,
        vec![1, 3, 4],
        "node 0 applied its own history only"
    );
    assert!(!applied.contains(&old_write));
}
