//! The `webhook_triggers` read model: which workflow each webhook trigger
//! id names, kept by the `workflows` projection from
//! `WebhookSecretRotated`, and the one lookup `POST /webhooks/{triggerId}`
//! makes before the workflow aggregate checks the delivery.
//!
//! A changed trigger id replaces the workflow's row, so an old id stops
//! resolving once the event is applied (and the aggregate refuses it even
//! before). Secrets never reach this table, sealed or not.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgQueryResult;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// The workflow the trigger `trigger_id` names, if any.
pub async fn workflow_of(pool: &PgPool, trigger_id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT workflow_id FROM webhook_triggers WHERE trigger_id = $1")
        .bind(trigger_id)
        .fetch_optional(pool)
        .await
}

/// Points `trigger_id` at `workflow_id` (replacing the workflow's earlier
/// trigger id), taking the tenant from the workflow's row: affects no row
/// when the workflow has none.
pub(super) async fn apply_rotated(
    conn: &mut PgConnection,
    workflow_id: Uuid,
    trigger_id: Uuid,
    at: DateTime<Utc>,
) -> Result<PgQueryResult, sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_triggers (trigger_id, workflow_id, tenant_id, rotated_at)
         SELECT $2, id, tenant_id, $3 FROM workflows WHERE id = $1
         ON CONFLICT (workflow_id) DO UPDATE
            SET trigger_id = EXCLUDED.trigger_id, rotated_at = EXCLUDED.rotated_at",
    )
    .bind(workflow_id)
    .bind(trigger_id)
    .bind(at)
    .execute(conn)
    .await
}
