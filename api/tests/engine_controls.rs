//! The engine's controls through the real HTTP server: `signalExecution`
//! delivers a signal to the waiting step, `deadLetters` lists executions
//! that failed for good, `retryExecution` runs one again from a node; each
//! needs `control:executions`.

mod support;

use std::time::Duration;

use commands::CommandContext;
use domain::access::Role;
use domain::execution::ExecutionCommand;
use domain::ids::{ExecutionId, TenantId};
use projections::projector::{Projector, ProjectorConfig};
use projections::read_models::executions::ExecutionsProjection;
use projections::source::StoreSource;
use serde_json::{json, Value};
use sqlx::PgPool;
use support::*;

const SIGNAL: &str = "mutation($input: SignalExecutionInput!) {
  signalExecution(input: $input) { id version position } }";
const RETRY: &str = "mutation($input: RetryExecutionInput!) {
  retryExecution(input: $input) { id version position } }";
const DEAD_LETTERS: &str = "query($workflow: ID, $at: BigInt) {
  deadLetters(workflowId: $workflow, consistentWith: $at) { edges { node { id status error } } } }";
const EXECUTION: &str = "query($id: ID!, $at: BigInt) {
  execution(id: $id, consistentWith: $at) { status steps { nodeId status } } }";

async fn setup(pool: PgPool) -> (TestApp, String) {
    let config = ProjectorConfig {
        idle_poll: Duration::from_millis(50),
        ..ProjectorConfig::default()
    };
    let projector = Projector::new(pool.clone(), ExecutionsProjection, config);
    let source = StoreSource::new(pool.clone()).with_poll_interval(Duration::from_millis(250));
    tokio::spawn(async move { projector.run(source, std::future::pending()).await });
    let app = spawn_app(pool).await;
    let definition = json!({
        "nodes": [
            {"id": "approve", "type": "wait_for_signal", "config": {"signal": "approval"}},
            {"id": "after", "type": "transform", "config": {"expression": "steps.approve.output"}}
        ],
        "edges": [{"from": "approve", "to": "after"}]
    });
    let created = app
        .gql(
            CREATE,
            json!({"input": {"name": "Approvals", "definition": definition}}),
        )
        .await;
    let workflow = created["data"]["createWorkflow"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let published = app
        .gql(PUBLISH, json!({"input": {"id": workflow, "version": 1}}))
        .await;
    assert!(published["errors"].is_null(), "{published}");
    (app, workflow)
}

async fn start(app: &TestApp, workflow: &str) -> ExecutionId {
    let started = app
        .gql(START, json!({"input": {"workflowId": workflow}}))
        .await;
    let id = started["data"]["startExecution"]["id"].as_str().unwrap();
    ExecutionId(id.parse().unwrap())
}

/// Records `commands` as the engine would, in one batch.
async fn engine_records(app: &TestApp, id: ExecutionId, commands: Vec<ExecutionCommand>) {
    let tenant = TenantId(app.tenant.tenant_id.parse().unwrap());
    let ctx = CommandContext::new(tenant, "system:engine");
    let commands_layer =
        commands::Commands::new(app.pool.clone(), commands::CommandConfig::default());
    commands_layer
        .execute_execution(&ctx, id, ExecutionCommand::Batch { commands }, None)
        .await
        .unwrap();
}

fn waiting() -> Vec<ExecutionCommand> {
    vec![
        ExecutionCommand::ScheduleStep {
            node_id: "approve".into(),
        },
        ExecutionCommand::StartStepAttempt {
            node_id: "approve".into(),
        },
        ExecutionCommand::WaitForSignal {
            node_id: "approve".into(),
            signal: "approval".into(),
        },
    ]
}

#[sqlx::test(migrations = "../migrations")]
async fn a_signal_reaches_the_waiting_step_and_needs_control_rights(pool: PgPool) {
    let (app, workflow) = setup(pool).await;
    let id = start(&app, &workflow).await;
    engine_records(&app, id, waiting()).await;
    let input =
        json!({"input": {"id": id.to_string(), "name": "approval", "payload": {"by": "ada"}}});

    let viewer = app.user_token(&app.tenant, Role::Viewer).await;
    let refused = app.gql_as(Some(&viewer), SIGNAL, input.clone()).await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");

    let wrong = app
        .gql(
            SIGNAL,
            json!({"input": {"id": id.to_string(), "name": "other"}}),
        )
        .await;
    assert_eq!(error_code(&wrong), "INVALID_STATE", "{wrong}");

    let signalled = app.gql(SIGNAL, input).await;
    assert!(signalled["errors"].is_null(), "{signalled}");
    let payload: Value = sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_id = $1 AND event_type = 'SignalReceived'",
    )
    .bind(id.to_string())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(payload["SignalReceived"]["payload"], json!({"by": "ada"}));
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failed_execution_is_a_dead_letter_until_it_is_retried(pool: PgPool) {
    let (app, workflow) = setup(pool).await;
    let id = start(&app, &workflow).await;
    let mut failing = waiting();
    failing.push(ExecutionCommand::FailStep {
        node_id: "approve".into(),
        error: "nobody answered".into(),
        retryable: false,
    });
    failing.push(ExecutionCommand::Fail {
        error: "step 'approve' failed on attempt 1: nobody answered".into(),
    });
    engine_records(&app, id, failing).await;
    let position: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap();

    let letters = app
        .gql(
            DEAD_LETTERS,
            json!({"workflow": workflow, "at": position.to_string()}),
        )
        .await;
    let edges = letters["data"]["deadLetters"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(edges.len(), 1, "{letters}");
    assert_eq!(edges[0]["node"]["id"], id.to_string());
    assert_eq!(edges[0]["node"]["status"], "FAILED");

    let unknown = app
        .gql(
            RETRY,
            json!({"input": {"id": id.to_string(), "fromNode": "nope"}}),
        )
        .await;
    assert_eq!(error_code(&unknown), "VALIDATION", "{unknown}");
    let retried = app
        .gql(
            RETRY,
            json!({"input": {"id": id.to_string(), "fromNode": "approve"}}),
        )
        .await;
    assert!(retried["errors"].is_null(), "{retried}");
    let at = retried["data"]["retryExecution"]["position"].clone();

    let execution = app
        .gql(EXECUTION, json!({"id": id.to_string(), "at": at}))
        .await;
    assert_eq!(
        execution["data"]["execution"]["status"], "RUNNING",
        "{execution}"
    );
    assert_eq!(
        execution["data"]["execution"]["steps"],
        json!([]),
        "the reset step is gone until it runs again"
    );
    let letters = app
        .gql(DEAD_LETTERS, json!({"workflow": workflow, "at": at}))
        .await;
    assert_eq!(
        letters["data"]["deadLetters"]["edges"],
        json!([]),
        "{letters}"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn only_admins_let_their_tenants_steps_reach_private_networks(pool: PgPool) {
    let app = spawn_app(pool).await;
    const SET: &str = "mutation($allow: Boolean!) {
      setTenantEgressPolicy(input: {allowPrivateNetworks: $allow}) { id version } }";
    let user = app.user_token(&app.tenant, Role::User).await;
    let refused = app.gql_as(Some(&user), SET, json!({"allow": true})).await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    let set = app.gql(SET, json!({"allow": true})).await;
    assert!(set["errors"].is_null(), "{set}");
    let tenant = TenantId(app.tenant.tenant_id.parse().unwrap());
    assert!(
        commands::identity::egress::allows_private_networks(&app.pool, tenant)
            .await
            .unwrap()
    );
    let unset = app.gql(SET, json!({"allow": false})).await;
    assert!(unset["errors"].is_null(), "{unset}");
    assert!(
        !commands::identity::egress::allows_private_networks(&app.pool, tenant)
            .await
            .unwrap()
    );
}
