//! The `integrations` and `audit_log` read models through the real HTTP
//! server: `integration`, `integrations`, `auditLog`, `projectionDeadLetters` and
//! `retryDeadLetter`, tenant-scoped, guarded by role, paged with stable
//! cursors, with read-your-writes and STALE.

mod dead_letter_cases;
mod support;

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use domain::access::Role;
use projections::projector::{Projection, Projector, ProjectorConfig};
use projections::read_models::audit_log::AuditLogProjection;
use projections::read_models::integrations::IntegrationsProjection;
use projections::source::StoreSource;
use serde_json::{json, Value};
use sqlx::PgPool;
use support::*;

/// The credential every test integration gets: it must never come back.
const SECRET: &str = "xoxb-very-secret-token-4242";

const REGISTER: &str = "mutation($input: RegisterIntegrationInput!) {
  registerIntegration(input: $input) { id position } }";
const INTEGRATION: &str =
    "query($id: ID!, $at: BigInt) { integration(id: $id, consistentWith: $at) {
  id name kind config status credentialsSet credentialsRotatedAt circuitState version
  health { healthy message latencyMs checkedAt } createdAt updatedAt } }";
const INTEGRATIONS: &str =
    "query($filter: IntegrationFilter, $first: Int, $after: String, $at: BigInt) {
  integrations(filter: $filter, first: $first, after: $after, consistentWith: $at) {
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id name kind status credentialsSet } } } }";
const AUDIT: &str = "query($filter: AuditFilter, $first: Int, $after: String, $at: BigInt) {
  auditLog(filter: $filter, first: $first, after: $after, consistentWith: $at) {
    pageInfo { hasNextPage endCursor }
    edges { node { position eventId actor action aggregateType aggregateId sequence recordedAt
                   commandId correlationId causationId traceId clientIp userAgent } } } }";

/// Runs the two read models of this file over the test's database, as
/// `serve` does, until the test's pool closes.
fn start_read_models(pool: &PgPool) {
    fn run<P: Projection>(pool: &PgPool, projection: P) {
        let config = ProjectorConfig {
            idle_poll: Duration::from_millis(50),
            ..ProjectorConfig::default()
        };
        let projector = Projector::new(pool.clone(), projection, config);
        let source = StoreSource::new(pool.clone()).with_poll_interval(Duration::from_millis(250));
        tokio::spawn(async move { projector.run(source, std::future::pending()).await });
    }
    run(pool, IntegrationsProjection);
    run(pool, AuditLogProjection);
}

async fn app(pool: PgPool) -> TestApp {
    start_read_models(&pool);
    spawn_app(pool).await
}

/// Registers an integration with `token`: (id, position).
async fn register(app: &TestApp, token: &str, name: &str, kind: &str) -> (String, Value) {
    let input = json!({"name": name, "kind": kind, "config": {"channel": "#ops"},
                       "credentials": {"token": SECRET}});
    let done = app
        .gql_as(Some(token), REGISTER, json!({"input": input}))
        .await;
    let result = &done["data"]["registerIntegration"];
    let id = result["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{done}"))
        .to_owned();
    (id, result["position"].clone())
}

fn edges<'a>(response: &'a Value, field: &str) -> &'a Vec<Value> {
    response["data"][field]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
}

fn node_ids(response: &Value, field: &str, key: &str) -> Vec<String> {
    edges(response, field)
        .iter()
        .map(|e| e["node"][key].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn viewers_read_their_tenants_integrations_without_credentials(pool: PgPool) {
    let app = app(pool).await;
    let admin = app.tenant.admin_token.clone();
    let mut ids = Vec::new();
    let mut at = Value::Null;
    for (name, kind) in [
        ("A", "slack"),
        ("B", "github"),
        ("C", "slack"),
        ("D", "slack"),
    ] {
        let (id, position) = register(&app, &admin, name, kind).await;
        ids.push(id);
        at = position;
    }
    let disable = app
        .gql(
            "mutation($id: ID!) { setIntegrationEnabled(input: {id: $id, enabled: false}) { position } }",
            json!({"id": ids[2]}),
        )
        .await;
    let disabled_at = disable["data"]["setIntegrationEnabled"]["position"].clone();
    assert!(!disabled_at.is_null(), "{disable}");
    let viewer = app.user_token(&app.tenant, Role::Viewer).await;

    let one = app
        .gql_as(
            Some(&viewer),
            INTEGRATION,
            json!({"id": ids[2], "at": disabled_at}),
        )
        .await;
    let node = &one["data"]["integration"];
    assert_eq!(node["name"], "C", "{one}");
    assert_eq!(
        (&node["status"], &node["credentialsSet"]),
        (&json!("DISABLED"), &json!(true))
    );
    assert_eq!(
        (&node["circuitState"], &node["version"]),
        (&json!("CLOSED"), &json!("2"))
    );
    assert_eq!(node["config"], json!({"channel": "#ops"}));
    assert!(node["health"].is_null() && node["credentialsRotatedAt"].is_null());

    // Pages of two, newest first, with stable cursors.
    let page = app
        .gql_as(Some(&viewer), INTEGRATIONS, json!({"first": 2, "at": at}))
        .await;
    assert_eq!(
        node_ids(&page, "integrations", "id"),
        [ids[3].clone(), ids[2].clone()]
    );
    let info = &page["data"]["integrations"]["pageInfo"];
    assert_eq!(
        (&info["hasNextPage"], &info["hasPreviousPage"]),
        (&json!(true), &json!(false))
    );
    let next = app
        .gql_as(
            Some(&viewer),
            INTEGRATIONS,
            json!({"first": 2, "after": info["endCursor"]}),
        )
        .await;
    assert_eq!(
        node_ids(&next, "integrations", "id"),
        [ids[1].clone(), ids[0].clone()]
    );
    assert_eq!(
        next["data"]["integrations"]["pageInfo"]["hasNextPage"],
        false
    );
    let slack_enabled = json!({"filter": {"kind": "slack", "status": "ENABLED"}});
    let filtered = app.gql_as(Some(&viewer), INTEGRATIONS, slack_enabled).await;
    assert_eq!(
        node_ids(&filtered, "integrations", "id"),
        [ids[3].clone(), ids[0].clone()]
    );
    for response in [&one, &page, &next, &filtered] {
        assert!(!response.to_string().contains(SECRET), "{response}");
    }

    // Another tenant's admin: like missing. An executor: no permission.
    let other = app.new_tenant("Tenant B").await;
    let foreign = app
        .gql_as(Some(&other.admin_token), INTEGRATION, json!({"id": ids[0]}))
        .await;
    assert!(
        foreign["errors"].is_null() && foreign["data"]["integration"].is_null(),
        "{foreign}"
    );
    let foreign_list = app
        .gql_as(Some(&other.admin_token), INTEGRATIONS, json!({}))
        .await;
    assert!(edges(&foreign_list, "integrations").is_empty());
    let executor = app.user_token(&app.tenant, Role::Executor).await;
    let refused = app.gql_as(Some(&executor), INTEGRATIONS, json!({})).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_audit_log_pages_newest_first_for_callers_with_read_audit(pool: PgPool) {
    let app = app(pool).await;
    let admin = app.tenant.admin_token.clone();
    // Every event before the update's position: the log is complete there.
    let viewer = app.user_token(&app.tenant, Role::Viewer).await;
    let (integration, _) = register(&app, &admin, "Audited", "http").await;
    let rename = app
        .gql(
            "mutation($id: ID!) { updateIntegration(input: {id: $id, config: {url: \"https://x\"}}) { position } }",
            json!({"id": integration}),
        )
        .await;
    let at = rename["data"]["updateIntegration"]["position"].clone();

    let all = app.gql_as(Some(&viewer), AUDIT, json!({"at": at})).await;
    let entries = edges(&all, "auditLog");
    assert!(
        entries.len() >= 4,
        "tenant, admin, token, integration: {all}"
    );
    let newest = &entries[0]["node"];
    assert_eq!(
        (&newest["action"], &newest["aggregateType"]),
        (&json!("IntegrationConfigUpdated"), &json!("Integration"))
    );
    assert_eq!(
        (&newest["aggregateId"], &newest["sequence"]),
        (&json!(integration), &json!("2"))
    );
    assert!(
        newest["actor"].as_str().unwrap().starts_with("token:"),
        "{newest}"
    );
    assert!(newest["correlationId"].is_string() && newest["causationId"].is_string());
    assert_eq!(newest["clientIp"], "127.0.0.1", "from where: {newest}");
    assert!(!all.to_string().contains(SECRET));
    let times: Vec<DateTime<FixedOffset>> = entries
        .iter()
        .map(|e| DateTime::parse_from_rfc3339(e["node"]["recordedAt"].as_str().unwrap()).unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );

    // Pages of two give the same entries as one page.
    let mut paged = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app
            .gql_as(Some(&viewer), AUDIT, json!({"first": 2, "after": after}))
            .await;
        paged.extend(node_ids(&page, "auditLog", "eventId"));
        let info = &page["data"]["auditLog"]["pageInfo"];
        if info["hasNextPage"] == false {
            break;
        }
        after = info["endCursor"].clone();
    }
    assert_eq!(paged, node_ids(&all, "auditLog", "eventId"));

    let filter = json!({"filter": {"aggregateType": "INTEGRATION", "aggregateId": integration}});
    let of_one = app.gql_as(Some(&viewer), AUDIT, filter).await;
    let actions = node_ids(&of_one, "auditLog", "action");
    assert_eq!(
        actions,
        ["IntegrationConfigUpdated", "IntegrationRegistered"]
    );
    let actor = newest["actor"].clone();
    let by_actor = app
        .gql_as(
            Some(&viewer),
            AUDIT,
            json!({"filter": {"actor": actor, "from": "2000-01-01T00:00:00Z"}}),
        )
        .await;
    assert!(
        node_ids(&by_actor, "auditLog", "action").len() >= 2,
        "{by_actor}"
    );
    let later = app
        .gql_as(
            Some(&viewer),
            AUDIT,
            json!({"filter": {"from": "2999-01-01T00:00:00Z"}}),
        )
        .await;
    assert!(edges(&later, "auditLog").is_empty());

    let other = app.new_tenant("Tenant B").await;
    let foreign = app
        .gql_as(
            Some(&other.admin_token),
            AUDIT,
            json!({"filter": {"aggregateId": integration}}),
        )
        .await;
    assert!(edges(&foreign, "auditLog").is_empty(), "{foreign}");
    let executor = app.user_token(&app.tenant, Role::Executor).await;
    assert_eq!(
        error_code(&app.gql_as(Some(&executor), AUDIT, json!({})).await),
        "FORBIDDEN"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn consistent_with_sees_the_write_or_answers_stale(pool: PgPool) {
    let app = app(pool.clone()).await;
    let admin = app.tenant.admin_token.clone();
    let (id, at) = register(&app, &admin, "Fresh", "slack").await;
    let read = app
        .gql_as(Some(&admin), INTEGRATION, json!({"id": id, "at": at}))
        .await;
    assert_eq!(read["data"]["integration"]["id"], json!(id), "{read}");
    let audit = app
        .gql_as(Some(&admin), AUDIT, json!({"first": 1, "at": at}))
        .await;
    assert_eq!(
        node_ids(&audit, "auditLog", "action"),
        ["IntegrationRegistered"]
    );

    for projection in ["integrations", "audit_log"] {
        sqlx::query("UPDATE projection_checkpoints SET state = 'stopped', error = 'halted by the test' WHERE projection = $1")
            .bind(projection)
            .execute(&pool)
            .await
            .unwrap();
    }
    let (id, at) = register(&app, &admin, "Unseen", "slack").await;
    let stale = app
        .gql_as(Some(&admin), INTEGRATION, json!({"id": id, "at": at}))
        .await;
    assert_eq!(error_code(&stale), "STALE", "{stale}");
    assert_eq!(
        stale["errors"][0]["extensions"]["projection"],
        "integrations"
    );
    let stale = app.gql_as(Some(&admin), AUDIT, json!({"at": at})).await;
    assert_eq!(error_code(&stale), "STALE", "{stale}");
    assert_eq!(stale["errors"][0]["extensions"]["projection"], "audit_log");
    let list = app
        .gql_as(Some(&admin), INTEGRATIONS, json!({"at": at}))
        .await;
    assert_eq!(error_code(&list), "STALE");
}
