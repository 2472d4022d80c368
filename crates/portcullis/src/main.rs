//! The `portcullis` binary: parses arguments and dispatches. The work lives in the
//! library crates; this file owns only process concerns (logging, signals, exit codes).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
