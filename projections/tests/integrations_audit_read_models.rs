//! The `integrations` and `audit_log` read models folded from the domain's
//! own events, written into the store with full metadata the way the
//! command layer writes them: lifecycle, tenancy, paging, replay, and no
//! credential ever reaching a read-model column.

mod audit_log_cases;
mod support;

use chrono::{DateTime, TimeZone, Utc};
use domain::ids::TenantId;
use domain::integration::{IntegrationEvent, SealedSecret};
use projections::projector::{PoisonPolicy, Projection, Projector};
use projections::read_models::audit_log::AuditLogProjection;
use projections::read_models::integration_queries::{
    find_integration, list_integrations, CircuitState, IntegrationFilter, IntegrationStatus,
};
use projections::read_models::integrations::IntegrationsProjection;
use serde_json::{json, Value};
use sqlx::PgPool;
use support::*;
use uuid::Uuid;

const INTEGRATIONS: &str = IntegrationsProjection::NAME;
const AUDIT: &str = AuditLogProjection::NAME;
const CIPHERTEXT: &str = "Q0lQSEVSVEVYVC1NQVJLRVI=";
const NONCE: &str = "Tk9OQ0UtTUFSS0VS";

fn sealed(ciphertext: &str) -> SealedSecret {
    SealedSecret {
        key_id: "tenant-key-1".into(),
        algorithm: "AES-256-GCM".into(),
        nonce: NONCE.into(),
        ciphertext: ciphertext.into(),
    }
}

fn metadata(tenant: TenantId, actor: &str, correlation: Uuid) -> Value {
    let command = Uuid::now_v7();
    json!({
        "tenant_id": tenant.to_string(), "actor": actor, "command_id": command.to_string(),
        "correlation_id": correlation.to_string(), "causation_id": command.to_string(),
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    })
}

/// Appends `events` to aggregate `kind`/`id` from `from` with `meta`; the
/// last position.
async fn append(
    pool: &PgPool,
    kind: &str,
    id: Uuid,
    from: i64,
    meta: Value,
    events: &[Value],
) -> i64 {
    let mut last = 0;
    for (sequence, payload) in (from..).zip(events) {
        let event_type = match payload {
            Value::String(name) => name.clone(),
            other => other.as_object().unwrap().keys().next().unwrap().clone(),
        };
        last = sqlx::query_scalar(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             VALUES ($1, $2, $3, $4, '1', $5, $6) RETURNING global_position",
        )
        .bind(kind)
        .bind(id.to_string())
        .bind(sequence)
        .bind(event_type)
        .bind(payload)
        .bind(&meta)
        .fetch_one(pool)
        .await
        .unwrap();
    }
    last
}

fn integration_events(events: &[IntegrationEvent]) -> Vec<Value> {
    events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

fn registered(tenant: TenantId, name: &str, kind: &str, secret: bool) -> IntegrationEvent {
    IntegrationEvent::IntegrationRegistered {
        tenant_id: tenant,
        name: name.into(),
        kind: kind.into(),
        config: json!({"channel": "#ops"}),
        credentials: secret.then(|| sealed(CIPHERTEXT)),
    }
}

async fn recorded_at(pool: &PgPool, position: i64) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT recorded_at FROM events WHERE global_position = $1")
        .bind(position)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Every row of both read models as PostgreSQL prints them.
async fn raw_rows(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT r FROM (SELECT i::text AS r FROM integrations i
                        UNION ALL SELECT a::text FROM audit_log a) t ORDER BY r",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn an_integration_is_folded_through_its_life_without_its_credentials(pool: PgPool) {
    let tenant = TenantId(Uuid::now_v7());
    let meta = metadata(tenant, "user:alice", Uuid::now_v7());
    let id = Uuid::now_v7();
    let checked_at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    let first = append(
        &pool,
        "Integration",
        id,
        1,
        meta.clone(),
        &integration_events(&[
            registered(tenant, "Ops Slack", "slack", false),
            IntegrationEvent::IntegrationConfigUpdated {
                config: json!({"channel": "#alerts"}),
            },
            IntegrationEvent::IntegrationHealthChecked {
                healthy: false,
                message: Some("401 from slack".into()),
                latency_ms: Some(87),
                checked_at,
            },
        ]),
    )
    .await;
    spawn(&pool, IntegrationsProjection, PoisonPolicy::Stop);
    spawn(&pool, AuditLogProjection, PoisonPolicy::Stop);
    wait_for(&pool, INTEGRATIONS, first).await;
    let row = find_integration(&pool, tenant.0, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.name.as_str(), row.kind.as_str()),
        ("Ops Slack", "slack")
    );
    assert_eq!(row.config, json!({"channel": "#alerts"}));
    assert_eq!(row.status, IntegrationStatus::Enabled);
    assert!(!row.credentials_set && row.credentials_rotated_at.is_none());
    let health = row.health.unwrap();
    assert_eq!((health.healthy, health.latency_ms), (false, Some(87)));
    assert_eq!(
        (health.message.as_deref(), health.checked_at),
        (Some("401 from slack"), checked_at)
    );
    assert_eq!(row.circuit_state, CircuitState::Closed);
    assert_eq!(row.version, 3);
    assert_eq!(row.created_at, recorded_at(&pool, first - 2).await);
    assert_eq!(row.updated_at, recorded_at(&pool, first).await);
    assert!(
        find_integration(&pool, Uuid::now_v7(), id)
            .await
            .unwrap()
            .is_none(),
        "another tenant reads it as missing"
    );

    let rotated = append(
        &pool,
        "Integration",
        id,
        4,
        meta,
        &integration_events(&[
            IntegrationEvent::IntegrationCredentialsRotated {
                credentials: sealed("ROTATED-CIPHERTEXT"),
            },
            IntegrationEvent::IntegrationDisabled,
        ]),
    )
    .await;
    wait_for(&pool, INTEGRATIONS, rotated).await;
    wait_for(&pool, AUDIT, rotated).await;
    let row = find_integration(&pool, tenant.0, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, IntegrationStatus::Disabled);
    assert!(row.credentials_set);
    assert_eq!(
        row.credentials_rotated_at,
        Some(recorded_at(&pool, rotated - 1).await)
    );

    let removed = append(
        &pool,
        "Integration",
        id,
        6,
        metadata(tenant, "user:bob", Uuid::now_v7()),
        &[json!("IntegrationRemoved")],
    )
    .await;
    wait_for(&pool, INTEGRATIONS, removed).await;
    wait_for(&pool, AUDIT, removed).await;
    let row = find_integration(&pool, tenant.0, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.status, row.version), (IntegrationStatus::Removed, 6));

    let rows = raw_rows(&pool).await;
    assert_eq!(
        rows.len(),
        1 + 6,
        "one integration, one audit row per event"
    );
    for secret in [
        CIPHERTEXT,
        "ROTATED-CIPHERTEXT",
        NONCE,
        "tenant-key-1",
        "AES-256-GCM",
    ] {
        assert!(
            rows.iter().all(|r| !r.contains(secret)),
            "{secret} leaked into {rows:#?}"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn integrations_are_listed_by_kind_and_status_newest_first(pool: PgPool) {
    let tenant = TenantId(Uuid::now_v7());
    let other = TenantId(Uuid::now_v7());
    let mut ids = Vec::new();
    let mut last = 0;
    for (n, kind) in ["slack", "github", "slack", "slack"]
        .into_iter()
        .enumerate()
    {
        let id = Uuid::now_v7();
        let meta = metadata(tenant, "user:alice", Uuid::now_v7());
        let mut events = vec![registered(tenant, &format!("I{n}"), kind, true)];
        if n == 2 {
            events.push(IntegrationEvent::IntegrationDisabled);
        }
        last = append(
            &pool,
            "Integration",
            id,
            1,
            meta,
            &integration_events(&events),
        )
        .await;
        ids.push(id);
    }
    let foreign = Uuid::now_v7();
    let meta = metadata(other, "user:eve", Uuid::now_v7());
    last = last.max(
        append(
            &pool,
            "Integration",
            foreign,
            1,
            meta,
            &integration_events(&[registered(other, "X", "slack", false)]),
        )
        .await,
    );
    spawn(&pool, IntegrationsProjection, PoisonPolicy::Stop);
    wait_for(&pool, INTEGRATIONS, last).await;

    let all = IntegrationFilter::default();
    let page = list_integrations(&pool, tenant.0, &all, None, 3)
        .await
        .unwrap();
    let got: Vec<Uuid> = page.items.iter().map(|r| r.id).collect();
    assert_eq!(got, [ids[3], ids[2], ids[1]]);
    assert!(page.has_more);
    let next = list_integrations(&pool, tenant.0, &all, Some(page.items[2].key()), 3)
        .await
        .unwrap();
    assert_eq!(
        next.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        [ids[0]]
    );
    assert!(!next.has_more);

    let slack_enabled = IntegrationFilter {
        kind: Some("slack".into()),
        status: Some(IntegrationStatus::Enabled),
    };
    let page = list_integrations(&pool, tenant.0, &slack_enabled, None, 10)
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        [ids[3], ids[0]]
    );
    let foreign_page = list_integrations(&pool, other.0, &all, None, 10)
        .await
        .unwrap();
    assert_eq!(
        foreign_page.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        [foreign]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_replay_gives_identical_rows(pool: PgPool) {
    let tenant = TenantId(Uuid::now_v7());
    let mut last = 0;
    for n in 0..4 {
        let meta = metadata(tenant, &format!("user:{n}"), Uuid::now_v7());
        let id = Uuid::now_v7();
        let mut events = vec![registered(tenant, &format!("I{n}"), "http", n % 2 == 0)];
        events.push(IntegrationEvent::IntegrationHealthChecked {
            healthy: n != 1,
            message: None,
            latency_ms: Some(n),
            checked_at: Utc::now(),
        });
        if n == 3 {
            events.push(IntegrationEvent::IntegrationCredentialsRotated {
                credentials: sealed(CIPHERTEXT),
            });
            events.push(IntegrationEvent::IntegrationRemoved);
        }
        last = append(
            &pool,
            "Integration",
            id,
            1,
            meta,
            &integration_events(&events),
        )
        .await;
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let runner = spawn_until(&pool, IntegrationsProjection, PoisonPolicy::Stop, shutdown);
    let (stop_audit, audit_stopped) = tokio::sync::oneshot::channel::<()>();
    let audit_shutdown = async move {
        let _ = audit_stopped.await;
    };
    let audit_runner = spawn_until(
        &pool,
        AuditLogProjection,
        PoisonPolicy::Stop,
        audit_shutdown,
    );
    wait_for(&pool, INTEGRATIONS, last).await;
    wait_for(&pool, AUDIT, last).await;
    stop.send(()).unwrap();
    stop_audit.send(()).unwrap();
    runner.await.unwrap().unwrap();
    audit_runner.await.unwrap().unwrap();
    let built = raw_rows(&pool).await;
    assert_eq!(built.len(), 4 + 10);

    for sql in [
        "TRUNCATE integrations, audit_log",
        "DELETE FROM projection_checkpoints WHERE projection IN ('integrations', 'audit_log')",
        "DELETE FROM projection_aggregate_sequences WHERE projection IN ('integrations', 'audit_log')",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    assert!(raw_rows(&pool).await.is_empty());
    let events = committed(&pool, 10).await;
    let integrations = Projector::new(
        pool.clone(),
        IntegrationsProjection,
        config(PoisonPolicy::Stop),
    );
    let audit = Projector::new(pool.clone(), AuditLogProjection, config(PoisonPolicy::Stop));
    // Replayed in other batch boundaries, and twice (redeliveries).
    for chunk in events.chunks(4).chain(events.chunks(10)) {
        integrations.apply_batch(chunk).await.unwrap();
        audit.apply_batch(chunk).await.unwrap();
    }
    assert_eq!(raw_rows(&pool).await, built);
}
