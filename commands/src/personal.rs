//! Personal data in the stored User events and snapshots: sealed by the
//! repository ([`crate::store`]) just before it writes them, opened just
//! after it reads them, so `domain` and every reader that folds users see
//! plain values while `events`, `snapshots`, Kafka records and exports hold
//! only ciphertext (docs/adr/0016-erasure.md).
//!
//! The sealed fields are `email` and `display_name` of any object one level
//! down in the payload: `{"UserCreated": {"email": ...}}` in events,
//! `{"account": {"email": ...}}` in snapshots. A sealed value is
//! `{"sealed": {"key_id", "algorithm", "nonce", "ciphertext"}}` (base64,
//! AES-256-GCM under the subject's key, bound to the subject and the field
//! name). Plain strings (written before sealing, or without master keys)
//! are read as they are. Once the subject is erased, every such field
//! reads as [`erased_email`] or [`ERASED_DISPLAY_NAME`].

use std::sync::Arc;

use cqrs_es::persist::{SerializedEvent, SerializedSnapshot};
use domain::ids::TenantId;
use domain::integration::SealedSecret;
use domain::metadata::TENANT_ID;
use serde_json::{json, Map, Value};

use crate::secrets::subject_keys::{Opening, SubjectKeys};
use crate::secrets::SecretError;

/// The aggregate whose payloads carry personal data.
pub const AGGREGATE_TYPE: &str = "User";

/// The personal fields, sealed wherever they appear one level down.
pub const FIELDS: [&str; 2] = ["email", "display_name"];

/// The key of a sealed value's object.
pub const SEALED: &str = "sealed";

/// What an erased display name reads as.
pub const ERASED_DISPLAY_NAME: &str = "[erased]";

/// What the erased email of `subject` reads as: unique per subject and in
/// a reserved domain, so it parses as an address and reaches no one.
pub fn erased_email(subject: &str) -> String {
    format!("erased-{subject}@erased.invalid")
}

/// Seals and opens the User payloads the repository writes and reads.
#[derive(Debug, Clone)]
pub(crate) struct PersonalData {
    keys: Arc<SubjectKeys>,
}

impl PersonalData {
    /// Personal data sealed with `keys`.
    pub(crate) fn new(keys: Arc<SubjectKeys>) -> Self {
        Self { keys }
    }

    /// The events of one append of `aggregate_type` with their personal
    /// fields sealed, and the snapshot written with them sealed in place;
    /// `None` when nothing is sealed (another aggregate, no personal value,
    /// no master keys): the events are written as given. An erased
    /// subject's events are refused, its snapshot keeps placeholders only.
    pub(crate) async fn seal_append(
        &self,
        aggregate_type: &str,
        events: &[SerializedEvent],
        snapshot: Option<&mut Value>,
    ) -> Result<Option<Vec<SerializedEvent>>, SecretError> {
        let Some(first) = events.first() else {
            return Ok(None);
        };
        if aggregate_type != AGGREGATE_TYPE {
            return Ok(None);
        }
        let tenant = first
            .metadata
            .get(TENANT_ID)
            .and_then(Value::as_str)
            .and_then(|text| text.parse().ok())
            .map(TenantId)
            .ok_or(SecretError::NoTenant)?;
        let plain_events = events.iter().any(|e| has_plain_fields(&e.payload));
        let plain_snapshot = snapshot.as_deref().is_some_and(has_plain_fields);
        if !(plain_events || plain_snapshot) {
            return Ok(None);
        }
        let subject = first.aggregate_id.as_str();
        let key = match self.keys.sealing_key(tenant, subject).await {
            Ok(Some(key)) => key,
            Ok(None) => return Ok(None),
            Err(SecretError::SubjectErased) if !plain_events => {
                if let Some(payload) = snapshot {
                    visit(payload, &mut |field, value| {
                        *value = placeholder(subject, field);
                        Ok(())
                    })?;
                }
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        let mut sealed = events.to_vec();
        for payload in sealed.iter_mut().map(|e| &mut e.payload).chain(snapshot) {
            visit(payload, &mut |field, value| {
                if let Value::String(plain) = value {
                    *value = sealed_value(&key.seal(subject, field, plain));
                }
                Ok(())
            })?;
        }
        Ok(Some(sealed))
    }

    /// `events` (of one aggregate of `aggregate_type`) with personal fields
    /// opened, or replaced by placeholders once the subject is erased.
    pub(crate) async fn open_events(
        &self,
        aggregate_type: &str,
        mut events: Vec<SerializedEvent>,
    ) -> Result<Vec<SerializedEvent>, SecretError> {
        if aggregate_type != AGGREGATE_TYPE || !events.iter().any(|e| has_fields(&e.payload)) {
            return Ok(events);
        }
        let subject = events[0].aggregate_id.clone();
        let opening = self.keys.opening(&subject).await?;
        for event in &mut events {
            open_payload(&opening, &subject, &mut event.payload)?;
        }
        Ok(events)
    }

    /// A snapshot of `aggregate_type` with personal fields opened.
    pub(crate) async fn open_snapshot(
        &self,
        aggregate_type: &str,
        mut snapshot: SerializedSnapshot,
    ) -> Result<SerializedSnapshot, SecretError> {
        if aggregate_type != AGGREGATE_TYPE || !has_fields(&snapshot.aggregate) {
            return Ok(snapshot);
        }
        let opening = self.keys.opening(&snapshot.aggregate_id).await?;
        open_payload(&opening, &snapshot.aggregate_id, &mut snapshot.aggregate)?;
        Ok(snapshot)
    }
}

fn open_payload(opening: &Opening, subject: &str, payload: &mut Value) -> Result<(), SecretError> {
    visit(payload, &mut |field, value| {
        if matches!(opening, Opening::Erased) {
            *value = placeholder(subject, field);
            return Ok(());
        }
        let Some(sealed) = as_sealed(value)? else {
            return Ok(());
        };
        let plain = match opening {
            Opening::Live(key) => key.open(subject, field, &sealed)?,
            Opening::Absent => return Err(SecretError::UnknownKey(sealed.key_id)),
            Opening::Locked {
                key_id,
                master_key_id,
            } => {
                return Err(SecretError::UnknownMasterKey {
                    key_id: key_id.clone(),
                    master_key_id: master_key_id.clone(),
                })
            }
            Opening::Erased => return Ok(()),
        };
        *value = Value::String(plain.expose().to_owned());
        Ok(())
    })
}

/// Calls `f` on every personal field one level down in `payload`.
fn visit(
    payload: &mut Value,
    f: &mut dyn FnMut(&'static str, &mut Value) -> Result<(), SecretError>,
) -> Result<(), SecretError> {
    let Value::Object(outer) = payload else {
        return Ok(());
    };
    for inner in outer.values_mut() {
        let Value::Object(inner) = inner else {
            continue;
        };
        for field in FIELDS {
            if let Some(value) = inner.get_mut(field) {
                f(field, value)?;
            }
        }
    }
    Ok(())
}

fn fields(payload: &Value) -> impl Iterator<Item = &Value> {
    payload
        .as_object()
        .into_iter()
        .flat_map(Map::values)
        .filter_map(Value::as_object)
        .flat_map(|inner| FIELDS.iter().filter_map(|field| inner.get(*field)))
}

fn has_fields(payload: &Value) -> bool {
    fields(payload).next().is_some()
}

fn has_plain_fields(payload: &Value) -> bool {
    fields(payload).any(Value::is_string)
}

fn sealed_value(sealed: &SealedSecret) -> Value {
    json!({ SEALED: sealed })
}

/// The sealed secret in `value`, if it is one; an object that is not a
/// well-formed sealed value is refused.
fn as_sealed(value: &Value) -> Result<Option<SealedSecret>, SecretError> {
    let Some(inner) = value.as_object().and_then(|object| object.get(SEALED)) else {
        return Ok(None);
    };
    serde_json::from_value(inner.clone())
        .map(Some)
        .map_err(|_| SecretError::Undecryptable)
}

fn placeholder(subject: &str, field: &str) -> Value {
    Value::String(if field == "email" {
        erased_email(subject)
    } else {
        ERASED_DISPLAY_NAME.to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fields_one_level_down_only() {
        let event =
            json!({"UserCreated": {"email": "a@b.co", "display_name": "Ada", "role": "admin"}});
        assert_eq!(fields(&event).count(), 2);
        assert!(has_plain_fields(&event));
        let snapshot =
            json!({"account": {"email": {"sealed": {}}, "display_name": "Ada"}, "version": 2});
        assert_eq!(fields(&snapshot).count(), 2);
        assert!(!has_fields(&json!({"PasswordSet": {"password_hash": "x"}})));
        assert!(!has_fields(&json!("UserDisabled")));
        assert!(!has_fields(&json!({"email": "top@level.co"})));
    }

    #[test]
    fn placeholders_name_no_one() {
        assert_eq!(erased_email("u-1"), "erased-u-1@erased.invalid");
        assert!(domain::identity::Email::parse(&erased_email("u-1")).is_ok());
        assert_eq!(placeholder("u-1", "display_name"), json!("[erased]"));
    }
}
