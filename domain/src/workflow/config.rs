//! Per-type rules for node configs, and the duration format shared by
//! `delay` and `wait_for_signal` nodes.

use std::time::Duration;

use serde_json::{Map, Value};

use super::parse::json_type;
use super::{DefinitionError, Node, NodeType};

/// HTTP methods an `http` node may use.
pub const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// A value that is not a valid duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a positive duration such as \"500ms\", \"30s\", \"5m\", \"2h\", \"1d\" or a positive integer of seconds (found {found})")]
pub struct DurationError {
    /// The rejected value, rendered as JSON.
    pub found: String,
}

/// Reads a duration: a string of digits followed by `ms`, `s`, `m`, `h` or
/// `d`, or a positive integer of seconds. Zero is rejected.
pub fn parse_duration(value: &Value) -> Result<Duration, DurationError> {
    let error = || DurationError {
        found: value.to_string(),
    };
    let duration = match value {
        Value::Number(n) => n.as_u64().map(Duration::from_secs).ok_or_else(error)?,
        Value::String(s) => {
            let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(error)?;
            let (digits, unit) = s.split_at(split);
            let amount: u64 = digits.parse().map_err(|_| error())?;
            let seconds_per_unit = match unit {
                "ms" => return nonzero(Duration::from_millis(amount)).ok_or_else(error),
                "s" => 1,
                "m" => 60,
                "h" => 3_600,
                "d" => 86_400,
                _ => return Err(error()),
            };
            amount
                .checked_mul(seconds_per_unit)
                .map(Duration::from_secs)
                .ok_or_else(error)?
        }
        _ => return Err(error()),
    };
    nonzero(duration).ok_or_else(error)
}

fn nonzero(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}

/// Checks a node's config against the rules of its type.
pub(super) fn check(node: &Node) -> Result<(), DefinitionError> {
    let invalid = |problem: String| DefinitionError::InvalidConfig {
        node: node.id.clone(),
        node_type: node.node_type,
        problem,
    };
    let config = node.config.as_object().ok_or_else(|| {
        invalid(format!(
            "config must be a JSON object (found {})",
            json_type(&node.config)
        ))
    })?;
    check_fields(node.node_type, config).map_err(invalid)?;
    crate::execution::RetryPolicy::parse(config.get("retry")).map_err(invalid)?;
    // A `wait_for_signal` node's timeout is how long it waits (checked
    // above); any other node's is how long one attempt may take.
    if node.node_type != NodeType::WaitForSignal {
        if let Some(timeout) = config.get("timeout").filter(|t| !t.is_null()) {
            duration_field("timeout", timeout).map_err(invalid)?;
        }
    }
    Ok(())
}

fn check_fields(node_type: NodeType, config: &Map<String, Value>) -> Result<(), String> {
    match node_type {
        NodeType::Http => {
            required_text(config, "url")?;
            if let Some(method) = config.get("method") {
                let valid = method.as_str().is_some_and(|m| HTTP_METHODS.contains(&m));
                if !valid {
                    return Err(format!(
                        "'method' must be one of {} (found {method})",
                        HTTP_METHODS.join(", ")
                    ));
                }
            }
            if let Some(timeout) = config.get("timeout_ms") {
                if timeout.as_u64().is_none_or(|ms| ms == 0) {
                    return Err(format!(
                        "'timeout_ms' must be a positive integer of milliseconds (found {timeout})"
                    ));
                }
            }
            Ok(())
        }
        NodeType::Transform | NodeType::Condition => required_text(config, "expression"),
        NodeType::Delay => match (config.get("duration"), config.get("until")) {
            (Some(value), None) => duration_field("duration", value),
            (None, Some(Value::String(until)))
                if chrono::DateTime::parse_from_rfc3339(until).is_ok() =>
            {
                Ok(())
            }
            (None, Some(until)) => Err(format!(
                "'until' must be an RFC 3339 instant such as \"2026-12-24T18:00:00Z\" (found {until})"
            )),
            (Some(_), Some(_)) => Err("give either 'duration' or 'until', not both".to_owned()),
            (None, None) => Err(
                "'duration' (e.g. \"30s\") or 'until' (an RFC 3339 instant) is required".to_owned(),
            ),
        },
        NodeType::Code => {
            required_text(config, "source")?;
            match config.get("language") {
                None => Ok(()),
                Some(Value::String(language)) if language == "javascript" => Ok(()),
                Some(other) => Err(format!(
                    "'language' must be \"javascript\", the only supported language (found {other})"
                )),
            }
        }
        NodeType::Ai => {
            required_text(config, "prompt")?;
            // Optional here so definitions stored before ai nodes ran stay
            // valid; the engine fails such a step with a clear message.
            if config.contains_key("integration_id") {
                integration_id(config)?;
            }
            optional_text(config, "system")?;
            if let Some(temperature) = config.get("temperature") {
                if temperature.as_f64().is_none_or(|t| !(0.0..=2.0).contains(&t)) {
                    return Err(format!(
                        "'temperature' must be a number from 0 to 2 (found {temperature})"
                    ));
                }
            }
            positive_integer(config, "max_tokens", "tokens")
        }
        NodeType::Integration => {
            integration_id(config)?;
            required_text(config, "action")?;
            integration_action(config)
        }
        NodeType::WaitForSignal => {
            required_text(config, "signal")?;
            match config.get("timeout") {
                None | Some(Value::Null) => Ok(()),
                Some(value) => duration_field("timeout", value),
            }
        }
    }
}

fn integration_id(config: &Map<String, Value>) -> Result<(), String> {
    required_text(config, "integration_id")?;
    let id = config["integration_id"].as_str().unwrap_or_default();
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(format!(
            "'integration_id' must be the UUID of a registered integration (found \"{id}\")"
        ));
    }
    Ok(())
}

/// The parameters of the actions the engine knows. Which actions an
/// integration has depends on its kind, known only when the step runs, so
/// other action names are left to the engine. Values may be templates, so
/// only their JSON types are checked.
fn integration_action(config: &Map<String, Value>) -> Result<(), String> {
    match config["action"].as_str().unwrap_or_default() {
        "request" => {
            if let Some(method) = config.get("method") {
                let valid = method.as_str().is_some_and(|m| HTTP_METHODS.contains(&m));
                if !valid {
                    return Err(format!(
                        "'method' must be one of {} (found {method})",
                        HTTP_METHODS.join(", ")
                    ));
                }
            }
            optional_text(config, "path")?;
            for field in ["query", "headers"] {
                if config.get(field).is_some_and(|v| !v.is_object()) {
                    return Err(format!(
                        "'{field}' must be an object (found {})",
                        json_type(&config[field])
                    ));
                }
            }
            positive_integer(config, "timeout_ms", "milliseconds")
        }
        "post_message" => match (config.get("text"), config.get("blocks")) {
            (None, None) => Err("'text' (or 'blocks') is required to post a message".to_owned()),
            (text, blocks) => {
                if text.is_some() {
                    required_text(config, "text")?;
                }
                match blocks {
                    Some(blocks) if !blocks.is_array() && !blocks.is_string() => Err(format!(
                        "'blocks' must be a list of Slack blocks (found {})",
                        json_type(blocks)
                    )),
                    _ => Ok(()),
                }
            }
        },
        "send_email" => {
            match config.get("to") {
                Some(Value::Array(list))
                    if !list.is_empty()
                        && list
                            .iter()
                            .all(|a| a.as_str().is_some_and(|a| !a.trim().is_empty())) => {}
                Some(Value::Array(_)) => {
                    return Err(
                        "'to' must list at least one address, each a non-empty string".to_owned(),
                    )
                }
                _ => required_text(config, "to")?,
            }
            required_text(config, "subject")?;
            required_text(config, "text")?;
            optional_text(config, "html")?;
            optional_text(config, "from")
        }
        _ => Ok(()),
    }
}

fn optional_text(config: &Map<String, Value>, field: &str) -> Result<(), String> {
    match config.get(field) {
        None | Some(Value::String(_)) => Ok(()),
        Some(other) => Err(format!(
            "'{field}' must be a string (found {})",
            json_type(other)
        )),
    }
}

fn positive_integer(config: &Map<String, Value>, field: &str, unit: &str) -> Result<(), String> {
    match config.get(field) {
        Some(value) if value.as_u64().is_none_or(|n| n == 0) => Err(format!(
            "'{field}' must be a positive integer of {unit} (found {value})"
        )),
        _ => Ok(()),
    }
}

fn required_text(config: &Map<String, Value>, field: &str) -> Result<(), String> {
    match config.get(field) {
        None => Err(format!("'{field}' is required (a non-empty string)")),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(()),
        Some(Value::String(_)) => Err(format!("'{field}' must not be empty")),
        Some(other) => Err(format!(
            "'{field}' must be a non-empty string (found {})",
            json_type(other)
        )),
    }
}

fn duration_field(field: &str, value: &Value) -> Result<(), String> {
    parse_duration(value)
        .map(|_| ())
        .map_err(|err| format!("'{field}' {err}"))
}
