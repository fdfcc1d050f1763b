//! Command-line arguments and dispatch.

mod bench;
mod check;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Exit status: the history is linearizable.
pub const EXIT_LINEARIZABLE: u8 = 0;
/// Exit status: the history is not linearizable.
pub const EXIT_NOT_LINEARIZABLE: u8 = 1;
/// Exit status: bad usage or unparseable input.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit status: unknown (timeout).
pub const EXIT_UNKNOWN: u8 = 3;

/// Check histories of concurrent operations for linearizability.
#[derive(Debug, Parser)]
#[command(name = "lincheck", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check history files against a model.
    Check(CheckArgs),
    /// Time the checker on every history of a MANIFEST.tsv and print a markdown table.
    Bench(BenchArgs),
}

/// Arguments of `lincheck check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The model: register (starts nil), cas-register (starts at 0), kv, counter, set.
    #[arg(long, value_parser = ["register", "cas-register", "kv", "counter", "set"])]
    model: String,
    /// The input format.
    #[arg(long, default_value = "auto", value_parser = ["auto", "jsonl", "edn", "porcupine-etcd", "porcupine-kv"])]
    format: String,
    /// Give up after this many seconds per file (verdict unknown, exit 3).
    #[arg(long)]
    timeout: Option<f64>,
    /// Write a self-contained HTML timeline here (only with a single input file).
    #[arg(long)]
    html: Option<PathBuf>,
    /// Print a JSON summary as the last line of stdout.
    #[arg(long)]
    json: bool,
    /// Check the whole history as one partition even if the model partitions by key.
    #[arg(long)]
    no_partition: bool,
    /// Worker threads for partitions (default: available parallelism).
    #[arg(long)]
    threads: Option<usize>,
    /// History files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Arguments of `lincheck bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Path of MANIFEST.tsv (file paths are relative to its directory).
    #[arg(long)]
    manifest: PathBuf,
    /// Runs per file; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Skip rows whose reference time exceeds this many seconds (they are listed as skipped).
    #[arg(long)]
    max_reference_secs: Option<f64>,
    /// Print JSON instead of a markdown table.
    #[arg(long)]
    json: bool,
}

/// Runs the command and returns the exit status.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
