//! Old event versions on the topic: a `WorkflowRenamed` v1 row, as an old
//! deployment wrote it, is published as v2 (`ce_type` names v2, the value
//! is the v2 payload) while the store keeps v1, and the `workflows`
//! projection fed from the topic reads it.

mod support;

use std::time::Duration;

use projections::projector::{PoisonPolicy, Projection, Projector, ProjectorConfig};
use projections::read_models::workflow_queries::find_workflow;
use projections::read_models::workflows::WorkflowsProjection;
use projections::status::wait_for_position;
use serde_json::{json, Value};
use sqlx::PgPool;
use stream::source::KafkaSource;
use support::*;
use uuid::Uuid;

/// Writes a workflow's `WorkflowCreated` and a `WorkflowRenamed` v1 the way
/// an old deployment did; the workflow id and the rename's position.
async fn old_workflow(pool: &PgPool) -> (Uuid, i64) {
    let id = Uuid::now_v7();
    let created =
        json!({"WorkflowCreated": {"tenant_id": TENANT, "name": "Order sync", "description": ""}});
    let mut position = 0;
    for (sequence, event_type, payload) in [
        (1, "WorkflowCreated", created),
        (2, "WorkflowRenamed", v1_rename()),
    ] {
        position = sqlx::query_scalar(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                 payload, metadata)
             VALUES ('Workflow', $1, $2, $3, '1', $4, $5) RETURNING global_position",
        )
        .bind(id.to_string())
        .bind(sequence)
        .bind(event_type)
        .bind(payload)
        .bind(json!({"tenant_id": TENANT, "actor": "old-deployment"}))
        .fetch_one(pool)
        .await
        .unwrap();
    }
    (id, position)
}

fn v1_rename() -> Value {
    json!({"WorkflowRenamed": {"from": "Order sync", "to": "Orders"}})
}

async fn relay_everything(pool: &PgPool, settings: &stream::kafka::KafkaSettings) {
    let (stop, task) = spawn_relay(pool, settings);
    wait_for_relay(pool, &settings.topic, Duration::from_secs(10)).await;
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[sqlx::test(migrations = "../migrations")]
async fn the_relay_publishes_a_stored_v1_event_as_v2(pool: PgPool) {
    let settings = fresh_topic(1).await;
    let (id, _) = old_workflow(&pool).await;
    relay_everything(&pool, &settings).await;

    let records = read_topic(&settings, 2, Duration::from_secs(2)).await;
    assert_eq!(records.len(), 2);
    let (created, renamed) = (&records[0], &records[1]);
    assert_eq!(
        created.header("ce_type"),
        "jobsprint.workflow.WorkflowCreated.v1"
    );
    assert_eq!(
        renamed.header("ce_type"),
        "jobsprint.workflow.WorkflowRenamed.v2"
    );
    assert_eq!(renamed.header("jobsprint_event_version"), "2");
    assert_eq!(renamed.header("jobsprint_event_type"), "WorkflowRenamed");
    let value: Value = serde_json::from_slice(&renamed.value).unwrap();
    assert_eq!(
        value,
        json!({"WorkflowRenamed": {"previous_name": "Order sync", "name": "Orders"}})
    );

    let stored: (String, Value) = sqlx::query_as(
        "SELECT event_version, payload FROM events WHERE aggregate_id = $1 AND sequence = 2",
    )
    .bind(id.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, ("1".to_owned(), v1_rename()), "the store keeps v1");
}

#[sqlx::test(migrations = "../migrations")]
async fn the_workflows_projection_on_the_topic_applies_the_old_rename(pool: PgPool) {
    let settings = fresh_topic(1).await;
    let (id, renamed) = old_workflow(&pool).await;
    relay_everything(&pool, &settings).await;

    let config = ProjectorConfig {
        batch_size: 50,
        on_poison: PoisonPolicy::Stop,
        idle_poll: Duration::from_millis(50),
        status_every: Duration::from_secs(60),
    };
    let projector = Projector::new(pool.clone(), WorkflowsProjection, config);
    let source = KafkaSource::new(&settings, WorkflowsProjection::NAME)
        .unwrap()
        .with_poll_interval(Duration::from_millis(100));
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        projector.run(source, shutdown).await.unwrap();
    });
    let limit = Duration::from_secs(10);
    wait_for_position(&pool, WorkflowsProjection::NAME, renamed, limit)
        .await
        .unwrap();
    let tenant: Uuid = TENANT.parse().unwrap();
    let row = find_workflow(&pool, tenant, id).await.unwrap().unwrap();
    assert_eq!(row.name, "Orders");
    stop.send(true).unwrap();
    runner.await.unwrap();
}
