//! The raw, ordered history of one aggregate, as auditors and the `events`
//! query see it.
//!
//! Raw means as stored: an event keeps the `event_version` and payload it
//! was written with, never upcast (audit exports and hash chains hash these
//! bytes). Readers that interpret events upcast them with
//! [`crate::upcast`] (docs/adr/0014-event-upcasting.md).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// One stored event with everything the store knows about it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The aggregate's type (`Workflow`, `Integration`, `Execution`).
    pub aggregate_type: String,
    /// The aggregate's id.
    pub aggregate_id: String,
    /// Position within the aggregate, from 1.
    pub sequence: i64,
    /// Position in the whole store (unique, not commit order).
    pub global_position: i64,
    /// Stable id of the event.
    pub event_id: Uuid,
    /// Event type name, e.g. `WorkflowPublished`.
    pub event_type: String,
    /// Event schema version.
    pub event_version: String,
    /// The event's JSON payload (secrets only as ciphertext).
    pub payload: Value,
    /// Tenant, actor, command, correlation, causation and trace ids.
    pub metadata: Value,
    /// When the event was written.
    pub recorded_at: DateTime<Utc>,
}

/// The CloudEvents `type` of an event: `jobsprint.execution.StepCompleted.v1`
/// for an `Execution` event `StepCompleted` of version `1` (or `1.2`). The
/// events topic and the audit exports both name events this way.
pub fn cloudevents_type(aggregate_type: &str, event_type: &str, version: &str) -> String {
    let version = version.split('.').next().unwrap_or(version);
    format!(
        "jobsprint.{}.{event_type}.v{version}",
        aggregate_type.to_ascii_lowercase()
    )
}

/// A page of one aggregate's history.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// Events in sequence order.
    pub events: Vec<StoredEvent>,
    /// Whether events follow the last one returned.
    pub has_more: bool,
}

/// Reads up to `first` events of one aggregate with a sequence above `after`,
/// only if the aggregate belongs to `tenant_id` (another tenant's aggregate
/// reads as empty, exactly like a missing one).
pub async fn aggregate_history(
    pool: &PgPool,
    tenant_id: Uuid,
    aggregate_type: &str,
    aggregate_id: &str,
    after: i64,
    first: i64,
) -> Result<HistoryPage, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT aggregate_type, aggregate_id, sequence, global_position, event_id, event_type,
                event_version, payload, metadata, recorded_at
           FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3
            AND metadata->>'tenant_id' = $4
          ORDER BY sequence
          LIMIT $5",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(after)
    .bind(tenant_id.to_string())
    .bind(first + 1)
    .fetch_all(pool)
    .await?;
    let has_more = rows.len() as i64 > first;
    let events = rows
        .iter()
        .take(first as usize)
        .map(stored_event)
        .collect::<Result<_, _>>()?;
    Ok(HistoryPage { events, has_more })
}

/// The event of a row that selects the `events` columns by their names
/// (`aggregate_type` … `recorded_at`).
pub fn stored_event(row: &sqlx::postgres::PgRow) -> Result<StoredEvent, sqlx::Error> {
    Ok(StoredEvent {
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        global_position: row.try_get("global_position")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
        recorded_at: row.try_get("recorded_at")?,
    })
}

/// Replaces the value of every `*_hash` field (password, token, invitation
/// and refresh hashes of identity events) before history leaves the server (the
/// `events` query, the Kafka topic):
/// a hash is not the secret, but offline guessing needs nothing more.
pub fn redact_hashes(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    if key.ends_with("_hash") && !value.is_null() {
                        (key, Value::String(REDACTED.to_owned()))
                    } else {
                        (key, redact_hashes(value))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact_hashes).collect()),
        other => other,
    }
}

/// What a redacted value reads as.
pub const REDACTED: &str = "[redacted]";
