//! The parent's view of the node processes: start one (re-executing this test binary in
//! node mode), SIGKILL one, read what they report, and notice a process that dies on
//! its own.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::wire::{NodeEvent, NodeSample, NodeSpec, NODE_ENV};

pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one boot of a node has reported.
#[derive(Debug, Default)]
struct BootView {
    ready: Option<Instant>,
    status: Option<(Instant, NodeSample)>,
    /// Its failure was already reported as a violation.
    failure_reported: bool,
}

/// Facts gathered from every node over the whole run.
#[derive(Debug, Default)]
pub struct Observations {
    /// term → the nodes that reported becoming its leader.
    pub leaders: Mutex<BTreeMap<u64, BTreeSet<usize>>>,
    /// checkpoint slot → (index, digest, first node and boot that reported it).
    checkpoints: Mutex<BTreeMap<u64, (u64, u64, usize, u64)>>,
    /// Checkpoints that differed: a divergence shows at every later checkpoint and on
    /// every replay, so only the first few are spelled out.
    pub checkpoints_differing: Mutex<u64>,
    /// Checkpoints reported (all nodes, all boots).
    pub checkpoints_compared: Mutex<u64>,
    /// Safety and liveness violations found so far.
    pub violations: Mutex<Vec<String>>,
}

impl Observations {
    pub fn violation(&self, text: String) {
        eprintln!("kill9: VIOLATION {text}");
        lock(&self.violations).push(text);
    }

    /// Terms that more than one node led.
    pub fn election_safety_violations(&self) -> Vec<String> {
        lock(&self.leaders)
            .iter()
            .filter(|(_, nodes)| nodes.len() > 1)
            .map(|(term, nodes)| {
                let names: Vec<String> = nodes.iter().map(|n| name(*n)).collect();
                format!("election safety: {} all led term {term}", names.join(", "))
            })
            .collect()
    }

    fn checkpoint(&self, node: usize, boot: u64, slot: u64, index: u64, digest: u64) {
        *lock(&self.checkpoints_compared) += 1;
        let mismatch = {
            let mut checkpoints = lock(&self.checkpoints);
            match checkpoints.get(&slot) {
                None => {
                    checkpoints.insert(slot, (index, digest, node, boot));
                    None
                }
                Some(&(i, d, first, first_boot)) if (i, d) != (index, digest) => {
                    Some((i, d, first, first_boot))
                }
                Some(_) => None,
            }
        };
        let Some((i, d, first, first_boot)) = mismatch else {
            return;
        };
        let differing = {
            let mut differing = lock(&self.checkpoints_differing);
            *differing += 1;
            *differing
        };
        if differing <= SPELLED_OUT_DIVERGENCES {
            self.violation(format!(
                "state machine safety: at checkpoint {slot} {} (boot {first_boot}) applied \
                 through index {i} (digest {d:016x}) but {} (boot {boot}) through index \
                 {index} (digest {digest:016x})",
                name(first),
                name(node)
            ));
        }
    }

    /// The divergences not spelled out, as one violation.
    pub fn more_divergences(&self) -> Option<String> {
        let differing = *lock(&self.checkpoints_differing);
        (differing > SPELLED_OUT_DIVERGENCES).then(|| {
            format!(
                "state machine safety: {} more checkpoints differed",
                differing - SPELLED_OUT_DIVERGENCES
            )
        })
    }
}

/// How many differing checkpoints are reported one by one.
const SPELLED_OUT_DIVERGENCES: u64 = 5;

/// `n1`, `n2`, ...
pub fn name(index: usize) -> String {
    format!("n{}", index + 1)
}

struct Slot {
    child: Option<Child>,
    boot: u64,
    spawned: Instant,
    view: Arc<Mutex<BootView>>,
}

/// How a kill found its victim.
#[derive(Clone, Debug)]
pub struct Killed {
    /// Its last status said it led (sampled within the last status interval or two).
    pub was_leader: bool,
    /// It had not reported ready yet (killed during recovery).
    pub during_startup: bool,
    /// Its last reported term.
    pub term: Option<u64>,
}

/// The node processes of one run.
pub struct Cluster {
    pub specs: Vec<NodeSpec>,
    logs: PathBuf,
    slots: Vec<Slot>,
    pub observations: Arc<Observations>,
    /// Boots that reported ready before they were killed, and the slowest time from
    /// spawn to ready among them.
    pub boots_ready: u64,
    pub slowest_ready: Duration,
}

impl Cluster {
    /// A cluster of `specs.len()` nodes, none running yet; node stderr goes to `logs`.
    pub fn new(specs: Vec<NodeSpec>, logs: &Path) -> std::io::Result<Cluster> {
        std::fs::create_dir_all(logs)?;
        let slots = specs
            .iter()
            .map(|_| Slot {
                child: None,
                boot: 0,
                spawned: Instant::now(),
                view: Arc::default(),
            })
            .collect();
        Ok(Cluster {
            specs,
            logs: logs.to_path_buf(),
            slots,
            observations: Arc::default(),
            boots_ready: 0,
            slowest_ready: Duration::ZERO,
        })
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_up(&self, index: usize) -> bool {
        self.slots[index].child.is_some()
    }

    /// Starts node `index` (a fresh process on its data directory).
    pub fn start(&mut self, index: usize) -> Result<(), String> {
        assert!(
            self.slots[index].child.is_none(),
            "{} is running",
            name(index)
        );
        let slot = &mut self.slots[index];
        slot.boot += 1;
        let mut spec = self.specs[index].clone();
        spec.jitter_seed = spec.jitter_seed.wrapping_add(slot.boot);
        let stderr_path = self.logs.join(format!("{}.stderr", name(index)));
        let mut stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .map_err(|e| format!("{}: {e}", stderr_path.display()))?;
        let _ = writeln!(stderr, "=== boot {} ===", slot.boot);
        let executable = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(executable)
            .args([
                "--exact",
                "kill9_node_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(
                NODE_ENV,
                serde_json::to_string(&spec).map_err(|e| e.to_string())?,
            )
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot spawn {}: {e}", name(index)))?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let view: Arc<Mutex<BootView>> = Arc::default();
        tokio::spawn(read_events(
            index,
            slot.boot,
            stdout,
            view.clone(),
            self.observations.clone(),
        ));
        slot.child = Some(child);
        slot.spawned = Instant::now();
        slot.view = view;
        Ok(())
    }

    /// SIGKILLs node `index` and reaps it; `None` if it was not running.
    pub async fn kill(&mut self, index: usize) -> Option<Killed> {
        let slot = &mut self.slots[index];
        let mut child = slot.child.take()?;
        let (was_leader, term, ready) = {
            let view = lock(&slot.view);
            let fresh = view
                .status
                .as_ref()
                .filter(|(at, _)| at.elapsed() < Duration::from_millis(300));
            (
                fresh.is_some_and(|(_, s)| s.role == "Leader"),
                view.status.as_ref().map(|(_, s)| s.term),
                view.ready
                    .map(|ready| ready.saturating_duration_since(slot.spawned)),
            )
        };
        let _ = child.start_kill();
        let _ = child.wait().await;
        if let Some(took) = ready {
            self.boots_ready += 1;
            self.slowest_ready = self.slowest_ready.max(took);
        }
        Some(Killed {
            was_leader,
            during_startup: ready.is_none(),
            term,
        })
    }

    /// The node whose fresh status says it leads the highest term.
    pub fn leader(&self) -> Option<usize> {
        (0..self.len())
            .filter(|&i| self.is_up(i))
            .filter_map(|i| {
                let view = lock(&self.slots[i].view);
                view.status
                    .as_ref()
                    .filter(|(at, s)| {
                        at.elapsed() < Duration::from_millis(300) && s.role == "Leader"
                    })
                    .map(|(_, s)| (s.term, i))
            })
            .max()
            .map(|(_, i)| i)
    }

    /// The latest status of each running node, with when it arrived.
    pub fn statuses(&self) -> Vec<Option<(Instant, NodeSample)>> {
        self.slots
            .iter()
            .map(|slot| {
                slot.child.as_ref()?;
                lock(&slot.view).status.clone()
            })
            .collect()
    }

    /// Reports processes that exited without being killed (a panic, a failed restart)
    /// and nodes that report an error state, once each.
    pub fn check_health(&mut self) {
        for index in 0..self.slots.len() {
            let slot = &mut self.slots[index];
            let exited = match slot.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => Some(status.to_string()),
                Some(Err(error)) => Some(error.to_string()),
                _ => None,
            };
            if let Some(status) = exited {
                slot.child = None;
                let tail = stderr_tail(&self.logs.join(format!("{}.stderr", name(index))));
                self.observations.violation(format!(
                    "{} (boot {}) exited on its own ({status}); stderr ends:\n{tail}",
                    name(index),
                    slot.boot
                ));
                continue;
            }
            let mut view = lock(&slot.view);
            let failure = view.status.as_ref().and_then(|(_, s)| s.failure.clone());
            if let (Some(failure), false) = (failure, view.failure_reported) {
                view.failure_reported = true;
                drop(view);
                self.observations.violation(format!(
                    "{} (boot {}) is in its error state: {failure}",
                    name(index),
                    slot.boot
                ));
            }
        }
    }

    /// Waits until node `index` reports ready; the time from its spawn.
    pub async fn wait_ready(&mut self, index: usize, bound: Duration) -> Result<Duration, String> {
        let deadline = Instant::now() + bound;
        loop {
            self.check_health();
            let slot = &self.slots[index];
            if slot.child.is_none() {
                return Err(format!("{} is not running", name(index)));
            }
            if let Some(ready) = lock(&slot.view).ready {
                let took = ready.saturating_duration_since(slot.spawned);
                return Ok(took);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} (boot {}) did not report ready within {bound:?}",
                    name(index),
                    slot.boot
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILLs every node.
    pub async fn kill_all(&mut self) {
        for index in 0..self.len() {
            self.kill(index).await;
        }
    }
}

fn stderr_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Reads one boot's events until its stdout closes (the process died).
async fn read_events(
    index: usize,
    boot: u64,
    stdout: tokio::process::ChildStdout,
    view: Arc<Mutex<BootView>>,
    observations: Arc<Observations>,
) {
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Some(event) = NodeEvent::parse(&line) else {
            continue;
        };
        match event {
            NodeEvent::Ready { .. } => lock(&view).ready = Some(Instant::now()),
            NodeEvent::Status(sample) => lock(&view).status = Some((Instant::now(), sample)),
            NodeEvent::Leader { term } => {
                lock(&observations.leaders)
                    .entry(term)
                    .or_default()
                    .insert(index);
            }
            NodeEvent::Checkpoint {
                slot,
                index: at,
                digest,
            } => observations.checkpoint(index, boot, slot, at, digest),
            NodeEvent::Fatal { reason } => {
                observations.violation(format!("{} could not start: {reason}", name(index)))
            }
        }
    }
}
