//! The `workflows` read model through the real HTTP server: events written
//! by commands reach it through the projector, and the `workflow`,
//! `workflows`, `workflowVersions` and `projections` queries answer from it,
//! tenant-scoped and paged with stable cursors.

mod support;

use commands::executions::StartExecution;
use commands::CommandContext;
use domain::access::Role;
use domain::execution::ExecutionTrigger;
use domain::ids::{TenantId, WorkflowId};
use domain::workflow::{WorkflowCommand, WorkflowDefinition};
use serde_json::{json, Value};
use sqlx::PgPool;
use support::*;
use uuid::Uuid;

const WORKFLOW: &str = "query($id: ID!) { workflow(id: $id) {
  id name description status latestVersion publishedVersion versionCount
  executionsCount lastExecutionAt createdAt updatedAt } }";
const WORKFLOWS: &str = "query($filter: WorkflowFilter, $first: Int, $after: String) {
  workflows(filter: $filter, first: $first, after: $after) {
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id name status } } } }";
const VERSIONS: &str = "query($id: ID!, $first: Int, $after: String) {
  workflowVersions(workflowId: $id, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { workflowId version definition createdAt } } } }";
const PROJECTIONS: &str = "{ projections {
  name state error position cursor lagEvents lagSeconds deadLetters updatedAt } }";
const UPDATE: &str = "mutation($input: UpdateWorkflowDefinitionInput!) {
  updateWorkflowDefinition(input: $input) { version position } }";

fn ids(page: &Value) -> Vec<String> {
    page["data"]["workflows"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn events_written_through_commands_reach_the_read_model(pool: PgPool) {
    let app = spawn_app(pool).await;
    let commands = app.identity.commands().clone();
    let tenant: TenantId = app.tenant.tenant_id.parse().unwrap();
    let ctx = CommandContext::new(tenant, "tester");
    let id = WorkflowId::new_v7();
    let create = WorkflowCommand::Create {
        name: "Invoices".into(),
        description: "Sends invoices".into(),
        definition: WorkflowDefinition::parse(&definition()).unwrap(),
    };
    commands
        .execute_workflow(&ctx, id, create, None)
        .await
        .unwrap();
    let publish = WorkflowCommand::Publish { version: 1 };
    commands
        .execute_workflow(&ctx, id, publish, None)
        .await
        .unwrap();
    for _ in 0..2 {
        let start = StartExecution {
            workflow_id: id,
            input: json!({}),
            trigger: ExecutionTrigger::Manual,
            idempotency_key: None,
        };
        commands.start_execution(&ctx, start).await.unwrap();
    }
    let rename = WorkflowCommand::Rename {
        name: "Invoices v2".into(),
    };
    let last = commands
        .execute_workflow(&ctx, id, rename, None)
        .await
        .unwrap();

    app.wait_for_position(&json!(last.position)).await;
    let read = app.gql(WORKFLOW, json!({"id": id.to_string()})).await;
    let workflow = &read["data"]["workflow"];
    assert_eq!(workflow["id"], json!(id.to_string()), "{read}");
    assert_eq!(workflow["name"], "Invoices v2");
    assert_eq!(workflow["description"], "Sends invoices");
    assert_eq!(workflow["status"], "PUBLISHED");
    assert_eq!(
        (
            &workflow["latestVersion"],
            &workflow["publishedVersion"],
            &workflow["versionCount"]
        ),
        (&json!(1), &json!(1), &json!(1))
    );
    assert_eq!(workflow["executionsCount"], "2");
    assert!(workflow["lastExecutionAt"].is_string());
    let at = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(workflow[field].as_str().unwrap()).unwrap()
    };
    assert!(at("createdAt") < at("updatedAt"));
}

#[sqlx::test(migrations = "../migrations")]
async fn workflow_reads_the_read_model_and_other_tenants_read_as_null(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = app
        .create_workflow(&app.tenant.admin_token, "Order sync")
        .await;
    app.gql(PUBLISH, json!({"input": {"id": id, "version": 1}}))
        .await;
    let started = app
        .gql(START, json!({"input": {"workflowId": id, "input": {}}}))
        .await;
    app.wait_for_position(&started["data"]["startExecution"]["position"])
        .await;

    let read = app.gql(WORKFLOW, json!({"id": id})).await;
    let workflow = &read["data"]["workflow"];
    assert_eq!(workflow["name"], "Order sync", "{read}");
    assert_eq!(workflow["status"], "PUBLISHED");
    assert_eq!(workflow["executionsCount"], "1");
    let viewer = app.user_token(&app.tenant, Role::Viewer).await;
    let as_viewer = app.gql_as(Some(&viewer), WORKFLOW, json!({"id": id})).await;
    assert_eq!(as_viewer["data"]["workflow"]["id"], json!(id));

    let missing = app
        .gql(WORKFLOW, json!({"id": Uuid::now_v7().to_string()}))
        .await;
    assert_eq!(missing, json!({"data": {"workflow": null}}));
    let malformed = app.gql(WORKFLOW, json!({"id": "not-a-uuid"})).await;
    assert_eq!(error_code(&malformed), "VALIDATION");

    let b = app.new_tenant("Tenant B").await;
    let foreign = app
        .gql_as(Some(&b.admin_token), WORKFLOW, json!({"id": id}))
        .await;
    assert_eq!(
        foreign,
        json!({"data": {"workflow": null}}),
        "exactly like a missing one"
    );
    let listed = app.gql_as(Some(&b.admin_token), WORKFLOWS, json!({})).await;
    assert!(ids(&listed).is_empty(), "{listed}");
    let versions = app
        .gql_as(Some(&b.admin_token), VERSIONS, json!({"id": id}))
        .await;
    assert_eq!(
        versions["data"]["workflowVersions"]["edges"],
        json!([]),
        "{versions}"
    );
    let anonymous = app.gql_as(None, WORKFLOW, json!({"id": id})).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
}

#[sqlx::test(migrations = "../migrations")]
async fn workflows_filter_and_page_with_stable_cursors(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = app.tenant.admin_token.clone();
    let mut created = Vec::new();
    for name in [
        "Alpha one",
        "Beta one",
        "alpha two",
        "Beta two",
        "ALPHA three",
    ] {
        created.push(app.create_workflow(&token, name).await);
    }
    for id in [&created[1], &created[2]] {
        app.gql(PUBLISH, json!({"input": {"id": id, "version": 1}}))
            .await;
    }
    app.wait_for_read_models().await;
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let all = app.gql(WORKFLOWS, json!({"first": 10})).await;
    assert_eq!(ids(&all), newest_first);
    assert_eq!(all["data"]["workflows"]["pageInfo"]["hasNextPage"], false);

    // Pages of two; a workflow created meanwhile does not shift them.
    let mut paged = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let page = app
            .gql(WORKFLOWS, json!({"first": 2, "after": after}))
            .await;
        paged.extend(ids(&page));
        pages += 1;
        if pages == 1 {
            assert_eq!(
                page["data"]["workflows"]["pageInfo"]["hasPreviousPage"],
                false
            );
            app.create_workflow(&token, "Alpha late").await;
            app.wait_for_read_models().await;
        }
        let info = &page["data"]["workflows"]["pageInfo"];
        if info["hasNextPage"] == false {
            break;
        }
        after = info["endCursor"].clone();
    }
    assert_eq!((paged, pages), (newest_first.clone(), 3));

    let published = app
        .gql(WORKFLOWS, json!({"filter": {"status": "PUBLISHED"}}))
        .await;
    assert_eq!(ids(&published), [created[2].clone(), created[1].clone()]);
    let alphas = app
        .gql(
            WORKFLOWS,
            json!({"filter": {"nameContains": "alpha"}, "first": 10}),
        )
        .await;
    assert_eq!(ids(&alphas).len(), 4, "case-insensitive: {alphas}");
    let both = app
        .gql(
            WORKFLOWS,
            json!({"filter": {"nameContains": "ALPHA", "status": "PUBLISHED"}}),
        )
        .await;
    assert_eq!(ids(&both), [created[2].clone()]);
    let drafts = app
        .gql(
            WORKFLOWS,
            json!({"filter": {"status": "DRAFT"}, "first": 10}),
        )
        .await;
    assert_eq!(ids(&drafts).len(), 4);

    let bad_cursor = app
        .gql(WORKFLOWS, json!({"after": "bm90LWEtY3Vyc29y"}))
        .await;
    assert_eq!(error_code(&bad_cursor), "VALIDATION");
    let too_many = app.gql(WORKFLOWS, json!({"first": 0})).await;
    assert_eq!(error_code(&too_many), "VALIDATION");
}

#[sqlx::test(migrations = "../migrations")]
async fn workflow_versions_lists_every_definition_newest_first(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = app
        .create_workflow(&app.tenant.admin_token, "Versions")
        .await;
    let mut last = Value::Null;
    for url in ["https://example.com/v2", "https://example.com/v3"] {
        let mut changed = definition();
        changed["nodes"][0]["config"]["url"] = json!(url);
        let updated = app
            .gql(UPDATE, json!({"input": {"id": id, "definition": changed}}))
            .await;
        last = updated["data"]["updateWorkflowDefinition"]["position"].clone();
        assert!(!last.is_null(), "{updated}");
    }
    app.wait_for_position(&last).await;

    let first = app.gql(VERSIONS, json!({"id": id, "first": 2})).await;
    let connection = &first["data"]["workflowVersions"];
    let versions: Vec<&Value> = connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{first}"))
        .iter()
        .map(|e| &e["node"]["version"])
        .collect();
    assert_eq!(versions, [&json!(3), &json!(2)]);
    assert_eq!(
        connection["edges"][0]["node"]["definition"]["nodes"][0]["config"]["url"],
        "https://example.com/v3"
    );
    assert_eq!(connection["edges"][0]["node"]["workflowId"], json!(id));
    assert_eq!(connection["pageInfo"]["hasNextPage"], true);
    let after = connection["pageInfo"]["endCursor"].clone();
    let rest = app
        .gql(VERSIONS, json!({"id": id, "first": 2, "after": after}))
        .await;
    let rest = &rest["data"]["workflowVersions"];
    assert_eq!(rest["edges"][0]["node"]["version"], 1);
    assert_eq!(
        rest["edges"][0]["node"]["definition"]["nodes"][0]["config"]["url"],
        definition()["nodes"][0]["config"]["url"]
    );
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);

    let read = app.gql(WORKFLOW, json!({"id": id})).await;
    assert_eq!(read["data"]["workflow"]["latestVersion"], 3);
    assert_eq!(read["data"]["workflow"]["versionCount"], 3);

    let other = app.create_workflow(&app.tenant.admin_token, "Other").await;
    let mixed = app
        .gql(VERSIONS, json!({"id": other, "after": after}))
        .await;
    assert_eq!(error_code(&mixed), "VALIDATION");
}

#[sqlx::test(migrations = "../migrations")]
async fn projections_reports_status_to_auditors(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = app.create_workflow(&app.tenant.admin_token, "Status").await;
    app.wait_for_read_models().await;
    let last: i64 = sqlx::query_scalar(
        "SELECT global_position FROM events
          ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!id.is_empty());

    let status = app.gql(PROJECTIONS, json!({})).await;
    let list = status["data"]["projections"]
        .as_array()
        .unwrap_or_else(|| panic!("{status}"));
    assert_eq!(list.len(), 1, "{status}");
    let workflows = &list[0];
    assert_eq!(workflows["name"], "workflows");
    assert_eq!(workflows["state"], "RUNNING");
    assert_eq!(workflows["error"], Value::Null);
    assert_eq!(workflows["position"], json!(last.to_string()));
    assert!(workflows["cursor"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":{last}")));
    assert_eq!(workflows["lagEvents"], "0");
    assert_eq!(workflows["lagSeconds"], 0.0);
    assert_eq!(workflows["deadLetters"], "0");

    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("jobsprint_projection_lag_events{projection=\"workflows\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("jobsprint_projection_lag_seconds{projection=\"workflows\"}"));
    assert!(metrics.contains("jobsprint_projection_dead_letters_total{projection=\"workflows\"}"));

    let viewer = app.user_token(&app.tenant, Role::Viewer).await;
    let as_viewer = app.gql_as(Some(&viewer), PROJECTIONS, json!({})).await;
    assert!(as_viewer["errors"].is_null(), "{as_viewer}");
    let executor = app.user_token(&app.tenant, Role::Executor).await;
    let as_executor = app.gql_as(Some(&executor), PROJECTIONS, json!({})).await;
    assert_eq!(error_code(&as_executor), "FORBIDDEN");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_halted_projection_shows_without_another_tenants_details(pool: PgPool) {
    let app = spawn_app(pool).await;
    // An event the projection cannot apply, whose error quotes its payload.
    let aggregate = Uuid::now_v7().to_string();
    let marker = "tenant-a-private-3e9f";
    let position: i64 = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Workflow', $1, 1, 'WorkflowPublished', '1', $2, '{}') RETURNING global_position",
    )
    .bind(&aggregate)
    .bind(json!({"WorkflowPublished": {"version": marker, "previous": null}}))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let mut stored = None;
    for _ in 0..500 {
        stored = projections::status::projection_status(&app.pool, "workflows")
            .await
            .unwrap()
            .filter(|s| s.dead_letters == 1);
        if stored.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let stored = stored.expect("the poison event is dead-lettered");
    let detail = stored.error.unwrap();
    assert!(
        detail.contains(marker) && detail.contains(&aggregate),
        "{detail}"
    );
    assert!(stored.cursor.global_position < position);

    let status = app.gql(PROJECTIONS, json!({})).await;
    let workflows = &status["data"]["projections"][0];
    assert_eq!(workflows["state"], "STOPPED", "{status}");
    assert_eq!(workflows["deadLetters"], "1");
    assert_eq!(workflows["lagEvents"], "1");
    let text = status.to_string();
    assert!(
        !text.contains(marker) && !text.contains(&aggregate),
        "{text}"
    );
}
