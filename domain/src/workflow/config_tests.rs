//! One test per node-config rule: the message names the node, its type and
//! the field, and says what a valid value looks like.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;

fn config_error(node_type: &str, config: Value) -> String {
    let raw = json!({ "nodes": [{ "id": "n1", "type": node_type, "config": config }] });
    WorkflowDefinition::parse(&raw)
        .expect_err("the config should be rejected")
        .to_string()
}

fn prefix(node_type: &str) -> String {
    format!("node 'n1' ({node_type}) has an invalid config: ")
}

fn assert_config_error(node_type: &str, config: Value, problem: &str) {
    assert_eq!(config_error(node_type, config), prefix(node_type) + problem);
}

#[test]
fn http_needs_a_non_empty_url() {
    assert_config_error("http", json!({}), "'url' is required (a non-empty string)");
    assert_config_error("http", json!({"url": " "}), "'url' must not be empty");
    assert_config_error(
        "http",
        json!({"url": 42}),
        "'url' must be a non-empty string (found a number)",
    );
}

#[test]
fn http_method_must_be_a_known_verb() {
    assert_config_error(
        "http",
        json!({"url": "https://x", "method": "FETCH"}),
        "'method' must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (found \"FETCH\")",
    );
}

#[test]
fn http_timeout_must_be_a_positive_integer() {
    for bad in [json!(0), json!(-5), json!(1.5), json!("10")] {
        let message = config_error("http", json!({"url": "https://x", "timeout_ms": bad}));
        assert_eq!(
            message,
            prefix("http")
                + &format!("'timeout_ms' must be a positive integer of milliseconds (found {bad})")
        );
    }
}

#[test]
fn transform_and_condition_need_an_expression() {
    for node_type in ["transform", "condition"] {
        assert_config_error(
            node_type,
            json!({"expr": "x"}),
            "'expression' is required (a non-empty string)",
        );
    }
}

#[test]
fn delay_needs_a_valid_duration() {
    assert_config_error(
        "delay",
        json!({}),
        "'duration' (e.g. \"30s\") or 'until' (an RFC 3339 instant) is required",
    );
    assert_config_error(
        "delay",
        json!({"duration": "soon"}),
        "'duration' must be a positive duration such as \"500ms\", \"30s\", \"5m\", \"2h\", \"1d\" or a positive integer of seconds (found \"soon\")",
    );
}

#[test]
fn code_needs_source_in_javascript() {
    assert_config_error(
        "code",
        json!({}),
        "'source' is required (a non-empty string)",
    );
    assert_config_error(
        "code",
        json!({"source": "1", "language": "python"}),
        "'language' must be \"javascript\", the only supported language (found \"python\")",
    );
}

#[test]
fn ai_needs_a_prompt() {
    assert_config_error(
        "ai",
        json!({"prompt": null}),
        "'prompt' must be a non-empty string (found null)",
    );
}

#[test]
fn integration_needs_a_uuid_and_an_action() {
    assert_config_error(
        "integration",
        json!({"action": "send"}),
        "'integration_id' is required (a non-empty string)",
    );
    assert_config_error(
        "integration",
        json!({"integration_id": "slack", "action": "send"}),
        "'integration_id' must be the UUID of a registered integration (found \"slack\")",
    );
    assert_config_error(
        "integration",
        json!({"integration_id": "0190f5d2-7c1e-7a3b-9c4d-1e2f3a4b5c6d"}),
        "'action' is required (a non-empty string)",
    );
}

#[test]
fn wait_for_signal_needs_a_signal_and_a_valid_timeout() {
    assert_config_error(
        "wait_for_signal",
        json!({}),
        "'signal' is required (a non-empty string)",
    );
    let message = config_error("wait_for_signal", json!({"signal": "ok", "timeout": "0s"}));
    assert!(
        message.starts_with(&(prefix("wait_for_signal") + "'timeout' must be a positive duration")),
        "{message}"
    );
    WorkflowDefinition::parse(&json!({
        "nodes": [{ "id": "n1", "type": "wait_for_signal", "config": {"signal": "ok"} }]
    }))
    .expect("the timeout is optional");
}

#[test]
fn durations_accept_units_and_whole_seconds() {
    let cases = [
        (json!("500ms"), Duration::from_millis(500)),
        (json!("30s"), Duration::from_secs(30)),
        (json!("5m"), Duration::from_secs(300)),
        (json!("2h"), Duration::from_secs(7200)),
        (json!("1d"), Duration::from_secs(86_400)),
        (json!(45), Duration::from_secs(45)),
    ];
    for (value, expected) in cases {
        assert_eq!(parse_duration(&value), Ok(expected), "{value}");
    }
    for bad in [
        json!("0s"),
        json!(0),
        json!(-3),
        json!(1.5),
        json!("5 m"),
        json!("m"),
        json!("3w"),
        json!(null),
    ] {
        assert!(parse_duration(&bad).is_err(), "{bad}");
    }
    assert!(parse_duration(&json!("99999999999999999999d")).is_err());
}
