//! A three-node Concord cluster as three real OS processes on loopback, killed with
//! SIGKILL over and over while clients in the parent load it; then every check of the
//! chaos suite that applies to real processes. See `tests/process_kill9.rs` for the
//! knobs and `docs/verification.md` ("Real processes (kill -9)") for what it found.

pub mod check;
pub mod cluster;
pub mod node;
pub mod rng;
pub mod schedule;
pub mod wire;
pub mod workload;

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
use concord_linearizability::{analyze, parse, CheckOptions, Format, ModelKind, Verdict};

use cluster::{lock, name, Cluster};
use schedule::{Cycle, Target};
use wire::NodeSpec;
use workload::{Client, Counts, Recorder};

/// The key of the write that proves the healed cluster commits (apart from the
/// workload's keys, so their final reads stay the last word on them).
const AFTER_HEAL_KEY: &str = "after-heal";

/// What one run does.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Every random choice of the schedule and the workload derives from it.
    pub seed: u64,
    /// Kill/restart cycles.
    pub cycles: usize,
    /// Cluster size.
    pub nodes: usize,
    /// Concurrent workload clients.
    pub clients: usize,
    /// Keys the workload touches.
    pub keys: usize,
    /// Each client sleeps up to this long between operations.
    pub think_ms: u64,
    /// The nodes' base election timeout (and bound of the random extra delay).
    pub election_timeout_ms: u64,
    /// After healing: every node ready, every final read, the final write and replica
    /// convergence, each within this.
    pub liveness_bound: Duration,
    /// Past this the linearizability verdict is `unknown` (a failure).
    pub check_timeout: Duration,
    /// False for the teeth run only: nodes keep their log in memory (see
    /// `NodeSpec::durable`).
    pub durable: bool,
    /// Keep the temporary run directory when the run fails (the teeth run, which must
    /// fail, does not).
    pub keep_failures: bool,
    /// Keep the run's directory here (default: a temporary directory under the target
    /// directory, kept only if the run fails).
    pub out: Option<PathBuf>,
}

impl RunConfig {
    /// The defaults for `seed` and `cycles`.
    pub fn new(seed: u64, cycles: usize) -> RunConfig {
        RunConfig {
            seed,
            cycles,
            nodes: 3,
            clients: 4,
            keys: 5,
            think_ms: 30,
            election_timeout_ms: 300,
            liveness_bound: Duration::from_secs(30),
            check_timeout: Duration::from_secs(120 + 2 * cycles as u64),
            durable: true,
            keep_failures: true,
            out: None,
        }
    }

    /// From the environment: `CONCORD_KILL9_SEED` (default: fresh), `CONCORD_KILL9_CYCLES`
    /// (default 5, or 1,000 with `CONCORD_LONG_TESTS=1`), `CONCORD_KILL9_OUT`.
    pub fn from_env() -> Result<RunConfig, String> {
        let number = |name: &str| -> Result<Option<u64>, String> {
            match std::env::var(name) {
                Ok(text) => text
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}={text:?} is not a non-negative integer")),
                Err(_) => Ok(None),
            }
        };
        let long = std::env::var("CONCORD_LONG_TESTS").is_ok_and(|v| v == "1");
        let seed = number("CONCORD_KILL9_SEED")?.unwrap_or_else(rng::entropy);
        let cycles = number("CONCORD_KILL9_CYCLES")?.unwrap_or(if long { 1000 } else { 5 });
        let mut config = RunConfig::new(seed, cycles as usize);
        config.out = std::env::var_os("CONCORD_KILL9_OUT").map(PathBuf::from);
        Ok(config)
    }
}

/// What a run produced.
pub struct Report {
    pub config: RunConfig,
    pub schedule: Vec<Cycle>,
    /// What the nemesis did, with wall times.
    pub log: Vec<String>,
    pub counts: Counts,
    pub lost: Vec<String>,
    pub verdict: Option<Verdict>,
    pub check_seconds: f64,
    pub violations: Vec<String>,
    /// Processes killed while their status said they led.
    pub leader_kills: u64,
    /// Processes killed while they did not lead.
    pub follower_kills: u64,
    /// Cycles that killed two nodes at once.
    pub majority_kills: u64,
    /// Kills that landed before the victim reported ready (during log recovery).
    pub startup_kills: u64,
    /// Terms in which some node reported becoming leader.
    pub leader_terms: usize,
    pub checkpoints: u64,
    pub boots_ready: u64,
    pub slowest_ready: Duration,
    /// From the final write's acknowledgement to identical replicas.
    pub converged: Option<Duration>,
    pub wall: Duration,
    /// The run's directory: history, nemesis log, node logs and data.
    pub dir: PathBuf,
}

impl Report {
    /// Every check passed.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
            && self.lost.is_empty()
            && self.verdict == Some(Verdict::Linearizable)
    }

    /// The summary lines.
    pub fn summary(&self) -> String {
        let c = &self.config;
        let verdict = match self.verdict {
            Some(Verdict::Linearizable) => "linearizable",
            Some(Verdict::NotLinearizable) => "NOT LINEARIZABLE",
            Some(Verdict::Unknown) => "unknown (checker timed out)",
            None => "not checked",
        };
        let mut out = format!(
            "kill9: seed {seed} (replay the schedule: CONCORD_KILL9_SEED={seed} CONCORD_KILL9_CYCLES={cycles})\n\
             kill9: {cycles} SIGKILL cycles on {nodes} processes ({majority} killing two at once): \
             {leader} kills of the leader, {follower} of a follower, {startup} during recovery; \
             {terms} terms with a leader\n\
             kill9: {ops} operations by {clients} clients: {ok} ok, {fail} fail, {info} info; \
             {acked} acknowledged writes, {lost} lost\n\
             kill9: history {verdict} (checked in {check:.1} s); {checkpoints} replica checkpoints compared; \
             converged {converged} after the final write\n\
             kill9: {boots} boots reached ready (slowest {slowest:.2} s from spawn); wall {wall:.1} s",
            seed = c.seed,
            cycles = c.cycles,
            nodes = c.nodes,
            leader = self.leader_kills,
            follower = self.follower_kills,
            majority = self.majority_kills,
            startup = self.startup_kills,
            terms = self.leader_terms,
            ops = self.counts.ops,
            clients = c.clients,
            ok = self.counts.ok,
            fail = self.counts.fail,
            info = self.counts.info,
            acked = self.counts.acknowledged_writes,
            lost = self.lost.len(),
            check = self.check_seconds,
            checkpoints = self.checkpoints,
            converged = self
                .converged
                .map_or("never".to_string(), |d| format!("{:.2} s", d.as_secs_f64())),
            boots = self.boots_ready,
            slowest = self.slowest_ready.as_secs_f64(),
            wall = self.wall.as_secs_f64(),
        );
        for violation in &self.violations {
            out.push_str(&format!("\nkill9: VIOLATION {violation}"));
        }
        for lost in &self.lost {
            out.push_str(&format!("\nkill9: LOST {lost}"));
        }
        out
    }

    /// The schedule and what the nemesis did (the tail, for long runs).
    pub fn schedule_text(&self, limit: usize) -> String {
        let mut out = String::from("schedule (from the seed):\n");
        for (n, cycle) in self.schedule.iter().enumerate().take(limit) {
            out.push_str(&format!("  cycle {n:>4}: {cycle}\n"));
        }
        if self.schedule.len() > limit {
            out.push_str(&format!("  ... {} more\n", self.schedule.len() - limit));
        }
        out.push_str("what happened:\n");
        let skip = self.log.len().saturating_sub(limit);
        if skip > 0 {
            out.push_str(&format!("  ... {skip} earlier events in nemesis.log\n"));
        }
        for line in &self.log[skip..] {
            out.push_str(&format!("  {line}\n"));
        }
        out
    }
}

/// The nemesis's record: kept in memory for the report and written as it goes.
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

/// Runs one configuration. The directory is kept when the run fails (or when
/// `config.out` names it).
pub fn run(config: &RunConfig) -> Report {
    let started = Instant::now();
    let (dir, temporary) = match &config.out {
        Some(out) => {
            let dir = out.join(format!("seed-{}", config.seed));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create the output directory");
            (dir, None)
        }
        None => {
            let parent = Path::new(env!("CARGO_TARGET_TMPDIR"));
            std::fs::create_dir_all(parent).expect("create the target tmp directory");
            let temporary = tempfile::Builder::new()
                .prefix(&format!("kill9-seed-{}-", config.seed))
                .tempdir_in(parent)
                .expect("create the run directory");
            (temporary.path().to_path_buf(), Some(temporary))
        }
    };
    eprintln!(
        "kill9: seed {} cycles {} in {}",
        config.seed,
        config.cycles,
        dir.display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut report = runtime.block_on(run_cluster(config, &dir, started));
    report.wall = started.elapsed();
    if let Some(temporary) = temporary {
        if report.passed() || !config.keep_failures {
            drop(temporary);
        } else {
            let _ = temporary.keep();
        }
    }
    if dir.exists() {
        let text = format!(
            "{}\n\n{}",
            report.summary(),
            report.schedule_text(usize::MAX)
        );
        let _ = std::fs::write(dir.join("report.txt"), text);
    }
    report
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
    }
}

async fn run_cluster(config: &RunConfig, dir: &Path, started: Instant) -> Report {
    let schedule = schedule::draw(config.seed, config.cycles);
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
            // Distinct per node (the cluster adds the boot number): the default seed
            // is the same on every node.
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
    let mut cluster = Cluster::new(specs, &dir.join("logs")).expect("log directory");
    let mut log = NemesisLog {
        lines: Vec::new(),
        file: File::create(dir.join("nemesis.log")).ok(),
        start: started,
    };
    let recorder =
        Arc::new(Recorder::create(&dir.join("history.jsonl"), started).expect("history file"));
    let observations = cluster.observations.clone();
    let mut report = Report {
        config: config.clone(),
        schedule: schedule.clone(),
        log: Vec::new(),
        counts: Counts::default(),
        lost: Vec::new(),
        verdict: None,
        check_seconds: 0.0,
        violations: Vec::new(),
        leader_kills: 0,
        follower_kills: 0,
        majority_kills: 0,
        startup_kills: 0,
        leader_terms: 0,
        checkpoints: 0,
        boots_ready: 0,
        slowest_ready: Duration::ZERO,
        converged: None,
        wall: Duration::ZERO,
        dir: dir.to_path_buf(),
    };

    // Boot.
    for index in 0..config.nodes {
        if let Err(error) = cluster.start(index) {
            observations.violation(error);
        }
    }
    log.note(format!(
        "started {} nodes (raft ports {:?}, client ports {:?})",
        config.nodes,
        &ports[..config.nodes],
        &ports[config.nodes..]
    ));
    for index in 0..config.nodes {
        if let Err(error) = cluster.wait_ready(index, config.liveness_bound).await {
            observations.violation(error);
        }
    }
    let elected = Instant::now() + config.liveness_bound;
    while cluster.leader().is_none() && Instant::now() < elected {
        watch(&mut cluster, Duration::from_millis(50)).await;
    }
    match cluster.leader() {
        Some(leader) => log.note(format!("{} leads; workload starts", name(leader))),
        None => observations.violation(format!(
            "liveness: no leader within {:?} of the first boot",
            config.liveness_bound
        )),
    }

    // Workload.
    let processes = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..config.clients)
        .map(|id| {
            let client = Client::new(
                members.clone(),
                processes.clone(),
                recorder.clone(),
                observations.clone(),
            );
            tokio::spawn(workload::run_client(
                id,
                config.seed,
                keys.clone(),
                config.think_ms,
                client,
                stop.clone(),
            ))
        })
        .collect();

    // Nemesis.
    for (n, cycle) in schedule.iter().enumerate() {
        watch(&mut cluster, cycle.up).await;
        let victims = choose(&cluster, cycle);
        if victims.is_empty() {
            log.note(format!("cycle {n}: no node is up to kill"));
            continue;
        }
        if victims.len() > 1 {
            report.majority_kills += 1;
        }
        for &(victim, why) in &victims {
            let Some(killed) = cluster.kill(victim).await else {
                continue;
            };
            let role = if killed.during_startup {
                report.startup_kills += 1;
                "still recovering"
            } else if killed.was_leader {
                report.leader_kills += 1;
                "leader"
            } else {
                report.follower_kills += 1;
                "not leader"
            };
            log.note(format!(
                "cycle {n}: SIGKILL {} ({why}; it was {role}, term {})",
                name(victim),
                killed.term.map_or("?".into(), |t| t.to_string())
            ));
        }
        watch(&mut cluster, cycle.down).await;
        for &(victim, _) in &victims {
            match cluster.start(victim) {
                Ok(()) => log.note(format!("cycle {n}: restarted {}", name(victim))),
                Err(error) => observations.violation(error),
            }
        }
    }

    // Heal: every node up and ready, a moment of load on the whole cluster, then stop.
    for index in 0..config.nodes {
        if !cluster.is_up(index) {
            if let Err(error) = cluster.start(index) {
                observations.violation(error);
            }
        }
    }
    for index in 0..config.nodes {
        if let Err(error) = cluster.wait_ready(index, config.liveness_bound).await {
            observations.violation(format!("liveness after healing: {error}"));
        }
    }
    log.note("healed: every node is up".into());
    watch(&mut cluster, Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        if tokio::time::timeout(Duration::from_secs(30), worker)
            .await
            .is_err()
        {
            observations.violation("a workload client did not stop within 30 s".into());
        }
    }
    log.note("workload stopped".into());

    // Final reads and a final write.
    let (final_values, written) = final_phase(
        config,
        &keys,
        Client::new(
            members.clone(),
            processes.clone(),
            recorder.clone(),
            observations.clone(),
        ),
        &mut log,
    )
    .await;
    let final_write = Instant::now();
    let mut expected: Vec<Option<Option<String>>> = keys
        .iter()
        .map(|key| final_values.get(key).cloned())
        .collect();
    expected.push(written.then(|| Some("done".to_string())));
    report.converged = converge(config, &mut cluster, &expected, final_write).await;
    log.note(match report.converged {
        Some(took) => format!(
            "replicas identical {:.3} s after the final write",
            took.as_secs_f64()
        ),
        None => "replicas did not converge".into(),
    });
    cluster.kill_all().await;

    // Checks.
    if let Err(error) = recorder.finish() {
        observations.violation(format!("cannot write the history: {error}"));
    }
    report.counts = recorder.counts();
    if report.counts.acknowledged_writes == 0 {
        observations.violation("no write was acknowledged: the run proves nothing".into());
    }
    let check_started = Instant::now();
    match std::fs::read_to_string(dir.join("history.jsonl"))
        .map_err(|e| e.to_string())
        .and_then(|text| parse(&text, Format::Jsonl).map_err(|e| e.to_string()))
    {
        Ok(history) => {
            report.lost = check::lost_acked_writes(&history, &final_values);
            let options = CheckOptions {
                timeout: Some(config.check_timeout),
                ..CheckOptions::default()
            };
            match analyze(ModelKind::Kv, &history, &options) {
                Ok(analysis) => report.verdict = Some(analysis.report.verdict),
                Err(error) => {
                    observations.violation(format!("the checker refused the history: {error}"))
                }
            }
        }
        Err(error) => observations.violation(format!("cannot read the history back: {error}")),
    }
    report.check_seconds = check_started.elapsed().as_secs_f64();
    for violation in observations.election_safety_violations() {
        observations.violation(violation);
    }
    if let Some(violation) = observations.more_divergences() {
        observations.violation(violation);
    }
    report.leader_terms = lock(&observations.leaders).len();
    report.checkpoints = *lock(&observations.checkpoints_compared);
    report.boots_ready = cluster.boots_ready;
    report.slowest_ready = cluster.slowest_ready;
    report.violations = lock(&observations.violations).clone();
    report.log = log.lines;
    report
}

/// Reads every key, then writes once, each retried until it succeeds within the
/// liveness bound. The values read (inner `None`: absent; a key never read is
/// missing), and whether the write succeeded.
async fn final_phase(
    config: &RunConfig,
    keys: &[String],
    mut client: Client,
    log: &mut NemesisLog,
) -> (BTreeMap<String, Option<String>>, bool) {
    let healed = Instant::now();
    let mut finals = BTreeMap::new();
    let mut written = false;
    let commands = keys
        .iter()
        .map(|key| KvCommand::Get { key: key.clone() })
        .chain([KvCommand::Put {
            key: AFTER_HEAL_KEY.into(),
            value: Bytes::from_static(b"done"),
        }]);
    for command in commands {
        let key = command.key().to_string();
        let mut done = false;
        while !done && healed.elapsed() < config.liveness_bound {
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
            client.violation(format!(
                "liveness: no {} of {key} succeeded within {:?} of healing",
                if key == AFTER_HEAL_KEY {
                    "write"
                } else {
                    "read"
                },
                config.liveness_bound
            ));
        }
    }
    log.note(format!(
        "final reads: {finals:?}; final write ok: {written}"
    ));
    (finals, written)
}

/// Waits until every node reports the same applied state with applied = commit, and
/// the reported keys holding the `expected` values (`None`: not checked): what the
/// final reads returned, and the final write.
async fn converge(
    config: &RunConfig,
    cluster: &mut Cluster,
    expected: &[Option<Option<String>>],
    since: Instant,
) -> Option<Duration> {
    let deadline = since + config.liveness_bound;
    let last = loop {
        cluster.check_health();
        let last = cluster.statuses();
        let samples: Vec<_> = last
            .iter()
            .filter_map(|s| s.as_ref().filter(|(at, _)| *at > since).map(|(_, s)| s))
            .collect();
        let agreed = samples.len() == cluster.len()
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
            return Some(since.elapsed());
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
            Some((_, s)) => format!(
                "{}: applied {} commit {} client entry {} digest {:016x} values {:?}",
                name(i),
                s.applied,
                s.commit,
                s.applied_client,
                s.digest,
                s.values
            ),
            None => format!("{}: down", name(i)),
        })
        .collect();
    cluster.observations.violation(format!(
        "convergence: replicas not identical within {:?} of the final write (expected values {expected:?}):\n  {}",
        config.liveness_bound,
        described.join("\n  ")
    ));
    None
}
