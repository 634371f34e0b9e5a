//! Time travel: an aggregate's state as of a position or a time, folded
//! from its own events, for any moment of its life.

mod writes;

use domain::ids::{TenantId, WorkflowId};
use domain::workflow::WorkflowCommand;
use replay::state::{state_at, At, StateError};
use sqlx::PgPool;
use uuid::Uuid;
use writes::*;

async fn recorded_at(pool: &PgPool, position: i64) -> chrono::DateTime<chrono::Utc> {
    sqlx::query_scalar("SELECT recorded_at FROM events WHERE global_position = $1")
        .bind(position)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_workflow_reads_as_it_was_at_every_position_and_time(pool: PgPool) {
    let commands = commands(&pool);
    let tenant = TenantId(Uuid::now_v7());
    let id = WorkflowId::new_v7();
    let created = workflow(
        &commands,
        tenant,
        id,
        WorkflowCommand::Create {
            name: "Invoices".into(),
            description: "first".into(),
            definition: definition("https://example.com/v1"),
        },
    )
    .await;
    let renamed = workflow(
        &commands,
        tenant,
        id,
        WorkflowCommand::Rename {
            name: "Invoices (EU)".into(),
        },
    )
    .await;
    let published = workflow(
        &commands,
        tenant,
        id,
        WorkflowCommand::Publish { version: 1 },
    )
    .await;
    let aggregate = id.to_string();

    let at_creation = state_at(
        &pool,
        "Workflow",
        &aggregate,
        At::Position(created.position),
        None,
    )
    .await
    .unwrap()
    .expect("it existed");
    assert_eq!(
        at_creation.state["name"], "Invoices",
        "{}",
        at_creation.state
    );
    assert_eq!(at_creation.version, created.version as i64);
    assert_eq!(at_creation.position, created.position);
    assert_eq!(at_creation.tenant_id, Some(tenant.0));
    assert!(
        at_creation.state["published_version"].is_null(),
        "{}",
        at_creation.state
    );

    let before_publishing = state_at(
        &pool,
        "Workflow",
        &aggregate,
        At::Position(published.position - 1),
        None,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(before_publishing.state["name"], "Invoices (EU)");
    assert_eq!(before_publishing.version, renamed.version as i64);
    assert!(before_publishing.state["published_version"].is_null());

    let now = state_at(&pool, "workflow", &aggregate, At::Position(i64::MAX), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.state["published_version"], 1, "{}", now.state);
    assert_eq!(now.version, published.version as i64);

    // By time: the moment of the rename sees the rename, not the publication.
    let renamed_at = recorded_at(&pool, renamed.position).await;
    let by_time = state_at(&pool, "Workflow", &aggregate, At::Time(renamed_at), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_time.position, renamed.position);
    assert_eq!(by_time.state["name"], "Invoices (EU)");
    let first: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT min(recorded_at) FROM events WHERE aggregate_id = $1")
            .bind(&aggregate)
            .fetch_one(&pool)
            .await
            .unwrap();
    let before = first - chrono::Duration::microseconds(1);
    assert_eq!(
        state_at(&pool, "Workflow", &aggregate, At::Time(before), None)
            .await
            .unwrap(),
        None,
        "nothing before its first event"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn another_tenant_reads_nothing_and_bad_input_is_refused(pool: PgPool) {
    let commands = commands(&pool);
    let tenant = TenantId(Uuid::now_v7());
    let id = published(&commands, tenant, "Payroll").await.to_string();
    let integration = integration(&commands, tenant, "Billing API")
        .await
        .to_string();

    let mine = state_at(
        &pool,
        "Workflow",
        &id,
        At::Position(i64::MAX),
        Some(tenant.0),
    )
    .await
    .unwrap();
    assert!(mine.is_some());
    let theirs = state_at(
        &pool,
        "Workflow",
        &id,
        At::Position(i64::MAX),
        Some(Uuid::now_v7()),
    )
    .await
    .unwrap();
    assert_eq!(
        theirs, None,
        "another tenant's aggregate reads like a missing one"
    );
    assert_eq!(
        state_at(
            &pool,
            "Workflow",
            &Uuid::now_v7().to_string(),
            At::Position(i64::MAX),
            None
        )
        .await
        .unwrap(),
        None
    );
    match state_at(&pool, "Gadget", &id, At::Position(1), None).await {
        Err(StateError::UnknownType(name)) => assert_eq!(name, "Gadget"),
        other => panic!("expected an unknown type, got {other:?}"),
    }

    // Credentials exist only sealed in the state: the plaintext never shows.
    let state = state_at(
        &pool,
        "Integration",
        &integration,
        At::Position(i64::MAX),
        None,
    )
    .await
    .unwrap()
    .unwrap();
    let text = state.state.to_string();
    assert!(!text.contains("sk-live-secret"), "{text}");
    assert_eq!(state.state["name"], "Billing API", "{text}");

    for (input, expected) in [
        ("42", Ok(At::Position(42))),
        (
            "2026-12-03T10:00:00Z",
            Ok(At::Time("2026-12-03T10:00:00Z".parse().unwrap())),
        ),
    ] {
        assert_eq!(input.parse::<At>(), expected);
    }
    assert!("-1".parse::<At>().is_err());
    assert!("yesterday".parse::<At>().unwrap_err().contains("RFC 3339"));
}

#[sqlx::test(migrations = "../migrations")]
async fn old_event_versions_are_upcast_when_travelling_in_time(pool: PgPool) {
    let commands = commands(&pool);
    let tenant = TenantId(Uuid::now_v7());
    let id = published(&commands, tenant, "Ledger").await;
    let version: i64 =
        sqlx::query_scalar("SELECT max(sequence) FROM events WHERE aggregate_id = $1")
            .bind(id.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    // `WorkflowRenamed` as version 1 wrote it (`from`/`to`; now
    // `previous_name`/`name`).
    let metadata: serde_json::Value =
        sqlx::query_scalar("SELECT metadata FROM events WHERE aggregate_id = $1 LIMIT 1")
            .bind(id.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    let position: i64 = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Workflow', $1, $2, 'WorkflowRenamed', '1', $3, $4) RETURNING global_position",
    )
    .bind(id.to_string())
    .bind(version + 1)
    .bind(serde_json::json!({"WorkflowRenamed": {"from": "Ledger", "to": "General ledger"}}))
    .bind(metadata)
    .fetch_one(&pool)
    .await
    .unwrap();
    let state = state_at(
        &pool,
        "Workflow",
        &id.to_string(),
        At::Position(position),
        None,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(state.state["name"], "General ledger", "{}", state.state);
    assert_eq!(state.version, version + 1);
}
