use concord_model::*;
use std::time::Duration;
fn main() {
    let mut cfg = ModelConfig::default();
    let mut secs = 60;
    let mut threads = 1;
    for kv in std::env::args().skip(1) {
        let (k, v) = kv.split_once('=').unwrap();
        match k {
            "term" => cfg.max_term = v.parse().unwrap(),
            "log" => cfg.max_log = v.parse().unwrap(),
            "crashes" => cfg.crashes = v.parse().unwrap(),
            "clients" => cfg.clients = v.parse().unwrap(),
            "ops" => cfg.ops_per_client = v.parse().unwrap(),
            "el" => cfg.max_elections = v.parse().unwrap(),
            "qc" => cfg.max_quorum_checks = v.parse().unwrap(),
            "hb" => cfg.max_heartbeats = v.parse().unwrap(),
            "prevote" => cfg.options.pre_vote = v == "1",
            "cq" => cfg.options.check_quorum = v == "1",
            "pending" => cfg.max_pending = v.parse().unwrap(),
            "secs" => secs = v.parse().unwrap(),
            "threads" => threads = v.parse().unwrap(),
            _ => panic!("{k}"),
        }
    }
    let o = check(
        cfg,
        &SearchOptions {
            threads,
            timeout: Some(Duration::from_secs(secs)),
            ..Default::default()
        },
    );
    println!(
        "{:?}: {} states depth {} {:.1}s complete={} {}",
        std::env::args().skip(1).collect::<Vec<_>>(),
        o.unique_states,
        o.max_depth,
        o.seconds,
        o.complete,
        o.properties
            .iter()
            .map(|(n, v)| format!("{n}={}", v.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
