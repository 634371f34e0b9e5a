//! The http node's request and recorded response.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Default request timeout, covering every redirect hop and the body read.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default `User-Agent` header.
pub const DEFAULT_USER_AGENT: &str = concat!("jobsprint/", env!("CARGO_PKG_VERSION"));

/// An HTTP method the http node can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// HEAD.
    Head,
    /// OPTIONS.
    Options,
}

impl Method {
    /// The method's name as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Head => "HEAD",
            Self::Options => "OPTIONS",
        }
    }

    pub(crate) fn to_reqwest(self) -> reqwest::Method {
        match self {
            Self::Get => reqwest::Method::GET,
            Self::Post => reqwest::Method::POST,
            Self::Put => reqwest::Method::PUT,
            Self::Patch => reqwest::Method::PATCH,
            Self::Delete => reqwest::Method::DELETE,
            Self::Head => reqwest::Method::HEAD,
            Self::Options => reqwest::Method::OPTIONS,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "GET" => Self::Get,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            "HEAD" => Self::Head,
            "OPTIONS" => Self::Options,
            _ => return Err(format!("unsupported HTTP method {s:?}")),
        })
    }
}

/// A request body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum RequestBody {
    /// Serialised as JSON; `Content-Type: application/json` unless the request sets one.
    Json(Value),
    /// Sent as is; `Content-Type: text/plain; charset=utf-8` unless the request sets one.
    Text(String),
    /// Sent as is; `Content-Type: application/octet-stream` unless the request sets one.
    Bytes(Vec<u8>),
}

impl RequestBody {
    pub(crate) fn default_content_type(&self) -> &'static str {
        match self {
            Self::Json(_) => "application/json",
            Self::Text(_) => "text/plain; charset=utf-8",
            Self::Bytes(_) => "application/octet-stream",
        }
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Json(v) => serde_json::to_vec(v).unwrap_or_default(),
            Self::Text(t) => t.clone().into_bytes(),
            Self::Bytes(b) => b.clone(),
        }
    }
}

/// An inclusive range of HTTP statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRange {
    /// The first status in the range.
    pub from: u16,
    /// The last status in the range (inclusive).
    pub to: u16,
}

impl StatusRange {
    /// The statuses `from..=to`.
    pub fn new(from: u16, to: u16) -> Self {
        Self { from, to }
    }

    /// Exactly one status.
    pub fn exact(status: u16) -> Self {
        Self::new(status, status)
    }

    /// Whether `status` is in the range.
    pub fn contains(&self, status: u16) -> bool {
        (self.from..=self.to).contains(&status)
    }
}

/// One outbound request of the http node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The absolute http or https URL.
    pub url: String,
    /// Request headers in order; repeated names are all sent.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    #[serde(default)]
    pub body: Option<RequestBody>,
    /// Bound on the whole exchange: every redirect hop and the body read.
    pub timeout: Duration,
    /// Statuses that count as success; `None` means 200..=299.
    #[serde(default)]
    pub expected_statuses: Option<Vec<StatusRange>>,
    /// Sent as `Idempotency-Key` (the engine passes `<execution id>:<node id>`).
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

impl HttpRequest {
    /// A request with no headers, no body, the default timeout and 2xx expected.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout: DEFAULT_TIMEOUT,
            expected_statuses: None,
            idempotency_key: None,
        }
    }

    /// A GET request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A POST request with a JSON body.
    pub fn post_json(url: impl Into<String>, body: Value) -> Self {
        Self {
            body: Some(RequestBody::Json(body)),
            ..Self::new(Method::Post, url)
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Whether `status` counts as success for this request.
    pub fn is_expected(&self, status: u16) -> bool {
        match &self.expected_statuses {
            None => (200..=299).contains(&status),
            Some(ranges) => ranges.iter().any(|r| r.contains(status)),
        }
    }
}

/// How [`HttpResponse::body`] was decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyEncoding {
    /// A JSON content type whose (complete) body parsed: `body` is the parsed value.
    Json,
    /// UTF-8 text: `body` is a string.
    Text,
    /// Not UTF-8: `body` is a string holding the bytes in standard base64.
    Base64,
}

/// The recorded response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The URL that answered (after redirects).
    pub url: String,
    /// Headers by lower-cased name; each name's values in the order received.
    pub headers: BTreeMap<String, Vec<String>>,
    /// The body, decoded as [`HttpResponse::encoding`] says.
    pub body: Value,
    /// How `body` was decoded.
    pub encoding: BodyEncoding,
    /// The body was longer than the policy's cap and was cut there (never parsed as JSON then).
    pub truncated: bool,
}

impl HttpResponse {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .and_then(|values| values.first())
            .map(String::as_str)
    }

    /// Whether the content type is JSON (`application/json` or any `+json` type).
    pub fn is_json_content_type(content_type: &str) -> bool {
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        mime == "application/json" || mime.ends_with("+json")
    }
}

/// Decodes a (possibly truncated) body: JSON when the content type says so and it parses,
/// else UTF-8 text (a multi-byte character cut by truncation is dropped), else base64.
pub(crate) fn decode_body(
    bytes: &[u8],
    content_type: Option<&str>,
    truncated: bool,
) -> (Value, BodyEncoding) {
    let json_type = content_type.is_some_and(HttpResponse::is_json_content_type);
    if json_type && !truncated {
        if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
            return (value, BodyEncoding::Json);
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => (Value::String(text.to_string()), BodyEncoding::Text),
        Err(e) if truncated && e.error_len().is_none() => {
            let text = String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned();
            (Value::String(text), BodyEncoding::Text)
        }
        Err(_) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
            (Value::String(encoded), BodyEncoding::Base64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_json_text_and_binary() {
        let (v, e) = decode_body(
            br#"{"a":1}"#,
            Some("application/json; charset=utf-8"),
            false,
        );
        assert_eq!((v, e), (json!({"a": 1}), BodyEncoding::Json));
        let (v, e) = decode_body(b"{not json", Some("application/problem+json"), false);
        assert_eq!((v, e), (json!("{not json"), BodyEncoding::Text));
        let (v, e) = decode_body(br#"{"a":1}"#, Some("text/plain"), false);
        assert_eq!((v, e), (json!(r#"{"a":1}"#), BodyEncoding::Text));
        let (v, e) = decode_body(&[0xff, 0x00, 0x01], None, false);
        assert_eq!((v, e), (json!("/wAB"), BodyEncoding::Base64));
    }

    #[test]
    fn truncated_body_drops_a_cut_character() {
        let bytes = "héllo".as_bytes();
        let (v, e) = decode_body(&bytes[..2], Some("text/plain"), true);
        assert_eq!((v, e), (json!("h"), BodyEncoding::Text));
        let (v, e) = decode_body(br#"{"a":1}"#, Some("application/json"), true);
        assert_eq!((v, e), (json!(r#"{"a":1}"#), BodyEncoding::Text));
    }

    #[test]
    fn expected_statuses_default_to_2xx() {
        let mut r = HttpRequest::get("http://example.com/");
        assert!(r.is_expected(200) && r.is_expected(299));
        assert!(!r.is_expected(301) && !r.is_expected(404));
        r.expected_statuses = Some(vec![StatusRange::exact(404), StatusRange::new(200, 201)]);
        assert!(r.is_expected(404) && r.is_expected(201) && !r.is_expected(202));
        assert_eq!("patch".parse::<Method>(), Ok(Method::Patch));
        assert!("TRACE".parse::<Method>().is_err());
    }
}
