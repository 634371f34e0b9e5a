//! The GraphQL schema: commands as mutations, raw history as a query.
//!
//! Wire types live here; domain types never derive GraphQL traits.

mod errors;
mod events;
mod executions;
mod integrations;
mod result;
mod scalars;
mod workflows;

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql::BatchRequest;
use async_graphql::{EmptySubscription, MergedObject, Schema};
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use commands::Commands;
use sqlx::PgPool;

use crate::identity::Identity;
use crate::limits::{ShapeLimits, LIMIT_EXCEEDED};
use crate::{ApiConfig, AppState};

pub use errors::ErrorCode;
pub use scalars::BigInt;

/// The root query type.
#[derive(MergedObject, Default)]
pub struct Query(events::EventQuery);

/// The root mutation type.
#[derive(MergedObject, Default)]
pub struct Mutation(
    workflows::WorkflowMutation,
    integrations::IntegrationMutation,
    executions::ExecutionMutation,
);

/// Jobsprint's schema.
pub type JobsprintSchema = Schema<Query, Mutation, EmptySubscription>;

/// Builds the schema with its limits.
pub fn schema(config: &ApiConfig, pool: PgPool, commands: Arc<Commands>) -> JobsprintSchema {
    let builder = Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(config.graphql_max_depth)
        .limit_complexity(config.graphql_max_complexity)
        .extension(ShapeLimits {
            max_aliases: config.graphql_max_aliases,
            max_root_fields: config.graphql_max_root_fields,
        })
        .data(pool)
        .data(commands);
    if config.introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// `POST /graphql`: one operation, or a batch of at most `max_batch`.
pub(crate) async fn graphql_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLBatchRequest,
) -> Response {
    let identity = match Identity::from_headers(&headers) {
        Ok(identity) => identity,
        Err(err) => return errors::request_error(ErrorCode::Validation.as_str(), &err.to_string()),
    };
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
    let batch = batch.data(identity);
    GraphQLResponse::from(state.schema.execute_batch(batch).await).into_response()
}

/// `GET /graphql`: GraphiQL.
pub(crate) async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}
