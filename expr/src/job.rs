//! Running evaluation work on an evaluator thread under a budget, and waiting for it, either
//! blocking (safe inside a Tokio runtime) or asynchronously.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, PoisonError};
use std::time::Instant;

use crate::budget::{self, Progress, Trip};
use crate::limits::WAIT_GRACE;
use crate::pool::{self, JobState};
use crate::{EvalLimits, ExprError};

/// Runs `work` on an evaluator thread under `limits`, blocking until it is done or its
/// deadline (plus a grace period) has passed. `what` names the work in errors that no
/// expression can be blamed for.
///
/// Inside a multi-threaded Tokio runtime the wait goes through
/// [`tokio::task::block_in_place`], so the runtime moves its other tasks off this thread.
pub(crate) fn run_blocking<R: Send + 'static>(
    limits: &EvalLimits,
    what: &str,
    work: impl FnOnce() -> Result<R, ExprError> + Send + 'static,
) -> Result<R, ExprError> {
    let deadline = Instant::now() + limits.time;
    let progress = Progress::default();
    let (reply, result) = mpsc::sync_channel(1);
    let state = start(limits, deadline, &progress, work, move |r| {
        // The caller may have given up already: then nobody needs the result.
        let _ = reply.send(r);
    });
    let waited = block(|| {
        let wait = (deadline + WAIT_GRACE).saturating_duration_since(Instant::now());
        result.recv_timeout(wait)
    });
    match waited {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => {
            pool::give_up(&state);
            Err(timed_out(limits, &progress, what))
        }
        Err(RecvTimeoutError::Disconnected) => Err(failed(what)),
    }
}

/// Like [`run_blocking`], waiting asynchronously. Needs a Tokio runtime with the time driver
/// enabled. Dropping the future gives up on the work (see [`crate::abandoned_threads`]).
pub(crate) async fn run_async<R: Send + 'static>(
    limits: &EvalLimits,
    what: &str,
    work: impl FnOnce() -> Result<R, ExprError> + Send + 'static,
) -> Result<R, ExprError> {
    let deadline = Instant::now() + limits.time;
    let progress = Progress::default();
    let (reply, result) = tokio::sync::oneshot::channel();
    let state = start(limits, deadline, &progress, work, move |r| {
        let _ = reply.send(r);
    });
    let mut waiting = GiveUpOnDrop { state, done: false };
    let until = tokio::time::Instant::from_std(deadline + WAIT_GRACE);
    match tokio::time::timeout_at(until, result).await {
        Ok(result) => {
            waiting.done = true;
            result.unwrap_or_else(|_| Err(failed(what)))
        }
        Err(_) => Err(timed_out(limits, &progress, what)),
    }
}

fn start<R: Send + 'static>(
    limits: &EvalLimits,
    deadline: Instant,
    progress: &Progress,
    work: impl FnOnce() -> Result<R, ExprError> + Send + 'static,
    reply: impl FnOnce(Result<R, ExprError>) + Send + 'static,
) -> Arc<JobState> {
    let limits = limits.clone();
    let progress = Arc::clone(progress);
    pool::submit(move |cancel| {
        let result = budget::run(&limits, deadline, Arc::clone(cancel), progress, work);
        reply(result);
    })
}

/// Gives up on the job unless it finished (the async caller's future may be dropped anywhere).
struct GiveUpOnDrop {
    state: Arc<JobState>,
    done: bool,
}

impl Drop for GiveUpOnDrop {
    fn drop(&mut self) {
        if !self.done {
            pool::give_up(&self.state);
        }
    }
}

/// Runs the blocking `wait`, letting a multi-threaded Tokio runtime move its other tasks away.
fn block<T>(wait: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}

/// The error for a job the caller stopped waiting for.
fn timed_out(limits: &EvalLimits, progress: &Progress, what: &str) -> ExprError {
    let current = progress
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let expression = current.as_deref().unwrap_or(what);
    budget::trip_error(Trip::Time, expression, limits)
}

fn failed(what: &str) -> ExprError {
    ExprError::Runtime {
        expression: what.to_owned(),
        message: "internal error: the expression evaluator failed".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A job stuck outside the interpreter (where no tick can stop it) is abandoned: the
    /// caller gets `TimeLimit` on time, the thread is counted until the job ends, and the pool
    /// keeps serving other jobs meanwhile.
    #[test]
    fn stuck_jobs_are_abandoned_and_replaced() {
        let limits = EvalLimits {
            time: Duration::from_millis(50),
            ..EvalLimits::default()
        };
        let started = Instant::now();
        let stuck = run_blocking(&limits, "stuck", || {
            std::thread::sleep(Duration::from_millis(1500));
            Ok(())
        });
        assert!(
            matches!(&stuck, Err(ExprError::TimeLimit { expression, .. }) if expression == "stuck"),
            "{stuck:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(1000));
        assert_eq!(pool::abandoned_threads(), 1);
        // Other work still runs, on another thread.
        let answer = run_blocking(&EvalLimits::default(), "answer", || Ok(42));
        assert_eq!(answer, Ok(42));
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool::abandoned_threads() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(pool::abandoned_threads(), 0);
    }

    #[test]
    fn panicking_jobs_are_reported_not_propagated() {
        let result: Result<(), _> = run_blocking(&EvalLimits::default(), "boom", || {
            panic!("a bug in a native filter")
        });
        assert!(
            matches!(&result, Err(ExprError::Runtime { message, .. }) if message.contains("internal")),
            "{result:?}"
        );
        assert_eq!(
            run_blocking(&EvalLimits::default(), "after", || Ok(1)),
            Ok(1)
        );
    }
}
