//! The events' hash chain: one chain per tenant, in commit order
//! (docs/adr/0013-hash-chain.md).
//!
//! The write path computes nothing: a [`seal::Sealer`] follows commit order
//! and appends each event to `event_chain` with the hash of its audit
//! record ([`crate::record`]), which covers the previous hash of the same
//! tenant. [`verify::verify`] walks every chain again and names the first
//! broken link. `events` and `event_chain` are append-only for the
//! application (migration 0013).

pub mod seal;
pub mod verify;

use chrono::{DateTime, Utc};
use projections::commit_order::Cursor;
use projections::history::{stored_event, StoredEvent};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// Why the chain could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The database failed.
    #[error("the hash chain's tables: {0}")]
    Store(#[from] sqlx::Error),
}

/// One chain row with the event stored at its position now (none when that
/// event is gone).
#[derive(Debug, Clone)]
pub struct ChainedEvent {
    /// The tenant's chain.
    pub tenant_id: Uuid,
    /// Position in the tenant's chain, from 1.
    pub chain_seq: i64,
    /// The global position the chain sealed.
    pub global_position: i64,
    /// The event id the chain sealed.
    pub event_id: Uuid,
    /// The hash before this one.
    pub prev_hash: String,
    /// The hash sealed for this event.
    pub hash: String,
    /// The event stored at `global_position` today.
    pub event: Option<StoredEvent>,
}

/// Which of a tenant's chained events to read.
#[derive(Debug, Clone, Default)]
pub struct ChainFilter {
    /// Events recorded at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Events recorded before this time.
    pub to: Option<DateTime<Utc>>,
    /// Events of this aggregate only.
    pub aggregate_id: Option<String>,
}

/// Up to `limit` chain rows of `tenant` after `after_seq`, in chain order,
/// joined to the events at their positions. Rows whose event is gone are
/// always returned; the filter applies to the others.
pub async fn read_chain(
    pool: &PgPool,
    tenant: Uuid,
    after_seq: i64,
    limit: i64,
    filter: &ChainFilter,
) -> Result<Vec<ChainedEvent>, ChainError> {
    let rows = sqlx::query(
        "SELECT c.tenant_id, c.chain_seq, c.global_position AS chain_position,
                c.event_id AS chain_event_id, c.prev_hash, c.hash,
                e.aggregate_type, e.aggregate_id, e.sequence, e.global_position, e.event_id,
                e.event_type, e.event_version, e.payload, e.metadata, e.recorded_at
           FROM event_chain c
           LEFT JOIN events e ON e.global_position = c.global_position
          WHERE c.tenant_id = $1 AND c.chain_seq > $2
            AND (e.global_position IS NULL OR (
                 ($4::timestamptz IS NULL OR e.recorded_at >= $4)
             AND ($5::timestamptz IS NULL OR e.recorded_at < $5)
             AND ($6::text IS NULL OR e.aggregate_id = $6)))
          ORDER BY c.chain_seq
          LIMIT $3",
    )
    .bind(tenant)
    .bind(after_seq)
    .bind(limit)
    .bind(filter.from)
    .bind(filter.to)
    .bind(filter.aggregate_id.as_deref())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ChainedEvent {
                tenant_id: row.try_get("tenant_id")?,
                chain_seq: row.try_get("chain_seq")?,
                global_position: row.try_get("chain_position")?,
                event_id: row.try_get("chain_event_id")?,
                prev_hash: row.try_get("prev_hash")?,
                hash: row.try_get("hash")?,
                event: optional_event(row)?,
            })
        })
        .collect()
}

/// The sealer's cursor: everything at or before it in commit order is sealed.
pub async fn sealed_through(pool: &PgPool) -> Result<Cursor, ChainError> {
    let row = sqlx::query(
        "SELECT transaction_id::text::bigint AS transaction_id, global_position FROM chain_cursor",
    )
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(row) => Cursor {
            transaction_id: row.try_get::<i64, _>("transaction_id")? as u64,
            global_position: row.try_get("global_position")?,
        },
        None => Cursor::default(),
    })
}

/// Committed or in-flight events after `cursor` (not sealed yet), per
/// chain tenant, counting at most `cap` of them.
pub async fn unsealed_by_tenant(
    pool: &PgPool,
    cursor: Cursor,
    cap: i64,
) -> Result<Vec<(Uuid, i64)>, ChainError> {
    let rows: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT tenant, count(*) FROM (
             SELECT metadata->>'tenant_id' AS tenant FROM events
              WHERE (transaction_id, global_position) > ($1::text::xid8, $2)
              LIMIT $3) unsealed
          GROUP BY tenant",
    )
    .bind(cursor.transaction_id.to_string())
    .bind(cursor.global_position)
    .bind(cap)
    .fetch_all(pool)
    .await?;
    let mut counts: Vec<(Uuid, i64)> = Vec::new();
    for (tenant, count) in rows {
        let tenant = tenant
            .and_then(|text| Uuid::parse_str(&text).ok())
            .unwrap_or(Uuid::nil());
        match counts.iter_mut().find(|(t, _)| *t == tenant) {
            Some((_, total)) => *total += count,
            None => counts.push((tenant, count)),
        }
    }
    Ok(counts)
}

/// Decodes the event columns of a row, `None` when the event is missing.
pub(crate) fn optional_event(row: &PgRow) -> Result<Option<StoredEvent>, sqlx::Error> {
    if row
        .try_get::<Option<String>, _>("aggregate_type")?
        .is_none()
    {
        return Ok(None);
    }
    stored_event(row).map(Some)
}
