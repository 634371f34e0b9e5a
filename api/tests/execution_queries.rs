//! The `executions` read model through the real HTTP server: executions
//! started and driven by commands reach it through the projector, and the
//! `execution`, `executions` and `workflowStats` queries answer from it,
//! tenant-scoped, paged with stable cursors, fresh with `consistentWith`.
//! Subscriptions over a real WebSocket are in `execution_queries/ws.rs`.

mod support;
#[path = "execution_queries/ws.rs"]
mod ws;

use std::time::Duration;

use commands::CommandContext;
use domain::access::Role;
use domain::execution::ExecutionCommand;
use domain::ids::{ExecutionId, TenantId};
use projections::projector::{Projection, Projector, ProjectorConfig};
use projections::read_models::executions::ExecutionsProjection;
use projections::source::StoreSource;
use serde_json::{json, Value};
use sqlx::PgPool;
use support::*;

const EXECUTION: &str = "query($id: ID!, $at: BigInt) { execution(id: $id, consistentWith: $at) {
  id workflowId workflowVersion status trigger idempotencyKey input output error cancelReason
  startedAt finishedAt durationMs updatedAt version position
  steps { nodeId status attempts scheduledAt startedAt finishedAt output error retryable
          nextRetryAt waitingFor possiblyDone } } }";
const EXECUTIONS: &str =
    "query($filter: ExecutionFilter, $first: Int, $after: String, $at: BigInt) {
  executions(filter: $filter, first: $first, after: $after, consistentWith: $at) {
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id status } } } }";
const STATS: &str = "query($id: ID!, $from: NaiveDate!, $to: NaiveDate!, $at: BigInt) {
  workflowStats(workflowId: $id, from: $from, to: $to, consistentWith: $at) {
    day started succeeded failed cancelled timedOut running durationP50Ms durationP95Ms } }";
const CANCEL: &str = "mutation($input: CancelExecutionInput!) {
  cancelExecution(input: $input) { id version position } }";

/// Runs the `executions` projection over the test's database, as `serve`
/// does, until the pool closes.
pub fn start_executions_projector(pool: &PgPool) {
    let config = ProjectorConfig {
        idle_poll: Duration::from_millis(50),
        ..ProjectorConfig::default()
    };
    let projector = Projector::new(pool.clone(), ExecutionsProjection, config);
    let source = StoreSource::new(pool.clone()).with_poll_interval(Duration::from_millis(250));
    tokio::spawn(async move { projector.run(source, std::future::pending()).await });
}

/// A server with the `executions` projection running, and a published
/// workflow of its first tenant: (app, workflow id).
pub async fn app_with_workflow(pool: PgPool) -> (TestApp, String) {
    start_executions_projector(&pool);
    let app = spawn_app(pool).await;
    let workflow = app.create_workflow(&app.tenant.admin_token, "Orders").await;
    let published = app
        .gql(PUBLISH, json!({"input": {"id": workflow, "version": 1}}))
        .await;
    assert!(published["errors"].is_null(), "{published}");
    (app, workflow)
}

/// Starts an execution of `workflow` as the first tenant's admin: (id,
/// position).
pub async fn start(app: &TestApp, workflow: &str) -> (String, Value) {
    let started = app
        .gql(
            START,
            json!({"input": {"workflowId": workflow, "input": {"n": 1}}}),
        )
        .await;
    let result = &started["data"]["startExecution"];
    let id = result["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{started}"))
        .to_owned();
    (id, result["position"].clone())
}

/// Waits until the `executions` read model has applied `position`.
pub async fn wait_for_executions(app: &TestApp, position: i64) {
    projections::status::wait_for_position(
        &app.pool,
        ExecutionsProjection::NAME,
        position,
        Duration::from_secs(10),
    )
    .await
    .unwrap_or_else(|err| panic!("{err}"));
}

fn page_ids(page: &Value) -> Vec<String> {
    page["data"]["executions"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|edge| edge["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn consistent_with_a_start_answers_the_fresh_row_with_its_steps(pool: PgPool) {
    let (app, workflow) = app_with_workflow(pool).await;
    let (id, position) = start(&app, &workflow).await;
    // No waiting here: `consistentWith` does it.
    let read = app.gql(EXECUTION, json!({"id": id, "at": position})).await;
    let execution = &read["data"]["execution"];
    assert_eq!(execution["id"], json!(id), "{read}");
    assert_eq!(execution["workflowId"], json!(workflow));
    assert_eq!(execution["workflowVersion"], 1);
    assert_eq!(execution["status"], "RUNNING");
    assert_eq!(execution["trigger"], json!({"type": "manual"}));
    assert_eq!(execution["input"], json!({"n": 1}));
    assert_eq!(execution["position"], position);
    assert_eq!(
        (&execution["finishedAt"], &execution["durationMs"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(execution["steps"], json!([]));

    // The engine's commands, then a cancellation through the API.
    let commands = app.identity.commands().clone();
    let tenant: TenantId = app.tenant.tenant_id.parse().unwrap();
    let ctx = CommandContext::new(tenant, "engine");
    let execution_id = ExecutionId(id.parse().unwrap());
    for command in [
        ExecutionCommand::ScheduleStep {
            node_id: "fetch".into(),
        },
        ExecutionCommand::StartStepAttempt {
            node_id: "fetch".into(),
        },
        ExecutionCommand::CompleteStep {
            node_id: "fetch".into(),
            output: json!({"id": 7}),
        },
        ExecutionCommand::ScheduleStep {
            node_id: "notify".into(),
        },
    ] {
        commands
            .execute_execution(&ctx, execution_id, command, None)
            .await
            .unwrap();
    }
    let cancelled = app
        .gql(CANCEL, json!({"input": {"id": id, "reason": "enough"}}))
        .await;
    let position = &cancelled["data"]["cancelExecution"]["position"];
    let read = app.gql(EXECUTION, json!({"id": id, "at": position})).await;
    let execution = &read["data"]["execution"];
    assert_eq!(execution["status"], "CANCELLED", "{read}");
    assert_eq!(execution["cancelReason"], "enough");
    assert_eq!(execution["version"], "6");
    assert!(
        execution["durationMs"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            >= 0
    );
    let steps = execution["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{read}");
    assert_eq!(
        (
            &steps[0]["nodeId"],
            &steps[0]["status"],
            &steps[0]["attempts"]
        ),
        (&json!("fetch"), &json!("COMPLETED"), &json!(1))
    );
    assert_eq!(steps[0]["output"], json!({"id": 7}));
    assert_eq!(steps[0]["possiblyDone"], false);
    assert_eq!(
        (&steps[1]["nodeId"], &steps[1]["status"]),
        (&json!("notify"), &json!("SCHEDULED"))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn other_tenants_read_null_and_viewers_read(pool: PgPool) {
    let (app, workflow) = app_with_workflow(pool).await;
    let (id, position) = start(&app, &workflow).await;
    let other = app.new_tenant("Tenant B").await;
    let as_other = app
        .gql_as(
            Some(&other.admin_token),
            EXECUTION,
            json!({"id": id, "at": position}),
        )
        .await;
    assert!(as_other["errors"].is_null(), "{as_other}");
    assert_eq!(
        as_other["data"]["execution"],
        Value::Null,
        "like a missing one"
    );
    let missing = app
        .gql(EXECUTION, json!({"id": uuid::Uuid::now_v7().to_string()}))
        .await;
    assert_eq!(missing["data"]["execution"], Value::Null);
    let listed = app
        .gql_as(Some(&other.admin_token), EXECUTIONS, json!({}))
        .await;
    assert_eq!(page_ids(&listed), Vec::<String>::new());
    let stats = app
        .gql_as(
            Some(&other.admin_token),
            STATS,
            json!({"id": workflow, "from": "2026-01-01", "to": "2026-01-02"}),
        )
        .await;
    assert!(stats["errors"].is_null(), "{stats}");
    assert_eq!(
        stats["data"]["workflowStats"],
        Value::Null,
        "like a missing one"
    );

    let viewer = app.user_token(&app.tenant, Role::Viewer).await;
    let as_viewer = app
        .gql_as(Some(&viewer), EXECUTION, json!({"id": id}))
        .await;
    assert_eq!(
        as_viewer["data"]["execution"]["id"],
        json!(id),
        "{as_viewer}"
    );
    let anonymous = app.gql_as(None, EXECUTION, json!({"id": id})).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
}

#[sqlx::test(migrations = "../migrations")]
async fn pages_are_newest_first_with_stable_cursors_and_stats_count_the_day(pool: PgPool) {
    let (app, workflow) = app_with_workflow(pool).await;
    let mut started = Vec::new();
    for _ in 0..5 {
        started.push(start(&app, &workflow).await);
    }
    let at = started.last().unwrap().1.clone();
    let newest_first: Vec<String> = started.iter().rev().map(|(id, _)| id.clone()).collect();

    let page1 = app.gql(EXECUTIONS, json!({"first": 2, "at": at})).await;
    assert_eq!(page_ids(&page1), newest_first[..2], "{page1}");
    let info = &page1["data"]["executions"]["pageInfo"];
    assert_eq!(
        (&info["hasNextPage"], &info["hasPreviousPage"]),
        (&json!(true), &json!(false))
    );
    let cursor = info["endCursor"].clone();
    // A newer execution does not move the pages after a cursor.
    let (newest, newest_at) = start(&app, &workflow).await;
    let page2 = app
        .gql(
            EXECUTIONS,
            json!({"first": 2, "after": cursor, "at": newest_at.clone()}),
        )
        .await;
    assert_eq!(page_ids(&page2), newest_first[2..4], "{page2}");
    let cursor = &page2["data"]["executions"]["pageInfo"]["endCursor"];
    let page3 = app
        .gql(EXECUTIONS, json!({"first": 2, "after": cursor}))
        .await;
    assert_eq!(page_ids(&page3), newest_first[4..]);
    assert_eq!(
        page3["data"]["executions"]["pageInfo"]["hasNextPage"],
        false
    );
    let all = app
        .gql(
            EXECUTIONS,
            json!({"filter": {"workflowId": workflow, "status": "RUNNING"}}),
        )
        .await;
    assert_eq!(page_ids(&all)[0], newest);
    assert_eq!(page_ids(&all).len(), 6);
    let none = app
        .gql(EXECUTIONS, json!({"filter": {"status": "COMPLETED"}}))
        .await;
    assert_eq!(page_ids(&none), Vec::<String>::new());
    let bad = app.gql(EXECUTIONS, json!({"after": "not-a-cursor"})).await;
    assert_eq!(error_code(&bad), "VALIDATION");

    let today = chrono::Utc::now().date_naive();
    let stats = app
        .gql(
            STATS,
            json!({"id": workflow, "from": today - chrono::Duration::days(1), "to": today,
                   "at": newest_at}),
        )
        .await;
    let days = stats["data"]["workflowStats"]
        .as_array()
        .unwrap_or_else(|| panic!("{stats}"));
    assert_eq!(days.len(), 2);
    assert_eq!(days[1]["day"], json!(today.to_string()));
    // Counted by the day the database recorded the start: sum both days so
    // a test running across midnight still holds.
    let sum = |field: &str| days.iter().map(|d| d[field].as_i64().unwrap()).sum::<i64>();
    assert_eq!((sum("started"), sum("running"), sum("failed")), (6, 6, 0));
    assert!(
        days.iter().all(|d| d["durationP50Ms"].is_null()),
        "none has ended"
    );
    let too_long = app
        .gql(
            STATS,
            json!({"id": workflow, "from": "2024-01-01", "to": "2026-01-01"}),
        )
        .await;
    assert_eq!(error_code(&too_long), "VALIDATION");
}
