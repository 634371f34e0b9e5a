//! Health, readiness, metrics, GraphiQL and request limits over HTTP.

mod support;

use api::ApiConfig;
use serde_json::json;
use sqlx::PgPool;
use support::*;

#[sqlx::test(migrations = "../migrations")]
async fn health_readiness_and_graphiql(pool: PgPool) {
    let app = spawn_app(pool).await;
    let health = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let graphiql = app
        .client
        .get(format!("{}/graphql", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(graphiql.status(), 200);
    assert!(graphiql
        .text()
        .await
        .unwrap()
        .to_lowercase()
        .contains("graphiql"));
}

#[sqlx::test(migrations = "../migrations")]
async fn readiness_fails_when_the_database_is_gone(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    pool.close().await;
    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
}

#[sqlx::test(migrations = "../migrations")]
async fn metrics_count_requests_and_commands_by_outcome(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.gql(
        CREATE,
        json!({"input": {"name": "m", "definition": definition()}}),
    )
    .await;
    app.gql(
        CREATE,
        json!({"input": {"name": "", "definition": definition()}}),
    )
    .await;
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("jobsprint_http_requests_total"), "{text}");
    assert!(
        text.contains("jobsprint_http_request_duration_seconds"),
        "{text}"
    );
    let accepted = text.lines().any(|l| {
        l.starts_with("jobsprint_commands_total")
            && l.contains("CreateWorkflow")
            && l.contains("outcome=\"accepted\"")
    });
    let rejected = text.lines().any(|l| {
        l.starts_with("jobsprint_commands_total")
            && l.contains("CreateWorkflow")
            && l.contains("outcome=\"rejected\"")
    });
    assert!(accepted && rejected, "{text}");
}

#[sqlx::test(migrations = "../migrations")]
async fn oversized_bodies_deep_queries_and_bad_headers_are_refused(pool: PgPool) {
    let config = ApiConfig {
        body_limit_bytes: 4096,
        introspection: false,
        ..ApiConfig::default()
    };
    let app = spawn_app_with(pool, config).await;

    let huge = "x".repeat(10_000);
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&json!({"query": "{ __typename }", "variables": {"pad": huge}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    let introspection = app.gql("{ __schema { types { name } } }", json!({})).await;
    assert!(
        introspection["data"]["__schema"].is_null(),
        "introspection is off: {introspection}"
    );

    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("authorization", "Token not-a-bearer")
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}

#[sqlx::test(migrations = "../migrations")]
async fn queries_past_the_depth_and_complexity_limits_run_no_resolver(pool: PgPool) {
    let config = ApiConfig {
        graphql_max_depth: 3,
        graphql_max_complexity: 5,
        ..ApiConfig::default()
    };
    let app = spawn_app_with(pool, config).await;
    let deep = app
        .gql(
            "{ events(aggregateType: WORKFLOW, aggregateId: \"x\") { edges { node { eventType } } } }",
            json!({}),
        )
        .await;
    let message = deep["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{deep}"));
    assert!(message.contains("nested too deep"), "{message}");

    let config = ApiConfig {
        graphql_max_complexity: 5,
        ..ApiConfig::default()
    };
    let app = spawn_app_with(app.pool.clone(), config).await;
    let complex = app
        .gql(
            "{ events(aggregateType: WORKFLOW, aggregateId: \"x\") { edges { cursor node { eventType eventVersion payload metadata sequence position } } } }",
            json!({}),
        )
        .await;
    let message = complex["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{complex}"));
    assert!(message.contains("too complex"), "{message}");
}
