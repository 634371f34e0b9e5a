//! Given/when/then tests of every workflow command, accepted and rejected.

use cqrs_es::test::TestFramework;
use serde_json::json;

use super::*;
use crate::error::{DomainError, ErrorKind};
use crate::test_support::OTHER_TENANT;

pub(super) type Given = TestFramework<Workflow>;
pub(super) const T: TenantId = TenantId::DEFAULT;

pub(super) fn cmd(body: WorkflowCommand) -> Command<WorkflowCommand> {
    Command::new(T, body)
}

/// A valid one-node definition; `tag` makes definitions differ.
pub(super) fn definition(tag: &str) -> WorkflowDefinition {
    WorkflowDefinition {
        nodes: vec![Node {
            id: "start".into(),
            node_type: NodeType::Transform,
            config: json!({ "expression": tag }),
        }],
        edges: vec![],
        trigger: Trigger::Manual,
        settings: Default::default(),
    }
}

pub(super) fn create(name: &str) -> WorkflowCommand {
    WorkflowCommand::Create {
        name: name.into(),
        description: "  Sends the report  ".into(),
        definition: definition("v1"),
    }
}

pub(super) fn created() -> Vec<WorkflowEvent> {
    vec![
        WorkflowEvent::WorkflowCreated {
            tenant_id: T,
            name: "Report".into(),
            description: "Sends the report".into(),
        },
        WorkflowEvent::WorkflowVersionCreated {
            version: 1,
            definition: definition("v1"),
        },
    ]
}

pub(super) fn with(
    mut events: Vec<WorkflowEvent>,
    more: impl IntoIterator<Item = WorkflowEvent>,
) -> Vec<WorkflowEvent> {
    events.extend(more);
    events
}

pub(super) fn published(version: u32) -> WorkflowEvent {
    WorkflowEvent::WorkflowPublished {
        version,
        previous: None,
    }
}

pub(super) fn archived() -> Vec<WorkflowEvent> {
    with(created(), [WorkflowEvent::WorkflowArchived])
}

pub(super) const ARCHIVED: &str = "workflow is archived; archived workflows cannot be changed";
pub(super) const NOT_FOUND: &str = "workflow not found; check the workflow id";

#[test]
fn create_emits_created_then_version_one_with_trimmed_text() {
    Given::with(())
        .given_no_previous_events()
        .when(cmd(create("  Report ")))
        .then_expect_events(created());
}

#[test]
fn create_accepts_expected_version_zero_and_rejects_others() {
    Given::with(())
        .given_no_previous_events()
        .when(cmd(create("Report")).expecting(Some(0)))
        .then_expect_events(created());
    Given::with(())
        .given_no_previous_events()
        .when(cmd(create("Report")).expecting(Some(2)))
        .then_expect_error_message(
            "expected version 2 but the workflow is at version 0; reload it and retry",
        );
}

#[test]
fn create_twice_is_a_conflict() {
    let err = Given::with(())
        .given(created())
        .when(cmd(create("Report")))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().starts_with("workflow already exists"));
}

#[test]
fn create_over_another_tenants_workflow_looks_missing() {
    Given::with(())
        .given(created())
        .when(Command::new(OTHER_TENANT, create("Report")))
        .then_expect_error_message(NOT_FOUND);
}

#[test]
fn create_rejects_bad_names_descriptions_and_definitions() {
    let reject = |body, message: &str| {
        Given::with(())
            .given_no_previous_events()
            .when(cmd(body))
            .then_expect_error_message(message)
    };
    reject(create("   "), "workflow name must not be empty");
    reject(
        create(&"x".repeat(201)),
        "workflow name is 201 characters long but the limit is 200; shorten it",
    );
    reject(
        WorkflowCommand::Create {
            name: "Report".into(),
            description: "d".repeat(2001),
            definition: definition("v1"),
        },
        "workflow description is 2001 characters long but the limit is 2000; shorten it",
    );
    reject(
        WorkflowCommand::Create {
            name: "Report".into(),
            description: String::new(),
            definition: WorkflowDefinition {
                nodes: vec![],
                edges: vec![],
                trigger: Trigger::Manual,
                settings: Default::default(),
            },
        },
        "invalid workflow definition: a workflow needs at least one node; add a node to 'nodes'",
    );
}

#[test]
fn update_definition_creates_the_next_version() {
    Given::with(())
        .given(created())
        .when(cmd(WorkflowCommand::UpdateDefinition {
            definition: definition("v2"),
        }))
        .then_expect_events(vec![WorkflowEvent::WorkflowVersionCreated {
            version: 2,
            definition: definition("v2"),
        }]);
}

#[test]
fn update_definition_identical_to_the_latest_is_a_no_op() {
    Given::with(())
        .given(created())
        .when(cmd(WorkflowCommand::UpdateDefinition {
            definition: definition("v1"),
        }))
        .then_expect_events(vec![]);
}

#[test]
fn update_definition_revalidates_the_definition() {
    let mut bad = definition("v2");
    bad.edges.push(Edge {
        from: "start".into(),
        to: "ghost".into(),
        when: None,
    });
    let err = Given::with(())
        .given(created())
        .when(cmd(WorkflowCommand::UpdateDefinition { definition: bad }))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(err.to_string().contains("unknown node 'ghost'"), "{err}");
}

#[test]
fn update_definition_checks_existence_tenant_version_and_archive() {
    let body = || {
        cmd(WorkflowCommand::UpdateDefinition {
            definition: definition("v2"),
        })
    };
    Given::with(())
        .given_no_previous_events()
        .when(body())
        .then_expect_error_message(NOT_FOUND);
    Given::with(())
        .given(created())
        .when(Command {
            tenant_id: OTHER_TENANT,
            ..body()
        })
        .then_expect_error_message(NOT_FOUND);
    Given::with(())
        .given(created())
        .when(body().expecting(Some(1)))
        .then_expect_error_message(
            "expected version 1 but the workflow is at version 2; reload it and retry",
        );
    Given::with(())
        .given(created())
        .when(body().expecting(Some(2)))
        .then_expect_events(vec![WorkflowEvent::WorkflowVersionCreated {
            version: 2,
            definition: definition("v2"),
        }]);
    Given::with(())
        .given(archived())
        .when(body())
        .then_expect_error_message(ARCHIVED);
}

#[test]
fn state_follows_the_events() {
    let events = with(
        created(),
        [
            published(1),
            WorkflowEvent::WorkflowRenamed {
                previous_name: "Report".into(),
                name: "Weekly".into(),
            },
        ],
    );
    let state: Workflow = crate::test_support::replay(events);
    assert!(state.exists());
    assert_eq!(state.tenant_id(), Some(T));
    assert_eq!(state.name(), "Weekly");
    assert_eq!(state.description(), "Sends the report");
    assert_eq!(state.latest_version(), 1);
    assert_eq!(state.published_version(), Some(1));
    assert_eq!(state.latest_definition(), Some(&definition("v1")));
    assert!(!state.is_archived());
    assert_eq!(state.version(), 4);
}

#[test]
fn events_have_stable_names_versions_and_tagged_payloads() {
    use cqrs_es::DomainEvent;
    let events = with(created(), [WorkflowEvent::WorkflowArchived]);
    let names: Vec<String> = events.iter().map(DomainEvent::event_type).collect();
    assert_eq!(
        names,
        [
            "WorkflowCreated",
            "WorkflowVersionCreated",
            "WorkflowArchived"
        ]
    );
    assert!(events.iter().all(|e| e.event_version() == "1"));
    let payload = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(payload["WorkflowCreated"]["name"], "Report");
}

#[test]
fn error_kinds_map_to_api_codes() {
    assert_eq!(WorkflowError::NotFound.kind().code(), "NOT_FOUND");
    assert_eq!(WorkflowError::AlreadyExists.kind().code(), "CONFLICT");
    assert_eq!(WorkflowError::Archived.kind().code(), "INVALID_STATE");
    assert_eq!(
        WorkflowError::InvalidDefinition(DefinitionError::NoNodes)
            .kind()
            .code(),
        "VALIDATION"
    );
}
