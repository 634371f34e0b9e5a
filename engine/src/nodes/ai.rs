//! The `ai` node: one chat completion against an OpenAI-compatible
//! endpoint, from an integration of kind `ai`.
//!
//! The integration's config gives `base_url` (e.g.
//! `https://api.openai.com/v1`) and `model`, optionally `timeout_ms`
//! (default 60 s); its credentials `{"api_key": "..."}` (sent as
//! `Authorization: Bearer`; a local server may need none). The node's
//! rendered config gives `prompt` (the user message), optionally `system`,
//! `temperature` and `max_tokens`. The request is
//! `POST {base_url}/chat/completions` through the egress SSRF guard, under
//! the integration's circuit breaker. The output is
//! `{"content", "model", "usage": {"prompt_tokens", "completion_tokens",
//! "total_tokens"}, "finish_reason"}`.

use std::time::Duration;

use egress::{EgressPolicy, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::access::{http_failure, no_redirects, Access, CallError, Connection, Remote};
use super::NodeFailure;

/// The integration kind an `ai` node uses.
const KIND: &str = "ai";

/// A completion may take long; the integration's `timeout_ms` overrides.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) async fn run(
    access: &Access,
    client: &egress::Client,
    policy: &EgressPolicy,
    config: &Value,
    context: &Value,
    key: &str,
) -> Result<Value, NodeFailure> {
    if config.get("integration_id").is_none() {
        return Err(NodeFailure::permanent(
            "an ai node needs 'integration_id': the id of an integration of kind 'ai' (base URL, model and API key)",
        ));
    }
    let connection = access.connect(config, context).await?;
    let outcome = complete(access, client, policy, &connection, config, key).await;
    connection.credentials.redact_outcome(outcome)
}

async fn complete(
    access: &Access,
    client: &egress::Client,
    policy: &EgressPolicy,
    connection: &Connection,
    config: &Value,
    key: &str,
) -> Result<Value, NodeFailure> {
    if connection.kind != KIND {
        return Err(
            connection.misconfigured(format!("is not of kind '{KIND}', which an ai node needs"))
        );
    }
    let request = request(connection, config, key)?;
    let policy = no_redirects(policy);
    access
        .call(connection, async {
            let response = client.send(&request, &policy).await.map_err(http_failure)?;
            completion(&response).map_err(|problem| CallError {
                failure: NodeFailure::permanent(format!(
                    "the AI endpoint's answer is not a chat completion: {problem}"
                )),
                remote: Remote::Up,
            })
        })
        .await
}

fn request(connection: &Connection, config: &Value, key: &str) -> Result<HttpRequest, NodeFailure> {
    let base_url = connection.setting("base_url")?;
    let model = connection.setting("model")?;
    let mut messages = Vec::new();
    if let Some(system) = config.get("system").filter(|s| !s.is_null()) {
        messages.push(json!({"role": "system", "content": as_text(system)}));
    }
    let prompt = config
        .get("prompt")
        .map(as_text)
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| NodeFailure::permanent("'prompt' rendered to nothing"))?;
    messages.push(json!({"role": "user", "content": prompt}));
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages));
    for field in ["temperature", "max_tokens"] {
        if let Some(value) = config.get(field).filter(|v| !v.is_null()) {
            body.insert(field.into(), value.clone());
        }
    }
    let url = format!("{}/chat/completions", base_url.trim_end_matches('/'));
    let mut request = HttpRequest::post_json(url, Value::Object(body));
    if let Some(api_key) = connection.credentials.text("api_key") {
        request = request.header("Authorization", format!("Bearer {api_key}"));
    }
    request.timeout = connection
        .config
        .get("timeout_ms")
        .and_then(Value::as_u64)
        .filter(|ms| *ms > 0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
    request.idempotency_key = Some(key.to_owned());
    Ok(request)
}

/// The first choice of a chat completion, the model that answered and the
/// tokens it counted.
fn completion(response: &HttpResponse) -> Result<Value, String> {
    let body = &response.body;
    if !body.is_object() {
        return Err(format!("expected a JSON object, got {}", kind_of(body)));
    }
    let choice = body["choices"].get(0).ok_or("it has no 'choices'")?;
    let content = match &choice["message"]["content"] {
        Value::String(text) => Value::String(text.clone()),
        Value::Null => Value::String(String::new()),
        other => other.clone(),
    };
    let usage = &body["usage"];
    Ok(json!({
        "content": content,
        "model": body["model"],
        "usage": {
            "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": usage["completion_tokens"],
            "total_tokens": usage["total_tokens"],
        },
        "finish_reason": choice["finish_reason"],
    }))
}

/// A rendered value as message text: strings as they are, anything else
/// as JSON.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
