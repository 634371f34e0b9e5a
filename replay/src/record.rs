//! The audit record of one event: the CloudEvents JSON object that
//! `jobsprint replay export` prints, and that the hash chain hashes.
//!
//! `jobsprinthash = sha256_hex(canonical_json(record without jobsprinthash))`,
//! so the chain covers every stored field of the event (payload, metadata,
//! ids, position, sequence, type, version, time) plus its place in its
//! tenant's chain and the previous hash. Built from the RAW stored event,
//! never an upcast one: a hash must not change when the code does.

use chrono::{DateTime, SecondsFormat, Utc};
use projections::history::{cloudevents_type, StoredEvent};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::canonical::{canonical_json, sha256_hex};

/// The previous hash of a tenant's first event: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The attribute that holds a record's own hash.
pub const HASH_KEY: &str = "jobsprinthash";

/// Where an event sits in its tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    /// The tenant whose chain holds the event.
    pub tenant_id: Uuid,
    /// Position in that chain, from 1.
    pub chain_seq: i64,
    /// The hash of the event before it (or [`GENESIS_HASH`]).
    pub prev_hash: String,
}

/// The tenant whose chain an event belongs to: `metadata.tenant_id` when it
/// is a UUID, else the nil UUID (the chain of events without a tenant).
pub fn chain_tenant(event: &StoredEvent) -> Uuid {
    event
        .metadata
        .get("tenant_id")
        .and_then(Value::as_str)
        .and_then(|text| Uuid::parse_str(text).ok())
        .unwrap_or(Uuid::nil())
}

/// The record of `event` at `link`, without its hash.
pub fn unsealed_record(event: &StoredEvent, link: &ChainLink) -> Map<String, Value> {
    let tenant = link.tenant_id.to_string();
    let mut record = Map::new();
    let mut put = |key: &str, value: Value| {
        record.insert(key.to_owned(), value);
    };
    put("specversion", "1.0".into());
    put("id", event.event_id.to_string().into());
    put("source", format!("/jobsprint/tenants/{tenant}").into());
    put(
        "type",
        cloudevents_type(
            &event.aggregate_type,
            &event.event_type,
            &event.event_version,
        )
        .into(),
    );
    put("subject", event.aggregate_id.clone().into());
    put("time", format_time(event.recorded_at).into());
    put("datacontenttype", "application/json".into());
    put("data", digest_secret_hashes(event.payload.clone()));
    put("jobsprinttenant", tenant.into());
    put(
        "jobsprintaggregatetype",
        event.aggregate_type.clone().into(),
    );
    put("jobsprintversion", event.event_version.clone().into());
    put("jobsprintposition", event.global_position.into());
    put("jobsprintsequence", event.sequence.into());
    put("jobsprintchainseq", link.chain_seq.into());
    put("jobsprintmetadata", canonical_json(&event.metadata).into());
    put("jobsprintprevhash", link.prev_hash.clone().into());
    record
}

/// The hash of a record without its hash attribute.
pub fn record_hash(unsealed: &Map<String, Value>) -> String {
    // Cloning a map is cheap next to hashing it, and keeps callers simple.
    let mut copy = unsealed.clone();
    copy.remove(HASH_KEY);
    sha256_hex(&canonical_json(&Value::Object(copy)))
}

/// The hash `event` gets at `link`.
pub fn event_hash(event: &StoredEvent, link: &ChainLink) -> String {
    sha256_hex(&canonical_json(&Value::Object(unsealed_record(
        event, link,
    ))))
}

/// The full export line of `event` at `link` carrying `hash` (the stored
/// one: an export shows what the chain recorded, never a recomputation).
pub fn export_line(event: &StoredEvent, link: &ChainLink, hash: &str) -> String {
    let mut record = unsealed_record(event, link);
    record.insert(HASH_KEY.to_owned(), hash.into());
    canonical_json(&Value::Object(record))
}

/// RFC 3339, UTC, microseconds, `Z` (the precision PostgreSQL stores).
fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Replaces the value of every `*_hash` field (password, token and
/// invitation hashes) with `sha256:<hex of its canonical JSON>`: such hashes
/// never leave the server (offline guessing needs nothing more), yet the
/// chain still covers them, since changing one changes its digest.
fn digest_secret_hashes(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    if key.ends_with("_hash") && !value.is_null() {
                        let digest = sha256_hex(&canonical_json(&value));
                        (key, Value::String(format!("sha256:{digest}")))
                    } else {
                        (key, digest_secret_hashes(value))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(digest_secret_hashes).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> StoredEvent {
        StoredEvent {
            aggregate_type: "Execution".into(),
            aggregate_id: "0b7c6f9e-3f1e-4f57-9a53-1a2b3c4d5e6f".into(),
            sequence: 3,
            global_position: 42,
            event_id: Uuid::from_u128(0x5f0c2a1e_8d4b_4c3a_9e2f_7a6b5c4d3e2f),
            event_type: "StepCompleted".into(),
            event_version: "1".into(),
            payload: json!({"StepCompleted": {"node_id": "fetch", "attempt": 1}}),
            metadata: json!({"tenant_id": "8e1d6c2b-0000-4000-8000-000000000001", "actor": "user:1"}),
            recorded_at: DateTime::parse_from_rfc3339("2026-12-01T10:00:00.1234Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
        }
    }

    fn link(event: &StoredEvent) -> ChainLink {
        ChainLink {
            tenant_id: chain_tenant(event),
            chain_seq: 7,
            prev_hash: GENESIS_HASH.into(),
        }
    }

    #[test]
    fn the_record_is_a_cloudevent_with_the_chain_attributes() {
        let event = event();
        let record = Value::Object(unsealed_record(&event, &link(&event)));
        assert_eq!(record["type"], "jobsprint.execution.StepCompleted.v1");
        assert_eq!(
            record["source"],
            "/jobsprint/tenants/8e1d6c2b-0000-4000-8000-000000000001"
        );
        assert_eq!(record["time"], "2026-12-01T10:00:00.123400Z");
        assert_eq!(record["jobsprintposition"], 42);
        assert_eq!(record["jobsprintchainseq"], 7);
        assert_eq!(
            record["jobsprintmetadata"],
            r#"{"actor":"user:1","tenant_id":"8e1d6c2b-0000-4000-8000-000000000001"}"#
        );
        assert_eq!(record["data"], event.payload);
        assert!(record.get(HASH_KEY).is_none());
    }

    #[test]
    fn the_export_line_carries_the_hash_of_the_rest() {
        let event = event();
        let link = link(&event);
        let hash = event_hash(&event, &link);
        let line: Value =
            serde_json::from_str(&export_line(&event, &link, &hash)).unwrap_or_default();
        let Value::Object(map) = line else {
            panic!("not an object")
        };
        assert_eq!(map[HASH_KEY], hash.as_str());
        assert_eq!(record_hash(&map), hash);
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = event();
        let link = link(&base);
        let hash = event_hash(&base, &link);
        let mut changed = Vec::new();
        let mut e = base.clone();
        e.payload["StepCompleted"]["attempt"] = json!(2);
        changed.push(e);
        let mut e = base.clone();
        e.metadata["actor"] = json!("user:2");
        changed.push(e);
        let mut e = base.clone();
        e.event_version = "1.1".into();
        changed.push(e);
        let mut e = base.clone();
        e.sequence = 4;
        changed.push(e);
        let mut e = base.clone();
        e.recorded_at += chrono::Duration::microseconds(1);
        changed.push(e);
        for event in changed {
            assert_ne!(event_hash(&event, &link), hash, "{event:?}");
        }
        let other = ChainLink {
            prev_hash: "1".repeat(64),
            ..link
        };
        assert_ne!(event_hash(&base, &other), hash);
    }

    #[test]
    fn secret_hashes_leave_only_as_digests_the_chain_still_covers() {
        let mut event = event();
        event.payload =
            json!({"PasswordSet": {"password_hash": "$argon2id$v=19$abc", "note_hash": null}});
        let link = link(&event);
        let record = Value::Object(unsealed_record(&event, &link));
        let digest = record["data"]["PasswordSet"]["password_hash"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(digest.starts_with("sha256:"), "{digest}");
        assert!(!record.to_string().contains("argon2id"));
        assert_eq!(record["data"]["PasswordSet"]["note_hash"], Value::Null);
        let before = event_hash(&event, &link);
        event.payload["PasswordSet"]["password_hash"] = json!("$argon2id$v=19$abd");
        assert_ne!(event_hash(&event, &link), before);
    }

    #[test]
    fn events_without_a_uuid_tenant_chain_under_the_nil_tenant() {
        let mut event = event();
        event.metadata = json!({"tenant_id": "not-a-uuid"});
        assert_eq!(chain_tenant(&event), Uuid::nil());
        event.metadata = json!({});
        assert_eq!(chain_tenant(&event), Uuid::nil());
    }
}
