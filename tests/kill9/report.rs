//! What a run found, and how it prints.

use std::path::PathBuf;
use std::time::Duration;

use concord_linearizability::Verdict;

use super::schedule::Cycle;
use super::workload::Counts;
use super::RunConfig;

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
    /// Cycles that killed a majority (two nodes) at once.
    pub majority_kills: u64,
    /// Cycles that killed every node at once.
    pub all_kills: u64,
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
    /// An empty report of a run about to start.
    pub fn new(config: &RunConfig, schedule: Vec<Cycle>, dir: PathBuf) -> Report {
        Report {
            config: config.clone(),
            schedule,
            log: Vec::new(),
            counts: Counts::default(),
            lost: Vec::new(),
            verdict: None,
            check_seconds: 0.0,
            violations: Vec::new(),
            leader_kills: 0,
            follower_kills: 0,
            majority_kills: 0,
            all_kills: 0,
            startup_kills: 0,
            leader_terms: 0,
            checkpoints: 0,
            boots_ready: 0,
            slowest_ready: Duration::ZERO,
            converged: None,
            wall: Duration::ZERO,
            dir,
        }
    }

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
             kill9: {cycles} SIGKILL cycles on {nodes} processes ({majority} killing a majority, {all} all of them): \
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
            all = self.all_kills,
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
