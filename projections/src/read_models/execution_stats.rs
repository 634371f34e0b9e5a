//! Statistics of the `executions` read model: a workflow's runs per UTC
//! day, scoped to one tenant.

use chrono::NaiveDate;
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// One UTC day of a workflow's executions, counted by the day they started.
#[derive(Debug, Clone, PartialEq)]
pub struct DayStats {
    /// The UTC day.
    pub day: NaiveDate,
    /// Executions started that day.
    pub started: i64,
    /// Of those, completed.
    pub succeeded: i64,
    /// Failed.
    pub failed: i64,
    /// Cancelled.
    pub cancelled: i64,
    /// Timed out.
    pub timed_out: i64,
    /// Still running.
    pub running: i64,
    /// Median duration of those that ended, in milliseconds.
    pub duration_p50_ms: Option<f64>,
    /// 95th percentile duration of those that ended, in milliseconds.
    pub duration_p95_ms: Option<f64>,
}

/// The executions of workflow `workflow_id` of `tenant_id` per UTC day from
/// `from` to `to` (both included), one row per day, days without any
/// included (zero counts, no durations); `None` when the workflow is not in
/// the tenant's `workflows` read model (missing, another tenant's, or its
/// creation not projected yet).
///
/// Computed at query time rather than kept in a daily table: percentiles do
/// not add up (the p95 of a day cannot be updated from the previous p95 and
/// one more duration), so a table would hold either approximate sketches or
/// every duration again. `percentile_cont` over the
/// `executions_by_workflow` index, whose INCLUDE columns hold status and
/// duration, is exact and reads one workflow's date range with an
/// index-only scan; callers bound the range (the API allows 366 days).
/// Counting by start day makes each day's numbers add up
/// (`started = succeeded + failed + cancelled + timed_out + running`);
/// durations are those of the day's executions that have ended, whatever
/// their ending.
pub async fn workflow_stats(
    pool: &PgPool,
    tenant_id: Uuid,
    workflow_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Option<Vec<DayStats>>, sqlx::Error> {
    let known: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM workflows WHERE tenant_id = $1 AND id = $2)",
    )
    .bind(tenant_id)
    .bind(workflow_id)
    .fetch_one(pool)
    .await?;
    if !known {
        return Ok(None);
    }
    let rows = sqlx::query(
        "WITH days AS (
             SELECT d::date AS day FROM generate_series($3::date, $4::date, interval '1 day') d),
         per_day AS (
             SELECT (started_at AT TIME ZONE 'UTC')::date AS day,
                    count(*) AS started,
                    count(*) FILTER (WHERE status = 'completed') AS succeeded,
                    count(*) FILTER (WHERE status = 'failed') AS failed,
                    count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
                    count(*) FILTER (WHERE status = 'timed_out') AS timed_out,
                    count(*) FILTER (WHERE status = 'running') AS running,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50,
                    percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95
               FROM executions
              WHERE tenant_id = $1 AND workflow_id = $2
                AND started_at >= ($3::date)::timestamp AT TIME ZONE 'UTC'
                AND started_at < ($4::date + 1)::timestamp AT TIME ZONE 'UTC'
              GROUP BY 1)
         SELECT days.day, coalesce(started, 0) AS started, coalesce(succeeded, 0) AS succeeded,
                coalesce(failed, 0) AS failed, coalesce(cancelled, 0) AS cancelled,
                coalesce(timed_out, 0) AS timed_out, coalesce(running, 0) AS running, p50, p95
           FROM days LEFT JOIN per_day USING (day)
          ORDER BY days.day",
    )
    .bind(tenant_id)
    .bind(workflow_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(DayStats {
                day: row.try_get("day")?,
                started: row.try_get("started")?,
                succeeded: row.try_get("succeeded")?,
                failed: row.try_get("failed")?,
                cancelled: row.try_get("cancelled")?,
                timed_out: row.try_get("timed_out")?,
                running: row.try_get("running")?,
                duration_p50_ms: row.try_get("p50")?,
                duration_p95_ms: row.try_get("p95")?,
            })
        })
        .collect::<Result<_, _>>()
        .map(Some)
}
