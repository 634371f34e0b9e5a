//! The `workflows` read model folded from the domain's own events, written
//! into the store the way the command layer writes them.

mod support;

use chrono::{DateTime, Utc};
use domain::execution::{ExecutionEvent, ExecutionTrigger};
use domain::ids::{TenantId, WorkflowId};
use domain::upcast::current_version;
use domain::workflow::{WorkflowDefinition, WorkflowEvent};
use projections::checkpoint::ProjectionState;
use projections::dead_letters::list_dead_letters;
use projections::projector::{PoisonPolicy, Projection};
use projections::read_models::workflow_queries::{
    find_workflow, list_workflow_versions, list_workflows, WorkflowFilter, WorkflowStatus,
};
use projections::read_models::workflows::WorkflowsProjection;
use serde_json::{json, Value};
use sqlx::PgPool;
use support::*;
use uuid::Uuid;

const NAME: &str = WorkflowsProjection::NAME;

fn definition(url: &str) -> WorkflowDefinition {
    WorkflowDefinition::parse(&json!({
        "nodes": [{"id": "fetch", "type": "http", "config": {"url": url}}],
        "trigger": {"type": "manual"}
    }))
    .unwrap()
}

/// Appends workflow events (in the version the domain writes them) to `id`
/// from `sequence`; the last position.
async fn workflow_events(pool: &PgPool, id: Uuid, from: i64, events: &[WorkflowEvent]) -> i64 {
    let mut conn = pool.acquire().await.unwrap();
    let mut last = 0;
    for (sequence, event) in (from..).zip(events) {
        let payload = serde_json::to_value(event).unwrap();
        // Externally tagged: `{"Name": {...}}`, or `"Name"` for a unit variant.
        let event_type = match &payload {
            Value::String(name) => name.clone(),
            other => other.as_object().unwrap().keys().next().unwrap().clone(),
        };
        let (id, version) = (id.to_string(), current_version("Workflow", &event_type));
        let stored = ("Workflow", id.as_str(), sequence, event_type.as_str());
        last = insert_version(&mut conn, stored, &version, payload).await;
    }
    last
}

async fn start_execution(pool: &PgPool, tenant: TenantId, workflow: Uuid) -> i64 {
    let event = ExecutionEvent::ExecutionStarted {
        tenant_id: tenant,
        workflow_id: WorkflowId(workflow),
        workflow_version: 1,
        input: json!({"order": 1}),
        trigger: ExecutionTrigger::Manual,
        idempotency_key: None,
    };
    let mut conn = pool.acquire().await.unwrap();
    let id = Uuid::now_v7().to_string();
    let payload = serde_json::to_value(event).unwrap();
    insert(&mut conn, "Execution", &id, 1, "ExecutionStarted", payload).await;
    let step = json!({"StepScheduled": {"node_id": "fetch"}});
    insert(&mut conn, "Execution", &id, 2, "StepScheduled", step).await
}

async fn recorded_at(pool: &PgPool, position: i64) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT recorded_at FROM events WHERE global_position = $1")
        .bind(position)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_read_model_follows_a_workflow_through_its_life(pool: PgPool) {
    let tenant = TenantId(Uuid::now_v7());
    let id = Uuid::now_v7();
    // An execution that a keyed broker delivers before its workflow exists
    // still counts.
    let early = start_execution(&pool, tenant, id).await;
    let created = workflow_events(
        &pool,
        id,
        1,
        &[
            WorkflowEvent::WorkflowCreated {
                tenant_id: tenant,
                name: "Order sync".into(),
                description: "Copies orders".into(),
            },
            WorkflowEvent::WorkflowVersionCreated {
                version: 1,
                definition: definition("https://example.com/v1"),
            },
        ],
    )
    .await;
    spawn(&pool, WorkflowsProjection, PoisonPolicy::Stop);
    wait_for(&pool, NAME, created).await;
    let row = find_workflow(&pool, tenant.0, id).await.unwrap().unwrap();
    assert_eq!(row.name, "Order sync");
    assert_eq!(row.description, "Copies orders");
    assert_eq!(row.status, WorkflowStatus::Draft);
    assert_eq!(
        (row.latest_version, row.published_version, row.version_count),
        (1, None, 1)
    );
    assert_eq!(row.executions_count, 1);
    assert_eq!(
        row.last_execution_at,
        Some(recorded_at(&pool, early - 1).await)
    );
    let first_at = recorded_at(&pool, created - 1).await;
    assert_eq!(
        row.created_at, first_at,
        "timestamps are the events' recorded_at"
    );
    assert_eq!(row.updated_at, recorded_at(&pool, created).await);

    let published = workflow_events(
        &pool,
        id,
        3,
        &[
            WorkflowEvent::WorkflowPublished {
                version: 1,
                previous: None,
            },
            WorkflowEvent::WorkflowVersionCreated {
                version: 2,
                definition: definition("https://example.com/v2"),
            },
            WorkflowEvent::WorkflowRenamed {
                previous_name: "Order sync".into(),
                name: "Orders".into(),
            },
        ],
    )
    .await;
    let started = start_execution(&pool, tenant, id).await;
    wait_for(&pool, NAME, started).await;
    let row = find_workflow(&pool, tenant.0, id).await.unwrap().unwrap();
    assert_eq!(row.status, WorkflowStatus::Published);
    assert_eq!(row.name, "Orders");
    assert_eq!(
        (row.latest_version, row.published_version, row.version_count),
        (2, Some(1), 2)
    );
    assert_eq!(row.executions_count, 2);
    assert_eq!(
        row.last_execution_at,
        Some(recorded_at(&pool, started - 1).await)
    );
    assert_eq!(row.updated_at, recorded_at(&pool, published).await);
    assert_eq!(row.created_at, first_at);

    let versions = list_workflow_versions(&pool, tenant.0, id, None, 10)
        .await
        .unwrap();
    let numbers: Vec<i32> = versions.items.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [2, 1], "newest first");
    assert_eq!(
        versions.items[1].definition,
        serde_json::to_value(definition("https://example.com/v1")).unwrap()
    );
    assert_eq!(
        versions.items[1].created_at,
        recorded_at(&pool, created).await
    );
    let other_tenant = Uuid::now_v7();
    assert!(find_workflow(&pool, other_tenant, id)
        .await
        .unwrap()
        .is_none());
    assert!(list_workflow_versions(&pool, other_tenant, id, None, 10)
        .await
        .unwrap()
        .items
        .is_empty());

    let archived = workflow_events(
        &pool,
        id,
        6,
        &[
            WorkflowEvent::WorkflowUnpublished { version: 1 },
            WorkflowEvent::WorkflowArchived,
        ],
    )
    .await;
    wait_for(&pool, NAME, archived).await;
    let row = find_workflow(&pool, tenant.0, id).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.published_version),
        (WorkflowStatus::Archived, None)
    );
    let filter = WorkflowFilter {
        status: Some(WorkflowStatus::Archived),
        name_contains: Some("ORD".into()),
    };
    let listed = list_workflows(&pool, tenant.0, &filter, None, 10)
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let drafts = WorkflowFilter {
        status: Some(WorkflowStatus::Draft),
        ..WorkflowFilter::default()
    };
    assert!(list_workflows(&pool, tenant.0, &drafts, None, 10)
        .await
        .unwrap()
        .items
        .is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn a_malformed_event_is_a_dead_letter_not_a_guess(pool: PgPool) {
    let tenant = TenantId(Uuid::now_v7());
    let id = Uuid::now_v7();
    workflow_events(
        &pool,
        id,
        1,
        &[WorkflowEvent::WorkflowCreated {
            tenant_id: tenant,
            name: "w".into(),
            description: String::new(),
        }],
    )
    .await;
    let mut conn = pool.acquire().await.unwrap();
    let bad: Value = json!({"WorkflowRenamed": {"to": 42}});
    let position = insert(
        &mut conn,
        "Workflow",
        &id.to_string(),
        2,
        "WorkflowRenamed",
        bad,
    )
    .await;
    drop(conn);
    spawn(&pool, WorkflowsProjection, PoisonPolicy::Stop);

    let stopped = wait_for_state(&pool, NAME, ProjectionState::Stopped).await;
    assert!(stopped
        .error
        .unwrap()
        .contains("malformed WorkflowRenamed payload"));
    let letters = list_dead_letters(&pool, NAME).await.unwrap();
    assert_eq!((letters.len(), letters[0].global_position), (1, position));
    let row = find_workflow(&pool, tenant.0, id).await.unwrap().unwrap();
    assert_eq!(row.name, "w", "the read model holds what was applied");
}
