//! The outbound HTTP client: one per engine process, cheap to clone.
//!
//! Each request is checked by the policy before every hop, resolved once by the guarded
//! resolver, redirected by hand and recorded with a capped, streamed body read.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::error::{parse_retry_after, HttpError};
use crate::policy::EgressPolicy;
use crate::request::{decode_body, HttpRequest, HttpResponse, Method, DEFAULT_USER_AGENT};
use crate::resolver::{AddressRefused, GuardKey, GuardedResolver};

/// Connection pools kept at most; past this the cache starts over.
const MAX_POOLS: usize = 64;

/// How a [`Client`] is built.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The `User-Agent` sent unless a request sets its own.
    pub user_agent: String,
    /// The clock used to turn an HTTP-date `Retry-After` into a delay.
    pub clock: fn() -> DateTime<Utc>,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            user_agent: DEFAULT_USER_AGENT.to_string(),
            clock: Utc::now,
            pool_idle_timeout: Duration::from_secs(90),
        }
    }
}

/// Sends [`HttpRequest`]s under an [`EgressPolicy`]. Clones share connection pools.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: ClientOptions,
    pools: Mutex<HashMap<GuardKey, reqwest::Client>>,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client with the default options.
    pub fn new() -> Self {
        Self::with_options(ClientOptions::default())
    }

    /// A client with the given options.
    pub fn with_options(options: ClientOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                pools: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Sends `request` under `policy`, following redirects by hand, and records the response.
    ///
    /// Returns the response when its status is expected, else [`HttpError::Status`] carrying
    /// it. The whole exchange, redirects and body included, is bounded by `request.timeout`.
    pub async fn send(
        &self,
        request: &HttpRequest,
        policy: &EgressPolicy,
    ) -> Result<HttpResponse, HttpError> {
        match tokio::time::timeout(request.timeout, self.exchange(request, policy)).await {
            Ok(result) => result,
            Err(_) => Err(HttpError::Timeout {
                after: request.timeout,
            }),
        }
    }

    async fn exchange(
        &self,
        request: &HttpRequest,
        policy: &EgressPolicy,
    ) -> Result<HttpResponse, HttpError> {
        let mut url = Url::parse(&request.url).map_err(|e| HttpError::InvalidUrl {
            url: request.url.clone(),
            reason: e.to_string(),
        })?;
        let mut method = request.method;
        let mut headers = request_headers(request)?;
        let mut body = request.body.as_ref().map(|b| b.to_bytes());
        let mut visited = HashSet::new();
        let mut redirects = 0usize;
        loop {
            policy.check_url(&url)?;
            if !visited.insert((method, url.clone())) {
                return Err(HttpError::RedirectLoop {
                    url: url.to_string(),
                });
            }
            let client = self.pool(policy, url.port_or_known_default())?;
            let mut builder = client
                .request(method.to_reqwest(), url.clone())
                .headers(headers.clone());
            if let Some(bytes) = &body {
                builder = builder.body(bytes.clone());
            }
            let response = builder
                .send()
                .await
                .map_err(|e| reqwest_error(&e, &url, request.timeout))?;
            let status = response.status().as_u16();
            let location = response.headers().get(header::LOCATION).cloned();
            if let (true, Some(location)) = (is_redirect(status), location) {
                if redirects >= policy.max_redirects {
                    return Err(HttpError::TooManyRedirects {
                        max: policy.max_redirects,
                    });
                }
                redirects += 1;
                let next = redirect_target(&url, &location)?;
                let to_get = (status == 303 && method != Method::Head)
                    || (matches!(status, 301 | 302) && method == Method::Post);
                if to_get {
                    method = Method::Get;
                    body = None;
                    for name in [
                        header::CONTENT_TYPE,
                        header::CONTENT_LENGTH,
                        header::CONTENT_ENCODING,
                        header::TRANSFER_ENCODING,
                    ] {
                        headers.remove(name);
                    }
                }
                if url.origin() != next.origin() {
                    for name in [
                        header::AUTHORIZATION,
                        header::COOKIE,
                        header::PROXY_AUTHORIZATION,
                        header::HOST,
                    ] {
                        headers.remove(name);
                    }
                }
                url = next;
                continue;
            }
            let recorded =
                record(response, &url, policy.max_response_bytes, request.timeout).await?;
            if request.is_expected(status) {
                return Ok(recorded);
            }
            let now = (self.inner.options.clock)();
            let retry_after = recorded
                .header("retry-after")
                .and_then(|v| parse_retry_after(v, now));
            return Err(HttpError::Status {
                response: Box::new(recorded),
                retry_after,
            });
        }
    }

    /// The pooled client whose resolver enforces `policy` for a connection to `port`.
    fn pool(&self, policy: &EgressPolicy, port: Option<u16>) -> Result<reqwest::Client, HttpError> {
        let key = GuardKey::new(policy, port);
        let mut pools = self
            .inner
            .pools
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = pools.get(&key) {
            return Ok(client.clone());
        }
        let options = &self.inner.options;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .referer(false)
            .user_agent(options.user_agent.as_str())
            .pool_idle_timeout(options.pool_idle_timeout)
            .dns_resolver(Arc::new(GuardedResolver::new(&key)))
            .build()
            .map_err(|e| HttpError::Client(error_chain(&e)))?;
        if pools.len() >= MAX_POOLS {
            pools.clear();
        }
        pools.insert(key, client.clone());
        Ok(client)
    }
}

/// The request's headers, validated, with `Idempotency-Key` and the body's content type.
fn request_headers(request: &HttpRequest) -> Result<HeaderMap, HttpError> {
    let mut headers = HeaderMap::new();
    for (name, value) in &request.headers {
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| HttpError::InvalidRequest(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| HttpError::InvalidRequest(format!("invalid value for header {name}")))?;
        headers.append(name, value);
    }
    if let Some(key) = &request.idempotency_key {
        let value = HeaderValue::from_str(key)
            .map_err(|_| HttpError::InvalidRequest(format!("invalid idempotency key {key:?}")))?;
        headers.insert(HeaderName::from_static("idempotency-key"), value);
    }
    if let Some(body) = &request.body {
        if !headers.contains_key(header::CONTENT_TYPE) {
            let value = HeaderValue::from_static(body.default_content_type());
            headers.insert(header::CONTENT_TYPE, value);
        }
    }
    Ok(headers)
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

fn redirect_target(from: &Url, location: &HeaderValue) -> Result<Url, HttpError> {
    let invalid = |reason: String| HttpError::InvalidRedirect {
        from: from.to_string(),
        reason,
    };
    let location = location
        .to_str()
        .map_err(|_| invalid("the Location header is not text".into()))?;
    from.join(location)
        .map_err(|e| invalid(format!("Location {location:?}: {e}")))
}

/// Reads the body up to `cap` bytes, chunk by chunk; the rest is never read.
async fn record(
    mut response: reqwest::Response,
    url: &Url,
    cap: usize,
    timeout: Duration,
) -> Result<HttpResponse, HttpError> {
    let status = response.status().as_u16();
    let mut headers: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, value) in response.headers() {
        headers
            .entry(name.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let hint = response.content_length().unwrap_or(0).min(64 * 1024);
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0).min(cap));
    let mut truncated = false;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| reqwest_error(&e, url, timeout))?
    {
        let room = cap - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        bytes.extend_from_slice(&chunk);
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.first())
        .map(String::as_str);
    let (body, encoding) = decode_body(&bytes, content_type, truncated);
    Ok(HttpResponse {
        status,
        url: url.to_string(),
        headers,
        body,
        encoding,
        truncated,
    })
}

/// The error chain as one line, each distinct message once.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

fn reqwest_error(error: &reqwest::Error, url: &Url, timeout: Duration) -> HttpError {
    if let Some(refused) = AddressRefused::find(error) {
        return refused;
    }
    let host = url.host_str().unwrap_or_default().to_string();
    let message = error_chain(error);
    if error.is_timeout() {
        HttpError::Timeout { after: timeout }
    } else if error.is_builder() {
        HttpError::InvalidRequest(message)
    } else if error.is_connect() {
        HttpError::Connect { host, message }
    } else {
        HttpError::Network { host, message }
    }
}
