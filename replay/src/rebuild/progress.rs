//! The `projection_rebuilds` rows: the last rebuild of each projection and
//! its progress while it runs, shared by the CLI and the `projections`
//! query.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Where a rebuild stands.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RebuildStatus {
    /// The projection rebuilt.
    pub projection: String,
    /// `running`, `succeeded` or `failed`.
    pub state: String,
    /// Events folded into the shadow tables so far.
    pub events_done: i64,
    /// The store's size when the rebuild began.
    pub events_total: i64,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// When it last reported.
    pub updated_at: DateTime<Utc>,
    /// When it ended, if it did.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

impl RebuildStatus {
    /// Events per second so far.
    pub fn events_per_second(&self) -> f64 {
        let end = self.finished_at.unwrap_or(self.updated_at);
        let seconds = (end - self.started_at).num_milliseconds() as f64 / 1000.0;
        if seconds <= 0.0 {
            return 0.0;
        }
        self.events_done as f64 / seconds
    }
}

/// The rows of `projection_rebuilds` as a reader sees them: one recorded as
/// running whose rebuild holds no lock any more (its process died) reads as
/// failed, since the live tables were never swapped. `$1` is the lock class.
const ROWS: &str = "
    SELECT projection,
           CASE WHEN interrupted THEN 'failed' ELSE state END AS state,
           events_done, events_total, started_at, updated_at, finished_at,
           CASE WHEN interrupted
                THEN 'interrupted: the rebuilding process ended before the swap'
                ELSE error END AS error
      FROM public.projection_rebuilds
     CROSS JOIN LATERAL (
           SELECT state = 'running' AND NOT EXISTS (
                      SELECT 1 FROM pg_locks
                       WHERE locktype = 'advisory' AND granted AND objsubid = 2
                         AND classid = $1::int::oid AND objid = hashtext(projection)::oid)
                  AS interrupted) AS lock";

/// The last rebuild of every projection that was ever rebuilt.
pub async fn statuses(pool: &PgPool) -> Result<Vec<RebuildStatus>, sqlx::Error> {
    sqlx::query_as(&format!("{ROWS} ORDER BY projection"))
        .bind(super::LOCK_CLASS)
        .fetch_all(pool)
        .await
}

/// The last rebuild of `projection`, if any.
pub async fn status(pool: &PgPool, projection: &str) -> Result<Option<RebuildStatus>, sqlx::Error> {
    sqlx::query_as(&format!("{ROWS} WHERE projection = $2"))
        .bind(super::LOCK_CLASS)
        .bind(projection)
        .fetch_optional(pool)
        .await
}

pub(crate) async fn begin(
    pool: &PgPool,
    projection: &str,
    events_total: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO public.projection_rebuilds (projection, state, events_total)
         VALUES ($1, 'running', $2)
         ON CONFLICT (projection) DO UPDATE
            SET state = 'running', events_done = 0, events_total = $2,
                started_at = clock_timestamp(), updated_at = clock_timestamp(),
                finished_at = NULL, error = NULL",
    )
    .bind(projection)
    .bind(events_total)
    .execute(pool)
    .await
    .map(drop)
}

pub(crate) async fn report(
    pool: &PgPool,
    projection: &str,
    events_done: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE public.projection_rebuilds
            SET events_done = $2, events_total = greatest(events_total, $2),
                updated_at = clock_timestamp()
          WHERE projection = $1",
    )
    .bind(projection)
    .bind(events_done)
    .execute(pool)
    .await
    .map(drop)
}

pub(crate) async fn finish(
    pool: &PgPool,
    projection: &str,
    events_done: i64,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE public.projection_rebuilds
            SET state = CASE WHEN $3::text IS NULL THEN 'succeeded' ELSE 'failed' END,
                events_done = $2, events_total = greatest(events_total, $2), error = $3,
                updated_at = clock_timestamp(), finished_at = clock_timestamp()
          WHERE projection = $1",
    )
    .bind(projection)
    .bind(events_done)
    .bind(error)
    .execute(pool)
    .await
    .map(drop)
}
