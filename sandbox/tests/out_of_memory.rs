//! Running out of memory at any point of a script, its stack trace's construction included, is
//! the memory-limit error (or the script's own error, when that still fits): never a crash of the
//! process.

use std::time::Duration;

use sandbox::{run, Limits, SandboxError};
use serde_json::json;

/// Runs `source` under each memory limit in `limits_bytes`, expecting [`SandboxError::MemoryLimit`]
/// (or, where `thrown` names an error, that error as [`SandboxError::Thrown`]: under the larger
/// limits the script's own error, stack trace included, fits).
async fn out_of_memory_at_each_limit(
    source: &str,
    limits_bytes: impl IntoIterator<Item = usize>,
    thrown: Option<&str>,
) {
    for memory_bytes in limits_bytes {
        let limits = Limits {
            memory_bytes,
            cpu_time: Duration::from_secs(10),
            // A wall-clock backstop a busy test machine cannot reach.
            wall_time: Duration::from_secs(120),
            ..Limits::default()
        };
        match run(source, &json!(null), &limits).await {
            Err(SandboxError::MemoryLimit { limit }) => assert_eq!(limit, memory_bytes, "{source}"),
            Err(SandboxError::Thrown { message, .. })
                if thrown.is_some_and(|name| message.starts_with(name)) => {}
            other => panic!("{source} at {memory_bytes} bytes: {other:?}"),
        }
    }
}

/// `count` limits from `from` bytes up to about `to`, each step offset by an odd amount so that
/// the allocation that fails falls at a different point of the script each time.
fn limits_between(from: usize, to: usize, count: usize) -> impl Iterator<Item = usize> {
    let step = (to - from) / count;
    (0..count).map(move |i| from + i * step + i * 331)
}

// QuickJS attaches a stack trace to an error when the error leaves the bytecode function that
// raised it. For an out-of-memory error, building that trace needs memory too. The QuickJS-ng of
// rquickjs 0.9 (quickjs-ng 0.8) then threw a second out-of-memory error, which freed the first
// one while the trace was still being attached to it (quickjs-ng/quickjs#1469): a use-after-free
// that crashed the whole process (SIGSEGV in `build_backtrace`). The scripts below run out of
// memory at many limits, so that some of them fail at such points: with rquickjs 0.9, the
// stack-trace and recursion tests below crashed the test binary on every run.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_objects_fill_small_memory_limits() {
    let source = "const a = []; for (;;) { a.push({ x: 1, y: 2, z: 3 }); }";
    out_of_memory_at_each_limit(
        source,
        limits_between(512 * 1024, 8 * 1024 * 1024, 40),
        None,
    )
    .await;
    // Catching the error and allocating again in the handler is still a memory-limit error.
    let source =
        "const a = []; for (;;) { try { for (;;) a.push({ x: 1 }); } catch (e) { a.push(e); } }";
    out_of_memory_at_each_limit(
        source,
        limits_between(512 * 1024, 4 * 1024 * 1024, 40),
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_trace_too_big_for_the_memory_limit_does_not_crash() {
    // The proof of concept of quickjs-ng/quickjs#1469: the function's name alone is 2 MiB, so
    // the trace of the ReferenceError raised in it cannot be built within a few MiB.
    let source = "const name = 'A'.repeat(2 * 1024 * 1024);
        function trigger() { missing_identifier; }
        Object.defineProperty(trigger, 'name', { value: name });
        trigger();";
    out_of_memory_at_each_limit(
        source,
        limits_between(3 * 1024 * 1024, 8 * 1024 * 1024, 40),
        Some("ReferenceError"),
    )
    .await;
    // The same, raised from deeper in a recursion of such functions than a trace shows. (Every
    // frame the out-of-memory error leaves tries to build its trace again: this is slow.)
    let source = "const name = 'B'.repeat(1024 * 1024);
        function down(n) { return n ? down(n - 1) : missing_identifier; }
        Object.defineProperty(down, 'name', { value: name });
        down(12);";
    out_of_memory_at_each_limit(
        source,
        limits_between(2 * 1024 * 1024, 6 * 1024 * 1024, 20),
        Some("ReferenceError"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bombs_deep_in_a_recursion_hit_the_memory_limit() {
    let bombs = [
        // Every level keeps an allocation: memory runs out many frames down.
        "function f(n) { const a = []; for (let i = 0; i < 200; i++) a.push({ i }); return f(n + 1) + a.length; } f(0);",
        // Errors are thrown, caught and kept at the bottom of a recursion: each carries a trace.
        "const keep = []; function f(n) { if (n > 0) return f(n - 1); for (;;) { try { null.x; } catch (e) { keep.push(e); } } } f(40);",
        // Errors with long messages; the last one is caught and rethrown at every level.
        "const keep = []; function f(n) { try { return n > 0 ? f(n - 1) : g(); } catch (e) { keep.push(String(e)); throw e; } }
         function g() { for (;;) keep.push(new Error('x'.repeat(1000))); } f(30);",
    ];
    for source in bombs {
        out_of_memory_at_each_limit(
            source,
            limits_between(512 * 1024, 6 * 1024 * 1024, 40),
            None,
        )
        .await;
    }
}
