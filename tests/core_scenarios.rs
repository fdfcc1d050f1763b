//! Golden scenario tests for the core, in the style of etcd's datadriven tests.
//!
//! Each file in `tests/scenarios/*.txt` is a sequence of blocks:
//!
//! ```text
//! # comments explain what the block shows
//! command args...
//! ----
//! expected output (every action, delivery and drop, one per line)
//! <blank line>
//! ```
//!
//! Run with `UPDATE_GOLDEN=1` to rewrite the expected outputs, then read the diff.

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::cluster::{Cluster, Envelope};
use concord::core::*;

fn parse_kv(args: &[&str]) -> std::collections::BTreeMap<String, String> {
    args.iter()
        .filter_map(|a| a.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ids(list: &str) -> Vec<u64> {
    if list.is_empty() {
        return Vec::new();
    }
    list.split(',')
        .map(|x| x.parse().expect("node id"))
        .collect()
}

fn message_filter(args: &[&str]) -> impl Fn(&Envelope) -> bool {
    let kv = parse_kv(args);
    let from = kv.get("from").map(|v| ids(v));
    let to = kv.get("to").map(|v| ids(v));
    let kind = kv.get("type").cloned();
    move |e: &Envelope| {
        from.as_ref().is_none_or(|f| f.contains(&e.from))
            && to.as_ref().is_none_or(|t| t.contains(&e.to))
            && kind.as_ref().is_none_or(|k| e.message.kind_name() == k)
    }
}

/// Parses an injected message: `heartbeat term=1 commit=0`, `vote term=3 last=1.2`,
/// `prevote ...`, `append term=2 prev=1.1 entries=2.2,2.3 commit=1`.
fn parse_message(args: &[&str]) -> Message<u64> {
    let kv = parse_kv(&args[1..]);
    let term = Term(kv["term"].parse().unwrap());
    let log_id = |text: &str| {
        let (t, i) = text.split_once('.').expect("log id as term.index");
        LogId::new(t.parse().unwrap(), i.parse().unwrap())
    };
    match args[0] {
        "heartbeat" => Message::Heartbeat(Heartbeat {
            term,
            commit: LogIndex(kv["commit"].parse().unwrap()),
            round: kv.get("round").map_or(0, |r| r.parse().unwrap()),
        }),
        "vote" | "prevote" => {
            let request = VoteRequest {
                term,
                last_log_id: log_id(&kv["last"]),
                leadership_transfer: false,
            };
            if args[0] == "vote" {
                Message::Vote(request)
            } else {
                Message::PreVote(request)
            }
        }
        "voteresponse" => Message::VoteResponse(VoteResponse {
            term,
            granted: kv["granted"] == "true",
        }),
        "append" => Message::Append(AppendRequest {
            term,
            prev_log_id: log_id(&kv["prev"]),
            entries: kv
                .get("entries")
                .map(|list| {
                    list.split(',')
                        .map(|id| EntryMeta {
                            log_id: log_id(id),
                            kind: EntryKind::Normal,
                            size_bytes: 1,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            leader_commit: LogIndex(kv["commit"].parse().unwrap()),
        }),
        other => panic!("unknown message kind {other}"),
    }
}

fn run_command(cluster: &mut Option<Cluster>, line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (command, args) = (words[0], &words[1..]);
    if command == "add-nodes" {
        let kv = parse_kv(args);
        let mut options = CoreOptions::default();
        if kv.get("prevote").map(String::as_str) == Some("false") {
            options.pre_vote = false;
        }
        if kv.get("checkquorum").map(String::as_str) == Some("false") {
            options.check_quorum = false;
        }
        if let Some(window) = kv.get("inflight") {
            options.max_inflight_messages = window.parse().unwrap();
        }
        if let Some(max) = kv.get("max-entries") {
            options.max_entries_per_message = max.parse().unwrap();
        }
        if let Some(distance) = kv.get("snapshot-distance") {
            options.snapshot_log_distance = distance.parse().unwrap();
        }
        if let Some(retained) = kv.get("retained") {
            options.snapshot_retained_entries = retained.parse().unwrap();
        }
        if let Some(margin) = kv.get("catchup-margin") {
            options.catchup_margin = margin.parse().unwrap();
        }
        if let Some(lease) = kv.get("lease") {
            options.read_lease = lease.parse().unwrap();
        }
        let voters = ids(&kv["voters"]);
        let learners = kv.get("learners").map(|l| ids(l)).unwrap_or_default();
        let mut new_cluster = Cluster::new(&voters, &learners, options);
        for spare in kv.get("spares").map(|l| ids(l)).unwrap_or_default() {
            new_cluster.add_spare(spare);
        }
        let out = std::mem::take(&mut new_cluster.trace);
        *cluster = Some(new_cluster);
        return out;
    }
    let c = cluster.as_mut().expect("add-nodes first");
    c.trace.clear();
    let node = |i: usize| -> u64 { args[i].parse().expect("node id") };
    match command {
        "campaign" | "tick-election" => c.fire(node(0), Timer::Election),
        "tick-heartbeat" => c.fire(node(0), Timer::Heartbeat),
        "propose" => {
            let count = args.get(1).map_or(1, |n| n.parse().unwrap());
            let kv = parse_kv(args);
            let expected = kv.get("expected-term").map(|t| Term(t.parse().unwrap()));
            c.propose(node(0), count, expected);
        }
        "read" => {
            // `read <node> [count] [now=<time>]`: `now` makes it a lease read.
            let count = args
                .get(1)
                .filter(|a| !a.contains('='))
                .map_or(1, |n| n.parse().unwrap());
            let kv = parse_kv(args);
            let now = kv.get("now").map(|t| t.parse().unwrap());
            c.read(node(0), count, now);
        }
        "persist" => {
            let kv = parse_kv(args);
            let limit = kv.get("count").map(|n| n.parse().unwrap());
            let targets: Vec<u64> = match args.first().filter(|a| !a.contains('=')) {
                Some(list) => ids(list),
                None => c.nodes.keys().copied().collect(),
            };
            for id in targets {
                c.persist(id, limit);
            }
        }
        "deliver" => {
            c.deliver_matching(message_filter(args));
        }
        "drop" => {
            c.drop_matching(message_filter(args));
        }
        "stabilize" => c.stabilize(),
        "isolate" => c.isolate(node(0)),
        "cut" => {
            let (a, b) = (node(0), node(1));
            c.cut.insert((a, b));
            c.cut.insert((b, a));
        }
        "cut-oneway" => {
            c.cut.insert((node(0), node(1)));
        }
        "heal" => c.heal(),
        // change <leader> add-voter=4 | remove-voter=1 | voters=1,2,4 | add-learners=5
        //   | remove-learners=5 | learners=5,6
        "change" => {
            let kv = parse_kv(&args[1..]);
            let (key, value) = kv.iter().next().expect("change <node> <kind>=<ids>");
            let set = || ids(value).into_iter().collect();
            let change = match key.as_str() {
                "add-voter" => MembershipChange::AddVoter(value.parse().unwrap()),
                "remove-voter" => MembershipChange::RemoveVoter(value.parse().unwrap()),
                "voters" => MembershipChange::ChangeVoters(set()),
                "add-learners" => MembershipChange::AddLearners(set()),
                "remove-learners" => MembershipChange::RemoveLearners(set()),
                "learners" => MembershipChange::ResetLearners(set()),
                other => panic!("unknown change {other}"),
            };
            c.change_membership(node(0), change);
        }
        // transfer <leader> [to=<id>]
        "transfer" => {
            let kv = parse_kv(args);
            let to = kv.get("to").map(|t| t.parse().unwrap());
            c.transfer(node(0), to);
        }
        // reset <node> voters=<ids>
        "reset" => {
            let kv = parse_kv(&args[1..]);
            c.reset_peers(node(0), &ids(&kv["voters"]));
        }
        "crash" => c.crash(node(0)),
        "fail" => c.fail(node(0)),
        "restart" => c.restart(node(0)),
        "snapshot" => {
            let id = node(0);
            c.trace.push_str(&format!("{id}: take a snapshot\n"));
            c.step(id, Input::TakeSnapshot);
        }
        "restore" => {
            let kv = parse_kv(args);
            let terms: Vec<u64> = match kv.get("log") {
                Some(list) if !list.is_empty() => {
                    list.split(',').map(|t| t.parse().unwrap()).collect()
                }
                _ => Vec::new(),
            };
            let vote = kv.get("vote").map(|v| v.parse().unwrap());
            c.set_durable(node(0), kv["term"].parse().unwrap(), vote, &terms);
        }
        "raw" => {
            // raw <to> from=<from> <message words...>
            let to = node(0);
            let from: u64 = args[1]
                .strip_prefix("from=")
                .expect("from=")
                .parse()
                .unwrap();
            let message = if args[2] == "installsnapshot" {
                // installsnapshot term=T last=t.i (the cluster's configuration)
                let kv = parse_kv(&args[3..]);
                let (t, i) = kv["last"].split_once('.').expect("log id as term.index");
                Message::InstallSnapshot(InstallSnapshotRequest {
                    term: Term(kv["term"].parse().unwrap()),
                    meta: SnapshotMeta {
                        last_included: LogId::new(t.parse().unwrap(), i.parse().unwrap()),
                        configuration: c.configuration.clone(),
                    },
                })
            } else {
                parse_message(&args[2..])
            };
            c.network.push(Envelope { from, to, message });
            let last = c.network.len() - 1;
            c.deliver_at(last);
        }
        "conf" => {
            let mut out = String::new();
            for (id, node) in &c.nodes {
                match &node.core {
                    Some(core) => writeln!(out, "{id}: {}", core.configuration()).unwrap(),
                    None => writeln!(out, "{id}: down").unwrap(),
                }
            }
            c.trace.push_str(&out);
        }
        "status" => {
            let status = c.status();
            c.trace.push_str(&status);
        }
        "net" => {
            let mut out = String::new();
            for e in &c.network {
                writeln!(out, "{} -> {} {}", e.from, e.to, e.message).unwrap();
            }
            c.trace.push_str(&out);
        }
        "check" => {
            c.observe();
            c.trace.push_str("ok\n");
        }
        other => panic!("unknown command {other}"),
    }
    c.observe();
    let out = std::mem::take(&mut c.trace);
    if out.is_empty() {
        "ok\n".into()
    } else {
        out
    }
}

/// Runs one scenario file; returns the file as it should read (commands + actual output).
fn run_file(text: &str) -> String {
    let mut cluster = None;
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim().is_empty() || line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        out.push_str(line);
        out.push('\n');
        // Skip the old expected output: "----" and everything up to a blank line.
        if lines.peek() == Some(&"----") {
            lines.next();
            while let Some(next) = lines.peek() {
                if next.trim().is_empty() {
                    break;
                }
                lines.next();
            }
        }
        out.push_str("----\n");
        out.push_str(&run_command(&mut cluster, line));
    }
    out
}

#[test]
fn scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scenarios found in {}", dir.display());
    let mut failures = Vec::new();
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
    {
        let text = std::fs::read_to_string(path).unwrap();
        let actual = run_file(&text);
        if actual != text {
            if update {
                std::fs::write(path, &actual).unwrap();
            } else {
                failures.push((path.clone(), first_difference(&text, &actual)));
            }
        }
    }
    if !failures.is_empty() {
        let mut message = String::from(
            "scenario output differs (UPDATE_GOLDEN=1 to rewrite, then review the diff):\n",
        );
        for (path, diff) in failures {
            writeln!(message, "{}:\n{diff}", path.display()).unwrap();
        }
        panic!("{message}");
    }
}

fn first_difference(expected: &str, actual: &str) -> String {
    for (n, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if e != a {
            return format!("  line {}:\n  expected: {e}\n  actual:   {a}", n + 1);
        }
    }
    format!(
        "  lengths differ: expected {} lines, got {}",
        expected.lines().count(),
        actual.lines().count()
    )
}
