//! The GraphQL schema: commands as mutations, raw history as a query.
//!
//! Wire types live here; domain types never derive GraphQL traits.

mod audit_query;
pub(crate) mod consistency;
pub(crate) mod errors;
mod events;
mod execution_changes;
mod execution_types;
mod executions;
mod executions_query;
pub(crate) mod executions_subscription;
mod identity;
mod integrations;
mod integrations_query;
mod paging;
mod projection_admin;
mod replay;
mod result;
mod scalars;
mod tenant_settings;
mod workflows;
mod workflows_query;

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql::BatchRequest;
use async_graphql::{MergedObject, MergedSubscription, Schema};
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::extract::ConnectInfo;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use commands::identity::Identity;
use sqlx::PgPool;
use std::net::SocketAddr;

use crate::caller;
use crate::limits::{ShapeLimits, LIMIT_EXCEEDED};
use crate::{ApiConfig, AppState};

pub use errors::ErrorCode;
pub use scalars::BigInt;

/// The root query type.
#[derive(MergedObject, Default)]
pub struct Query(
    events::EventQuery,
    identity::IdentityQuery,
    workflows_query::WorkflowQuery,
    executions_query::ExecutionQuery,
    integrations_query::IntegrationQuery,
    audit_query::AuditQuery,
    projection_admin::ProjectionAdminQuery,
    replay::ReplayQuery,
);

/// The root mutation type.
#[derive(MergedObject, Default)]
pub struct Mutation(
    workflows::WorkflowMutation,
    integrations::IntegrationMutation,
    executions::ExecutionMutation,
    identity::IdentityMutation,
    projection_admin::ProjectionAdminMutation,
    tenant_settings::TenantSettingsMutation,
    replay::ReplayMutation,
);

/// The root subscription type (over WebSocket at `/graphql/ws`).
#[derive(MergedSubscription, Default)]
pub struct Subscription(executions_subscription::ExecutionSubscription);

/// Jobsprint's schema.
pub type JobsprintSchema = Schema<Query, Mutation, Subscription>;

/// Builds the schema with its limits.
pub fn schema(config: &ApiConfig, pool: PgPool, identity: Arc<Identity>) -> JobsprintSchema {
    let builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_depth(config.graphql_max_depth)
    .limit_complexity(config.graphql_max_complexity)
    .extension(ShapeLimits {
        max_aliases: config.graphql_max_aliases,
        max_root_fields: config.graphql_max_root_fields,
    })
    .data(consistency::ConsistencyWait(config.consistency_wait))
    .data(execution_changes::ExecutionChanges::new(pool.clone()))
    .data(pool)
    .data(identity.commands().clone())
    .data(identity);
    if config.introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// `POST /graphql`: one operation, or a batch of at most `max_batch`.
pub(crate) async fn graphql_handler(
    State(state): State<AppState>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    request: GraphQLBatchRequest,
) -> Response {
    let client = client.map(|Extension(ConnectInfo(address))| address);
    let caller = match caller::caller(&state.identity, &headers, client).await {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(authenticated) = &caller.authenticated {
        if let Err(limited) = state.rate_limits.check_caller(&authenticated.actor()) {
            metrics::counter!("jobsprint_rate_limited_total", "key" => "caller").increment(1);
            return limited.into_response();
        }
    }
    let batch = request.into_inner();
    if let BatchRequest::Batch(requests) = &batch {
        if requests.len() > state.max_batch {
            let message = format!(
                "the batch holds {} operations; at most {} are allowed",
                requests.len(),
                state.max_batch
            );
            return errors::request_error(LIMIT_EXCEEDED, &message);
        }
    }
    let batch = batch.data(caller);
    GraphQLResponse::from(state.schema.execute_batch(batch).await).into_response()
}

/// `GET /graphql`: GraphiQL.
pub(crate) async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}
