//! Given/when/then tests of every tenant command, accepted and rejected.

use cqrs_es::test::TestFramework;

use super::*;
use crate::error::{DomainError, ErrorKind};
use crate::test_support::{replay, OTHER_TENANT};

type Given = TestFramework<Tenant>;
const T: TenantId = TenantId::DEFAULT;
const NOT_FOUND: &str = "tenant not found; check the tenant id";

fn cmd(body: TenantCommand) -> Command<TenantCommand> {
    Command::new(T, body)
}

fn create(name: &str) -> TenantCommand {
    TenantCommand::Create { name: name.into() }
}

fn rename(name: &str) -> TenantCommand {
    TenantCommand::Rename { name: name.into() }
}

fn created() -> Vec<TenantEvent> {
    vec![TenantEvent::TenantCreated {
        tenant_id: T,
        name: "Acme".into(),
    }]
}

#[test]
fn create_records_the_trimmed_name() {
    Given::with(())
        .given_no_previous_events()
        .when(cmd(create("  Acme ")))
        .then_expect_events(created());
    let state: Tenant = replay(created());
    assert_eq!(
        (state.tenant_id(), state.name(), state.version()),
        (Some(T), "Acme", 1)
    );
}

#[test]
fn create_validates_the_name_and_conflicts_when_repeated() {
    Given::with(())
        .given_no_previous_events()
        .when(cmd(create(" ")))
        .then_expect_error_message("tenant name must not be empty");
    Given::with(())
        .given_no_previous_events()
        .when(cmd(create(&"x".repeat(MAX_TENANT_NAME_CHARS + 1))))
        .then_expect_error_message(
            "tenant name is 201 characters long but the limit is 200; shorten it",
        );
    let err = Given::with(())
        .given(created())
        .when(cmd(create("Acme")))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        "tenant already exists; create a new tenant under a new id or rename this one"
    );
}

#[test]
fn rename_records_both_names_and_ignores_the_current_one() {
    Given::with(())
        .given(created())
        .when(cmd(rename(" Acme Corp ")))
        .then_expect_events(vec![TenantEvent::TenantRenamed {
            from: "Acme".into(),
            to: "Acme Corp".into(),
        }]);
    Given::with(())
        .given(created())
        .when(cmd(rename("Acme")))
        .then_expect_events(vec![]);
    Given::with(())
        .given(created())
        .when(cmd(rename("")))
        .then_expect_error_message("tenant name must not be empty");
}

#[test]
fn another_tenant_and_a_missing_tenant_are_not_found() {
    Given::with(())
        .given_no_previous_events()
        .when(cmd(rename("Acme")))
        .then_expect_error_message(NOT_FOUND);
    for body in [create("Acme"), rename("Other")] {
        let err = Given::with(())
            .given(created())
            .when(Command::new(OTHER_TENANT, body))
            .inspect_result()
            .unwrap_err();
        assert_eq!(err, TenantError::NotFound);
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}

#[test]
fn a_stale_expected_version_is_a_conflict() {
    Given::with(())
        .given(created())
        .when(cmd(rename("B")).expecting(Some(0)))
        .then_expect_error_message(
            "expected version 0 but the tenant is at version 1; reload it and retry",
        );
    Given::with(())
        .given_no_previous_events()
        .when(cmd(create("Acme")).expecting(Some(0)))
        .then_expect_events(created());
}

#[test]
fn the_egress_policy_is_recorded_when_it_changes_only() {
    let allow = |allow| TenantCommand::SetEgressPolicy {
        allow_private_networks: allow,
    };
    let allowed = TenantEvent::TenantEgressPolicySet {
        allow_private_networks: true,
    };
    Given::with(())
        .given(created())
        .when(cmd(allow(true)))
        .then_expect_events(vec![allowed.clone()]);
    Given::with(())
        .given(created())
        .when(cmd(allow(false)))
        .then_expect_events(vec![]);
    let state: Tenant = replay([created(), vec![allowed.clone()]].concat());
    assert!(state.allows_private_networks());
    Given::with(())
        .given([created(), vec![allowed]].concat())
        .when(cmd(allow(true)))
        .then_expect_events(vec![]);
}
