//! Requests, recorded responses, retry classification and the body cap against local stubs.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use egress::{
    BodyEncoding, Client, ClientOptions, EgressPolicy, HttpError, HttpRequest, Method, RequestBody,
    Retry, StatusRange,
};
use serde_json::json;

fn permissive() -> EgressPolicy {
    EgressPolicy::permissive()
}

#[tokio::test]
async fn get_records_status_headers_and_json_body() {
    let stub = common::stub().await;
    let response = Client::new()
        .send(&HttpRequest::get(stub.url("/json")), &permissive())
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, json!({"hello": "world", "n": 1}));
    assert_eq!(response.encoding, BodyEncoding::Json);
    assert!(!response.truncated);
    assert_eq!(response.header("X-Stub"), Some("a"));
    assert_eq!(response.headers["set-cookie"], vec!["a=1", "b=2"]);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.url, stub.url("/json"));
    let seen = stub.last();
    assert_eq!(seen.method, "GET");
    let ua = seen.headers["user-agent"].to_str().unwrap();
    assert!(ua.starts_with("jobsprint/"), "{ua}");
    assert!(!seen.headers.contains_key("idempotency-key"));
}

#[tokio::test]
async fn post_sends_json_headers_and_idempotency_key() {
    let stub = common::stub().await;
    let mut request = HttpRequest::post_json(stub.url("/echo"), json!({"a": [1, 2]}))
        .header("X-Custom", "yes")
        .header("User-Agent", "mine/1");
    request.idempotency_key = Some("exec-1:node-2".into());
    let response = Client::new().send(&request, &permissive()).await.unwrap();
    assert_eq!(response.status, 201);
    assert_eq!(
        response.body,
        json!({"contentType": "application/json", "body": {"a": [1, 2]}})
    );
    let seen = stub.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.headers["idempotency-key"], "exec-1:node-2");
    assert_eq!(seen.headers["x-custom"], "yes");
    assert_eq!(seen.headers["user-agent"], "mine/1");
    assert_eq!(&seen.body[..], br#"{"a":[1,2]}"#);
}

#[tokio::test]
async fn explicit_content_type_and_text_bodies() {
    let stub = common::stub().await;
    let mut request = HttpRequest::new(Method::Put, stub.url("/echo"))
        .header("content-type", "application/vnd.api+json");
    request.body = Some(RequestBody::Json(json!({"x": 1})));
    let response = Client::new().send(&request, &permissive()).await.unwrap();
    assert_eq!(response.body["contentType"], "application/vnd.api+json");
    assert_eq!(stub.last().method, "PUT");

    request.headers.clear();
    request.body = Some(RequestBody::Text("hi".into()));
    let response = Client::new().send(&request, &permissive()).await.unwrap();
    assert_eq!(
        response.body,
        json!({"contentType": "text/plain; charset=utf-8", "body": "hi"})
    );
}

#[tokio::test]
async fn text_and_binary_bodies_are_recorded() {
    let stub = common::stub().await;
    let client = Client::new();
    let text = client
        .send(&HttpRequest::get(stub.url("/text")), &permissive())
        .await
        .unwrap();
    assert_eq!(
        (text.body, text.encoding),
        (json!("plain words ✓"), BodyEncoding::Text)
    );
    let binary = client
        .send(&HttpRequest::get(stub.url("/binary")), &permissive())
        .await
        .unwrap();
    assert_eq!(binary.encoding, BodyEncoding::Base64);
    assert_eq!(binary.body, json!("iVD/AA=="));
}

#[tokio::test]
async fn invalid_headers_and_urls_are_not_retryable() {
    let request = HttpRequest::get("http://127.0.0.1:1/").header("bad name", "x");
    let err = Client::new()
        .send(&request, &permissive())
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::InvalidRequest(_)), "{err:?}");
    assert_eq!(err.retry(), Retry::No);
    let err = Client::new()
        .send(&HttpRequest::get("not a url"), &permissive())
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::InvalidUrl { .. }), "{err:?}");
    assert_eq!(err.retry(), Retry::No);
}

#[tokio::test]
async fn timeout_is_retryable() {
    let stub = common::stub().await;
    for path in ["/slow", "/slow-body"] {
        let mut request = HttpRequest::get(stub.url(path));
        request.timeout = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let err = Client::new()
            .send(&request, &permissive())
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(err, HttpError::Timeout { .. }), "{path}: {err:?}");
        assert_eq!(err.retry(), Retry::Yes { after: None });
        assert!(err.to_string().contains("timed out"));
    }
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    let port = common::closed_port().await;
    let request = HttpRequest::get(format!("http://127.0.0.1:{port}/"));
    let err = Client::new()
        .send(&request, &permissive())
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Connect { .. }), "{err:?}");
    assert_eq!(err.retry(), Retry::Yes { after: None });
}

#[tokio::test]
async fn server_errors_are_retryable_with_the_response() {
    let stub = common::stub().await;
    for code in [500, 502, 503] {
        let request = HttpRequest::get(stub.url(&format!("/status/{code}")));
        let err = Client::new()
            .send(&request, &permissive())
            .await
            .unwrap_err();
        assert_eq!(err.retry(), Retry::Yes { after: None }, "{code}");
        let response = err.response().expect("response recorded");
        assert_eq!(response.status, code);
        assert_eq!(
            response.body["error"],
            format!("stub says {code} {}", reason(code))
        );
        assert!(err.to_string().contains(&code.to_string()));
    }
}

fn reason(code: u16) -> &'static str {
    axum::http::StatusCode::from_u16(code)
        .unwrap()
        .canonical_reason()
        .unwrap()
}

#[tokio::test]
async fn too_many_requests_honours_retry_after_seconds() {
    let stub = common::stub().await;
    let err = Client::new()
        .send(&HttpRequest::get(stub.url("/429")), &permissive())
        .await
        .unwrap_err();
    assert_eq!(
        err.retry(),
        Retry::Yes {
            after: Some(Duration::from_secs(3))
        }
    );
    assert_eq!(err.response().unwrap().status, 429);
}

fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

#[tokio::test]
async fn too_many_requests_honours_retry_after_date() {
    let stub = common::stub().await;
    let client = Client::with_options(ClientOptions {
        clock: fixed_now,
        ..ClientOptions::default()
    });
    let url = stub.url("/429?after=Mon,%2001%20Jan%202024%2000:00:07%20GMT");
    let err = client
        .send(&HttpRequest::get(url), &permissive())
        .await
        .unwrap_err();
    assert_eq!(
        err.retry(),
        Retry::Yes {
            after: Some(Duration::from_secs(7))
        }
    );
    let url = stub.url("/429?after=soon");
    let err = client
        .send(&HttpRequest::get(url), &permissive())
        .await
        .unwrap_err();
    assert_eq!(err.retry(), Retry::Yes { after: None });
}

#[tokio::test]
async fn client_errors_are_not_retryable_but_recorded() {
    let stub = common::stub().await;
    for code in [400, 401, 404, 409] {
        let request = HttpRequest::get(stub.url(&format!("/status/{code}")));
        let err = Client::new()
            .send(&request, &permissive())
            .await
            .unwrap_err();
        assert_eq!(err.retry(), Retry::No, "{code}");
        let response = err.response().expect("response recorded");
        assert_eq!(response.status, code);
        assert_eq!(response.encoding, BodyEncoding::Json);
        assert!(response.body["error"]
            .as_str()
            .unwrap()
            .contains(&code.to_string()));
    }
}

#[tokio::test]
async fn expected_statuses_are_honoured() {
    let stub = common::stub().await;
    let mut request = HttpRequest::get(stub.url("/status/404"));
    request.expected_statuses = Some(vec![StatusRange::exact(404)]);
    let response = Client::new().send(&request, &permissive()).await.unwrap();
    assert_eq!(response.status, 404);

    // A 2xx outside the expected set is an unexpected status, not retryable.
    let mut request = HttpRequest::get(stub.url("/status/204"));
    request.expected_statuses = Some(vec![StatusRange::new(200, 200)]);
    let err = Client::new()
        .send(&request, &permissive())
        .await
        .unwrap_err();
    assert_eq!(err.response().unwrap().status, 204);
    assert_eq!(err.retry(), Retry::No);
}

#[tokio::test]
async fn large_body_is_truncated_at_the_cap() {
    let stub = common::stub().await;
    let response = Client::new()
        .send(&HttpRequest::get(stub.url("/big")), &permissive())
        .await
        .unwrap();
    assert!(response.truncated);
    assert_eq!(response.body.as_str().unwrap().len(), 1024 * 1024);
    assert_eq!(response.encoding, BodyEncoding::Text);

    let policy = EgressPolicy {
        max_response_bytes: 6 * 1024 * 1024,
        ..permissive()
    };
    let response = Client::new()
        .send(&HttpRequest::get(stub.url("/big")), &policy)
        .await
        .unwrap();
    assert!(!response.truncated);
    assert_eq!(response.body.as_str().unwrap().len(), 5 * 1024 * 1024);
}

#[tokio::test]
async fn endless_body_is_not_read_past_the_cap() {
    let stub = common::stub().await;
    let policy = EgressPolicy {
        max_response_bytes: 100_000,
        ..permissive()
    };
    let response = Client::new()
        .send(&HttpRequest::get(stub.url("/endless")), &policy)
        .await
        .unwrap();
    assert!(response.truncated);
    assert_eq!(response.body.as_str().unwrap().len(), 100_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The stub would produce 1 GiB; the client dropped the connection after the cap, so
    // only what fits in socket buffers was ever generated.
    let produced = stub.produced.load(Ordering::SeqCst);
    assert!(
        produced < 64 * 1024 * 1024,
        "stub produced {produced} bytes"
    );
}
