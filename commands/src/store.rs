//! The PostgreSQL event repository: postgres-es for reads, our own writes.
//!
//! Writes are ours (docs/adr/0001-postgresql-event-store.md) so that the
//! `command_log` row of a command is written in the same statement as its
//! events (a retried command id is recognised even after a crash) and so the
//! global position of the last event comes back to the caller.
//!
//! Reads return events as stored, in their stored `event_version`: the
//! event store that loads aggregates upcasts them
//! ([`crate::upcast::AggregateUpcaster`], docs/adr/0014-event-upcasting.md).
//!
//! The one exception is personal data: User events and snapshots are
//! sealed just before they are written and opened just after they are read
//! ([`crate::personal`], docs/adr/0016-erasure.md), so upcasters and
//! aggregates see plain values and the tables only ciphertext.

use std::sync::Arc;

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use domain::metadata::{COMMAND_ID, TENANT_ID};

use crate::personal::PersonalData;
use crate::secrets::subject_keys::SubjectKeys;
use crate::secrets::SecretError;
use crate::write_scope;

/// What a command that wrote events left in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The aggregate's version (sequence of its last event) after the command.
    pub version: u64,
    /// The global position of the last event the command wrote.
    pub position: i64,
}

/// A `PersistedEventRepository` over the `events`, `snapshots` and
/// `command_log` tables.
#[derive(Clone)]
pub struct EventRepository {
    pool: PgPool,
    reader: Arc<PostgresEventRepository>,
    personal: PersonalData,
}

impl EventRepository {
    /// A repository on `pool` that seals no personal data (it still reads
    /// erased subjects as erased).
    pub fn new(pool: PgPool) -> Self {
        let keys = Arc::new(SubjectKeys::new(pool.clone(), None));
        Self::sealing(pool, keys)
    }

    /// A repository on `pool` sealing personal data with `keys`.
    pub fn sealing(pool: PgPool, keys: Arc<SubjectKeys>) -> Self {
        Self {
            reader: Arc::new(PostgresEventRepository::new(pool.clone())),
            personal: PersonalData::new(keys),
            pool,
        }
    }

    /// Appends `events` (all of one aggregate, in sequence order) and, when
    /// given, replaces the aggregate's snapshot, in one transaction.
    pub async fn append(
        &self,
        aggregate_type: &str,
        events: &[SerializedEvent],
        snapshot: Option<Snapshot>,
    ) -> Result<(), PersistenceError> {
        let mut snapshot = snapshot;
        let sealed = self
            .personal
            .seal_append(
                aggregate_type,
                events,
                snapshot.as_mut().map(|s| &mut s.payload),
            )
            .await
            .map_err(secret_error)?;
        let events = sealed.as_deref().unwrap_or(events);
        let written = self
            .append_in_tx(aggregate_type, events, snapshot)
            .await
            .map_err(persistence_error)?;
        if let Some(written) = written {
            write_scope::report_written(written);
        }
        Ok(())
    }

    async fn append_in_tx(
        &self,
        aggregate_type: &str,
        events: &[SerializedEvent],
        snapshot: Option<Snapshot>,
    ) -> Result<Option<Written>, sqlx::Error> {
        let Some(first) = events.first() else {
            return Ok(None);
        };
        let command = if write_scope::log_command() {
            meta_uuid(&first.metadata, COMMAND_ID).zip(meta_uuid(&first.metadata, TENANT_ID))
        } else {
            None
        };
        let written = match snapshot {
            // One statement, one round trip, atomic on its own.
            None => insert_events(&self.pool, aggregate_type, events, command).await?,
            Some(snapshot) => {
                let mut tx = self.pool.begin().await?;
                let written = insert_events(&mut *tx, aggregate_type, events, command).await?;
                upsert_snapshot(&mut tx, aggregate_type, &first.aggregate_id, &snapshot).await?;
                tx.commit().await?;
                written
            }
        };
        Ok(Some(written))
    }
}

/// A snapshot to install with a batch of events.
#[derive(Debug)]
pub struct Snapshot {
    /// The aggregate state after the batch, as JSON.
    pub payload: Value,
    /// The sequence of the last event folded into `payload`.
    pub last_sequence: u64,
    /// This snapshot's number: the previous one's plus one.
    pub number: u64,
}

fn meta_uuid(metadata: &Value, key: &str) -> Option<Uuid> {
    metadata.get(key)?.as_str()?.parse().ok()
}

const INSERT_EVENTS: &str = "
WITH inserted AS (
    INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
    SELECT $1, $2, e.sequence, e.event_type, e.event_version, e.payload::json, e.metadata::json
      FROM UNNEST($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[])
        AS e(sequence, event_type, event_version, payload, metadata)
    RETURNING sequence, global_position
), logged AS (
    INSERT INTO command_log (command_id, tenant_id, aggregate_type, aggregate_id, version, position)
    SELECT $8, $9, $1, $2, last.version, last.position
      FROM (SELECT max(sequence) AS version, max(global_position) AS position FROM inserted) AS last
     WHERE $8::uuid IS NOT NULL
    RETURNING version
)
SELECT max(sequence) AS version, max(global_position) AS position FROM inserted";

/// The common case: one event, no command id to record.
const INSERT_ONE_EVENT: &str = "
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
VALUES ($1, $2, $3, $4, $5, $6::json, $7::json)
RETURNING sequence AS version, global_position AS position";

async fn insert_events<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    aggregate_type: &str,
    events: &[SerializedEvent],
    command: Option<(Uuid, Uuid)>,
) -> Result<Written, sqlx::Error> {
    if let ([event], None) = (events, command) {
        let row = sqlx::query(INSERT_ONE_EVENT)
            .bind(aggregate_type)
            .bind(&event.aggregate_id)
            .bind(event.sequence as i64)
            .bind(&event.event_type)
            .bind(&event.event_version)
            .bind(event.payload.to_string())
            .bind(event.metadata.to_string())
            .fetch_one(executor)
            .await?;
        return Ok(Written {
            version: row.get::<i64, _>("version") as u64,
            position: row.get("position"),
        });
    }
    let mut sequences = Vec::with_capacity(events.len());
    let mut types = Vec::with_capacity(events.len());
    let mut versions = Vec::with_capacity(events.len());
    let mut payloads = Vec::with_capacity(events.len());
    let mut metadata = Vec::with_capacity(events.len());
    for event in events {
        sequences.push(event.sequence as i64);
        types.push(event.event_type.as_str());
        versions.push(event.event_version.as_str());
        payloads.push(event.payload.to_string());
        metadata.push(event.metadata.to_string());
    }
    let row = sqlx::query(INSERT_EVENTS)
        .bind(aggregate_type)
        .bind(&events[0].aggregate_id)
        .bind(&sequences)
        .bind(&types)
        .bind(&versions)
        .bind(&payloads)
        .bind(&metadata)
        .bind(command.map(|(command_id, _)| command_id))
        .bind(command.map(|(_, tenant_id)| tenant_id))
        .fetch_one(executor)
        .await?;
    Ok(Written {
        version: row.get::<i64, _>("version") as u64,
        position: row.get("position"),
    })
}

async fn upsert_snapshot(
    tx: &mut sqlx::PgConnection,
    aggregate_type: &str,
    aggregate_id: &str,
    snapshot: &Snapshot,
) -> Result<(), sqlx::Error> {
    // The snapshot number is compare-and-set: two writers that both saw
    // snapshot n cannot both install n + 1.
    let result = sqlx::query(
        "INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, current_snapshot, payload)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
            SET last_sequence = EXCLUDED.last_sequence,
                current_snapshot = EXCLUDED.current_snapshot,
                payload = EXCLUDED.payload
          WHERE snapshots.current_snapshot = EXCLUDED.current_snapshot - 1",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(snapshot.last_sequence as i64)
    .bind(snapshot.number as i64)
    .bind(&snapshot.payload)
    .execute(&mut *tx)
    .await?;
    if result.rows_affected() == 0 {
        return Err(sqlx::Error::RowNotFound);
    }
    Ok(())
}

fn secret_error(err: SecretError) -> PersistenceError {
    match err {
        SecretError::Database(err) => persistence_error(err),
        other => PersistenceError::UnknownError(Box::new(other)),
    }
}

/// A stored personal field that does not open is an unreadable event.
fn unreadable(err: SecretError) -> PersistenceError {
    match err {
        SecretError::Database(err) => persistence_error(err),
        other => PersistenceError::DeserializationError(Box::new(other)),
    }
}

fn persistence_error(err: sqlx::Error) -> PersistenceError {
    match &err {
        // A unique violation is another writer (or the same command id) that
        // got there first; a lost snapshot compare-and-set is the same race.
        sqlx::Error::RowNotFound => PersistenceError::OptimisticLockError,
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            PersistenceError::OptimisticLockError
        }
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => {
            PersistenceError::ConnectionError(Box::new(err))
        }
        _ => PersistenceError::UnknownError(Box::new(err)),
    }
}

impl PersistedEventRepository for EventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let events = self.reader.get_events::<A>(aggregate_id).await?;
        self.personal
            .open_events(A::TYPE, events)
            .await
            .map_err(unreadable)
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        // postgres-es inlines the sequence into the SQL text, which defeats
        // the prepared-statement cache; this is the same query, bound.
        let rows = sqlx::query(
            "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
               FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3
              ORDER BY sequence",
        )
        .bind(A::TYPE)
        .bind(aggregate_id)
        .bind(last_sequence as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(persistence_error)?;
        let events = rows
            .iter()
            .map(|row| {
                Ok(SerializedEvent::new(
                    row.try_get("aggregate_id")?,
                    row.try_get::<i64, _>("sequence")? as usize,
                    row.try_get("aggregate_type")?,
                    row.try_get("event_type")?,
                    row.try_get("event_version")?,
                    row.try_get("payload")?,
                    row.try_get("metadata")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(persistence_error)?;
        self.personal
            .open_events(A::TYPE, events)
            .await
            .map_err(unreadable)
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        let Some(snapshot) = self.reader.get_snapshot::<A>(aggregate_id).await? else {
            return Ok(None);
        };
        self.personal
            .open_snapshot(A::TYPE, snapshot)
            .await
            .map(Some)
            .map_err(unreadable)
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        // Only reached through cqrs-es's own PersistedEventStore, which we do
        // not commit through (see crate::event_store); kept correct anyway.
        let last_sequence = events.last().map_or(0, |e| e.sequence as u64);
        let snapshot = snapshot_update.map(|(_, payload, number)| Snapshot {
            payload,
            last_sequence,
            number: number as u64,
        });
        self.append(A::TYPE, events, snapshot).await
    }

    /// Events as stored: User payloads stay sealed (nothing here replays
    /// through cqrs-es's streams).
    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.reader.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.reader.stream_all_events::<A>().await
    }
}
