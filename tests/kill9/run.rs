//! One run, phase by phase: boot the processes, start the workload, run the nemesis,
//! heal, read and write once more, wait for the replicas to converge, check.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use concord::core::{Endpoint, PeerId};
use concord::kv::{KvCommand, KvResponse};
use concord_linearizability::{analyze, parse, CheckOptions, Format, ModelKind};
use tokio::task::JoinHandle;

use super::cluster::{lock, name, Cluster, Observations};
use super::report::Report;
use super::schedule::{self, Cycle, Target};
use super::wire::NodeSpec;
use super::workload::{self, Client, Recorder};
use super::{check, node, rng, RunConfig};

/// The key of the write that proves the healed cluster commits (apart from the
/// workload's keys, so their final reads stay the last word on them).
const AFTER_HEAL_KEY: &str = "after-heal";

/// The nemesis's record: kept for the report and written to `nemesis.log` as it goes.
struct NemesisLog {
    lines: Vec<String>,
    file: Option<File>,
    start: Instant,
}

impl NemesisLog {
    fn note(&mut self, text: String) {
        let line = format!("{:>9.3}s {text}", self.start.elapsed().as_secs_f64());
        if let Some(file) = self.file.as_mut() {
            let _ = writeln!(file, "{line}");
        }
        self.lines.push(line);
    }
}

/// Everything a run holds while it goes.
struct Run<'a> {
    config: &'a RunConfig,
    dir: PathBuf,
    keys: Vec<String>,
    members: Vec<(PeerId, Endpoint)>,
    cluster: Cluster,
    observations: Arc<Observations>,
    recorder: Arc<Recorder>,
    processes: Arc<AtomicU64>,
    log: NemesisLog,
    report: Report,
}

/// Runs `config` with its files in `dir`.
pub async fn run_cluster(config: &RunConfig, dir: &Path, started: Instant) -> Report {
    let mut run = Run::new(config, dir, started);
    run.boot().await;
    let stop = Arc::new(AtomicBool::new(false));
    let workers = run.start_workload(&stop);
    run.nemesis().await;
    run.heal(&stop, workers).await;
    let (finals, written) = run.final_reads_and_write().await;
    let mut expected: Vec<Option<Option<String>>> = run
        .keys
        .iter()
        .map(|key| finals.get(key).cloned())
        .collect();
    expected.push(written.then(|| Some("done".to_string())));
    run.converge(&expected).await;
    run.cluster.kill_all().await;
    run.check(&finals);
    run.finish()
}

impl<'a> Run<'a> {
    fn new(config: &'a RunConfig, dir: &Path, started: Instant) -> Run<'a> {
        let ports = pick_ports(2 * config.nodes);
        let keys: Vec<String> = (0..config.keys).map(|k| format!("k{k}")).collect();
        let mut reported_keys = keys.clone();
        reported_keys.push(AFTER_HEAL_KEY.to_string());
        let specs: Vec<NodeSpec> = (0..config.nodes)
            .map(|index| NodeSpec {
                index,
                data_dir: dir.join(name(index)),
                raft_ports: ports[..config.nodes].to_vec(),
                client_ports: ports[config.nodes..].to_vec(),
                // Distinct per node (the cluster adds the boot number) and drawn from
                // the run's seed, so that a schedule replays (the default seeds each
                // node from the operating system).
                jitter_seed: config
                    .seed
                    .wrapping_mul(0x9E37_79B9)
                    .wrapping_add((index as u64 + 1) << 32),
                election_timeout_ms: config.election_timeout_ms,
                keys: reported_keys.clone(),
                durable: config.durable,
            })
            .collect();
        let members = members(&specs);
        let cluster = Cluster::new(specs, &dir.join("logs")).expect("log directory");
        let recorder = Recorder::create(&dir.join("history.jsonl"), started).expect("history file");
        let mut log = NemesisLog {
            lines: Vec::new(),
            file: File::create(dir.join("nemesis.log")).ok(),
            start: started,
        };
        log.note(format!(
            "raft ports {:?}, client ports {:?}",
            &ports[..config.nodes],
            &ports[config.nodes..]
        ));
        let schedule = schedule::draw(config.seed, config.cycles);
        Run {
            config,
            dir: dir.to_path_buf(),
            keys,
            members,
            observations: cluster.observations.clone(),
            cluster,
            recorder: Arc::new(recorder),
            processes: Arc::new(AtomicU64::new(0)),
            log,
            report: Report::new(config, schedule, dir.to_path_buf()),
        }
    }

    /// Starts every node and waits for them to be ready and to elect a leader.
    async fn boot(&mut self) {
        for index in 0..self.config.nodes {
            if let Err(error) = self.cluster.start(index) {
                self.observations.violation(error);
            }
        }
        for index in 0..self.config.nodes {
            let ready = self
                .cluster
                .wait_ready(index, self.config.liveness_bound)
                .await;
            if let Err(error) = ready {
                self.observations.violation(error);
            }
        }
        let deadline = Instant::now() + self.config.liveness_bound;
        while self.cluster.leader().is_none() && Instant::now() < deadline {
            watch(&mut self.cluster, Duration::from_millis(50)).await;
        }
        match self.cluster.leader() {
            Some(leader) => self
                .log
                .note(format!("{} leads; workload starts", name(leader))),
            None => self.observations.violation(format!(
                "liveness: no leader within {:?} of the first boot",
                self.config.liveness_bound
            )),
        }
    }

    fn client(&self) -> Client {
        Client::new(
            self.members.clone(),
            self.processes.clone(),
            self.recorder.clone(),
            self.observations.clone(),
        )
    }

    fn start_workload(&self, stop: &Arc<AtomicBool>) -> Vec<JoinHandle<()>> {
        (0..self.config.clients)
            .map(|id| {
                tokio::spawn(workload::run_client(
                    id,
                    self.config.seed,
                    self.keys.clone(),
                    self.config.think_ms,
                    self.client(),
                    stop.clone(),
                ))
            })
            .collect()
    }

    /// The kill/restart cycles of the schedule.
    async fn nemesis(&mut self) {
        let schedule = self.report.schedule.clone();
        for (n, cycle) in schedule.iter().enumerate() {
            watch(&mut self.cluster, cycle.up).await;
            let victims = choose(&self.cluster, cycle);
            if victims.is_empty() {
                self.log.note(format!("cycle {n}: no node is up to kill"));
                continue;
            }
            match cycle.target {
                Target::Majority => self.report.majority_kills += 1,
                Target::All => self.report.all_kills += 1,
                Target::Leader | Target::Follower => {}
            }
            for &(victim, why) in &victims {
                self.kill(n, victim, why).await;
            }
            watch(&mut self.cluster, cycle.down).await;
            for &(victim, _) in &victims {
                match self.cluster.start(victim) {
                    Ok(()) => self
                        .log
                        .note(format!("cycle {n}: restarted {}", name(victim))),
                    Err(error) => self.observations.violation(error),
                }
            }
        }
    }

    async fn kill(&mut self, cycle: usize, victim: usize, why: &str) {
        let Some(killed) = self.cluster.kill(victim).await else {
            return;
        };
        let role = if killed.during_startup {
            self.report.startup_kills += 1;
            "still recovering"
        } else if killed.was_leader {
            self.report.leader_kills += 1;
            "leader"
        } else {
            self.report.follower_kills += 1;
            "not leader"
        };
        self.log.note(format!(
            "cycle {cycle}: SIGKILL {} ({why}; it was {role}, term {})",
            name(victim),
            killed.term.map_or("?".into(), |t| t.to_string())
        ));
    }

    /// Every node up and ready, a moment of load on the whole cluster, then the
    /// workload stops.
    async fn heal(&mut self, stop: &AtomicBool, workers: Vec<JoinHandle<()>>) {
        for index in 0..self.config.nodes {
            if !self.cluster.is_up(index) {
                if let Err(error) = self.cluster.start(index) {
                    self.observations.violation(error);
                }
            }
        }
        for index in 0..self.config.nodes {
            let ready = self
                .cluster
                .wait_ready(index, self.config.liveness_bound)
                .await;
            if let Err(error) = ready {
                self.observations
                    .violation(format!("liveness after healing: {error}"));
            }
        }
        self.log.note("healed: every node is up".into());
        watch(&mut self.cluster, Duration::from_secs(1)).await;
        stop.store(true, Ordering::SeqCst);
        for worker in workers {
            if tokio::time::timeout(Duration::from_secs(30), worker)
                .await
                .is_err()
            {
                self.observations
                    .violation("a workload client did not stop within 30 s".into());
            }
        }
        self.log.note("workload stopped".into());
    }

    /// Reads every key, then writes once, each retried until it succeeds within the
    /// liveness bound. The values read (inner `None`: absent; a key never read is
    /// missing), and whether the write succeeded.
    async fn final_reads_and_write(&mut self) -> (BTreeMap<String, Option<String>>, bool) {
        let mut client = self.client();
        let healed = Instant::now();
        let mut finals = BTreeMap::new();
        let mut written = false;
        let commands = self
            .keys
            .iter()
            .map(|key| KvCommand::Get { key: key.clone() })
            .chain([KvCommand::Put {
                key: AFTER_HEAL_KEY.into(),
                value: Bytes::from_static(b"done"),
            }]);
        for command in commands {
            let key = command.key().to_string();
            let mut done = false;
            while !done && healed.elapsed() < self.config.liveness_bound {
                match client.operation(command.clone()).await {
                    Some(KvResponse::Value(value)) => {
                        finals.insert(key.clone(), value.as_ref().map(workload::text));
                        done = true;
                    }
                    Some(_) => {
                        written = true;
                        done = true;
                    }
                    None => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
            if !done {
                let what = if key == AFTER_HEAL_KEY {
                    "write"
                } else {
                    "read"
                };
                self.observations.violation(format!(
                    "liveness: no {what} of {key} succeeded within {:?} of healing",
                    self.config.liveness_bound
                ));
            }
        }
        self.log.note(format!(
            "final reads: {finals:?}; final write ok: {written}"
        ));
        (finals, written)
    }

    /// Waits until every node reports the same applied state with applied = commit,
    /// and the reported keys holding the `expected` values (`None`: not checked): what
    /// the final reads returned, and the final write.
    async fn converge(&mut self, expected: &[Option<Option<String>>]) {
        let since = Instant::now();
        let deadline = since + self.config.liveness_bound;
        let last = loop {
            self.cluster.check_health();
            let last = self.cluster.statuses();
            let samples: Vec<_> = last
                .iter()
                .filter_map(|s| s.as_ref().filter(|(at, _)| *at > since).map(|(_, s)| s))
                .collect();
            let agreed = samples.len() == self.cluster.len()
                && samples.iter().all(|s| {
                    let first = samples[0];
                    (s.applied, s.commit, s.applied_client, s.digest, &s.values)
                        == (
                            first.applied,
                            first.commit,
                            first.applied_client,
                            first.digest,
                            &first.values,
                        )
                        && s.applied == s.commit
                        && s.values.len() == expected.len()
                        && s.values
                            .iter()
                            .zip(expected)
                            .all(|(value, expected)| expected.as_ref().is_none_or(|e| e == value))
                });
            if agreed {
                let took = since.elapsed();
                self.report.converged = Some(took);
                self.log.note(format!(
                    "replicas identical {:.3} s after the final write",
                    took.as_secs_f64()
                ));
                return;
            }
            if Instant::now() >= deadline {
                break last;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let described: Vec<String> = last
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                // Role, term and log end too, and the sample's age: a replica that
                // stopped catching up must say whether it still hears a leader.
                Some((at, s)) => format!(
                    "{}: {} term {} last log {} applied {} commit {} (sampled {} ms ago) \
                     client entry {} digest {:016x} values {:?}",
                    name(i),
                    s.role,
                    s.term,
                    s.last_log,
                    s.applied,
                    s.commit,
                    at.elapsed().as_millis(),
                    s.applied_client,
                    s.digest,
                    s.values
                ),
                None => format!("{}: down", name(i)),
            })
            .collect();
        self.observations.violation(format!(
            "convergence: replicas not identical within {:?} of the final write \
             (expected values {expected:?}):\n  {}",
            self.config.liveness_bound,
            described.join("\n  ")
        ));
    }

    /// Lost writes and linearizability over the recorded history, and the facts the
    /// nodes reported.
    fn check(&mut self, finals: &BTreeMap<String, Option<String>>) {
        if let Err(error) = self.recorder.finish() {
            self.observations
                .violation(format!("cannot write the history: {error}"));
        }
        self.report.counts = self.recorder.counts();
        if self.report.counts.acknowledged_writes == 0 {
            self.observations
                .violation("no write was acknowledged: the run proves nothing".into());
        }
        let started = Instant::now();
        let history = std::fs::read_to_string(self.dir.join("history.jsonl"))
            .map_err(|e| e.to_string())
            .and_then(|text| parse(&text, Format::Jsonl).map_err(|e| e.to_string()));
        match history {
            Ok(history) => {
                self.report.lost = check::lost_acked_writes(&history, finals);
                let options = CheckOptions {
                    timeout: Some(self.config.check_timeout),
                    ..CheckOptions::default()
                };
                match analyze(ModelKind::Kv, &history, &options) {
                    Ok(analysis) => self.report.verdict = Some(analysis.report.verdict),
                    Err(error) => self
                        .observations
                        .violation(format!("the checker refused the history: {error}")),
                }
            }
            Err(error) => self
                .observations
                .violation(format!("cannot read the history back: {error}")),
        }
        self.report.check_seconds = started.elapsed().as_secs_f64();
        for violation in self.observations.election_safety_violations() {
            self.observations.violation(violation);
        }
        if let Some(violation) = self.observations.more_divergences() {
            self.observations.violation(violation);
        }
    }

    fn finish(self) -> Report {
        let mut report = self.report;
        report.leader_terms = lock(&self.observations.leaders).len();
        report.checkpoints = *lock(&self.observations.checkpoints_compared);
        report.boots_ready = self.cluster.boots_ready;
        report.slowest_ready = self.cluster.slowest_ready;
        report.violations = lock(&self.observations.violations).clone();
        report.log = self.log.lines;
        report
    }
}

/// The victims of `cycle`, each with how it was chosen.
fn choose(cluster: &Cluster, cycle: &Cycle) -> Vec<(usize, &'static str)> {
    let up: Vec<usize> = (0..cluster.len()).filter(|&i| cluster.is_up(i)).collect();
    if up.is_empty() {
        return Vec::new();
    }
    let leader = cluster.leader();
    let pick = |from: &[usize]| from[(cycle.pick % from.len() as u64) as usize];
    let followers: Vec<usize> = up.iter().copied().filter(|&i| Some(i) != leader).collect();
    let leader = match leader {
        Some(leader) => (leader, "the leader"),
        None => (pick(&up), "no leader known: any node"),
    };
    let follower = match followers.is_empty() {
        true => (pick(&up), "no follower up: any node"),
        false => (pick(&followers), "a follower"),
    };
    match cycle.target {
        Target::Leader => vec![leader],
        Target::Follower => vec![follower],
        Target::Majority => {
            let others: Vec<usize> = followers.into_iter().filter(|&i| i != leader.0).collect();
            let mut victims = vec![leader];
            if !others.is_empty() {
                victims.push((pick(&others), "a follower too"));
            }
            victims
        }
        Target::All => {
            let mut victims = vec![leader];
            victims.extend(
                up.into_iter()
                    .filter(|&i| i != leader.0)
                    .map(|i| (i, "every node")),
            );
            victims
        }
    }
}

/// Picks free ports below the kernel's ephemeral range, so no outgoing connection in
/// the meantime can take a port while its node is dead.
fn pick_ports(count: usize) -> Vec<u16> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u64, ephemeral_low.clamp(10_001, 65_535));
    let mut rng = rng::Rng::new(rng::entropy());
    let mut ports = Vec::new();
    while ports.len() < count {
        let port = rng.between(low, high) as u16;
        if !ports.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    ports
}

/// Each node's Raft id and client endpoint, for the clients.
fn members(specs: &[NodeSpec]) -> Vec<(PeerId, Endpoint)> {
    let spec = &specs[0];
    (0..specs.len())
        .map(|i| {
            let endpoint = Endpoint::new("127.0.0.1", spec.client_ports[i])
                .unwrap_or_else(|_| unreachable!("127.0.0.1 is a valid host"));
            (node::peer(&spec.raft_ports, i), endpoint)
        })
        .collect()
}

/// Sleeps while watching the processes for unexpected deaths.
async fn watch(cluster: &mut Cluster, duration: Duration) {
    let until = Instant::now() + duration;
    loop {
        cluster.check_health();
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left.min(Duration::from_millis(50))).await;
    }
}
