//! The domain's upcasters (`domain::upcast`) on the write side's reads:
//! as a cqrs-es [`EventUpcaster`] for aggregate loads (snapshot plus the
//! events after it, or every event) and as a function for
//! [`crate::reads`]. The repository ([`crate::store`]) returns events as
//! stored; only what folds them into state upcasts
//! (docs/adr/0014-event-upcasting.md).

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use domain::upcast::{self, Versioned, CURRENT};
use serde_json::Value;

/// Every upcaster of one aggregate type, as one cqrs-es upcaster: it
/// chains an event from its stored version to the current one.
#[derive(Debug, Clone, Copy)]
pub struct AggregateUpcaster {
    aggregate_type: &'static str,
}

impl AggregateUpcaster {
    /// The upcaster of the events of `aggregate_type` (an `Aggregate::TYPE`).
    pub fn of(aggregate_type: &'static str) -> Self {
        Self { aggregate_type }
    }
}

impl EventUpcaster for AggregateUpcaster {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        let current = CURRENT.current_version(self.aggregate_type, event_type);
        event_version.parse::<u32>().is_ok_and(|v| v < current)
    }

    fn upcast(&self, event: SerializedEvent) -> SerializedEvent {
        let current = upcast::upcast(
            &event.aggregate_type,
            &event.event_type,
            Versioned {
                event_version: event.event_version,
                payload: event.payload,
            },
        );
        SerializedEvent {
            event_version: current.event_version,
            payload: current.payload,
            ..event
        }
    }
}

/// The payload of a stored event in its current version.
pub fn current_payload(
    aggregate_type: &str,
    event_type: &str,
    event_version: String,
    payload: Value,
) -> Value {
    upcast::upcast(
        aggregate_type,
        event_type,
        Versioned {
            event_version,
            payload,
        },
    )
    .payload
}
