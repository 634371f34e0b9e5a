//! Local stub servers for the egress tests: every request is counted and recorded.
#![allow(dead_code, missing_docs)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::json;

/// One request the stub received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A running stub.
#[derive(Clone)]
pub struct Stub {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Bytes the `/endless` route has produced so far.
    pub produced: Arc<AtomicU64>,
    hits: Arc<AtomicUsize>,
}

impl Stub {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("no request")
    }

    pub fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn status(Path(code): Path<u16>) -> Response {
    let code = StatusCode::from_u16(code).unwrap();
    (code, Json(json!({"error": format!("stub says {code}")}))).into_response()
}

async fn too_many(Query(q): Query<HashMap<String, String>>) -> Response {
    let retry_after = q.get("after").cloned().unwrap_or_else(|| "3".into());
    (
        StatusCode::TOO_MANY_REQUESTS,
        [("retry-after", retry_after)],
        "slow down",
    )
        .into_response()
}

async fn redirect_to(Query(q): Query<HashMap<String, String>>) -> Response {
    let code = q.get("status").map_or(302, |s| s.parse().unwrap());
    let location = q.get("url").cloned().unwrap_or_else(|| "/json".into());
    (
        StatusCode::from_u16(code).unwrap(),
        [("location", location)],
    )
        .into_response()
}

async fn chain(Path(n): Path<u32>) -> Response {
    let location = if n == 0 {
        "/json".to_string()
    } else {
        format!("/chain/{}", n - 1)
    };
    (StatusCode::FOUND, [("location", location)]).into_response()
}

fn body_of(len: usize, produced: Option<Arc<AtomicU64>>) -> Body {
    const CHUNK: usize = 64 * 1024;
    let stream = futures::stream::unfold(0usize, move |sent| {
        let produced = produced.clone();
        async move {
            if sent >= len {
                return None;
            }
            let n = CHUNK.min(len - sent);
            if let Some(p) = &produced {
                p.fetch_add(n as u64, Ordering::SeqCst);
            }
            Some((
                Ok::<_, std::io::Error>(Bytes::from(vec![b'a'; n])),
                sent + n,
            ))
        }
    });
    Body::from_stream(stream)
}

async fn record(State(stub): State<Stub>, request: Request, next: Next) -> Response {
    stub.hits.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap();
    stub.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        headers: parts.headers.clone(),
        body: bytes.clone(),
    });
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Starts a stub on 127.0.0.1 with a port chosen by the OS.
pub async fn stub() -> Stub {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stub = Stub {
        addr: listener.local_addr().unwrap(),
        seen: Arc::default(),
        produced: Arc::default(),
        hits: Arc::default(),
    };
    let produced = stub.produced.clone();
    let app = Router::new()
        .route(
            "/json",
            get(|| async {
                (
                    AppendHeaders([
                        ("x-stub", "a"),
                        ("set-cookie", "a=1"),
                        ("set-cookie", "b=2"),
                    ]),
                    Json(json!({"hello": "world", "n": 1})),
                )
            }),
        )
        .route(
            "/echo",
            any(|headers: HeaderMap, body: Bytes| async move {
                let ct = headers
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_string());
                let body: serde_json::Value =
                    serde_json::from_slice(&body).unwrap_or(json!(String::from_utf8_lossy(&body)));
                (
                    StatusCode::CREATED,
                    Json(json!({"contentType": ct, "body": body})),
                )
            }),
        )
        .route("/status/{code}", any(status))
        .route("/429", get(too_many))
        .route("/to", any(redirect_to))
        .route("/chain/{n}", get(chain))
        .route(
            "/loop",
            get(|| async { (StatusCode::FOUND, [("location", "/loop")]) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
        .route(
            "/slow-body",
            get(|| async {
                let stream = futures::stream::unfold(0u8, |i| async move {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                    }
                    (i < 2).then(|| (Ok::<_, std::io::Error>(Bytes::from_static(b"x")), i + 1))
                });
                Body::from_stream(stream)
            }),
        )
        .route("/text", get(|| async { "plain words ✓" }))
        .route(
            "/binary",
            get(|| async {
                (
                    [("content-type", "image/png")],
                    vec![0x89u8, 0x50, 0xff, 0x00],
                )
            }),
        )
        .route("/big", get(|| async { body_of(5 * 1024 * 1024, None) }))
        .route(
            "/endless",
            get(move || {
                let produced = produced.clone();
                async move { body_of(1 << 30, Some(produced)) }
            }),
        )
        .layer(middleware::from_fn_with_state(stub.clone(), record));
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    stub
}

/// A 127.0.0.1 port with nothing listening.
pub async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}
