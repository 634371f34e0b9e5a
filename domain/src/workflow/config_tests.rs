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
fn ai_checks_its_integration_and_model_settings() {
    assert_config_error(
        "ai",
        json!({"prompt": "hi", "integration_id": "openai"}),
        "'integration_id' must be the UUID of a registered integration (found \"openai\")",
    );
    assert_config_error(
        "ai",
        json!({"prompt": "hi", "system": 3}),
        "'system' must be a string (found a number)",
    );
    for bad in [json!(-0.1), json!(2.5), json!("0.7")] {
        assert_config_error(
            "ai",
            json!({"prompt": "hi", "temperature": bad}),
            &format!("'temperature' must be a number from 0 to 2 (found {bad})"),
        );
    }
    for bad in [json!(0), json!(1.5), json!("100")] {
        assert_config_error(
            "ai",
            json!({"prompt": "hi", "max_tokens": bad}),
            &format!("'max_tokens' must be a positive integer of tokens (found {bad})"),
        );
    }
    WorkflowDefinition::parse(&json!({"nodes": [{"id": "n1", "type": "ai", "config": {
        "integration_id": "0190f5d2-7c1e-7a3b-9c4d-1e2f3a4b5c6d",
        "prompt": "Summarise {{ input.text }}", "system": "Be brief",
        "temperature": 0.2, "max_tokens": 200
    }}]}))
    .expect("a full ai config is valid");
}

const INTEGRATION: &str = "0190f5d2-7c1e-7a3b-9c4d-1e2f3a4b5c6d";

fn action(action: &str, params: Value) -> Value {
    let mut config = json!({"integration_id": INTEGRATION, "action": action});
    config
        .as_object_mut()
        .unwrap()
        .extend(params.as_object().unwrap().clone());
    config
}

#[test]
fn integration_request_checks_method_path_query_headers_and_timeout() {
    assert_config_error(
        "integration",
        action("request", json!({"method": "get"})),
        "'method' must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (found \"get\")",
    );
    assert_config_error(
        "integration",
        action("request", json!({"path": ["a"]})),
        "'path' must be a string (found an array)",
    );
    assert_config_error(
        "integration",
        action("request", json!({"query": "a=1"})),
        "'query' must be an object (found a string)",
    );
    assert_config_error(
        "integration",
        action("request", json!({"headers": [1]})),
        "'headers' must be an object (found an array)",
    );
    assert_config_error(
        "integration",
        action("request", json!({"timeout_ms": 0})),
        "'timeout_ms' must be a positive integer of milliseconds (found 0)",
    );
    let full = action(
        "request",
        json!({"method": "POST", "path": "/v1/charges", "query": {"expand": "customer"},
               "headers": {"X-Trace": "{{ execution.id }}"}, "body": {"amount": 3}, "timeout_ms": 5000}),
    );
    WorkflowDefinition::parse(
        &json!({"nodes": [{"id": "n1", "type": "integration", "config": full}]}),
    )
    .expect("a full request is valid");
}

#[test]
fn integration_post_message_needs_text_or_blocks() {
    assert_config_error(
        "integration",
        action("post_message", json!({})),
        "'text' (or 'blocks') is required to post a message",
    );
    assert_config_error(
        "integration",
        action("post_message", json!({"text": ""})),
        "'text' must not be empty",
    );
    assert_config_error(
        "integration",
        action("post_message", json!({"blocks": {"type": "section"}})),
        "'blocks' must be a list of Slack blocks (found an object)",
    );
    for params in [
        json!({"text": "Deployed {{ input.version }}"}),
        json!({"blocks": [{"type": "divider"}]}),
        json!({"text": "x", "blocks": "{{ steps.render.output }}"}),
    ] {
        let config = action("post_message", params);
        WorkflowDefinition::parse(
            &json!({"nodes": [{"id": "n1", "type": "integration", "config": config}]}),
        )
        .expect("text, blocks or both are valid");
    }
}

#[test]
fn integration_send_email_needs_recipients_a_subject_and_text() {
    let email = |params: Value| action("send_email", params);
    assert_config_error(
        "integration",
        email(json!({"subject": "s", "text": "t"})),
        "'to' is required (a non-empty string)",
    );
    assert_config_error(
        "integration",
        email(json!({"to": [], "subject": "s", "text": "t"})),
        "'to' must list at least one address, each a non-empty string",
    );
    assert_config_error(
        "integration",
        email(json!({"to": ["a@example.com", 7], "subject": "s", "text": "t"})),
        "'to' must list at least one address, each a non-empty string",
    );
    assert_config_error(
        "integration",
        email(json!({"to": "a@example.com", "text": "t"})),
        "'subject' is required (a non-empty string)",
    );
    assert_config_error(
        "integration",
        email(json!({"to": "a@example.com", "subject": "s"})),
        "'text' is required (a non-empty string)",
    );
    assert_config_error(
        "integration",
        email(json!({"to": "a@example.com", "subject": "s", "text": "t", "html": false})),
        "'html' must be a string (found a boolean)",
    );
    let full = email(
        json!({"to": ["a@example.com", "{{ input.cc }}"], "subject": "s",
                            "text": "t", "html": "<p>t</p>", "from": "ops@example.com"}),
    );
    WorkflowDefinition::parse(
        &json!({"nodes": [{"id": "n1", "type": "integration", "config": full}]}),
    )
    .expect("a full email is valid");
}

#[test]
fn integration_actions_the_domain_does_not_know_are_left_to_the_engine() {
    let config = action("create_issue", json!({"title": 3}));
    WorkflowDefinition::parse(
        &json!({"nodes": [{"id": "n1", "type": "integration", "config": config}]}),
    )
    .expect("the integration's kind decides, when the step runs");
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
