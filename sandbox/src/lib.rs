//! Jobsprint's `code` node: user JavaScript run in QuickJS with hard limits and no ambient access.
//!
//! # The contract
//!
//! The user's source is the *body* of a synchronous function of one argument, `input` (the
//! node's input as a JSON value), whose return value is the node's output:
//!
//! ```text
//! return { total: input.items.reduce((a, b) => a + b, 0) };
//! ```
//!
//! * The body is synchronous: a top-level `await` is a syntax error, and returning a `Promise`
//!   (or anything else that is not JSON) is a [`SandboxError::Output`]. Promise jobs the script
//!   queues are run to completion after it returns (under the same limits) but cannot change the
//!   output.
//! * Returning `undefined` (or nothing) gives JSON `null`. Functions, symbols, `BigInt`s and
//!   cyclic structures anywhere in the result are a [`SandboxError::Output`]. Results nested
//!   deeper than 128 levels are rejected too (the JSON reader's recursion limit).
//! * The input reaches the script as a value parsed by QuickJS's JSON parser from a string:
//!   user data is never spliced into source code. It counts against the memory limit, and its
//!   numbers become IEEE doubles (integers beyond 2^53 lose precision).
//! * `console.log`/`info`/`debug`/`warn`/`error` are captured into [`Outcome::logs`] (bounded by
//!   [`Limits::log_lines`] and [`Limits::log_line_bytes`]); nothing is written to stdout.
//!
//! # What the script can reach
//!
//! Only the ECMAScript built-ins of QuickJS (QuickJS-ng as bundled by `rquickjs`): `Object`,
//! `Array`, `JSON`, `Math`, `String`, `Number`, `Date` (including `Date.now()`), `RegExp`,
//! `Map`/`Set`/`WeakMap`/`WeakSet`, `WeakRef`, `Reflect`, typed arrays, `Promise`, `BigInt`,
//! `eval`/`Function` (which compile code inside the same sandbox), `queueMicrotask` (its jobs
//! run before [`run`] returns), and the `console` above.
//! There is no `require`, `process`, `std`/`os` module, `fetch`, `XMLHttpRequest`, timer
//! (`setTimeout`, `performance`), file, network or environment access; no module loader is
//! installed, so `import()` rejects and `import` statements are syntax errors. `Atomics.wait`
//! throws (the runtime may not block). `Proxy` is not available either: the sandbox uses it
//! internally (see below) and removes the global.
//!
//! # Isolation and limits
//!
//! Every [`run`] gets a fresh QuickJS runtime and context on a thread of its own, so nothing
//! survives from one execution to the next and a runaway script never blocks the async runtime.
//! See [`Limits`] for what is enforced and how.
//!
//! QuickJS polls the interrupt handler (which enforces the time limits) from the interpreter, not
//! from inside its native built-ins. Native loops whose work is bounded by memory (sorting a big
//! typed array, parsing a long `eval` string) can therefore overrun the CPU limit by a bounded
//! amount. The native `Array.prototype` methods, whose loops run to an arbitrary `length`
//! (`[].indexOf.call({ length: 2 ** 53 - 1 }, 1)`), are wrapped before the user's code runs so
//! that such loops go through JavaScript calls that are polled (see `src/prelude.js`). The
//! regular-expression engine polls the handler too, so a catastrophically backtracking pattern
//! (`/(a+)+$/` on a long non-matching string) stops at the CPU limit. What cannot be bounded
//! in-process is native code that runs long without polling: converting a huge `BigInt` to a
//! string takes seconds (about two for a million bits), and one expression can chain several
//! conversions. For that case [`run`] stops waiting after [`Limits::wall_time`] plus a second
//! and reports [`SandboxError::TimeLimit`], but the thread keeps running until the native code
//! returns; see [`abandoned_threads`].

mod console;
mod engine;
mod error;
mod exception;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use error::SandboxError;

/// Extra thread stack beyond [`Limits::stack_bytes`], for the Rust and C frames around the
/// interpreter and for engine code that runs between two stack checks.
const THREAD_STACK_MARGIN: usize = 2 * 1024 * 1024;

/// Extra wall time granted past [`Limits::wall_time`] before [`run`] gives up waiting for the
/// execution thread (which only happens when the engine is stuck in native code that does not
/// poll the interrupt handler).
const WATCHDOG_GRACE: Duration = Duration::from_secs(1);

/// Execution threads that [`run`] no longer waits for and that are still running.
static ABANDONED_THREADS: AtomicUsize = AtomicUsize::new(0);

/// States of one execution thread, as seen by [`run`].
const RUNNING: u8 = 0;
const FINISHED: u8 = 1;
const ABANDONED: u8 = 2;

/// How many execution threads are still running although nobody waits for their result any more.
///
/// A thread is counted from the moment [`run`] returns without its result (the wall-clock
/// watchdog fired, or the caller dropped the future) until the thread ends. Normally that is a few
/// milliseconds, because the interrupt handler stops the script; a count that stays above zero
/// means scripts are stuck in native engine code that never polls the interrupt handler (see
/// [`Limits`]), each burning a core. Export it as a metric: the only remedy is restarting the
/// process.
pub fn abandoned_threads() -> usize {
    ABANDONED_THREADS.load(Ordering::Acquire)
}

/// Resource limits of one execution.
///
/// * `cpu_time` is the execution thread's CPU time (engine set-up included), checked by
///   QuickJS's interrupt handler, which the interpreter polls periodically (also inside
///   `while (true) {}`), and once more when the script ends: a script that finishes past it
///   fails too.
/// * `wall_time` is a wall-clock backstop checked the same way (it matters when the machine is
///   overloaded); in addition [`run`] stops waiting `wall_time` + 1 s after the start and
///   reports [`SandboxError::TimeLimit`] even if the engine is stuck in native code that does
///   not poll the interrupt handler (e.g. chained conversions of a huge `BigInt` to strings). In
///   that case the thread is detached and keeps running until the native code returns.
/// * `memory_bytes` is QuickJS's allocator limit for the whole runtime (input, heap, strings).
/// * `stack_bytes` is QuickJS's stack-depth limit; deep recursion becomes
///   [`SandboxError::StackOverflow`]. The thread's real stack is larger by a safety margin.
/// * `output_bytes` bounds the serialised JSON result.
/// * `log_lines` and `log_line_bytes` bound the captured console lines (longer lines are cut).
///
/// A zero `memory_bytes` or `stack_bytes` does **not** mean "unlimited" (as it would for
/// QuickJS): it is raised to 1, so every execution fails with the matching limit error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// CPU time of the execution thread (default 1 s).
    pub cpu_time: Duration,
    /// Wall-clock time of the execution (default 5 s).
    pub wall_time: Duration,
    /// Memory the QuickJS runtime may allocate, in bytes (default 32 MiB).
    pub memory_bytes: usize,
    /// Stack QuickJS may use, in bytes (default 256 KiB).
    pub stack_bytes: usize,
    /// Size of the serialised JSON output, in bytes (default 1 MiB).
    pub output_bytes: usize,
    /// Number of console lines kept (default 100); further lines are counted, not kept.
    pub log_lines: usize,
    /// Bytes kept of each console line (default 4 KiB).
    pub log_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cpu_time: Duration::from_secs(1),
            wall_time: Duration::from_secs(5),
            memory_bytes: 32 * 1024 * 1024,
            stack_bytes: 256 * 1024,
            output_bytes: 1024 * 1024,
            log_lines: 100,
            log_line_bytes: 4 * 1024,
        }
    }
}

/// The result of a successful execution.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The function's return value (`undefined` becomes `null`).
    pub output: serde_json::Value,
    /// Captured console lines, oldest first, at most [`Limits::log_lines`].
    pub logs: Vec<String>,
    /// Console lines that were dropped because [`Limits::log_lines`] was reached.
    pub logs_dropped: usize,
    /// CPU time the execution thread used (engine setup included).
    pub cpu_time: Duration,
}

/// Runs `source` (a synchronous function body, see the crate docs) with `input` under `limits`.
///
/// The script runs on a new thread with a fresh QuickJS runtime, so neither a runaway script nor
/// a previous execution can affect this one. Dropping the returned future asks the script to
/// stop at its next interrupt poll. Needs a Tokio runtime with the time driver enabled.
///
/// Each execution can use up to [`Limits::memory_bytes`] plus its thread stack: callers should
/// bound how many run at once.
pub async fn run(
    source: &str,
    input: &serde_json::Value,
    limits: &Limits,
) -> Result<Outcome, SandboxError> {
    let input_json = serde_json::to_string(input)
        .map_err(|e| SandboxError::Internal(format!("could not serialise the input: {e}")))?;
    let job = engine::Job {
        source: source.to_owned(),
        input_json,
        limits: limits.clone(),
        cancel: Arc::new(AtomicBool::new(false)),
    };
    let state = Arc::new(AtomicU8::new(RUNNING));
    let thread_state = Arc::clone(&state);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let cancel_flag = Arc::clone(&job.cancel);
    std::thread::Builder::new()
        .name("sandbox".to_owned())
        .stack_size(limits.stack_bytes.saturating_add(THREAD_STACK_MARGIN))
        .spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(|| engine::execute(&job)))
                .unwrap_or_else(|_| Err(SandboxError::Internal("the sandbox panicked".to_owned())));
            if thread_state.swap(FINISHED, Ordering::AcqRel) == ABANDONED {
                ABANDONED_THREADS.fetch_sub(1, Ordering::AcqRel);
            }
            // The receiver may be gone (caller dropped the future): nothing left to tell.
            let _ = tx.send(result);
        })
        .map_err(|e| SandboxError::Internal(format!("could not start a sandbox thread: {e}")))?;
    let cancel = CancelOnDrop {
        cancel: cancel_flag,
        state,
    };
    let waited = tokio::time::timeout(limits.wall_time.saturating_add(WATCHDOG_GRACE), rx).await;
    drop(cancel);
    match waited {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(SandboxError::Internal(
            "the sandbox thread ended without a result".to_owned(),
        )),
        Err(_) => Err(SandboxError::TimeLimit {
            limit: limits.wall_time,
        }),
    }
}

/// When `run` returns or its future is dropped: interrupts the script and, if its thread is still
/// running, counts it in [`abandoned_threads`] until it ends.
struct CancelOnDrop {
    cancel: Arc<AtomicBool>,
    state: Arc<AtomicU8>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        // Count first, so that a thread ending right now never decrements below zero.
        ABANDONED_THREADS.fetch_add(1, Ordering::AcqRel);
        let abandoned =
            self.state
                .compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire);
        if abandoned.is_err() {
            ABANDONED_THREADS.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
