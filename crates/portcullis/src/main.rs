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

/// Keeps freed memory for reuse instead of returning it to the operating system, for a
/// one-shot batch command (`dataset scan`) that frees and reallocates as it streams and
/// exits when done: mimalloc's delayed purges (`madvise` calls, and page faults when the
/// pages are touched again) were about 1.5 % of a 50,000-record scan. The peak resident
/// size is unchanged (freed memory is reused either way). Not for the gateway, whose idle
/// memory must go back to the system.
#[allow(unsafe_code)]
pub(crate) fn keep_freed_memory() {
    // `mi_option_purge_delay` is not exported by libmimalloc-sys; in mimalloc v2 and v3
    // alike it is the option just before `mi_option_use_numa_nodes` (the enum keeps
    // deprecated entries so positions do not move).
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t =
        libmimalloc_sys::mi_option_use_numa_nodes - 1;
    // SAFETY: `mi_option_set` takes two integers, no pointers, and only changes the value
    // of one of mimalloc's options; -1 means "never purge".
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// Turns transparent huge pages off for this process (the default;
/// `PORTCULLIS_ALLOW_THP=1` keeps them). mimalloc asks for huge pages on the arenas it
/// commits (`madvise`), so with THP in `madvise` mode (the common default) every touched
/// 2 MiB region of its heap stays resident whole: an idle gateway with guards on holds
/// 55 MiB with them and 34 MiB without, and paired benchmark runs showed no latency or
/// throughput difference beyond run-to-run noise (docs/benchmarks.md, "Huge pages").
/// Called first thing in `main`, before the heap grows; a no-op where THP is off or
/// unsupported.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn disable_transparent_huge_pages() {
    // SAFETY: `prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)` takes integers only, no pointers,
    // and changes nothing but this process's huge-page policy; a failure (old kernel) is
    // harmless and ignored.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(not(target_os = "linux"))]
fn disable_transparent_huge_pages() {}

fn main() -> std::process::ExitCode {
    if std::env::var_os("PORTCULLIS_ALLOW_THP").is_none_or(|v| v != "1") {
        disable_transparent_huge_pages();
    }
    cli::main()
}
