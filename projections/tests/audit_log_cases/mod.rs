//! The `audit_log` cases: one row per event of every aggregate type,
//! filters and paging, and an event without a tenant as a dead letter.

use chrono::{Duration, Utc};
use domain::ids::TenantId;
use domain::integration::IntegrationEvent;
use projections::checkpoint::ProjectionState;
use projections::dead_letters::list_dead_letters;
use projections::projector::PoisonPolicy;
use projections::read_models::audit_log::{list_audit_log, AuditFilter, AuditLogProjection};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::support::*;
use super::*;

#[sqlx::test(migrations = "../migrations")]
async fn the_audit_log_has_one_row_per_event_of_every_aggregate_type(pool: PgPool) {
    let tenant = TenantId(Uuid::now_v7());
    let correlation = Uuid::now_v7();
    let mut meta = metadata(tenant, "user:alice", correlation);
    meta["client_ip"] = json!("203.0.113.9");
    meta["user_agent"] = json!("curl/8");
    let workflow = Uuid::now_v7();
    let user = Uuid::now_v7();
    let before = Utc::now() - Duration::seconds(1);
    append(&pool, "Workflow", workflow, 1, meta.clone(),
           &[json!({"WorkflowCreated": {"tenant_id": tenant.to_string(), "name": "W", "description": ""}})]).await;
    let bob = metadata(tenant, "user:bob", Uuid::now_v7());
    append(
        &pool,
        "User",
        user,
        1,
        bob.clone(),
        &[json!({"UserRenamed": {"name": "B"}})],
    )
    .await;
    let integration = Uuid::now_v7();
    let last = append(
        &pool,
        "Integration",
        integration,
        1,
        bob,
        &integration_events(&[
            registered(tenant, "S", "slack", true),
            IntegrationEvent::IntegrationCredentialsRotated {
                credentials: sealed(CIPHERTEXT),
            },
        ]),
    )
    .await;
    // Another tenant's event, and one of a type no aggregate has.
    append(
        &pool,
        "Workflow",
        Uuid::now_v7(),
        1,
        metadata(TenantId(Uuid::now_v7()), "user:eve", Uuid::now_v7()),
        &[json!({"WorkflowArchived": null})],
    )
    .await;
    let stray = append(
        &pool,
        "Thing",
        Uuid::now_v7(),
        1,
        json!({}),
        &[json!({"n": 1})],
    )
    .await;
    spawn(&pool, AuditLogProjection, PoisonPolicy::Stop);
    wait_for(&pool, AUDIT, stray.max(last)).await;

    let all = AuditFilter::default();
    let page = list_audit_log(&pool, tenant.0, &all, None, 10)
        .await
        .unwrap();
    let actions: Vec<&str> = page.items.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "IntegrationCredentialsRotated",
            "IntegrationRegistered",
            "UserRenamed",
            "WorkflowCreated"
        ],
        "newest first, this tenant only"
    );
    let created = &page.items[3];
    assert_eq!(
        (created.actor.as_str(), created.aggregate_type.as_str()),
        ("user:alice", "Workflow")
    );
    assert_eq!(
        (created.aggregate_id.clone(), created.sequence),
        (workflow.to_string(), 1)
    );
    assert_eq!(created.correlation_id, Some(correlation));
    assert_eq!(created.causation_id, created.command_id);
    assert_eq!(
        created.recorded_at,
        recorded_at(&pool, created.global_position).await,
        "the event's time, not the projector's"
    );
    assert_eq!(
        (created.client_ip.as_deref(), created.user_agent.as_deref()),
        (Some("203.0.113.9"), Some("curl/8"))
    );
    assert_eq!(page.items[0].client_ip, None);

    let first = list_audit_log(&pool, tenant.0, &all, None, 3)
        .await
        .unwrap();
    assert!(first.has_more);
    let rest = list_audit_log(&pool, tenant.0, &all, Some(first.items[2].key()), 3)
        .await
        .unwrap();
    assert_eq!(rest.items, page.items[3..]);
    assert!(!rest.has_more);

    let by_actor = AuditFilter {
        actor: Some("user:bob".into()),
        ..AuditFilter::default()
    };
    assert_eq!(
        list_audit_log(&pool, tenant.0, &by_actor, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    let by_aggregate = AuditFilter {
        aggregate_type: Some("Integration".into()),
        aggregate_id: Some(integration.to_string()),
        ..AuditFilter::default()
    };
    let rows = list_audit_log(&pool, tenant.0, &by_aggregate, None, 10)
        .await
        .unwrap()
        .items;
    assert_eq!(rows.iter().map(|r| r.sequence).collect::<Vec<_>>(), [2, 1]);
    let window = AuditFilter {
        from: Some(before),
        to: Some(created.recorded_at),
        ..AuditFilter::default()
    };
    assert!(
        list_audit_log(&pool, tenant.0, &window, None, 10)
            .await
            .unwrap()
            .items
            .is_empty(),
        "`to` is exclusive"
    );
    let registered_at = page.items[1].recorded_at;
    let window = AuditFilter {
        from: Some(registered_at),
        to: None,
        ..AuditFilter::default()
    };
    assert_eq!(
        list_audit_log(&pool, tenant.0, &window, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        2,
        "`from` is inclusive"
    );
    let window = AuditFilter {
        from: Some(before),
        to: None,
        ..AuditFilter::default()
    };
    assert_eq!(
        list_audit_log(&pool, tenant.0, &window, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        4
    );
    for row in raw_rows(&pool).await {
        assert!(
            !row.contains(CIPHERTEXT) && !row.contains(NONCE),
            "a secret leaked: {row}"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn an_event_without_a_tenant_stops_the_audit_log_until_retried(pool: PgPool) {
    let id = Uuid::now_v7();
    let tenant = TenantId(Uuid::now_v7());
    let bad = append(
        &pool,
        "Workflow",
        id,
        1,
        json!({"actor": "user:x"}),
        &[json!({"WorkflowArchived": null})],
    )
    .await;
    spawn(&pool, AuditLogProjection, PoisonPolicy::Stop);
    let stopped = wait_for_state(&pool, AUDIT, ProjectionState::Stopped).await;
    assert!(stopped.error.unwrap().contains("no 'tenant_id'"));
    let letters = list_dead_letters(&pool, AUDIT).await.unwrap();
    assert_eq!((letters.len(), letters[0].global_position), (1, bad));
    // The cause is fixed in place (a test shortcut: events are never
    // updated in production, and are append-only since migration 0013, so
    // the test acts as the tables' owner would, as a DBA), then the dead
    // letter is retried.
    let mut dba = pool.begin().await.unwrap();
    sqlx::raw_sql(
        "ALTER TABLE events DISABLE TRIGGER USER; GRANT UPDATE ON events TO CURRENT_USER",
    )
    .execute(&mut *dba)
    .await
    .unwrap();
    sqlx::query("UPDATE events SET metadata = $1 WHERE global_position = $2")
        .bind(metadata(tenant, "user:x", Uuid::now_v7()))
        .bind(bad)
        .execute(&mut *dba)
        .await
        .unwrap();
    sqlx::raw_sql(
        "REVOKE UPDATE ON events FROM CURRENT_USER; ALTER TABLE events ENABLE TRIGGER USER",
    )
    .execute(&mut *dba)
    .await
    .unwrap();
    dba.commit().await.unwrap();
    projections::dead_letters::retry_dead_letter(&pool, &AuditLogProjection, letters[0].id)
        .await
        .unwrap();
    let rows = list_audit_log(&pool, tenant.0, &AuditFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(rows.items.len(), 1);
    assert!(list_dead_letters(&pool, AUDIT).await.unwrap().is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn a_row_the_database_refuses_is_named_among_a_batch_written_at_once(pool: PgPool) {
    let tenant = TenantId(Uuid::now_v7());
    let good = metadata(tenant, "user:alice", Uuid::now_v7());
    // A rule of the database (here a check the test adds) refuses one row:
    // the batch's one INSERT fails, and the rows are then written one by
    // one to find the culprit.
    sqlx::query("ALTER TABLE audit_log ADD CONSTRAINT no_mallory CHECK (actor <> 'user:mallory')")
        .execute(&pool)
        .await
        .unwrap();
    let refused = metadata(tenant, "user:mallory", Uuid::now_v7());
    let mut positions = Vec::new();
    for (n, meta) in [&good, &good, &refused, &good, &good]
        .into_iter()
        .enumerate()
    {
        let id = Uuid::now_v7();
        let event = json!({"WorkflowCreated": {"tenant_id": tenant.to_string(), "name": format!("W{n}"), "description": ""}});
        positions.push(append(&pool, "Workflow", id, 1, meta.clone(), &[event]).await);
    }
    spawn(&pool, AuditLogProjection, PoisonPolicy::Skip);
    wait_for(&pool, AUDIT, *positions.last().unwrap()).await;
    let rows = list_audit_log(&pool, tenant.0, &AuditFilter::default(), None, 10)
        .await
        .unwrap();
    let mut written: Vec<i64> = rows.items.iter().map(|r| r.global_position).collect();
    written.sort_unstable();
    let expected: Vec<i64> = positions
        .iter()
        .copied()
        .filter(|p| *p != positions[2])
        .collect();
    assert_eq!(written, expected, "every row but the refused one");
    let letters = list_dead_letters(&pool, AUDIT).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].global_position, positions[2]);
}
