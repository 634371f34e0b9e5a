//! The evaluator threads: a small pool of threads with big stacks that run compile and
//! evaluation jobs, so that no expression ever runs on (or overflows the stack of) the
//! caller's thread, typically an async runtime worker.
//!
//! A job normally stops by itself shortly after its deadline (its budget trips, see `budget`).
//! If a caller stops waiting before the job ends (a native operation ran long, or an async
//! caller dropped its future), the job's thread is *abandoned*: it is counted in
//! [`abandoned_threads`], replaced by a new thread, and exits when its job ends.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::budget;

/// Stack sizes tried for a new evaluator thread, biggest first (smaller ones only if the
/// system refuses to reserve the memory). The memory is reserved, not used: only evaluations
/// that recurse deeply touch it, and threads that ran a long job exit (returning it).
const STACK_SIZES: [usize; 3] = [1 << 30, 256 << 20, 64 << 20];

/// Evaluator threads kept even when idle.
fn core_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8))
}

/// Most evaluator threads at once (not counting abandoned ones). Threads beyond
/// [`core_threads`] are started when every thread is busy and exit once idle.
const MAX_THREADS: usize = 32;

/// A thread whose job ran longer than this exits after it (and is replaced at once), so
/// that the stack memory a deep recursion touched is returned to the system.
const RECYCLE_AFTER: Duration = Duration::from_millis(100);

/// A surplus thread exits after being idle this long.
const IDLE_EXIT: Duration = Duration::from_secs(10);

static ABANDONED_THREADS: AtomicUsize = AtomicUsize::new(0);

/// How many evaluator threads are still running a job that nobody waits for any more.
///
/// A thread is counted from the moment a caller stops waiting for its job (the job ran past
/// [`crate::EvalLimits::time`] plus a grace period of 200 ms, or an async caller dropped the
/// future) until the job ends; a replacement thread takes its place in the meantime. Jobs check
/// their deadline at every interpreter step, so this is normally zero; a count that stays up
/// means jobs are stuck in long native operations (see the crate documentation), each burning
/// a core. Export it as a metric.
pub fn abandoned_threads() -> usize {
    ABANDONED_THREADS.load(Ordering::Acquire)
}

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
const ABANDONED: u8 = 3;
const CANCELLED: u8 = 4;

/// Shared between a caller and the thread that runs its job.
pub(crate) struct JobState {
    status: AtomicU8,
    /// Set when the caller stops waiting: the budget trips at the job's next step.
    pub(crate) cancel: Arc<AtomicBool>,
}

struct Job {
    work: Box<dyn FnOnce() + Send>,
    state: Arc<JobState>,
}

struct Pool {
    queue: Mutex<Sender<Job>>,
    jobs: Arc<Mutex<Receiver<Job>>>,
    /// Threads that take jobs (abandoned ones excluded).
    threads: AtomicUsize,
    /// Of those, the ones waiting for a job.
    idle: AtomicUsize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (queue, jobs) = mpsc::channel();
        Pool {
            queue: Mutex::new(queue),
            jobs: Arc::new(Mutex::new(jobs)),
            threads: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
        }
    })
}

/// Queues `work`; the returned state lets the caller give up on it.
pub(crate) fn submit(work: impl FnOnce(&Arc<AtomicBool>) + Send + 'static) -> Arc<JobState> {
    let state = Arc::new(JobState {
        status: AtomicU8::new(QUEUED),
        cancel: Arc::new(AtomicBool::new(false)),
    });
    let cancel = Arc::clone(&state.cancel);
    let job = Job {
        work: Box::new(move || work(&cancel)),
        state: Arc::clone(&state),
    };
    let pool = pool();
    let idle = pool.idle.load(Ordering::Acquire);
    // The receiver lives in the pool forever, so sending cannot fail.
    let _ = pool
        .queue
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .send(job);
    let threads = pool.threads.load(Ordering::Acquire);
    if threads < core_threads() || (idle == 0 && threads < MAX_THREADS) {
        spawn(pool);
    }
    state
}

/// Starts one more evaluator thread. If none can be started, queued jobs wait for the existing
/// ones (and their callers time out).
fn spawn(pool: &'static Pool) {
    pool.threads.fetch_add(1, Ordering::AcqRel);
    for size in STACK_SIZES {
        let started = std::thread::Builder::new()
            .name("expr-eval".to_owned())
            .stack_size(size)
            .spawn(move || work(pool, size));
        if started.is_ok() {
            return;
        }
    }
    pool.threads.fetch_sub(1, Ordering::AcqRel);
}

/// An evaluator thread: runs jobs until it is abandoned, ran a long job or is surplus.
fn work(pool: &'static Pool, stack_size: usize) {
    // Evaluations may use half the stack; the other half is for native operations that
    // recurse over a value after the last check (printing, comparing, dropping it).
    budget::mark_stack_top(stack_size / 2);
    loop {
        pool.idle.fetch_add(1, Ordering::AcqRel);
        let job = pool
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv_timeout(IDLE_EXIT);
        pool.idle.fetch_sub(1, Ordering::AcqRel);
        let job = match job {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) if !surplus(pool) => continue,
            Err(_) => break,
        };
        let claimed =
            job.state
                .status
                .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire);
        if claimed.is_err() {
            continue; // The caller gave up before the job started.
        }
        let started = Instant::now();
        // A panic drops the job's reply channel: the caller sees an internal error.
        let _ = catch_unwind(AssertUnwindSafe(job.work));
        if job.state.status.swap(DONE, Ordering::AcqRel) == ABANDONED {
            // Already replaced and no longer counted in `threads`.
            ABANDONED_THREADS.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        if surplus(pool) {
            break;
        }
        if started.elapsed() > RECYCLE_AFTER {
            // Replaced right away, so that queued jobs never wait for a thread to appear.
            pool.threads.fetch_sub(1, Ordering::AcqRel);
            spawn(pool);
            return;
        }
    }
    pool.threads.fetch_sub(1, Ordering::AcqRel);
}

fn surplus(pool: &Pool) -> bool {
    pool.threads.load(Ordering::Acquire) > core_threads()
}

/// The caller stops waiting for the job: a queued job is dropped unrun, a running one is asked
/// to stop and its thread is counted as abandoned and replaced.
pub(crate) fn give_up(state: &JobState) {
    state.cancel.store(true, Ordering::Relaxed);
    loop {
        match state.status.load(Ordering::Acquire) {
            QUEUED => {
                let cancelled = state.status.compare_exchange(
                    QUEUED,
                    CANCELLED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                if cancelled.is_ok() {
                    return;
                }
            }
            RUNNING => {
                // Count first, so that a job ending right now never takes the count below 0.
                ABANDONED_THREADS.fetch_add(1, Ordering::AcqRel);
                let abandoned = state.status.compare_exchange(
                    RUNNING,
                    ABANDONED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                if abandoned.is_ok() {
                    let pool = pool();
                    pool.threads.fetch_sub(1, Ordering::AcqRel);
                    spawn(pool);
                    return;
                }
                ABANDONED_THREADS.fetch_sub(1, Ordering::AcqRel);
            }
            _ => return,
        }
    }
}
