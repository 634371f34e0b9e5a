//! Wire types of the `executions` read model, shared by the queries and the
//! subscriptions.

use async_graphql::{ComplexObject, Context, Enum, Json, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};
use domain::access::Permission;
use projections::read_models::execution_queries::{self as reads, ExecutionRow, StepRow};
use projections::read_models::execution_stats::DayStats;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::errors::internal;
use super::scalars::BigInt;
use crate::caller::require;

/// Where an execution is in its life.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExecutionStatus {
    /// Started and not yet ended.
    Running,
    /// Ended successfully.
    Completed,
    /// Ended with an error.
    Failed,
    /// Stopped on request.
    Cancelled,
    /// Ran out of time.
    TimedOut,
}

impl From<reads::ExecutionStatus> for ExecutionStatus {
    fn from(status: reads::ExecutionStatus) -> Self {
        match status {
            reads::ExecutionStatus::Running => Self::Running,
            reads::ExecutionStatus::Completed => Self::Completed,
            reads::ExecutionStatus::Failed => Self::Failed,
            reads::ExecutionStatus::Cancelled => Self::Cancelled,
            reads::ExecutionStatus::TimedOut => Self::TimedOut,
        }
    }
}

impl From<ExecutionStatus> for reads::ExecutionStatus {
    fn from(status: ExecutionStatus) -> Self {
        match status {
            ExecutionStatus::Running => Self::Running,
            ExecutionStatus::Completed => Self::Completed,
            ExecutionStatus::Failed => Self::Failed,
            ExecutionStatus::Cancelled => Self::Cancelled,
            ExecutionStatus::TimedOut => Self::TimedOut,
        }
    }
}

/// Where a step is in its life.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepStatus {
    /// Queued, no attempt started.
    Scheduled,
    /// An attempt is in progress.
    Running,
    /// Finished successfully.
    Completed,
    /// The last attempt failed.
    Failed,
    /// Failed, and another attempt is queued.
    RetryScheduled,
    /// Paused until a signal arrives.
    WaitingForSignal,
}

impl From<reads::StepStatus> for StepStatus {
    fn from(status: reads::StepStatus) -> Self {
        match status {
            reads::StepStatus::Scheduled => Self::Scheduled,
            reads::StepStatus::Running => Self::Running,
            reads::StepStatus::Completed => Self::Completed,
            reads::StepStatus::Failed => Self::Failed,
            reads::StepStatus::RetryScheduled => Self::RetryScheduled,
            reads::StepStatus::WaitingForSignal => Self::WaitingForSignal,
        }
    }
}

/// One run of a workflow, as the read model holds it.
#[derive(SimpleObject)]
#[graphql(complex)]
pub(crate) struct Execution {
    id: ID,
    workflow_id: ID,
    /// The pinned definition version.
    workflow_version: i32,
    status: ExecutionStatus,
    /// What started it, e.g. `{"type": "manual"}`.
    trigger: Json<Value>,
    /// The idempotency key it was started with.
    idempotency_key: Option<String>,
    input: Json<Value>,
    /// The final result, once completed.
    output: Option<Json<Value>>,
    /// Why it failed or timed out.
    error: Option<String>,
    /// Why it was cancelled, when a reason was given.
    cancel_reason: Option<String>,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    /// `finishedAt - startedAt` in milliseconds, once it ended.
    duration_ms: Option<BigInt>,
    /// When its last event was recorded.
    updated_at: DateTime<Utc>,
    /// The execution's version: the sequence of its last applied event
    /// (what `cancelExecution` takes as `expectedVersion`).
    version: BigInt,
    /// Global position of its last applied event.
    position: BigInt,
    #[graphql(skip)]
    uuid: Uuid,
}

impl From<ExecutionRow> for Execution {
    fn from(row: ExecutionRow) -> Self {
        Self {
            id: ID(row.id.to_string()),
            workflow_id: ID(row.workflow_id.to_string()),
            workflow_version: row.workflow_version,
            status: row.status.into(),
            trigger: Json(row.trigger),
            idempotency_key: row.idempotency_key,
            input: Json(row.input),
            output: row.output.map(Json),
            error: row.error,
            cancel_reason: row.cancel_reason,
            started_at: row.started_at,
            finished_at: row.finished_at,
            duration_ms: row.duration_ms.map(BigInt),
            updated_at: row.updated_at,
            version: BigInt(row.last_sequence),
            position: BigInt(row.last_position),
            uuid: row.id,
        }
    }
}

#[ComplexObject]
impl Execution {
    /// Its steps, in the order they were scheduled.
    async fn steps(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Step>> {
        let (authenticated, caller) = require(ctx, Permission::ReadExecutions)?;
        let pool = ctx.data::<PgPool>()?;
        let steps = reads::list_steps(pool, authenticated.tenant_id.0, self.uuid)
            .await
            .map_err(|err| internal(&err, &caller.trace_id))?;
        Ok(steps.into_iter().map(Step::from).collect())
    }
}

/// One step (node) of an execution.
#[derive(SimpleObject)]
pub(crate) struct Step {
    node_id: String,
    status: StepStatus,
    /// Attempts started so far.
    attempts: i32,
    scheduled_at: DateTime<Utc>,
    /// When its first attempt started.
    started_at: Option<DateTime<Utc>>,
    /// When its current (or last) attempt started.
    attempt_started_at: Option<DateTime<Utc>>,
    /// When its last attempt ended.
    finished_at: Option<DateTime<Utc>>,
    /// Its result, once completed.
    output: Option<Json<Value>>,
    /// The last failure's error, until it completes.
    error: Option<String>,
    /// Whether the last failure may be retried.
    retryable: Option<bool>,
    /// When the scheduled retry runs.
    next_retry_at: Option<DateTime<Utc>>,
    /// The signal it awaits.
    waiting_for: Option<String>,
    /// The last failure said its effect may already have happened at the
    /// target: check there before running it again.
    possibly_done: bool,
    updated_at: DateTime<Utc>,
}

impl From<StepRow> for Step {
    fn from(row: StepRow) -> Self {
        Self {
            node_id: row.node_id,
            status: row.status.into(),
            attempts: row.attempts,
            scheduled_at: row.scheduled_at,
            started_at: row.started_at,
            attempt_started_at: row.attempt_started_at,
            finished_at: row.finished_at,
            output: row.output.map(Json),
            error: row.error,
            retryable: row.retryable,
            next_retry_at: row.next_retry_at,
            waiting_for: row.waiting_for,
            possibly_done: row.possibly_done,
            updated_at: row.updated_at,
        }
    }
}

/// One UTC day of a workflow's executions, counted by the day they started.
#[derive(SimpleObject)]
pub(crate) struct WorkflowDayStats {
    day: NaiveDate,
    /// Executions started that day.
    started: i32,
    /// Of those, completed.
    succeeded: i32,
    failed: i32,
    cancelled: i32,
    timed_out: i32,
    /// Still running.
    running: i32,
    /// Median duration of those that ended, in milliseconds.
    duration_p50_ms: Option<f64>,
    /// 95th percentile duration of those that ended, in milliseconds.
    duration_p95_ms: Option<f64>,
}

impl From<DayStats> for WorkflowDayStats {
    fn from(day: DayStats) -> Self {
        Self {
            day: day.day,
            started: count(day.started),
            succeeded: count(day.succeeded),
            failed: count(day.failed),
            cancelled: count(day.cancelled),
            timed_out: count(day.timed_out),
            running: count(day.running),
            duration_p50_ms: day.duration_p50_ms,
            duration_p95_ms: day.duration_p95_ms,
        }
    }
}

/// A day's count as a GraphQL `Int` (a day never holds 2^31 executions).
fn count(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
