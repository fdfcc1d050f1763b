//! DESIGN.md §2: `src/core` is pure. This test fails if any source file under src/core
//! uses tokio, async, clocks, the file system, the network, threads, randomness, IO,
//! printing, or a hash-ordered collection. Comment lines are not checked.

use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "tokio",
    "async ",
    ".await",
    "std::time",
    "Instant",
    "SystemTime",
    "std::fs",
    "std::net",
    "std::thread",
    "std::io",
    "std::env",
    "rand::",
    // Events are the runtime's reading of the core's actions (src/trace.rs).
    "tracing",
    "trace::",
    "HashMap",
    "HashSet",
    "println!",
    "eprintln!",
    "dbg!",
    "std::process",
];

fn scan(dir: &Path, hits: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            scan(&path, hits);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for word in FORBIDDEN {
                if line.contains(word) {
                    hits.push(format!(
                        "{}:{}: `{word}` in: {}",
                        path.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
}

#[test]
fn core_is_pure() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut hits = Vec::new();
    scan(&core, &mut hits);
    assert!(
        hits.is_empty(),
        "src/core must stay pure (DESIGN.md §2):\n{}",
        hits.join("\n")
    );
}

#[test]
fn core_dependencies_stay_minimal() {
    // The core may use serde and thiserror only; anything else must be argued for here.
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core/mod.rs"))
            .unwrap();
    for crate_name in ["tokio", "fjall", "stateright", "turmoil", "rand"] {
        assert!(
            !manifest.contains(&format!("use {crate_name}")),
            "core uses {crate_name}"
        );
    }
}
