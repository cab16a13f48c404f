//! Scheduling policy for threads that others wake to hand them work.

/// Makes the calling thread a batch thread (`SCHED_BATCH`): waking it no longer preempts
/// the thread that woke it, which goes on with its own work; it keeps its fair share of
/// the CPU. On failure, or off Linux, the thread stays as it was.
pub(crate) fn run_behind_wakers() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: a plain system call on the calling thread (id 0) with a valid pointer.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The policy of the calling thread.
    fn policy() -> i32 {
        // SAFETY: a plain system call about the calling thread.
        unsafe { libc::sched_getscheduler(0) }
    }

    #[test]
    fn only_the_calling_thread_runs_behind_its_wakers() {
        let before = policy();
        let inside = std::thread::spawn(|| {
            run_behind_wakers();
            policy()
        })
        .join()
        .unwrap();
        assert_eq!(inside, libc::SCHED_BATCH);
        assert_eq!(policy(), before);
    }
}
