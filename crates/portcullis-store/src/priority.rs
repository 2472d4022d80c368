//! Thread priority for background work that no request waits for (the SQLite WAL
//! checkpointer, the decision writer when handlers do not wait for its commits).
//!
//! Such a thread runs at nice +10 relative to the priority it started with, so that a
//! batch of a few milliseconds does not hold a core a request handler is waiting for.
//! When the cores are saturated it still runs (CFS gives nice +10 about a tenth of a
//! nice-0 thread's share).

/// How much lower than its starting priority a background thread runs.
const BACKGROUND_NICE: i32 = 10;

/// A thread lowered to background priority; remembers the priority it started with.
#[derive(Debug, Clone, Copy)]
pub struct Background {
    base: i32,
}

impl Background {
    /// Lowers the calling thread to background priority (nice +10 relative to its
    /// current value, which it inherited from the thread that spawned it, capped at 19).
    /// Linux only; where it fails, the thread keeps its priority.
    pub fn lower_this_thread() -> Self {
        let base = current();
        set(base + BACKGROUND_NICE);
        Self { base }
    }

    /// Runs `f` at the calling thread's starting priority, then lowers it again: for a
    /// background thread about to hold a lock that a foreground thread may wait for (a
    /// thread at nice +10 holding it on a busy machine would be priority inversion).
    /// Raising a priority needs `CAP_SYS_NICE` or a `RLIMIT_NICE` that allows it; without
    /// them `f` runs at background priority.
    pub fn at_full_priority<T>(&self, f: impl FnOnce() -> T) -> T {
        set(self.base);
        let out = f();
        set(self.base + BACKGROUND_NICE);
        out
    }
}

/// The calling thread's nice value (0 where it cannot be read).
fn current() -> i32 {
    #[cfg(target_os = "linux")]
    {
        // On Linux, PRIO_PROCESS with a thread id reads and sets that thread alone.
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap_or(0)
    }
    #[cfg(not(target_os = "linux"))]
    0
}

/// Sets the calling thread's nice value (capped at 19).
fn set(nice: i32) {
    #[cfg(target_os = "linux")]
    if let Err(e) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice.min(19))
    {
        tracing::debug!(error = %e, "thread priority unchanged");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// This thread's nice value as the kernel reports it.
    fn nice() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // Fields after the parenthesised name: state is field 3, nice field 19.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split_whitespace().nth(16).unwrap().parse().unwrap()
    }

    #[test]
    fn lowers_the_calling_thread_only_and_restores_it_around_a_lock() {
        let own = nice();
        std::thread::spawn(|| {
            let start = nice();
            let bg = Background::lower_this_thread();
            assert_eq!(nice(), (start + 10).min(19));
            let inside = bg.at_full_priority(nice);
            // Raising needs CAP_SYS_NICE (root here) or an RLIMIT_NICE of at least
            // 20 - start; where the test may, the priority is restored.
            let limit = rustix::process::getrlimit(rustix::process::Resource::Nice)
                .current
                .unwrap_or(u64::MAX);
            let may_raise = rustix::process::geteuid().is_root()
                || i64::try_from(limit).unwrap_or(i64::MAX) >= 20 - i64::from(start);
            if may_raise {
                assert_eq!(inside, start);
            } else {
                assert_eq!(inside, (start + 10).min(19));
            }
            assert_eq!(nice(), (start + 10).min(19), "lowered again afterwards");
        })
        .join()
        .unwrap();
        assert_eq!(nice(), own, "the calling thread only");
    }
}
