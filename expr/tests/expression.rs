//! Behaviour of compiled jq expressions: paths in both forms, built-ins, errors, output caps.

use expr::{truthy, ExprError, Expression};
use serde_json::{json, Value};

fn ctx() -> Value {
    json!({
        "input": {"name": "Ada", "tags": ["x", "y"], "wanted": 2},
        "steps": {
            "fetch": {"output": {"status": 200, "body": {"id": 42, "name": "Widget", "price": 2.5}}},
            "list": {"output": {"items": [
                {"id": 1, "name": "Alpha", "qty": 3},
                {"id": 2, "name": "Beta", "qty": 0},
                {"id": 3, "name": "Gamma", "qty": 7}
            ]}}
        },
        "execution": {"id": "exec-1", "workflow_id": "wf-9", "attempt": 1},
        "trigger": {"kind": "webhook", "body": {"event": "push"}}
    })
}

fn eval(source: &str) -> Value {
    Expression::compile(source)
        .unwrap_or_else(|e| panic!("{source}: {e}"))
        .eval(&ctx())
        .unwrap_or_else(|e| panic!("{source}: {e}"))
}

fn eval_err(source: &str) -> ExprError {
    Expression::compile(source)
        .unwrap_or_else(|e| panic!("{source}: {e}"))
        .eval(&ctx())
        .expect_err(source)
}

fn compile_err(source: &str) -> String {
    match Expression::compile(source) {
        Err(ExprError::Compile {
            expression,
            message,
        }) => {
            assert_eq!(expression, source);
            message
        }
        other => panic!("{source}: expected a compile error, got {other:?}"),
    }
}

#[test]
fn jq_style_paths() {
    assert_eq!(eval(".steps.fetch.output.body.id"), json!(42));
    assert_eq!(eval(".input.name"), json!("Ada"));
    assert_eq!(eval(".execution.attempt"), json!(1));
    assert_eq!(eval(r#".steps["fetch"].output.status"#), json!(200));
}

#[test]
fn short_form_paths() {
    assert_eq!(eval("steps.fetch.output.body.id"), json!(42));
    assert_eq!(eval("input.name"), json!("Ada"));
    assert_eq!(eval("execution.id"), json!("exec-1"));
    assert_eq!(eval("execution.workflow_id"), json!("wf-9"));
    assert_eq!(eval("trigger"), ctx()["trigger"]);
    assert_eq!(eval("trigger.body.event"), json!("push"));
    assert_eq!(eval("input.tags[1]"), json!("y"));
    assert_eq!(eval(r#"steps["fetch"].output.status"#), json!(200));
    assert_eq!(eval("$steps.fetch.output.status"), json!(200));
}

#[test]
fn short_form_refers_to_the_root_even_inside_map() {
    // Inside select, `.` is an item, but `input` still means the execution input.
    assert_eq!(
        eval("steps.list.output.items | map(select(.id == input.wanted)) | .[0].name"),
        json!("Beta")
    );
    // jq-style paths stay relative to `.`, as in jq.
    assert_eq!(
        eval(".steps.list.output.items | map(.input)"),
        json!([null, null, null])
    );
}

#[test]
fn user_variables_can_shadow_the_short_names() {
    assert_eq!(eval("1 as $steps | $steps"), json!(1));
    assert_eq!(eval("5 as $input | $input"), json!(5));
    // Definitions could shadow them too, but expressions may not define functions any more.
    let message = compile_err("def input: 5; input");
    assert!(message.contains("`def` is not allowed"), "{message}");
}

#[test]
fn arrays_indexing_and_slices() {
    assert_eq!(eval("steps.list.output.items[0].name"), json!("Alpha"));
    assert_eq!(eval("steps.list.output.items[-1].id"), json!(3));
    assert_eq!(
        eval("steps.list.output.items[1:] | map(.id)"),
        json!([2, 3])
    );
    assert_eq!(eval("[steps.list.output.items[].qty]"), json!([3, 0, 7]));
    assert_eq!(eval("steps.list.output.items[10]"), Value::Null);
}

#[test]
fn select_map_interpolation_and_arithmetic() {
    assert_eq!(
        eval("steps.list.output.items | map(select(.qty > 0) | .name)"),
        json!(["Alpha", "Gamma"])
    );
    assert_eq!(eval(r#""Hello, \(input.name)!""#), json!("Hello, Ada!"));
    assert_eq!(eval("steps.fetch.output.body.price * 4"), json!(10));
    assert_eq!(eval("steps.fetch.output.body.price + 1"), json!(3.5));
    assert_eq!(eval("10 / 4"), json!(2.5));
    assert_eq!(eval("10 / 2"), json!(5));
    assert_eq!(eval("7 % 3"), json!(1));
    assert_eq!(eval("[steps.list.output.items[].qty] | add"), json!(10));
    assert_eq!(eval(r#"input.name + "!""#), json!("Ada!"));
    assert_eq!(
        eval("{id: steps.fetch.output.body.id, who: input.name}"),
        json!({"id": 42, "who": "Ada"})
    );
    assert_eq!(
        eval("if input.wanted > 1 then \"big\" else \"small\" end"),
        json!("big")
    );
    assert_eq!(eval(".input.missing // \"default\""), json!("default"));
}

#[test]
fn standard_library_builtins() {
    assert_eq!(eval("input.tags | length"), json!(2));
    assert_eq!(eval("input.name | length"), json!(3));
    assert_eq!(
        eval("steps.fetch.output.body | keys"),
        json!(["id", "name", "price"])
    );
    assert_eq!(eval("input.name | ascii_downcase"), json!("ada"));
    assert_eq!(eval("input.name | ascii_upcase"), json!("ADA"));
    assert_eq!(eval("steps.fetch.output.body.id | tostring"), json!("42"));
    assert_eq!(eval(r#""17" | tonumber"#), json!(17));
    assert_eq!(eval("input.tags | join(\",\")"), json!("x,y"));
    assert_eq!(eval(r#"input.name | test("^A")"#), json!(true));
    assert_eq!(
        eval("steps.list.output.items | sort_by(-.qty) | .[0].name"),
        json!("Gamma")
    );
    assert_eq!(eval("[steps.list.output.items[].qty] | max"), json!(7));
    assert_eq!(eval(r#"input.name | @base64"#), json!("QWRh"));
    assert_eq!(eval("steps.fetch.output.body | has(\"id\")"), json!(true));
    assert_eq!(
        eval("input | to_entries | map(.key)"),
        json!(["name", "tags", "wanted"])
    );
    assert_eq!(eval("input.tags | tojson"), json!(r#"["x","y"]"#));
    assert_eq!(eval("0 | todate"), json!("1970-01-01T00:00:00Z"));
}

#[test]
fn missing_paths_give_null() {
    assert_eq!(eval(".steps.nope.output.x"), Value::Null);
    assert_eq!(eval("steps.nope.output.x"), Value::Null);
    assert_eq!(eval("input.missing"), Value::Null);
    assert_eq!(
        Expression::compile("steps.a.output")
            .unwrap()
            .eval(&json!({}))
            .unwrap(),
        Value::Null
    );
}

#[test]
fn short_names_are_null_when_the_context_is_not_an_object() {
    let e = Expression::compile("[steps, input.x, $trigger, .]").unwrap();
    assert_eq!(e.eval(&json!(5)).unwrap(), json!([null, null, null, 5]));
}

#[test]
fn no_output_gives_null() {
    assert_eq!(eval("empty"), Value::Null);
    assert_eq!(eval("input | select(.name == \"Bob\")"), Value::Null);
}

#[test]
fn runtime_errors_carry_jaqs_message() {
    match eval_err("steps.fetch.output.status | .a") {
        ExprError::Runtime {
            expression,
            message,
        } => {
            assert_eq!(expression, "steps.fetch.output.status | .a");
            assert!(message.contains("cannot index 200"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match eval_err(r#"error("custom failure")"#) {
        ExprError::Runtime { message, .. } => assert_eq!(message, "custom failure"),
        other => panic!("{other:?}"),
    }
    let err = eval_err(r#"{} + 1"#);
    assert!(matches!(err, ExprError::Runtime { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("expression `{} + 1` failed: "),
        "{err}"
    );
    // `try` turns errors into no output, as in jq.
    assert_eq!(eval("try (1 | .a) catch \"caught\""), json!("caught"));
    assert_eq!(eval("(1 | .a)?"), Value::Null);
}

#[test]
fn halt_is_an_error_not_a_process_exit() {
    match eval_err("halt") {
        ExprError::Runtime { message, .. } => assert!(message.contains("halt"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        eval_err("\"bye\" | halt_error"),
        ExprError::Runtime { .. }
    ));
}

#[test]
fn non_string_object_keys_are_a_runtime_error() {
    match eval_err("{(1): 2}") {
        ExprError::Runtime { message, .. } => {
            assert!(message.contains("not a string"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn compile_errors_point_at_the_problem() {
    let message = compile_err("steps.fetch.output | lenght");
    assert!(message.contains("undefined filter lenght/0"), "{message}");
    assert!(message.contains("line 1, column 22"), "{message}");

    let message = compile_err(".a | ");
    assert!(message.contains("expected term"), "{message}");
    assert!(message.contains("end of the expression"), "{message}");

    let message = compile_err("[1, 2");
    assert!(message.contains("closing bracket"), "{message}");

    let message = compile_err("$nope");
    assert!(message.contains("undefined variable $nope"), "{message}");

    let message = compile_err("if . then 1");
    assert!(message.contains("else or end"), "{message}");

    let message = compile_err("1 +\n  foo(1)");
    assert!(message.contains("line 2, column 3"), "{message}");

    let message = compile_err("   ");
    assert!(message.contains("empty"), "{message}");

    let err = Expression::compile(".a |").unwrap_err();
    assert!(
        err.to_string().starts_with("invalid expression `.a |`: "),
        "{err}"
    );
}

#[test]
fn env_is_not_available() {
    let message = compile_err("env");
    assert!(message.contains("undefined filter env/0"), "{message}");
    let message = compile_err("$ENV.PATH");
    assert!(message.contains("undefined variable $ENV"), "{message}");
}

#[test]
fn eval_stops_after_the_first_output() {
    assert_eq!(eval("range(1; infinite)"), json!(1));
    assert_eq!(eval("range(infinite)"), json!(0));
    assert_eq!(eval("1, error(\"never reached\")"), json!(1));
}

#[test]
fn eval_all_collects_outputs() {
    let e = Expression::compile("steps.list.output.items[].name").unwrap();
    assert_eq!(
        e.eval_all(&ctx(), 10).unwrap(),
        vec![json!("Alpha"), json!("Beta"), json!("Gamma")]
    );
    assert_eq!(e.eval_all(&ctx(), 3).unwrap().len(), 3);
    assert!(Expression::compile("empty")
        .unwrap()
        .eval_all(&ctx(), 5)
        .unwrap()
        .is_empty());
}

#[test]
fn eval_all_caps_runaway_generators() {
    for source in [
        "range(1; infinite)",
        "range(infinite)",
        "limit(infinite; range(0; infinite; 2))",
    ] {
        let e = Expression::compile(source).unwrap();
        match e.eval_all(&json!(0), 100) {
            Err(ExprError::TooManyOutputs { expression, limit }) => {
                assert_eq!(expression, source);
                assert_eq!(limit, 100);
            }
            other => panic!("{source}: {other:?}"),
        }
    }
    let e = Expression::compile("1, 2").unwrap();
    assert!(matches!(
        e.eval_all(&ctx(), 1),
        Err(ExprError::TooManyOutputs { limit: 1, .. })
    ));
    assert!(matches!(
        e.eval_all(&ctx(), 0),
        Err(ExprError::TooManyOutputs { limit: 0, .. })
    ));
    assert_eq!(e.eval_all(&ctx(), 2).unwrap(), vec![json!(1), json!(2)]);
}

#[test]
fn eval_all_reports_errors_after_outputs() {
    let e = Expression::compile("1, (\"x\" | .[0])").unwrap();
    assert!(matches!(
        e.eval_all(&ctx(), 10),
        Err(ExprError::Runtime { .. })
    ));
}

#[test]
fn expressions_are_shareable() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<Expression>();
    assert_send_sync::<expr::Template>();
    assert_send_sync::<expr::ValueTemplate>();
    assert_send_sync::<ExprError>();

    let e = Expression::compile("input.name | ascii_upcase").unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let e = e.clone();
            std::thread::spawn(move || {
                e.eval(&json!({"input": {"name": format!("t{i}")}}))
                    .unwrap()
            })
        })
        .collect();
    let outs: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        outs,
        vec![json!("T0"), json!("T1"), json!("T2"), json!("T3")]
    );
    assert_eq!(e.source(), "input.name | ascii_upcase");
}

#[test]
fn truthiness_follows_jq() {
    assert!(!truthy(&Value::Null));
    assert!(!truthy(&json!(false)));
    for v in [
        json!(true),
        json!(0),
        json!(""),
        json!([]),
        json!({}),
        json!("false"),
    ] {
        assert!(truthy(&v), "{v}");
    }
    let cond = Expression::compile("steps.fetch.output.status == 200").unwrap();
    assert!(truthy(&cond.eval(&ctx()).unwrap()));
    let cond = Expression::compile("input.missing").unwrap();
    assert!(!truthy(&cond.eval(&ctx()).unwrap()));
}
