//! Process-kill crash test for the fjall store.
//!
//! The parent re-executes this test binary as a child in "writer" mode (selected by the
//! `CONCORD_SIGKILL_WRITER_DIR` environment variable). The child opens fjall with `sync`
//! on, appends batches (compacting now and then) and prints `ACK <last index>` after
//! each append returns. The parent kills it with SIGKILL after a random delay, reopens
//! the database and checks that every acknowledged entry is present, that the log is a
//! contiguous, checksummed sequence from `first_index`, and that payloads match.
//!
//! CI runs 20 kills; `CONCORD_LONG_TESTS=1` runs 250.

#![cfg(feature = "fjall")]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use concord::core::{GroupId, LogId, LogIndex};
use concord::storage::{FjallOptions, FjallStore, LogEntry, LogStorage, ReadLimits};

const WRITER_ENV: &str = "CONCORD_SIGKILL_WRITER_DIR";
const TERM_ENV: &str = "CONCORD_SIGKILL_TERM";

fn group() -> GroupId {
    GroupId::new("sigkill").expect("valid group")
}

fn payload(index: u64) -> Vec<u8> {
    let len = 100 + (index * 37 % 500) as usize;
    (0..len).map(|i| (index as usize + i) as u8).collect()
}

/// The next seeded draw (`rand`'s small generator): the child's writes replay per seed.
fn seeded(seed: u64) -> rand::rngs::SmallRng {
    rand::SeedableRng::seed_from_u64(seed)
}

fn draw(rng: &mut rand::rngs::SmallRng) -> u64 {
    rand::RngCore::next_u64(rng)
}

fn options() -> FjallOptions {
    FjallOptions {
        sync: true,
        worker_threads: Some(1),
        ..FjallOptions::default()
    }
}

/// The child: append until killed.
#[test]
fn sigkill_writer_child() {
    let Ok(directory) = std::env::var(WRITER_ENV) else {
        return; // Not in writer mode: nothing to do.
    };
    let term: u64 = std::env::var(TERM_ENV)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let store = FjallStore::open(&directory, options()).expect("child open");
    let mut log = store.log_storage(group()).expect("child log");
    let mut rng = seeded(term);
    let stdout = std::io::stdout();
    loop {
        let last = log.last_log_id().expect("last").index.0;
        let count = 1 + draw(&mut rng) % 16;
        let entries: Vec<LogEntry> = (last + 1..=last + count)
            .map(|index| LogEntry::normal(LogId::new(term, index), payload(index)))
            .collect();
        log.append(&entries).expect("append");
        let mut out = stdout.lock();
        writeln!(out, "ACK {}", last + count).expect("ack");
        out.flush().expect("flush");
        drop(out);
        if draw(&mut rng).is_multiple_of(40) && last > 200 {
            log.truncate_prefix(LogIndex(last - 100)).expect("compact");
        }
    }
}

fn verify(directory: &std::path::Path, acknowledged: u64, round: usize) -> u64 {
    let store = FjallStore::open(directory, options()).expect("reopen after kill");
    let log = store.log_storage(group()).expect("log");
    let first = log.first_index().expect("first");
    let last = log.last_log_id().expect("last");
    assert!(
        last.index.0 >= acknowledged,
        "round {round}: acknowledged {acknowledged} but last is {last}"
    );
    let mut next = first;
    let mut previous_term = log.term(first.prev()).expect("term").expect("purged id");
    while next <= last.index {
        let chunk = log
            .entries(next..last.index.next(), ReadLimits::new(1024, 4 << 20))
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(!chunk.is_empty());
        for entry in chunk {
            assert_eq!(
                entry.meta.log_id.index, next,
                "round {round}: not contiguous"
            );
            assert!(
                entry.meta.log_id.term >= previous_term,
                "round {round}: term regression"
            );
            assert_eq!(
                entry,
                LogEntry::normal(entry.meta.log_id, payload(next.0)),
                "round {round}: payload of {next}"
            );
            previous_term = entry.meta.log_id.term;
            next = next.next();
        }
    }
    last.index.0
}

#[test]
fn sigkill_fjall_keeps_every_acknowledged_entry() {
    if std::env::var(WRITER_ENV).is_ok() {
        return;
    }
    let kills = if std::env::var("CONCORD_LONG_TESTS").is_ok_and(|v| v == "1") {
        250
    } else {
        20
    };
    let directory = tempfile::tempdir().expect("temp dir");
    let executable = std::env::current_exe().expect("test binary");
    let mut rng = seeded(0x5EED);
    let mut acknowledged = 0u64;
    let mut total_appended_rounds = 0;
    for round in 0..kills {
        let mut child = Command::new(&executable)
            .args([
                "--exact",
                "sigkill_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WRITER_ENV, directory.path())
            .env(TERM_ENV, (round + 1).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn writer");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(index) = line
                    .strip_prefix("ACK ")
                    .and_then(|i| i.parse::<u64>().ok())
                {
                    let _ = sender.send(index);
                }
            }
        });
        // Wait for the first acknowledgement (the child is up), then a random delay.
        let first_ack = receiver.recv_timeout(Duration::from_secs(30));
        if let Ok(index) = first_ack {
            acknowledged = acknowledged.max(index);
        }
        std::thread::sleep(Duration::from_millis(draw(&mut rng) % 60));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        assert!(!status.success(), "the writer cannot exit on its own");
        reader.join().expect("reader");
        let before = acknowledged;
        for index in receiver.try_iter() {
            acknowledged = acknowledged.max(index);
        }
        if acknowledged > before || first_ack.is_ok() {
            total_appended_rounds += 1;
        }
        let last = verify(directory.path(), acknowledged, round);
        acknowledged = acknowledged.max(last);
    }
    assert!(
        total_appended_rounds >= kills / 2,
        "the writer rarely got to append"
    );
    eprintln!("{kills} kills, last acknowledged index {acknowledged}");
}
