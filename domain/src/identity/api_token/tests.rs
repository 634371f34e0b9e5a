//! Given/when/then tests of every API token command, accepted and
//! rejected.

use chrono::{TimeZone, Utc};
use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::access::Role;
use crate::error::{DomainError, ErrorKind};
use crate::test_support::{replay, OTHER_TENANT};

type Given = TestFramework<ApiToken>;
const T: TenantId = TenantId::DEFAULT;
const CREATOR: UserId = UserId(Uuid::from_u128(7));
const NOT_FOUND: &str = "API token not found; check the token id";

fn cmd(body: ApiTokenCommand) -> Command<ApiTokenCommand> {
    Command::new(T, body)
}

fn hash() -> SecretHash {
    SecretHash::new("9f86d081884c7d659a2feaa0c55ad015".into())
}

fn expiry() -> Option<DateTime<Utc>> {
    Some(Utc.timestamp_opt(1000, 0).unwrap())
}

fn create(role: Role, scopes: Vec<Scope>) -> ApiTokenCommand {
    ApiTokenCommand::Create {
        name: " CI deploys ".into(),
        scopes,
        secret_hash: hash(),
        created_by: CREATOR,
        creator_role: role,
        expires_at: expiry(),
    }
}

fn created() -> Vec<ApiTokenEvent> {
    vec![ApiTokenEvent::ApiTokenCreated {
        tenant_id: T,
        name: "CI deploys".into(),
        scopes: vec![Scope::WriteWorkflows, Scope::ExecuteWorkflows],
        secret_hash: hash(),
        created_by: CREATOR,
        expires_at: expiry(),
    }]
}

fn revoked(reason: Option<&str>) -> Vec<ApiTokenEvent> {
    let mut events = created();
    events.push(ApiTokenEvent::ApiTokenRevoked {
        reason: reason.map(str::to_owned),
    });
    events
}

#[test]
fn create_records_the_token_with_its_scopes_and_hash() {
    let scopes = vec![Scope::WriteWorkflows, Scope::ExecuteWorkflows];
    Given::with(())
        .given_no_previous_events()
        .when(cmd(create(Role::User, scopes)))
        .then_expect_events(created());
    let state: ApiToken = replay(created());
    assert_eq!(
        (state.tenant_id(), state.name(), state.created_by()),
        (Some(T), "CI deploys", Some(CREATOR))
    );
    assert_eq!(
        state.scopes(),
        [Scope::WriteWorkflows, Scope::ExecuteWorkflows]
    );
    assert_eq!(state.secret_hash(), Some(&hash()));
    assert_eq!(state.expires_at(), expiry());
    assert!(!state.is_revoked());
    assert!(state.is_valid_at(Utc.timestamp_opt(999, 0).unwrap()));
    assert!(!state.is_valid_at(Utc.timestamp_opt(1000, 0).unwrap()));
}

#[test]
fn a_role_grants_only_scopes_within_its_permissions() {
    let err = Given::with(())
        .given_no_previous_events()
        .when(cmd(create(
            Role::User,
            vec![Scope::ReadWorkflows, Scope::AdminAll],
        )))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(
        err.to_string(),
        "role user cannot grant scope admin:all; a token may only do what its creator's role may"
    );
    Given::with(())
        .given_no_previous_events()
        .when(cmd(create(Role::Viewer, vec![Scope::WriteWorkflows])))
        .then_expect_error_message(
            "role viewer cannot grant scope write:workflows; a token may only do what its creator's role may",
        );
    Given::with(())
        .given_no_previous_events()
        .when(cmd(create(Role::Admin, vec![Scope::AdminAll])))
        .inspect_result()
        .expect("an admin grants admin:all");
}

#[test]
fn create_rejects_missing_and_repeated_scopes_and_a_blank_name() {
    Given::with(())
        .given_no_previous_events()
        .when(cmd(create(Role::Admin, vec![])))
        .then_expect_error_message("an API token needs at least one scope; use any of read:workflows, write:workflows, execute:workflows, read:executions, manage:integrations, admin:all");
    Given::with(())
        .given_no_previous_events()
        .when(cmd(create(
            Role::Admin,
            vec![
                Scope::ReadExecutions,
                Scope::ReadWorkflows,
                Scope::ReadExecutions,
            ],
        )))
        .then_expect_error_message(
            "scope read:executions is listed more than once; list each scope once",
        );
    let unnamed = ApiTokenCommand::Create {
        name: " ".into(),
        scopes: vec![Scope::ReadWorkflows],
        secret_hash: hash(),
        created_by: CREATOR,
        creator_role: Role::Admin,
        expires_at: None,
    };
    Given::with(())
        .given_no_previous_events()
        .when(cmd(unnamed))
        .then_expect_error_message("API token name must not be empty");
}

#[test]
fn create_twice_conflicts() {
    let err = Given::with(())
        .given(created())
        .when(cmd(create(Role::Admin, vec![Scope::ReadWorkflows])))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        "API token already exists; create the new token under a new id"
    );
}

#[test]
fn revoke_records_a_trimmed_reason_once() {
    let revoke = |reason: Option<&str>| {
        cmd(ApiTokenCommand::Revoke {
            reason: reason.map(str::to_owned),
        })
    };
    Given::with(())
        .given(created())
        .when(revoke(Some(" leaked in CI logs ")))
        .then_expect_events(vec![ApiTokenEvent::ApiTokenRevoked {
            reason: Some("leaked in CI logs".into()),
        }]);
    Given::with(())
        .given(created())
        .when(revoke(Some("   ")))
        .then_expect_events(vec![ApiTokenEvent::ApiTokenRevoked { reason: None }]);
    Given::with(())
        .given(revoked(Some("leak")))
        .when(revoke(Some("again")))
        .then_expect_events(vec![]);
    Given::with(())
        .given(created())
        .when(revoke(Some(&"x".repeat(MAX_REVOCATION_REASON_CHARS + 1))))
        .then_expect_error_message(
            "revocation reason is 501 characters long but the limit is 500; shorten it",
        );
    let state: ApiToken = replay(revoked(Some("leak")));
    assert!(state.is_revoked());
    assert_eq!(state.revocation_reason(), Some("leak"));
    assert!(!state.is_valid_at(Utc.timestamp_opt(0, 0).unwrap()));
}

#[test]
fn every_command_on_a_missing_or_foreign_token_is_not_found() {
    Given::with(())
        .given_no_previous_events()
        .when(cmd(ApiTokenCommand::Revoke { reason: None }))
        .then_expect_error_message(NOT_FOUND);
    let bodies = [
        ApiTokenCommand::Revoke { reason: None },
        create(Role::Admin, vec![Scope::ReadWorkflows]),
    ];
    for body in bodies {
        let err = Given::with(())
            .given(created())
            .when(Command::new(OTHER_TENANT, body))
            .inspect_result()
            .unwrap_err();
        assert_eq!(err, ApiTokenError::NotFound);
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}

#[test]
fn a_stale_expected_version_is_a_conflict() {
    Given::with(())
        .given(created())
        .when(cmd(ApiTokenCommand::Revoke { reason: None }).expecting(Some(0)))
        .then_expect_error_message(
            "expected version 0 but the API token is at version 1; reload it and retry",
        );
}
