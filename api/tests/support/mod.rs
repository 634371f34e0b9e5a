//! A real server on a real socket over a fresh database, for black-box tests.

#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use api::{ApiConfig, AppState};
use commands::secrets::Keyring;
use commands::{CommandConfig, Commands};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{json, Value};
use sqlx::PgPool;

/// A running server.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client for it.
    pub client: reqwest::Client,
    /// The test's own database.
    pub pool: PgPool,
}

fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("one recorder per test binary")
        })
        .clone()
}

/// Serves the whole app on 127.0.0.1 with an ephemeral port.
pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, ApiConfig::default()).await
}

/// Same, with chosen API settings.
pub async fn spawn_app_with(pool: PgPool, config: ApiConfig) -> TestApp {
    let commands = Arc::new(Commands::new(
        pool.clone(),
        CommandConfig {
            keyring: Some(Keyring::new("test-key", &Keyring::generate_key()).unwrap()),
            ..CommandConfig::default()
        },
    ));
    let state = AppState::new(&config, pool.clone(), commands, Some(metrics()));
    let app = api::app(&config, state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    TestApp {
        base,
        client: reqwest::Client::new(),
        pool,
    }
}

impl TestApp {
    /// Posts a GraphQL operation as the default tenant.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_as(None, query, variables).await
    }

    /// Posts a GraphQL operation with an `X-Tenant-Id` header.
    pub async fn gql_as(&self, tenant: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(tenant) = tenant {
            request = request.header("x-tenant-id", tenant);
        }
        request.send().await.unwrap().json().await.unwrap()
    }
}

/// The `extensions.code` of the first error of a response.
pub fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code, got {response}"))
}

/// A valid two-node definition.
pub fn definition() -> Value {
    json!({
        "nodes": [
            {"id": "fetch", "type": "http", "config": {"url": "https://example.com/orders", "method": "GET"}},
            {"id": "notify", "type": "transform", "config": {"expression": "{id: .body.id}"}}
        ],
        "edges": [{"from": "fetch", "to": "notify"}],
        "trigger": {"type": "manual"}
    })
}

/// The createWorkflow mutation.
pub const CREATE: &str = "mutation($input: CreateWorkflowInput!) {
  createWorkflow(input: $input) { id version position commandId duplicate } }";
/// The publishWorkflow mutation.
pub const PUBLISH: &str = "mutation($input: PublishWorkflowInput!) {
  publishWorkflow(input: $input) { id version position } }";
/// The startExecution mutation.
pub const START: &str = "mutation($input: StartExecutionInput!) {
  startExecution(input: $input) { id version position } }";
/// The events query.
pub const EVENTS: &str = "query($type: AggregateType!, $id: ID!, $after: String, $first: Int) {
  events(aggregateType: $type, aggregateId: $id, after: $after, first: $first) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { sequence position eventId eventType eventVersion payload metadata recordedAt } } } }";
