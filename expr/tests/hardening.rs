//! Untrusted expressions: what is rejected at compile time, and what the limits stop at run
//! time without taking the process down (a stack overflow or a failed allocation would abort
//! this test binary, failing every test in it).

use std::time::{Duration, Instant};

use expr::{abandoned_threads, render, EvalLimits, ExprError, Expression, ValueTemplate};
use serde_json::{json, Value};

fn compile_err(source: &str) -> String {
    match Expression::compile(source) {
        Err(ExprError::Compile { message, .. }) => message,
        other => panic!("{source}: expected a compile error, got {other:?}"),
    }
}

fn eval_with(source: &str, limits: &EvalLimits) -> Result<Value, ExprError> {
    Expression::compile(source)
        .unwrap_or_else(|e| panic!("{source}: {e}"))
        .eval_with(&json!({"input": {"n": 3}}), limits)
}

fn eval(source: &str) -> Result<Value, ExprError> {
    eval_with(source, &EvalLimits::default())
}

/// Limits under which only the clock stops a runaway program.
fn only_time(time: Duration) -> EvalLimits {
    EvalLimits {
        time,
        max_steps: usize::MAX,
        ..EvalLimits::default()
    }
}

#[test]
fn unbounded_recursion_is_rejected_at_compile_time() {
    let message = compile_err("def f: [f]; f");
    assert!(
        message.contains("`def` is not allowed in workflow expressions"),
        "{message}"
    );
    assert!(message.contains("line 1, column 5"), "{message}");
    for (source, what) in [
        ("[recurse(.+1)]", "`recurse/1` is not allowed"),
        ("[repeat(1)]", "`repeat/1` is not allowed"),
        ("until(false; .)", "`until/2` is not allowed"),
        ("[.[] | while(. < 10; . + 1)]", "`while/2` is not allowed"),
        ("recurse(.[]?; . != null)", "`recurse/2` is not allowed"),
        (
            "[1] | combinations(infinite)",
            "`combinations/1` is not allowed",
        ),
        ("1 + (def g: 1; g)", "`def` is not allowed"),
        ("[limit(3; repeat(1))]", "`repeat/1` is not allowed"),
    ] {
        let message = compile_err(source);
        assert!(message.contains(what), "{source}: {message}");
    }
    let message = compile_err("[repeat(1)]");
    assert!(message.contains("it can loop forever"), "{message}");
    assert!(message.contains("limit(n; ...)"), "{message}");
    let message = compile_err("__jobsprint_main__");
    assert!(message.contains("reserved"), "{message}");
}

#[test]
fn words_that_only_look_like_forbidden_constructs_compile() {
    let ctx = json!({"repeat_count": 2, "until": "x", "def": 1});
    let run = |source: &str| {
        Expression::compile(source)
            .unwrap_or_else(|e| panic!("{source}: {e}"))
            .eval(&ctx)
            .unwrap_or_else(|e| panic!("{source}: {e}"))
    };
    assert_eq!(run(r#""define""#), json!("define"));
    assert_eq!(run(r#""def f: f; f""#), json!("def f: f; f"));
    assert_eq!(
        run(r#""repeat(1) until(false; .)""#),
        json!("repeat(1) until(false; .)")
    );
    assert_eq!(run(".repeat_count"), json!(2));
    assert_eq!(run(".until"), json!("x"));
    assert_eq!(run(r#".["def"]"#), json!(1));
    assert_eq!(run("[recurse] | length"), json!(4));
    assert_eq!(run("[..] | length"), json!(4));
    assert_eq!(run("{recurse: 1} | .recurse"), json!(1));
}

#[test]
fn cpu_loops_stop_at_the_time_limit() {
    for source in [
        "last(range(infinite))",
        "[range(infinite)] | length",
        "reduce range(infinite) as $i (0; . + 1)",
        "try last(range(infinite)) catch 0",
        "[range(1e9)] as $a | $a | length",
    ] {
        let started = Instant::now();
        let err = eval_with(source, &only_time(Duration::from_millis(300))).unwrap_err();
        assert!(
            matches!(&err, ExprError::TimeLimit { limit, .. } if *limit == Duration::from_millis(300)),
            "{source}: {err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3), "{source}");
        assert!(err.to_string().contains("ran too long"), "{err}");
    }
    // Normal expressions still evaluate afterwards.
    assert_eq!(eval("input.n + 1").unwrap(), json!(4));
}

#[test]
fn default_limits_stop_runaways_within_a_few_seconds() {
    for source in [
        "last(range(infinite))",
        "[range(infinite)]",
        "[limit(infinite; range(infinite))] | length",
    ] {
        let started = Instant::now();
        let err = eval(source).unwrap_err();
        assert!(
            matches!(
                err,
                ExprError::TimeLimit { .. } | ExprError::StepLimit { .. }
            ),
            "{source}: {err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{source}");
    }
    let slow_machine = EvalLimits {
        time: Duration::from_secs(60),
        ..EvalLimits::default()
    };
    let err = eval_with("[range(10000000)] | length", &slow_machine).unwrap_err();
    assert!(
        matches!(
            err,
            ExprError::StepLimit {
                limit: 4_000_000,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(eval("[range(1000)] | length").unwrap(), json!(1000));
}

#[test]
fn concurrent_evaluations_succeed_while_a_runaway_runs() {
    let runaway = std::thread::spawn(|| {
        let started = Instant::now();
        let result = eval_with("last(range(infinite))", &only_time(Duration::from_secs(2)));
        (result, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(100));
    let expression = Expression::compile("[range(input.n)] | map(. * 2) | add").unwrap();
    let workers: Vec<_> = (0..20)
        .map(|i| {
            let expression = expression.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let value = expression.eval(&json!({"input": {"n": i}})).unwrap();
                (value, started.elapsed())
            })
        })
        .collect();
    for (i, worker) in workers.into_iter().enumerate() {
        let (value, took) = worker.join().unwrap();
        let i = i as i64;
        let expected = if i == 0 {
            Value::Null
        } else {
            json!(i * (i - 1))
        };
        assert_eq!(value, expected);
        assert!(
            took < Duration::from_secs(1),
            "evaluation {i} took {took:?}"
        );
    }
    let (result, took) = runaway.join().unwrap();
    assert!(
        matches!(result, Err(ExprError::TimeLimit { .. })),
        "{result:?}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn memory_bombs_stop_at_the_length_limits() {
    // Generous time, so that unoptimised builds on a busy machine hit the other limits first.
    let limits = EvalLimits {
        time: Duration::from_secs(20),
        ..EvalLimits::default()
    };
    for source in [
        r#""x" * 100000000000"#,
        r#""x" | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | .+. | length"#,
        r#"{a: "x"} | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a += .a | .a | length"#,
        "reduce range(64) as $i ([0]; . + .) | length",
        "reduce range(64) as $i (null; [., .]) | tojson",
        "reduce range(64) as $i (null; [., .]) | \"\\(.)\"",
        "reduce range(64) as $i (null; {a: ., b: .}) | tostring | length",
        "reduce range(3000) as $i (7; . * .)",
    ] {
        let result = eval_with(source, &limits);
        match result {
            Err(ExprError::ResourceLimit { message, .. }) => {
                assert!(message.contains("limit"), "{source}: {message}")
            }
            // Huge integers become floats (as in jq) instead of growing forever.
            Ok(value) if source.contains("7;") => assert!(value.is_number(), "{value}"),
            other => panic!("{source}: {other:?}"),
        }
    }
    // Many values each under the length limit: the memory limit stops them.
    for source in [
        r#"[range(1000) | "x" * 1000000] | length"#,
        r#"[range(1000) | "x" * 1000000 | ascii_upcase] | length"#,
        r#"("x" * 1000000) as $s | [range(1000) | $s + "y"] | length"#,
        "[range(1000000)] as $a | [range(1000) | $a + [1]] | length",
    ] {
        let err = eval_with(source, &limits).unwrap_err();
        assert!(
            matches!(&err, ExprError::ResourceLimit { message, .. } if message.contains("memory limit")),
            "{source}: {err:?}"
        );
    }
    let err = eval_with("reduce range(64) as $i (null; [., .])", &limits).unwrap_err();
    assert!(matches!(err, ExprError::OutputTooLarge { .. }), "{err:?}");
}

#[test]
fn deep_values_and_programs_do_not_overflow_the_stack() {
    // Printing, parsing or returning values nested far deeper than anything legitimate.
    for source in [
        "reduce range(100000) as $i (0; [.]) | tojson",
        "reduce range(100000) as $i (0; {a: .}) | tostring",
        r#""[" * 1000000 | fromjson"#,
        r#"("[" * 100000) + ("]" * 100000) | fromjson"#,
        "reduce range(20000) as $i (0; [.]) | . as $x | [$x] | contains([$x])",
        "reduce range(20000) as $i (0; {a: .}) | . * .",
        "reduce range(200) as $i (0; [.])",
    ] {
        let err = eval_with(source, &only_time(Duration::from_secs(20))).unwrap_err();
        assert!(
            matches!(&err, ExprError::ResourceLimit { message, .. } if message.contains("nested")
                || message.contains("deeper")),
            "{source}: {err:?}"
        );
    }
    // Errors embedding such values are printed with a bound, also when caught.
    let caught = eval("reduce range(64) as $i (null; [., .]) | try .a catch length").unwrap();
    assert!(caught.as_u64().is_some_and(|n| n < 100_000), "{caught}");
    let err = eval("reduce range(100000) as $i (0; [.]) | .a").unwrap_err();
    assert!(err.to_string().len() < 5000, "{err}");
    // Recursion that follows a deep value stops before exhausting the evaluator's stack.
    for source in [
        "reduce range(300000) as $i (0; [.]) | walk(.) | length",
        "reduce range(300000) as $i (0; [.]) | [..] | length",
        "reduce range(300000) as $i (0; [.]) | del(.. | numbers) | length",
        // Each pass makes the value 11 times deeper; jaq's `walk` first recurses to the leaves.
        "reduce range(30) as $i ([0]; walk([[[[[[[[[[.]]]]]]]]]])) | length",
    ] {
        match eval_with(source, &only_time(Duration::from_secs(30))) {
            Ok(_) | Err(ExprError::ResourceLimit { .. }) | Err(ExprError::TimeLimit { .. }) => {}
            Err(other) => panic!("{source}: {other:?}"),
        }
    }
    // A deeply nested program compiles and runs on an evaluator thread (the parser recurses:
    // on this test thread's 2 MiB stack it would overflow).
    let nested = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let err = eval(&nested).unwrap_err();
    assert!(
        matches!(&err, ExprError::ResourceLimit { message, .. } if message.contains("128")),
        "{err:?}"
    );
    let too_long = "[".repeat(20000);
    assert!(compile_err(&too_long).contains("bytes long"));
}

#[test]
fn templates_are_bounded_too() {
    let err = render(&json!({"a": "{{ last(range(infinite)) }}"}), &json!({})).unwrap_err();
    assert!(
        matches!(
            err.root_cause(),
            ExprError::TimeLimit { .. } | ExprError::StepLimit { .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("at /a: "), "{err}");
    let template = ValueTemplate::compile(&json!(["n={{ [range(infinite)] }}"])).unwrap();
    let err = template
        .render_with(&json!({}), &only_time(Duration::from_millis(200)))
        .unwrap_err();
    assert!(
        matches!(err.root_cause(), ExprError::TimeLimit { .. }),
        "{err:?}"
    );
    let err = render(&json!("{{ [range(1000)] }}"), &json!({}));
    assert_eq!(err.unwrap().as_array().map(Vec::len), Some(1000));
    let message = match ValueTemplate::compile(&json!({"x": "{{ def f: f; f }}"})) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("def must be rejected in templates"),
    };
    assert!(message.contains("`def` is not allowed"), "{message}");
}

#[test]
fn the_debug_built_ins_print_nothing_and_env_is_gone() {
    assert_eq!(eval("1 | debug | stderr | . + 1").unwrap(), json!(2));
    assert!(compile_err("env").contains("undefined filter env/0"));
    assert!(compile_err("$ENV").contains("undefined variable $ENV"));
    assert!(matches!(
        eval("\"bye\" | halt_error"),
        Err(ExprError::Runtime { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_and_sync_calls_work_inside_a_runtime() {
    let expression = Expression::compile("input.n * 2").unwrap();
    let ctx = json!({"input": {"n": 21}});
    let limits = EvalLimits::default();
    assert_eq!(
        expression.eval_async(&ctx, &limits).await.unwrap(),
        json!(42)
    );
    // The blocking API is safe here too (it goes through `block_in_place`).
    assert_eq!(expression.eval(&ctx).unwrap(), json!(42));
    let runaway = Expression::compile("last(range(infinite))").unwrap();
    let err = runaway
        .eval_async(&ctx, &only_time(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert!(matches!(err, ExprError::TimeLimit { .. }), "{err:?}");
    // Dropping the future stops the evaluation.
    let dropped = tokio::time::timeout(
        Duration::from_millis(100),
        runaway.eval_async(&ctx, &only_time(Duration::from_secs(30))),
    )
    .await;
    assert!(dropped.is_err());
    // Its thread was counted as abandoned until the evaluation noticed and stopped.
    let deadline = Instant::now() + Duration::from_secs(10);
    while abandoned_threads() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(abandoned_threads(), 0);
    let template = ValueTemplate::compile(&json!({"v": "{{ input.n }}"})).unwrap();
    assert_eq!(
        template.render_async(&ctx, &limits).await.unwrap(),
        json!({"v": 21})
    );
    assert_eq!(
        expr::render_async(&json!("{{ input.n + 1 }}"), &ctx)
            .await
            .unwrap(),
        json!(22)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn sync_calls_work_on_a_current_thread_runtime() {
    let expression = Expression::compile("input.n").unwrap();
    assert_eq!(
        expression.eval(&json!({"input": {"n": 1}})).unwrap(),
        json!(1)
    );
}
