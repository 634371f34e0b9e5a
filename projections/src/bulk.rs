//! Writing a whole batch with a few statements without losing track of the
//! event at fault: the batch goes in at once under a savepoint, and only
//! when the database refuses it are the events written one at a time, so
//! that the dead letter names the event that caused the refusal.

use async_trait::async_trait;
use sqlx::PgConnection;

use crate::history::StoredEvent;
use crate::projector::ApplyError;

/// A projection's set-based writer of a batch of due events (in order).
#[async_trait]
pub trait BulkWrite: Send + Sync {
    /// Writes `events` with as few statements as it can. An
    /// [`ApplyError::Rejected`] must name its event exactly; a database
    /// error may come from any of them. Either way the batch's transaction
    /// is rolled back, so what was written before the error does not count.
    async fn write(
        &self,
        conn: &mut PgConnection,
        events: &[&StoredEvent],
    ) -> Result<(), (usize, ApplyError)>;
}

/// Writes `events` with `writer` in one go; should the database refuse the
/// batch, rolls back to before it and writes the events one by one, so the
/// error carries the index of the event the database refused.
pub async fn write_all<W: BulkWrite + ?Sized>(
    writer: &W,
    conn: &mut PgConnection,
    events: &[&StoredEvent],
) -> Result<(), (usize, ApplyError)> {
    if events.len() <= 1 {
        return writer.write(conn, events).await;
    }
    sqlx::query("SAVEPOINT bulk_write")
        .execute(&mut *conn)
        .await
        .map_err(|err| (0, err.into()))?;
    match writer.write(conn, events).await {
        Ok(()) => Ok(()),
        Err((index, err @ ApplyError::Rejected(_))) => Err((index, err)),
        Err((_, ApplyError::Database(_))) => {
            sqlx::query("ROLLBACK TO SAVEPOINT bulk_write")
                .execute(&mut *conn)
                .await
                .map_err(|err| (0, err.into()))?;
            for (index, event) in events.iter().enumerate() {
                writer
                    .write(conn, &[*event])
                    .await
                    .map_err(|(_, err)| (index, err))?;
            }
            Ok(())
        }
    }
}
