//! The `lincheck` binary: exit codes, messages naming the line, JSON summary.

use std::path::PathBuf;
use std::process::Command;

fn histories() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/histories"))
}

fn write_temp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lincheck-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write temp file");
    path
}

/// Runs lincheck and returns (exit code, stdout, stderr).
fn lincheck(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_lincheck"))
        .args(args)
        .output()
        .expect("run lincheck");
    (
        output.status.code().expect("exit code, not a signal"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_bad_input(model: &str, name: &str, content: &str, line: usize, needle: &str) {
    let path = write_temp(name, content);
    let path = path.to_str().expect("utf-8 path");
    let (code, _, stderr) = lincheck(&["check", "--model", model, path]);
    assert_eq!(code, 2, "{name}: stderr {stderr}");
    assert!(
        stderr.contains(&format!(":{line}:")),
        "{name}: no line {line} in {stderr:?}"
    );
    assert!(
        stderr.contains(needle),
        "{name}: {needle:?} not in {stderr:?}"
    );
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
}

#[test]
fn malformed_inputs_exit_2_with_the_line_and_reason() {
    assert_bad_input(
        "cas-register",
        "truncated.edn",
        "[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0, :type :ok, :f :write",
        2,
        "truncated",
    );
    assert_bad_input(
        "register",
        "unmatched.jsonl",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":3}\n",
        2,
        "no matching open call",
    );
    assert_bad_input(
        "register",
        "unknown-f.jsonl",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n{\"process\":0,\"type\":\"invoke\",\"f\":\"frobnicate\",\"value\":1}\n",
        3,
        "unknown function",
    );
    assert_bad_input(
        "register",
        "double.log",
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:invoke\t:write\t1\n",
        2,
        "still open",
    );
    assert_bad_input(
        "register",
        "garbage.log",
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - zero\t:ok\t:read\tnil\n",
        2,
        "process",
    );
    assert_bad_input(
        "register",
        "bad-json.jsonl",
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n{\"process\":0,\"type\":\"ok\",\"f\":\"re",
        2,
        "invalid JSON",
    );
    assert_bad_input(
        "kv",
        "kv-no-key.txt",
        "{:process 0, :type :invoke, :f :get, :value nil}\n",
        1,
        "key",
    );
    assert_bad_input(
        "register",
        "comment-only.txt",
        "; nothing but a comment\n",
        1,
        "cannot detect",
    );
}

/// Knossos calls a history with no client operations valid; so do we (exit 0).
#[test]
fn histories_without_client_operations_are_linearizable() {
    let cases = [
        ("cas-register", "empty.edn", ""),
        ("register", "blank.jsonl", "\n\n  \n"),
        (
            "cas-register",
            "nemesis-only.edn",
            "[{:process :nemesis, :type :info, :f :start, :value nil}\n {:process :nemesis, :type :info, :f :stop, :value nil}]\n",
        ),
        (
            "cas-register",
            "failed-only.edn",
            "[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0, :type :fail, :f :write, :value 1}]\n",
        ),
        (
            "kv",
            "unknown-reads-only.txt",
            "{:process 0, :type :invoke, :f :get, :key \"k\", :value nil}\n",
        ),
    ];
    for (model, name, content) in cases {
        let path = write_temp(name, content);
        let path = path.to_str().expect("path");
        let (code, stdout, stderr) = lincheck(&["check", "--model", model, path]);
        assert_eq!(code, 0, "{name}: {stdout} {stderr}");
        assert!(stdout.contains("no client operations"), "{name}: {stdout}");
        let (code, stdout, _) = lincheck(&["check", "--model", model, "--json", path]);
        assert_eq!(code, 0, "{name}: {stdout}");
        let summary: serde_json::Value =
            serde_json::from_str(stdout.lines().last().expect("line")).expect("valid JSON");
        assert_eq!(summary["verdict"], "linearizable", "{name}");
        assert_eq!(summary["files"][0]["ops"], 0, "{name}");
    }
}

#[test]
fn memory_limit_gives_unknown_exit_3() {
    // Unpartitioned, c10-ok takes Porcupine seconds and far more than 1 MiB of cache.
    let file = histories().join("porcupine/kv/c10-ok.txt");
    let file = file.to_str().expect("path");
    let args = [
        "check",
        "--model",
        "kv",
        "--no-partition",
        "--max-memory",
        "1MiB",
    ];
    let (code, stdout, stderr) = lincheck(&[&args[..], &[file]].concat());
    assert_eq!(code, 3, "{stdout} {stderr}");
    assert!(stdout.contains("not decided: memory limit"), "{stdout}");
    let (code, stdout, _) = lincheck(&[&args[..], &["--json", file]].concat());
    assert_eq!(code, 3, "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("line")).expect("valid JSON");
    assert_eq!(summary["files"][0]["unknown_causes"][0], "memory limit");
    let (code, _, stderr) = lincheck(&["check", "--model", "kv", "--max-memory", "lots", file]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, _) = lincheck(&["check", "--model", "nonsense", "x"]);
    assert_eq!(code, 2);
    let (code, _, _) = lincheck(&["check", "--model", "register"]);
    assert_eq!(code, 2);
    let (code, _, stderr) = lincheck(&["check", "--model", "register", "/nonexistent/file.log"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read"), "{stderr}");
}

#[test]
fn verdicts_map_to_exit_codes_and_json() {
    let good = histories().join("knossos/cas-register/good/cas-register-bug.edn");
    let bad = histories().join("knossos/cas-register/bad/rethink-fail-minimal.edn");
    let (good, bad) = (good.to_str().expect("path"), bad.to_str().expect("path"));
    let (code, stdout, _) = lincheck(&["check", "--model", "cas-register", good]);
    assert_eq!(code, 0, "{stdout}");
    let (code, stdout, _) = lincheck(&["check", "--model", "cas-register", bad]);
    assert_eq!(code, 1);
    assert!(stdout.contains("cannot be placed next"), "{stdout}");
    assert!(stdout.contains("read() -> 3"), "{stdout}");

    let (code, stdout, _) = lincheck(&["check", "--model", "cas-register", "--json", good, bad]);
    assert_eq!(code, 1);
    let last = stdout.lines().last().expect("a JSON line");
    let summary: serde_json::Value = serde_json::from_str(last).expect("valid JSON");
    assert_eq!(summary["verdict"], "not linearizable");
    assert_eq!(summary["files"][0]["verdict"], "linearizable");
    assert_eq!(summary["files"][1]["verdict"], "not linearizable");
    assert_eq!(summary["files"][1]["failing_partition"]["blocking"][0], 1);

    // An unparseable file wins over everything else.
    let broken = write_temp("broken.edn", "[{:process 0");
    let (code, stdout, _) = lincheck(&[
        "check",
        "--model",
        "cas-register",
        "--json",
        bad,
        broken.to_str().expect("path"),
    ]);
    assert_eq!(code, 2);
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("line")).expect("valid JSON");
    assert_eq!(summary["files"][1]["verdict"], "error");
}

#[test]
fn timeout_gives_unknown_exit_3() {
    let file = histories().join("porcupine/kv/c10-ok.txt");
    let (code, stdout, _) = lincheck(&[
        "check",
        "--model",
        "kv",
        "--no-partition",
        "--timeout",
        "0.05",
        "--json",
        file.to_str().expect("path"),
    ]);
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("\"verdict\":\"unknown\""), "{stdout}");
}

#[test]
fn html_report_is_self_contained() {
    let bad = histories().join("knossos/cas-register/bad/rethink-fail-minimal.edn");
    let out = write_temp("report.html", "");
    let (code, _, stderr) = lincheck(&[
        "check",
        "--model",
        "cas-register",
        "--html",
        out.to_str().expect("path"),
        bad.to_str().expect("path"),
    ]);
    assert_eq!(code, 1, "{stderr}");
    let html = std::fs::read_to_string(&out).expect("html written");
    assert!(html.starts_with("<!doctype html>"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "external URL in report"
    );
    assert!(html.contains("read() -> 3"));
}
