//! The `concord` command line.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("version") | Some("--version") => {
            println!("concord {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "usage: concord version\n\n\
                 `concord demo` arrives with the runtime (see the open issues)."
            );
            ExitCode::from(2)
        }
    }
}
