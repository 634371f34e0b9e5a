//! The `integrations` read model shows the circuit breaker the engine
//! records: closed, open, half-open and closed again, with the version
//! and update time of each transition.

mod support;

use chrono::{TimeZone, Utc};
use domain::ids::TenantId;
use domain::integration::IntegrationEvent;
use projections::projector::{PoisonPolicy, Projection};
use projections::read_models::integration_queries::{find_integration, CircuitState};
use projections::read_models::integrations::IntegrationsProjection;
use serde_json::{json, Value};
use sqlx::PgPool;
use support::*;
use uuid::Uuid;

/// Appends one Integration event with the metadata every event carries;
/// its global position.
async fn append(
    pool: &PgPool,
    tenant: TenantId,
    id: Uuid,
    sequence: i64,
    event: &IntegrationEvent,
) -> i64 {
    let payload = serde_json::to_value(event).unwrap();
    let event_type = match &payload {
        Value::Object(map) => map.keys().next().unwrap().clone(),
        Value::String(name) => name.clone(),
        other => panic!("unexpected payload {other}"),
    };
    let command = Uuid::now_v7().to_string();
    let metadata = json!({
        "tenant_id": tenant.to_string(), "actor": "system:engine", "command_id": command,
        "correlation_id": command, "causation_id": command, "trace_id": "0af7651916cd43dd8448eb211c80319c",
    });
    sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Integration', $1, $2, $3, '1', $4, $5) RETURNING global_position",
    )
    .bind(id.to_string())
    .bind(sequence)
    .bind(event_type)
    .bind(payload)
    .bind(metadata)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_circuit_state_follows_the_recorded_transitions(pool: PgPool) {
    let tenant = TenantId(Uuid::now_v7());
    let id = Uuid::now_v7();
    let at = |s| Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, s).unwrap();
    let history = [
        IntegrationEvent::IntegrationRegistered {
            tenant_id: tenant,
            name: "Billing".into(),
            kind: "http_api".into(),
            config: json!({"base_url": "https://billing.example.com"}),
            credentials: None,
        },
        IntegrationEvent::CircuitOpened {
            at: at(1),
            failures: 5,
        },
        IntegrationEvent::CircuitHalfOpened { at: at(2) },
        IntegrationEvent::CircuitOpened {
            at: at(3),
            failures: 1,
        },
        IntegrationEvent::CircuitHalfOpened { at: at(4) },
        IntegrationEvent::CircuitClosed { at: at(5) },
    ];
    let expected = [
        CircuitState::Closed,
        CircuitState::Open,
        CircuitState::HalfOpen,
        CircuitState::Open,
        CircuitState::HalfOpen,
        CircuitState::Closed,
    ];
    spawn(&pool, IntegrationsProjection, PoisonPolicy::Stop);
    for ((sequence, event), state) in (1..).zip(&history).zip(expected) {
        let position = append(&pool, tenant, id, sequence, event).await;
        wait_for(&pool, IntegrationsProjection::NAME, position).await;
        let row = find_integration(&pool, tenant.0, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (row.circuit_state, row.version),
            (state, sequence),
            "after {event:?}"
        );
        let recorded: chrono::DateTime<Utc> =
            sqlx::query_scalar("SELECT recorded_at FROM events WHERE global_position = $1")
                .bind(position)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(row.updated_at, recorded);
    }
}
