//! What a delivery becomes: the execution's input document
//! `{"body", "headers", "query"}` and the sender's delivery id.

use axum::http::{header, HeaderMap};
use serde_json::{Map, Value};

/// Headers naming the delivery, in order of preference.
const DELIVERY_HEADERS: [&str; 2] = ["x-jobsprint-delivery", "idempotency-key"];
/// Longest delivery id, in characters.
pub(crate) const MAX_DELIVERY_ID_CHARS: usize = 128;

/// Why a request could not become an input. Nothing was started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InputError {
    /// The content type says JSON but the body does not parse.
    #[error("the body is not valid JSON ({0}) although the Content-Type says JSON; send JSON or another Content-Type")]
    BadJson(String),
    /// The body is neither JSON nor UTF-8 text.
    #[error("the body is neither JSON nor UTF-8 text; webhooks accept JSON or text bodies")]
    NotText,
    /// The delivery id header is unusable.
    #[error("the {header} header must be 1 to {MAX_DELIVERY_ID_CHARS} visible ASCII characters")]
    BadDeliveryId {
        /// The header that carried it.
        header: &'static str,
    },
}

/// The execution's input: the body (JSON, or the text when not JSON), the
/// selected headers and the query parameters.
pub(crate) fn input(
    headers: &HeaderMap,
    query: &[(String, String)],
    body: &[u8],
) -> Result<Value, InputError> {
    let mut input = Map::new();
    input.insert("body".into(), body_value(headers, body)?);
    input.insert("headers".into(), Value::Object(selected_headers(headers)));
    input.insert("query".into(), Value::Object(query_value(query)));
    Ok(Value::Object(input))
}

/// The sender's delivery id: `X-Jobsprint-Delivery`, else `Idempotency-Key`.
pub(crate) fn delivery_id(headers: &HeaderMap) -> Result<Option<String>, InputError> {
    for name in DELIVERY_HEADERS {
        let Some(value) = headers.get(name) else {
            continue;
        };
        let bad = InputError::BadDeliveryId { header: name };
        let text = value.to_str().map_err(|_| bad.clone())?.trim();
        let visible = text.bytes().all(|b| b.is_ascii_graphic());
        if text.is_empty() || text.len() > MAX_DELIVERY_ID_CHARS || !visible {
            return Err(bad);
        }
        return Ok(Some(text.to_owned()));
    }
    Ok(None)
}

/// A JSON content type (`application/json`, `application/*+json`) must
/// hold JSON; without one, JSON is taken as JSON; anything else is text.
/// An empty body is `null`.
fn body_value(headers: &HeaderMap, body: &[u8]) -> Result<Value, InputError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let essence = v.split(';').next().unwrap_or_default();
            essence.trim().to_ascii_lowercase()
        });
    match content_type.as_deref() {
        Some(essence) if essence == "application/json" || essence.ends_with("+json") => {
            serde_json::from_slice(body).map_err(|err| InputError::BadJson(err.to_string()))
        }
        None => match serde_json::from_slice(body) {
            Ok(value) => Ok(value),
            Err(_) => text(body),
        },
        Some(_) => text(body),
    }
}

fn text(body: &[u8]) -> Result<Value, InputError> {
    std::str::from_utf8(body)
        .map(|text| Value::String(text.to_owned()))
        .map_err(|_| InputError::NotText)
}

/// `content-type`, `user-agent` and every `x-*` header but the signature,
/// by lower-case name; repeated headers are joined with ", ".
fn selected_headers(headers: &HeaderMap) -> Map<String, Value> {
    let mut selected = Map::new();
    for name in headers.keys() {
        let name = name.as_str();
        let wanted = name == "content-type" || name == "user-agent" || name.starts_with("x-");
        if !wanted || name.eq_ignore_ascii_case(auth::webhook::SIGNATURE_HEADER) {
            continue;
        }
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        selected.insert(name.to_owned(), Value::String(values.join(", ")));
    }
    selected
}

/// Query parameters; a repeated name becomes an array of its values.
fn query_value(query: &[(String, String)]) -> Map<String, Value> {
    let mut map = Map::new();
    for (name, value) in query {
        let value = Value::String(value.clone());
        match map.get_mut(name) {
            None => {
                map.insert(name.clone(), value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn json_and_text_bodies() {
        let json_type = headers(&[("content-type", "application/json; charset=utf-8")]);
        assert_eq!(
            body_value(&json_type, br#"{"a":1}"#).unwrap(),
            json!({"a": 1})
        );
        assert!(matches!(
            body_value(&json_type, b"a=1"),
            Err(InputError::BadJson(_))
        ));
        let vendor = headers(&[("content-type", "application/vnd.acme+json")]);
        assert_eq!(body_value(&vendor, b"[1]").unwrap(), json!([1]));
        let none = HeaderMap::new();
        assert_eq!(body_value(&none, b"[1]").unwrap(), json!([1]));
        assert_eq!(body_value(&none, b"a=1").unwrap(), json!("a=1"));
        let plain = headers(&[("content-type", "text/plain")]);
        assert_eq!(body_value(&plain, b"true").unwrap(), json!("true"));
        assert_eq!(body_value(&plain, b"").unwrap(), Value::Null);
        assert_eq!(body_value(&plain, &[0xff, 0xfe]), Err(InputError::NotText));
    }

    #[test]
    fn selects_headers_and_folds_the_query() {
        let map = headers(&[
            ("content-type", "application/json"),
            ("user-agent", "acme/1"),
            ("x-acme-event", "order.paid"),
            ("x-acme-event", "again"),
            ("x-jobsprint-signature", "t=1,v1=00"),
            ("authorization", "Bearer nope"),
            ("cookie", "a=b"),
        ]);
        assert_eq!(
            Value::Object(selected_headers(&map)),
            json!({"content-type": "application/json", "user-agent": "acme/1",
                   "x-acme-event": "order.paid, again"})
        );
        let query = [("a", "1"), ("b", "2"), ("a", "3"), ("a", "4")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(
            Value::Object(query_value(&query)),
            json!({"a": ["1", "3", "4"], "b": "2"})
        );
    }

    #[test]
    fn delivery_ids_prefer_the_jobsprint_header_and_must_be_visible_ascii() {
        let both = headers(&[("idempotency-key", "k"), ("x-jobsprint-delivery", " d-1 ")]);
        assert_eq!(delivery_id(&both).unwrap().as_deref(), Some("d-1"));
        let key = headers(&[("idempotency-key", "k")]);
        assert_eq!(delivery_id(&key).unwrap().as_deref(), Some("k"));
        assert_eq!(delivery_id(&HeaderMap::new()).unwrap(), None);
        let long = "x".repeat(MAX_DELIVERY_ID_CHARS + 1);
        for bad in ["", "a b", long.as_str()] {
            assert_eq!(
                delivery_id(&headers(&[("x-jobsprint-delivery", bad)])),
                Err(InputError::BadDeliveryId {
                    header: "x-jobsprint-delivery"
                }),
                "{bad:?}"
            );
        }
    }
}
