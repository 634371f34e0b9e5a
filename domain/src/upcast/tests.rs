//! Given a stored event, when it is upcast, then it reads as the current
//! version; no database, only JSON.

use cqrs_es::DomainEvent;
use serde_json::{json, Value};

use super::*;
use crate::workflow::WorkflowEvent;

fn stored(version: &str, payload: Value) -> Versioned {
    Versioned {
        event_version: version.to_owned(),
        payload,
    }
}

#[test]
fn a_v1_workflow_renamed_reads_as_v2_with_clear_names() {
    // Given what an old deployment wrote,
    let v1 = stored(
        "1",
        json!({"WorkflowRenamed": {"from": "Report", "to": "Weekly"}}),
    );
    // when it is upcast,
    let current = upcast("Workflow", "WorkflowRenamed", v1);
    // then it is the v2 shape.
    assert_eq!(
        current,
        stored(
            "2",
            json!({"WorkflowRenamed": {"previous_name": "Report", "name": "Weekly"}})
        )
    );
}

#[test]
fn an_upcast_v1_event_is_the_event_a_v2_writer_writes() {
    let written = WorkflowEvent::WorkflowRenamed {
        previous_name: "Report".into(),
        name: "Weekly".into(),
    };
    let v1 = stored(
        "1",
        json!({"WorkflowRenamed": {"from": "Report", "to": "Weekly"}}),
    );
    let current = upcast("Workflow", "WorkflowRenamed", v1);
    assert_eq!(current.event_version, written.event_version());
    assert_eq!(current.payload, serde_json::to_value(&written).unwrap());
    let read: WorkflowEvent = serde_json::from_value(current.payload).unwrap();
    assert_eq!(read, written);
}

#[test]
fn a_current_event_is_left_as_it_is() {
    let event = WorkflowEvent::WorkflowRenamed {
        previous_name: "Report".into(),
        name: "Weekly".into(),
    };
    let v2 = stored(
        &event.event_version(),
        serde_json::to_value(&event).unwrap(),
    );
    assert_eq!(upcast("Workflow", "WorkflowRenamed", v2.clone()), v2);
}

#[test]
fn events_without_a_schema_change_are_left_as_they_are() {
    let created = stored("1", json!({"WorkflowCreated": {"name": "Report"}}));
    assert_eq!(
        upcast("Workflow", "WorkflowCreated", created.clone()),
        created
    );
    let step = stored(
        "1",
        json!({"StepCompleted": {"node_id": "a", "attempt": 1}}),
    );
    assert_eq!(upcast("Execution", "StepCompleted", step.clone()), step);
    let archived = stored("1", json!("WorkflowArchived"));
    assert_eq!(
        upcast("Workflow", "WorkflowArchived", archived.clone()),
        archived
    );
}

#[test]
fn steps_belong_to_one_aggregate_type() {
    let other = stored("1", json!({"WorkflowRenamed": {"to": "x"}}));
    assert_eq!(
        upcast("Integration", "WorkflowRenamed", other.clone()),
        other
    );
}

#[test]
fn payloads_it_cannot_read_are_left_for_the_reader_to_report() {
    let untagged = stored("1", json!({"from": "a", "to": "b"}));
    assert_eq!(
        upcast("Workflow", "WorkflowRenamed", untagged.clone()),
        untagged
    );
    let odd_version = stored("1.x", json!({"WorkflowRenamed": {"to": "b"}}));
    assert_eq!(
        upcast("Workflow", "WorkflowRenamed", odd_version.clone()),
        odd_version
    );
}

#[test]
fn a_malformed_v1_body_is_still_renamed_and_still_malformed() {
    let bad = stored("1", json!({"WorkflowRenamed": {"to": 42}}));
    let current = upcast("Workflow", "WorkflowRenamed", bad);
    assert_eq!(current.payload, json!({"WorkflowRenamed": {"name": 42}}));
    assert!(serde_json::from_value::<WorkflowEvent>(current.payload).is_err());
}

fn add_one(body: Value) -> Value {
    rename_fields(body, &[("a", "b")])
}

fn add_two(body: Value) -> Value {
    rename_fields(body, &[("b", "c")])
}

const CHAIN: Registry = Registry::new(&[
    Step {
        aggregate_type: "Thing",
        event_type: "ThingHappened",
        from_version: 2,
        upcast: add_two,
    },
    Step {
        aggregate_type: "Thing",
        event_type: "ThingHappened",
        from_version: 1,
        upcast: add_one,
    },
]);

#[test]
fn steps_chain_from_the_stored_version_to_the_current_one() {
    let v1 = stored("1", json!({"ThingHappened": {"a": 1, "kept": true}}));
    assert_eq!(
        CHAIN.upcast("Thing", "ThingHappened", v1),
        stored("3", json!({"ThingHappened": {"c": 1, "kept": true}}))
    );
    let v2 = stored("2", json!({"ThingHappened": {"b": 1}}));
    assert_eq!(
        CHAIN.upcast("Thing", "ThingHappened", v2),
        stored("3", json!({"ThingHappened": {"c": 1}}))
    );
    assert_eq!(CHAIN.current_version("Thing", "ThingHappened"), 3);
    assert_eq!(CHAIN.current_version("Thing", "OtherThing"), 1);
}

#[test]
fn events_are_written_at_the_version_the_steps_lead_to() {
    let events = [
        WorkflowEvent::WorkflowRenamed {
            previous_name: "a".into(),
            name: "b".into(),
        },
        WorkflowEvent::WorkflowArchived,
        WorkflowEvent::WorkflowUnpublished { version: 1 },
    ];
    for event in events {
        assert_eq!(
            event.event_version(),
            current_version("Workflow", &event.event_type()),
            "{}",
            event.event_type()
        );
    }
    assert_eq!(current_version("Workflow", "WorkflowRenamed"), "2");
    assert_eq!(current_version("Execution", "StepCompleted"), "1");
}

#[test]
fn every_step_is_reachable_from_version_one_and_unique() {
    for (i, step) in STEPS.iter().enumerate() {
        let current = CURRENT.current_version(step.aggregate_type, step.event_type);
        assert!(
            step.from_version >= 1 && step.from_version < current,
            "{} v{} is not on the chain from v1",
            step.event_type,
            step.from_version
        );
        let duplicates = STEPS[i + 1..].iter().filter(|other| {
            other.aggregate_type == step.aggregate_type
                && other.event_type == step.event_type
                && other.from_version == step.from_version
        });
        assert_eq!(duplicates.count(), 0, "{} has two steps", step.event_type);
    }
}

#[test]
fn renaming_keeps_other_fields_and_ignores_non_objects() {
    assert_eq!(
        rename_fields(json!({"a": 1, "z": 2}), &[("a", "b"), ("missing", "m")]),
        json!({"b": 1, "z": 2})
    );
    assert_eq!(rename_fields(json!([1]), &[("a", "b")]), json!([1]));
}
