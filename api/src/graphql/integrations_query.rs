//! Integration queries, answered from the `integrations` read model only.
//! No field carries credentials: only whether some are set and when they
//! were last rotated.

use async_graphql::connection::Edge;
use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::access::Permission;
use projections::projector::Projection;
use projections::read_models::integration_queries::{
    self as reads, IntegrationKey, IntegrationRow,
};
use projections::read_models::integrations::IntegrationsProjection;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::consistency::await_read_models;
use super::errors::internal;
use super::paging::{decode, encode, page_size, Page};
use super::result::parse_uuid;
use super::scalars::BigInt;
use crate::caller::require;

/// Read-model queries of integrations.
#[derive(Default)]
pub struct IntegrationQuery;

/// Whether workflows may use an integration.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
enum IntegrationStatus {
    /// Usable.
    Enabled,
    /// Not usable until enabled again.
    Disabled,
    /// Removed for good.
    Removed,
}

impl From<reads::IntegrationStatus> for IntegrationStatus {
    fn from(status: reads::IntegrationStatus) -> Self {
        match status {
            reads::IntegrationStatus::Enabled => Self::Enabled,
            reads::IntegrationStatus::Disabled => Self::Disabled,
            reads::IntegrationStatus::Removed => Self::Removed,
        }
    }
}

impl From<IntegrationStatus> for reads::IntegrationStatus {
    fn from(status: IntegrationStatus) -> Self {
        match status {
            IntegrationStatus::Enabled => Self::Enabled,
            IntegrationStatus::Disabled => Self::Disabled,
            IntegrationStatus::Removed => Self::Removed,
        }
    }
}

/// The state of an integration's circuit breaker.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls are refused.
    Open,
    /// One trial call goes through.
    HalfOpen,
}

impl From<reads::CircuitState> for CircuitState {
    fn from(state: reads::CircuitState) -> Self {
        match state {
            reads::CircuitState::Closed => Self::Closed,
            reads::CircuitState::Open => Self::Open,
            reads::CircuitState::HalfOpen => Self::HalfOpen,
        }
    }
}

/// Which integrations `integrations` lists.
#[derive(InputObject, Default)]
struct IntegrationFilter {
    /// Only this connector kind.
    kind: Option<String>,
    /// Only this status.
    status: Option<IntegrationStatus>,
}

/// The last health check of an integration.
#[derive(SimpleObject)]
struct IntegrationHealth {
    /// Whether the remote side answered correctly.
    healthy: bool,
    /// Details.
    message: Option<String>,
    /// Round-trip time in milliseconds.
    latency_ms: Option<BigInt>,
    /// When the check ran.
    checked_at: DateTime<Utc>,
}

/// An integration as the read model holds it (never its credentials).
#[derive(SimpleObject)]
struct Integration {
    id: ID,
    name: String,
    /// The connector kind, e.g. `slack`.
    kind: String,
    /// Non-secret settings.
    config: Json<Value>,
    status: IntegrationStatus,
    /// Whether credentials are set (their value is never shown).
    credentials_set: bool,
    /// When the credentials were last rotated.
    credentials_rotated_at: Option<DateTime<Utc>>,
    /// The last health check, when one ran.
    health: Option<IntegrationHealth>,
    circuit_state: CircuitState,
    /// The aggregate's version, for `expectedVersion`.
    version: BigInt,
    created_at: DateTime<Utc>,
    /// When its last change was recorded.
    updated_at: DateTime<Utc>,
}

impl From<IntegrationRow> for Integration {
    fn from(row: IntegrationRow) -> Self {
        Self {
            id: ID(row.id.to_string()),
            name: row.name,
            kind: row.kind,
            config: Json(row.config),
            status: row.status.into(),
            credentials_set: row.credentials_set,
            credentials_rotated_at: row.credentials_rotated_at,
            health: row.health.map(|h| IntegrationHealth {
                healthy: h.healthy,
                message: h.message,
                latency_ms: h.latency_ms.map(BigInt),
                checked_at: h.checked_at,
            }),
            circuit_state: row.circuit_state.into(),
            version: BigInt(row.version),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The read model these queries read.
const INTEGRATIONS: &str = <IntegrationsProjection as Projection>::NAME;

#[Object]
impl IntegrationQuery {
    /// One integration; null when it does not exist in the caller's tenant.
    async fn integration(
        &self,
        ctx: &Context<'_>,
        id: ID,
        consistent_with: Option<BigInt>,
    ) -> async_graphql::Result<Option<Integration>> {
        let (authenticated, caller) = require(ctx, Permission::ReadIntegrations)?;
        await_read_models(ctx, consistent_with, &[INTEGRATIONS]).await?;
        let id = parse_uuid("id", &id)?;
        let pool = ctx.data::<PgPool>()?;
        let row = reads::find_integration(pool, authenticated.tenant_id.0, id)
            .await
            .map_err(|err| internal(&err, &caller.trace_id))?;
        Ok(row.map(Integration::from))
    }

    /// The caller's integrations, newest first (registration time, then
    /// id). `after` is the `endCursor` of the previous page.
    async fn integrations(
        &self,
        ctx: &Context<'_>,
        filter: Option<IntegrationFilter>,
        first: Option<i32>,
        after: Option<String>,
        consistent_with: Option<BigInt>,
    ) -> async_graphql::Result<Page<Integration>> {
        let (authenticated, caller) = require(ctx, Permission::ReadIntegrations)?;
        await_read_models(ctx, consistent_with, &[INTEGRATIONS]).await?;
        let pool = ctx.data::<PgPool>()?;
        let first = page_size(first)?;
        let after = decode::<(DateTime<Utc>, Uuid)>(after.as_deref())?;
        let filter = filter.unwrap_or_default();
        let filter = reads::IntegrationFilter {
            kind: filter.kind,
            status: filter.status.map(Into::into),
        };
        let key = after.map(|(created_at, id)| IntegrationKey { created_at, id });
        let page = reads::list_integrations(pool, authenticated.tenant_id.0, &filter, key, first)
            .await
            .map_err(|err| internal(&err, &caller.trace_id))?;
        let mut connection = Page::new(after.is_some(), page.has_more);
        connection.edges.extend(page.items.into_iter().map(|row| {
            let key = row.key();
            Edge::new(encode((key.created_at, key.id)), Integration::from(row))
        }));
        Ok(connection)
    }
}
