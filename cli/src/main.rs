//! The `concord` command line: `concord demo` runs a real cluster end to end, `concord
//! serve` runs one server of a replicated KV store, `concord cli` administers and uses
//! such servers.

mod cli;
mod demo;
mod serve;
mod tls;

use std::process::ExitCode;

use std::io::IsTerminal as _;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Concord: a Raft consensus library with a model checker, a chaos suite and a
/// linearizability checker.
#[derive(Parser, Debug)]
#[command(name = "concord", version, about, long_about = None, args_override_self = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start 3 nodes on 127.0.0.1, run a concurrent key-value workload, kill the leader
    /// mid-run and restart it, and check the client history for linearizability.
    ///
    /// Storage is fjall in a temporary directory. Prints throughput, latency, failover
    /// time and the verdict. Nodes snapshot every 5000 entries, so the restarted leader
    /// catches up by snapshot install. Exit status: 0 linearizable, 1 not linearizable
    /// or failed, 3 unknown, 2 bad usage.
    Demo(demo::DemoArgs),
    /// Run one server of a replicated KV store (one port for Raft, clients and admin;
    /// fjall in --data-dir; SIGTERM or Ctrl-C shuts it down cleanly).
    Serve(serve::ServeArgs),
    /// Administer and use `concord serve` clusters: get-leader, get-peers, add-peer,
    /// transfer-leader, snapshot, describe, kv get/put/cas, ...
    ///
    /// Exit status: 0 done, 1 refused (nothing changed), 2 bad usage, 3 outcome
    /// unknown, 4 unavailable (no server or leader answered in time; nothing changed).
    Cli(cli::CliArgs),
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    // clap prints usage errors to stderr and exits with status 2, `--help` and
    // `--version` to stdout with status 0.
    let cli = Cli::parse();
    install_logging();
    match cli.command {
        Command::Demo(args) => demo::main(args),
        Command::Serve(args) => serve::main(args),
        Command::Cli(args) => cli::main(args),
        Command::Version => {
            println!("concord {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}

/// Logs the library's events (`concord::trace`'s table) to stderr: warnings and errors
/// unless `RUST_LOG` says otherwise (`RUST_LOG=info` shows elections and snapshots,
/// `RUST_LOG=concord=debug` refused frames too).
fn install_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
