//! The `integrations` projection: one row per integration (name, kind,
//! non-secret config, status, last health check, circuit state, whether
//! credentials are set and when they were rotated).
//!
//! **Invariant:** credentials never reach the read model, not even sealed:
//! only the fact that some are set and the time of the last rotation. The
//! event's `SealedSecret` is deserialized and dropped.
//!
//! Timestamps are the events' `recorded_at` (a health check's own
//! `checked_at`), so a rebuild gives the same rows. The circuit state is
//! the last `CircuitOpened`, `CircuitHalfOpened` or `CircuitClosed` (the
//! engine records its breakers' transitions), `closed` before any.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::integration::IntegrationEvent;
use serde::Deserialize;
use sqlx::postgres::PgQueryResult;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::history::StoredEvent;
use crate::projector::{ApplyError, Projection, Replay};
use crate::upcast::ensure_current;

/// Folds Integration events into `integrations`.
#[derive(Debug, Clone, Copy, Default)]
pub struct IntegrationsProjection;

#[async_trait]
impl Projection for IntegrationsProjection {
    const NAME: &'static str = "integrations";
    const AGGREGATE_TYPES: &'static [&'static str] = &["Integration"];
    const REPLAY: Replay = Replay::Rebuild(&["integrations"]);

    async fn apply(&self, conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ApplyError> {
        let id = uuid_of(event)?;
        let at = event.recorded_at;
        let touched = match parse::<IntegrationEvent>(event)? {
            IntegrationEvent::IntegrationRegistered {
                tenant_id,
                name,
                kind,
                config,
                credentials,
            } => {
                sqlx::query(
                    "INSERT INTO integrations (id, tenant_id, name, kind, config, status,
                                               credentials_set, version, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, 'enabled', $6, $7, $8, $8)",
                )
                .bind(id)
                .bind(tenant_id.0)
                .bind(name)
                .bind(kind)
                .bind(config)
                .bind(credentials.is_some())
                .bind(event.sequence)
                .bind(at)
                .execute(&mut *conn)
                .await?
            }
            IntegrationEvent::IntegrationConfigUpdated { config } => {
                update(conn, event, id, "config = $4", config).await?
            }
            IntegrationEvent::IntegrationCredentialsRotated { credentials: _ } => {
                update(
                    conn,
                    event,
                    id,
                    "credentials_set = true, credentials_rotated_at = $4",
                    at,
                )
                .await?
            }
            IntegrationEvent::IntegrationEnabled => {
                update(conn, event, id, "status = $4", "enabled").await?
            }
            IntegrationEvent::IntegrationDisabled => {
                update(conn, event, id, "status = $4", "disabled").await?
            }
            IntegrationEvent::IntegrationRemoved => {
                update(conn, event, id, "status = $4", "removed").await?
            }
            IntegrationEvent::IntegrationHealthChecked {
                healthy,
                message,
                latency_ms,
                checked_at,
            } => health_checked(conn, event, id, healthy, message, latency_ms, checked_at).await?,
            IntegrationEvent::CircuitOpened { .. } => {
                update(conn, event, id, "circuit_state = $4", "open").await?
            }
            IntegrationEvent::CircuitHalfOpened { .. } => {
                update(conn, event, id, "circuit_state = $4", "half_open").await?
            }
            IntegrationEvent::CircuitClosed { .. } => {
                update(conn, event, id, "circuit_state = $4", "closed").await?
            }
        };
        if touched.rows_affected() != 1 {
            return Err(ApplyError::Rejected(format!(
                "integration {id} has no row to apply {} to (its IntegrationRegistered was not applied)",
                event.event_type
            )));
        }
        Ok(())
    }
}

/// Reads an event in the current version (sources upcast, see
/// [`crate::upcast`]).
fn parse<'a, T: Deserialize<'a>>(event: &'a StoredEvent) -> Result<T, ApplyError> {
    ensure_current(event)?;
    // The serde error would quote the payload, which may hold ciphertext.
    T::deserialize(&event.payload)
        .map_err(|_| ApplyError::Rejected(format!("malformed {} payload", event.event_type)))
}

fn uuid_of(event: &StoredEvent) -> Result<Uuid, ApplyError> {
    event.aggregate_id.parse().map_err(|_| {
        ApplyError::Rejected(format!(
            "{} id '{}' is not a UUID",
            event.aggregate_type, event.aggregate_id
        ))
    })
}

/// Sets `assignment` (which binds its value as `$4`) plus the version and
/// update time of integration `id`.
async fn update<T>(
    conn: &mut PgConnection,
    event: &StoredEvent,
    id: Uuid,
    assignment: &str,
    value: T,
) -> Result<PgQueryResult, sqlx::Error>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + 'static,
{
    let sql = format!(
        "UPDATE integrations SET {assignment}, version = $2, updated_at = $3 WHERE id = $1"
    );
    sqlx::query(&sql)
        .bind(id)
        .bind(event.sequence)
        .bind(event.recorded_at)
        .bind(value)
        .execute(conn)
        .await
}

async fn health_checked(
    conn: &mut PgConnection,
    event: &StoredEvent,
    id: Uuid,
    healthy: bool,
    message: Option<String>,
    latency_ms: Option<u64>,
    checked_at: DateTime<Utc>,
) -> Result<PgQueryResult, ApplyError> {
    let latency = latency_ms
        .map(i64::try_from)
        .transpose()
        .map_err(|_| ApplyError::Rejected("health check latency is out of range".into()))?;
    let done = sqlx::query(
        "UPDATE integrations
            SET healthy = $4, health_message = $5, health_latency_ms = $6, health_checked_at = $7,
                version = $2, updated_at = $3
          WHERE id = $1",
    )
    .bind(id)
    .bind(event.sequence)
    .bind(event.recorded_at)
    .bind(healthy)
    .bind(message)
    .bind(latency)
    .bind(checked_at)
    .execute(conn)
    .await?;
    Ok(done)
}
