//! The record contract of the `jobsprint.events` topic: one Kafka record per
//! event, in the CloudEvents Kafka protocol binding, binary mode
//! (docs/events.md). The key is the aggregate id, so one aggregate's events
//! stay in one partition, in order; the value is the event's JSON payload,
//! with the values of `*_hash` fields (password and token hashes) redacted
//! as in the `events` query: a hash is not the secret, but offline guessing
//! needs nothing more. Records carry events in their current version
//! (upcast, `projections::upcast`): `ce_type` and `jobsprint_event_version`
//! name the version the payload has, whatever version the store holds.
//!
//! Everything here is pure, so the mapping both ways is tested without a
//! broker.

use chrono::{DateTime, SecondsFormat, Utc};
use projections::commit_order::{CommittedEvent, Cursor};
use projections::history::{redact_hashes, StoredEvent};
use projections::upcast::current;
use serde_json::Value;
use uuid::Uuid;

/// CloudEvents version of every record.
pub const SPEC_VERSION: &str = "1.0";

/// Header names of the contract. `ce_*` are CloudEvents attributes; the
/// `jobsprint_*` ones are extensions consumers deduplicate and order by.
pub mod header {
    /// CloudEvents version (`1.0`).
    pub const SPEC_VERSION: &str = "ce_specversion";
    /// The event id (a UUID, stable across redeliveries).
    pub const ID: &str = "ce_id";
    /// `jobsprint.<aggregate>.<EventType>.v<version>`.
    pub const TYPE: &str = "ce_type";
    /// `/jobsprint/tenants/<tenant id>`.
    pub const SOURCE: &str = "ce_source";
    /// The aggregate id.
    pub const SUBJECT: &str = "ce_subject";
    /// When the event was recorded (RFC 3339, UTC, microseconds).
    pub const TIME: &str = "ce_time";
    /// `application/json`.
    pub const CONTENT_TYPE: &str = "content-type";
    /// The event's global position in the store (unique).
    pub const POSITION: &str = "jobsprint_position";
    /// The event's sequence within its aggregate, from 1.
    pub const SEQUENCE: &str = "jobsprint_sequence";
    /// The owning tenant.
    pub const TENANT: &str = "jobsprint_tenant";
    /// W3C trace context of the command that wrote the event.
    pub const TRACEPARENT: &str = "traceparent";
    /// The aggregate type as stored (`Workflow`, `Execution`, …).
    pub const AGGREGATE_TYPE: &str = "jobsprint_aggregate_type";
    /// The event type as stored (`StepCompleted`).
    pub const EVENT_TYPE: &str = "jobsprint_event_type";
    /// The payload's schema version: the current one (`1`, `2`, …).
    pub const EVENT_VERSION: &str = "jobsprint_event_version";
    /// The id of the transaction that committed the event: with the
    /// position, the event's place in commit order.
    pub const TRANSACTION: &str = "jobsprint_transaction";
    /// The event's metadata (actor, command, correlation, causation) as JSON.
    pub const METADATA: &str = "jobsprint_metadata";
}

/// A record ready to publish: key, headers in a stable order, value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The aggregate id.
    pub key: String,
    /// Header name and value pairs.
    pub headers: Vec<(&'static str, String)>,
    /// The event's JSON payload.
    pub value: Vec<u8>,
}

/// `jobsprint.execution.StepCompleted.v1` for an `Execution` event
/// `StepCompleted` of version `1` (the one naming rule, shared with the
/// audit exports: [`projections::history::cloudevents_type`]).
pub fn event_type(aggregate_type: &str, event_type: &str, version: &str) -> String {
    projections::history::cloudevents_type(aggregate_type, event_type, version)
}

/// The record of one committed event, upcast to its current version (the
/// relay reads raw events in tests and upcast ones from its source; both
/// publish the same record).
pub fn to_record(committed: &CommittedEvent) -> Record {
    let event = &current(committed.event.clone());
    let tenant = metadata_str(&event.metadata, "tenant_id").unwrap_or_default();
    let mut headers = vec![
        (header::SPEC_VERSION, SPEC_VERSION.to_owned()),
        (header::ID, event.event_id.to_string()),
        (
            header::TYPE,
            event_type(
                &event.aggregate_type,
                &event.event_type,
                &event.event_version,
            ),
        ),
        (header::SOURCE, format!("/jobsprint/tenants/{tenant}")),
        (header::SUBJECT, event.aggregate_id.clone()),
        (header::TIME, format_time(event.recorded_at)),
        (header::CONTENT_TYPE, "application/json".to_owned()),
        (header::POSITION, event.global_position.to_string()),
        (header::SEQUENCE, event.sequence.to_string()),
        (header::TENANT, tenant.to_owned()),
    ];
    if let Some(traceparent) = traceparent(event) {
        headers.push((header::TRACEPARENT, traceparent));
    }
    headers.extend([
        (header::AGGREGATE_TYPE, event.aggregate_type.clone()),
        (header::EVENT_TYPE, event.event_type.clone()),
        (header::EVENT_VERSION, event.event_version.clone()),
        (
            header::TRANSACTION,
            committed.cursor.transaction_id.to_string(),
        ),
        (header::METADATA, event.metadata.to_string()),
    ]);
    Record {
        key: event.aggregate_id.clone(),
        headers,
        value: redact_hashes(event.payload.clone())
            .to_string()
            .into_bytes(),
    }
}

/// Why a record is not a Jobsprint event.
#[derive(Debug, thiserror::Error)]
#[error("record is not a Jobsprint event: {0}")]
pub struct RecordError(pub String);

/// Reads a record back into the committed event it was made from, in its
/// current version (a record published before a schema change is upcast
/// like the store's events). `header` looks a header up by name.
pub fn from_record<'a>(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    header: impl Fn(&str) -> Option<&'a [u8]>,
) -> Result<CommittedEvent, RecordError> {
    let text = |name: &str| -> Result<&'a str, RecordError> {
        let bytes = header(name).ok_or_else(|| RecordError(format!("no {name} header")))?;
        std::str::from_utf8(bytes).map_err(|_| RecordError(format!("{name} is not UTF-8")))
    };
    let number = |name: &str| -> Result<i64, RecordError> {
        text(name)?
            .parse()
            .map_err(|_| RecordError(format!("{name} is not a number")))
    };
    let json = |bytes: &[u8], what: &str| -> Result<Value, RecordError> {
        serde_json::from_slice(bytes).map_err(|err| RecordError(format!("{what}: {err}")))
    };
    let aggregate_id = match key {
        Some(key) => String::from_utf8(key.to_vec())
            .map_err(|_| RecordError("the key is not UTF-8".into()))?,
        None => text(header::SUBJECT)?.to_owned(),
    };
    let event = StoredEvent {
        aggregate_type: text(header::AGGREGATE_TYPE)?.to_owned(),
        aggregate_id,
        sequence: number(header::SEQUENCE)?,
        global_position: number(header::POSITION)?,
        event_id: Uuid::parse_str(text(header::ID)?)
            .map_err(|_| RecordError("ce_id is not a UUID".into()))?,
        event_type: text(header::EVENT_TYPE)?.to_owned(),
        event_version: text(header::EVENT_VERSION)?.to_owned(),
        payload: json(
            value.ok_or_else(|| RecordError("no value".into()))?,
            "value",
        )?,
        metadata: json(text(header::METADATA)?.as_bytes(), header::METADATA)?,
        recorded_at: DateTime::parse_from_rfc3339(text(header::TIME)?)
            .map_err(|_| RecordError("ce_time is not RFC 3339".into()))?
            .with_timezone(&Utc),
    };
    let transaction_id = text(header::TRANSACTION)?
        .parse()
        .map_err(|_| RecordError("jobsprint_transaction is not a number".into()))?;
    Ok(CommittedEvent {
        cursor: Cursor {
            transaction_id,
            global_position: event.global_position,
        },
        event: current(event),
    })
}

fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn metadata_str<'a>(metadata: &'a Value, field: &str) -> Option<&'a str> {
    metadata.get(field).and_then(Value::as_str)
}

/// `00-<trace id>-<parent id>-01` when the event's trace id is a W3C trace
/// id (32 hex digits); the parent id is taken from the event id, so a
/// redelivery carries the same header.
fn traceparent(event: &StoredEvent) -> Option<String> {
    let trace_id = metadata_str(&event.metadata, "trace_id")?;
    let valid = trace_id.len() == 32
        && trace_id.bytes().all(|b| b.is_ascii_hexdigit())
        && trace_id.bytes().any(|b| b != b'0');
    if !valid {
        return None;
    }
    let parent = event.event_id.simple().to_string();
    Some(format!(
        "00-{}-{}-01",
        trace_id.to_ascii_lowercase(),
        &parent[..16]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn committed() -> CommittedEvent {
        CommittedEvent {
            cursor: Cursor {
                transaction_id: 981,
                global_position: 42,
            },
            event: StoredEvent {
                aggregate_type: "Execution".into(),
                aggregate_id: "0b7c6f9e-3f1e-4f57-9a53-1a2b3c4d5e6f".into(),
                sequence: 3,
                global_position: 42,
                event_id: Uuid::parse_str("5f0c2a1e-8d4b-4c3a-9e2f-7a6b5c4d3e2f").unwrap(),
                event_type: "StepCompleted".into(),
                event_version: "1".into(),
                payload: json!({"StepCompleted": {"node_id": "fetch", "attempt": 1}}),
                metadata: json!({
                    "tenant_id": "8e1d6c2b-0000-4000-8000-000000000001",
                    "actor": "user:1",
                    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                }),
                recorded_at: DateTime::parse_from_rfc3339("2026-12-01T10:00:00.123456Z")
                    .unwrap()
                    .with_timezone(&Utc),
            },
        }
    }

    fn get<'a>(record: &'a Record, name: &str) -> Option<&'a str> {
        record
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn records_carry_the_cloudevents_binary_headers() {
        let record = to_record(&committed());
        assert_eq!(record.key, "0b7c6f9e-3f1e-4f57-9a53-1a2b3c4d5e6f");
        assert_eq!(get(&record, "ce_specversion"), Some("1.0"));
        assert_eq!(
            get(&record, "ce_id"),
            Some("5f0c2a1e-8d4b-4c3a-9e2f-7a6b5c4d3e2f")
        );
        assert_eq!(
            get(&record, "ce_type"),
            Some("jobsprint.execution.StepCompleted.v1")
        );
        assert_eq!(
            get(&record, "ce_source"),
            Some("/jobsprint/tenants/8e1d6c2b-0000-4000-8000-000000000001")
        );
        assert_eq!(get(&record, "ce_time"), Some("2026-12-01T10:00:00.123456Z"));
        assert_eq!(get(&record, "jobsprint_position"), Some("42"));
        assert_eq!(get(&record, "jobsprint_sequence"), Some("3"));
        assert_eq!(
            get(&record, "traceparent"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-5f0c2a1e8d4b4c3a-01")
        );
        let value: Value = serde_json::from_slice(&record.value).unwrap();
        assert_eq!(value, committed().event.payload);
    }

    #[test]
    fn a_record_reads_back_into_the_same_event() {
        let original = committed();
        let record = to_record(&original);
        let back = from_record(Some(record.key.as_bytes()), Some(&record.value), |name| {
            get(&record, name).map(str::as_bytes)
        })
        .unwrap();
        assert_eq!(back.event, original.event);
        assert_eq!(back.cursor, original.cursor);
    }

    #[test]
    fn a_record_without_the_headers_is_refused_with_the_missing_one() {
        let err = from_record(Some(b"id"), Some(b"{}"), |_| None).unwrap_err();
        assert!(
            err.to_string().contains("jobsprint_aggregate_type"),
            "{err}"
        );
    }

    #[test]
    fn password_and_token_hashes_never_reach_the_topic() {
        let mut event = committed();
        event.event.payload = json!({"PasswordSet": {"password_hash": "$argon2id$v=19$…"}});
        let value: Value = serde_json::from_slice(&to_record(&event).value).unwrap();
        assert_eq!(
            value,
            json!({"PasswordSet": {"password_hash": "[redacted]"}})
        );
    }

    #[test]
    fn a_stored_v1_event_is_published_as_v2() {
        let mut old = committed();
        old.event.aggregate_type = "Workflow".into();
        old.event.event_type = "WorkflowRenamed".into();
        old.event.payload = json!({"WorkflowRenamed": {"from": "a", "to": "b"}});
        let record = to_record(&old);
        assert_eq!(
            get(&record, "ce_type"),
            Some("jobsprint.workflow.WorkflowRenamed.v2")
        );
        assert_eq!(get(&record, "jobsprint_event_version"), Some("2"));
        let value: Value = serde_json::from_slice(&record.value).unwrap();
        assert_eq!(
            value,
            json!({"WorkflowRenamed": {"previous_name": "a", "name": "b"}})
        );
    }

    #[test]
    fn a_v1_record_from_an_old_relay_reads_back_as_v2() {
        let mut old = committed();
        old.event.aggregate_type = "Workflow".into();
        old.event.event_type = "WorkflowRenamed".into();
        old.event.payload = json!({"WorkflowRenamed": {"from": "a", "to": "b"}});
        let value = old.event.payload.to_string();
        let headers = to_record(&old).headers;
        let header = |name: &str| match name {
            header::EVENT_VERSION => Some("1".as_bytes()),
            _ => headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_bytes()),
        };
        let back = from_record(None, Some(value.as_bytes()), header).unwrap();
        assert_eq!(back.event.event_version, "2");
        assert_eq!(
            back.event.payload,
            json!({"WorkflowRenamed": {"previous_name": "a", "name": "b"}})
        );
    }

    #[test]
    fn no_traceparent_without_a_w3c_trace_id() {
        let mut event = committed();
        event.event.metadata["trace_id"] = json!("not-a-trace");
        assert_eq!(get(&to_record(&event), "traceparent"), None);
    }
}
