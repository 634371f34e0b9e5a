//! Reading a definition from raw JSON by hand, so that a malformed
//! definition gets a message naming the exact node or field instead of
//! serde's "invalid type at line 1 column 212".
//!
//! Unknown fields are ignored (editors store layout data next to nodes);
//! missing `edges` means no edges and a missing `trigger` means manual.

use serde_json::{Map, Value};

use super::{
    CatchUp, CompletionStatus, DefinitionError, Edge, Node, NodeType, Trigger, WorkflowDefinition,
    WorkflowSettings,
};
use crate::ids::WorkflowId;

/// Builds a [`WorkflowDefinition`] from JSON without validating the graph.
pub(super) fn definition(raw: &Value) -> Result<WorkflowDefinition, DefinitionError> {
    let object = as_object(raw, "the workflow definition")?;
    let nodes = match object.get("nodes") {
        None | Some(Value::Null) => return Err(missing("the workflow definition", "nodes")),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| node(index, item))
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => return Err(wrong_type("nodes", "an array of nodes", other)),
    };
    let edges = match object.get("edges") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| edge(index, item))
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => return Err(wrong_type("edges", "an array of edges", other)),
    };
    let trigger = match object.get("trigger") {
        None | Some(Value::Null) => Trigger::Manual,
        Some(value) => trigger(value)?,
    };
    let settings = WorkflowSettings::parse(object.get("settings"))
        .map_err(|problem| DefinitionError::InvalidSettings { problem })?;
    Ok(WorkflowDefinition {
        nodes,
        edges,
        trigger,
        settings,
    })
}

fn node(index: usize, raw: &Value) -> Result<Node, DefinitionError> {
    let at = format!("nodes[{index}]");
    let object = as_object(raw, &at)?;
    let id = required_string(object, &at, "id")?;
    if id.trim().is_empty() {
        return Err(DefinitionError::EmptyNodeId { index });
    }
    let named = format!("node '{id}'");
    let type_name = required_string(object, &named, "type")?;
    let node_type =
        type_name
            .parse::<NodeType>()
            .map_err(|()| DefinitionError::UnknownNodeType {
                node: id.clone(),
                found: type_name,
            })?;
    let config = match object.get("config") {
        None => return Err(missing(&named, "config")),
        Some(value) => value.clone(),
    };
    Ok(Node {
        id,
        node_type,
        config,
    })
}

fn edge(index: usize, raw: &Value) -> Result<Edge, DefinitionError> {
    let at = format!("edges[{index}]");
    let object = as_object(raw, &at)?;
    let from = required_string(object, &at, "from")?;
    let to = required_string(object, &at, "to")?;
    let when = optional_string(object, &at, "when")?;
    Ok(Edge { from, to, when })
}

fn trigger(raw: &Value) -> Result<Trigger, DefinitionError> {
    let at = "trigger";
    let object = as_object(raw, at)?;
    let kind = required_string(object, at, "type")?;
    match kind.as_str() {
        "manual" => Ok(Trigger::Manual),
        "webhook" => Ok(Trigger::Webhook),
        "schedule" => Ok(Trigger::Schedule {
            cron: required_string(object, at, "cron")?,
            timezone: required_string(object, at, "timezone")?,
            catch_up: match optional_string(object, at, "catch_up")? {
                None => CatchUp::Skip,
                Some(policy) => policy
                    .parse()
                    .map_err(|()| DefinitionError::UnknownCatchUp { found: policy })?,
            },
        }),
        "event" => {
            let raw_id = required_string(object, at, "workflow_id")?;
            let workflow_id = raw_id
                .parse::<WorkflowId>()
                .map_err(|_| DefinitionError::InvalidTriggerWorkflowId { found: raw_id })?;
            let on_status = match optional_string(object, at, "on_status")? {
                None => CompletionStatus::Any,
                Some(status) => status
                    .parse()
                    .map_err(|()| DefinitionError::UnknownCompletionStatus { found: status })?,
            };
            Ok(Trigger::Event {
                workflow_id,
                on_status,
            })
        }
        _ => Err(DefinitionError::UnknownTriggerType { found: kind }),
    }
}

fn as_object<'a>(raw: &'a Value, at: &str) -> Result<&'a Map<String, Value>, DefinitionError> {
    raw.as_object()
        .ok_or_else(|| wrong_type(at, "a JSON object", raw))
}

fn required_string(
    object: &Map<String, Value>,
    at: &str,
    field: &'static str,
) -> Result<String, DefinitionError> {
    optional_string(object, at, field)?.ok_or_else(|| missing(at, field))
}

/// A string field; absent and `null` both mean "not given".
fn optional_string(
    object: &Map<String, Value>,
    at: &str,
    field: &'static str,
) -> Result<Option<String>, DefinitionError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong_type(&field_path(at, field), "a string", other)),
    }
}

/// "nodes[3]" + "id" = "nodes[3].id"; "node 'x'" + "type" = "node 'x' field 'type'".
fn field_path(at: &str, field: &str) -> String {
    if at.starts_with("node '") {
        format!("{at} field '{field}'")
    } else {
        format!("{at}.{field}")
    }
}

fn missing(at: &str, field: &'static str) -> DefinitionError {
    DefinitionError::MissingField {
        path: at.to_owned(),
        field,
    }
}

fn wrong_type(at: &str, expected: &'static str, found: &Value) -> DefinitionError {
    DefinitionError::WrongType {
        path: at.to_owned(),
        expected,
        found: json_type(found),
    }
}

/// "a number", "an array", ... for messages.
pub(super) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
