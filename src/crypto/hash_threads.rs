//! Dedicated threads for password hashing, at a lower CPU priority.
//!
//! One Argon2id check takes a core for tens to hundreds of milliseconds.
//! On the shared blocking pool a stream of sign-ins would take every core
//! and queue token refreshes, which must stay fast for every signed-in user,
//! behind it. Here hashes run on a fixed number of threads (so at most that
//! many hashes, and that many 19 MiB buffers, at once) whose nice value is
//! raised: when the cores are busy, the kernel runs request workers first
//! and hashing gets the time that is left. The buffers go back to the
//! kernel after each hash (see `return_large_buffers_to_the_kernel`).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// How much lower than the process the hashing threads run (nice +10: about
/// a tenth of a normal thread's share of a busy core).
const NICE_INCREMENT: libc::c_int = 10;

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads; cheap to clone.
#[derive(Clone)]
pub struct HashThreads {
    jobs: mpsc::Sender<Job>,
    threads: usize,
}

impl std::fmt::Debug for HashThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashThreads")
            .field("threads", &self.threads)
            .finish()
    }
}

/// The hashing threads stopped (the process is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the password hashing threads have stopped")]
pub struct HashThreadsGone;

impl HashThreads {
    /// Starts `threads` threads (0: one fewer than the cores, at least one).
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let threads = match threads {
            0 => std::thread::available_parallelism()
                .map_or(1, usize::from)
                .saturating_sub(1)
                .max(1),
            n => n,
        };
        return_large_buffers_to_the_kernel();
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{index}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Self { jobs, threads })
    }

    /// Runs `work` on a hashing thread and waits for its result.
    pub async fn run<T, F>(&self, work: F) -> Result<T, HashThreadsGone>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _receiver_gone = done.send(work());
        });
        self.jobs.send(job).map_err(|_| HashThreadsGone)?;
        result.await.map_err(|_| HashThreadsGone)
    }
}

/// Allocations this large or larger are mapped from the kernel on their
/// own and given back when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 1024 * 1024;

/// Fixes glibc's mmap threshold, process-wide, so that each hash's 19 MiB
/// Argon2id buffer goes back to the kernel when the hash is done.
///
/// By default glibc raises the threshold to the size of the first mapped
/// block freed, so every later buffer came from the heap and stayed there,
/// pinned between smaller allocations: a process that had checked 20
/// passwords held about 187 MiB against 31 MiB before (`VmRSS`, SQLite,
/// 1000 sessions seeded), and kept it. Fixing the threshold turns that
/// adjustment off. Only buffers of 1 MiB or more are affected: nothing on
/// the token path allocates that much.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn return_large_buffers_to_the_kernel() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: mallopt only sets an allocator parameter; glibc takes its
        // own lock for it.
        let set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) };
        if set != 1 {
            tracing::warn!("could not set the allocator's mmap threshold");
        }
    });
}

/// Other allocators (musl's, for one) do not keep large blocks this way.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_buffers_to_the_kernel() {}

/// Raises the calling thread's nice value (Linux: nice is per thread).
#[allow(unsafe_code)]
fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread's own id; no memory is shared.
    let outcome = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, NICE_INCREMENT)
    };
    if outcome != 0 {
        tracing::warn!("could not lower the priority of a password hashing thread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    #[allow(unsafe_code)]
    async fn runs_work_off_the_caller_at_a_lower_priority() {
        let threads = HashThreads::start(1).unwrap();
        let (name, nice) = threads
            .run(|| {
                // SAFETY: reads the calling thread's own priority.
                let nice = unsafe {
                    let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                    libc::getpriority(libc::PRIO_PROCESS, tid)
                };
                (std::thread::current().name().map(str::to_owned), nice)
            })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("password-hash-0"));
        assert!(nice >= NICE_INCREMENT, "nice {nice}");
    }
}
