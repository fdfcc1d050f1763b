//! Compares two saved benchmark baselines as one markdown table of ratios with their
//! noise bounds (critcmp-style). `scripts/bench-report.sh` saves the baselines and calls
//! this; see docs/benchmarks.md, "Comparing two versions or two machines".
//!
//! ```text
//! cargo bench --bench bench_report -- compare OLD NEW [--dir DIR]
//! ```
//!
//! Two sources, both under the target directory (`CARGO_TARGET_DIR`, else `target`, or
//! `--dir`):
//!
//! - criterion baselines (`cargo bench -- --save-baseline NAME`):
//!   `criterion/<benchmark id>/<NAME>/estimates.json`. The value is the mean time per
//!   iteration; its noise the 95 % confidence interval's half-width, relative.
//! - JSON benchmark runs (`--json` output saved by the script):
//!   `bench-report/<NAME>/<bench>.<run>.json`. Every numeric field becomes a metric
//!   (array elements labelled by their `transport`, `mode` and `clients` fields); the
//!   value is the median over the runs, its noise the runs' spread (max − min) relative
//!   to the median.
//!
//! A change counts only when the ratio's distance from 1 exceeds both sides' noise
//! added and the floor (`--floor`, default 0.1: the drift between runs of the same code,
//! which no single run's noise shows); otherwise the row says "within noise". The
//! machine's probes (fsync, round trip) are shown, not judged. Under `cargo test` it compares two
//! baselines it writes itself (a smoke test of the parsing).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One measurement: a value and its relative noise (a fraction; `None` for a single
/// run, whose noise is unknown).
#[derive(Clone, Copy, Debug)]
struct Measure {
    value: f64,
    noise: Option<f64>,
}

/// The JSON metrics compared: rates, latencies and ratios to a limit (not counts,
/// durations of the run or settings).
fn compared(name: &str) -> bool {
    let field = name.rsplit('.').next().unwrap_or(name);
    let field = field.split('[').next().unwrap_or(field);
    field.ends_with("per_second") || field.ends_with("_us") || field.ends_with("over_limit")
}

/// Whether larger is better for a metric.
fn higher_is_better(name: &str) -> bool {
    name.ends_with("per_second")
}

/// The machine's own probes (fsync, round trip, the limit they make): reported, never
/// judged as the code getting better or worse.
fn machine_probe(name: &str) -> bool {
    let field = name.rsplit('.').next().unwrap_or(name);
    field.starts_with("fsync_") || field.starts_with("rtt_") || field.starts_with("limit_")
}

/// Criterion baselines named `baseline` under `root` (`target/criterion`), by id.
fn criterion_baseline(root: &Path, baseline: &str) -> BTreeMap<String, Measure> {
    let mut found = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == baseline) {
                let estimates = path.join("estimates.json");
                if let Some(measure) = read_estimates(&estimates) {
                    let id = dir
                        .strip_prefix(root)
                        .unwrap_or(&dir)
                        .to_string_lossy()
                        .replace('\\', "/");
                    found.insert(format!("{id} (time)"), measure);
                }
            } else {
                stack.push(path);
            }
        }
    }
    found
}

fn read_estimates(path: &Path) -> Option<Measure> {
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let mean = &json["mean"];
    let value = mean["point_estimate"].as_f64()?;
    let lower = mean["confidence_interval"]["lower_bound"].as_f64()?;
    let upper = mean["confidence_interval"]["upper_bound"].as_f64()?;
    if value <= 0.0 {
        return None;
    }
    Some(Measure {
        value,
        noise: Some((upper - lower) / 2.0 / value),
    })
}

/// Flattens a JSON benchmark output into `name -> value`.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, f64>) {
    match value {
        serde_json::Value::Number(number) => {
            if let Some(number) = number.as_f64() {
                out.insert(prefix.to_string(), number);
            }
        }
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let label = ["transport", "mode", "clients"]
                    .iter()
                    .filter_map(|key| match &item[*key] {
                        serde_json::Value::String(s) => Some(format!("{key}={s}")),
                        serde_json::Value::Number(n) => Some(format!("{key}={n}")),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                let label = if label.is_empty() {
                    index.to_string()
                } else {
                    label
                };
                // Two numbers in an array (before / after probes) keep their index.
                flatten(&format!("{prefix}[{label}]"), item, out);
            }
        }
        serde_json::Value::Object(fields) => {
            for (key, field) in fields {
                if ["transport", "mode", "clients"].contains(&key.as_str()) {
                    continue;
                }
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, field, out);
            }
        }
        _ => {}
    }
}

/// JSON runs saved for `baseline` under `root` (`target/bench-report`): per metric, the
/// median over runs and the runs' relative spread.
fn json_baseline(root: &Path, baseline: &str) -> BTreeMap<String, Measure> {
    let mut runs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(root.join(baseline)) else {
        return BTreeMap::new();
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for file in files {
        let Some(name) = file.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(bench) = name.strip_suffix(".json").and_then(|n| n.split('.').next()) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
            eprintln!("skipping {}: not JSON", file.display());
            continue;
        };
        let mut values = BTreeMap::new();
        flatten(bench, &json, &mut values);
        for (metric, value) in values {
            if compared(&metric) {
                runs.entry(metric).or_default().push(value);
            }
        }
    }
    runs.into_iter()
        .filter_map(|(metric, mut values)| {
            values.sort_by(f64::total_cmp);
            let middle = values.len() / 2;
            let median = if values.len() % 2 == 0 {
                (values[middle - 1] + values[middle]) / 2.0
            } else {
                values[middle]
            };
            if median == 0.0 {
                return None;
            }
            let spread = (values[values.len() - 1] - values[0]) / median.abs();
            Some((
                metric,
                Measure {
                    value: median,
                    noise: (values.len() > 1).then_some(spread),
                },
            ))
        })
        .collect()
}

fn format_value(name: &str, value: f64) -> String {
    if name.ends_with("(time)") {
        match value {
            v if v >= 1e9 => format!("{:.2} s", v / 1e9),
            v if v >= 1e6 => format!("{:.2} ms", v / 1e6),
            v if v >= 1e3 => format!("{:.2} µs", v / 1e3),
            v => format!("{v:.1} ns"),
        }
    } else if value.fract() == 0.0 || value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}

/// The markdown table comparing `old` and `new`: a verdict only when the ratio's
/// distance from 1 exceeds both noises added and `floor` (the drift between runs on
/// the machine, which no single run's noise shows).
fn compare(old: &BTreeMap<String, Measure>, new: &BTreeMap<String, Measure>, floor: f64) -> String {
    let mut table = String::from(
        "| benchmark | old | new | new / old | noise (old, new) | verdict |\n| --- | ---: | ---: | ---: | ---: | --- |\n",
    );
    for (name, before) in old {
        let Some(after) = new.get(name) else {
            continue;
        };
        let ratio = after.value / before.value;
        let noise = before
            .noise
            .zip(after.noise)
            .map(|(a, b)| (a + b).max(floor));
        let show = |noise: Option<f64>| match noise {
            Some(noise) => format!("±{:.1} %", noise * 100.0),
            None => "1 run".to_string(),
        };
        let improved = (ratio > 1.0) == (higher_is_better(name) && !name.ends_with("(time)"));
        let verdict = match noise {
            _ if machine_probe(name) => "machine probe",
            None => "no noise bound",
            Some(noise) if (ratio - 1.0).abs() <= noise => "within noise",
            Some(_) if improved => "better",
            Some(_) => "worse",
        };
        table.push_str(&format!(
            "| {name} | {} | {} | {ratio:.3}× | {}, {} | {verdict} |\n",
            format_value(name, before.value),
            format_value(name, after.value),
            show(before.noise),
            show(after.noise),
        ));
    }
    let only = |a: &BTreeMap<String, Measure>, b: &BTreeMap<String, Measure>| {
        a.keys().filter(|k| !b.contains_key(*k)).count()
    };
    let (old_only, new_only) = (only(old, new), only(new, old));
    if old_only + new_only > 0 {
        table.push_str(&format!(
            "\n{old_only} benchmark(s) only in the old baseline, {new_only} only in the new.\n"
        ));
    }
    table
}

fn baseline(dir: &Path, name: &str) -> BTreeMap<String, Measure> {
    let mut all = criterion_baseline(&dir.join("criterion"), name);
    all.extend(json_baseline(&dir.join("bench-report"), name));
    all
}

fn self_test() {
    // Two baselines written here: one criterion estimate and two JSON runs each.
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, mean, ci, commits) in [
        ("a", 1000.0, 20.0, [100.0, 110.0]),
        ("b", 500.0, 10.0, [200.0, 210.0]),
    ] {
        let estimates = dir.path().join("criterion/e2e/clients/64").join(name);
        std::fs::create_dir_all(&estimates).unwrap();
        std::fs::write(
            estimates.join("estimates.json"),
            format!(
                "{{\"mean\":{{\"point_estimate\":{mean},\"confidence_interval\":{{\"lower_bound\":{},\"upper_bound\":{}}}}}}}",
                mean - ci,
                mean + ci
            ),
        )
        .unwrap();
        let runs = dir.path().join("bench-report").join(name);
        std::fs::create_dir_all(&runs).unwrap();
        for (run, value) in commits.iter().enumerate() {
            std::fs::write(
                runs.join(format!("durable_path.{run}.json")),
                format!("{{\"limit_us\":250,\"cells\":[{{\"clients\":1,\"commits_per_second\":{value}}}]}}"),
            )
            .unwrap();
        }
    }
    let table = compare(&baseline(dir.path(), "a"), &baseline(dir.path(), "b"), 0.1);
    println!("{table}");
    assert!(
        table.contains("| e2e/clients/64 (time) | 1.00 µs | 500.0 ns | 0.500× |"),
        "{table}"
    );
    assert!(
        table.contains("durable_path.cells[clients=1].commits_per_second"),
        "{table}"
    );
    assert!(table.contains("1.952×"), "medians 105 and 205: {table}");
    assert!(table.contains("better"), "{table}");
    assert!(table.contains("machine probe"), "{table}");
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(position) = args.iter().position(|a| a == "compare") else {
        // `cargo test` / `cargo bench` without arguments: the self-test.
        self_test();
        return;
    };
    let (Some(old), Some(new)) = (args.get(position + 1), args.get(position + 2)) else {
        eprintln!("usage: cargo bench --bench bench_report -- compare OLD NEW [--dir TARGET_DIR] [--floor FRACTION]");
        std::process::exit(2);
    };
    let dir = args
        .iter()
        .position(|a| a == "--dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target"));
    // Differences smaller than this are never called better or worse (default 0.1; the
    // project's VM drifted 13-45 % between runs of the same commit: docs/benchmarks.md).
    let floor = args
        .iter()
        .position(|a| a == "--floor")
        .and_then(|i| args.get(i + 1))
        .and_then(|f| f.parse::<f64>().ok())
        .unwrap_or(0.1);
    let (old_set, new_set) = (baseline(&dir, old), baseline(&dir, new));
    if old_set.is_empty() || new_set.is_empty() {
        eprintln!(
            "no saved baseline {} under {} (scripts/bench-report.sh save NAME)",
            if old_set.is_empty() { old } else { new },
            dir.display()
        );
        std::process::exit(1);
    }
    println!("Comparing `{old}` (old) with `{new}` (new):\n");
    print!("{}", compare(&old_set, &new_set, floor));
}
