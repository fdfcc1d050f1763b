//! Snapshot transfer over loopback TCP (issue 13's performance goal), side by side in
//! one run with the two physical limits it is made of:
//!
//! - `raw_tcp`: the same bytes through one loopback TCP connection (read from the
//!   snapshot's files, written to the socket; the receiver reads into a buffer);
//! - `raw_write_fsync`: the same bytes written to new files and fsynced;
//! - `install`: a follower that missed everything installs the leader's snapshot — the
//!   runtime's chunked fetch (`NodeOptions::snapshot_chunk_bytes`, 1 MiB) over the TCP
//!   transport into a `LocalSnapshotStore`, committed durably — timed from the
//!   follower's start to its install being durable.
//!
//! ```text
//! cargo bench --bench snapshot_transfer                    # 1 GiB (16 files of 64 MiB)
//! cargo bench --bench snapshot_transfer -- --mib 256 --json
//! ```
//!
//! The goal: `install` at least 0.5× the slower of the two raw figures. Under
//! `cargo test` (no `--bench` argument) it transfers 8 MiB as a smoke test.

#[path = "support/common.rs"]
mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use concord::core::{Configuration, ConfigurationEntry, GroupId, Role};
use concord::runtime::{
    CommittedEntry, MemoryLogStore, Node, NodeOptions, SnapshotContext, SnapshotSave, SnapshotSink,
    SnapshotSource, StateMachine, StateMachineError, Task,
};
use concord::storage::SnapshotWriter;

const FILE_MIB: usize = 64;

/// A state machine whose snapshot is `files` files of `file_bytes` bytes.
struct Blob {
    files: usize,
    file_bytes: usize,
}

impl StateMachine for Blob {
    type Response = ();
    type Context = ();

    fn on_apply(&mut self, _entry: &mut CommittedEntry<()>) -> Result<(), StateMachineError> {
        Ok(())
    }

    fn supports_snapshots(&self) -> bool {
        true
    }

    fn on_snapshot_save(
        &mut self,
        _context: &SnapshotContext,
    ) -> Result<SnapshotSave, StateMachineError> {
        let (files, file_bytes) = (self.files, self.file_bytes);
        Ok(Box::new(move |sink: &mut SnapshotSink| {
            let mut data = vec![0u8; file_bytes];
            for (i, byte) in data.iter_mut().enumerate() {
                *byte = (i.wrapping_mul(2_654_435_761) >> 13) as u8;
            }
            for file in 0..files {
                data[0] = file as u8;
                sink.write_file(&format!("part{file:03}"), &data)?;
            }
            Ok(())
        }))
    }

    fn on_snapshot_load(&mut self, _snapshot: &SnapshotSource) -> Result<(), StateMachineError> {
        Ok(())
    }
}

struct Args {
    mib: usize,
    json: bool,
    smoke: bool,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let smoke = !argv.iter().any(|a| a == "--bench");
    let mut mib = if smoke { 8 } else { 1024 };
    if let Some(i) = argv.iter().position(|a| a == "--mib") {
        mib = argv
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .expect("--mib N");
    }
    Args {
        mib,
        json: argv.iter().any(|a| a == "--json"),
        smoke,
    }
}

fn files_of(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("snapshot dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("part"))
        })
        .collect();
    files.sort();
    files
}

/// The same bytes over one loopback TCP connection.
fn raw_tcp(files: &[PathBuf]) -> Duration {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let receiver = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("accept");
        let mut buffer = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let read = socket.read(&mut buffer).expect("read");
            if read == 0 {
                return total;
            }
            total += read as u64;
        }
    });
    let start = Instant::now();
    let mut socket = std::net::TcpStream::connect(address).expect("connect");
    let mut buffer = vec![0u8; 1 << 20];
    for path in files {
        let mut file = std::fs::File::open(path).expect("open");
        loop {
            let read = file.read(&mut buffer).expect("read file");
            if read == 0 {
                break;
            }
            socket.write_all(&buffer[..read]).expect("send");
        }
    }
    drop(socket);
    receiver.join().expect("receiver");
    start.elapsed()
}

/// The same bytes written to new files and fsynced (with the directory).
fn raw_write_fsync(files: &[PathBuf], out: &Path) -> Duration {
    std::fs::create_dir_all(out).expect("out dir");
    let mut buffer = vec![0u8; 1 << 20];
    let start = Instant::now();
    for path in files {
        let mut source = std::fs::File::open(path).expect("open");
        let target_path = out.join(path.file_name().expect("name"));
        let mut target = std::fs::File::create(&target_path).expect("create");
        loop {
            let read = source.read(&mut buffer).expect("read file");
            if read == 0 {
                break;
            }
            target.write_all(&buffer[..read]).expect("write");
        }
        target.sync_all().expect("fsync");
    }
    std::fs::File::open(out)
        .and_then(|d| d.sync_all())
        .expect("fsync dir");
    start.elapsed()
}

async fn install(dir: &Path, files: usize, file_bytes: usize) -> (Duration, PathBuf) {
    let (servers, peers) = common::loopback_servers(3).await;
    let group = GroupId::new("bench").expect("group");
    let options = |i: usize| {
        let mut options = NodeOptions::new(
            group.clone(),
            peers[i].clone(),
            ConfigurationEntry::stable(Configuration::with_voters(peers.clone())),
        );
        options.election_timeout = Duration::from_millis(300);
        options.max_election_delay = Duration::from_millis(300);
        options.snapshot_dir = Some(dir.join(format!("node{i}")));
        options.snapshot_interval = Duration::ZERO;
        options.core.snapshot_retained_entries = 0;
        options
    };
    let blob = || Blob { files, file_bytes };
    let mut nodes: Vec<Node<Blob>> = Vec::new();
    for (i, server) in servers.iter().enumerate().take(2) {
        nodes.push(
            server
                .start_node(options(i), blob(), Arc::new(MemoryLogStore::new()))
                .expect("start"),
        );
    }
    let leader = loop {
        if let Some(leader) = nodes.iter().find(|n| n.describe().role == Role::Leader) {
            break leader.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    for _ in 0..10 {
        leader.apply(Task::new(vec![1u8])).await.expect("apply");
    }
    leader.snapshot().await.expect("snapshot").expect("taken");
    let snapshot_dir = dir.join(format!(
        "node{}",
        nodes
            .iter()
            .position(|n| n.describe().role == Role::Leader)
            .expect("leader")
    ));
    let start = Instant::now();
    let follower = servers[2]
        .start_node(options(2), blob(), Arc::new(MemoryLogStore::new()))
        .expect("start follower");
    tokio::time::timeout(
        Duration::from_secs(600),
        follower.wait_for(|s| s.snapshots_installed >= 1),
    )
    .await
    .expect("installed in time");
    let elapsed = start.elapsed();
    for node in nodes.iter().chain(std::iter::once(&follower)) {
        node.shutdown();
        node.join().await;
    }
    (elapsed, snapshot_dir)
}

fn main() {
    let args = args();
    let file_bytes = (FILE_MIB << 20).min(args.mib << 20);
    let files = ((args.mib << 20) / file_bytes).max(1);
    let bytes = (files * file_bytes) as f64;
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (install_time, leader_root) = runtime.block_on(install(dir.path(), files, file_bytes));
    // The leader's committed snapshot directory holds the files the raw probes copy.
    let group_dir = leader_root.join("bench");
    let snapshot = std::fs::read_dir(&group_dir)
        .expect("group dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snapshot_"))
        })
        .expect("a snapshot directory");
    let parts = files_of(&snapshot);
    assert_eq!(parts.len(), files);
    let tcp = raw_tcp(&parts);
    let fsync = raw_write_fsync(&parts, &dir.path().join("raw"));
    let mb_s = |d: Duration| bytes / d.as_secs_f64() / 1e6;
    let slower = tcp.max(fsync);
    let ratio = slower.as_secs_f64() / install_time.as_secs_f64();
    println!(
        "snapshot of {} MiB in {files} file(s): install {:.0} MB/s ({:.2} s), raw TCP {:.0} MB/s, raw write+fsync {:.0} MB/s; install / slower raw = {ratio:.2}",
        (files * file_bytes) >> 20,
        mb_s(install_time),
        install_time.as_secs_f64(),
        mb_s(tcp),
        mb_s(fsync)
    );
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "mib": (files * file_bytes) >> 20,
                "install_mb_s": mb_s(install_time),
                "raw_tcp_mb_s": mb_s(tcp),
                "raw_write_fsync_mb_s": mb_s(fsync),
                "install_over_slower_raw": ratio,
            })
        );
    }
    if args.smoke {
        assert!(install_time > Duration::ZERO);
    }
}
