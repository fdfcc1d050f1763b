//! Storage benchmarks (docs/benchmarks.md, "Storage"):
//!
//! - `append/{sync,nosync}/batch_{1,32,256}`: fjall append throughput, 4 KiB entries;
//! - `raw/write_4k_fdatasync`: the physical limit, `write(4 KiB) + fdatasync` on a file
//!   in the same directory;
//! - `prefix_truncation/*`: read latency at the head of a log after compacting 1M
//!   entries with tombstones, against the same read on an uncompacted log.
//!
//! Run: `cargo bench --bench storage_append` (add `-- --quick` for a short run).

use std::fs::OpenOptions;
use std::hint::black_box;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use concord::core::{GroupId, LogId, LogIndex};
use concord::storage::{
    FjallLogStorage, FjallOptions, FjallStore, LogEntry, LogStorage, ReadLimits,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const PAYLOAD_BYTES: usize = 4096;

fn open(directory: &std::path::Path, sync: bool) -> (FjallStore, FjallLogStorage) {
    let options = FjallOptions {
        sync,
        ..FjallOptions::default()
    };
    let store = FjallStore::open(directory, options).expect("open fjall");
    let log = store
        .log_storage(GroupId::new("bench").expect("group"))
        .expect("log");
    (store, log)
}

fn batch(next: u64, size: u64, payload: &Bytes) -> Vec<LogEntry> {
    (next..next + size)
        .map(|index| LogEntry::normal(LogId::new(1, index), payload.clone()))
        .collect()
}

fn append(c: &mut Criterion) {
    let payload = Bytes::from(vec![0xAB; PAYLOAD_BYTES]);
    let mut group = c.benchmark_group("append");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    for sync in [true, false] {
        for size in [1u64, 32, 256] {
            let directory = tempfile::tempdir().expect("temp dir");
            let (_store, mut log) = open(directory.path(), sync);
            group.throughput(Throughput::Elements(size));
            let name = if sync { "sync" } else { "nosync" };
            group.bench_function(BenchmarkId::new(name, format!("batch_{size}")), |b| {
                b.iter(|| {
                    let next = log.last_log_id().expect("last").index.0 + 1;
                    log.append(&batch(next, size, &payload)).expect("append");
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("raw");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(1));
    let directory = tempfile::tempdir().expect("temp dir");
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(directory.path().join("raw.log"))
        .expect("raw file");
    let block = vec![0xCD; PAYLOAD_BYTES];
    group.bench_function("write_4k_fdatasync", |b| {
        b.iter(|| {
            file.write_all(&block).expect("write");
            file.sync_data().expect("fdatasync");
        })
    });
    // The same loop on a file whose blocks already exist (written with zeros and
    // fsynced), cycling through it: fdatasync then has no size or block allocation to
    // commit, as with fjall's pre-allocated journal.
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(directory.path().join("raw-preallocated.log"))
        .expect("raw file");
    let blocks = 4096u64;
    for _ in 0..blocks {
        file.write_all(&block).expect("prefill");
    }
    file.sync_all().expect("fsync");
    let mut position = 0u64;
    group.bench_function("write_4k_fdatasync_preallocated", |b| {
        b.iter(|| {
            file.write_all_at(&block, position * PAYLOAD_BYTES as u64)
                .expect("write");
            file.sync_data().expect("fdatasync");
            position = (position + 1) % blocks;
        })
    });
    group.finish();
}

/// 1M entries under `cargo bench`; a small log when `cargo test --all-targets` runs the
/// benchmark once in test mode (no `--bench` argument), so that CI stays fast.
fn compacted_entries() -> u64 {
    if std::env::args().any(|arg| arg == "--bench") {
        1_000_000
    } else {
        10_000
    }
}

/// Fills a log with `count` small entries (sync off, 1000 per batch).
fn fill(log: &mut FjallLogStorage, count: u64) {
    let payload = Bytes::from(vec![0x11; 100]);
    let mut next = log.last_log_id().expect("last").index.0 + 1;
    let end = next + count;
    while next < end {
        let size = (end - next).min(1000);
        log.append(&batch(next, size, &payload)).expect("fill");
        next += size;
    }
}

fn prefix_truncation(c: &mut Criterion) {
    let compacted = compacted_entries();
    let mut group = c.benchmark_group("prefix_truncation");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));

    // Baseline: a log of 1M + 1000 entries, nothing compacted; read near the end.
    let plain_dir = tempfile::tempdir().expect("temp dir");
    let (_plain_store, mut plain) = open(plain_dir.path(), false);
    fill(&mut plain, compacted + 1000);
    let tail = LogIndex(compacted + 1);

    // Compacted: the same log with the first 1M entries truncated by tombstones.
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, mut log) = open(dir.path(), false);
    let started = Instant::now();
    fill(&mut log, compacted + 1000);
    eprintln!("fill {} entries: {:?}", compacted + 1000, started.elapsed());
    let started = Instant::now();
    let step = compacted / 10;
    for up_to in (step..=compacted).step_by(step as usize) {
        log.truncate_prefix(LogIndex(up_to + 1)).expect("truncate");
    }
    let truncate = started.elapsed();
    eprintln!(
        "truncate_prefix of {compacted} entries in {} batches: {truncate:?} ({:?}/entry)",
        compacted / step,
        truncate / compacted as u32
    );
    let head = log.first_index().expect("first");
    assert_eq!(head, tail);

    group.bench_function("head_entry_after_compacting_1m", |b| {
        b.iter(|| black_box(log.entry(head).expect("read")))
    });
    group.bench_function("head_range_16_after_compacting_1m", |b| {
        b.iter(|| {
            black_box(
                log.entries(head..head.plus(16), ReadLimits::entries(16))
                    .expect("read"),
            )
        })
    });
    group.bench_function("same_entry_uncompacted", |b| {
        b.iter(|| black_box(plain.entry(tail).expect("read")))
    });
    group.bench_function("same_range_16_uncompacted", |b| {
        b.iter(|| {
            black_box(
                plain
                    .entries(tail..tail.plus(16), ReadLimits::entries(16))
                    .expect("read"),
            )
        })
    });
    group.finish();

    drop(log);
    drop(store);
    let started = Instant::now();
    let (_store, log) = open(dir.path(), false);
    eprintln!(
        "reopen after compaction (journal replay + bounds): {:?}, first index {}",
        started.elapsed(),
        log.first_index().expect("first")
    );
}

criterion_group!(benches, append, prefix_truncation);
criterion_main!(benches);
