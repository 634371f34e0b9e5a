//! Scripts stuck in native code that never polls the interrupt handler: the caller still gets
//! its answer on time, and the thread left behind is counted until it ends.
//!
//! Kept in its own test binary because [`abandoned_threads`] is process-wide.

use std::time::{Duration, Instant};

use sandbox::{abandoned_threads, run, Limits, SandboxError};
use serde_json::json;

async fn wait_for_no_abandoned_threads(within: Duration) -> Duration {
    let started = Instant::now();
    while abandoned_threads() > 0 {
        assert!(
            started.elapsed() < within,
            "{} thread(s) still abandoned after {within:?}",
            abandoned_threads()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn stuck_and_cancelled_executions_are_accounted_for() {
    assert_eq!(abandoned_threads(), 0);

    // QuickJS does not poll the interrupt handler while it converts a BigInt to a string: three
    // conversions of a million-bit number (about two seconds of CPU each here) run past both
    // time limits. The watchdog answers after `wall_time` + 1 s with the wall limit; the thread
    // is abandoned until the conversions end.
    let limits = Limits {
        cpu_time: Duration::from_millis(100),
        wall_time: Duration::from_millis(200),
        ..Limits::default()
    };
    let source = "const x = 1n << 1000000n; return ('' + x + x + x).length;";
    let started = Instant::now();
    let error = run(source, &json!(null), &limits).await.unwrap_err();
    assert_eq!(
        error,
        SandboxError::TimeLimit {
            limit: Duration::from_millis(200)
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(abandoned_threads(), 1);
    // The thread does end (the match finishes), and is no longer counted.
    wait_for_no_abandoned_threads(Duration::from_secs(600)).await;

    // Dropping the future interrupts the script at its next poll: far before its own limits.
    let patient = Limits {
        cpu_time: Duration::from_secs(300),
        wall_time: Duration::from_secs(600),
        ..Limits::default()
    };
    let dropped = tokio::time::timeout(
        Duration::from_millis(200),
        run("while (true) {}", &json!(null), &patient),
    )
    .await;
    assert!(dropped.is_err(), "the loop cannot have finished");
    wait_for_no_abandoned_threads(Duration::from_secs(60)).await;
}
