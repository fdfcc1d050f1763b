//! Every history in the shared histories (vendored from ../shared/data/histories into tests/data/histories) gets its expected verdict.

use concord_linearizability::{analyze, parse, CheckOptions, Format, ModelKind, Verdict};
use std::path::PathBuf;
use std::time::Instant;

fn histories_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/histories"))
}

/// (model, format, partition) for a MANIFEST model name.
fn setup(manifest_model: &str) -> (ModelKind, Format, bool) {
    match manifest_model {
        "etcd" => (ModelKind::Register, Format::PorcupineEtcd, true),
        "kv-partitioned" => (ModelKind::Kv, Format::PorcupineKv, true),
        "kv-unpartitioned" => (ModelKind::Kv, Format::PorcupineKv, false),
        "cas-register-edn" => (ModelKind::CasRegister, Format::Edn, true),
        other => panic!("MANIFEST model {other:?} has no mapping: add one"),
    }
}

#[test]
fn every_manifest_history_gets_its_expected_verdict() {
    let dir = histories_dir();
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap_or_else(|e| {
        panic!(
            "cannot read {}/MANIFEST.tsv ({e}); the histories are vendored under linearizability/tests/data",
            dir.display()
        )
    });
    let mut rows = 0;
    let mut failures = Vec::new();
    for row in manifest.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = row.split('\t').collect();
        let (file, manifest_model, expected) = (fields[0], fields[1], fields[2] == "true");
        let (model, format, partition) = setup(manifest_model);
        let text = std::fs::read_to_string(dir.join(file)).expect("read history");
        // Auto-detection must agree with the MANIFEST's source.
        assert_eq!(
            concord_linearizability::parse::detect_format(&text),
            Some(format),
            "{file}"
        );
        let history = parse(&text, format).unwrap_or_else(|e| panic!("{file}: {e}"));
        if let Some(ops) = fields.get(3).and_then(|n| n.parse::<usize>().ok()) {
            assert_eq!(history.operations().len(), ops, "{file}: operation count");
        }
        let options = CheckOptions {
            partition,
            ..CheckOptions::default()
        };
        let started = Instant::now();
        let analysis = analyze(model, &history, &options).unwrap_or_else(|e| panic!("{file}: {e}"));
        let verdict = analysis.report.verdict;
        eprintln!(
            "{file} {manifest_model}: {verdict} in {:?}",
            started.elapsed()
        );
        let wanted = if expected {
            Verdict::Linearizable
        } else {
            Verdict::NotLinearizable
        };
        if verdict != wanted {
            failures.push(format!(
                "{file} ({manifest_model}): got {verdict}, expected {wanted}"
            ));
        }
        if verdict == Verdict::NotLinearizable {
            let failing = analysis
                .report
                .failing_partition()
                .expect("failing partition");
            assert!(
                !failing.blocking.is_empty(),
                "{file}: no blocking op reported"
            );
        }
        rows += 1;
    }
    assert!(rows >= 60, "MANIFEST has only {rows} rows");
    assert!(
        failures.is_empty(),
        "wrong verdicts:\n{}",
        failures.join("\n")
    );
}
