//! Claiming, holding and releasing executions in `engine_executions`.
//!
//! A claim takes due, unleased (or lease-expired) rows with
//! `FOR UPDATE SKIP LOCKED`, so several engine processes never hold the
//! same execution; a holder renews all its leases in one statement; a
//! release hands the row back with its next due time, unless a wake arrived
//! meanwhile (then it is due at once).

use chrono::{DateTime, Utc};
use domain::ids::{ExecutionId, TenantId, WorkflowId};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// An execution a worker holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The execution.
    pub execution_id: ExecutionId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its workflow.
    pub workflow_id: WorkflowId,
    /// The pinned version.
    pub workflow_version: u32,
    /// The wake counter when claimed.
    pub wake_seq: i64,
    /// Whether it holds a slot of its workflow's concurrency limit (or
    /// its workflow has none).
    pub admitted: bool,
}

/// Claims up to `limit` executions due at `now` for `owner`, leased until
/// `now + lease`.
pub async fn claim(
    pool: &PgPool,
    owner: Uuid,
    now: DateTime<Utc>,
    lease: Duration,
    limit: i64,
) -> Result<Vec<Claim>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, Uuid, i32, i64, bool)> = sqlx::query_as(
        "UPDATE engine_executions e
            SET lease_owner = $1, lease_until = $2::timestamptz + make_interval(secs => $3)
          WHERE e.execution_id IN (
                SELECT execution_id FROM engine_executions
                 WHERE due_at <= $2 AND (lease_until IS NULL OR lease_until < $2)
                 ORDER BY due_at
                 LIMIT $4
                   FOR UPDATE SKIP LOCKED)
      RETURNING e.execution_id, e.tenant_id, e.workflow_id, e.workflow_version, e.wake_seq,
                e.admitted OR e.concurrency IS NULL",
    )
    .bind(owner)
    .bind(now)
    .bind(lease.as_secs_f64())
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(execution, tenant, workflow, version, wake_seq, admitted)| Claim {
                execution_id: ExecutionId(execution),
                tenant_id: TenantId(tenant),
                workflow_id: WorkflowId(workflow),
                workflow_version: version.max(0) as u32,
                wake_seq,
                admitted,
            },
        )
        .collect())
}

/// Extends every lease `owner` holds to `now + lease`; how many it holds.
pub async fn renew(
    pool: &PgPool,
    owner: Uuid,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE engine_executions
            SET lease_until = $2::timestamptz + make_interval(secs => $3)
          WHERE lease_owner = $1",
    )
    .bind(owner)
    .bind(now)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Hands `claim` back, due next at `due` (`None`: only when woken); due
/// at once instead if a wake arrived since the claim.
pub async fn release(
    pool: &PgPool,
    owner: Uuid,
    claim: &Claim,
    due: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE engine_executions
            SET due_at = CASE WHEN wake_seq = $3 THEN $4 ELSE least(coalesce(due_at, $5), $5) END,
                lease_owner = NULL, lease_until = NULL
          WHERE execution_id = $1 AND lease_owner = $2",
    )
    .bind(claim.execution_id.0)
    .bind(owner)
    .bind(claim.wake_seq)
    .bind(due)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets an execution that has ended, freeing its concurrency slot.
pub async fn finish(pool: &PgPool, execution_id: ExecutionId) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT engine_forget($1)")
        .bind(execution_id.0)
        .execute(pool)
        .await?;
    Ok(())
}

/// Takes a slot of the workflow's concurrency limit for `claim`; false
/// when every slot is taken (the execution then waits, queued, until one
/// ends). One statement: concurrent engines never overshoot the limit.
pub async fn admit(pool: &PgPool, claim: &Claim) -> Result<bool, sqlx::Error> {
    let admitted: Option<bool> = sqlx::query_scalar(
        "WITH target AS (
             SELECT workflow_id, concurrency FROM engine_executions
              WHERE execution_id = $1 AND NOT admitted),
         slot AS (
             INSERT INTO engine_workflow_slots AS s (workflow_id, running)
             SELECT workflow_id, 1 FROM target WHERE concurrency > 0
             ON CONFLICT (workflow_id) DO UPDATE SET running = s.running + 1
              WHERE s.running < (SELECT concurrency FROM target)
             RETURNING 1)
         UPDATE engine_executions SET admitted = true
          WHERE execution_id = $1 AND EXISTS (SELECT 1 FROM slot)
         RETURNING admitted",
    )
    .bind(claim.execution_id.0)
    .fetch_optional(pool)
    .await?;
    Ok(admitted.unwrap_or(false))
}

/// When the earliest unleased execution (or expiring lease) becomes
/// claimable, if any.
pub async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT min(greatest(due_at, coalesce(lease_until, due_at)))
           FROM engine_executions WHERE due_at IS NOT NULL",
    )
    .fetch_one(pool)
    .await
}

/// Hands back every execution `owner` still holds, due at once, so another
/// process takes them over without waiting for the leases to expire.
pub async fn abandon(pool: &PgPool, owner: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE engine_executions
            SET lease_owner = NULL, lease_until = NULL, due_at = coalesce(due_at, clock_timestamp())
          WHERE lease_owner = $1",
    )
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(())
}
