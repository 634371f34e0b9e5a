//! The relay's lease: exactly one process publishes at a time.
//!
//! The lease is a session-level advisory lock held on a dedicated
//! connection, so it ends when the process or its connection dies and
//! another process takes over within a retry interval. Taking it increments
//! the relay's fencing number; every cursor save names that number (and goes
//! through the lock's own connection), so a process that lost the lease can
//! never move the cursor.

use projections::commit_order::Cursor;
use sqlx::{Connection, PgConnection, PgPool, Row};

/// A held lease and the cursor it starts from.
pub struct Lease {
    conn: PgConnection,
    relay: String,
    fencing: i64,
    cursor: Cursor,
}

/// Why the lease could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another process took over (its fencing number is higher).
    #[error("relay {relay}: the lease was taken over (fencing {fencing} is stale)")]
    Lost {
        /// The relay.
        relay: String,
        /// The fencing number this process held.
        fencing: i64,
    },
    /// The database failed (the lock's connection included).
    #[error("relay lease: {0}")]
    Database(#[from] sqlx::Error),
}

/// The advisory lock key of relay `name` (derived in SQL so every process
/// agrees).
const LOCK: &str = "SELECT pg_try_advisory_lock(hashtextextended('jobsprint.relay:' || $1, 0))";

impl Lease {
    /// Takes the lease of relay `name` if no other process holds it.
    pub async fn try_acquire(
        pool: &PgPool,
        name: &str,
        holder: &str,
    ) -> Result<Option<Lease>, LeaseError> {
        let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
        let locked: bool = sqlx::query_scalar(LOCK)
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
        if !locked {
            let _ = conn.close().await;
            return Ok(None);
        }
        sqlx::query("INSERT INTO relay_cursors (relay) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(name)
            .execute(&mut conn)
            .await?;
        let row = sqlx::query(
            "UPDATE relay_cursors
                SET fencing = fencing + 1, holder = $2, updated_at = clock_timestamp()
              WHERE relay = $1
          RETURNING fencing, transaction_id::text::bigint AS transaction_id, global_position",
        )
        .bind(name)
        .bind(holder)
        .fetch_one(&mut conn)
        .await?;
        Ok(Some(Lease {
            relay: name.to_owned(),
            fencing: row.try_get("fencing")?,
            cursor: Cursor {
                transaction_id: row.try_get::<i64, _>("transaction_id")? as u64,
                global_position: row.try_get("global_position")?,
            },
            conn,
        }))
    }

    /// The cursor of the last event the broker acknowledged.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// This holder's fencing number.
    pub fn fencing(&self) -> i64 {
        self.fencing
    }

    /// Saves `cursor` (every event up to it is acknowledged by the broker).
    pub async fn save(&mut self, cursor: Cursor) -> Result<(), LeaseError> {
        let saved = sqlx::query(
            "UPDATE relay_cursors
                SET transaction_id = $3::text::xid8, global_position = $4,
                    updated_at = clock_timestamp()
              WHERE relay = $1 AND fencing = $2",
        )
        .bind(&self.relay)
        .bind(self.fencing)
        .bind(cursor.transaction_id.to_string())
        .bind(cursor.global_position)
        .execute(&mut self.conn)
        .await?;
        if saved.rows_affected() == 0 {
            return Err(LeaseError::Lost {
                relay: self.relay.clone(),
                fencing: self.fencing,
            });
        }
        self.cursor = cursor;
        Ok(())
    }

    /// Checks that the lock's connection is alive (an idle relay calls this
    /// now and then, so a lost lease is noticed before the next event).
    pub async fn check(&mut self) -> Result<(), LeaseError> {
        self.conn.ping().await?;
        Ok(())
    }

    /// Gives the lease up at once (closing the connection releases the lock).
    pub async fn release(self) {
        let _ = self.conn.close().await;
    }
}
