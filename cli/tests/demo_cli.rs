//! `concord demo` end to end (a short run) and its usage errors.

use std::process::Command;

#[test]
fn a_short_demo_reports_a_linearizable_history() {
    let output = Command::new(env!("CARGO_BIN_EXE_concord"))
        .args([
            "demo",
            "--json",
            "--seconds",
            "3",
            "--clients",
            "4",
            "--keys",
            "16",
        ])
        .output()
        .expect("run concord demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let last = stdout.lines().last().expect("some output");
    let summary: serde_json::Value = serde_json::from_str(last).expect("last line is JSON");
    assert_eq!(summary["verdict"], "linearizable", "{summary}");
    for field in [
        "ops",
        "throughput_ops_per_s",
        "latency_p50_ms",
        "latency_p99_ms",
        "failover_ms",
    ] {
        assert!(!summary[field].is_null(), "missing {field}: {summary}");
    }
    assert!(summary["ok"].as_u64().unwrap() > 0, "{summary}");
}

#[test]
fn bad_usage_exits_with_2() {
    for args in [
        &["demo", "--seconds"][..],
        &["demo", "--clients", "0"],
        &["demo", "--frobnicate"],
        &["nonsense"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_concord"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?}: no message");
    }
}
