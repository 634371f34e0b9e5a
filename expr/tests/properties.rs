//! Property tests: rendering never mangles text without templates, and escaping round-trips.

use expr::{render, truthy, Expression};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Arbitrary JSON values (no floats, so equality is exact).
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z ]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Escapes text so that it renders to itself, scanning left to right like the parser: at
/// each `{{`, the backslash run before it is doubled and gets one more backslash, and both
/// braces are consumed.
fn escape(text: &str) -> String {
    let mut out = String::new();
    let mut backslashes = 0;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\\' {
            backslashes += 1;
            rest = &rest[1..];
        } else if rest.starts_with("{{") {
            out.extend(std::iter::repeat_n('\\', 2 * backslashes + 1));
            out.push_str("{{");
            backslashes = 0;
            rest = &rest[2..];
        } else {
            out.extend(std::iter::repeat_n('\\', backslashes));
            out.push(c);
            backslashes = 0;
            rest = &rest[c.len_utf8()..];
        }
    }
    out.extend(std::iter::repeat_n('\\', backslashes));
    out
}

proptest! {
    #[test]
    fn strings_without_braces_render_to_themselves(text in "[^{]*") {
        prop_assert_eq!(render(&json!(text), &json!({})).unwrap(), json!(text));
    }

    #[test]
    fn escaped_text_renders_to_itself(text in r"[a{}\\]{0,12}") {
        let escaped = escape(&text);
        prop_assert_eq!(render(&json!(escaped), &json!({})).unwrap(), json!(text));
    }

    #[test]
    fn whole_value_templates_return_the_value(value in arb_json()) {
        let ctx = json!({"input": {"v": value.clone()}});
        prop_assert_eq!(render(&json!("{{ input.v }}"), &ctx).unwrap(), value.clone());
        prop_assert_eq!(Expression::compile(".input.v").unwrap().eval(&ctx).unwrap(), value);
    }

    #[test]
    fn configs_without_templates_are_unchanged(value in arb_json()) {
        prop_assert_eq!(render(&value, &json!({})).unwrap(), value);
    }

    #[test]
    fn truthy_matches_jq_not_not(value in arb_json()) {
        let ctx = json!({"input": value.clone()});
        let jq = Expression::compile("input | not | not").unwrap().eval(&ctx).unwrap();
        prop_assert_eq!(jq, json!(truthy(&value)));
    }
}
