//! Old event versions on the read side: a `WorkflowRenamed` v1 row, as an
//! old deployment wrote it, reaches projections as v2 through the
//! `StoreSource`, while the raw readers (commit order, history) keep the
//! stored form.

mod support;

use std::time::Duration;

use domain::ids::TenantId;
use domain::workflow::{WorkflowDefinition, WorkflowEvent};
use projections::commit_order::CommittedEvent;
use projections::history::aggregate_history;
use projections::projector::{PoisonPolicy, Projection};
use projections::read_models::workflow_queries::find_workflow;
use projections::read_models::workflows::WorkflowsProjection;
use projections::source::{EventSource, StoreSource};
use serde_json::{json, Value};
use sqlx::PgPool;
use support::{committed, spawn, wait_for};
use uuid::Uuid;

/// Writes one event row the way a deployment of `version`'s time did.
async fn write_row(
    pool: &PgPool,
    (tenant, id, sequence): (TenantId, Uuid, i64),
    event_type: &str,
    version: &str,
    payload: Value,
) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Workflow', $1, $2, $3, $4, $5, $6) RETURNING global_position",
    )
    .bind(id.to_string())
    .bind(sequence)
    .bind(event_type)
    .bind(version)
    .bind(payload)
    .bind(json!({"tenant_id": tenant.0.to_string(), "actor": "old-deployment"}))
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A workflow created by an old deployment and renamed by it (v1); the
/// rename's position.
async fn old_workflow(pool: &PgPool, tenant: TenantId, id: Uuid) -> i64 {
    let created = WorkflowEvent::WorkflowCreated {
        tenant_id: tenant,
        name: "Order sync".into(),
        description: String::new(),
    };
    let definition = WorkflowDefinition::parse(&json!({
        "nodes": [{"id": "a", "type": "transform", "config": {"expression": "."}}],
        "trigger": {"type": "manual"}
    }))
    .unwrap();
    let version = WorkflowEvent::WorkflowVersionCreated {
        version: 1,
        definition,
    };
    let first = serde_json::to_value(created).unwrap();
    write_row(pool, (tenant, id, 1), "WorkflowCreated", "1", first).await;
    let second = serde_json::to_value(version).unwrap();
    write_row(pool, (tenant, id, 2), "WorkflowVersionCreated", "1", second).await;
    write_row(pool, (tenant, id, 3), "WorkflowRenamed", "1", v1_rename()).await
}

fn v1_rename() -> Value {
    json!({"WorkflowRenamed": {"from": "Order sync", "to": "Orders"}})
}

/// The first `count` events the store source hands out.
async fn from_store_source(pool: &PgPool, count: usize) -> Vec<CommittedEvent> {
    let mut source = StoreSource::new(pool.clone()).with_poll_interval(Duration::from_millis(50));
    let mut events = Vec::new();
    for _ in 0..200 {
        events.extend(source.next_batch(count - events.len()).await.unwrap());
        if events.len() == count {
            return events;
        }
    }
    panic!("the store source handed out {} of {count}", events.len());
}

#[sqlx::test(migrations = "../migrations")]
async fn the_store_source_hands_out_v2_and_raw_readers_keep_v1(pool: PgPool) {
    let (tenant, id) = (TenantId(Uuid::now_v7()), Uuid::now_v7());
    old_workflow(&pool, tenant, id).await;

    let raw = committed(&pool, 3).await;
    assert_eq!(raw[2].event.event_version, "1");
    assert_eq!(raw[2].event.payload, v1_rename(), "commit order stays raw");
    let history = aggregate_history(&pool, tenant.0, "Workflow", &id.to_string(), 0, 10)
        .await
        .unwrap();
    assert_eq!(
        (
            history.events[2].event_version.as_str(),
            &history.events[2].payload
        ),
        ("1", &v1_rename()),
        "history stays raw"
    );

    let delivered = from_store_source(&pool, 3).await;
    assert_eq!(delivered[2].event.event_version, "2");
    assert_eq!(
        delivered[2].event.payload,
        json!({"WorkflowRenamed": {"previous_name": "Order sync", "name": "Orders"}})
    );
    assert_eq!(delivered[2].cursor, raw[2].cursor);
    assert_eq!(delivered[2].event.event_id, raw[2].event.event_id);
    for (delivered, raw) in delivered[..2].iter().zip(&raw[..2]) {
        assert_eq!(
            delivered.event, raw.event,
            "events without a change pass as stored"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_v1_rename_projects_into_the_read_model_and_so_does_a_v2_one(pool: PgPool) {
    let (tenant, id) = (TenantId(Uuid::now_v7()), Uuid::now_v7());
    let renamed = old_workflow(&pool, tenant, id).await;
    spawn(&pool, WorkflowsProjection, PoisonPolicy::Stop);
    wait_for(&pool, WorkflowsProjection::NAME, renamed).await;
    let row = find_workflow(&pool, tenant.0, id).await.unwrap().unwrap();
    assert_eq!(row.name, "Orders");

    // The next deployment writes v2 after the old v1 row.
    let v2 = WorkflowEvent::WorkflowRenamed {
        previous_name: "Orders".into(),
        name: "Orders (EU)".into(),
    };
    let payload = serde_json::to_value(v2).unwrap();
    let again = write_row(&pool, (tenant, id, 4), "WorkflowRenamed", "2", payload).await;
    wait_for(&pool, WorkflowsProjection::NAME, again).await;
    let row = find_workflow(&pool, tenant.0, id).await.unwrap().unwrap();
    assert_eq!(row.name, "Orders (EU)");
}
