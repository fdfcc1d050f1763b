//! `lincheck`: check histories of concurrent operations for linearizability.
//!
//! Exit status: 0 linearizable, 1 not linearizable, 2 bad usage or unparseable input,
//! 3 unknown (timeout or memory limit). With several files: 2 if any is unparseable,
//! else 1 if any is not linearizable, else 3 if any is unknown, else 0.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(error) => {
            let code = if error.use_stderr() { 2 } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    ExitCode::from(cli::run(args))
}
