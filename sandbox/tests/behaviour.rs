//! What a script computes, how its errors are reported, and what it cannot reach.

use sandbox::{run, Limits, Outcome, SandboxError};
use serde_json::{json, Value};

/// The defaults, with a wall-clock backstop that a busy test machine cannot reach.
fn limits() -> Limits {
    Limits {
        wall_time: std::time::Duration::from_secs(120),
        ..Limits::default()
    }
}

async fn ok(source: &str, input: Value) -> Outcome {
    match run(source, &input, &limits()).await {
        Ok(outcome) => outcome,
        Err(e) => panic!("{source:?} failed: {e:?}"),
    }
}

async fn fails(source: &str) -> SandboxError {
    match run(source, &json!(null), &limits()).await {
        Ok(outcome) => panic!("{source:?} succeeded: {outcome:?}"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn returns_computed_json_from_input() {
    let source = "return { total: input.items.reduce((a, b) => a + b, 0), n: input.items.length };";
    let outcome = ok(source, json!({ "items": [1, 2, 3.5] })).await;
    assert_eq!(outcome.output, json!({ "total": 6.5, "n": 3 }));
    assert!(outcome.logs.is_empty());
    assert!(outcome.cpu_time > std::time::Duration::ZERO);
}

#[tokio::test]
async fn returns_every_kind_of_json_value() {
    let cases = [
        (
            "return [1, 'two', null, true, { a: [] }];",
            json!([1, "two", null, true, { "a": [] }]),
        ),
        ("return 42;", json!(42)),
        ("return -0.25;", json!(-0.25)),
        ("return 'héllo ✓';", json!("héllo ✓")),
        ("return null;", json!(null)),
        ("return undefined;", json!(null)),
        ("let x = 1;", json!(null)),
        ("return { skip: undefined, keep: 1 };", json!({ "keep": 1 })),
        ("return new Date(0);", json!("1970-01-01T00:00:00.000Z")),
        ("return [NaN, Infinity];", json!([null, null])),
        ("return input;", json!({ "echo": [1, { "deep": "yes" }] })),
    ];
    for (source, expected) in cases {
        let input = json!({ "echo": [1, { "deep": "yes" }] });
        assert_eq!(ok(source, input).await.output, expected, "{source}");
    }
}

#[tokio::test]
async fn input_is_data_never_code() {
    let hostile = json!({ "s": "\"); throw new Error('injected'); (\"", "t": "*/ }) ; //" });
    let outcome = ok("return input;", hostile.clone()).await;
    assert_eq!(outcome.output, hostile);
}

#[tokio::test]
async fn syntax_error_reports_message_and_position() {
    match fails("let a = 1;\nlet b = 2;\n  let x = ;").await {
        SandboxError::Syntax {
            message,
            line,
            column,
        } => {
            assert!(message.contains("unexpected token"), "{message}");
            assert_eq!(line, Some(3));
            // The unexpected token: the `;` after `=`.
            assert_eq!(column, Some(11));
        }
        other => panic!("expected Syntax, got {other:?}"),
    }
    let error = fails("return (1 +").await;
    assert!(matches!(error, SandboxError::Syntax { .. }), "{error:?}");
    assert!(error.to_string().starts_with("syntax error"), "{error}");
    let error = fails("const x = await 1; return x;").await;
    assert!(
        error.to_string().contains("`await` is not available"),
        "{error}"
    );
}

#[tokio::test]
async fn thrown_errors_report_message_and_stack() {
    match fails("function check(v) { throw new TypeError('bad value ' + v); }\ncheck(7);").await {
        SandboxError::Thrown { message, stack } => {
            assert_eq!(message, "TypeError: bad value 7");
            let stack = stack.expect("an Error has a stack");
            // Frames name the user's own lines: the throw on line 1, the call on line 2.
            assert!(stack.contains("at check (code:1:"), "{stack}");
            assert!(stack.contains("(code:2:"), "{stack}");
            assert!(!stack.contains("eval_script"), "{stack}");
        }
        other => panic!("expected Thrown, got {other:?}"),
    }
    match fails("throw { code: 42 };").await {
        SandboxError::Thrown { message, stack } => {
            assert_eq!(message, r#"{"code":42}"#);
            assert_eq!(stack, None);
        }
        other => panic!("expected Thrown, got {other:?}"),
    }
    let error = fails("null.x").await;
    assert!(error.to_string().contains("TypeError"), "{error}");
    assert!(!error.retryable());
}

#[tokio::test]
async fn an_exception_in_a_queued_job_fails_the_execution() {
    match fails("queueMicrotask(() => { throw new RangeError('in a job'); }); return 1;").await {
        SandboxError::Thrown { message, stack } => {
            assert_eq!(message, "RangeError: in a job");
            assert!(stack.is_some_and(|s| s.contains("(code:1:")));
        }
        other => panic!("expected Thrown, got {other:?}"),
    }
    let error =
        fails("queueMicrotask(() => {}); queueMicrotask(() => { throw 5; }); return 1;").await;
    assert_eq!(
        error,
        SandboxError::Thrown {
            message: "5".to_owned(),
            stack: None
        }
    );
    // A rejected promise is not an exception of a job: nothing waits for it.
    let outcome = ok(
        "Promise.reject(new Error('a')); Promise.resolve().then(() => { throw new Error('b'); });
        return 2;",
        json!(null),
    )
    .await;
    assert_eq!(outcome.output, json!(2));
}

#[tokio::test]
async fn values_that_are_not_json_are_output_errors() {
    let cases = [
        ("return () => 1;", "function"),
        ("return { nested: { f() {} } };", "\"f\""),
        ("return Symbol('s');", "symbol"),
        ("return [1n];", "BigInt"),
        ("const a = {}; a.self = a; return a;", "circular"),
        ("return Promise.resolve(1);", "Promise"),
    ];
    for (source, needle) in cases {
        match fails(source).await {
            SandboxError::Output(message) => {
                assert!(message.contains(needle), "{source}: {message}")
            }
            other => panic!("{source}: expected Output, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn no_ambient_access() {
    let source =
        "return ['require', 'process', 'std', 'os', 'fetch', 'XMLHttpRequest', 'setTimeout',
        'setInterval', 'setImmediate', 'performance', 'Proxy', 'Deno', 'Bun', 'module', 'exports']
        .map(name => typeof globalThis[name]);";
    let outcome = ok(source, json!(null)).await;
    let kinds = outcome.output.as_array().expect("an array").clone();
    assert!(kinds.iter().all(|k| k == "undefined"), "{kinds:?}");

    // Dynamic import: no module loader, the promise rejects (its handlers still run and log).
    let source =
        "import('os').then(() => console.log('loaded'), e => console.log('rejected: ' + e));
        import('./data.json').catch(e => console.log('rejected too'));
        return 1;";
    let outcome = ok(source, json!(null)).await;
    assert_eq!(outcome.logs.len(), 2, "{:?}", outcome.logs);
    assert!(
        outcome.logs[0].starts_with("rejected: "),
        "{:?}",
        outcome.logs
    );
    assert_eq!(outcome.logs[1], "rejected too");

    let error = fails("import * as os from 'os'; return os.getenv('HOME');").await;
    assert!(matches!(error, SandboxError::Syntax { .. }), "{error:?}");
    let error =
        fails("return Atomics.wait(new Int32Array(new SharedArrayBuffer(16)), 0, 0, 10);").await;
    assert!(error.to_string().contains("cannot block"), "{error}");
    // eval and Function work, but only inside the same sandbox.
    let outcome = ok(
        "return [eval('typeof process'), Function('return typeof require')()];",
        json!(null),
    )
    .await;
    assert_eq!(outcome.output, json!(["undefined", "undefined"]));
}

#[tokio::test]
async fn each_run_is_isolated() {
    let pollute = "globalThis.leak = 'secret'; Object.prototype.polluted = true;
        Array.prototype.map = () => 'hijacked'; JSON.stringify = () => '\"hijacked\"';
        return [1].map(x => x);";
    assert_eq!(ok(pollute, json!(null)).await.output, json!("hijacked"));
    let probe =
        "return [typeof globalThis.leak, ({}).polluted === undefined, [1, 2].map(x => x * 2)];";
    let outcome = ok(probe, json!(null)).await;
    assert_eq!(outcome.output, json!(["undefined", true, [2, 4]]));
}

#[tokio::test]
async fn console_is_captured_and_bounded() {
    let source = "console.log('a', 1, { b: [2] }, undefined, null, () => 1, Symbol('s'));
        console.warn('careful'); console.error(new Error('bad').message); console.info('i');
        for (let i = 0; i < 50; i++) console.log('line ' + i);
        console.log('x'.repeat(100));
        return 'done';";
    let limits = Limits {
        log_lines: 10,
        log_line_bytes: 60,
        ..limits()
    };
    let outcome = run(source, &json!(null), &limits).await.expect("runs");
    assert_eq!(outcome.output, json!("done"));
    assert_eq!(outcome.logs.len(), 10);
    assert_eq!(
        outcome.logs[0],
        "a 1 {\"b\":[2]} undefined null () => 1 Symbol(s)"
    );
    assert_eq!(outcome.logs[1], "[warn] careful");
    assert_eq!(outcome.logs[2], "[error] bad");
    assert_eq!(outcome.logs[3], "i");
    assert_eq!(outcome.logs[4], "line 0");
    assert_eq!(outcome.logs[9], "line 5");
    assert_eq!(outcome.logs_dropped, 45);

    let outcome = run(
        "console.log('y'.repeat(100)); return 1;",
        &json!(null),
        &limits,
    )
    .await
    .expect("runs");
    assert_eq!(outcome.logs, vec![format!("{}…", "y".repeat(60))]);
}

#[tokio::test]
async fn array_methods_keep_their_behaviour() {
    // The prelude wraps Array.prototype methods; they must behave like the originals.
    let source = "const a = [3, 1, 10, 2];
        const like = { length: 3, 0: 'x', 2: 'z' };
        return [
          a.slice().sort(), a.toSorted((x, y) => x - y), a.indexOf(10), a.includes(4),
          [[1, [2, [3]]], 4].flat(Infinity), [1, 2].flatMap(x => [x, [x]]),
          [1].concat([2], 3, [[4]]), a.reverse() === a, a.join('-'),
          Array.prototype.join.call(like, '+'), Array.prototype.map.call('ab', c => c + c),
          Array.prototype.indexOf.length, Array.prototype.reduce.name,
          Array.prototype.concat.call(1, 2).length,
          [, 1].findIndex(x => x === undefined), [5, 6].with(0, 7),
        ];";
    let outcome = ok(source, json!(null)).await;
    let expected = json!([
        [1, 10, 2, 3],
        [1, 2, 3, 10],
        2,
        false,
        [1, 2, 3, 4],
        [1, [1], 2, [2]],
        [1, 2, 3, [4]],
        true,
        "2-10-1-3",
        "x++z",
        ["aa", "bb"],
        1,
        "reduce",
        2,
        0,
        [7, 6],
    ]);
    assert_eq!(outcome.output, expected);
}

#[test]
fn no_error_is_retryable() {
    let errors = [
        SandboxError::Syntax {
            message: "m".into(),
            line: Some(1),
            column: None,
        },
        SandboxError::Thrown {
            message: "m".into(),
            stack: None,
        },
        SandboxError::TimeLimit {
            limit: std::time::Duration::from_secs(1),
        },
        SandboxError::MemoryLimit { limit: 1 },
        SandboxError::StackOverflow,
        SandboxError::OutputTooLarge { limit: 1, size: 2 },
        SandboxError::Output("m".into()),
        SandboxError::Internal("m".into()),
    ];
    for error in errors {
        assert!(!error.retryable(), "{error}");
        assert!(!error.to_string().is_empty());
    }
    assert_eq!(
        SandboxError::Syntax {
            message: "m".into(),
            line: Some(2),
            column: Some(5)
        }
        .to_string(),
        "syntax error at line 2, column 5: m"
    );
}
