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
//!
//! The queue in front of them is bounded: a flood of sign-ins (for unknown
//! addresses too, which are hashed for timing equality) would otherwise
//! line up every later sign-in behind it. When the threads are busy and
//! `security.password_hash_queue` checks wait, a new one is refused at once
//! with 503 and a `Retry-After` of the time the backlog takes to drain. A
//! queued check whose caller has gone (the request's future was dropped: the
//! client hung up) is skipped, not hashed.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::http::{ApiError, ErrorCode};

/// How much lower than the process the hashing threads run (nice +10: about
/// a tenth of a normal thread's share of a busy core).
const NICE_INCREMENT: libc::c_int = 10;

/// Checks that may wait per hashing thread when `password_hash_queue` is 0:
/// a backlog that absorbs an ordinary burst of sign-ins, while the last in
/// line waits for about sixteen checks (around a second at the default
/// Argon2 cost) rather than behind a whole flood.
const DEFAULT_QUEUE_PER_THREAD: usize = 16;

type Job = Box<dyn FnOnce() + Send>;

/// What the threads share with every handle.
struct Shared {
    jobs: mpsc::Sender<Job>,
    threads: usize,
    /// Jobs admitted (queued or running) may not exceed this.
    capacity: usize,
    in_flight: AtomicUsize,
    /// A moving average of how long one hash takes, in microseconds: the
    /// `Retry-After` of a refused check.
    mean_micros: AtomicU64,
}

/// The hashing threads; cheap to clone.
#[derive(Clone)]
pub struct HashThreads {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HashThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashThreads")
            .field("threads", &self.shared.threads)
            .field("capacity", &self.shared.capacity)
            .finish()
    }
}

/// Why a job did not run.
#[derive(Debug, thiserror::Error)]
pub enum HashJobError {
    /// The threads and the queue are full; try again after this many seconds.
    #[error("the password hashing queue is full")]
    Busy { retry_after_secs: u64 },
    /// The hashing threads stopped (the process is shutting down).
    #[error("the password hashing threads have stopped")]
    Gone,
}

/// A full queue is the server's capacity, shared by every caller, not this
/// caller's rate: 503 with `Retry-After`, as for an unreachable database,
/// rather than a 429 that would tell a user who tried once to slow down.
impl From<HashJobError> for ApiError {
    fn from(error: HashJobError) -> Self {
        match error {
            HashJobError::Busy { retry_after_secs } => ApiError::new(
                ErrorCode::ServiceUnavailable,
                "Too many password checks are in progress.",
                format!(
                    "The server is checking as many passwords as it can; try again in {retry_after_secs} second(s)."
                ),
            )
            .with_retry_after(retry_after_secs),
            HashJobError::Gone => ApiError::internal(error),
        }
    }
}

/// Holds one admitted job's place until the job has run or been dropped.
struct Admission(Arc<Shared>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shared {
    fn record(&self, started: Instant) {
        let sample = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        // Lost updates between threads only make the average a little older.
        let mean = self.mean_micros.load(Ordering::Relaxed);
        let next = if mean == 0 {
            sample
        } else {
            mean - mean / 8 + sample / 8
        };
        self.mean_micros.store(next, Ordering::Relaxed);
    }

    /// Seconds until the backlog has drained, at least one.
    fn retry_after_secs(&self) -> u64 {
        let backlog = self.capacity.div_ceil(self.threads) as u64;
        let micros = backlog.saturating_mul(self.mean_micros.load(Ordering::Relaxed));
        micros.div_ceil(1_000_000).max(1)
    }
}

impl HashThreads {
    /// Starts `threads` threads (0: one fewer than the cores, at least one)
    /// behind a queue of `queue` waiting jobs (0: sixteen per thread).
    pub fn start(threads: usize, queue: usize) -> std::io::Result<Self> {
        let threads = match threads {
            0 => std::thread::available_parallelism()
                .map_or(1, usize::from)
                .saturating_sub(1)
                .max(1),
            n => n,
        };
        let queue = match queue {
            0 => threads * DEFAULT_QUEUE_PER_THREAD,
            n => n,
        };
        return_large_buffers_to_the_kernel();
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{index}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match receiver.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Self {
            shared: Arc::new(Shared {
                jobs,
                threads,
                capacity: threads + queue,
                in_flight: AtomicUsize::new(0),
                mean_micros: AtomicU64::new(0),
            }),
        })
    }

    /// Runs `work` on a hashing thread and waits for its result; refuses it
    /// at once when the threads and the queue are full. If this future is
    /// dropped before a thread takes the job, `work` never runs.
    pub async fn run<T, F>(&self, work: F) -> Result<T, HashJobError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = &self.shared;
        let admitted = shared
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < shared.capacity).then_some(n + 1)
            });
        if admitted.is_err() {
            metrics::counter!("steward_password_hash_jobs_total", "outcome" => "shed").increment(1);
            return Err(HashJobError::Busy {
                retry_after_secs: shared.retry_after_secs(),
            });
        }
        let admission = Admission(shared.clone());
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let admission = admission;
            if done.is_closed() {
                metrics::counter!("steward_password_hash_jobs_total", "outcome" => "abandoned")
                    .increment(1);
                return;
            }
            let started = Instant::now();
            let value = work();
            admission.0.record(started);
            metrics::counter!("steward_password_hash_jobs_total", "outcome" => "run").increment(1);
            // The place is free before the caller sees the result.
            drop(admission);
            let _receiver_gone = done.send(value);
        });
        shared.jobs.send(job).map_err(|_| HashJobError::Gone)?;
        result.await.map_err(|_| HashJobError::Gone)
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
        let threads = HashThreads::start(1, 1).unwrap();
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

    /// Occupies the only thread until the returned sender is dropped or sent to.
    async fn occupy(threads: &HashThreads) -> std::sync::mpsc::Sender<()> {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel();
        let blocker = threads.clone();
        actix_web::rt::spawn(async move {
            blocker
                .run(move || {
                    let _ = started.send(());
                    let _ = wait.recv();
                })
                .await
        });
        running.await.expect("the blocking job started");
        release
    }

    #[actix_web::test]
    async fn a_full_queue_sheds_with_a_retry_time() {
        let threads = HashThreads::start(1, 1).unwrap();
        let release = occupy(&threads).await;
        // One job may wait behind the running one; the next is refused.
        let waiting = threads.clone();
        let queued = actix_web::rt::spawn(async move { waiting.run(|| 7).await });
        while threads.shared.in_flight.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        match threads.run(|| 0).await {
            Err(HashJobError::Busy { retry_after_secs }) => assert!(retry_after_secs >= 1),
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(release);
        assert_eq!(queued.await.unwrap().unwrap(), 7);
        assert_eq!(threads.run(|| 8).await.unwrap(), 8, "room again");
        assert_eq!(threads.shared.in_flight.load(Ordering::Acquire), 0);
    }

    #[actix_web::test]
    async fn a_job_whose_caller_is_gone_is_not_run() {
        let threads = HashThreads::start(1, 4).unwrap();
        let release = occupy(&threads).await;
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let abandoned = threads.run(move || flag.store(true, Ordering::SeqCst));
        // Polled once, the job is queued behind the blocker; then the caller
        // goes away, as a request's future does when its client hangs up.
        assert!(futures_util::FutureExt::now_or_never(abandoned).is_none());
        assert_eq!(threads.shared.in_flight.load(Ordering::Acquire), 2);
        drop(release);
        // One thread takes jobs in order: when this one has run, the
        // abandoned one was taken before it.
        threads.run(|| ()).await.unwrap();
        assert!(!ran.load(Ordering::SeqCst), "the abandoned job ran");
        assert_eq!(threads.shared.in_flight.load(Ordering::Acquire), 0);
    }
}
