//! `lincheck bench`: times the checker on every MANIFEST history (median of N runs,
//! parsing excluded, one worker thread like the reference) and prints a markdown table.
//! Times are the calling thread's CPU time (the check runs on it with one worker), so
//! that other load on a shared machine inflates them less than wall time would.

use super::{BenchArgs, EXIT_BAD_INPUT, EXIT_LINEARIZABLE, EXIT_NOT_LINEARIZABLE};
use concord_linearizability::{analyze, parse, CheckOptions, Format, ModelKind, Verdict};
use serde_json::json;

/// CPU time consumed by the calling thread, in nanoseconds (0 if unavailable).
fn thread_cpu_ns() -> u128 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if status != 0 {
        return 0;
    }
    now.tv_sec as u128 * 1_000_000_000 + now.tv_nsec as u128
}

/// (model, format, partition) for a MANIFEST model name.
pub(crate) fn manifest_setup(name: &str) -> Option<(ModelKind, Format, bool)> {
    Some(match name {
        "etcd" => (ModelKind::Register, Format::PorcupineEtcd, true),
        "kv-partitioned" => (ModelKind::Kv, Format::PorcupineKv, true),
        "kv-unpartitioned" => (ModelKind::Kv, Format::PorcupineKv, false),
        "cas-register-edn" => (ModelKind::CasRegister, Format::Edn, true),
        _ => return None,
    })
}

struct Row {
    file: String,
    model: String,
    ops: usize,
    expected: Option<bool>,
    verdict: Verdict,
    ours_ns: u128,
    reference_ns: Option<u128>,
}

pub(super) fn run(args: BenchArgs) -> u8 {
    let manifest = match std::fs::read_to_string(&args.manifest) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("lincheck: cannot read {}: {e}", args.manifest.display());
            return EXIT_BAD_INPUT;
        }
    };
    let dir = args
        .manifest
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let runs = args.runs.max(1);
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for (index, line) in manifest.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 5 {
            continue;
        }
        let Some((model, format, partition)) = manifest_setup(fields[1]) else {
            eprintln!(
                "lincheck: MANIFEST line {}: unknown model {:?}",
                index + 1,
                fields[1]
            );
            return EXIT_BAD_INPUT;
        };
        let reference_ns = fields[4].parse::<u128>().ok();
        if let (Some(max), Some(reference)) = (args.max_reference_secs, reference_ns) {
            if reference as f64 > max * 1e9 {
                skipped.push(format!("{} ({})", fields[0], fields[1]));
                continue;
            }
        }
        let path = dir.join(fields[0]);
        let history = match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| parse(&t, format).map_err(|e| e.to_string()))
        {
            Ok(history) => history,
            Err(e) => {
                eprintln!("lincheck: {}: {e}", path.display());
                return EXIT_BAD_INPUT;
            }
        };
        let options = CheckOptions {
            partition,
            timeout: None,
            threads: Some(1),
            max_memory_bytes: None,
        };
        let mut times = Vec::with_capacity(runs);
        let mut verdict = Verdict::Unknown;
        let mut ops = 0;
        for _ in 0..runs {
            let started = thread_cpu_ns();
            match analyze(model, &history, &options) {
                Ok(analysis) => {
                    let cpu = thread_cpu_ns().saturating_sub(started);
                    verdict = analysis.report.verdict;
                    ops = history.operations().len();
                    // Fall back to wall time if the CPU clock is unavailable.
                    times.push(if cpu > 0 {
                        cpu
                    } else {
                        analysis.report.elapsed.as_nanos()
                    });
                }
                Err(e) => {
                    eprintln!("lincheck: {}: {e}", path.display());
                    return EXIT_BAD_INPUT;
                }
            }
        }
        times.sort_unstable();
        rows.push(Row {
            file: fields[0].to_string(),
            model: fields[1].to_string(),
            ops,
            expected: match fields[2] {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            verdict,
            ours_ns: times[times.len() / 2],
            reference_ns,
        });
    }
    let wrong = rows.iter().any(|r| match r.expected {
        Some(true) => r.verdict != Verdict::Linearizable,
        Some(false) => r.verdict != Verdict::NotLinearizable,
        None => false,
    });
    if args.json {
        let items: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "file": r.file, "model": r.model, "ops": r.ops, "verdict": r.verdict,
                    "ours_ns": r.ours_ns as u64, "reference_ns": r.reference_ns.map(|n| n as u64),
                })
            })
            .collect();
        println!(
            "{}",
            json!({ "runs": runs, "rows": items, "skipped": skipped })
        );
    } else {
        print_table(&rows, &skipped, runs);
    }
    if wrong {
        EXIT_NOT_LINEARIZABLE
    } else {
        EXIT_LINEARIZABLE
    }
}

/// Selects the rows of a summary group.
type RowFilter = Box<dyn Fn(&Row) -> bool>;

fn ms(ns: u128) -> String {
    format!("{:.3}", ns as f64 / 1e6)
}

fn print_table(rows: &[Row], skipped: &[String], runs: usize) {
    println!("Median of {runs} runs, parsing excluded, one worker thread, thread CPU time.\n");
    println!("| file | model | ops | verdict | ours (ms) | reference (ms) | ours / reference |");
    println!("|---|---|---:|---|---:|---:|---:|");
    for r in rows {
        let (reference, ratio) = match r.reference_ns {
            Some(reference) => (
                ms(reference),
                format!("{:.3}", r.ours_ns as f64 / reference as f64),
            ),
            None => ("-".to_string(), "-".to_string()),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.file,
            r.model,
            r.ops,
            r.verdict,
            ms(r.ours_ns),
            reference,
            ratio
        );
    }
    let mut groups: Vec<(&str, RowFilter)> = vec![
        (
            "etcd set (all etcd rows)",
            Box::new(|r: &Row| r.model == "etcd"),
        ),
        (
            "kv/c50-ok.txt partitioned",
            Box::new(|r: &Row| r.file.ends_with("c50-ok.txt") && r.model == "kv-partitioned"),
        ),
        (
            "kv partitioned (all)",
            Box::new(|r: &Row| r.model == "kv-partitioned"),
        ),
        (
            "kv unpartitioned (all)",
            Box::new(|r: &Row| r.model == "kv-unpartitioned"),
        ),
    ];
    println!("\n| group | ours (ms) | reference (ms) | ours / reference |");
    println!("|---|---:|---:|---:|");
    for (name, filter) in groups.drain(..) {
        let selected: Vec<&Row> = rows
            .iter()
            .filter(|r| filter(r) && r.reference_ns.is_some())
            .collect();
        if selected.is_empty() {
            continue;
        }
        let ours: u128 = selected.iter().map(|r| r.ours_ns).sum();
        let reference: u128 = selected.iter().filter_map(|r| r.reference_ns).sum();
        println!(
            "| {name} | {} | {} | {:.3} |",
            ms(ours),
            ms(reference),
            ours as f64 / reference as f64
        );
    }
    if !skipped.is_empty() {
        println!(
            "\nSkipped (reference time above --max-reference-secs): {}",
            skipped.join(", ")
        );
    }
}
