//! Manual redirects: limits, loops, method changes, the guard on every hop, header stripping.

mod common;

use std::net::IpAddr;

use egress::{
    AllowedTarget, Client, EgressPolicy, HttpError, HttpRequest, Method, RefusalReason,
    RequestBody, Retry, Url,
};
use serde_json::json;

fn loopback() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

#[tokio::test]
async fn follows_redirects_within_the_limit() {
    let stub = common::stub().await;
    let policy = EgressPolicy::permissive();
    let response = Client::new()
        .send(&HttpRequest::get(stub.url("/chain/4")), &policy)
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.url, stub.url("/json"));
    assert_eq!(response.body["hello"], "world");
    let paths: Vec<String> = stub.all().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        ["/chain/4", "/chain/3", "/chain/2", "/chain/1", "/chain/0", "/json"]
    );
}

#[tokio::test]
async fn too_many_redirects_is_a_clear_error() {
    let stub = common::stub().await;
    let client = Client::new();
    let err = client
        .send(
            &HttpRequest::get(stub.url("/chain/5")),
            &EgressPolicy::permissive(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::TooManyRedirects { max: 5 }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "too many redirects (more than 5)");
    assert_eq!(err.retry(), Retry::No);
    assert_eq!(stub.hits(), 6);

    let none = EgressPolicy {
        max_redirects: 0,
        ..EgressPolicy::permissive()
    };
    let err = client
        .send(&HttpRequest::get(stub.url("/chain/0")), &none)
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::TooManyRedirects { max: 0 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn redirect_loop_is_a_clear_error() {
    let stub = common::stub().await;
    let err = Client::new()
        .send(
            &HttpRequest::get(stub.url("/loop")),
            &EgressPolicy::permissive(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::RedirectLoop { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("redirect loop: {} was already requested", stub.url("/loop"))
    );
    assert_eq!(err.retry(), Retry::No);
    assert_eq!(stub.hits(), 1);
}

#[tokio::test]
async fn methods_change_like_browsers() {
    let stub = common::stub().await;
    let client = Client::new();
    let policy = EgressPolicy::permissive();
    // (redirect status, method sent, method and body expected at the target)
    let cases = [
        (303, Method::Post, "GET", false),
        (303, Method::Put, "GET", false),
        (302, Method::Post, "GET", false),
        (301, Method::Post, "GET", false),
        (302, Method::Put, "PUT", true),
        (307, Method::Post, "POST", true),
        (308, Method::Patch, "PATCH", true),
    ];
    for (status, method, expected_method, keeps_body) in cases {
        let url = stub.url(&format!("/to?status={status}&url=/echo"));
        let mut request = HttpRequest::new(method, url);
        request.body = Some(RequestBody::Json(json!({"k": "v"})));
        let response = client.send(&request, &policy).await.unwrap();
        assert_eq!(response.status, 201);
        let seen = stub.last();
        assert_eq!(seen.path, "/echo");
        assert_eq!(seen.method, expected_method, "{status} {method}");
        if keeps_body {
            assert_eq!(&seen.body[..], br#"{"k":"v"}"#, "{status} {method}");
            assert_eq!(seen.headers["content-type"], "application/json");
        } else {
            assert!(seen.body.is_empty(), "{status} {method}");
            assert!(!seen.headers.contains_key("content-type"));
        }
    }
}

#[tokio::test]
async fn every_hop_is_checked_again() {
    let a = common::stub().await;
    let b = common::stub().await;
    let client = Client::new();
    // Only stub A's socket is allowed: B shares its address but not its port.
    let only_a = EgressPolicy {
        allowed: vec![AllowedTarget::socket(loopback(), a.port())],
        ..EgressPolicy::default()
    };
    let metadata = "http://169.254.169.254/latest/meta-data";
    assert!(only_a.check_url(&Url::parse(metadata).unwrap()).is_err());
    let cases = [
        (
            a.url(&format!("/to?url={}", b.url("/json"))),
            Some(loopback()),
        ),
        (
            format!(
                "http://localhost:{}/to?url=http://localhost:{}/json",
                a.port(),
                b.port()
            ),
            Some(loopback()),
        ),
        (
            a.url(&format!("/to?status=307&url={metadata}")),
            Some("169.254.169.254".parse().unwrap()),
        ),
        (
            a.url(&format!("/to?url=http://10.0.0.1:{}/", b.port())),
            Some("10.0.0.1".parse().unwrap()),
        ),
        (a.url("/to?url=file:///etc/passwd"), None),
    ];
    for (url, address) in &cases {
        let err = client
            .send(&HttpRequest::get(url), &only_a)
            .await
            .unwrap_err();
        match &err {
            HttpError::Refused { address: got, .. } => assert_eq!(got, address, "{url}"),
            other => panic!("{url}: expected a refusal at the redirect, got {other:?}"),
        }
    }
    assert_eq!(a.hits(), cases.len(), "stub A answers every first hop");
    assert_eq!(b.hits(), 0, "stub B must never be reached");

    // The same redirect goes through once B's port is allowed too.
    let both = EgressPolicy {
        allowed: vec![
            AllowedTarget::socket(loopback(), a.port()),
            AllowedTarget::socket(loopback(), b.port()),
        ],
        ..EgressPolicy::default()
    };
    let response = client
        .send(&HttpRequest::get(&cases[0].0), &both)
        .await
        .unwrap();
    assert_eq!(response.url, b.url("/json"));
    assert_eq!(b.hits(), 1);
}

#[tokio::test]
async fn refusal_reason_is_reported_at_the_redirect() {
    let a = common::stub().await;
    let policy = EgressPolicy {
        allowed: vec![AllowedTarget::socket(loopback(), a.port())],
        ..EgressPolicy::default()
    };
    let url = a.url("/to?url=http://192.168.1.1/");
    let err = Client::new()
        .send(&HttpRequest::get(url), &policy)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            HttpError::Refused {
                reason: RefusalReason::Private,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn credentials_are_dropped_on_cross_origin_redirects() {
    let a = common::stub().await;
    let b = common::stub().await;
    let policy = EgressPolicy::permissive();
    let client = Client::new();
    let request = |url: String| {
        HttpRequest::get(url)
            .header("Authorization", "Bearer secret")
            .header("Cookie", "session=1")
            .header("X-Other", "kept")
    };

    let url = a.url(&format!("/to?url={}", b.url("/echo")));
    client.send(&request(url), &policy).await.unwrap();
    let first = a.last();
    assert_eq!(first.headers["authorization"], "Bearer secret");
    let second = b.last();
    assert!(!second.headers.contains_key("authorization"));
    assert!(!second.headers.contains_key("cookie"));
    assert_eq!(second.headers["x-other"], "kept");

    // Same origin keeps them.
    client
        .send(&request(a.url("/to?url=/echo")), &policy)
        .await
        .unwrap();
    let seen = a.last();
    assert_eq!(seen.path, "/echo");
    assert_eq!(seen.headers["authorization"], "Bearer secret");
    assert_eq!(seen.headers["cookie"], "session=1");
}
