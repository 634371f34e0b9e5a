//! The `integration` node: an `action` of a registered integration, with
//! its credentials, under its circuit breaker. The node's config is
//! rendered first, so every action parameter may be a template.
//!
//! | kind | action | parameters | integration config / credentials |
//! |---|---|---|---|
//! | `http_api` | `request` | `method`, `path`, `query`, `headers`, `body`, `timeout_ms` | `base_url`, `auth`?, `api_key_header`?, `headers`? / `api_key`, `token` or `username` + `password` |
//! | `slack_webhook` | `post_message` | `text`, `blocks`, ... | / `webhook_url` |
//! | `smtp` | `send_email` | `to`, `subject`, `text`, `html`?, `from`? | see the `smtp` module |
//!
//! HTTP actions go through the egress SSRF guard and follow no redirect;
//! their failures are classified like the `http` node's.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use egress::{EgressPolicy, HttpRequest, Method, RequestBody, Url};
use serde_json::{json, Map, Value};

use super::access::{http_failure, no_redirects, Access, Connection};
use super::{smtp, NodeFailure};

/// The actions of each kind the engine knows.
const ACTIONS: [(&str, &str); 3] = [
    ("http_api", "request"),
    ("slack_webhook", "post_message"),
    ("smtp", "send_email"),
];

/// The header an API key goes in unless the integration names another.
const DEFAULT_API_KEY_HEADER: &str = "X-API-Key";

/// What a Slack webhook message may carry besides `text` and `blocks`.
const SLACK_FIELDS: [&str; 10] = [
    "text",
    "blocks",
    "attachments",
    "thread_ts",
    "mrkdwn",
    "unfurl_links",
    "unfurl_media",
    "username",
    "icon_emoji",
    "icon_url",
];

pub(super) async fn run(
    access: &Access,
    client: &egress::Client,
    policy: &EgressPolicy,
    config: &Value,
    context: &Value,
    key: &str,
) -> Result<Value, NodeFailure> {
    let connection = access.connect(config, context).await?;
    let outcome = act(access, client, policy, &connection, config, key).await;
    connection.credentials.redact_outcome(outcome)
}

async fn act(
    access: &Access,
    client: &egress::Client,
    policy: &EgressPolicy,
    connection: &Connection,
    config: &Value,
    key: &str,
) -> Result<Value, NodeFailure> {
    let action = config["action"].as_str().unwrap_or_default();
    let request = match (connection.kind.as_str(), action) {
        ("http_api", "request") => api_request(connection, config, key)?,
        ("slack_webhook", "post_message") => slack_message(connection, config, key)?,
        ("smtp", "send_email") => {
            let email = smtp::Email::build(connection, config, key)?;
            return access.call(connection, email.send(policy)).await;
        }
        (kind, _) => return Err(unknown_action(connection, kind, action)),
    };
    let slack = connection.kind == "slack_webhook";
    let policy = no_redirects(policy);
    access
        .call(connection, async {
            let response = client.send(&request, &policy).await.map_err(http_failure)?;
            Ok(if slack {
                json!({"ok": true, "status": response.status, "response": response.body})
            } else {
                json!({
                    "status": response.status,
                    "headers": response.headers,
                    "body": response.body,
                    "url": response.url,
                    "truncated": response.truncated,
                })
            })
        })
        .await
}

fn unknown_action(connection: &Connection, kind: &str, action: &str) -> NodeFailure {
    let known: Vec<&str> = ACTIONS
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, a)| *a)
        .collect();
    if known.is_empty() {
        let kinds: Vec<&str> = ACTIONS.iter().map(|(k, _)| *k).collect();
        return connection.misconfigured(format!(
            "has no actions this engine can run; integration nodes run integrations of kind {}",
            kinds.join(", ")
        ));
    }
    connection.misconfigured(format!(
        "has no action '{action}'; its actions: {}",
        known.join(", ")
    ))
}

/// `request`: `method` (GET), `path` appended to the base URL, `query`,
/// `headers`, `body` (JSON, or text when a string), `timeout_ms`, with the
/// integration's authentication.
fn api_request(
    connection: &Connection,
    config: &Value,
    key: &str,
) -> Result<HttpRequest, NodeFailure> {
    let mut url = Url::parse(connection.setting("base_url")?)
        .map_err(|err| connection.misconfigured(format!("has an invalid 'base_url': {err}")))?;
    if let Some(path) = text_param(config, "path")? {
        let joined = format!(
            "{}/{}",
            url.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
    }
    if let Some(query) = object_param(config, "query")? {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in query {
            pairs.append_pair(name, &as_text(value));
        }
    }
    let method = match text_param(config, "method")? {
        None => Method::Get,
        Some(name) => name.parse::<Method>().map_err(NodeFailure::permanent)?,
    };
    let mut request = HttpRequest::new(method, url.to_string());
    let auth = authorization(connection)?;
    let auth_name = auth.as_ref().map(|(name, _)| name.to_ascii_lowercase());
    let defaults = connection.config.get("headers").and_then(Value::as_object);
    for headers in [defaults, object_param(config, "headers")?]
        .into_iter()
        .flatten()
    {
        for (name, value) in headers {
            if auth_name.as_deref() != Some(name.to_ascii_lowercase().as_str()) {
                request.headers.push((name.clone(), as_text(value)));
            }
        }
    }
    request.headers.extend(auth);
    request.body = match config.get("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(RequestBody::Text(text.clone())),
        Some(json) => Some(RequestBody::Json(json.clone())),
    };
    if let Some(ms) = config.get("timeout_ms").and_then(Value::as_u64) {
        request.timeout = std::time::Duration::from_millis(ms.max(1));
    }
    request.idempotency_key = Some(key.to_owned());
    Ok(request)
}

/// The header that authenticates an `http_api` call: the integration's
/// `auth` (`api_key`, `bearer`, `basic` or `none`), or what its
/// credentials hold when it names none.
fn authorization(connection: &Connection) -> Result<Option<(String, String)>, NodeFailure> {
    let creds = &connection.credentials;
    let auth = match connection.config.get("auth").and_then(Value::as_str) {
        Some(auth) => auth,
        None if creds.text("api_key").is_some() => "api_key",
        None if creds.text("token").is_some() => "bearer",
        None if creds.text("username").is_some() => "basic",
        None => "none",
    };
    let missing = |fields: &str| {
        connection.misconfigured(format!(
            "uses '{auth}' authentication but its credentials have no {fields}"
        ))
    };
    Ok(match auth {
        "none" => None,
        "api_key" => {
            let header = connection
                .config
                .get("api_key_header")
                .and_then(Value::as_str)
                .unwrap_or(DEFAULT_API_KEY_HEADER);
            let value = creds.text("api_key").ok_or_else(|| missing("'api_key'"))?;
            Some((header.to_owned(), value.to_owned()))
        }
        "bearer" => {
            let token = creds.text("token").ok_or_else(|| missing("'token'"))?;
            Some(("Authorization".to_owned(), format!("Bearer {token}")))
        }
        "basic" => {
            let (Some(user), Some(password)) = (creds.text("username"), creds.text("password"))
            else {
                return Err(missing("'username' and 'password'"));
            };
            let pair = B64.encode(format!("{user}:{password}"));
            Some(("Authorization".to_owned(), format!("Basic {pair}")))
        }
        other => {
            return Err(connection.misconfigured(format!(
                "has an unknown 'auth' \"{other}\"; use api_key, bearer, basic or none"
            )))
        }
    })
}

/// `post_message`: `text` and/or `blocks` (and Slack's other message
/// fields) posted as JSON to the webhook URL in the credentials.
fn slack_message(
    connection: &Connection,
    config: &Value,
    key: &str,
) -> Result<HttpRequest, NodeFailure> {
    let url = connection
        .credentials
        .text("webhook_url")
        .ok_or_else(|| connection.misconfigured("has no 'webhook_url' in its credentials"))?;
    let mut message = Map::new();
    for field in SLACK_FIELDS {
        match config.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(blocks)) if field == "blocks" => {
                let parsed = serde_json::from_str::<Value>(blocks)
                    .ok()
                    .filter(Value::is_array)
                    .ok_or_else(|| {
                        NodeFailure::permanent("'blocks' must be a list of Slack blocks")
                    })?;
                message.insert(field.into(), parsed);
            }
            Some(value) => {
                message.insert(field.into(), value.clone());
            }
        }
    }
    if !message.contains_key("text") && !message.contains_key("blocks") {
        return Err(NodeFailure::permanent(
            "'text' (or 'blocks') is required to post a message",
        ));
    }
    let mut request = HttpRequest::post_json(url, Value::Object(message));
    request.idempotency_key = Some(key.to_owned());
    Ok(request)
}

fn text_param<'a>(config: &'a Value, field: &str) -> Result<Option<&'a str>, NodeFailure> {
    match config.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(NodeFailure::permanent(format!(
            "'{field}' must be a string (found {other})"
        ))),
    }
}

fn object_param<'a>(
    config: &'a Value,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, NodeFailure> {
    match config.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(NodeFailure::permanent(format!(
            "'{field}' must be an object (found {other})"
        ))),
    }
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
