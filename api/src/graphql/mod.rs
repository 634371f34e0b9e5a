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
use async_graphql::{EmptySubscription, MergedObject, Schema};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use commands::Commands;
use sqlx::PgPool;

use crate::identity::Identity;
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
        .data(pool)
        .data(commands);
    if config.introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// `POST /graphql`.
pub(crate) async fn graphql_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let identity = match Identity::from_headers(&headers) {
        Ok(identity) => identity,
        Err(err) => return errors::request_error(ErrorCode::Validation, &err.to_string()),
    };
    let request = request.into_inner().data(identity);
    GraphQLResponse::from(state.schema.execute(request).await).into_response()
}

/// `GET /graphql`: GraphiQL.
pub(crate) async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}
