//! `concord-model`: check, simulate or explore the stateright model of Concord.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use concord_model::{check, simulate, ModelConfig, NetworkKind, PersistMode, SearchOptions};
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
    /// Exhaustive search within the bounds; exit 1 unless every property holds or is found.
    Check {
        #[command(flatten)]
        model: ModelArgs,
        /// Checker threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Breadth-first search (shortest counterexamples; more memory).
        #[arg(long)]
        bfs: bool,
        /// Depth-first without symmetry reduction and dead-message pruning.
        #[arg(long)]
        no_symmetry: bool,
        /// Stop after this many seconds (the result is then incomplete).
        #[arg(long)]
        timeout: Option<u64>,
        /// Print one JSON object on the last line.
        #[arg(long)]
        json: bool,
    },
    /// Random walks from the initial state.
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

#[derive(Args)]
struct ModelArgs {
    /// Number of servers (1 to 5).
    #[arg(long, default_value_t = 3)]
    servers: usize,
    /// Number of clients (0 to 2).
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Operations per client (writes and reads alternate).
    #[arg(long, default_value_t = 2)]
    ops: usize,
    /// Bound: highest term explored.
    #[arg(long, default_value_t = 2)]
    max_term: u64,
    /// Bound: longest log explored.
    #[arg(long, default_value_t = 3)]
    max_log: u64,
    /// Bound: most persistence items queued on one server.
    #[arg(long, default_value_t = 3)]
    max_pending: usize,
    /// Bound: most copies of one message in flight.
    #[arg(long, default_value_t = 1)]
    max_copies: usize,
    /// Bound: most messages in flight in total (unbounded when absent).
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// Crash budget: total crashes in a run.
    #[arg(long, default_value_t = 1)]
    crashes: usize,
    /// Bound: elections started (non-leader election-timer firings), all servers.
    #[arg(long, default_value_t = 1)]
    max_elections: u8,
    /// Bound: check-quorum runs (leader election-timer firings), all servers.
    #[arg(long, default_value_t = 1)]
    max_quorum_checks: u8,
    /// Bound: heartbeat-timer firings, all servers.
    #[arg(long, default_value_t = 0)]
    max_heartbeats: u8,
    /// Run the core with pre-vote (off by default: 4x the states, no safety impact).
    #[arg(long)]
    pre_vote: bool,
    /// Run the core without check-quorum.
    #[arg(long)]
    no_check_quorum: bool,
    /// Network semantics.
    #[arg(long, value_enum, default_value_t = NetworkArg::Unordered)]
    network: NetworkArg,
    /// Let the network drop messages.
    #[arg(long)]
    lossy: bool,
    /// How much one persistence event makes durable.
    #[arg(long, value_enum, default_value_t = PersistArg::Whole)]
    persist: PersistArg,
}

impl ModelArgs {
    fn config(&self) -> Result<ModelConfig, String> {
        if !(1..=5).contains(&self.servers) {
            return Err("--servers must be 1 to 5".into());
        }
        if self.clients > 2 {
            return Err("--clients must be 0 to 2".into());
        }
        let defaults = ModelConfig::default();
        Ok(ModelConfig {
            servers: self.servers,
            clients: self.clients,
            ops_per_client: self.ops,
            max_term: self.max_term,
            max_log: self.max_log,
            max_pending: self.max_pending,
            max_copies: self.max_copies.max(1),
            max_in_flight: self.max_in_flight.unwrap_or(usize::MAX),
            crashes: self.crashes,
            max_elections: self.max_elections,
            max_quorum_checks: self.max_quorum_checks,
            max_heartbeats: self.max_heartbeats,
            options: concord::core::CoreOptions {
                pre_vote: self.pre_vote,
                check_quorum: !self.no_check_quorum,
                ..defaults.options.clone()
            },
            network: match self.network {
                NetworkArg::Unordered => NetworkKind::Unordered,
                NetworkArg::Duplicating => NetworkKind::Duplicating,
            },
            lossy: self.lossy,
            persist_mode: match self.persist {
                PersistArg::Whole => PersistMode::Whole,
                PersistArg::Each => PersistMode::Each,
                PersistArg::Immediate => PersistMode::Immediate,
            },
            ..defaults
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check {
            model,
            threads,
            bfs,
            no_symmetry,
            timeout,
            json,
        } => model.config().map(|cfg| {
            let options = SearchOptions {
                threads,
                timeout: timeout.map(Duration::from_secs),
                stop_at_first_violation: false,
                breadth_first: bfs,
                symmetry: !no_symmetry,
            };
            let outcome = check(cfg, &options);
            print!("{}", outcome.render());
            if json {
                println!("{}", outcome.to_json());
            }
            outcome.passed() && outcome.complete
        }),
        Command::Simulate {
            model,
            seed,
            steps,
            runs,
            threads,
            json,
        } => model.config().map(|cfg| {
            let outcome = simulate(cfg, seed, steps, runs, threads);
            print!("{}", outcome.render());
            println!("reproduce with --seed {seed} --steps {steps} --runs {runs}");
            if json {
                println!("{}", outcome.to_json());
            }
            // Sometimes properties need not be reached by random walks.
            outcome.counterexamples.is_empty()
        }),
        Command::Explore { model, port } => model.config().map(|cfg| {
            let address = format!("localhost:{port}");
            println!("Explorer on http://{address}");
            let _checker = cfg.into_model().checker().serve(address);
            true
        }),
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
