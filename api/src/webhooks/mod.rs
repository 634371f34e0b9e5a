//! `POST /webhooks/{triggerId}`: a signed delivery starts an execution of
//! the trigger's workflow (docs/adr/0010-webhook-triggers.md).
//!
//! No bearer token: the `X-Jobsprint-Signature` HMAC over the raw body,
//! made with the trigger's secret, is the credential. The answer is `202`
//! with the execution id once its start is committed; a delivery id seen
//! before (`X-Jobsprint-Delivery` or `Idempotency-Key`) answers the same
//! execution with `duplicate: true` and starts nothing. A refused delivery
//! starts nothing and writes nothing.

mod input;

use auth::webhook::SIGNATURE_HEADER;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use commands::webhooks::{WebhookDelivery, WebhookRefusal};
use commands::{CommandError, CommandOutcome};
use domain::error::ErrorKind;
use domain::ids::WorkflowId;
use domain::workflow::WebhookTriggerId;
use projections::read_models::webhook_triggers::workflow_of;
use serde_json::json;
use tracing::Instrument;

use crate::caller::trace_id;
use crate::graphql::ErrorCode;
use crate::limits::LIMIT_EXCEEDED;
use crate::AppState;

/// Largest delivery body: 1 MiB.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 1024 * 1024;
/// How far a signature's timestamp may be from the server's clock: 5 minutes.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// The webhook route, with its own body limit (the GraphQL one does not
/// apply to it).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/{trigger_id}", post(receive))
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY_BYTES))
}

/// Why a delivery started nothing, as an HTTP answer.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("no webhook trigger with this id; check the URL")]
    UnknownTrigger,
    #[error("{0}")]
    Unauthenticated(String),
    #[error("the body is larger than {MAX_WEBHOOK_BODY_BYTES} bytes")]
    TooLarge,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{2}")]
    Command(StatusCode, ErrorCode, String),
}

impl Refused {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::UnknownTrigger => (StatusCode::NOT_FOUND, ErrorCode::NotFound.as_str()),
            Self::Unauthenticated(_) => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthenticated.as_str(),
            ),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, LIMIT_EXCEEDED),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::Validation.as_str()),
            Self::Unsupported(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::Validation.as_str(),
            ),
            Self::Command(status, code, _) => (*status, code.as_str()),
        }
    }

    /// A label for the deliveries metric.
    fn outcome(&self) -> &'static str {
        match self {
            Self::UnknownTrigger => "not_found",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::TooLarge => "too_large",
            Self::BadRequest(_) | Self::Unsupported(_) => "bad_request",
            Self::Command(status, ..) if status.is_server_error() => "error",
            Self::Command(..) => "refused",
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = json!({
            "errors": [{ "message": self.to_string(), "extensions": { "code": code } }],
        });
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // A 401 names the scheme it expects (RFC 9110).
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("HMAC-SHA256 header=\"X-Jobsprint-Signature\""),
            );
        }
        response
    }
}

/// The handler of `POST /webhooks/{triggerId}`.
async fn receive(
    State(state): State<AppState>,
    Path(trigger): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let trace_id = trace_id(&headers);
    // The path is the sender's text: only a well-formed id reaches the log.
    let shown = trigger
        .parse::<WebhookTriggerId>()
        .map_or_else(|_| "invalid".to_owned(), |id| id.to_string());
    let span = tracing::info_span!("webhook", trigger_id = %shown, %trace_id);
    let request = Request {
        trigger: &trigger,
        query,
        headers: &headers,
        body,
        trace_id: trace_id.clone(),
    };
    let result = deliver(&state, request).instrument(span.clone()).await;
    let outcome = match &result {
        Ok(done) if done.duplicate => "duplicate",
        Ok(_) => "accepted",
        Err(refused) => refused.outcome(),
    };
    metrics::counter!("jobsprint_webhook_deliveries_total", "outcome" => outcome).increment(1);
    let _entered = span.enter();
    match result {
        Ok(done) => {
            tracing::info!(
                execution_id = done.aggregate_id,
                outcome,
                "webhook delivery accepted"
            );
            let body = json!({
                "executionId": done.aggregate_id,
                "position": done.position.to_string(),
                "duplicate": done.duplicate,
            });
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        Err(refused) => {
            tracing::info!(outcome, reason = %refused, "webhook delivery refused");
            refused.into_response()
        }
    }
}

/// What the handler extracted.
struct Request<'a> {
    trigger: &'a str,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: &'a HeaderMap,
    body: Result<Bytes, BytesRejection>,
    trace_id: String,
}

/// Size, trigger, signature, then input: a sender learns nothing about its
/// input before its signature checked out.
async fn deliver(state: &AppState, request: Request<'_>) -> Result<CommandOutcome, Refused> {
    let Request {
        trigger,
        query,
        headers,
        body,
        trace_id,
    } = request;
    let body = body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            Refused::TooLarge
        }
        other => Refused::BadRequest(format!("the body could not be read: {other}")),
    })?;
    let trigger_id: WebhookTriggerId = trigger.parse().map_err(|_| Refused::UnknownTrigger)?;
    let workflow_id = workflow_of(&state.pool, trigger_id.0)
        .await
        .map_err(|err| command_refusal(CommandError::from(err), &trace_id))?
        .ok_or(Refused::UnknownTrigger)?;
    let delivery = WebhookDelivery {
        trigger_id,
        workflow_id: WorkflowId(workflow_id),
        body: &body,
        signature: headers
            .get(SIGNATURE_HEADER)
            .map(|v| v.to_str().unwrap_or_default()),
        now: Utc::now(),
        tolerance_secs: SIGNATURE_TOLERANCE_SECS,
    };
    let authenticated = state
        .commands
        .authenticate_webhook(&delivery)
        .await
        .map_err(|refusal| match refusal {
            WebhookRefusal::UnknownTrigger => Refused::UnknownTrigger,
            refusal @ (WebhookRefusal::MissingSignature | WebhookRefusal::BadSignature(_)) => {
                Refused::Unauthenticated(refusal.to_string())
            }
            WebhookRefusal::Command(err) => command_refusal(err, &trace_id),
        })?;
    let Query(query) = query
        .map_err(|err| Refused::BadRequest(format!("the query string is malformed: {err}")))?;
    let delivery_id =
        input::delivery_id(headers).map_err(|err| Refused::BadRequest(err.to_string()))?;
    let input = input::input(headers, &query, &body).map_err(|err| match err {
        input::InputError::NotText => Refused::Unsupported(err.to_string()),
        err => Refused::BadRequest(err.to_string()),
    })?;
    state
        .commands
        .start_from_webhook(authenticated, input, delivery_id, trace_id.clone())
        .await
        .map_err(|err| command_refusal(err, &trace_id))
}

/// The HTTP form of a refused or failed start.
fn command_refusal(err: CommandError, trace_id: &str) -> Refused {
    match err {
        CommandError::Rejected {
            kind: ErrorKind::NotFound,
            ..
        } => Refused::UnknownTrigger,
        CommandError::Rejected {
            kind: ErrorKind::Validation,
            message,
        } => Refused::Command(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Validation,
            message,
        ),
        CommandError::Rejected {
            kind: ErrorKind::InvalidState,
            message,
        } => Refused::Command(StatusCode::CONFLICT, ErrorCode::InvalidState, message),
        CommandError::Rejected {
            kind: ErrorKind::Conflict,
            message,
        }
        | CommandError::Conflict(message) => {
            Refused::Command(StatusCode::CONFLICT, ErrorCode::Conflict, message)
        }
        CommandError::Unavailable(detail) => {
            tracing::error!(error = %detail, trace_id, "event store unavailable");
            Refused::Command(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                format!(
                    "the service is temporarily unavailable; retry later (trace id {trace_id})"
                ),
            )
        }
        CommandError::Internal(detail) => {
            tracing::error!(error = %detail, trace_id, "internal error");
            Refused::Command(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                format!("internal error (trace id {trace_id})"),
            )
        }
    }
}
