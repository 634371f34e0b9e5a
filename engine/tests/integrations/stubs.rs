//! Local stand-ins for the third parties integrations call: an HTTP server
//! that records every request (an OpenAI-compatible endpoint, an API, a
//! Slack webhook) and a tiny SMTP server that records what it is told.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One request an HTTP stub received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-cased header names.
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|err| panic!("{err}: {}", self.body))
    }
}

/// An HTTP server answering each path with a status and a JSON body (or
/// text, for a string), 404 for paths it was not told about.
#[derive(Clone, Default)]
pub struct HttpStub {
    inner: Arc<Mutex<HttpState>>,
}

#[derive(Default)]
struct HttpState {
    answers: HashMap<String, (u16, Value)>,
    received: Vec<Received>,
}

impl HttpStub {
    /// Answers `path` (with its leading slash) with `status` and `body`
    /// from now on.
    pub fn answer(&self, path: &str, status: u16, body: Value) {
        self.lock().answers.insert(path.to_owned(), (status, body));
    }

    /// Every request received, in order.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// How many requests reached `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.lock()
            .received
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// Serves on a free local port; the base URL.
    pub async fn serve(&self) -> String {
        let app = Router::new().fallback(answer).with_state(self.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HttpState> {
        self.inner.lock().unwrap()
    }
}

async fn answer(State(stub): State<HttpStub>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let received = Received {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let mut state = stub.lock();
    let answer = state.answers.get(&received.path).cloned();
    state.received.push(received);
    match answer {
        None => (StatusCode::NOT_FOUND, "no such path").into_response(),
        Some((status, Value::String(text))) => {
            (StatusCode::from_u16(status).unwrap(), text).into_response()
        }
        Some((status, json)) => {
            (StatusCode::from_u16(status).unwrap(), axum::Json(json)).into_response()
        }
    }
}

/// What an SMTP stub was told in one session.
#[derive(Debug, Clone, Default)]
pub struct SmtpSession {
    /// Command lines, as sent (without CRLF).
    pub commands: Vec<String>,
    /// The message between DATA and the final dot.
    pub data: String,
}

/// A tiny SMTP server: greeting 220, EHLO/HELO 250 (offering AUTH PLAIN
/// and LOGIN), AUTH 235, MAIL/RCPT 250, DATA 354, the final dot 250,
/// QUIT 221. `reject_rcpt` answers RCPT with that reply instead.
#[derive(Clone, Default)]
pub struct SmtpStub {
    connections: Arc<std::sync::atomic::AtomicUsize>,
    sessions: Arc<Mutex<Vec<SmtpSession>>>,
    reject_rcpt: Option<&'static str>,
}

impl SmtpStub {
    /// A stub that answers every RCPT with `reply` (e.g. `"550 5.1.1 no such user"`).
    pub fn rejecting_recipients(reply: &'static str) -> SmtpStub {
        SmtpStub {
            reject_rcpt: Some(reply),
            ..SmtpStub::default()
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The sessions that ended, in order.
    pub fn sessions(&self) -> Vec<SmtpSession> {
        self.sessions.lock().unwrap().clone()
    }

    /// Serves on a free local port; the port.
    pub async fn serve(&self) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stub = self.clone();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                stub.connections
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let stub = stub.clone();
                tokio::spawn(async move { stub.session(socket).await });
            }
        });
        port
    }

    async fn session(&self, socket: tokio::net::TcpStream) {
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut session = SmtpSession::default();
        if write
            .write_all(b"220 stub.local ESMTP ready\r\n")
            .await
            .is_err()
        {
            return;
        }
        while let Ok(Some(line)) = lines.next_line().await {
            let verb = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            session.commands.push(line.clone());
            let reply: String = match verb.as_str() {
                "EHLO" => "250-stub.local\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME".into(),
                "HELO" => "250 stub.local".into(),
                "AUTH" => "235 2.7.0 authenticated".into(),
                "MAIL" => "250 2.1.0 ok".into(),
                "RCPT" => self.reject_rcpt.unwrap_or("250 2.1.5 ok").into(),
                "RSET" | "NOOP" => "250 ok".into(),
                "DATA" => {
                    if write
                        .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                        .await
                        .is_err()
                    {
                        break;
                    }
                    while let Ok(Some(data)) = lines.next_line().await {
                        if data == "." {
                            break;
                        }
                        session.data.push_str(&data);
                        session.data.push('\n');
                    }
                    "250 2.0.0 queued as 42".into()
                }
                "QUIT" => {
                    let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
                    break;
                }
                _ => "502 5.5.2 not implemented".into(),
            };
            if write
                .write_all(format!("{reply}\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
        self.sessions.lock().unwrap().push(session);
    }
}
