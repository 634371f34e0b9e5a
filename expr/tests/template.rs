//! Behaviour of `{{ }}` templates: single strings and whole JSON configs.

use expr::{check, render, ExprError, Template, ValueTemplate};
use serde_json::{json, Value};

fn ctx() -> Value {
    json!({
        "input": {"name": "Ada", "count": 3, "flag": false, "nothing": null},
        "steps": {"a": {"output": {"id": 7, "user": {"name": "Bob", "roles": ["x", "y"]}, "ratio": 0.5}}},
        "execution": {"id": "exec-1", "workflow_id": "wf-9", "attempt": 2},
        "trigger": {"kind": "cron"}
    })
}

fn r(template: Value) -> Value {
    render(&template, &ctx()).unwrap_or_else(|e| panic!("{template}: {e}"))
}

fn s(template: &str) -> Value {
    r(json!(template))
}

fn template_problem(template: &str) -> String {
    match Template::parse(template) {
        Err(ExprError::Template { problem }) => problem,
        other => panic!("{template}: expected a template error, got {other:?}"),
    }
}

#[test]
fn whole_value_templates_keep_the_json_type() {
    assert_eq!(s("{{ steps.a.output.id }}"), json!(7));
    assert_eq!(s("{{steps.a.output.id}}"), json!(7));
    assert_eq!(
        s("  {{ steps.a.output.user }}\n"),
        json!({"name": "Bob", "roles": ["x", "y"]})
    );
    assert_eq!(s("{{ steps.a.output.user.roles }}"), json!(["x", "y"]));
    assert_eq!(s("{{ input.flag }}"), json!(false));
    assert_eq!(s("{{ input.nothing }}"), Value::Null);
    assert_eq!(s("{{ input.missing }}"), Value::Null);
    assert_eq!(s("{{ .execution.attempt + 1 }}"), json!(3));
    assert_eq!(s("{{ input.name }}"), json!("Ada"));
}

#[test]
fn interpolated_templates_render_text() {
    assert_eq!(s("Hello {{ input.name }}!"), json!("Hello Ada!"));
    assert_eq!(s("{{ input.name }}{{ input.count }}"), json!("Ada3"));
    assert_eq!(s("id={{ steps.a.output.id }}"), json!("id=7"));
    assert_eq!(s("ratio {{ steps.a.output.ratio }}"), json!("ratio 0.5"));
    assert_eq!(s("[{{ input.nothing }}]"), json!("[]"));
    assert_eq!(s("[{{ input.missing }}]"), json!("[]"));
    assert_eq!(s("flag={{ input.flag }}"), json!("flag=false"));
    assert_eq!(
        s("user: {{ steps.a.output.user }}"),
        json!(r#"user: {"name":"Bob","roles":["x","y"]}"#)
    );
    assert_eq!(
        s("{{ execution.id }}/{{ execution.attempt }}"),
        json!("exec-1/2")
    );
    assert_eq!(s("ünï {{ input.name }} ¢"), json!("ünï Ada ¢"));
}

#[test]
fn expressions_may_contain_braces_and_strings() {
    assert_eq!(s("{{ {n: input.name} }}"), json!({"n": "Ada"}));
    assert_eq!(s("{{ {a: {b: input.count}} }}"), json!({"a": {"b": 3}}));
    assert_eq!(s(r#"x{{ "}}" }}y"#), json!("x}}y"));
    assert_eq!(s(r#"{{ "Hi \(input.name)" }}"#), json!("Hi Ada"));
    assert_eq!(s(r#"{{ "a\({k: "}}"} | .k)b" }}"#), json!("a}}b"));
}

#[test]
fn escapes_give_literal_braces() {
    assert_eq!(s(r"\{{ input.name }}"), json!("{{ input.name }}"));
    assert_eq!(s(r"a \{{ b }} c"), json!("a {{ b }} c"));
    assert_eq!(s(r"\\{{ input.name }}"), json!(r"\Ada"));
    assert_eq!(s(r"\\\{{ x }}"), json!(r"\{{ x }}"));
    assert_eq!(
        s(r"C:\temp\{{ input.name }}"),
        json!(r"C:\temp{{ input.name }}")
    );
    assert_eq!(s(r"C:\temp\\{{ input.name }}"), json!(r"C:\temp\Ada"));
    assert_eq!(
        s(r"back\slash and }} alone"),
        json!(r"back\slash and }} alone")
    );
    assert_eq!(s("{ not a template }"), json!("{ not a template }"));
    // An escaped template is not a whole-value template.
    assert_eq!(s(r"\{{ 1 }}{{ 2 }}"), json!("{{ 1 }}2"));
}

#[test]
fn nested_objects_and_arrays_are_walked() {
    let config = json!({
        "url": "https://api.test/users/{{ steps.a.output.id }}",
        "method": "POST",
        "retries": 3,
        "verbose": true,
        "none": null,
        "{{ input.name }}": "keys are not templated",
        "headers": {"X-Exec": "{{ execution.id }}", "Accept": "application/json"},
        "body": {"names": ["{{ input.name }}", "{{ steps.a.output.user.name }}", 5], "user": "{{ steps.a.output.user }}"}
    });
    assert_eq!(
        r(config),
        json!({
            "url": "https://api.test/users/7",
            "method": "POST",
            "retries": 3,
            "verbose": true,
            "none": null,
            "{{ input.name }}": "keys are not templated",
            "headers": {"X-Exec": "exec-1", "Accept": "application/json"},
            "body": {"names": ["Ada", "Bob", 5], "user": {"name": "Bob", "roles": ["x", "y"]}}
        })
    );
    assert_eq!(
        r(json!(["{{ input.count }}", ["{{ input.count }}"]])),
        json!([3, [3]])
    );
    for scalar in [
        json!(1),
        json!(2.5),
        json!(true),
        Value::Null,
        json!("plain"),
    ] {
        assert_eq!(r(scalar.clone()), scalar);
    }
}

#[test]
fn unclosed_templates_are_errors_naming_the_position() {
    let problem = template_problem("Hello {{ input.name");
    assert!(problem.contains("character 7"), "{problem}");
    assert!(problem.contains("Hello {{ input.name"), "{problem}");
    assert!(problem.contains("never closed"), "{problem}");

    let problem = template_problem("{{ .a }} and {{ .b }");
    assert!(problem.contains("character 14"), "{problem}");

    let problem = template_problem("ü{{ \"}} ");
    assert!(problem.contains("character 2"), "{problem}");

    let problem = template_problem("x {{   }}");
    assert!(problem.contains("empty"), "{problem}");
    assert!(problem.contains("character 3"), "{problem}");

    let err = render(&json!("{{ x"), &ctx()).unwrap_err();
    assert!(err.to_string().starts_with("invalid template: "), "{err}");
}

#[test]
fn bad_expressions_in_templates_are_compile_errors() {
    match Template::parse("id: {{ steps.a.output | lenght }}") {
        Err(ExprError::Compile {
            expression,
            message,
        }) => {
            assert_eq!(expression, "steps.a.output | lenght");
            assert!(message.contains("lenght/0"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn check_compiles_without_evaluating_and_points_at_the_bad_string() {
    let good = json!({"a": "{{ error(\"only at run time\") }}", "b": ["{{ steps.x.output }}", 1]});
    assert_eq!(check(&good), Ok(()));
    assert!(render(&good, &ctx()).is_err());

    let bad = json!({"a": "ok", "nested": {"list": [1, "fine {{ .x }}", "bad {{ .x | }}"]}});
    let err = check(&bad).unwrap_err();
    match &err {
        ExprError::At { pointer, source } => {
            assert_eq!(pointer, "/nested/list/2");
            assert!(matches!(**source, ExprError::Compile { .. }), "{source:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(err.root_cause(), ExprError::Compile { .. }));
    assert!(
        err.to_string()
            .starts_with("at /nested/list/2: invalid expression `.x |`"),
        "{err}"
    );

    let err = check(&json!({"a/b": {"c~d": "{{ x"}})).unwrap_err();
    assert!(
        matches!(&err, ExprError::At { pointer, .. } if pointer == "/a~1b/c~0d"),
        "{err:?}"
    );

    // A bare string at the root has no pointer.
    assert!(matches!(
        check(&json!("{{")),
        Err(ExprError::Template { .. })
    ));
}

#[test]
fn runtime_errors_in_render_point_at_the_string() {
    let err = render(&json!({"x": [0, "{{ 1 | .a }}"]}), &ctx()).unwrap_err();
    match err {
        ExprError::At { pointer, source } => {
            assert_eq!(pointer, "/x/1");
            assert!(matches!(*source, ExprError::Runtime { .. }), "{source:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn template_introspection() {
    let t = Template::parse("a {{ input.name }} b {{ steps.a.output.id }}").unwrap();
    let sources: Vec<_> = t.expressions().map(|e| e.source()).collect();
    assert_eq!(sources, ["input.name", "steps.a.output.id"]);
    assert!(!t.is_whole_value());
    assert!(!t.is_literal());
    assert_eq!(t.render_string(&ctx()).unwrap(), "a Ada b 7");

    let whole = Template::parse(" {{ steps.a.output.id }} ").unwrap();
    assert!(whole.is_whole_value());
    assert_eq!(whole.render(&ctx()).unwrap(), json!(7));
    assert_eq!(whole.render_string(&ctx()).unwrap(), " 7 ");

    assert!(Template::parse("plain").unwrap().is_literal());

    let compiled = ValueTemplate::compile(
        &json!({"k": ["{{ input.name }}", "lit", {"z": "{{ input.count }}"}]}),
    )
    .unwrap();
    let found: Vec<_> = compiled
        .templates()
        .iter()
        .map(|t| t.source().to_owned())
        .collect();
    assert_eq!(found, ["{{ input.name }}", "{{ input.count }}"]);
    assert_eq!(
        compiled.render(&ctx()).unwrap(),
        json!({"k": ["Ada", "lit", {"z": 3}]})
    );
}
