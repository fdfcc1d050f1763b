//! Peak memory of a restart from a large log (DESIGN.md §2: "a million-entry log must
//! not cost a million payloads in RAM").
//!
//! ```text
//! cargo bench --bench recovery_memory                      # 1,000,000 entries of 100 bytes
//! cargo bench --bench recovery_memory -- --entries 200000 --payload 1000 --json
//! ```
//!
//! Writes the log once into a fjall store (default options, a temporary directory),
//! then measures four restarts side by side, each in a fresh child process (so each
//! peak RSS, `VmHWM`, is its own):
//!
//! - `open`: open the store only (the fixed cost: process, fjall, its caches);
//! - `recover`: what `Node::start` does — `LogStore::hard_state`, then
//!   `LogStore::recover_entries` (read in bounded chunks) feeding each entry's metadata
//!   straight into a `CoreRestorer`: no list of entries, no payloads;
//! - `metas`: every entry's metadata collected into a list first, then `RaftCore::new`;
//! - `payloads`: the same plus every payload kept in memory, which is what recovery did
//!   before (the baseline);
//! - `compacted`: `recover` after a snapshot compacted the log to its last 1024 entries
//!   (`LogStore::compact`): the restart reads only the tail (the snapshot's own load is
//!   the state machine's matter and not included).
//!
//! Under `cargo test` (no `--bench` argument) it runs a small log as a smoke test.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use concord::core::{
    Configuration, ConfigurationEntry, CoreOptions, CoreRestorer, EntryKind, EntryMeta, GroupId,
    LogId, LogIndex, PeerId, RaftCore, Restored, SnapshotMeta, Write,
};
use concord::runtime::{LogStore, StorageLogStore};
use concord::storage::{FjallOptions, FjallStore, LogEntry, StorageError};

const BATCH: u64 = 4096;

fn store(dir: &Path) -> (FjallStore, Arc<dyn LogStore>) {
    let options = FjallOptions {
        sync: false,
        ..FjallOptions::default()
    };
    let fjall = FjallStore::open(dir, options).expect("open fjall");
    let group = GroupId::new("bench").expect("group id");
    let store = StorageLogStore::new(
        fjall.log_storage(group.clone()).expect("log storage"),
        fjall.meta_storage(group),
        false,
    );
    (fjall, Arc::new(store))
}

fn peer() -> PeerId {
    "127.0.0.1:7000".parse().expect("peer id")
}

fn write_log(dir: &Path, entries: u64, payload: usize) {
    let (fjall, store) = store(dir);
    let data = Bytes::from(vec![7u8; payload]);
    let mut next = 1;
    while next <= entries {
        let last = (next + BATCH - 1).min(entries);
        let batch: Vec<LogEntry> = (next..=last)
            .map(|index| LogEntry {
                meta: EntryMeta {
                    log_id: LogId::new(1, index),
                    kind: EntryKind::Normal,
                    size_bytes: payload as u32,
                },
                payload: data.clone(),
            })
            .collect();
        store.write(&[Write::Append(batch)]).expect("append");
        next = last + 1;
    }
    store
        .write(&[Write::HardState(concord::core::HardState {
            term: concord::core::Term(1),
            voted_for: Some(peer()),
            reset: None,
        })])
        .expect("hard state");
    store.sync().expect("sync");
    drop(store);
    drop(fjall);
}

/// Peak resident set size of this process, in KiB (Linux `VmHWM`).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// One restart, in this (child) process; prints `mode peak_kib millis entries`.
fn child(mode: &str, dir: &Path) {
    let started = Instant::now();
    let (_fjall, store) = store(dir);
    if mode == "open" {
        println!(
            "open {} {} 0",
            peak_rss_kib(),
            started.elapsed().as_millis()
        );
        return;
    }
    let hard_state = store.hard_state().expect("hard state");
    let configuration = ConfigurationEntry::stable(Configuration::with_voters([peer()]));
    let snapshot = mode.strip_prefix("compacted:").map(|index| SnapshotMeta {
        last_included: LogId::new(1, index.parse().expect("index")),
        configuration: configuration.clone(),
    });
    let mode = if snapshot.is_some() {
        "compacted"
    } else {
        mode
    };
    let core = match mode {
        // What `Node::start` does: entry by entry into the core (after the snapshot,
        // if the log was compacted).
        "recover" | "compacted" => {
            let mut restorer = CoreRestorer::new(
                peer(),
                CoreOptions::default(),
                hard_state,
                snapshot,
                configuration,
            )
            .expect("restorer");
            store
                .recover_entries(&mut |meta| {
                    restorer
                        .push(&meta)
                        .map_err(|e| StorageError::InvalidArgument {
                            store: "bench".into(),
                            group: GroupId::new("bench").unwrap(),
                            reason: e.to_string(),
                        })
                })
                .expect("recover");
            restorer.finish()
        }
        // Every entry's metadata in a list, then the core; with `payloads`, every
        // entry's payload kept too (what recovery did before).
        "metas" | "payloads" => {
            let mut metas = Vec::new();
            store
                .recover_entries(&mut |meta| {
                    metas.push(meta);
                    Ok(())
                })
                .expect("recover");
            let mut kept: Vec<LogEntry> = Vec::new();
            if mode == "payloads" {
                let count = metas.len() as u64;
                let mut next = 1;
                while next <= count {
                    let last = (next + BATCH - 1).min(count);
                    kept.extend(store.read(LogIndex(next), LogIndex(last)).expect("read"));
                    next = last + 1;
                }
            }
            let restored = Restored {
                hard_state,
                snapshot: None,
                entries: metas,
                initial_configuration: configuration,
            };
            let core = RaftCore::new(peer(), CoreOptions::default(), restored).expect("restore");
            std::hint::black_box(&kept);
            core
        }
        other => panic!("unknown mode {other}"),
    };
    let count = core.last_log_id().index.0;
    std::hint::black_box(&core);
    println!(
        "{mode} {} {} {count}",
        peak_rss_kib(),
        started.elapsed().as_millis()
    );
}

struct Measured {
    mode: String,
    peak_kib: u64,
    millis: u64,
}

fn measure(mode: &str, dir: &Path) -> Measured {
    let exe = std::env::current_exe().expect("current exe");
    let output = Command::new(exe)
        .args(["--child", mode])
        .arg(dir)
        .output()
        .expect("run child");
    assert!(
        output.status.success(),
        "{mode}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let name = mode.split(':').next().unwrap_or(mode);
    let line = text
        .lines()
        .find(|line| line.starts_with(name))
        .expect("child result");
    let fields: Vec<&str> = line.split_whitespace().collect();
    Measured {
        mode: name.to_string(),
        peak_kib: fields[1].parse().expect("peak"),
        millis: fields[2].parse().expect("millis"),
    }
}

fn arg(args: &[String], name: &str) -> Option<u64> {
    let position = args.iter().position(|a| a == name)?;
    args.get(position + 1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(position) = args.iter().position(|a| a == "--child") {
        child(&args[position + 1], Path::new(&args[position + 2]));
        return;
    }
    let bench = args.iter().any(|a| a == "--bench");
    let json = args.iter().any(|a| a == "--json");
    let entries = arg(&args, "--entries").unwrap_or(if bench { 1_000_000 } else { 20_000 });
    let payload = arg(&args, "--payload").unwrap_or(100) as usize;
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    write_log(dir.path(), entries, payload);
    let write_millis = started.elapsed().as_millis();
    let mut results: Vec<Measured> = ["open", "recover", "metas", "payloads"]
        .iter()
        .map(|mode| measure(mode, dir.path()))
        .collect();
    // Then a snapshot compacts the log to its last 1024 entries.
    let through = entries.saturating_sub(1024).max(1);
    {
        let (fjall, store) = store(dir.path());
        store
            .compact(LogIndex(through), LogId::new(1, through))
            .expect("compact");
        store.sync().expect("sync");
        drop(store);
        drop(fjall);
    }
    results.push(measure(&format!("compacted:{through}"), dir.path()));
    let base = results[0].peak_kib as f64;
    let payload_mib = (entries as f64 * payload as f64) / (1024.0 * 1024.0);
    if json {
        let rows: Vec<String> = results
            .iter()
            .map(|m| {
                format!(
                    "{{\"mode\":\"{}\",\"peak_rss_kib\":{},\"millis\":{}}}",
                    m.mode, m.peak_kib, m.millis
                )
            })
            .collect();
        println!(
            "{{\"entries\":{entries},\"payload_bytes\":{payload},\"write_millis\":{write_millis},\"restarts\":[{}]}}",
            rows.join(",")
        );
        return;
    }
    println!(
        "{entries} entries of {payload} bytes ({payload_mib:.0} MiB of payloads), written in {write_millis} ms"
    );
    println!("| restart | peak RSS | above `open` | time |");
    println!("| --- | ---: | ---: | ---: |");
    for m in &results {
        println!(
            "| {} | {:.1} MiB | {:.1} MiB | {} ms |",
            m.mode,
            m.peak_kib as f64 / 1024.0,
            (m.peak_kib as f64 - base) / 1024.0,
            m.millis
        );
    }
    let recover = results[1].peak_kib as f64 - base;
    let payloads = results[3].peak_kib as f64 - base;
    if recover > 0.0 {
        println!(
            "above `open`: payloads kept / entry by entry = {:.1}x",
            payloads / recover
        );
    }
}
