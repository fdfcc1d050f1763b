//! `concord-model`: check, simulate or explore the stateright model of Concord.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use concord_model::{
    check, profiles, simulate, ModelConfig, NetworkKind, PersistMode, SearchOptions,
};
use stateright::Model;

#[derive(Parser)]
#[command(
    name = "concord-model",
    about = "Model-check Concord's Raft core with stateright"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Exhaustive search within the bounds; exit 1 unless every property holds or is
    /// found. Without `--profile` or model flags: every profile of the matrix, in turn.
    Check {
        #[command(flatten)]
        model: ModelArgs,
        /// Checker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Breadth-first search (shortest counterexamples; more memory; no symmetry).
        #[arg(long)]
        bfs: bool,
        /// Depth-first without symmetry reduction and dead-message pruning.
        #[arg(long)]
        no_symmetry: bool,
        /// Stop each configuration at its first violated property.
        #[arg(long)]
        first: bool,
        /// Stop each configuration after this many seconds (the result is then incomplete).
        #[arg(long)]
        timeout: Option<u64>,
        /// Print one JSON object on the last line.
        #[arg(long)]
        json: bool,
    },
    /// Random walks from the initial state (default profile: `deep`).
    Simulate {
        #[command(flatten)]
        model: ModelArgs,
        /// Random seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Maximum steps per walk.
        #[arg(long, default_value_t = 200)]
        steps: usize,
        /// Number of walks (approximately: the run stops after steps × runs states).
        #[arg(long, default_value_t = 100)]
        runs: usize,
        /// Checker threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Print one JSON object on the last line.
        #[arg(long)]
        json: bool,
    },
    /// Serve stateright's Explorer web UI on localhost.
    Explore {
        #[command(flatten)]
        model: ModelArgs,
        /// Port to listen on.
        #[arg(long, default_value_t = 3000)]
        port: u16,
    },
    /// List the profiles and their bounds.
    Profiles,
}

#[derive(Clone, Copy, ValueEnum)]
enum NetworkArg {
    Unordered,
    Duplicating,
}

#[derive(Clone, Copy, ValueEnum)]
enum PersistArg {
    Whole,
    Each,
    Immediate,
}

/// A profile, and flags that override its bounds.
#[derive(Args)]
struct ModelArgs {
    /// A configuration of the matrix (`concord-model profiles` lists them), or `deep`.
    #[arg(long)]
    profile: Option<String>,
    /// Number of servers (1 to 5).
    #[arg(long)]
    servers: Option<usize>,
    /// Number of clients (0 to 2).
    #[arg(long)]
    clients: Option<usize>,
    /// Operations per client (writes and reads alternate).
    #[arg(long)]
    ops: Option<usize>,
    /// Bound: highest term explored.
    #[arg(long)]
    max_term: Option<u64>,
    /// Bound: longest log explored.
    #[arg(long)]
    max_log: Option<u64>,
    /// Bound: most writes queued for persistence on one server.
    #[arg(long)]
    max_pending: Option<usize>,
    /// Bound: most copies of one message in flight.
    #[arg(long)]
    max_copies: Option<usize>,
    /// Bound: most messages in flight in total.
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// Crash budget: total crashes in a run.
    #[arg(long)]
    crashes: Option<usize>,
    /// Bound: elections started (non-leader election-timer firings), all servers.
    #[arg(long)]
    max_elections: Option<u8>,
    /// Bound: check-quorum runs (leader election-timer firings), all servers.
    #[arg(long)]
    max_quorum_checks: Option<u8>,
    /// Bound: heartbeat-timer firings, all servers.
    #[arg(long)]
    max_heartbeats: Option<u8>,
    /// Snapshot budget: snapshot requests in a run, all servers.
    #[arg(long)]
    snapshots: Option<u8>,
    /// The leader lease of lease reads, in clock ticks (0: no lease reads). Meaningful
    /// with a clock (`--profile lease`, whose safe lease is 1: above it the check must
    /// find a stale read).
    #[arg(long)]
    read_lease: Option<u64>,
    /// Run the core with pre-vote.
    #[arg(long)]
    pre_vote: bool,
    /// Run the core without pre-vote.
    #[arg(long, conflicts_with = "pre_vote")]
    no_pre_vote: bool,
    /// Run the core without check-quorum.
    #[arg(long)]
    no_check_quorum: bool,
    /// Network semantics.
    #[arg(long, value_enum)]
    network: Option<NetworkArg>,
    /// Let the network drop messages.
    #[arg(long)]
    lossy: bool,
    /// How much one persistence event makes durable (`immediate`: an instant disk, for
    /// configurations without crashes).
    #[arg(long, value_enum)]
    persist: Option<PersistArg>,
}

impl ModelArgs {
    /// True when no flag overrides anything (a bare `check` runs the whole matrix).
    fn is_bare(&self) -> bool {
        self.profile.is_none()
            && self.servers.is_none()
            && self.clients.is_none()
            && self.ops.is_none()
            && self.max_term.is_none()
            && self.max_log.is_none()
            && self.max_pending.is_none()
            && self.max_copies.is_none()
            && self.max_in_flight.is_none()
            && self.crashes.is_none()
            && self.max_elections.is_none()
            && self.max_quorum_checks.is_none()
            && self.max_heartbeats.is_none()
            && self.snapshots.is_none()
            && self.read_lease.is_none()
            && !self.pre_vote
            && !self.no_pre_vote
            && !self.no_check_quorum
            && self.network.is_none()
            && !self.lossy
            && self.persist.is_none()
    }

    /// The profile (`default_profile` when none is named; `None` means the original
    /// single default configuration) with the flags applied.
    fn config(&self, default_profile: Option<&str>) -> Result<(String, ModelConfig), String> {
        let name = self.profile.as_deref().or(default_profile);
        let (label, mut cfg) = match name {
            Some(name) => {
                let profile = profiles::by_name(name).ok_or_else(|| {
                    let names: Vec<&str> = profiles::MATRIX
                        .iter()
                        .chain(profiles::EXTRA.iter())
                        .map(|p| p.name)
                        .collect();
                    format!(
                        "unknown profile {name:?} (expected one of {})",
                        names.join(", ")
                    )
                })?;
                (profile.name.to_string(), (profile.config)())
            }
            None => ("custom".to_string(), ModelConfig::default()),
        };
        macro_rules! set {
            ($field:ident, $value:expr) => {
                if let Some(value) = $value {
                    cfg.$field = value;
                }
            };
        }
        set!(servers, self.servers);
        set!(clients, self.clients);
        set!(ops_per_client, self.ops);
        set!(max_term, self.max_term);
        set!(max_log, self.max_log);
        set!(max_pending, self.max_pending);
        set!(max_copies, self.max_copies.map(|c| c.max(1)));
        set!(max_in_flight, self.max_in_flight);
        set!(crashes, self.crashes);
        set!(max_elections, self.max_elections);
        set!(max_quorum_checks, self.max_quorum_checks);
        set!(max_heartbeats, self.max_heartbeats);
        set!(snapshots, self.snapshots);
        if let Some(lease) = self.read_lease {
            if lease > 0 && cfg.clock.is_none() {
                return Err(format!(
                    "--read-lease needs a profile with a clock (lease, lease-partition); {label} has none"
                ));
            }
            cfg.options.read_lease = lease;
        }
        if self.pre_vote {
            cfg.options.pre_vote = true;
        }
        if self.no_pre_vote {
            cfg.options.pre_vote = false;
        }
        if self.no_check_quorum {
            cfg.options.check_quorum = false;
        }
        if let Some(network) = self.network {
            cfg.network = match network {
                NetworkArg::Unordered => NetworkKind::Unordered,
                NetworkArg::Duplicating => NetworkKind::Duplicating,
            };
        }
        if self.lossy {
            cfg.lossy = true;
        }
        if let Some(persist) = self.persist {
            cfg.persist_mode = match persist {
                PersistArg::Whole => PersistMode::Whole,
                PersistArg::Each => PersistMode::Each,
                PersistArg::Immediate => PersistMode::Immediate,
            };
        }
        if !(1..=5).contains(&cfg.servers) {
            return Err("--servers must be 1 to 5".into());
        }
        if cfg.clients > 2 {
            return Err("--clients must be 0 to 2".into());
        }
        if cfg.persist_mode == PersistMode::Immediate && cfg.crashes > 0 {
            return Err("--persist immediate leaves no window for a crash: use --crashes 0".into());
        }
        Ok((label, cfg))
    }
}

/// The configurations a `check` runs: the whole matrix for a bare `check`, else one.
fn check_configs(model: &ModelArgs) -> Result<Vec<(String, ModelConfig)>, String> {
    if model.is_bare() {
        return Ok(profiles::MATRIX
            .iter()
            .map(|p| (p.name.to_string(), (p.config)()))
            .collect());
    }
    Ok(vec![model.config(None)?])
}

fn run_check(configs: Vec<(String, ModelConfig)>, options: &SearchOptions, json: bool) -> bool {
    let mut all_passed = true;
    let mut summaries = serde_json::Map::new();
    for (name, cfg) in configs {
        println!("== {name}");
        let outcome = check(cfg, options);
        print!("{}", outcome.render());
        let passed = outcome.passed() && outcome.complete;
        all_passed &= passed;
        let summary: serde_json::Value =
            serde_json::from_str(&outcome.to_json()).unwrap_or_default();
        summaries.insert(name, summary);
    }
    if json {
        println!(
            "{}",
            serde_json::json!({ "passed": all_passed, "profiles": summaries })
        );
    }
    all_passed
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check {
            model,
            threads,
            bfs,
            no_symmetry,
            first,
            timeout,
            json,
        } => check_configs(&model).map(|configs| {
            let options = SearchOptions {
                threads,
                timeout: timeout.map(Duration::from_secs),
                stop_at_first_violation: first,
                breadth_first: bfs,
                symmetry: !no_symmetry,
            };
            run_check(configs, &options, json)
        }),
        Command::Simulate {
            model,
            seed,
            steps,
            runs,
            threads,
            json,
        } => model.config(Some("deep")).map(|(_, cfg)| {
            let outcome = simulate(cfg, seed, steps, runs, threads);
            print!("{}", outcome.render());
            println!("reproduce with --seed {seed} --steps {steps} --runs {runs}");
            if json {
                println!("{}", outcome.to_json());
            }
            // Sometimes properties need not be reached by random walks.
            outcome.counterexamples.is_empty()
        }),
        Command::Explore { model, port } => model.config(None).map(|(_, cfg)| {
            let address = format!("localhost:{port}");
            println!("Explorer on http://{address}");
            let _checker = cfg.into_model().checker().serve(address);
            true
        }),
        Command::Profiles => {
            println!("The matrix (a bare `check` runs all of them):");
            for profile in profiles::MATRIX {
                println!("  {:<24} {}", profile.name, profile.summary);
            }
            println!("Other profiles:");
            for profile in profiles::EXTRA {
                println!("  {:<24} {}", profile.name, profile.summary);
            }
            Ok(true)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
