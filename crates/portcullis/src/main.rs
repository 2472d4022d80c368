//! The `portcullis` binary: parses arguments and dispatches. The work lives in the
//! library crates; this file owns only process concerns (logging, signals, exit codes).

mod cli;
mod guard_cmd;

// mimalloc: the request path allocates many small, short-lived objects (headers, JSON,
// Cedar values) across threads, where it measurably beats the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
