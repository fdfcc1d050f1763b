//! Loopback `RaftServer`s for the benchmarks that run nodes over TCP.

use concord::core::PeerId;
use concord::runtime::RaftServer;
use concord::transport::TcpOptions;

/// `n` servers on loopback ports chosen by the OS, and their peer ids.
pub async fn loopback_servers(n: usize) -> (Vec<RaftServer>, Vec<PeerId>) {
    let mut servers = Vec::new();
    for _ in 0..n {
        servers.push(
            RaftServer::bind("127.0.0.1", 0, TcpOptions::default())
                .await
                .expect("bind"),
        );
    }
    let peers = servers
        .iter()
        .map(|s| PeerId::new(s.endpoint().clone(), 0))
        .collect();
    (servers, peers)
}
