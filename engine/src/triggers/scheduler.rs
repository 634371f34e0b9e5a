//! The scheduler: claims due `engine_schedules` rows, asks the domain
//! which slots fire and which are skipped (`Schedule::plan`), records the
//! skipped ones, starts the slot's run, and moves the row past them.
//!
//! A claim is a lease taken in one short statement (`FOR UPDATE SKIP
//! LOCKED`), not a transaction held open across the commands: an open
//! writing transaction would hold back every commit-order reader. Two
//! schedulers never hold one row at once; if one dies mid-way, another
//! takes the row once the lease expires and repeats its work, which
//! changes nothing: the run's idempotency key (`schedule:<slot>`) maps to
//! the same execution, and a skipped range already recorded is a no-op.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use commands::executions::StartExecution;
use commands::{CommandContext, CommandError, Commands};
use domain::execution::ExecutionTrigger;
use domain::ids::{TenantId, WorkflowId};
use domain::workflow::{CatchUp, Schedule, Ticks, WorkflowCommand};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::{watch, Notify};
use uuid::Uuid;

use super::{pause, Shared, TriggerConfig};

/// The actor of the scheduler's commands.
const ACTOR: &str = "system:scheduler";

/// A claimed schedule.
#[derive(Debug, sqlx::FromRow)]
struct Due {
    workflow_id: Uuid,
    tenant_id: Uuid,
    cron: String,
    timezone: String,
    catch_up: String,
    covered_through: DateTime<Utc>,
    generation: i64,
}

/// Fires what is due at `now` for up to `config.batch` schedules, as
/// scheduler `owner`; how many schedules it claimed.
pub async fn fire_due(
    pool: &PgPool,
    commands: &Commands,
    owner: Uuid,
    now: DateTime<Utc>,
    config: &TriggerConfig,
) -> Result<usize, sqlx::Error> {
    let claimed: Vec<Due> = sqlx::query_as(
        "UPDATE engine_schedules s
            SET lease_owner = $1, lease_until = $2::timestamptz + make_interval(secs => $3)
          WHERE s.workflow_id IN (
                SELECT workflow_id FROM engine_schedules
                 WHERE next_fire_at <= $2 AND (lease_until IS NULL OR lease_until < $2)
                 ORDER BY next_fire_at
                 LIMIT $4
                   FOR UPDATE SKIP LOCKED)
      RETURNING s.workflow_id, s.tenant_id, s.cron, s.timezone, s.catch_up,
                s.covered_through, s.generation",
    )
    .bind(owner)
    .bind(now)
    .bind(config.lease.as_secs_f64())
    .bind(config.batch)
    .fetch_all(pool)
    .await?;
    let count = claimed.len();
    for due in claimed {
        let workflow_id = due.workflow_id;
        let done = handle(commands, &due, now, config).await;
        let released = match done {
            Ok(ticks) => advance(pool, owner, &due, &ticks, now).await,
            Err(err) => {
                tracing::warn!(workflow_id = %workflow_id, error = %err,
                               "scheduler: slot not handled; trying again later");
                let retry =
                    now + chrono::Duration::from_std(config.retry_pause).unwrap_or_default();
                release(pool, owner, workflow_id, Some(retry)).await
            }
        };
        if let Err(err) = released {
            tracing::warn!(workflow_id = %workflow_id, error = %err,
                           "scheduler: release failed; the lease will expire");
        }
    }
    Ok(count)
}

/// Records the skipped slots, then starts the slot that fires.
async fn handle(
    commands: &Commands,
    due: &Due,
    now: DateTime<Utc>,
    config: &TriggerConfig,
) -> Result<Ticks, CommandError> {
    let schedule = Schedule::parse(&due.cron, &due.timezone)
        .map_err(|err| CommandError::Internal(format!("stored schedule: {err}")))?;
    let catch_up: CatchUp = due.catch_up.parse().unwrap_or_default();
    let grace = chrono::Duration::from_std(config.grace).unwrap_or_default();
    let ticks = schedule.plan(
        due.covered_through,
        now,
        catch_up,
        grace,
        config.max_skipped_per_record,
    );
    let workflow_id = WorkflowId(due.workflow_id);
    let ctx = CommandContext::new(TenantId(due.tenant_id), ACTOR);
    if let Some(skipped) = ticks.skipped {
        let record = WorkflowCommand::RecordSkippedRuns {
            from: skipped.from,
            to: skipped.to,
            count: skipped.count,
            catch_up,
        };
        commands
            .execute_workflow(&ctx, workflow_id, record, None)
            .await?;
        tracing::info!(workflow_id = %workflow_id, from = %skipped.from, to = %skipped.to,
                       count = skipped.count, %catch_up, "scheduler: missed slots skipped");
    }
    if let Some(slot) = ticks.fire {
        let start = StartExecution {
            workflow_id,
            input: json!({ "scheduled_for": slot }),
            trigger: ExecutionTrigger::Schedule {
                scheduled_for: slot,
            },
            idempotency_key: Some(slot_key(slot)),
        };
        let started = commands.start_execution(&ctx, start).await?;
        tracing::debug!(workflow_id = %workflow_id, %slot, execution_id = started.aggregate_id,
                        "scheduler: slot fired");
    }
    Ok(ticks)
}

/// The idempotency key of a slot's run: the same for every scheduler.
pub fn slot_key(slot: DateTime<Utc>) -> String {
    format!(
        "schedule:{}",
        slot.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

/// Moves the row past the handled slots and hands it back. If the
/// projection changed the schedule meanwhile, the row is due at once so
/// the next look plans with the new one.
async fn advance(
    pool: &PgPool,
    owner: Uuid,
    due: &Due,
    ticks: &Ticks,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE engine_schedules
            SET covered_through = greatest(covered_through, $3),
                next_fire_at = CASE WHEN generation = $4 AND covered_through <= $3 THEN $5
                                    ELSE $6 END,
                lease_owner = NULL, lease_until = NULL
          WHERE workflow_id = $1 AND lease_owner = $2",
    )
    .bind(due.workflow_id)
    .bind(owner)
    .bind(ticks.covered_through)
    .bind(due.generation)
    .bind(ticks.next)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Hands the row back unchanged, due again at `retry`.
async fn release(
    pool: &PgPool,
    owner: Uuid,
    workflow_id: Uuid,
    retry: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE engine_schedules
            SET next_fire_at = $3, lease_owner = NULL, lease_until = NULL
          WHERE workflow_id = $1 AND lease_owner = $2",
    )
    .bind(workflow_id)
    .bind(owner)
    .bind(retry)
    .execute(pool)
    .await?;
    Ok(())
}

/// When the earliest schedule becomes claimable, if any.
async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT min(greatest(next_fire_at, coalesce(lease_until, next_fire_at)))
           FROM engine_schedules WHERE next_fire_at IS NOT NULL",
    )
    .fetch_one(pool)
    .await
}

/// Fires due slots until stopped, sleeping until the next one between.
pub(crate) async fn run_loop(
    shared: Arc<Shared>,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let now = shared.clock.now();
        let fired = fire_due(
            &shared.pool,
            &shared.commands,
            shared.owner,
            now,
            &shared.config,
        )
        .await;
        match fired {
            Ok(count) if count as i64 >= shared.config.batch && !*stopped.borrow() => continue,
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "scheduler: claim failed"),
        }
        let due = next_due(&shared.pool).await;
        if !pause(&shared, due, &wake, &mut stopped).await {
            break;
        }
    }
}
