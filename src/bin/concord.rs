//! The `concord` command line: `concord demo` runs a real cluster end to end.

#[path = "concord/demo.rs"]
mod demo;

use std::process::ExitCode;

const USAGE: &str = "usage:
  concord demo [--json] [--seconds S] [--clients N] [--keys K] [--seed SEED] [--no-snapshots]
      Start 3 nodes on 127.0.0.1 (fjall storage in a temporary directory), run a
      concurrent key-value workload, kill the leader mid-run and restart it, check the
      client history for linearizability, and print throughput, latency, failover time
      and the verdict (--json: one JSON object on the last line of stdout). Nodes
      snapshot every 5000 entries, so the restarted leader catches up by snapshot
      install (--no-snapshots: they keep their whole logs).
      Exit status: 0 linearizable, 1 not linearizable, 3 unknown, 2 bad usage.
  concord version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") => match demo::DemoArgs::parse(&args[1..]) {
            Ok(demo_args) => demo::main(demo_args),
            Err(message) => {
                eprintln!("concord demo: {message}\n\n{USAGE}");
                ExitCode::from(2)
            }
        },
        Some("version") | Some("--version") => {
            println!("concord {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("help") | Some("--help") | Some("-h") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
