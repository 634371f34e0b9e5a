//! Poison events a projection could not apply: listing them, and applying
//! one again with the current code once the cause is fixed.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::checkpoint::{self, ProjectionState};
use crate::history::stored_event;
use crate::projector::{ApplyError, Projection};

/// One event a projection could not apply.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Its id, for [`retry_dead_letter`].
    pub id: i64,
    /// The projection that failed.
    pub projection: String,
    /// The event's global position.
    pub global_position: i64,
    /// The event's aggregate type.
    pub aggregate_type: String,
    /// The event's aggregate id.
    pub aggregate_id: String,
    /// The event's sequence in its aggregate.
    pub sequence: i64,
    /// The event's id.
    pub event_id: Uuid,
    /// The event's type.
    pub event_type: String,
    /// What the projection answered, last time it tried.
    pub error: String,
    /// The event's payload.
    pub payload: Value,
    /// How many times it failed.
    pub attempts: i32,
    /// When it last failed.
    pub failed_at: DateTime<Utc>,
}

/// The dead letters of `projection`, oldest event first.
pub async fn list_dead_letters(
    pool: &PgPool,
    projection: &str,
) -> Result<Vec<DeadLetter>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, projection, global_position, aggregate_type, aggregate_id, sequence, event_id,
                event_type, error, payload, attempts, failed_at
           FROM projection_dead_letters
          WHERE projection = $1
          ORDER BY transaction_id, global_position",
    )
    .bind(projection)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(DeadLetter {
                id: row.try_get("id")?,
                projection: row.try_get("projection")?,
                global_position: row.try_get("global_position")?,
                aggregate_type: row.try_get("aggregate_type")?,
                aggregate_id: row.try_get("aggregate_id")?,
                sequence: row.try_get("sequence")?,
                event_id: row.try_get("event_id")?,
                event_type: row.try_get("event_type")?,
                error: row.try_get("error")?,
                payload: row.try_get("payload")?,
                attempts: row.try_get("attempts")?,
                failed_at: row.try_get("failed_at")?,
            })
        })
        .collect()
}

/// Why a retry did not apply the event.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    /// No dead letter of this projection has this id.
    #[error("projection {projection} has no dead letter {id}")]
    NotFound {
        /// The projection.
        projection: String,
        /// The id asked for.
        id: i64,
    },
    /// Applying it now would skip events of its aggregate.
    #[error("{aggregate_type} {aggregate_id}: the projection is at sequence {last}, so sequence {sequence} cannot be applied yet")]
    Gap {
        /// The aggregate type.
        aggregate_type: String,
        /// The aggregate id.
        aggregate_id: String,
        /// The projection's last applied sequence of it.
        last: i64,
        /// The dead letter's sequence.
        sequence: i64,
    },
    /// The projection still cannot apply it; the dead letter now holds
    /// this error.
    #[error("still failing: {0}")]
    StillFailing(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Applies dead letter `id` again with the current code of `projection`,
/// in one transaction with its aggregate's sequence; on success deletes the
/// dead letter and, when the projection was stopped, lets it run again (an
/// event it stopped on now reads as already applied). On failure the dead
/// letter keeps the new error and one more attempt.
///
/// Under the Skip policy later events of the same aggregate may already be
/// applied: the projection's `apply` then sees this one late.
pub async fn retry_dead_letter<P: Projection>(
    pool: &PgPool,
    projection: &P,
    id: i64,
) -> Result<(), RetryError> {
    let mut tx = pool.begin().await?;
    let current = checkpoint::lock(&mut tx, P::NAME).await?;
    let event = sqlx::query(
        "SELECT e.aggregate_type, e.aggregate_id, e.sequence, e.global_position, e.event_id,
                e.event_type, e.event_version, e.payload, e.metadata, e.recorded_at
           FROM projection_dead_letters d
           JOIN events e ON e.aggregate_type = d.aggregate_type
                        AND e.aggregate_id = d.aggregate_id AND e.sequence = d.sequence
          WHERE d.id = $1 AND d.projection = $2
            FOR UPDATE OF d",
    )
    .bind(id)
    .bind(P::NAME)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(event) = event.as_ref().map(stored_event).transpose()? else {
        return Err(RetryError::NotFound {
            projection: P::NAME.to_owned(),
            id,
        });
    };
    let key = (event.aggregate_type.clone(), event.aggregate_id.clone());
    let sequences =
        checkpoint::load_sequences(&mut tx, P::NAME, std::slice::from_ref(&key)).await?;
    let last = sequences.get(&key).copied().unwrap_or(0);
    if event.sequence > last + 1 {
        return Err(RetryError::Gap {
            aggregate_type: event.aggregate_type,
            aggregate_id: event.aggregate_id,
            last,
            sequence: event.sequence,
        });
    }
    if let Err(err) = projection.apply(&mut tx, &event).await {
        tx.rollback().await?;
        return Err(record_failure(pool, id, err).await);
    }
    if event.sequence > last {
        let changed = [(key, event.sequence)].into_iter().collect();
        checkpoint::save_sequences(&mut tx, P::NAME, &changed).await?;
    }
    sqlx::query("DELETE FROM projection_dead_letters WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if current.state == ProjectionState::Stopped {
        checkpoint::set_state(&mut tx, P::NAME, ProjectionState::Running, None).await?;
    }
    tx.commit().await?;
    tracing::info!(
        projection = P::NAME,
        aggregate_id = event.aggregate_id,
        sequence = event.sequence,
        "dead letter applied"
    );
    Ok(())
}

async fn record_failure(pool: &PgPool, id: i64, err: ApplyError) -> RetryError {
    let message = err.to_string();
    let updated = sqlx::query(
        "UPDATE projection_dead_letters
            SET error = $2, attempts = attempts + 1, failed_at = clock_timestamp()
          WHERE id = $1",
    )
    .bind(id)
    .bind(&message)
    .execute(pool)
    .await;
    match updated {
        Ok(_) => RetryError::StillFailing(message),
        Err(db) => RetryError::Database(db),
    }
}
