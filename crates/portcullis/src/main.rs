//! The `portcullis` binary: parses arguments and dispatches. The work lives in the
//! library crates; this file owns only process concerns (logging, signals, exit codes).

mod anomaly_cmd;
mod cli;
mod dataset_cmd;
mod guard_cmd;
mod incidents_cmd;
mod model_cmd;
mod policy_cmd;

// mimalloc: the request path allocates many small, short-lived objects (headers, JSON,
// Cedar values) across threads, where it measurably beats the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns the memory freed after start-up to the operating system. Building the guards
/// compiles many patterns; their temporaries are freed but mimalloc keeps freed pages
/// resident until the heap is next collected, which an idle gateway never triggers (about
/// 25 MiB of idle RSS).
#[allow(unsafe_code)]
pub(crate) fn release_startup_memory() {
    // SAFETY: `mi_collect` takes no pointers and only walks mimalloc's own heaps of the
    // calling thread (and abandoned ones); it is safe to call at any time after start.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

fn main() -> std::process::ExitCode {
    cli::main()
}
