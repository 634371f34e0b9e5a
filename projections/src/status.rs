//! Where every projection stands: state, position, lag and dead letters, as
//! the `projections` query and `/metrics` show them; and waiting until a
//! projection has reached a position (read-your-writes).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use crate::checkpoint::{self, ProjectionState};
use crate::commit_order::Cursor;

/// The status of one projection.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionStatus {
    /// Its name.
    pub name: String,
    /// Running, stopped or failed.
    pub state: ProjectionState,
    /// Why it halted, when it did.
    pub error: Option<String>,
    /// The commit-order cursor of the last event it handled; its
    /// `global_position` is the position clients see.
    pub cursor: Cursor,
    /// Committed events beyond its cursor.
    pub lag_events: i64,
    /// Age of the oldest committed event beyond its cursor (0 when none).
    pub lag_seconds: f64,
    /// Events in its dead-letter table.
    pub dead_letters: i64,
    /// When its checkpoint last changed.
    pub updated_at: DateTime<Utc>,
}

const STATUS: &str = "
SELECT c.projection, c.state, c.error, c.updated_at,
       c.transaction_id::text::bigint AS transaction_id, c.global_position,
       lag.events AS lag_events,
       coalesce(extract(epoch FROM clock_timestamp() - lag.oldest)::float8, 0) AS lag_seconds,
       (SELECT count(*) FROM projection_dead_letters d WHERE d.projection = c.projection)
           AS dead_letters
  FROM projection_checkpoints c
  CROSS JOIN LATERAL (
       SELECT count(*) AS events, min(e.recorded_at) AS oldest
         FROM events e
        WHERE (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)
  ) AS lag
 WHERE $1::text IS NULL OR c.projection = $1
 ORDER BY c.projection";

/// The status of every projection that ever ran, by name.
pub async fn projection_statuses(pool: &PgPool) -> Result<Vec<ProjectionStatus>, sqlx::Error> {
    statuses(pool, None).await
}

/// The status of one projection, if it ever ran.
pub async fn projection_status(
    pool: &PgPool,
    projection: &str,
) -> Result<Option<ProjectionStatus>, sqlx::Error> {
    Ok(statuses(pool, Some(projection)).await?.pop())
}

async fn statuses(
    pool: &PgPool,
    projection: Option<&str>,
) -> Result<Vec<ProjectionStatus>, sqlx::Error> {
    let rows = sqlx::query(STATUS).bind(projection).fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            Ok(ProjectionStatus {
                name: row.try_get("projection")?,
                state: ProjectionState::parse(row.try_get("state")?)?,
                error: row.try_get("error")?,
                cursor: Cursor {
                    transaction_id: row.try_get::<i64, _>("transaction_id")? as u64,
                    global_position: row.try_get("global_position")?,
                },
                lag_events: row.try_get("lag_events")?,
                lag_seconds: row.try_get("lag_seconds")?,
                dead_letters: row.try_get("dead_letters")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .collect()
}

/// Sets the lag gauges of one status:
/// `jobsprint_projection_lag_events{projection}` and
/// `jobsprint_projection_lag_seconds{projection}`.
pub fn record_metrics(status: &ProjectionStatus) {
    let name = status.name.clone();
    metrics::gauge!("jobsprint_projection_lag_events", "projection" => name.clone())
        .set(status.lag_events as f64);
    metrics::gauge!("jobsprint_projection_lag_seconds", "projection" => name)
        .set(status.lag_seconds);
}

/// Reads the status of `projection` and records its gauges.
pub(crate) async fn refresh_metrics(pool: &PgPool, projection: &str) -> Result<(), sqlx::Error> {
    if let Some(status) = projection_status(pool, projection).await? {
        record_metrics(&status);
    }
    Ok(())
}

/// Makes the dead-letter counter of `projection` show (at 0) before its
/// first dead letter.
pub(crate) fn register_metrics(projection: &'static str) {
    metrics::counter!("jobsprint_projection_dead_letters_total", "projection" => projection)
        .increment(0);
}

/// Counts events sent to the dead-letter table:
/// `jobsprint_projection_dead_letters_total{projection}`.
pub(crate) fn count_dead_letters(projection: &'static str, count: usize) {
    if count > 0 {
        metrics::counter!("jobsprint_projection_dead_letters_total", "projection" => projection)
            .increment(count as u64);
    }
}

/// Why [`wait_for_position`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// No event has this global position.
    #[error("no event has position {0}")]
    UnknownPosition(i64),
    /// The projection halted before reaching it.
    #[error("projection {projection} is {state}: {error}")]
    Halted {
        /// The projection.
        projection: String,
        /// Stopped or failed.
        state: ProjectionState,
        /// Why.
        error: String,
    },
    /// The time ran out first.
    #[error(
        "projection {projection} did not reach position {position} in time (it is at {reached})"
    )]
    Timeout {
        /// The projection.
        projection: String,
        /// The position waited for.
        position: i64,
        /// The global position of its checkpoint.
        reached: i64,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Whether `projection` has applied the event `(aggregate type, id,
/// sequence)`, as far as its aggregate sequences tell: it has, when its
/// sequence of that aggregate reached it, or when it tracks no aggregate of
/// that type (it does not read them).
async fn applied(
    pool: &PgPool,
    projection: &str,
    (aggregate_type, aggregate_id, sequence): (&str, &str, i64),
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(
                  (SELECT last_sequence >= $4 FROM projection_aggregate_sequences
                    WHERE projection = $1 AND aggregate_type = $2 AND aggregate_id = $3),
                  NOT EXISTS (SELECT 1 FROM projection_aggregate_sequences
                               WHERE projection = $1 AND aggregate_type = $2))",
    )
    .bind(projection)
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(sequence)
    .fetch_one(pool)
    .await
}

/// Waits until `projection` has handled the event at global `position`, at
/// most `timeout`. Its checkpoint must have reached the event's place in
/// commit order, and its sequence of the event's aggregate the event: a
/// Kafka source with several partitions keeps only each aggregate's order,
/// so the checkpoint (the furthest event handled) alone could pass an event
/// of a lagging partition.
/// Position 0 or less is reached at once.
pub async fn wait_for_position(
    pool: &PgPool,
    projection: &str,
    position: i64,
    timeout: Duration,
) -> Result<(), WaitError> {
    if position <= 0 {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let target: Option<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, aggregate_type, aggregate_id, sequence
           FROM events WHERE global_position = $1",
    )
    .bind(position)
    .fetch_optional(pool)
    .await?;
    let Some((transaction_id, aggregate_type, aggregate_id, sequence)) = target else {
        return Err(WaitError::UnknownPosition(position));
    };
    let target = Cursor {
        transaction_id: transaction_id as u64,
        global_position: position,
    };
    let event = (aggregate_type.as_str(), aggregate_id.as_str(), sequence);
    let mut pause = Duration::from_millis(2);
    loop {
        let current = checkpoint::read(pool, projection).await?;
        let reached = current.as_ref().map_or(0, |c| c.cursor.global_position);
        if let Some(current) = current {
            if current.cursor >= target && applied(pool, projection, event).await? {
                return Ok(());
            }
            if current.state != ProjectionState::Running {
                return Err(WaitError::Halted {
                    projection: projection.to_owned(),
                    state: current.state,
                    error: current.error.unwrap_or_default(),
                });
            }
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(WaitError::Timeout {
                projection: projection.to_owned(),
                position,
                reached,
            });
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
