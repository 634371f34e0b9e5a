//! A real server on a real socket over a fresh database, for black-box tests.

#![allow(dead_code)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use api::{ApiConfig, AppState};
use auth::jwt::{JwtConfig, JwtService, SigningKey};
use auth::tokens::generate_secret;
use auth::Secret;
use chrono::Utc;
use commands::identity::{Authenticated, Identity, IdentityConfig};
use commands::secrets::data_keys::DataKeys;
use commands::secrets::master::MasterKeys;
use commands::{CommandConfig, Commands};
use domain::access::{Principal, Role};
use domain::ids::UserId;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use projections::projector::{Projection, Projector, ProjectorConfig};
use projections::read_models::workflows::WorkflowsProjection;
use projections::source::StoreSource;
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
    /// Identity, for setting up tenants and members directly.
    pub identity: Arc<Identity>,
    /// The server's access-token service (to check and to forge tokens).
    pub jwt: JwtService,
    /// Its configuration.
    pub jwt_config: JwtConfig,
    /// The first tenant, with an `admin:all` API token.
    pub tenant: TenantFixture,
}

/// A tenant made for a test.
#[derive(Debug, Clone)]
pub struct TenantFixture {
    /// Its id.
    pub tenant_id: String,
    /// Its admin user.
    pub admin_id: UserId,
    /// An `admin:all` API token.
    pub admin_token: String,
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

fn jwt_config() -> JwtConfig {
    JwtConfig::new(
        "jobsprint",
        "jobsprint-api",
        vec![SigningKey::new("test-kid", generate_secret())],
        "test-kid",
        JwtConfig::DEFAULT_TTL,
        JwtConfig::DEFAULT_LEEWAY,
    )
    .expect("a valid test JWT config")
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
            secrets: Some(Arc::new(DataKeys::new(
                pool.clone(),
                MasterKeys::generate("test-key"),
            ))),
            ..CommandConfig::default()
        },
    ));
    let jwt_config = jwt_config();
    let identity = Arc::new(Identity::new(
        commands,
        JwtService::new(jwt_config.clone()),
        IdentityConfig::default(),
    ));
    start_projections(&pool);
    let state = AppState::new(&config, pool.clone(), identity.clone(), Some(metrics()));
    let app = api::app(&config, state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    let tenant = new_tenant(&identity, "Tenant A").await;
    TestApp {
        base,
        client: reqwest::Client::new(),
        pool,
        jwt: JwtService::new(jwt_config.clone()),
        jwt_config,
        identity,
        tenant,
    }
}

/// Runs the read-model projections over the test's database, as `serve`
/// does, until the test's pool closes.
fn start_projections(pool: &PgPool) {
    let config = ProjectorConfig {
        idle_poll: Duration::from_millis(50),
        ..ProjectorConfig::default()
    };
    let projector = Projector::new(pool.clone(), WorkflowsProjection, config);
    let source = StoreSource::new(pool.clone()).with_poll_interval(Duration::from_millis(250));
    tokio::spawn(async move { projector.run(source, std::future::pending()).await });
}

async fn new_tenant(identity: &Identity, name: &str) -> TenantFixture {
    let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
    let made = identity
        .create_tenant(name, &email, None)
        .await
        .expect("tenant created");
    TenantFixture {
        tenant_id: made.tenant_id.to_string(),
        admin_id: made.user_id,
        admin_token: made.api_token.expose().to_owned(),
    }
}

/// The password every test member gets.
pub const MEMBER_PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// Another tenant, with its admin.
    pub async fn new_tenant(&self, name: &str) -> TenantFixture {
        new_tenant(&self.identity, name).await
    }

    /// Invites and registers a member with `role`: (user id, access token).
    pub async fn member(&self, tenant: &TenantFixture, role: Role) -> (String, String) {
        let (email, _) = self.member_with_password(tenant, role).await;
        let tokens = self
            .identity
            .login(
                tenant.tenant_id.parse().unwrap(),
                &email,
                &Secret::new(MEMBER_PASSWORD),
                "test",
                Utc::now(),
            )
            .await
            .expect("the member signs in");
        (
            tokens.user_id.to_string(),
            tokens.access_token.expose().to_owned(),
        )
    }

    /// Invites and registers a member with `role`: (email, password).
    pub async fn member_with_password(
        &self,
        tenant: &TenantFixture,
        role: Role,
    ) -> (String, String) {
        let admin = Authenticated {
            tenant_id: tenant.tenant_id.parse().unwrap(),
            principal: Principal::User {
                user_id: tenant.admin_id,
                role: Role::Admin,
            },
            session_id: None,
        };
        let email = format!("{role}-{}@example.com", uuid::Uuid::new_v4().simple());
        let invitation = self
            .identity
            .invite_user(&admin, &email, role, "test", Utc::now())
            .await
            .expect("invited");
        self.identity
            .register(
                &invitation.token,
                "Member",
                &Secret::new(MEMBER_PASSWORD),
                "test",
                Utc::now(),
            )
            .await
            .expect("registered");
        (email, MEMBER_PASSWORD.to_owned())
    }

    /// An access token of a fresh member with `role`.
    pub async fn user_token(&self, tenant: &TenantFixture, role: Role) -> String {
        self.member(tenant, role).await.1
    }

    /// Creates a workflow named `name` with `token`; its id.
    pub async fn create_workflow(&self, token: &str, name: &str) -> String {
        let created = self
            .gql_as(
                Some(token),
                CREATE,
                json!({"input": {"name": name, "definition": definition()}}),
            )
            .await;
        created["data"]["createWorkflow"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{created}"))
            .to_owned()
    }

    /// Waits until the `workflows` read model has applied the event at
    /// `position` (a mutation's `position`, as a number or a string).
    pub async fn wait_for_position(&self, position: &Value) {
        let position = match position {
            Value::String(text) => text.parse().unwrap(),
            other => other
                .as_i64()
                .unwrap_or_else(|| panic!("not a position: {other}")),
        };
        projections::status::wait_for_position(
            &self.pool,
            WorkflowsProjection::NAME,
            position,
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    }

    /// Waits until the read models have applied every event written so far.
    pub async fn wait_for_read_models(&self) {
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT global_position FROM events
              ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .unwrap();
        self.wait_for_position(&json!(last.unwrap_or(0))).await;
    }

    /// Posts a GraphQL operation as the first tenant's admin token.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_as(Some(&self.tenant.admin_token), query, variables)
            .await
    }

    /// Posts a GraphQL operation with `token` as bearer (anonymous with `None`).
    pub async fn gql_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
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
