//! `lincheck check`.

use super::{CheckArgs, EXIT_BAD_INPUT, EXIT_LINEARIZABLE, EXIT_NOT_LINEARIZABLE, EXIT_UNKNOWN};
use concord_linearizability::{
    analyze, html, parse, Analysis, CheckOptions, Format, ModelKind, Verdict,
};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

/// One file's outcome.
enum FileOutcome {
    BadInput(String),
    Checked(Box<Analysis>),
}

pub(super) fn run(args: CheckArgs) -> u8 {
    let (model, format) = match (
        args.model.parse::<ModelKind>(),
        args.format.parse::<Format>(),
    ) {
        (Ok(model), Ok(format)) => (model, format),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("lincheck: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    if args.html.is_some() && args.files.len() != 1 {
        eprintln!("lincheck: --html takes exactly one input file");
        return EXIT_BAD_INPUT;
    }
    let timeout = match args.timeout {
        Some(secs) if !(secs.is_finite() && secs > 0.0) => {
            eprintln!("lincheck: --timeout must be a positive number of seconds");
            return EXIT_BAD_INPUT;
        }
        Some(secs) => Some(Duration::from_secs_f64(secs)),
        None => None,
    };
    let options = CheckOptions {
        partition: !args.no_partition,
        timeout,
        threads: args.threads,
        max_memory_bytes: args.max_memory,
    };
    let mut outcomes = Vec::new();
    for path in &args.files {
        let outcome = check_file(path, model, format, &options);
        match &outcome {
            FileOutcome::BadInput(message) => eprintln!("lincheck: {message}"),
            FileOutcome::Checked(analysis) => {
                if !args.json {
                    print_human(path, analysis);
                }
                if let Some(html_path) = &args.html {
                    let title = path.display().to_string();
                    if let Err(e) = std::fs::write(html_path, html::render(&title, analysis)) {
                        eprintln!("lincheck: cannot write {}: {e}", html_path.display());
                        return EXIT_BAD_INPUT;
                    }
                }
            }
        }
        outcomes.push(outcome);
    }
    let bad = outcomes
        .iter()
        .any(|o| matches!(o, FileOutcome::BadInput(_)));
    let verdict_of = |wanted: Verdict| {
        outcomes
            .iter()
            .any(|o| matches!(o, FileOutcome::Checked(a) if a.report.verdict == wanted))
    };
    let (code, overall) = if bad {
        (EXIT_BAD_INPUT, "error")
    } else if verdict_of(Verdict::NotLinearizable) {
        (EXIT_NOT_LINEARIZABLE, "not linearizable")
    } else if verdict_of(Verdict::Unknown) {
        (EXIT_UNKNOWN, "unknown")
    } else {
        (EXIT_LINEARIZABLE, "linearizable")
    };
    if args.json {
        let files: Vec<serde_json::Value> = args
            .files
            .iter()
            .zip(&outcomes)
            .map(|(path, outcome)| file_json(path, outcome))
            .collect();
        println!("{}", json!({ "verdict": overall, "files": files }));
    }
    code
}

fn check_file(
    path: &Path,
    model: ModelKind,
    format: Format,
    options: &CheckOptions,
) -> FileOutcome {
    let name = path.display();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => return FileOutcome::BadInput(format!("{name}: cannot read: {e}")),
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..valid]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            return FileOutcome::BadInput(format!("{name}:{line}: invalid UTF-8"));
        }
    };
    let history = match parse(&text, format) {
        Ok(history) => history,
        Err(e) => {
            return FileOutcome::BadInput(located(&name.to_string(), e.line(), &e.to_string()))
        }
    };
    match analyze(model, &history, options) {
        Ok(analysis) => FileOutcome::Checked(Box::new(analysis)),
        Err(e) => FileOutcome::BadInput(located(&name.to_string(), e.line, &e.to_string())),
    }
}

/// `FILE:LINE: reason`, without repeating the line the error's own text starts with.
fn located(name: &str, line: usize, message: &str) -> String {
    let prefix = format!("line {line}: ");
    let reason = message.strip_prefix(&prefix).unwrap_or(message);
    format!("{name}:{line}: {reason}")
}

fn print_human(path: &Path, analysis: &Analysis) {
    let report = &analysis.report;
    println!(
        "{}: {} ({} operations, {} partitions, {:.1} ms)",
        path.display(),
        report.verdict,
        analysis.ops.len(),
        report.partitions.len(),
        report.elapsed.as_secs_f64() * 1e3
    );
    let views: HashMap<_, _> = analysis.ops.iter().map(|op| (op.id, op)).collect();
    let describe = |id| {
        views.get(&id).map_or_else(
            || format!("op {}", id.0),
            |op| {
                format!(
                    "op {} (process {}, line {}): {}",
                    id.0, op.process.0, op.line, op.description
                )
            },
        )
    };
    match report.verdict {
        Verdict::NotLinearizable => {
            if let Some(failing) = report.failing_partition() {
                if let Some(key) = &failing.key {
                    println!("  failing partition: key {key:?}");
                }
                println!(
                    "  longest linearizable prefix ({} operations):",
                    failing.linearization.len()
                );
                for step in &failing.linearization {
                    println!("    {}  => state {}", describe(step.op), step.state);
                }
                for op in &failing.blocking {
                    println!("  cannot be placed next: {}", describe(*op));
                }
            }
        }
        Verdict::Unknown => {
            let mut causes: BTreeMap<String, usize> = BTreeMap::new();
            for partition in &report.partitions {
                if partition.verdict == Verdict::Unknown {
                    let cause = partition
                        .unknown_cause
                        .map_or_else(|| "an internal error".to_string(), |c| c.to_string());
                    *causes.entry(cause).or_default() += 1;
                }
            }
            for (cause, count) in causes {
                println!("  {count} partition(s) not decided: {cause}");
            }
        }
        Verdict::Linearizable if analysis.ops.is_empty() => {
            println!("  no client operations: nothing to linearize");
        }
        Verdict::Linearizable => {}
    }
}

fn file_json(path: &Path, outcome: &FileOutcome) -> serde_json::Value {
    match outcome {
        FileOutcome::BadInput(message) => json!({
            "path": path.display().to_string(),
            "verdict": "error",
            "error": message,
        }),
        FileOutcome::Checked(analysis) => {
            let report = &analysis.report;
            json!({
                "path": path.display().to_string(),
                "verdict": report.verdict,
                "ops": analysis.ops.len(),
                "partitions": report.partitions.len(),
                "elapsed_ms": report.elapsed.as_secs_f64() * 1e3,
                "unknown_causes": report
                    .partitions
                    .iter()
                    .filter_map(|p| p.unknown_cause)
                    .collect::<std::collections::BTreeSet<_>>(),
                "failing_partition": report.failing_partition().map(|p| json!({
                    "key": p.key,
                    "linearization": p.linearization,
                    "blocking": p.blocking,
                })),
            })
        }
    }
}
