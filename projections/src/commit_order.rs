//! Reading the whole store in commit order without ever skipping an event.
//!
//! Rows are read only below `pg_snapshot_xmin(pg_current_snapshot())`, in
//! `(transaction_id, global_position)` order: every transaction below that
//! horizon has committed or rolled back, so nothing can later appear behind
//! the cursor (shared NOTES.md, "Global order on PostgreSQL"). The relay and
//! the projectors of later issues resume from a [`Cursor`].
//!
//! Events come back **as stored** (their stored `event_version` and
//! payload): the hash-chain sealer and the audit export hash these bytes.
//! Do not upcast here; [`crate::source::StoreSource`] and the other
//! interpreting readers upcast after reading ([`crate::upcast`]).

use sqlx::{PgPool, Row};

use crate::history::{stored_event, StoredEvent};

/// A position in commit order: the last event read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor {
    /// The transaction id (xid8) of the last event read.
    pub transaction_id: u64,
    /// Its global position.
    pub global_position: i64,
}

/// One event with its commit-order cursor.
#[derive(Debug, Clone)]
pub struct CommittedEvent {
    /// Where this event sits in commit order.
    pub cursor: Cursor,
    /// The event.
    pub event: StoredEvent,
}

/// Reads up to `limit` committed events after `after`, in commit order.
pub async fn read_committed(
    pool: &PgPool,
    after: Cursor,
    limit: i64,
) -> Result<Vec<CommittedEvent>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT aggregate_type, aggregate_id, sequence, global_position, event_id, event_type,
                event_version, payload, metadata, recorded_at,
                transaction_id::text::bigint AS transaction_id
           FROM events
          WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
            AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY events.transaction_id, events.global_position
          LIMIT $3",
    )
    .bind(after.transaction_id.to_string())
    .bind(after.global_position)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(CommittedEvent {
                cursor: Cursor {
                    transaction_id: row.try_get::<i64, _>("transaction_id")? as u64,
                    global_position: row.try_get("global_position")?,
                },
                event: stored_event(row)?,
            })
        })
        .collect()
}
