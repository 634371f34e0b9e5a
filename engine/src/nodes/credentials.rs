//! An integration's credentials in plain text while a step uses them, and
//! the redaction that keeps them out of everything the step records.
//!
//! Credentials are one JSON document (`{"api_key": "..."}`,
//! `{"username": "...", "password": "..."}`, `{"webhook_url": "..."}`).
//! Every string in it, and the forms a request derives from them (a Basic
//! authorization, a URL as normalised), is a secret: each is replaced by
//! `***` in a step's output and error, whatever echoed it back.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use commands::secrets::SecretString;
use serde_json::Value;
use zeroize::Zeroize;

use super::NodeFailure;

/// What replaces a secret.
const REDACTED: &str = "***";

/// Shorter strings are not redacted: replacing every "abc" of a response
/// would garble it, and such a secret protects nothing.
const MIN_SECRET_CHARS: usize = 4;

/// Fields that name an account rather than guard it; redacting them would
/// garble outputs (a user name is often echoed on purpose).
const NOT_SECRET: [&str; 2] = ["username", "user"];

/// Plain-text credentials. `Debug` prints `***`; the text is zeroed when
/// dropped.
pub(super) struct Credentials {
    document: Value,
    /// Every secret form, longest first.
    secrets: Vec<String>,
}

impl Credentials {
    /// The credentials as registered: a JSON document, or a bare string
    /// kept as one.
    pub(super) fn open(plain: Option<&SecretString>) -> Credentials {
        let document = match plain {
            None => Value::Null,
            Some(plain) => serde_json::from_str(plain.expose())
                .unwrap_or_else(|_| Value::String(plain.expose().to_owned())),
        };
        let mut secrets = Vec::new();
        collect(&document, None, &mut secrets);
        if let (Some(user), Some(password)) =
            (text(&document, "username"), text(&document, "password"))
        {
            let pair = format!("{user}:{password}");
            secrets.push(B64.encode(&pair));
            secrets.push(pair);
        }
        secrets.retain(|s| s.chars().count() >= MIN_SECRET_CHARS);
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Credentials { document, secrets }
    }

    /// Field `name` when it is a non-empty string.
    pub(super) fn text(&self, name: &str) -> Option<&str> {
        text(&self.document, name)
    }

    /// `text` with every secret replaced by `***`.
    pub(super) fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// `value` with every secret in its strings (and keys) replaced.
    pub(super) fn redact_value(&self, value: Value) -> Value {
        match value {
            Value::String(text) => Value::String(self.redact(&text)),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.redact_value(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (self.redact(&k), self.redact_value(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// A step's outcome with every secret replaced.
    pub(super) fn redact_outcome(
        &self,
        outcome: Result<Value, NodeFailure>,
    ) -> Result<Value, NodeFailure> {
        match outcome {
            Ok(value) => Ok(self.redact_value(value)),
            Err(failure) => Err(NodeFailure {
                message: self.redact(&failure.message),
                ..failure
            }),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(***)")
    }
}

impl Drop for Credentials {
    fn drop(&mut self) {
        zero(&mut self.document);
        for secret in &mut self.secrets {
            secret.zeroize();
        }
    }
}

fn text<'a>(document: &'a Value, name: &str) -> Option<&'a str> {
    document
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Every string of `value` but account names, and for URLs the forms a
/// request shows them in: normalised, and their path and query alone
/// (a webhook URL is all secret past its host).
fn collect(value: &Value, key: Option<&str>, out: &mut Vec<String>) {
    match value {
        Value::String(text) if !key.is_some_and(|k| NOT_SECRET.contains(&k)) => {
            out.push(text.clone());
            if let Ok(url) = egress::Url::parse(text) {
                if url.has_host() {
                    out.push(url.to_string());
                    if url.path().len() > 1 {
                        out.push(url.path().to_owned());
                    }
                    if let Some(query) = url.query() {
                        out.push(query.to_owned());
                    }
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect(item, key, out)),
        Value::Object(map) => map
            .iter()
            .for_each(|(name, item)| collect(item, Some(name), out)),
        _ => {}
    }
}

fn zero(value: &mut Value) {
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(zero),
        Value::Object(map) => map.values_mut().for_each(zero),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn credentials(document: Value) -> Credentials {
        Credentials::open(Some(&SecretString::new(document.to_string())))
    }

    #[test]
    fn every_secret_and_its_derived_forms_are_redacted() {
        let creds = credentials(json!({
            "username": "ada", "password": "s3cret-pw",
            "webhook_url": "https://hooks.example.com/services/T0/B0/XyZ",
            "nested": {"api_key": "sk-live-123"}
        }));
        let basic = B64.encode("ada:s3cret-pw");
        let text = format!(
            "pw s3cret-pw key sk-live-123 auth Basic {basic} url https://hooks.example.com/services/T0/B0/XyZ/ path /services/T0/B0/XyZ user ada"
        );
        assert_eq!(
            creds.redact(&text),
            "pw *** key *** auth Basic *** url ***/ path *** user ada"
        );
        let output = creds.redact_value(json!({"echo": ["sk-live-123"], "sk-live-123": 1}));
        assert_eq!(output, json!({"echo": ["***"], "***": 1}));
        let failed = creds.redact_outcome(Err(NodeFailure {
            message: "401 for sk-live-123".into(),
            retryable: true,
            retry_after: None,
        }));
        assert_eq!(failed.unwrap_err().message, "401 for ***");
    }

    #[test]
    fn short_strings_and_missing_credentials_redact_nothing() {
        let creds = credentials(json!({"pin": "123", "token": "abcd"}));
        assert_eq!(creds.redact("123 abcd"), "123 ***");
        assert_eq!(creds.text("pin"), Some("123"));
        let none = Credentials::open(None);
        assert_eq!(none.redact("anything"), "anything");
        assert_eq!(none.text("api_key"), None);
    }

    #[test]
    fn a_bare_string_is_one_secret_and_debug_shows_nothing() {
        let creds = Credentials::open(Some(&SecretString::new("plain-token-value")));
        assert_eq!(creds.redact("Bearer plain-token-value"), "Bearer ***");
        assert_eq!(format!("{creds:?}"), "Credentials(***)");
    }
}
