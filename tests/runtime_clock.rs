//! Timers follow the node's clock: a clock stepped forward fires an armed election
//! timer at once, one stepped back delays it, and a fast clock fires it sooner.

use std::sync::Arc;
use std::time::Duration;

use concord::core::*;
use concord::kv::KvStateMachine;
use concord::runtime::*;
use concord::transport::*;

/// A node whose two peers never answer: it stays a follower until its election timer
/// fires, then becomes a pre-candidate (pre-vote is on by default). The election
/// timeout is exactly 1 s (no random delay).
fn lonely_node(clock: Arc<dyn Clock>) -> (Node<KvStateMachine>, InProcessNetwork) {
    let peers: Vec<PeerId> = (1..=3)
        .map(|i| PeerId::new(Endpoint::new("10.0.0.1", 7000 + i).unwrap(), 0))
        .collect();
    let mut options = NodeOptions::new(
        GroupId::new("clock").unwrap(),
        peers[0].clone(),
        ConfigurationEntry::stable(Configuration::with_voters(peers.clone())),
    );
    options.election_timeout = Duration::from_secs(1);
    options.max_election_delay = Duration::ZERO;
    options.check_invariants = true;
    let network = InProcessNetwork::new();
    let transport = Arc::new(network.transport(peers[0].endpoint().clone()));
    let (node, sink) = Node::start_with_clock(
        options,
        KvStateMachine::new(),
        Arc::new(MemoryLogStore::new()),
        transport,
        clock,
    )
    .unwrap();
    network.register(peers[0].endpoint().clone(), sink);
    (node, network)
}

async fn first_campaign(node: &Node<KvStateMachine>) -> Duration {
    let started = tokio::time::Instant::now();
    node.wait_for(|s| s.role != Role::Follower).await;
    started.elapsed()
}

fn about(actual: Duration, expected_ms: u64) {
    let expected = Duration::from_millis(expected_ms);
    let slack = Duration::from_millis(20);
    assert!(
        actual + slack >= expected && actual <= expected + slack,
        "campaigned after {actual:?}, expected about {expected:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn true_time_clock_campaigns_after_the_election_timeout() {
    let (node, _network) = lonely_node(Arc::new(MonotonicClock::new()));
    about(first_campaign(&node).await, 1000);
}

#[tokio::test(start_paused = true)]
async fn a_fast_clock_campaigns_sooner() {
    let (node, _network) = lonely_node(Arc::new(DriftingClock::new(2.0)));
    about(first_campaign(&node).await, 500);
}

#[tokio::test(start_paused = true)]
async fn a_clock_stepped_forward_fires_the_armed_timer_at_once() {
    let origin = tokio::time::Instant::now();
    let clock = Arc::new(DriftingClock::with_true_time(1.0, move || origin.elapsed()));
    let (node, _network) = lonely_node(clock.clone());
    let campaign = tokio::spawn({
        let node = node.clone();
        async move { first_campaign(&node).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(node.describe().role, Role::Follower);
    // +5 s: the deadline (1 s after start) is long past on this clock.
    clock.adjust_at(origin.elapsed(), None, 5_000_000_000);
    about(campaign.await.unwrap(), 200);
}

#[tokio::test(start_paused = true)]
async fn a_clock_stepped_back_delays_the_armed_timer() {
    let origin = tokio::time::Instant::now();
    let clock = Arc::new(DriftingClock::with_true_time(1.0, move || origin.elapsed()));
    let (node, _network) = lonely_node(clock.clone());
    let campaign = tokio::spawn({
        let node = node.clone();
        async move { first_campaign(&node).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    clock.adjust_at(origin.elapsed(), None, -700_000_000);
    about(campaign.await.unwrap(), 1700);
}
