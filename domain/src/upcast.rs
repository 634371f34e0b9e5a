//! Upcasters: stored payloads of older event versions rewritten into the
//! shape the current code reads, as pure functions over JSON.
//!
//! Events are never rewritten in the store (ARCHITECTURE.md, "Invariants of
//! the event store"). When an event's shape changes, its `event_version`
//! goes up by one and a [`Step`] from the old version joins [`STEPS`];
//! readers that interpret events (aggregate loads, projections, the relay)
//! pass every stored event through [`upcast`], which chains the steps
//! v1 → v2 → … up to the current version. Readers that keep the stored
//! bytes (history, audit export, hash chains) never call it
//! (docs/adr/0014-event-upcasting.md).

use serde_json::{Map, Value};

/// One schema change: the body of a `from_version` event of
/// `aggregate_type`/`event_type` rewritten as version `from_version + 1`.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The aggregate type as stored (`Workflow`).
    pub aggregate_type: &'static str,
    /// The event type as stored (`WorkflowRenamed`).
    pub event_type: &'static str,
    /// The version this step reads.
    pub from_version: u32,
    /// The rewrite of the event's body: the object under the payload's
    /// external tag (`{"WorkflowRenamed": <body>}`).
    pub upcast: fn(Value) -> Value,
}

/// Every schema change Jobsprint has shipped, oldest first per event.
pub const STEPS: &[Step] = &[Step {
    aggregate_type: "Workflow",
    event_type: "WorkflowRenamed",
    from_version: 1,
    upcast: workflow_renamed_v1_to_v2,
}];

/// The upcasters of Jobsprint: [`STEPS`].
pub const CURRENT: Registry = Registry::new(STEPS);

/// An event as stored or as upcast: its schema version and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    /// The schema version (`"1"`, `"2"`, …).
    pub event_version: String,
    /// The externally tagged payload (`{"WorkflowRenamed": {...}}`).
    pub payload: Value,
}

/// A set of [`Step`]s, looked up by `(aggregate_type, event_type,
/// from_version)`.
#[derive(Debug, Clone, Copy)]
pub struct Registry {
    steps: &'static [Step],
}

impl Registry {
    /// A registry of `steps` (at most one per aggregate, event and version).
    pub const fn new(steps: &'static [Step]) -> Self {
        Self { steps }
    }

    /// `event` in its current version: every step from its version on
    /// applied in turn. An event with no step from its version (current,
    /// unknown, or with a version that is not a number) and a payload that
    /// is not tagged with its event type come back unchanged, so the
    /// reader reports them as they are stored.
    pub fn upcast(&self, aggregate_type: &str, event_type: &str, event: Versioned) -> Versioned {
        let Ok(mut version) = event.event_version.parse::<u32>() else {
            return event;
        };
        // Most events are current: they are handed back without a copy.
        if self.step(aggregate_type, event_type, version).is_none() {
            return event;
        }
        let Some(body) = tagged_body(&event.payload, event_type) else {
            return event;
        };
        let mut body = body.clone();
        while let Some(step) = self.step(aggregate_type, event_type, version) {
            body = (step.upcast)(body);
            version += 1;
        }
        let mut payload = Map::new();
        payload.insert(event_type.to_owned(), body);
        Versioned {
            event_version: version.to_string(),
            payload: Value::Object(payload),
        }
    }

    /// The version a current event of this type is written with: 1 plus
    /// the number of steps chained from version 1.
    pub fn current_version(&self, aggregate_type: &str, event_type: &str) -> u32 {
        let mut version = 1;
        while self.step(aggregate_type, event_type, version).is_some() {
            version += 1;
        }
        version
    }

    fn step(&self, aggregate_type: &str, event_type: &str, from_version: u32) -> Option<&Step> {
        self.steps.iter().find(|step| {
            step.aggregate_type == aggregate_type
                && step.event_type == event_type
                && step.from_version == from_version
        })
    }
}

/// [`Registry::upcast`] with Jobsprint's steps ([`CURRENT`]).
pub fn upcast(aggregate_type: &str, event_type: &str, event: Versioned) -> Versioned {
    CURRENT.upcast(aggregate_type, event_type, event)
}

/// [`Registry::current_version`] with Jobsprint's steps, as stored (`"2"`).
pub fn current_version(aggregate_type: &str, event_type: &str) -> String {
    CURRENT
        .current_version(aggregate_type, event_type)
        .to_string()
}

fn tagged_body<'a>(payload: &'a Value, event_type: &str) -> Option<&'a Value> {
    match payload {
        Value::Object(map) if map.len() == 1 => map.get(event_type),
        _ => None,
    }
}

/// `WorkflowRenamed` v1 called the names `from` and `to`, the words
/// `ScheduledRunsSkipped` uses for time slots; v2 calls them
/// `previous_name` and `name`, like `WorkflowCreated`.
fn workflow_renamed_v1_to_v2(body: Value) -> Value {
    rename_fields(body, &[("from", "previous_name"), ("to", "name")])
}

/// `body` with each `(old, new)` field renamed; other fields, and a body
/// that is not an object, stay as they are.
pub fn rename_fields(body: Value, renames: &[(&str, &str)]) -> Value {
    let Value::Object(mut map) = body else {
        return body;
    };
    for (old, new) in renames {
        if let Some(value) = map.remove(*old) {
            map.insert((*new).to_owned(), value);
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests;
