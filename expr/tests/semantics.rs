//! The rewriting that enforces the limits (ticks, guarded natives, `..` through the library's
//! `recurse`) must not change what jq programs compute.

use expr::{EvalLimits, Expression};
use serde_json::{json, Value};

fn all(source: &str, input: Value) -> Vec<Value> {
    Expression::compile(source)
        .unwrap_or_else(|e| panic!("{source}: {e}"))
        .eval_all_with(&input, &EvalLimits::default())
        .unwrap_or_else(|e| panic!("{source}: {e}"))
}

fn one(source: &str, input: Value) -> Value {
    let mut outputs = all(source, input);
    assert_eq!(outputs.len(), 1, "{source}: {outputs:?}");
    outputs.remove(0)
}

#[test]
fn generators_and_loops() {
    let n = json!(null);
    assert_eq!(
        all("range(0; 10; 3)", n.clone()),
        [0, 3, 6, 9].map(Value::from)
    );
    assert_eq!(
        all("range(5; 0; -2)", n.clone()),
        [5, 3, 1].map(Value::from)
    );
    assert_eq!(all("range(3)", n.clone()), [0, 1, 2].map(Value::from));
    assert_eq!(all("range(0; 1; 0.25)", n.clone()).len(), 4);
    assert_eq!(one("[limit(3; range(10))]", n.clone()), json!([0, 1, 2]));
    assert_eq!(one("first(range(5; 10))", n.clone()), json!(5));
    assert_eq!(
        one("[.[] | select(. > 1)]", json!([1, 2, 3])),
        json!([2, 3])
    );
    assert_eq!(
        one("reduce range(5) as $i (0; . + $i)", n.clone()),
        json!(10)
    );
    assert_eq!(
        one("[foreach range(4) as $i (0; . + $i; [$i, .])]", n.clone()),
        json!([[0, 0], [1, 1], [2, 3], [3, 6]])
    );
    assert_eq!(
        one(
            "[label $out | range(10) | if . > 2 then ., break $out else . end]",
            n.clone()
        ),
        json!([0, 1, 2, 3])
    );
    assert_eq!(
        all("1, (2, 3), 4", n.clone()),
        [1, 2, 3, 4].map(Value::from)
    );
    assert_eq!(
        one("[(1, 2) - (10, 20)]", n.clone()),
        json!([-9, -19, -8, -18])
    );
    assert_eq!(
        one("[(1, 2) * (10, 20)]", n.clone()),
        json!([10, 20, 20, 40])
    );
    assert_eq!(
        one("[(1, 2) + (10, 20)]", n.clone()),
        json!([11, 21, 12, 22])
    );
    assert_eq!(all(r#""\(1, 2)-\(3, 4)""#, n.clone()).len(), 4);
    assert_eq!(all("{a: (1, 2), b: (3, 4)}", n.clone()).len(), 4);
    assert_eq!(one("isempty(empty)", n.clone()), json!(true));
    assert_eq!(
        one("[1, 2] | [any(. > 1), all(. > 1)]", n.clone()),
        json!([true, false])
    );
    assert_eq!(
        one("[[1, 2], [3]] | transpose", n.clone()),
        json!([[1, 3], [2, null]])
    );
    assert_eq!(
        one("[[1, 2], [3, 4]] | [combinations]", n),
        json!([[1, 3], [1, 4], [2, 3], [2, 4]])
    );
}

#[test]
fn recursion_over_values() {
    let v = json!({"a": [1, {"b": null}], "c": "x"});
    assert_eq!(
        one("[..]", v.clone()),
        json!([v.clone(), [1, {"b": null}], 1, {"b": null}, null, "x"])
    );
    assert_eq!(
        one("[paths]", v.clone()),
        json!([["a"], ["a", 0], ["a", 1], ["a", 1, "b"], ["c"]])
    );
    assert_eq!(
        one("[paths(type == \"number\")]", v.clone()),
        json!([["a", 0]])
    );
    assert_eq!(one("[recurse]", json!([1])), json!([[1], 1]));
    assert_eq!(one("[.. | numbers]", v.clone()), json!([1]));
    assert_eq!(
        one(
            "walk(if type == \"number\" then . + 1 else . end)",
            v.clone()
        ),
        json!({"a": [2, {"b": null}], "c": "x"})
    );
    assert_eq!(
        one("(.. | numbers) |= . * 10", v.clone()),
        json!({"a": [10, {"b": null}], "c": "x"})
    );
    assert_eq!(
        one("del(.. | nulls)", v.clone()),
        json!({"a": [1, {}], "c": "x"})
    );
    assert_eq!(one("[path(..)] | length", v.clone()), json!(6));
    assert_eq!(
        one("[1, [2, [3]]] | flatten", json!(null)),
        json!([1, 2, 3])
    );
    assert_eq!(
        one("[1, [2, [3]]] | flatten(1)", json!(null)),
        json!([1, 2, [3]])
    );
    assert_eq!(
        one("{a: {b: 1, c: 2}} | pick(.a.b)", v),
        json!({"a": {"b": 1}})
    );
}

#[test]
fn paths_and_updates() {
    let v = json!({"a": {"b": 1}, "l": [1, 2, 3]});
    assert_eq!(one("getpath([\"a\", \"b\"])", v.clone()), json!(1));
    assert_eq!(
        one("setpath([\"a\", \"c\"]; 2) | .a", v.clone()),
        json!({"b": 1, "c": 2})
    );
    assert_eq!(
        one("delpaths([[\"a\"]])", v.clone()),
        json!({"l": [1, 2, 3]})
    );
    assert_eq!(one(".a.b += 1 | .a.b", v.clone()), json!(2));
    assert_eq!(one(".a.b *= 5 | .a.b", v.clone()), json!(5));
    assert_eq!(one(".a.b -= 3 | .a.b", v.clone()), json!(-2));
    assert_eq!(one(".l[] |= . * 2 | .l", v.clone()), json!([2, 4, 6]));
    assert_eq!(one(".l |= map(. + 1) | .l", v.clone()), json!([2, 3, 4]));
    assert_eq!(one(".x //= 7 | .x", v.clone()), json!(7));
    assert_eq!(one(".a = 3 | .a", v.clone()), json!(3));
    assert_eq!(one("[.l[] as $x | $x * 2]", v.clone()), json!([2, 4, 6]));
    assert_eq!(one(". as {a: {b: $b}} | $b", v.clone()), json!(1));
    assert_eq!(one("to_entries | map(.key)", v.clone()), json!(["a", "l"]));
    assert_eq!(
        one("with_entries(.value |= length)", v.clone()),
        json!({"a": 1, "l": 3})
    );
    assert_eq!(
        one("[path(.l[])]", v.clone()),
        json!([["l", 0], ["l", 1], ["l", 2]])
    );
    assert_eq!(one("[path(first(.l[]))]", v.clone()), json!([["l", 0]]));
    assert_eq!(one("(.l[] | select(. > 1)) |= 0 | .l", v), json!([1, 0, 0]));
}

#[test]
fn strings_and_numbers() {
    let n = json!(null);
    assert_eq!(one(r#""ab" * 3"#, n.clone()), json!("ababab"));
    assert_eq!(one(r#""ab" * 0"#, n.clone()), Value::Null);
    assert_eq!(one("6 * 7", n.clone()), json!(42));
    assert_eq!(
        one("{a: {b: 1}} * {a: {c: 2}}", n.clone()),
        json!({"a": {"b": 1, "c": 2}})
    );
    assert_eq!(one("[1, 2, 3, 2] - [2]", n.clone()), json!([1, 3]));
    assert_eq!(one("10 - 4", n.clone()), json!(6));
    assert_eq!(
        one("100000000000000000000 * 100000000000000000000", n.clone()),
        json!(1e40)
    );
    assert_eq!(one("[1, 2] | tostring", n.clone()), json!("[1,2]"));
    assert_eq!(one("\"x\" | tostring", n.clone()), json!("x"));
    assert_eq!(
        one(r#"{"a": [1, "q\"", null, 2.5]} | tojson"#, n.clone()),
        json!(r#"{"a":[1,"q\"",null,2.5]}"#)
    );
    assert_eq!(one(r#""x" | tojson"#, n.clone()), json!(r#""x""#));
    assert_eq!(
        one(r#""[1, {\"a\": 2}]" | fromjson"#, n.clone()),
        json!([1, {"a": 2}])
    );
    assert_eq!(one(r#""12" | tonumber"#, n.clone()), json!(12));
    assert_eq!(one(r#""v=\([1, 2])""#, n.clone()), json!("v=[1,2]"));
    assert_eq!(one(r#"@base64 "x\("hi")""#, n.clone()), json!("xaGk="));
    assert_eq!(one(r#"@json "x\("hi")""#, n.clone()), json!(r#"x"hi""#));
    assert_eq!(one(r#""a,b" | split(",")"#, n.clone()), json!(["a", "b"]));
    assert_eq!(one(r#""abcb" | indices("b")"#, n.clone()), json!([1, 3]));
    assert_eq!(one("[1, 2, 1] | indices(1)", n.clone()), json!([0, 2]));
    assert_eq!(one(r#""foobar" | contains("bar")"#, n.clone()), json!(true));
    assert_eq!(one("[[1, 2], 3] | contains([[1]])", n.clone()), json!(true));
    assert_eq!(one(r#""a" | inside("cat")"#, n.clone()), json!(true));
    assert_eq!(one(r#""aXbX" | gsub("X"; "-")"#, n.clone()), json!("a-b-"));
    assert_eq!(
        one(r#""a1b22" | [scan("[0-9]+")]"#, n.clone()),
        json!(["1", "22"])
    );
    assert_eq!(
        one(r#""x" | ascii_upcase | ltrimstr("X")"#, n.clone()),
        json!("")
    );
    assert_eq!(one("[3, 1, 2] | sort", n.clone()), json!([1, 2, 3]));
    assert_eq!(
        one("[{a: 2}, {a: 1}] | sort_by(.a) | map(.a)", n.clone()),
        json!([1, 2])
    );
    assert_eq!(one("[1, 2, 1] | unique", n.clone()), json!([1, 2]));
    assert_eq!(
        one("[1, 2, 1] | group_by(.)", n.clone()),
        json!([[1, 1], [2]])
    );
    assert_eq!(
        one("[{a: 2}, {a: 1}] | min_by(.a)", n.clone()),
        json!({"a": 1})
    );
    assert_eq!(one("[1, 5, 3] | max", n.clone()), json!(5));
    assert_eq!(one("{b: 1, a: 2} | keys", n.clone()), json!(["a", "b"]));
    assert_eq!(one("[\"a\", \"b\"] | join(\"-\")", n.clone()), json!("a-b"));
    assert_eq!(
        one("[1, [2]] | tojson | fromjson", n.clone()),
        json!([1, [2]])
    );
    assert_eq!(
        one("[65, 66] | implode | explode", n.clone()),
        json!([65, 66])
    );
    assert_eq!(one("\"x\" | tobytes | length", n.clone()), json!(1));
    assert_eq!(one("1 | debug | . + 1", n.clone()), json!(2));
    assert_eq!(one("try error(\"boom\") catch .", n.clone()), json!("boom"));
    assert_eq!(one("try error({a: 1}) catch .a", n.clone()), json!(1));
    assert_eq!(one("[.[]?]", json!(3)), json!([]));
    assert_eq!(
        one("try (1 | .a) catch \"caught\"", n.clone()),
        json!("caught")
    );
    assert_eq!(one("(1 | .a)? // \"alt\"", n), json!("alt"));
}

/// Accumulating in `reduce` updates the accumulator in place (as jaq does), so these stay
/// linear: with copies they would take far longer than the default one-second limit.
#[test]
fn accumulators_are_updated_in_place() {
    let n = json!(null);
    assert_eq!(
        one(
            "reduce range(100000) as $i ([]; . + [$i]) | length",
            n.clone()
        ),
        json!(100000)
    );
    assert_eq!(
        one(
            "reduce range(30000) as $i ({}; . + {($i | tostring): $i}) | length",
            n.clone()
        ),
        json!(30000)
    );
    assert_eq!(
        one(
            "reduce range(30000) as $i ({}; . * {($i | tostring): $i}) | length",
            n.clone()
        ),
        json!(30000)
    );
    assert_eq!(
        one(
            "reduce range(30000) as $i (\"\"; . + \"x\") | length",
            n.clone()
        ),
        json!(30000)
    );
    assert_eq!(
        one(
            "reduce range(30000) as $i ({}; .[$i | tostring] = $i) | length",
            n
        ),
        json!(30000)
    );
}
