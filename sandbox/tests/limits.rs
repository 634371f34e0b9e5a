//! CPU, memory, stack and output limits, and the isolation of runaway scripts.

use std::time::{Duration, Instant};

use sandbox::{run, Limits, SandboxError};
use serde_json::json;

/// A sanity bound on wall time, far above every limit used here: no tight timing assertions
/// (the tests run niced on a shared machine, where CPU time can trail wall time by far).
const SANE: Duration = Duration::from_secs(60);

/// The defaults, with a wall-clock backstop far enough away that only the CPU limit can trip.
fn limits() -> Limits {
    Limits {
        wall_time: Duration::from_secs(120),
        ..Limits::default()
    }
}

fn cpu(ms: u64) -> Limits {
    Limits {
        cpu_time: Duration::from_millis(ms),
        ..limits()
    }
}

#[tokio::test]
async fn infinite_loop_stops_at_the_cpu_limit() {
    let limits = cpu(200);
    for source in [
        "while (true) {}",
        "for (;;) { try { while (true) {} } catch (e) {} }",
    ] {
        let started = Instant::now();
        let error = run(source, &json!(null), &limits).await.unwrap_err();
        assert_eq!(
            error,
            SandboxError::TimeLimit {
                limit: Duration::from_millis(200)
            },
            "{source}"
        );
        assert!(
            started.elapsed() < SANE,
            "{source}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn native_array_loops_over_huge_lengths_stop_at_the_cpu_limit() {
    // Without the prelude these run in C for years; the wall-clock watchdog would then report
    // the wall limit instead of the 200 ms CPU limit.
    let limits = cpu(200);
    let cases = [
        "return [].indexOf.call({ length: 2 ** 53 - 1 }, 1);",
        "return new Array(2 ** 32 - 1).includes(1);",
        "return Array.prototype.join.call({ length: 2 ** 53 - 1 }, '');",
        "let n = 0; return [].lastIndexOf.call({ get length() { return n++ ? 0 : 2 ** 53 - 1; } }, 1);",
        "return [new Array(2 ** 32 - 1)].flat().length;",
        "return [].concat({ length: 2 ** 53 - 1, [Symbol.isConcatSpreadable]: true }).length;",
        "const a = []; a.length = 2 ** 32 - 1; a.reverse(); return 1;",
        "return new Array(2 ** 32 - 1).sort().length;",
    ];
    for source in cases {
        let started = Instant::now();
        let result = run(source, &json!(null), &limits).await;
        let elapsed = started.elapsed();
        match result {
            Err(SandboxError::TimeLimit { limit }) => {
                assert_eq!(limit, Duration::from_millis(200), "{source}")
            }
            other => panic!("{source}: expected TimeLimit, got {other:?}"),
        }
        assert!(elapsed < SANE, "{source}: {elapsed:?}");
    }
}

#[tokio::test]
async fn memory_bombs_hit_the_memory_limit() {
    let limits = Limits {
        memory_bytes: 16 * 1024 * 1024,
        cpu_time: Duration::from_secs(5),
        ..limits()
    };
    let bombs = [
        "let a = []; while (true) a.push(new Array(1e6).fill(1));",
        "let s = 'x'; while (true) s = s + s;",
        "const m = new Map(); for (let i = 0; ; i++) m.set(i, { i });",
        "return new ArrayBuffer(64 * 1024 * 1024).byteLength;",
    ];
    for source in bombs {
        let started = Instant::now();
        let error = run(source, &json!(null), &limits).await.unwrap_err();
        assert_eq!(
            error,
            SandboxError::MemoryLimit {
                limit: 16 * 1024 * 1024
            },
            "{source}"
        );
        assert!(started.elapsed() < SANE, "{source}");
    }
    // Catching the error does not lift the limit: the script goes on within it.
    let caught = "const a = []; try { for (;;) a.push(new Array(1e4).fill(1)); } catch (e) { return a.length; }";
    let kept = run(caught, &json!(null), &limits).await.unwrap().output;
    let kept = kept.as_u64().expect("a count");
    // Each array holds 1e4 values of at least 8 bytes: at most 209 of them fit in 16 MiB.
    assert!((10..210).contains(&kept), "{kept}");
    // The input counts too.
    let big = json!({ "blob": "y".repeat(20 * 1024 * 1024) });
    let error = run("return 1;", &big, &limits).await.unwrap_err();
    assert!(
        matches!(error, SandboxError::MemoryLimit { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn deep_recursion_is_a_stack_overflow() {
    for source in [
        "function f(n) { return f(n + 1) + 1; } return f(0);",
        "const g = () => [g()]; return g();",
        "return JSON.parse('['.repeat(1e5) + ']'.repeat(1e5));",
    ] {
        let error = run(source, &json!(null), &limits()).await.unwrap_err();
        assert_eq!(error, SandboxError::StackOverflow, "{source}");
    }
    // A caught overflow is just an exception the script handled.
    let caught = "function f() { return f(); } try { f(); } catch (e) { return e.name; }";
    let outcome = run(caught, &json!(null), &limits()).await.unwrap();
    assert_eq!(outcome.output, json!("RangeError"));
}

#[tokio::test]
async fn output_bomb_is_output_too_large() {
    // Memory is generous so that the output limit, not the memory limit, is what trips.
    let limits = Limits {
        memory_bytes: 256 * 1024 * 1024,
        output_bytes: 1024 * 1024,
        ..limits()
    };
    let error = run(
        "return 'x'.repeat(10 * 1024 * 1024);",
        &json!(null),
        &limits,
    )
    .await
    .unwrap_err();
    assert_eq!(
        error,
        SandboxError::OutputTooLarge {
            limit: 1024 * 1024,
            size: 10 * 1024 * 1024 + 2
        }
    );
    let fits = run("return 'x'.repeat(1024 * 1024 - 2);", &json!(null), &limits).await;
    assert_eq!(
        fits.unwrap().output.as_str().map(str::len),
        Some(1024 * 1024 - 2)
    );
}

#[tokio::test]
async fn zero_limits_are_not_unlimited() {
    let no_memory = Limits {
        memory_bytes: 0,
        ..limits()
    };
    let error = run(
        "return [1, 2, 3].map(x => ({ x }));",
        &json!(null),
        &no_memory,
    )
    .await;
    assert!(
        matches!(error, Err(SandboxError::MemoryLimit { .. })),
        "{error:?}"
    );
    let no_stack = Limits {
        stack_bytes: 0,
        ..limits()
    };
    let error = run(
        "function f() { return 1; } return f();",
        &json!(null),
        &no_stack,
    )
    .await;
    assert_eq!(error, Err(SandboxError::StackOverflow));
    let no_time = cpu(0);
    let error = run("return 1;", &json!(null), &no_time).await;
    assert!(
        matches!(error, Err(SandboxError::TimeLimit { .. })),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_script_does_not_harm_other_executions() {
    let runaway = tokio::spawn(async {
        let result = run("while (true) {}", &json!(null), &cpu(1000)).await;
        (result, Instant::now())
    });
    let mut normal = tokio::task::JoinSet::new();
    for i in 0..20 {
        normal.spawn(async move {
            let source = "let s = 0; for (let k = 0; k <= input.n; k++) s += k; return s;";
            run(source, &json!({ "n": i * 100 }), &limits())
                .await
                .map(|o| (i, o.output))
        });
    }
    let mut done = 0;
    while let Some(joined) = normal.join_next().await {
        let (i, output) = joined.expect("task").expect("a normal script succeeds");
        assert_eq!(output, json!((i * 100) * (i * 100 + 1) / 2));
        done += 1;
    }
    let normals_finished = Instant::now();
    assert_eq!(done, 20);
    let (result, runaway_finished) = runaway.await.expect("task");
    assert!(
        matches!(result, Err(SandboxError::TimeLimit { .. })),
        "{result:?}"
    );
    // The normal scripts did not wait for the runaway one.
    assert!(normals_finished < runaway_finished);
}

#[tokio::test]
async fn queued_jobs_are_held_to_the_limits() {
    let limits = Limits {
        memory_bytes: 16 * 1024 * 1024,
        cpu_time: Duration::from_millis(200),
        ..limits()
    };
    let error = run(
        "queueMicrotask(() => { const a = []; for (;;) a.push({}); }); return 1;",
        &json!(null),
        &limits,
    )
    .await;
    assert_eq!(
        error,
        Err(SandboxError::MemoryLimit {
            limit: 16 * 1024 * 1024
        })
    );
    let error = run(
        "Promise.resolve().then(() => { for (;;) {} }); return 1;",
        &json!(null),
        &limits,
    )
    .await;
    assert_eq!(
        error,
        Err(SandboxError::TimeLimit {
            limit: Duration::from_millis(200)
        })
    );
}

#[tokio::test]
async fn a_catastrophic_regexp_stops_at_the_cpu_limit() {
    // QuickJS-ng's regexp engine polls the interrupt handler while it backtracks: this match
    // would take hours. (Without polling, the watchdog would answer after the 30 s wall limit.)
    let limits = Limits {
        wall_time: Duration::from_secs(30),
        ..cpu(200)
    };
    let started = Instant::now();
    let error = run(
        "return /(a+)+$/.test('a'.repeat(40) + 'b');",
        &json!(null),
        &limits,
    )
    .await;
    assert_eq!(
        error,
        Err(SandboxError::TimeLimit {
            limit: Duration::from_millis(200)
        })
    );
    assert!(started.elapsed() < SANE, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_string_longer_than_any_memory_limit_is_a_memory_limit_error() {
    // Concatenation builds ropes: `s + s` does not copy, so the string reaches QuickJS's maximum
    // length (2^30 - 1) before the memory limit. A limit below 1 GiB could never hold it.
    let source = "let s = 'x'; while (true) s = s + s;";
    for memory_bytes in [1024 * 1024, 32 * 1024 * 1024, (1 << 30) - 1] {
        let limits = Limits {
            memory_bytes,
            ..limits()
        };
        let error = run(source, &json!(null), &limits).await;
        assert_eq!(
            error,
            Err(SandboxError::MemoryLimit {
                limit: memory_bytes
            })
        );
    }
    // Above that, the limit is not what stopped the script: QuickJS's own bound is.
    let limits = Limits {
        memory_bytes: 2 << 30,
        ..limits()
    };
    match run(source, &json!(null), &limits).await {
        Err(SandboxError::Thrown { message, .. }) => {
            assert_eq!(message, "InternalError: string too long")
        }
        other => panic!("expected Thrown, got {other:?}"),
    }
}
