//! Event triggers: a target starts only on its chosen status, with the
//! source's ending as input, and never for another tenant's source.

use std::time::Duration;

use commands::CommandContext;
use domain::execution::{ExecutionStatus, ExecutionTrigger};
use domain::ids::{ExecutionId, TenantId, WorkflowId};
use domain::workflow::{WorkflowCommand, WorkflowDefinition};
use engine::triggers;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::reads::{starts_of, triggers_caught_up, until_started, Started, LIMIT};
use crate::support::{test_config, trigger_config, Harness, Stub};

fn watching(source: WorkflowId, on_status: &str) -> Value {
    json!({
        "nodes": [{"id": "seen", "type": "transform", "config": {"expression": "input.source.status"}}],
        "trigger": {"type": "event", "workflow_id": source.to_string(), "on_status": on_status}
    })
}

fn event_trigger_of(start: &Started) -> ExecutionId {
    match start.trigger {
        ExecutionTrigger::Event {
            source_execution_id,
        } => source_execution_id,
        ref other => panic!("not started by an event: {other:?}"),
    }
}

async fn outbox_rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM engine_trigger_outbox")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Waits until every owed start has been dispatched.
async fn settled(h: &Harness) {
    triggers_caught_up(h).await;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while outbox_rows(&h.pool).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox does not drain"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn an_event_trigger_starts_its_target_only_on_the_chosen_status(pool: PgPool) {
    let mut h = Harness::start(pool.clone(), 1, test_config()).await;
    let stub = Stub::default();
    stub.script("broken", vec![(404, json!({"error": "gone"}), vec![])]);
    let base = stub.serve().await;
    let source = h
        .workflow(json!({
            "nodes": [
                {"id": "check", "type": "condition", "config": {"expression": "input.fail"}},
                {"id": "call", "type": "http", "config": {"url": format!("{base}/broken")}},
                {"id": "done", "type": "transform", "config": {"expression": "{n: input.n}"}}
            ],
            "edges": [
                {"from": "check", "to": "call", "when": "true"},
                {"from": "check", "to": "done", "when": "false"}
            ]
        }))
        .await;
    let on_success = h.workflow(watching(source, "succeeded")).await;
    let on_failure = h.workflow(watching(source, "failed")).await;
    let on_any = h.workflow(watching(source, "any")).await;
    // A workflow of another tenant naming the source never sees its runs.
    let other_tenant = CommandContext::new(TenantId(Uuid::new_v4()), "test");
    let spy = WorkflowId::new_v7();
    let definition = WorkflowDefinition::parse(&watching(source, "any")).unwrap();
    let create = WorkflowCommand::Create {
        name: "spy".into(),
        description: String::new(),
        definition,
    };
    h.commands
        .execute_workflow(&other_tenant, spy, create, None)
        .await
        .unwrap();
    let publish = WorkflowCommand::Publish { version: 1 };
    h.commands
        .execute_workflow(&other_tenant, spy, publish, None)
        .await
        .unwrap();
    h.add_triggers(trigger_config());

    let succeeded = h
        .start_execution(source, json!({"fail": false, "n": 7}))
        .await;
    assert_eq!(
        h.finished(succeeded, LIMIT).await.status,
        Some(ExecutionStatus::Completed)
    );
    let started = until_started(&h, on_success, 1).await;
    assert_eq!(event_trigger_of(&started[0]), succeeded);
    let sequence: i64 = sqlx::query_scalar(
        "SELECT max(sequence) FROM events WHERE aggregate_type = 'Execution' AND aggregate_id = $1",
    )
    .bind(succeeded.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        started[0].idempotency_key,
        Some(triggers::event_key(succeeded, sequence))
    );
    assert_eq!(
        started[0].input,
        json!({"source": {
            "execution_id": succeeded, "workflow_id": source, "status": "completed",
            "output": {"n": 7}, "error": null, "depth": 1
        }})
    );
    let run = h.finished(started[0].id, LIMIT).await;
    assert_eq!(run.steps["seen"].output, Some(json!("completed")));
    settled(&h).await;
    assert_eq!(starts_of(&h, on_any).await.len(), 1);
    assert!(starts_of(&h, on_failure).await.is_empty(), "not on success");

    let failed = h.start_execution(source, json!({"fail": true})).await;
    assert_eq!(
        h.finished(failed, LIMIT).await.status,
        Some(ExecutionStatus::Failed)
    );
    let started = until_started(&h, on_failure, 1).await;
    assert_eq!(event_trigger_of(&started[0]), failed);
    assert_eq!(started[0].input["source"]["status"], json!("failed"));
    assert!(started[0].input["source"]["error"]
        .as_str()
        .unwrap()
        .contains("404"));
    settled(&h).await;
    let any: Vec<ExecutionId> = starts_of(&h, on_any)
        .await
        .iter()
        .map(event_trigger_of)
        .collect();
    assert_eq!(any, vec![succeeded, failed]);
    assert_eq!(starts_of(&h, on_success).await.len(), 1, "not on failure");
    assert!(starts_of(&h, spy).await.is_empty(), "never across tenants");
    h.stop().await;
}
