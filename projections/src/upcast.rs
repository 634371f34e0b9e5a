//! Stored events in their current version, for the readers that interpret
//! them: the [`crate::source::StoreSource`] (projectors, rebuilds and the
//! relay read through it) and the read models' version check.
//!
//! [`crate::commit_order`] and [`crate::history`] return events **as
//! stored**: hash chains and audit exports hash those bytes, which must not
//! change when code changes. Upcasting happens after them, here
//! (docs/adr/0014-event-upcasting.md).

use domain::upcast::{self, Versioned};

use crate::commit_order::CommittedEvent;
use crate::history::StoredEvent;
use crate::projector::ApplyError;

/// `event` with its payload and `event_version` upcast to the current
/// version (`domain::upcast`); everything else as stored.
pub fn current(mut event: StoredEvent) -> StoredEvent {
    let stored = Versioned {
        event_version: std::mem::take(&mut event.event_version),
        payload: std::mem::take(&mut event.payload),
    };
    let current = upcast::upcast(&event.aggregate_type, &event.event_type, stored);
    event.event_version = current.event_version;
    event.payload = current.payload;
    event
}

/// [`current`] for an event read in commit order (the cursor is kept).
pub fn current_committed(committed: CommittedEvent) -> CommittedEvent {
    CommittedEvent {
        cursor: committed.cursor,
        event: current(committed.event),
    }
}

/// Refuses an event that is not in the version the domain writes today
/// (a poison event: a source that did not upcast, or a version newer than
/// this code).
pub fn ensure_current(event: &StoredEvent) -> Result<(), ApplyError> {
    let current = upcast::current_version(&event.aggregate_type, &event.event_type);
    if event.event_version == current {
        return Ok(());
    }
    Err(ApplyError::Rejected(format!(
        "{} version {} is not supported (only {current})",
        event.event_type, event.event_version
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;
    use uuid::Uuid;

    fn stored(version: &str, payload: serde_json::Value) -> StoredEvent {
        StoredEvent {
            aggregate_type: "Workflow".into(),
            aggregate_id: Uuid::nil().to_string(),
            sequence: 2,
            global_position: 7,
            event_id: Uuid::nil(),
            event_type: "WorkflowRenamed".into(),
            event_version: version.into(),
            payload,
            metadata: json!({"tenant_id": "t"}),
            recorded_at: Utc::now(),
        }
    }

    #[test]
    fn a_stored_v1_event_comes_out_current_with_everything_else_kept() {
        let v1 = stored("1", json!({"WorkflowRenamed": {"from": "a", "to": "b"}}));
        let current = current(v1.clone());
        assert_eq!(current.event_version, "2");
        assert_eq!(
            current.payload,
            json!({"WorkflowRenamed": {"previous_name": "a", "name": "b"}})
        );
        assert_eq!(
            StoredEvent {
                event_version: v1.event_version.clone(),
                payload: v1.payload.clone(),
                ..current.clone()
            },
            v1
        );
        assert!(ensure_current(&current).is_ok());
    }

    #[test]
    fn an_event_in_an_old_or_unknown_version_is_refused() {
        let v1 = stored("1", json!({"WorkflowRenamed": {"from": "a", "to": "b"}}));
        let err = ensure_current(&v1).unwrap_err().to_string();
        assert_eq!(err, "WorkflowRenamed version 1 is not supported (only 2)");
        let v3 = stored("3", json!({"WorkflowRenamed": {}}));
        assert!(ensure_current(&v3).is_err());
    }
}
