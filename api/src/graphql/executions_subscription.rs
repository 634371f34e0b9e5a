//! Execution subscriptions over WebSocket (`graphql-transport-ws`, and the
//! older `graphql-ws`) at `GET /graphql/ws`.
//!
//! The socket authenticates exactly as HTTP does: the bearer token comes in
//! the `connection_init` payload (`{"Authorization": "Bearer …"}`) or else
//! in the upgrade request's `Authorization` header; a credential that does
//! not check out refuses the connection. Every change delivered is checked
//! again: the credential is re-authenticated (a revoked token or an expired
//! access token ends the subscription with `UNAUTHENTICATED`), must still
//! allow `read:executions`, and the change must be of its tenant; the row is
//! then read tenant-scoped, so another tenant's execution never shows.

use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::futures_util::stream::{self, Stream};
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Context, Data, Subscription, ID};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use axum::Extension;
use chrono::Utc;
use commands::identity::Identity;
use domain::access::Permission;
use domain::ids::TenantId;
use projections::read_models::execution_queries::{find_execution, ExecutionRow};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use uuid::Uuid;

use super::errors::{coded, internal, ErrorCode};
use super::execution_changes::{ExecutionChanges, Signal};
use super::execution_types::Execution;
use super::result::parse_uuid;
use crate::caller::{self, require, Refusal};
use crate::rate_limit::RateLimits;
use crate::AppState;

/// Execution subscriptions.
#[derive(Default)]
pub struct ExecutionSubscription;

/// The bearer token a socket authenticated with, kept to check it again
/// for every change delivered.
#[derive(Clone)]
struct SocketCredential(Option<String>);

#[Subscription]
impl ExecutionSubscription {
    /// The execution, each time it changes (as the `execution` query
    /// answers it). Nothing is sent for an execution that does not exist
    /// in the caller's tenant.
    async fn execution_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Execution>>> {
        let id = parse_uuid("id", &id)?;
        let watch = Watch::start(ctx, Filter::Execution(id))?;
        Ok(watch.into_stream())
    }

    /// Each execution of a workflow that changes, as it is after the
    /// change. Changes lost while the server's listener reconnected are not
    /// replayed: query `executions` to catch up.
    async fn executions_changed(
        &self,
        ctx: &Context<'_>,
        workflow_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Execution>>> {
        let workflow_id = parse_uuid("workflowId", &workflow_id)?;
        let watch = Watch::start(ctx, Filter::Workflow(workflow_id))?;
        Ok(watch.into_stream())
    }
}

/// What a subscription follows.
#[derive(Clone, Copy)]
enum Filter {
    Execution(Uuid),
    Workflow(Uuid),
}

/// One subscription's state.
struct Watch {
    changes: Receiver<Signal>,
    pool: PgPool,
    identity: Arc<Identity>,
    credential: Option<String>,
    tenant_id: TenantId,
    trace_id: String,
    filter: Filter,
    /// The position of the last row sent for an execution followed by id.
    last_position: Option<i64>,
    ended: bool,
}

impl Watch {
    fn start(ctx: &Context<'_>, filter: Filter) -> async_graphql::Result<Self> {
        let (authenticated, caller) = require(ctx, Permission::ReadExecutions)?;
        let credential = ctx.data_opt::<SocketCredential>().and_then(|c| c.0.clone());
        Ok(Self {
            changes: ctx.data::<ExecutionChanges>()?.subscribe(),
            pool: ctx.data::<PgPool>()?.clone(),
            identity: ctx.data::<Arc<Identity>>()?.clone(),
            credential,
            tenant_id: authenticated.tenant_id,
            trace_id: caller.trace_id.clone(),
            filter,
            last_position: None,
            ended: false,
        })
    }

    fn into_stream(self) -> impl Stream<Item = async_graphql::Result<Execution>> {
        stream::unfold(self, |mut watch| async move {
            if watch.ended {
                return None;
            }
            let item = watch.next().await?;
            watch.ended = item.is_err();
            Some((item, watch))
        })
    }

    /// The next execution to send, an error that ends the subscription, or
    /// `None` when the feed closed.
    async fn next(&mut self) -> Option<async_graphql::Result<Execution>> {
        loop {
            let id = match (self.changes.recv().await, self.filter) {
                (Ok(Signal::Changed(change)), filter) => {
                    let wanted = match filter {
                        Filter::Execution(id) => change.execution_id == id,
                        Filter::Workflow(id) => change.workflow_id == id,
                    };
                    if !wanted || change.tenant_id != self.tenant_id.0 {
                        continue;
                    }
                    change.execution_id
                }
                // Changes were missed: read the followed execution again.
                (Ok(Signal::Resync) | Err(RecvError::Lagged(_)), Filter::Execution(id)) => id,
                (Ok(Signal::Resync) | Err(RecvError::Lagged(_)), Filter::Workflow(_)) => continue,
                (Err(RecvError::Closed), _) => return None,
            };
            match self.read(id).await {
                Err(err) => return Some(Err(err)),
                Ok(None) => continue,
                Ok(Some(row)) => {
                    if let Filter::Execution(_) = self.filter {
                        if self.last_position == Some(row.last_position) {
                            continue;
                        }
                        self.last_position = Some(row.last_position);
                    }
                    return Some(Ok(Execution::from(row)));
                }
            }
        }
    }

    /// Checks the credential again, then reads execution `id` of the
    /// caller's tenant.
    async fn read(&self, id: Uuid) -> async_graphql::Result<Option<ExecutionRow>> {
        let Some(token) = &self.credential else {
            return Err(coded(ErrorCode::Unauthenticated, "sign in first"));
        };
        let authenticated = match self.identity.authenticate(token, Utc::now()).await {
            Ok(authenticated) => authenticated,
            Err(commands::identity::AuthError::Rejected { .. }) => {
                return Err(coded(
                    ErrorCode::Unauthenticated,
                    "the credential is no longer valid; subscribe again with a valid token",
                ))
            }
            Err(commands::identity::AuthError::Unavailable(err)) => {
                return Err(internal(&err, &self.trace_id))
            }
        };
        if authenticated.tenant_id != self.tenant_id {
            return Err(coded(
                ErrorCode::Unauthenticated,
                "the credential changed tenant",
            ));
        }
        if !authenticated.allows(Permission::ReadExecutions) {
            return Err(coded(
                ErrorCode::Forbidden,
                "your role or token scopes no longer allow read:executions",
            ));
        }
        find_execution(&self.pool, self.tenant_id.0, id)
            .await
            .map_err(|err| internal(&err, &self.trace_id))
    }
}

/// `GET /graphql/ws`: upgrades to a GraphQL WebSocket.
pub(crate) async fn graphql_ws(
    State(state): State<AppState>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let client = client.map(|Extension(ConnectInfo(address))| address);
    let schema = state.schema.clone();
    let identity = state.identity.clone();
    let rate_limits = state.rate_limits.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| {
                    connection_data(identity, rate_limits, headers, payload, client)
                })
                .serve()
        })
}

/// Authenticates a socket from its `connection_init` payload, or else its
/// upgrade request's headers, as [`caller::caller`] does for HTTP, and
/// counts the connection against the caller's rate limit like a request.
async fn connection_data(
    identity: Arc<Identity>,
    rate_limits: Arc<RateLimits>,
    mut headers: HeaderMap,
    payload: Value,
    client: Option<SocketAddr>,
) -> async_graphql::Result<Data> {
    let given = payload
        .as_object()
        .and_then(|fields| {
            fields
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        })
        .map(|(_, value)| value);
    if let Some(value) = given {
        let value = value
            .as_str()
            .and_then(|text| HeaderValue::from_str(text).ok())
            .ok_or_else(|| {
                async_graphql::Error::new("VALIDATION: Authorization must be `Bearer <token>`")
            })?;
        headers.insert(header::AUTHORIZATION, value);
    }
    let caller = caller::caller(&identity, &headers, client)
        .await
        .map_err(|refusal| async_graphql::Error::new(refusal_message(&refusal)))?;
    if let Some(authenticated) = &caller.authenticated {
        if rate_limits.check_caller(&authenticated.actor()).is_err() {
            metrics::counter!("jobsprint_rate_limited_total", "key" => "caller").increment(1);
            return Err(async_graphql::Error::new(
                "RATE_LIMITED: too many requests; retry later",
            ));
        }
    }
    let token = caller.authenticated.as_ref().and_then(|_| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|token| token.trim().to_owned())
    });
    let mut data = Data::default();
    data.insert(caller);
    data.insert(SocketCredential(token));
    Ok(data)
}

fn refusal_message(refusal: &Refusal) -> String {
    match refusal {
        Refusal::Unauthenticated => {
            "UNAUTHENTICATED: invalid or expired credentials; sign in again or use a valid API token"
                .to_owned()
        }
        Refusal::Unavailable => {
            "UNAVAILABLE: authentication is temporarily unavailable; retry later".to_owned()
        }
        Refusal::BadHeader(message) => format!("VALIDATION: {message}"),
    }
}
