//! `concord serve` and `concord cli` end to end, as a new user runs them: real processes
//! on loopback, one port each. Three servers start, the CLI writes and reads, the group
//! grows to five, the leader is transferred, a snapshot is taken, a server is killed
//! with SIGKILL and the group heals, a restarted server catches up, SIGTERM shuts one
//! down cleanly, and bad usage and unreachable servers get their exit codes. The same
//! walkthrough runs again with TLS and mutual authentication on (certificates generated
//! at run time), where a client in the clear is refused and counted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../tests/support/certs.rs"]
mod certs;

const BIN: &str = env!("CARGO_BIN_EXE_concord");

/// A `concord serve` process, killed when dropped.
struct Server {
    id: String,
    dir: PathBuf,
    /// Extra flags (TLS).
    flags: Vec<String>,
    child: Option<Child>,
}

impl Server {
    fn start(id: &str, peers: Option<&str>, dir: &Path, flags: &[String]) -> Server {
        let mut server = Server {
            id: id.to_string(),
            dir: dir.to_path_buf(),
            flags: flags.to_vec(),
            child: None,
        };
        server.spawn(peers);
        server
    }

    fn spawn(&mut self, peers: Option<&str>) {
        let mut command = Command::new(BIN);
        command.args([
            "serve",
            "--id",
            &self.id,
            "--data-dir",
            self.dir.to_str().unwrap(),
            "--election-timeout-ms",
            "300",
        ]);
        command.args(&self.flags);
        match peers {
            Some(peers) => command.args(["--peers", peers]),
            None => command.arg("--join"),
        };
        // Appended across restarts, so a failure shows the whole story.
        let log_path = self.dir.with_extension("log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let mut child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start concord serve");
        // A server that cannot start (its port taken since `free_ports` released it)
        // fails here with its own words, not as a CLI timeout later.
        std::thread::sleep(Duration::from_millis(100));
        if let Some(status) = child.try_wait().unwrap() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!(
                "concord serve {} exited at once ({status}):\n{log}",
                self.id
            );
        }
        self.child = Some(child);
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM; the exit status.
    fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "{} ignored SIGTERM", self.id);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// How the tests reach the servers: `concord cli`'s extra flags and, with TLS, the
/// configuration the HTTP GETs use.
#[derive(Clone, Default)]
struct Ctl {
    flags: Vec<String>,
    tls: Option<concord::transport::TlsConfig>,
}

impl Ctl {
    /// Runs `concord cli --json` with `args`; (exit code, parsed stdout).
    fn cli(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let output = Command::new(BIN)
            .arg("cli")
            .args(args)
            .args(&self.flags)
            .arg("--json")
            .output()
            .expect("run concord cli");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let json = serde_json::from_str(stdout.trim()).unwrap_or(serde_json::Value::Null);
        (output.status.code().unwrap_or(-1), json)
    }

    /// Retries `args` until it succeeds and `accept` likes the result.
    fn cli_until(
        &self,
        args: &[&str],
        accept: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (code, json) = self.cli(args);
            if code == 0 && accept(&json["result"]) {
                return json["result"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "concord cli {args:?} never succeeded: {code} {json}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn leader(&self, conf: &str) -> String {
        self.cli_until(&["get-leader", "--conf", conf], |r| r["Leader"].is_string())["Leader"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A GET on a server's port (inside TLS when configured): (status line, body).
    fn http_get(&self, server: &str, path: &str) -> (String, String) {
        use concord::transport::{Connector, TlsConnector, TokioConnector};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let endpoint: concord::core::Endpoint = server.parse().unwrap();
        let connector = TlsConnector::optional(TokioConnector, self.tls.as_ref());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let response = runtime.block_on(async {
            let get = async {
                let mut stream = connector.connect(&endpoint).await?;
                let request = format!("GET {path} HTTP/1.1\r\nHost: {server}\r\n\r\n");
                stream.write_all(request.as_bytes()).await?;
                stream.flush().await?;
                let mut response = Vec::new();
                // A TLS peer may close without close_notify: keep what arrived.
                let _ = stream.read_to_end(&mut response).await;
                std::io::Result::Ok(response)
            };
            tokio::time::timeout(Duration::from_secs(10), get)
                .await
                .expect("an HTTP answer within 10 s")
                .unwrap()
        });
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        (
            head.lines().next().unwrap_or("").to_string(),
            body.to_string(),
        )
    }
}

fn cli(args: &[&str]) -> (i32, serde_json::Value) {
    Ctl::default().cli(args)
}

fn cli_until(args: &[&str], accept: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    Ctl::default().cli_until(args, accept)
}

fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

#[test]
fn three_servers_grow_to_five_transfer_snapshot_and_heal_after_kill_9() {
    walkthrough(false);
}

#[test]
fn the_walkthrough_with_tls_and_mutual_authentication() {
    walkthrough(true);
}

/// With `tls`: a CA and a certificate per server (common name = its id, valid for
/// 127.0.0.1) and one for the CLI, in the test's directory; the servers' and the CLI's
/// flags.
fn tls_setup(dir: &Path, ids: &[String]) -> (Ctl, Vec<Vec<String>>) {
    let ca = certs::Ca::new("concord test CA");
    let flags = |name: &str, issued: &certs::Issued| {
        let (ca_path, cert, key) = ca.write(dir, name, issued);
        vec![
            "--tls-ca".to_string(),
            ca_path.to_str().unwrap().to_string(),
            "--tls-cert".to_string(),
            cert.to_str().unwrap().to_string(),
            "--tls-key".to_string(),
            key.to_str().unwrap().to_string(),
        ]
    };
    let servers = ids
        .iter()
        .enumerate()
        .map(|(i, id)| flags(&format!("server{i}"), &ca.issue(id, &["127.0.0.1"])))
        .collect();
    let admin = ca.issue("admin", &["127.0.0.1"]);
    let tls = concord::transport::TlsConfig::from_pem(
        ca.pem.as_bytes(),
        admin.cert.as_bytes(),
        admin.key.as_bytes(),
    )
    .unwrap();
    let ctl = Ctl {
        flags: flags("admin", &admin),
        tls: Some(tls),
    };
    (ctl, servers)
}

fn walkthrough(tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = free_ports(5)
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let (ctl, flags) = if tls {
        tls_setup(dir.path(), &ids)
    } else {
        (Ctl::default(), vec![Vec::new(); ids.len()])
    };
    let initial = ids[..3].join(",");
    let mut servers: Vec<Server> = ids[..3]
        .iter()
        .enumerate()
        .map(|(i, id)| {
            Server::start(
                id,
                Some(&initial),
                &dir.path().join(format!("s{i}")),
                &flags[i],
            )
        })
        .collect();
    let conf = initial.clone();

    // A leader, a write, a linearizable read.
    let first_leader = ctl.leader(&conf);
    assert!(ids[..3].contains(&first_leader));
    ctl.cli_until(&["kv", "put", "greeting", "hello", "--conf", &conf], |r| {
        r["written"] == true
    });
    let read = ctl.cli_until(&["kv", "get", "greeting", "--conf", &conf], |_| true);
    assert_eq!(read["value"], "hello");
    let (code, json) = ctl.cli(&[
        "kv", "cas", "greeting", "hello", "--new", "bonjour", "--conf", &conf,
    ]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["swapped"], true);

    // Grow to five: two servers start outside the group and are added.
    for (i, id) in ids.iter().enumerate().skip(3) {
        servers.push(Server::start(
            id,
            None,
            &dir.path().join(format!("s{i}")),
            &flags[i],
        ));
        ctl.cli_until(&["add-peer", id, "--conf", &conf], |r| {
            r["Peers"]["voters"]
                .as_array()
                .is_some_and(|v| v.iter().any(|p| p == id.as_str()))
        });
    }
    let all = ids.join(",");
    let peers = ctl.cli_until(&["get-peers", "--conf", &all], |r| {
        r["Peers"]["voters"]
            .as_array()
            .is_some_and(|v| v.len() == 5)
    });
    assert_eq!(peers["Peers"]["voters"].as_array().unwrap().len(), 5);
    // A new member serves reads of what was written before it joined.
    let read = ctl.cli_until(
        &["kv", "get", "greeting", "--peer", &ids[4], "--conf", &all],
        |_| true,
    );
    assert_eq!(read["value"], "bonjour");

    // Transfer the leadership to the newest voter.
    let target = ids[4].clone();
    ctl.cli_until(&["transfer-leader", "--to", &target, "--conf", &all], |r| {
        r["Transferred"] == target.as_str()
    });
    assert_eq!(ctl.leader(&all), target);

    // A snapshot on one server, then its status.
    let snapshot = ctl.cli_until(&["snapshot", "--peer", &ids[1]], |r| {
        !r["Snapshot"].is_null()
    });
    assert!(!snapshot["Snapshot"].is_null(), "{snapshot}");
    let status = ctl.cli_until(&["describe", "--peer", &ids[1]], |_| true);
    assert_eq!(
        status["Status"]["status"]["voters"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert!(
        !status["Status"]["status"]["snapshot"].is_null(),
        "{status}"
    );
    // The leader's page has a replicator line per follower.
    let leader_page = ctl.cli_until(&["describe", "--peer", &target], |_| true);
    assert_eq!(
        leader_page["Status"]["replicators"]
            .as_array()
            .unwrap()
            .len(),
        4,
        "{leader_page}"
    );

    // The same port serves the status page and the metrics over HTTP.
    let (status_line, page) = ctl.http_get(&ids[1], "/raft_stat");
    assert!(status_line.contains("200"), "{status_line}");
    assert!(
        page.contains("state: Follower") && page.contains("group: kv"),
        "{page}"
    );
    let (_, json) = ctl.http_get(&ids[1], "/raft_stat.json");
    let pages: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(pages[0]["status"]["group"], "kv");
    let (_, metrics) = ctl.http_get(&target, "/metrics");
    for name in [
        "append_logs",
        "replicate_entries",
        "fsm_apply_tasks",
        "raft_term",
        "read_index",
        "shared_port_refused",
        "transport_frames_received",
        "transport_frames_rejected_identity",
    ] {
        assert!(metrics.contains(name), "no {name} in:\n{metrics}");
    }
    let (status_line, _) = ctl.http_get(&target, "/nowhere");
    assert!(status_line.contains("404"), "{status_line}");

    if tls {
        // A client in the clear is refused (the handshake fails: unavailable, exit 4)
        // and counted on the shared port.
        let (code, json) = cli(&["get-leader", "--conf", &all, "--timeout-ms", "500"]);
        assert_eq!(code, 4, "{json}");
        // So is one whose certificate another CA signed (it trusts the servers; they
        // do not trust it): the TLS alert says nothing was applied.
        let rogue_dir = dir.path().join("rogue");
        std::fs::create_dir_all(&rogue_dir).unwrap();
        let rogue = certs::Ca::new("rogue CA");
        let (_, cert, key) = rogue.write(&rogue_dir, "admin", &rogue.issue("admin", &[]));
        let output = Command::new(BIN)
            .args(["cli", "kv", "put", "rogue", "x", "--conf", &all])
            .args(["--timeout-ms", "1000", "--json", "--tls-ca"])
            .arg(dir.path().join("ca.pem"))
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(4),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
        let (_, metrics) = ctl.http_get(&target, "/metrics");
        let refused = metrics
            .lines()
            .find(|line| line.starts_with("shared_port_refused"))
            .and_then(|line| line.split_whitespace().last())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or(0.0);
        assert!(refused >= 1.0, "{metrics}");
    }

    // kill -9 the leader: the others elect a new one and keep serving.
    let old = servers.iter().position(|s| s.id == target).unwrap();
    servers[old].kill9();
    let new_leader = ctl.cli_until(&["get-leader", "--conf", &all], |r| {
        r["Leader"].is_string() && r["Leader"] != target.as_str()
    });
    assert_ne!(new_leader["Leader"], target.as_str());
    ctl.cli_until(&["kv", "put", "after", "kill", "--conf", &all], |r| {
        r["written"] == true
    });

    // The killed server restarts from its directory and catches up.
    servers[old].spawn(None);
    let read = ctl.cli_until(
        &["kv", "get", "after", "--peer", &target, "--conf", &all],
        |r| r["value"] == "kill",
    );
    assert_eq!(read["value"], "kill");

    // SIGTERM: a clean exit, and a restart resumes.
    assert_eq!(servers[0].terminate(), Some(0));
    servers[0].spawn(Some(&initial));
    ctl.cli_until(
        &["kv", "get", "after", "--peer", &ids[0], "--conf", &all],
        |r| r["value"] == "kill",
    );
}

#[test]
fn bad_usage_and_unreachable_servers_get_their_exit_codes() {
    // A per-server command without --peer: bad usage.
    let (code, _) = cli(&["describe", "--conf", "127.0.0.1:1"]);
    assert_eq!(code, 2);
    // clap's own usage errors.
    let (code, _) = cli(&["add-peer"]);
    assert_eq!(code, 2);
    // Nothing listens there: unavailable, nothing changed.
    let port = free_ports(1)[0];
    let (code, json) = cli(&[
        "get-leader",
        "--conf",
        &format!("127.0.0.1:{port}"),
        "--timeout-ms",
        "500",
    ]);
    assert_eq!(code, 4, "{json}");
    assert_eq!(json["outcome"], "unavailable");
    // `--help` and `-V` work, and `--flag=value`.
    let help = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--data-dir"));
    let version = Command::new(BIN).arg("-V").output().unwrap();
    assert!(version.status.success());
    let (code, _) = cli(&[
        "get-leader",
        &format!("--conf=127.0.0.1:{port}"),
        "--timeout-ms=300",
    ]);
    assert_eq!(code, 4);
}

#[test]
fn rebalance_spreads_the_leaders_of_many_groups() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = free_ports(3)
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let conf = ids.join(",");
    let groups = ["g1", "g2", "g3", "g4", "g5", "g6"];
    let _servers: Vec<Server> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut server = Server {
                id: id.clone(),
                dir: dir.path().join(format!("s{i}")),
                flags: Vec::new(),
                child: None,
            };
            let child = Command::new(BIN)
                .args([
                    "serve",
                    "--id",
                    id,
                    "--peers",
                    &conf,
                    "--group",
                    &groups.join(","),
                ])
                .args(["--election-timeout-ms", "300", "--data-dir"])
                .arg(&server.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            server.child = Some(child);
            server
        })
        .collect();
    // Every leader on the first server.
    for group in groups {
        cli_until(
            &[
                "transfer-leader",
                "--to",
                &ids[0],
                "--group",
                group,
                "--conf",
                &conf,
            ],
            |r| r["Transferred"] == ids[0].as_str(),
        );
    }
    let result = cli_until(
        &["rebalance", "--groups", &groups.join(","), "--conf", &conf],
        |_| true,
    );
    assert!(!result.as_array().unwrap().is_empty(), "{result}");
    // Two leaders per server now. A follower names the leader it last heard of, so
    // the views converge within a heartbeat: wait for them (a rebalance that exited
    // non-zero, a transfer refused or unknown, was run again by `cli_until`).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut load = std::collections::BTreeMap::new();
        for group in groups {
            let leader = cli_until(&["get-leader", "--group", group, "--conf", &conf], |r| {
                r["Leader"].is_string()
            })["Leader"]
                .as_str()
                .unwrap()
                .to_string();
            *load.entry(leader).or_insert(0) += 1;
        }
        if load.values().all(|&n| n == 2) {
            break;
        }
        assert!(Instant::now() < deadline, "not balanced: {load:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Balanced already: nothing moves.
    let again = cli_until(
        &["rebalance", "--groups", &groups.join(","), "--conf", &conf],
        |_| true,
    );
    assert!(again.as_array().unwrap().is_empty(), "{again}");
}
