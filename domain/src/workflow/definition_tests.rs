//! Tests of `WorkflowDefinition::parse` and `validate`: one per rejection
//! rule (the message must name the culprit) and accepted examples of every
//! node type and trigger.

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use super::*;

fn node(id: &str, node_type: &str, config: Value) -> Value {
    json!({ "id": id, "type": node_type, "config": config })
}

fn one_node(node_type: &str, config: Value) -> Value {
    json!({ "nodes": [node("n1", node_type, config)] })
}

fn error(raw: Value) -> String {
    WorkflowDefinition::parse(&raw)
        .expect_err("the definition should be rejected")
        .to_string()
}

fn accept(raw: Value) -> WorkflowDefinition {
    WorkflowDefinition::parse(&raw).unwrap_or_else(|err| panic!("rejected: {err}"))
}

fn with_trigger(trigger: Value) -> Value {
    json!({ "nodes": [node("a", "ai", json!({"prompt": "hi"}))], "trigger": trigger })
}

#[test]
fn accepts_every_node_type_in_one_graph() {
    let raw = json!({
        "nodes": [
            node("fetch", "http", json!({"url": "https://example.com", "method": "POST", "timeout_ms": 5000})),
            node("shape", "transform", json!({"expression": "$.body"})),
            node("check", "condition", json!({"expression": "$.ok"})),
            node("pause", "delay", json!({"duration": "5m"})),
            node("pause2", "delay", json!({"duration": 30})),
            node("script", "code", json!({"source": "return 1", "language": "javascript"})),
            node("ask", "ai", json!({"prompt": "Summarise {{input}}"})),
            node("post", "integration", json!({"integration_id": "0190f5d2-7c1e-7a3b-9c4d-1e2f3a4b5c6d", "action": "send"})),
            node("approve", "wait_for_signal", json!({"signal": "approved", "timeout": "1d"}))
        ],
        "edges": [
            {"from": "fetch", "to": "shape"},
            {"from": "shape", "to": "check"},
            {"from": "check", "to": "pause", "when": "true"},
            {"from": "check", "to": "pause2", "when": "false"},
            {"from": "pause", "to": "script"},
            {"from": "pause2", "to": "script"},
            {"from": "script", "to": "ask"},
            {"from": "ask", "to": "post"},
            {"from": "post", "to": "approve"}
        ],
        "trigger": {"type": "webhook"}
    });
    let definition = accept(raw.clone());
    assert_eq!(definition.nodes.len(), 9);
    assert_eq!(definition.nodes[8].node_type, NodeType::WaitForSignal);
    assert_eq!(definition.edges[2].when.as_deref(), Some("true"));
    assert_eq!(definition.trigger, Trigger::Webhook);
    assert_eq!(
        definition.entry_node().map(|n| n.id.as_str()),
        Some("fetch")
    );
    assert_eq!(definition.outgoing_edges("check").count(), 2);
    // The JSON form parses back to the same definition and deserialises too.
    assert_eq!(accept(definition.to_json()), definition);
    assert_eq!(
        serde_json::from_value::<WorkflowDefinition>(raw).unwrap(),
        definition
    );
}

#[test]
fn accepts_every_trigger() {
    assert_eq!(
        accept(one_node("ai", json!({"prompt": "x"}))).trigger,
        Trigger::Manual
    );
    assert_eq!(
        accept(with_trigger(json!({"type": "manual"}))).trigger,
        Trigger::Manual
    );
    assert_eq!(
        accept(with_trigger(json!({"type": "webhook"}))).trigger,
        Trigger::Webhook
    );
    let schedule =
        json!({"type": "schedule", "cron": "0 9 * * MON-FRI", "timezone": "Europe/Paris"});
    assert_eq!(
        accept(with_trigger(schedule)).trigger,
        Trigger::Schedule {
            cron: "0 9 * * MON-FRI".into(),
            timezone: "Europe/Paris".into(),
            catch_up: CatchUp::Skip,
        }
    );
    let six_fields = json!({"type": "schedule", "cron": "*/10 * * * * *", "timezone": "UTC"});
    accept(with_trigger(six_fields));
    let id = "0190f5d2-7c1e-7a3b-9c4d-1e2f3a4b5c6d";
    let event = accept(with_trigger(json!({"type": "event", "workflow_id": id}))).trigger;
    assert_eq!(
        event,
        Trigger::Event {
            workflow_id: id.parse().unwrap(),
            on_status: CompletionStatus::Any
        }
    );
    let failed = json!({"type": "event", "workflow_id": id, "on_status": "failed"});
    assert!(matches!(
        accept(with_trigger(failed)).trigger,
        Trigger::Event {
            on_status: CompletionStatus::Failed,
            ..
        }
    ));
}

#[test]
fn rejects_a_definition_that_is_not_an_object_or_lacks_nodes() {
    assert_eq!(
        error(json!([])),
        "the workflow definition must be a JSON object (found an array)"
    );
    assert_eq!(
        error(json!({})),
        "the workflow definition is missing 'nodes'"
    );
    assert_eq!(
        error(json!({"nodes": {}})),
        "nodes must be an array of nodes (found an object)"
    );
}

#[test]
fn rejects_malformed_nodes_naming_their_position_or_id() {
    let missing_id = json!({"nodes": [node("a", "ai", json!({"prompt": "x"})), {"type": "ai"}]});
    assert_eq!(error(missing_id), "nodes[1] is missing 'id'");
    assert_eq!(
        error(json!({"nodes": [{"id": 7}]})),
        "nodes[0].id must be a string (found a number)"
    );
    assert_eq!(
        error(json!({"nodes": [5]})),
        "nodes[0] must be a JSON object (found a number)"
    );
    assert_eq!(
        error(json!({"nodes": [{"id": "x"}]})),
        "node 'x' is missing 'type'"
    );
    assert_eq!(
        error(json!({"nodes": [{"id": "x", "type": "ai"}]})),
        "node 'x' is missing 'config'"
    );
}

#[test]
fn rejects_unknown_node_types_listing_the_valid_ones() {
    assert_eq!(
        error(json!({"nodes": [{"id": "x", "type": "foo", "config": {}}]})),
        "node 'x' has unknown type 'foo' (expected one of http, transform, condition, delay, code, ai, integration, wait_for_signal)"
    );
}

#[test]
fn rejects_an_empty_node_list() {
    assert_eq!(
        error(json!({"nodes": []})),
        "a workflow needs at least one node; add a node to 'nodes'"
    );
}

#[test]
fn rejects_more_than_500_nodes() {
    let nodes: Vec<Value> = (0..501)
        .map(|i| node(&format!("n{i}"), "ai", json!({"prompt": "p"})))
        .collect();
    assert_eq!(
        error(json!({ "nodes": nodes })),
        "the workflow has 501 nodes but the limit is 500; split it into smaller workflows"
    );
}

#[test]
fn rejects_blank_and_duplicate_node_ids() {
    assert_eq!(
        error(one_node_with_id(" ")),
        "nodes[0] has an empty 'id'; give every node a non-empty id"
    );
    let twice = json!({"nodes": [
        node("a", "ai", json!({"prompt": "x"})),
        node("b", "ai", json!({"prompt": "x"})),
        node("a", "ai", json!({"prompt": "x"}))
    ]});
    assert_eq!(
        error(twice),
        "node id 'a' is used by both nodes[0] and nodes[2]; node ids must be unique"
    );
}

fn one_node_with_id(id: &str) -> Value {
    json!({"nodes": [node(id, "ai", json!({"prompt": "x"}))]})
}

#[test]
fn rejects_malformed_edges() {
    let base =
        |edges: Value| json!({"nodes": [node("a", "ai", json!({"prompt": "x"}))], "edges": edges});
    assert_eq!(
        error(base(json!([{"to": "a"}]))),
        "edges[0] is missing 'from'"
    );
    assert_eq!(
        error(base(json!([{"from": "a", "to": "a", "when": 1}]))),
        "edges[0].when must be a string (found a number)"
    );
    assert_eq!(
        error(base(json!("a->b"))),
        "edges must be an array of edges (found a string)"
    );
}

#[test]
fn rejects_edges_to_unknown_nodes_naming_edge_and_node() {
    let raw = json!({
        "nodes": [node("a", "ai", json!({"prompt": "x"}))],
        "edges": [{"from": "a", "to": "b"}]
    });
    assert_eq!(
        error(raw),
        "edges[0] ('a' -> 'b') refers to unknown node 'b'; add that node or fix the edge"
    );
}

#[test]
fn rejects_cycles_naming_a_node_on_the_cycle() {
    let raw = json!({
        "nodes": [
            node("a", "ai", json!({"prompt": "x"})),
            node("b", "ai", json!({"prompt": "x"})),
            node("c", "ai", json!({"prompt": "x"}))
        ],
        "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}, {"from": "c", "to": "b"}]
    });
    assert_eq!(
        error(raw),
        "the edges form a cycle through node 'b'; remove an edge on the cycle (workflows must be acyclic)"
    );
    let self_loop = json!({"nodes": [node("a", "ai", json!({"prompt": "x"}))], "edges": [{"from": "a", "to": "a"}]});
    assert!(error(self_loop).contains("cycle through node 'a'"));
}

#[test]
fn rejects_nodes_unreachable_from_the_first_node() {
    let raw = json!({
        "nodes": [
            node("a", "ai", json!({"prompt": "x"})),
            node("b", "ai", json!({"prompt": "x"})),
            node("orphan", "ai", json!({"prompt": "x"}))
        ],
        "edges": [{"from": "a", "to": "b"}]
    });
    assert_eq!(
        error(raw),
        "node 'orphan' is not reachable from the entry node 'a' (the first node); add an edge leading to it or remove it"
    );
}

#[test]
fn rejects_configs_that_are_not_objects() {
    assert_eq!(
        error(one_node("ai", json!(["prompt"]))),
        "node 'n1' (ai) has an invalid config: config must be a JSON object (found an array)"
    );
}

#[test]
fn rejects_bad_trigger_shapes() {
    assert_eq!(
        error(with_trigger(json!("cron"))),
        "trigger must be a JSON object (found a string)"
    );
    assert_eq!(error(with_trigger(json!({}))), "trigger is missing 'type'");
    assert_eq!(
        error(with_trigger(json!({"type": "email"}))),
        "unknown trigger type 'email' (expected one of manual, webhook, schedule, event)"
    );
    assert_eq!(
        error(with_trigger(
            json!({"type": "schedule", "cron": "* * * * *"})
        )),
        "trigger is missing 'timezone'"
    );
    assert_eq!(
        error(with_trigger(json!({"type": "event", "workflow_id": "abc"}))),
        "trigger.workflow_id 'abc' is not a valid workflow id; use the UUID of an existing workflow"
    );
    let id = "0190f5d2-7c1e-7a3b-9c4d-1e2f3a4b5c6d";
    assert_eq!(
        error(with_trigger(json!({"type": "event", "workflow_id": id, "on_status": "done"}))),
        "trigger.on_status 'done' is not a completion status (expected one of succeeded, failed, cancelled, timed_out, any)"
    );
}

#[test]
fn rejects_bad_cron_expressions_naming_them() {
    for cron in ["* * *", "61 * * * *", "* * * * * * *", "every day"] {
        let message = error(with_trigger(
            json!({"type": "schedule", "cron": cron, "timezone": "UTC"}),
        ));
        assert!(
            message.starts_with(&format!(
                "the schedule trigger's cron expression '{cron}' is invalid: "
            )),
            "{message}"
        );
    }
}

#[test]
fn cron_messages_name_the_bad_field_or_the_field_count() {
    let message = |cron: &str| {
        error(with_trigger(
            json!({"type": "schedule", "cron": cron, "timezone": "UTC"}),
        ))
    };
    assert!(
        message("61 * * * *").contains("is invalid: the minute field '61' is not valid"),
        "{}",
        message("61 * * * *")
    );
    assert!(message("0 9 * 13 *").contains("the month field '13' is not valid"));
    assert!(message("0 0 9 * * FOO").contains("the day-of-week field 'FOO' is not valid"));
    assert!(message("* * *").contains("is invalid: it has 3 fields; use 5 fields"));
    assert!(message("").contains("is invalid: it is empty;"));
}

#[test]
fn rejects_unknown_time_zones() {
    let raw =
        with_trigger(json!({"type": "schedule", "cron": "0 9 * * *", "timezone": "Mars/Base"}));
    assert_eq!(
        error(raw),
        "unknown time zone 'Mars/Base' in the schedule trigger; use an IANA name such as 'Europe/Paris' or 'UTC'"
    );
}

#[test]
fn validate_checks_deserialised_definitions_too() {
    let raw = json!({"nodes": [node("a", "http", json!({}))]});
    let definition: WorkflowDefinition = serde_json::from_value(raw).unwrap();
    assert_eq!(
        definition.validate().unwrap_err().to_string(),
        "node 'a' (http) has an invalid config: 'url' is required (a non-empty string)"
    );
}

#[test]
fn schedule_triggers_compute_their_next_occurrence_in_their_zone() {
    let trigger = Trigger::Schedule {
        cron: "0 9 * * *".into(),
        timezone: "Europe/Paris".into(),
        catch_up: CatchUp::Skip,
    };
    let after = Utc.with_ymd_and_hms(2025, 1, 15, 12, 0, 0).unwrap();
    // 09:00 in Paris in winter is 08:00 UTC.
    assert_eq!(
        trigger.next_occurrence_after(after),
        Some(Utc.with_ymd_and_hms(2025, 1, 16, 8, 0, 0).unwrap())
    );
    assert_eq!(Trigger::Manual.next_occurrence_after(after), None);
}

#[test]
fn completion_statuses_match_execution_endings() {
    use crate::execution::ExecutionStatus;
    assert!(CompletionStatus::Any.matches(ExecutionStatus::Cancelled));
    assert!(!CompletionStatus::Any.matches(ExecutionStatus::Running));
    assert!(CompletionStatus::Succeeded.matches(ExecutionStatus::Completed));
    assert!(!CompletionStatus::Failed.matches(ExecutionStatus::TimedOut));
}
