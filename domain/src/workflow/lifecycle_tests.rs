//! Given/when/then tests of publishing, unpublishing, renaming and
//! archiving a workflow.

use super::tests::{
    archived, cmd, created, definition, published, with, Given, ARCHIVED, NOT_FOUND,
};
use super::*;
use crate::error::{DomainError, ErrorKind};
use crate::test_support::OTHER_TENANT;

#[test]
fn publish_records_the_previous_version() {
    Given::with(())
        .given(created())
        .when(cmd(WorkflowCommand::Publish { version: 1 }))
        .then_expect_events(vec![published(1)]);
    let two = WorkflowEvent::WorkflowVersionCreated {
        version: 2,
        definition: definition("v2"),
    };
    Given::with(())
        .given(with(created(), [published(1), two]))
        .when(cmd(WorkflowCommand::Publish { version: 2 }))
        .then_expect_events(vec![WorkflowEvent::WorkflowPublished {
            version: 2,
            previous: Some(1),
        }]);
}

#[test]
fn publish_of_the_published_version_is_a_no_op() {
    Given::with(())
        .given(with(created(), [published(1)]))
        .when(cmd(WorkflowCommand::Publish { version: 1 }))
        .then_expect_events(vec![]);
}

#[test]
fn publish_of_an_unknown_version_names_it_and_the_latest() {
    for version in [0, 2] {
        let err = Given::with(())
            .given(created())
            .when(cmd(WorkflowCommand::Publish { version }))
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert_eq!(
            err.to_string(),
            format!("workflow has no version {version}; the latest version is 1, publish a version between 1 and 1")
        );
    }
}

#[test]
fn publish_is_rejected_when_missing_or_archived() {
    let body = || cmd(WorkflowCommand::Publish { version: 1 });
    Given::with(())
        .given_no_previous_events()
        .when(body())
        .then_expect_error_message(NOT_FOUND);
    Given::with(())
        .given(archived())
        .when(body())
        .then_expect_error_message(ARCHIVED);
}

#[test]
fn unpublish_records_the_version_and_is_a_no_op_when_unpublished() {
    Given::with(())
        .given(with(created(), [published(1)]))
        .when(cmd(WorkflowCommand::Unpublish))
        .then_expect_events(vec![WorkflowEvent::WorkflowUnpublished { version: 1 }]);
    Given::with(())
        .given(created())
        .when(cmd(WorkflowCommand::Unpublish))
        .then_expect_events(vec![]);
}

#[test]
fn unpublish_is_rejected_when_missing_archived_or_stale() {
    Given::with(())
        .given_no_previous_events()
        .when(cmd(WorkflowCommand::Unpublish))
        .then_expect_error_message(NOT_FOUND);
    Given::with(())
        .given(archived())
        .when(cmd(WorkflowCommand::Unpublish))
        .then_expect_error_message(ARCHIVED);
    Given::with(())
        .given(with(created(), [published(1)]))
        .when(cmd(WorkflowCommand::Unpublish).expecting(Some(5)))
        .then_expect_error_message(
            "expected version 5 but the workflow is at version 3; reload it and retry",
        );
}

#[test]
fn rename_trims_and_records_both_names() {
    Given::with(())
        .given(created())
        .when(cmd(WorkflowCommand::Rename {
            name: " Weekly report ".into(),
        }))
        .then_expect_events(vec![WorkflowEvent::WorkflowRenamed {
            previous_name: "Report".into(),
            name: "Weekly report".into(),
        }]);
}

#[test]
fn rename_to_the_same_name_is_a_no_op() {
    Given::with(())
        .given(created())
        .when(cmd(WorkflowCommand::Rename {
            name: "Report ".into(),
        }))
        .then_expect_events(vec![]);
}

#[test]
fn rename_is_rejected_for_bad_names_missing_other_tenant_and_archived() {
    let rename = |name: &str| WorkflowCommand::Rename { name: name.into() };
    Given::with(())
        .given(created())
        .when(cmd(rename("")))
        .then_expect_error_message("workflow name must not be empty");
    Given::with(())
        .given_no_previous_events()
        .when(cmd(rename("New")))
        .then_expect_error_message(NOT_FOUND);
    Given::with(())
        .given(created())
        .when(Command::new(OTHER_TENANT, rename("New")))
        .then_expect_error_message(NOT_FOUND);
    Given::with(())
        .given(archived())
        .when(cmd(rename("New")))
        .then_expect_error_message(ARCHIVED);
}

#[test]
fn archive_unpublishes_first_when_published() {
    Given::with(())
        .given(created())
        .when(cmd(WorkflowCommand::Archive))
        .then_expect_events(vec![WorkflowEvent::WorkflowArchived]);
    Given::with(())
        .given(with(created(), [published(1)]))
        .when(cmd(WorkflowCommand::Archive))
        .then_expect_events(vec![
            WorkflowEvent::WorkflowUnpublished { version: 1 },
            WorkflowEvent::WorkflowArchived,
        ]);
}

#[test]
fn archive_is_idempotent_but_still_checks_tenant_and_existence() {
    Given::with(())
        .given(archived())
        .when(cmd(WorkflowCommand::Archive))
        .then_expect_events(vec![]);
    Given::with(())
        .given_no_previous_events()
        .when(cmd(WorkflowCommand::Archive))
        .then_expect_error_message(NOT_FOUND);
    Given::with(())
        .given(archived())
        .when(Command::new(OTHER_TENANT, WorkflowCommand::Archive))
        .then_expect_error_message(NOT_FOUND);
}
