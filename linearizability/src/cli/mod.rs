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
/// Exit status: unknown (timeout or memory limit).
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
    /// Most memory the search may hold per file, e.g. 512MiB, 4GiB or a byte count
    /// (default: half the physical memory, at most 4GiB). Past it: unknown, exit 3.
    #[arg(long, value_parser = parse_size_bytes)]
    max_memory: Option<u64>,
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

/// Parses a size: a byte count, or a number with a binary unit (K, KiB, M, MiB, G, GiB;
/// case-insensitive, optional `B`).
fn parse_size_bytes(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (try 512MiB or 4GiB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("unknown unit in {text:?} (use KiB, MiB or GiB)")),
    };
    let bytes = number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes == 0 {
        return Err("the memory limit must be positive".to_string());
    }
    Ok(bytes)
}

/// Runs the command and returns the exit status.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Bench(args) => bench::run(args),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size_bytes;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_size_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size_bytes("4G"), Ok(4 << 30));
        assert_eq!(parse_size_bytes("64 kib"), Ok(64 << 10));
        assert!(parse_size_bytes("0").is_err());
        assert!(parse_size_bytes("lots").is_err());
        assert!(parse_size_bytes("5TiB").is_err());
        assert!(parse_size_bytes("99999999999999999999G").is_err());
    }
}
