//! A three-node Concord cluster as three real OS processes on loopback, killed with
//! SIGKILL over and over while clients in the parent load it; then every check of the
//! chaos suite that applies to real processes. See `tests/process_kill9.rs` for the
//! knobs and `docs/verification.md` ("Real processes (kill -9)") for what it found.

pub mod check;
pub mod cluster;
pub mod node;
pub mod report;
pub mod rng;
pub mod run;
pub mod schedule;
pub mod wire;
pub mod workload;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use report::Report;

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
    let mut report = runtime.block_on(run::run_cluster(config, &dir, started));
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
