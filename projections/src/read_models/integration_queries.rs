//! Reads of the `integrations` read model, always scoped to one tenant: an
//! integration of another tenant reads exactly like a missing one.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::workflow_queries::Page;

/// Whether workflows may use an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationStatus {
    /// Usable.
    Enabled,
    /// Not usable until enabled again.
    Disabled,
    /// Removed for good.
    Removed,
}

impl IntegrationStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::Removed => "removed",
        }
    }

    fn parse(text: &str) -> Result<Self, sqlx::Error> {
        match text {
            "enabled" => Ok(Self::Enabled),
            "disabled" => Ok(Self::Disabled),
            "removed" => Ok(Self::Removed),
            other => Err(sqlx::Error::Decode(
                format!("unknown integration status '{other}'").into(),
            )),
        }
    }
}

/// The state of an integration's circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls are refused.
    Open,
    /// One trial call goes through.
    HalfOpen,
}

impl CircuitState {
    fn parse(text: &str) -> Result<Self, sqlx::Error> {
        match text {
            "closed" => Ok(Self::Closed),
            "open" => Ok(Self::Open),
            "half_open" => Ok(Self::HalfOpen),
            other => Err(sqlx::Error::Decode(
                format!("unknown circuit state '{other}'").into(),
            )),
        }
    }
}

/// The last health check of an integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRow {
    /// Whether the remote side answered correctly.
    pub healthy: bool,
    /// Details.
    pub message: Option<String>,
    /// Round-trip time.
    pub latency_ms: Option<i64>,
    /// When the check ran.
    pub checked_at: DateTime<Utc>,
}

/// One row of the `integrations` read model. It has no credentials field:
/// the read model never holds them.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationRow {
    /// The integration's id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// Display name.
    pub name: String,
    /// Connector kind, e.g. `slack`.
    pub kind: String,
    /// Non-secret settings.
    pub config: Value,
    /// Enabled, disabled or removed.
    pub status: IntegrationStatus,
    /// Whether credentials are set.
    pub credentials_set: bool,
    /// When the credentials were last rotated (never: `None`).
    pub credentials_rotated_at: Option<DateTime<Utc>>,
    /// The last health check, when one ran.
    pub health: Option<HealthRow>,
    /// The circuit breaker's state.
    pub circuit_state: CircuitState,
    /// The aggregate's version (its last applied sequence).
    pub version: i64,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When its last event was recorded.
    pub updated_at: DateTime<Utc>,
}

/// Which integrations a list shows.
#[derive(Debug, Clone, Default)]
pub struct IntegrationFilter {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this status.
    pub status: Option<IntegrationStatus>,
}

/// Where a page of integrations starts: after this (created_at, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntegrationKey {
    /// The previous page's last registration time.
    pub created_at: DateTime<Utc>,
    /// The previous page's last id.
    pub id: Uuid,
}

impl IntegrationRow {
    /// This row's place in the `created_at DESC, id DESC` order.
    pub fn key(&self) -> IntegrationKey {
        IntegrationKey {
            created_at: self.created_at,
            id: self.id,
        }
    }
}

const COLUMNS: &str = "
SELECT id, tenant_id, name, kind, config, status, credentials_set, credentials_rotated_at,
       healthy, health_message, health_latency_ms, health_checked_at, circuit_state, version,
       created_at, updated_at
  FROM integrations";

/// The integration `id` of `tenant_id`, if it exists there.
pub async fn find_integration(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<IntegrationRow>, sqlx::Error> {
    let sql = format!("{COLUMNS} WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(integration_row).transpose()
}

/// Up to `first` integrations of `tenant_id` matching `filter`, newest
/// first (`created_at DESC, id DESC`), after `after`.
pub async fn list_integrations(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &IntegrationFilter,
    after: Option<IntegrationKey>,
    first: i64,
) -> Result<Page<IntegrationRow>, sqlx::Error> {
    let sql = format!(
        "{COLUMNS}
          WHERE tenant_id = $1
            AND ($2::text IS NULL OR kind = $2)
            AND ($3::text IS NULL OR status = $3)
            AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
          ORDER BY created_at DESC, id DESC
          LIMIT $6"
    );
    let rows = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(filter.kind.as_deref())
        .bind(filter.status.map(IntegrationStatus::as_str))
        .bind(after.map(|k| k.created_at))
        .bind(after.map(|k| k.id))
        .bind(first + 1)
        .fetch_all(pool)
        .await?;
    let mut items = rows
        .iter()
        .map(integration_row)
        .collect::<Result<Vec<_>, _>>()?;
    let has_more = items.len() as i64 > first;
    items.truncate(first.max(0) as usize);
    Ok(Page { items, has_more })
}

fn integration_row(row: &sqlx::postgres::PgRow) -> Result<IntegrationRow, sqlx::Error> {
    let checked_at: Option<DateTime<Utc>> = row.try_get("health_checked_at")?;
    let health = match (row.try_get::<Option<bool>, _>("healthy")?, checked_at) {
        (Some(healthy), Some(checked_at)) => Some(HealthRow {
            healthy,
            message: row.try_get("health_message")?,
            latency_ms: row.try_get("health_latency_ms")?,
            checked_at,
        }),
        _ => None,
    };
    Ok(IntegrationRow {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        config: row.try_get("config")?,
        status: IntegrationStatus::parse(row.try_get("status")?)?,
        credentials_set: row.try_get("credentials_set")?,
        credentials_rotated_at: row.try_get("credentials_rotated_at")?,
        health,
        circuit_state: CircuitState::parse(row.try_get("circuit_state")?)?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
