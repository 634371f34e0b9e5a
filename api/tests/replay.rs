//! Replay through the real server: `workflowAt`, `executionAt` and
//! `integrationAt` answer an aggregate's state as of a moment, tenant-scoped;
//! `rebuildProjection` rebuilds a read model for admins and the
//! `projections` query shows its progress.

mod support;

use std::time::Duration;

use domain::access::Role;
use projections::projector::{Projector, ProjectorConfig};
use projections::read_models::audit_log::AuditLogProjection;
use projections::source::StoreSource;
use serde_json::{json, Value};
use sqlx::PgPool;
use support::*;

const WORKFLOW_AT: &str = "query($id: ID!, $at: DateTime, $position: BigInt) {
  workflowAt(id: $id, at: $at, position: $position) {
    aggregateType id version position recordedAt state } }";
const INTEGRATION_AT: &str = "query($id: ID!, $position: BigInt) {
  integrationAt(id: $id, position: $position) { version state } }";
const RENAME: &str = "mutation($id: ID!, $name: String!) {
  renameWorkflow(input: {id: $id, name: $name}) { version position } }";
const REBUILD: &str = "mutation($name: String!) {
  rebuildProjection(name: $name) { projection state eventsDone eventsTotal startedAt } }";
const PROJECTIONS: &str = "{ projections { name state rebuild {
  projection state eventsDone eventsTotal eventsPerSecond secondsLeft finishedAt error } } }";

fn position_of(response: &Value, field: &str) -> i64 {
    response["data"][field]["position"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .parse()
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn aggregates_read_as_they_were_for_their_own_tenant_only(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let created = app
        .gql(
            "mutation($input: CreateWorkflowInput!) { createWorkflow(input: $input) { id position } }",
            json!({"input": {"name": "Invoices", "definition": definition()}}),
        )
        .await;
    let id = created["data"]["createWorkflow"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = position_of(&created, "createWorkflow");
    let renamed = app
        .gql(RENAME, json!({"id": id, "name": "Invoices (EU)"}))
        .await;
    let second = position_of(&renamed, "renameWorkflow");

    let then = app
        .gql(
            WORKFLOW_AT,
            json!({"id": id, "position": first.to_string()}),
        )
        .await;
    let then = &then["data"]["workflowAt"];
    assert_eq!(then["state"]["name"], "Invoices", "{then}");
    assert_eq!(then["aggregateType"], "Workflow");
    assert_eq!(then["position"], first.to_string());
    let now = app
        .gql(
            WORKFLOW_AT,
            json!({"id": id, "position": second.to_string()}),
        )
        .await;
    assert_eq!(
        now["data"]["workflowAt"]["state"]["name"], "Invoices (EU)",
        "{now}"
    );
    // By time: the moment of the first event.
    let at = then["recordedAt"].as_str().unwrap();
    let by_time = app.gql(WORKFLOW_AT, json!({"id": id, "at": at})).await;
    assert_eq!(
        by_time["data"]["workflowAt"]["position"],
        first.to_string(),
        "{by_time}"
    );

    // A viewer of the tenant may look; another tenant sees nothing.
    let viewer = app.user_token(&app.tenant, Role::Viewer).await;
    let seen = app
        .gql_as(
            Some(&viewer),
            WORKFLOW_AT,
            json!({"id": id, "position": second.to_string()}),
        )
        .await;
    assert_eq!(
        seen["data"]["workflowAt"]["version"],
        now["data"]["workflowAt"]["version"]
    );
    let other = app.new_tenant("Tenant B").await;
    let theirs = app
        .gql_as(
            Some(&other.admin_token),
            WORKFLOW_AT,
            json!({"id": id, "position": second.to_string()}),
        )
        .await;
    assert!(theirs["errors"].is_null(), "{theirs}");
    assert!(theirs["data"]["workflowAt"].is_null(), "{theirs}");

    // Exactly one of `at` and `position`.
    for variables in [
        json!({"id": id}),
        json!({"id": id, "at": at, "position": "1"}),
    ] {
        let refused = app.gql(WORKFLOW_AT, variables).await;
        assert_eq!(error_code(&refused), "VALIDATION", "{refused}");
    }
    let refused = app
        .gql(WORKFLOW_AT, json!({"id": "not-a-uuid", "position": "1"}))
        .await;
    assert_eq!(error_code(&refused), "VALIDATION", "{refused}");

    // Credentials show only sealed.
    let registered = app
        .gql(
            "mutation { registerIntegration(input: {name: \"CRM\", kind: \"http_api\",
               credentials: {api_key: \"sk-very-secret\"}}) { id position } }",
            json!({}),
        )
        .await;
    let integration = registered["data"]["registerIntegration"]["id"]
        .as_str()
        .unwrap();
    let position = position_of(&registered, "registerIntegration");
    let state = app
        .gql(
            INTEGRATION_AT,
            json!({"id": integration, "position": position.to_string()}),
        )
        .await;
    let text = state.to_string();
    assert_eq!(
        state["data"]["integrationAt"]["state"]["name"], "CRM",
        "{text}"
    );
    assert!(!text.contains("sk-very-secret"), "{text}");
}

#[sqlx::test(migrations = "../migrations")]
async fn admins_rebuild_a_read_model_and_follow_its_progress(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let id = app
        .create_workflow(&app.tenant.admin_token, "Payroll")
        .await;
    app.wait_for_read_models().await;

    let user = app.user_token(&app.tenant, Role::User).await;
    let refused = app
        .gql_as(Some(&user), REBUILD, json!({"name": "workflows"}))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    let refused = app.gql(REBUILD, json!({"name": "engine_intake"})).await;
    assert_eq!(error_code(&refused), "VALIDATION", "{refused}");
    assert!(refused["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("rebuildable"));

    let started = app.gql(REBUILD, json!({"name": "workflows"})).await;
    assert!(started["errors"].is_null(), "{started}");
    assert_eq!(
        started["data"]["rebuildProjection"]["projection"],
        "workflows"
    );
    assert!(
        ["RUNNING", "SUCCEEDED"].contains(
            &started["data"]["rebuildProjection"]["state"]
                .as_str()
                .unwrap()
        ),
        "{started}"
    );

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let rebuild = loop {
        let status = app.gql(PROJECTIONS, json!({})).await;
        let workflows = status["data"]["projections"]
            .as_array()
            .unwrap_or_else(|| panic!("{status}"))
            .iter()
            .find(|p| p["name"] == "workflows")
            .cloned()
            .unwrap();
        if workflows["rebuild"]["state"] == "SUCCEEDED" {
            break workflows["rebuild"].clone();
        }
        assert_ne!(workflows["rebuild"]["state"], "FAILED", "{workflows}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rebuild did not finish: {workflows}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rebuild["eventsDone"], events.to_string(), "{rebuild}");
    assert!(rebuild["finishedAt"].is_string());
    assert!(rebuild["error"].is_null());

    // The rebuilt read model answers as before, and keeps following.
    let found = app
        .gql(
            "query($id: ID!) { workflow(id: $id) { name } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(found["data"]["workflow"]["name"], "Payroll", "{found}");
    let later = app.create_workflow(&app.tenant.admin_token, "After").await;
    app.wait_for_read_models().await;
    let found = app
        .gql(
            "query($id: ID!) { workflow(id: $id) { name } }",
            json!({"id": later}),
        )
        .await;
    assert_eq!(found["data"]["workflow"]["name"], "After", "{found}");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_audit_log_says_who_changed_what_when_and_from_where(pool: PgPool) {
    // The audit log's projector, as `serve` runs it.
    let projector = Projector::new(pool.clone(), AuditLogProjection, ProjectorConfig::default());
    let source = StoreSource::new(pool.clone()).with_poll_interval(Duration::from_millis(100));
    tokio::spawn(async move { projector.run(source, std::future::pending()).await });
    let app = spawn_app(pool.clone()).await;
    let id = app
        .create_workflow(&app.tenant.admin_token, "Origins")
        .await;
    let renamed: Value = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&app.tenant.admin_token)
        .header("user-agent", "auditor-console/2.1")
        .json(&json!({"query": RENAME, "variables": {"id": id, "name": "Origins (renamed)"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = renamed["data"]["renameWorkflow"]["position"].clone();
    let audit = app
        .gql(
            "query($id: ID!, $at: BigInt) { auditLog(filter: {aggregateId: $id}, consistentWith: $at) {
               edges { node { actor action recordedAt clientIp userAgent } } } }",
            json!({"id": id, "at": at}),
        )
        .await;
    let newest = &audit["data"]["auditLog"]["edges"][0]["node"];
    assert_eq!(newest["action"], "WorkflowRenamed", "{audit}");
    assert!(
        newest["actor"].as_str().unwrap().starts_with("token:"),
        "{newest}"
    );
    assert_eq!(newest["clientIp"], "127.0.0.1", "{newest}");
    assert_eq!(newest["userAgent"], "auditor-console/2.1", "{newest}");
    assert!(newest["recordedAt"].is_string());
}
