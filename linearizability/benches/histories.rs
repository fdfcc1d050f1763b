//! Criterion benchmarks over the shared histories (parsing excluded): the etcd set, and
//! kv/c50-ok.txt checked per key, as in docs/benchmarks.md.

use concord_linearizability::{analyze, parse, CheckOptions, Format, History, ModelKind};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::PathBuf;

fn histories_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/histories"))
}

fn load(file: &str, format: Format) -> History {
    let path = histories_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (histories are vendored under linearizability/tests/data)",
            path.display()
        )
    });
    parse(&text, format).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The MANIFEST rows of one model.
fn manifest_files(model: &str) -> Vec<String> {
    let manifest =
        std::fs::read_to_string(histories_dir().join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    manifest
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields.get(1) == Some(&model)).then(|| fields[0].to_string())
        })
        .collect()
}

fn single_thread(partition: bool) -> CheckOptions {
    CheckOptions {
        partition,
        timeout: None,
        threads: Some(1),
        max_memory_bytes: None,
    }
}

fn etcd_set(c: &mut Criterion) {
    let histories: Vec<History> = manifest_files("etcd")
        .iter()
        .map(|f| load(f, Format::PorcupineEtcd))
        .collect();
    let options = single_thread(true);
    c.bench_function("etcd set (all etcd rows, one thread)", |b| {
        b.iter(|| {
            for history in &histories {
                black_box(
                    analyze(ModelKind::Register, black_box(history), &options)
                        .map(|a| a.report.verdict),
                )
                .ok();
            }
        })
    });
}

fn kv_c50(c: &mut Criterion) {
    let history = load("porcupine/kv/c50-ok.txt", Format::PorcupineKv);
    let mut group = c.benchmark_group("kv");
    group.sample_size(10);
    let options = single_thread(true);
    group.bench_function("c50-ok partitioned (one thread)", |b| {
        b.iter(|| {
            black_box(
                analyze(ModelKind::Kv, black_box(&history), &options).map(|a| a.report.verdict),
            )
            .ok()
        })
    });
    let parallel = CheckOptions::default();
    group.bench_function("c50-ok partitioned (parallel)", |b| {
        b.iter(|| {
            black_box(
                analyze(ModelKind::Kv, black_box(&history), &parallel).map(|a| a.report.verdict),
            )
            .ok()
        })
    });
    group.finish();
}

fn knossos(c: &mut Criterion) {
    let histories: Vec<History> = manifest_files("cas-register-edn")
        .iter()
        .map(|f| load(f, Format::Edn))
        .collect();
    let options = single_thread(true);
    c.bench_function("knossos cas-register set (one thread)", |b| {
        b.iter(|| {
            for history in &histories {
                black_box(
                    analyze(ModelKind::CasRegister, black_box(history), &options)
                        .map(|a| a.report.verdict),
                )
                .ok();
            }
        })
    });
}

criterion_group!(benches, etcd_set, kv_c50, knossos);
criterion_main!(benches);
