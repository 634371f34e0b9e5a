//! The dispatcher: starts the runs owed to event triggers
//! (`engine_trigger_outbox`) and deletes their rows.
//!
//! Rows are claimed with a lease in one short statement, like schedules.
//! A start that the store already has (a repeated dispatch after a crash)
//! is a no-op thanks to its idempotency key, so the row is deleted after
//! the start, never before. A start the domain refuses (the target was
//! unpublished or archived since) is dropped with a warning; a technical
//! failure is tried again with a doubling pause.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use commands::executions::StartExecution;
use commands::{CommandContext, CommandError, Commands};
use domain::execution::ExecutionTrigger;
use domain::ids::{ExecutionId, TenantId, WorkflowId};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{watch, Notify};
use uuid::Uuid;

use super::{pause, Shared, TriggerConfig};

/// The actor of the dispatcher's commands.
const ACTOR: &str = "system:triggers";
/// The longest pause between attempts at one start.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(300);

/// A claimed outbox row.
#[derive(Debug, sqlx::FromRow)]
struct Owed {
    target_workflow_id: Uuid,
    source_execution_id: Uuid,
    source_sequence: i64,
    tenant_id: Uuid,
    input: Value,
    correlation_id: Option<Uuid>,
    causation_id: Option<Uuid>,
    attempts: i32,
}

/// Starts what the outbox owes at `now`, up to `config.batch` rows, as
/// dispatcher `owner`; how many rows it claimed.
pub async fn dispatch_due(
    pool: &PgPool,
    commands: &Commands,
    owner: Uuid,
    now: DateTime<Utc>,
    config: &TriggerConfig,
) -> Result<usize, sqlx::Error> {
    let claimed: Vec<Owed> = sqlx::query_as(
        "UPDATE engine_trigger_outbox o
            SET lease_owner = $1, lease_until = $2::timestamptz + make_interval(secs => $3)
          WHERE (o.target_workflow_id, o.source_execution_id, o.source_sequence) IN (
                SELECT target_workflow_id, source_execution_id, source_sequence
                  FROM engine_trigger_outbox
                 WHERE due_at <= $2 AND (lease_until IS NULL OR lease_until < $2)
                 ORDER BY due_at
                 LIMIT $4
                   FOR UPDATE SKIP LOCKED)
      RETURNING o.target_workflow_id, o.source_execution_id, o.source_sequence, o.tenant_id,
                o.input, o.correlation_id, o.causation_id, o.attempts",
    )
    .bind(owner)
    .bind(now)
    .bind(config.lease.as_secs_f64())
    .bind(config.batch)
    .fetch_all(pool)
    .await?;
    let count = claimed.len();
    for owed in claimed {
        let done = match start(commands, &owed).await {
            Ok(()) => delete(pool, owner, &owed).await,
            Err(CommandError::Rejected { message, .. }) => {
                tracing::warn!(target_workflow_id = %owed.target_workflow_id,
                               source_execution_id = %owed.source_execution_id,
                               error = message, "event trigger dropped: the start was refused");
                delete(pool, owner, &owed).await
            }
            Err(err) => {
                tracing::warn!(target_workflow_id = %owed.target_workflow_id,
                               source_execution_id = %owed.source_execution_id,
                               error = %err, "event trigger not started; trying again later");
                retry_later(pool, owner, &owed, &err, now, config).await
            }
        };
        if let Err(err) = done {
            tracing::warn!(error = %err, "dispatcher: outbox update failed; the lease will expire");
        }
    }
    Ok(count)
}

/// The idempotency key of a run started by the ending at `sequence` of
/// `source`: one run per target and ending, however often dispatched.
pub fn event_key(source: ExecutionId, sequence: i64) -> String {
    format!("event:{source}:{sequence}")
}

async fn start(commands: &Commands, owed: &Owed) -> Result<(), CommandError> {
    let source = ExecutionId(owed.source_execution_id);
    let mut ctx = CommandContext::new(TenantId(owed.tenant_id), ACTOR);
    ctx.correlation_id = owed.correlation_id;
    ctx.causation_id = owed.causation_id;
    let start = StartExecution {
        workflow_id: WorkflowId(owed.target_workflow_id),
        input: owed.input.clone(),
        trigger: ExecutionTrigger::Event {
            source_execution_id: source,
        },
        idempotency_key: Some(event_key(source, owed.source_sequence)),
    };
    commands.start_execution(&ctx, start).await?;
    Ok(())
}

async fn delete(pool: &PgPool, owner: Uuid, owed: &Owed) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM engine_trigger_outbox
          WHERE target_workflow_id = $1 AND source_execution_id = $2 AND source_sequence = $3
            AND lease_owner = $4",
    )
    .bind(owed.target_workflow_id)
    .bind(owed.source_execution_id)
    .bind(owed.source_sequence)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(())
}

async fn retry_later(
    pool: &PgPool,
    owner: Uuid,
    owed: &Owed,
    err: &CommandError,
    now: DateTime<Utc>,
    config: &TriggerConfig,
) -> Result<(), sqlx::Error> {
    let doublings = u32::try_from(owed.attempts.clamp(0, 16)).unwrap_or(16);
    let pause = config
        .retry_pause
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_PAUSE);
    let due = now + chrono::Duration::from_std(pause).unwrap_or_default();
    sqlx::query(
        "UPDATE engine_trigger_outbox
            SET due_at = $5, attempts = attempts + 1, last_error = $6,
                lease_owner = NULL, lease_until = NULL
          WHERE target_workflow_id = $1 AND source_execution_id = $2 AND source_sequence = $3
            AND lease_owner = $4",
    )
    .bind(owed.target_workflow_id)
    .bind(owed.source_execution_id)
    .bind(owed.source_sequence)
    .bind(owner)
    .bind(due)
    .bind(err.to_string())
    .execute(pool)
    .await?;
    Ok(())
}

/// When the earliest outbox row becomes claimable, if any.
async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT min(greatest(due_at, coalesce(lease_until, due_at))) FROM engine_trigger_outbox",
    )
    .fetch_one(pool)
    .await
}

/// Dispatches owed starts until stopped, sleeping until the next one.
pub(crate) async fn run_loop(
    shared: Arc<Shared>,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let now = shared.clock.now();
        let dispatched = dispatch_due(
            &shared.pool,
            &shared.commands,
            shared.owner,
            now,
            &shared.config,
        )
        .await;
        match dispatched {
            Ok(count) if count as i64 >= shared.config.batch && !*stopped.borrow() => continue,
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "dispatcher: claim failed"),
        }
        let due = next_due(&shared.pool).await;
        if !pause(&shared, due, &wake, &mut stopped).await {
            break;
        }
    }
}
