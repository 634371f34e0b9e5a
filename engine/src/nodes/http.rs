//! The `http` node: `method`, `url`, `headers`, `body`, `timeout_ms` and
//! `expected_statuses` from its rendered config, sent through the `egress`
//! crate's SSRF guard with `Idempotency-Key: <execution id>:<node id>`.
//! Its output is the response: `status`, `headers`, `body`, `url`,
//! `truncated`.

use std::time::Duration;

use egress::{EgressPolicy, HttpError, HttpRequest, Method, RequestBody, Retry, StatusRange};
use serde_json::{json, Value};

use super::NodeFailure;

pub(super) async fn run(
    client: &egress::Client,
    policy: &EgressPolicy,
    config: &Value,
    key: &str,
) -> Result<Value, NodeFailure> {
    let request = request(config, key).map_err(NodeFailure::permanent)?;
    match client.send(&request, policy).await {
        Ok(response) => Ok(json!({
            "status": response.status,
            "headers": response.headers,
            "body": response.body,
            "url": response.url,
            "truncated": response.truncated,
        })),
        Err(err) => Err(failure(err)),
    }
}

fn request(config: &Value, key: &str) -> Result<HttpRequest, String> {
    let url = config["url"].as_str().unwrap_or_default();
    let method = match config.get("method").and_then(Value::as_str) {
        None => Method::Get,
        Some(name) => name
            .parse::<Method>()
            .map_err(|_| format!("unknown method '{name}'"))?,
    };
    let mut request = HttpRequest::new(method, url);
    if let Some(headers) = config.get("headers") {
        let Some(headers) = headers.as_object() else {
            return Err(format!(
                "'headers' must be an object of strings (found {headers})"
            ));
        };
        for (name, value) in headers {
            let value = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            request.headers.push((name.clone(), value));
        }
    }
    request.body = match config.get("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(RequestBody::Text(text.clone())),
        Some(json) => Some(RequestBody::Json(json.clone())),
    };
    if let Some(ms) = config.get("timeout_ms").and_then(Value::as_u64) {
        request.timeout = Duration::from_millis(ms);
    }
    if let Some(statuses) = config.get("expected_statuses") {
        request.expected_statuses = Some(expected(statuses)?);
    }
    request.idempotency_key = Some(key.to_owned());
    Ok(request)
}

/// `[200, 404]` or `[[200, 299], 404]`.
fn expected(statuses: &Value) -> Result<Vec<StatusRange>, String> {
    let problem = || {
        format!("'expected_statuses' must be a list of statuses or [from, to] ranges (found {statuses})")
    };
    let list = statuses.as_array().ok_or_else(problem)?;
    list.iter()
        .map(|entry| {
            let status = |v: &Value| v.as_u64().and_then(|n| u16::try_from(n).ok());
            match entry {
                Value::Array(pair) if pair.len() == 2 => {
                    match (status(&pair[0]), status(&pair[1])) {
                        (Some(from), Some(to)) => Ok(StatusRange::new(from, to)),
                        _ => Err(problem()),
                    }
                }
                other => status(other).map(StatusRange::exact).ok_or_else(problem),
            }
        })
        .collect()
}

fn failure(err: HttpError) -> NodeFailure {
    let (retryable, retry_after) = match err.retry() {
        Retry::No => (false, None),
        Retry::Yes { after } => (true, after),
    };
    let message = match err.response() {
        Some(response) => {
            let mut body = response.body.to_string();
            if body.len() > 500 {
                let cut = (0..=500)
                    .rev()
                    .find(|i| body.is_char_boundary(*i))
                    .unwrap_or(0);
                body.truncate(cut);
                body.push('…');
            }
            format!("{err}; response body: {body}")
        }
        None => err.to_string(),
    };
    NodeFailure {
        message,
        retryable,
        retry_after,
    }
}
