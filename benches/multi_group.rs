//! Memory of one fjall store shared by many Raft groups (docs/storage.md, "Many groups
//! in one store").
//!
//! ```text
//! cargo bench --bench multi_group                          # 200 groups x 20,000 entries
//! cargo bench --bench multi_group -- --groups 50 --entries 20000 --json
//! ```
//!
//! Writes `--groups` logs of `--entries` entries of `--payload` bytes (100) into one
//! store (sync off, one `persist` per round of 100 entries per group, the way a process
//! hosting many groups writes), compacts every group to its last 1,000 entries, and
//! reports the writer's resident set, then reopens the store in a fresh child process and
//! reports that restart's peak RSS (`VmHWM`) and time, and the directory's size on disk.
//! Each group stays within one log segment unless `--entries` passes the segment size
//! (`--segment-entries`, default 65,536): the case where no memtable fills on its own
//! and only the store's write budget seals them.
//!
//! Under `cargo test` (no `--bench` argument) it runs a small store as a smoke test.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use concord::core::{GroupId, LogId, LogIndex};
use concord::storage::{FjallOptions, FjallStore, LogEntry, LogStorage};

const ROUND: u64 = 100;
const KEPT: u64 = 1_000;

fn options(segment_entries: Option<u64>) -> FjallOptions {
    let defaults = FjallOptions::default();
    FjallOptions {
        sync: false,
        log_segment_entries: segment_entries.unwrap_or(defaults.log_segment_entries),
        ..defaults
    }
}

fn group(g: u64) -> GroupId {
    GroupId::new(format!("g{g}")).expect("group id")
}

/// A field of `/proc/self/status`, in KiB (0 where there is none).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(field))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => total += disk_bytes(&entry.path()),
                Ok(meta) => total += meta.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// The restart, in this (child) process; prints `reopen peak_kib millis entries`.
fn child(dir: &Path, groups: u64) {
    let started = Instant::now();
    // The segment size was recorded when the store was created.
    let store = FjallStore::open(dir, options(None)).expect("reopen");
    let mut entries = 0;
    for g in 0..groups {
        let log = store.log_storage(group(g)).expect("log storage");
        entries += log.last_log_id().expect("last log id").index.0;
    }
    println!(
        "reopen {} {} {entries}",
        status_kib("VmHWM:"),
        started.elapsed().as_millis()
    );
}

fn arg(args: &[String], name: &str) -> Option<u64> {
    let position = args.iter().position(|a| a == name)?;
    args.get(position + 1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let groups_arg = arg(&args, "--groups");
    if let Some(position) = args.iter().position(|a| a == "--child") {
        child(Path::new(&args[position + 1]), groups_arg.unwrap_or(1));
        return;
    }
    let bench = args.iter().any(|a| a == "--bench");
    let json = args.iter().any(|a| a == "--json");
    let groups = groups_arg.unwrap_or(if bench { 200 } else { 8 });
    let entries = arg(&args, "--entries").unwrap_or(if bench { 20_000 } else { 3_000 });
    let payload = vec![7u8; arg(&args, "--payload").unwrap_or(100) as usize];
    let segment_entries = arg(&args, "--segment-entries");
    let dir = tempfile::tempdir().expect("temp dir");

    let started = Instant::now();
    let (write_rss_kib, write_peak_kib) = {
        let store = FjallStore::open(dir.path(), options(segment_entries)).expect("open");
        let mut logs: Vec<_> = (0..groups)
            .map(|g| store.log_storage(group(g)).expect("log storage"))
            .collect();
        let mut next = 1;
        while next <= entries {
            let last = (next + ROUND - 1).min(entries);
            for log in logs.iter_mut() {
                let batch: Vec<LogEntry> = (next..=last)
                    .map(|i| LogEntry::normal(LogId::new(1, i), payload.clone()))
                    .collect();
                log.append(&batch).expect("append");
            }
            store.persist().expect("persist");
            next = last + 1;
        }
        let through = entries.saturating_sub(KEPT).max(1);
        for log in logs.iter_mut() {
            log.truncate_prefix(LogIndex(through)).expect("compact");
        }
        store.persist().expect("persist");
        (status_kib("VmRSS:"), status_kib("VmHWM:"))
    };
    let write_millis = started.elapsed().as_millis();

    let output = Command::new(std::env::current_exe().expect("current exe"))
        .arg("--child")
        .arg(dir.path())
        .args(["--groups", &groups.to_string()])
        .output()
        .expect("run child");
    assert!(
        output.status.success(),
        "reopen: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|line| line.starts_with("reopen"))
        .expect("child result");
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().expect("number"))
        .collect();
    let (reopen_peak_kib, reopen_millis, recovered) = (fields[0], fields[1], fields[2]);
    assert_eq!(recovered, groups * entries, "every group's last index back");
    let disk = disk_bytes(dir.path());

    if json {
        println!(
            "{{\"groups\":{groups},\"entries\":{entries},\"payload_bytes\":{},\"write_millis\":{write_millis},\"write_rss_kib\":{write_rss_kib},\"write_peak_kib\":{write_peak_kib},\"reopen_peak_kib\":{reopen_peak_kib},\"reopen_millis\":{reopen_millis},\"disk_bytes\":{disk}}}",
            payload.len()
        );
        return;
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "{groups} groups x {entries} entries of {} bytes, compacted to the last {KEPT}",
        payload.len()
    );
    println!("| write + compact | RSS after (peak) | reopen peak RSS | reopen | on disk |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {write_millis} ms | {:.0} MiB ({:.0} MiB) | {:.0} MiB | {reopen_millis} ms | {:.0} MiB |",
        mib(write_rss_kib),
        mib(write_peak_kib),
        mib(reopen_peak_kib),
        disk as f64 / (1024.0 * 1024.0)
    );
}
