//! Who is calling: the bearer credential of a request, checked before any
//! resolver runs, and the guards every resolver calls before it touches data.
//!
//! Without an `Authorization` header a request is anonymous and may only
//! call `login`, `register` and `refreshToken`. A header that does not check
//! out ends the request at once with `UNAUTHENTICATED` (HTTP 401).

use std::net::SocketAddr;

use async_graphql::Context;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use commands::identity::{AuthError, Authenticated, Identity};
use domain::access::Permission;
use uuid::Uuid;

use crate::graphql::errors::{coded, ErrorCode};

/// The caller of one GraphQL request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `None` for an anonymous request.
    pub authenticated: Option<Authenticated>,
    /// The request's trace id (32 hex digits), recorded in every event it causes.
    pub trace_id: String,
    /// The client's address, when known.
    pub client: Option<SocketAddr>,
    /// The client's `User-Agent`, when it sent one (at most 256 characters).
    pub user_agent: Option<String>,
}

/// Why a request was refused before any resolver ran.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The credential did not check out.
    Unauthenticated,
    /// The identity store could not be read.
    Unavailable,
    /// A header we cannot read.
    BadHeader(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            Self::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthenticated,
                "invalid or expired credentials; sign in again or use a valid API token".to_owned(),
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "authentication is temporarily unavailable; retry later".to_owned(),
            ),
            Self::BadHeader(message) => (StatusCode::BAD_REQUEST, ErrorCode::Validation, message),
        };
        let body = serde_json::json!({
            "data": null,
            "errors": [{ "message": message, "extensions": { "code": code.as_str() } }],
        });
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// Authenticates a request from its headers.
pub(crate) async fn caller(
    identity: &Identity,
    headers: &HeaderMap,
    client: Option<SocketAddr>,
) -> Result<Caller, Refusal> {
    let trace_id = trace_id(headers);
    let user_agent = user_agent(headers);
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Caller {
            authenticated: None,
            trace_id,
            client,
            user_agent,
        });
    };
    let value = value
        .to_str()
        .map_err(|_| Refusal::BadHeader("the Authorization header is not valid text".into()))?;
    let Some(token) = value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Err(Refusal::Unauthenticated);
    };
    match identity.authenticate(token, Utc::now()).await {
        Ok(authenticated) => Ok(Caller {
            authenticated: Some(authenticated),
            trace_id,
            client,
            user_agent,
        }),
        Err(AuthError::Rejected { reason }) => {
            tracing::info!(reason, trace_id, "credential refused");
            metrics::counter!("jobsprint_auth_failures_total").increment(1);
            Err(Refusal::Unauthenticated)
        }
        Err(AuthError::Unavailable(err)) => {
            tracing::error!(error = %err, trace_id, "identity store unavailable");
            Err(Refusal::Unavailable)
        }
    }
}

/// The `User-Agent` header, when it is readable text, cut to 256
/// characters (it is recorded with every event the request causes).
fn user_agent(headers: &HeaderMap) -> Option<String> {
    let text = headers.get(header::USER_AGENT)?.to_str().ok()?.trim();
    (!text.is_empty()).then(|| text.chars().take(256).collect())
}

/// The trace id of a W3C `traceparent` header, or a fresh one.
pub(crate) fn trace_id(headers: &HeaderMap) -> String {
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(trace_id_of)
        .unwrap_or_else(|| Uuid::new_v4().simple().to_string())
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`).
fn trace_id_of(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.trim().split('-');
    let (_version, trace_id) = (parts.next()?, parts.next()?);
    let valid = trace_id.len() == 32
        && trace_id.bytes().all(|b| b.is_ascii_hexdigit())
        && trace_id != "00000000000000000000000000000000";
    valid.then(|| trace_id.to_ascii_lowercase())
}

/// The authenticated caller, if it may do what `permission` names:
/// `UNAUTHENTICATED` for anonymous requests, `FORBIDDEN` otherwise.
pub(crate) fn require<'a>(
    ctx: &'a Context<'_>,
    permission: Permission,
) -> async_graphql::Result<(&'a Authenticated, &'a Caller)> {
    let caller = ctx.data::<Caller>()?;
    let Some(authenticated) = &caller.authenticated else {
        return Err(coded(
            ErrorCode::Unauthenticated,
            "sign in first: send an access token or API token as `Authorization: Bearer <token>`",
        ));
    };
    if !authenticated.allows(permission) {
        return Err(coded(
            ErrorCode::Forbidden,
            format!(
                "your role or token scopes do not allow {}",
                permission.as_str()
            ),
        ));
    }
    Ok((authenticated, caller))
}

/// The caller, authenticated or not.
pub(crate) fn caller_of<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Caller> {
    ctx.data::<Caller>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_trace_id_of_a_traceparent() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        assert_eq!(trace_id(&headers), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(trace_id(&HeaderMap::new()).len(), 32);
        assert_eq!(
            trace_id_of("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
    }
}
