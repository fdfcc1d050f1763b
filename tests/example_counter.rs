//! `examples/counter` (F33) end to end: three servers on loopback with fjall in
//! temporary directories, a client doing increments and reads, the leader stopped and
//! restarted from its directory.

#![cfg(feature = "fjall")]

#[path = "../examples/counter.rs"]
#[allow(dead_code)]
mod counter;

use std::net::TcpListener;
use std::time::Duration;

use counter::{parse_admin, run_server, run_server_with, CounterClient, CLIENT_PORT_OFFSET};
use tokio::sync::oneshot;

/// Three free ports whose +1000 neighbours are free too.
fn free_ports() -> Vec<u16> {
    free_ports_n(3)
}

/// `n` free ports whose +1000 neighbours are free too.
fn free_ports_n(n: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    while ports.len() < n {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if port < 60000 && TcpListener::bind(("127.0.0.1", port + CLIENT_PORT_OFFSET)).is_ok() {
            ports.push(port);
        }
    }
    ports
}

fn start(
    dir: &std::path::Path,
    port: u16,
    configuration: &str,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), String>>,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    let data = dir.join(port.to_string());
    let configuration = configuration.to_string();
    let task = tokio::spawn(async move {
        // A snapshot every 5 entries: the restarts below load one and replay the tail.
        run_server_with(
            &data,
            "counter",
            &format!("127.0.0.1:{port}"),
            &configuration,
            5,
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_count_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports();
    let configuration = ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut servers: Vec<_> = ports
        .iter()
        .map(|&p| start(dir.path(), p, &configuration))
        .collect();

    let mut client = CounterClient::new(&configuration).unwrap();
    let mut expected = 0;
    for delta in 1..=10 {
        expected += delta;
        let value = tokio::time::timeout(Duration::from_secs(30), client.increment_and_get(delta))
            .await
            .expect("increment in time")
            .expect("increment");
        assert_eq!(value, expected);
    }
    assert_eq!(client.get().await.unwrap(), expected);

    // Stop every server in turn and bring it back from its directory; the counter
    // keeps counting (each stop may take out the leader).
    for (i, &port) in ports.iter().enumerate() {
        let (stop, task) = servers.remove(i);
        let _ = stop.send(());
        task.await.unwrap().unwrap();
        servers.insert(i, start(dir.path(), port, &configuration));
        // The client's connection may have been to the stopped server: a request on
        // it has an unknown outcome, so read the counter to learn what happened.
        let before = expected;
        let value = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match client.increment_and_get(100).await {
                    Ok(value) => return value,
                    Err(concord::service::CallError::NotApplied { .. }) => continue,
                    Err(concord::service::CallError::Unknown { .. }) => {
                        let now = client.get().await.expect("read after unknown outcome");
                        assert!(now == before || now == before + 100, "counter at {now}");
                        if now == before + 100 {
                            return now;
                        }
                    }
                    Err(error) => panic!("{error}"),
                }
            }
        })
        .await
        .expect("increment after restart in time");
        expected = before + 100;
        assert_eq!(value, expected);
    }
    assert_eq!(client.get().await.unwrap(), expected);

    for (stop, task) in servers {
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    }
    // Every server snapshotted (and so compacted its log); the counter survived
    // snapshot + restart above.
    for port in &ports {
        let store = concord::runtime::LocalSnapshotStore::open(
            dir.path().join(port.to_string()).join("snapshots"),
            concord::core::GroupId::new("counter").unwrap(),
        )
        .unwrap();
        use concord::runtime::SnapshotStore;
        let latest = store.latest().unwrap().expect("a snapshot");
        assert!(latest.last_included.index.0 >= 10, "{latest:?}");
    }
}

/// The counter's operator commands (as `counter admin ...` sends them): a fourth server
/// started outside the group is added, leadership moves to it, the group shrinks back
/// to three without the first server, and after two of those three are lost the last
/// one is reset to a group of its own, while the counter keeps counting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_grow_move_the_leader_and_shrink() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports_n(4);
    let peer = |i: usize| format!("127.0.0.1:{}", ports[i]);
    let initial = (0..3).map(peer).collect::<Vec<_>>().join(",");
    let everyone = (0..4).map(peer).collect::<Vec<_>>().join(",");
    let mut servers: Vec<_> = (0..3)
        .map(|i| start(dir.path(), ports[i], &initial))
        .collect();
    servers.push(start(dir.path(), ports[3], "-"));
    let mut client = CounterClient::new(&everyone).unwrap();
    let run = |words: Vec<String>| {
        parse_admin(&words.iter().map(String::as_str).collect::<Vec<_>>()).unwrap()
    };
    let deadline = Duration::from_secs(30);
    assert_eq!(
        tokio::time::timeout(deadline, client.increment_and_get(5))
            .await
            .unwrap()
            .unwrap(),
        5
    );
    let answer = tokio::time::timeout(
        deadline,
        client.admin(run(vec!["add-peer".into(), peer(3)])),
    )
    .await
    .unwrap()
    .unwrap();
    let sorted = |text: &str| {
        let mut peers: Vec<String> = text.split(',').map(str::to_string).collect();
        peers.sort();
        peers
    };
    assert_eq!(sorted(&answer), sorted(&everyone));
    let answer = tokio::time::timeout(
        deadline,
        client.admin(run(vec!["transfer-leader".into(), peer(3)])),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(answer, peer(3));
    let remaining = (1..4).map(peer).collect::<Vec<_>>().join(",");
    let answer = tokio::time::timeout(
        deadline,
        client.admin(run(vec!["change-peers".into(), remaining.clone()])),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(sorted(&answer), sorted(&remaining));
    assert_eq!(
        tokio::time::timeout(deadline, client.increment_and_get(1))
            .await
            .unwrap()
            .unwrap(),
        6
    );
    // Servers 1 and 2 are lost for good: server 3 alone is no quorum of {1,2,3}. The
    // operator resets it (asking server 3 itself), and it counts on alone.
    for (stop, task) in servers.drain(1..3) {
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    }
    let mut survivor = CounterClient::new(&peer(3)).unwrap();
    let answer = tokio::time::timeout(
        deadline,
        survivor.admin(run(vec!["reset-peers".into(), peer(3)])),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(answer, peer(3));
    assert_eq!(
        tokio::time::timeout(deadline, survivor.increment_and_get(1))
            .await
            .unwrap()
            .unwrap(),
        7
    );
    // Unknown requests are usage errors.
    assert!(parse_admin(&["grow"]).is_err());
    assert!(parse_admin(&["add-peer", "not a peer"]).is_err());
    for (stop, task) in servers {
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn bad_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let error = run_server(
        dir.path(),
        "counter",
        "127.0.0.1:1",
        "127.0.0.1:2,127.0.0.1:3",
        async {},
    )
    .await
    .unwrap_err();
    assert!(error.contains("not in the configuration"), "{error}");
    let error = run_server(dir.path(), "counter", "nonsense", "127.0.0.1:2", async {})
        .await
        .unwrap_err();
    assert!(error.contains("bad server id"), "{error}");
    assert!(CounterClient::new("a:b:c:d").is_err());
}
