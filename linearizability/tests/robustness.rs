//! The checker stays within its memory budget and finds a cheap violation fast even when
//! another partition is hopeless, with one thread as with many.
//!
//! The histories are generated (Porcupine's kv format, 50 clients): key "slow" holds 30
//! appends whose outcome is unknown and a read of a value none of them wrote. Refuting
//! that read means trying every ordered subset of the appends (each order concatenates
//! to a different string), so the search of that key grows without bound. Key "cheap"
//! has a read of a value never written: refuted at once. Before time slicing, one thread
//! searched the largest partition ("slow") first and grew past 24 GB on such a history.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const CLIENTS: u64 = 50;
const SLOW_APPENDS: u64 = 30;

/// The pathological key, plus (if `with_cheap_violation`) a cheap violation on another
/// key, plus ordinary traffic on the remaining clients so all 50 take part.
fn history(with_cheap_violation: bool) -> String {
    let mut text = String::new();
    let mut line = |process: u64, kind: &str, f: &str, key: &str, value: &str| {
        let value = if value == "nil" {
            "nil".to_string()
        } else {
            format!("\"{value}\"")
        };
        writeln!(
            text,
            "{{:process {process}, :type :{kind}, :f :{f}, :key \"{key}\", :value {value}}}"
        )
        .expect("write to a String");
    };
    for process in 0..SLOW_APPENDS {
        // Invoked, never completed: may take effect at any point, or never.
        line(
            process,
            "invoke",
            "append",
            "slow",
            &format!("x {process} 0 y"),
        );
    }
    let reader = SLOW_APPENDS;
    line(reader, "invoke", "get", "slow", "nil");
    line(reader, "ok", "get", "slow", "x 999 0 y");
    let mut next = reader + 1;
    if with_cheap_violation {
        line(next, "invoke", "put", "cheap", "a");
        line(next, "ok", "put", "cheap", "a");
        line(next + 1, "invoke", "get", "cheap", "nil");
        line(next + 1, "ok", "get", "cheap", "b");
        next += 2;
    }
    for process in next..CLIENTS {
        let key = format!("k{process}");
        line(process, "invoke", "put", &key, "v");
        line(process, "ok", "put", &key, "v");
        line(process, "invoke", "get", &key, "nil");
        line(process, "ok", "get", &key, "v");
    }
    text
}

fn write_temp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lincheck-robustness-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write temp file");
    path
}

struct Run {
    code: i32,
    stdout: String,
    elapsed: Duration,
    /// Peak resident set size of the child.
    max_rss_bytes: u64,
}

/// Runs lincheck and measures the child's peak RSS with wait4 (this process's other
/// children do not count).
// The child is reaped by wait4, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn lincheck(args: &[&str]) -> Run {
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_lincheck"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run lincheck");
    let pid = child.id() as libc::pid_t;
    let stdout = child.stdout.expect("stdout");
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet reaped; the pointers are valid for the call.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4 failed");
    let elapsed = started.elapsed();
    assert!(libc::WIFEXITED(status), "lincheck died: status {status}");
    Run {
        code: libc::WEXITSTATUS(status),
        stdout: reader.join().expect("stdout reader"),
        elapsed,
        // Linux reports ru_maxrss in KiB.
        max_rss_bytes: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
    }
}

#[test]
fn a_hopeless_search_stops_at_the_memory_limit_with_unknown() {
    let path = write_temp("slow-only.txt", &history(false));
    let limit_bytes: u64 = 64 << 20;
    let run = lincheck(&[
        "check",
        "--model",
        "kv",
        "--threads",
        "1",
        "--max-memory",
        "64MiB",
        path.to_str().expect("path"),
    ]);
    assert_eq!(run.code, 3, "expected unknown: {}", run.stdout);
    assert!(
        run.stdout.contains("not decided: memory limit"),
        "{}",
        run.stdout
    );
    // The budget covers the search's structures; the process also holds its code, the
    // history and allocator slack. Measured: 52 MiB peak for a 64 MiB budget (the
    // estimate errs high).
    let slack_bytes: u64 = 32 << 20;
    assert!(
        run.max_rss_bytes <= limit_bytes + slack_bytes,
        "peak RSS {} MiB for a {} MiB budget",
        run.max_rss_bytes >> 20,
        limit_bytes >> 20
    );
    eprintln!(
        "memory limit 64 MiB: peak RSS {} MiB, {:?}",
        run.max_rss_bytes >> 20,
        run.elapsed
    );
}

#[test]
fn one_thread_finds_a_cheap_violation_behind_a_hopeless_partition() {
    let path = write_temp("slow-and-cheap.txt", &history(true));
    for threads in ["1", "2"] {
        let run = lincheck(&[
            "check",
            "--model",
            "kv",
            "--threads",
            threads,
            "--json",
            path.to_str().expect("path"),
        ]);
        assert_eq!(run.code, 1, "threads {threads}: {}", run.stdout);
        let summary: serde_json::Value =
            serde_json::from_str(run.stdout.lines().last().expect("a JSON line"))
                .expect("valid JSON");
        assert_eq!(
            summary["files"][0]["failing_partition"]["key"], "cheap",
            "threads {threads}"
        );
        // Generous: it takes milliseconds; without time slicing one thread never finished.
        assert!(
            run.elapsed < Duration::from_secs(10),
            "threads {threads}: {:?}",
            run.elapsed
        );
        assert!(
            run.max_rss_bytes < 256 << 20,
            "threads {threads}: peak RSS {} MiB",
            run.max_rss_bytes >> 20
        );
        eprintln!(
            "threads {threads}: refuted in {:?}, peak RSS {} MiB",
            run.elapsed,
            run.max_rss_bytes >> 20
        );
    }
}

/// A model that panics on input 1: a bug in a user's model must fail the check, not hang
/// the other workers waiting for a partition that will never come back.
struct Fragile;

impl concord_linearizability::Model for Fragile {
    type State = u8;
    type Input = u8;
    type Output = u8;

    fn init(&self) -> u8 {
        0
    }

    fn step(&self, state: &u8, input: &u8, _: Option<&u8>) -> concord_linearizability::Steps<u8> {
        assert_ne!(*input, 1, "model bug");
        std::iter::once(*state).collect()
    }

    fn partition(&self, input: &u8) -> Option<String> {
        Some(input.to_string())
    }
}

#[test]
fn a_panicking_model_fails_the_check_instead_of_hanging() {
    use concord_linearizability::{check, CheckOptions, Op, OpId, ProcessId};
    let ops: Vec<Op<u8, u8>> = (0..40u64)
        .map(|i| Op {
            id: OpId(i as usize),
            process: ProcessId(i),
            input: u8::from(i == 39),
            output: Some(0),
            call_time: 2 * i,
            return_time: 2 * i + 1,
        })
        .collect();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let options = CheckOptions {
            threads: Some(2),
            ..CheckOptions::default()
        };
        let outcome = std::panic::catch_unwind(|| check(&Fragile, &ops, &options));
        let _ = done.send(outcome.is_err());
    });
    let panicked = finished
        .recv_timeout(Duration::from_secs(30))
        .expect("check hung after a worker panicked");
    assert!(panicked, "the model's panic was swallowed");
}

/// Knossos calls a history without client operations valid; the library agrees.
#[test]
fn a_history_without_client_operations_is_linearizable() {
    use concord_linearizability::{
        analyze, parse, CheckOptions, Format, History, ModelKind, Verdict,
    };
    let nemesis_only = "[{:process :nemesis, :type :info, :f :start, :value nil}]";
    let failed_only = "[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0, :type :fail, :f :write, :value 1}]";
    let histories = [
        History::new(),
        parse("", Format::Auto).expect("empty text"),
        parse(" \n\n", Format::Jsonl).expect("blank text"),
        parse(nemesis_only, Format::Edn).expect("nemesis only"),
        parse(failed_only, Format::Edn).expect("failed only"),
    ];
    for (i, history) in histories.iter().enumerate() {
        for model in [ModelKind::CasRegister, ModelKind::Kv, ModelKind::Set] {
            let analysis =
                analyze(model, history, &CheckOptions::default()).expect("nothing to import");
            assert_eq!(
                analysis.report.verdict,
                Verdict::Linearizable,
                "history {i}, {model}"
            );
            assert!(analysis.ops.is_empty());
        }
    }
}
