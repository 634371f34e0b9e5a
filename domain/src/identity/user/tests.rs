//! Given/when/then tests of every user command, accepted and rejected.

use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;

use super::*;
use crate::error::{DomainError, ErrorKind};
use crate::test_support::{replay, OTHER_TENANT};

pub(super) type Given = TestFramework<User>;
pub(super) const T: TenantId = TenantId::DEFAULT;
const NOT_FOUND: &str = "user not found; check the user id";
pub(super) const INVALID_INVITATION: &str =
    "the invitation is invalid or has expired; ask for a new invitation";
const DISABLED: &str = "user ada@example.com is disabled; enable them first";

pub(super) fn cmd(body: UserCommand) -> Command<UserCommand> {
    Command::new(T, body)
}

pub(super) fn ada() -> Email {
    Email::parse("Ada@Example.com").unwrap()
}

pub(super) fn hash(value: &str) -> SecretHash {
    SecretHash::new(value.into())
}

pub(super) fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).unwrap()
}

pub(super) fn create() -> UserCommand {
    UserCommand::Create {
        email: ada(),
        display_name: " Ada ".into(),
        role: Role::Admin,
        password_hash: hash("pw0"),
    }
}

pub(super) fn created() -> Vec<UserEvent> {
    vec![
        UserEvent::UserCreated {
            tenant_id: T,
            email: ada(),
            display_name: "Ada".into(),
            role: Role::Admin,
        },
        UserEvent::PasswordSet {
            password_hash: hash("pw0"),
        },
    ]
}

pub(super) fn invite(role: Role, secret: &str) -> UserCommand {
    UserCommand::Invite {
        email: ada(),
        role,
        invitation_hash: hash(secret),
        expires_at: at(1000),
    }
}

pub(super) fn invited_event(role: Role, secret: &str) -> UserEvent {
    UserEvent::UserInvited {
        tenant_id: T,
        email: ada(),
        role,
        invitation_hash: hash(secret),
        expires_at: at(1000),
    }
}

pub(super) fn invited() -> Vec<UserEvent> {
    vec![invited_event(Role::User, "inv1")]
}

pub(super) fn accept(secret: &str, now: i64) -> UserCommand {
    UserCommand::AcceptInvitation {
        invitation_hash: hash(secret),
        display_name: " Ada L ".into(),
        password_hash: hash("pw1"),
        now: at(now),
    }
}

pub(super) fn with(mut events: Vec<UserEvent>, more: UserEvent) -> Vec<UserEvent> {
    events.push(more);
    events
}

#[test]
fn create_makes_an_active_member_with_a_password() {
    Given::with(())
        .given_no_previous_events()
        .when(cmd(create()))
        .then_expect_events(created());
    let state: User = replay(created());
    assert_eq!(state.status(), Some(UserStatus::Active));
    assert!(state.is_active() && !state.is_disabled());
    assert_eq!(state.email(), Some(&ada()));
    assert_eq!(
        (state.tenant_id(), state.role(), state.display_name()),
        (Some(T), Some(Role::Admin), "Ada")
    );
    assert_eq!(state.password_hash(), Some(&hash("pw0")));
    assert_eq!(state.version(), 2);
}

#[test]
fn create_validates_the_name_and_conflicts_on_an_existing_user() {
    let blank = UserCommand::Create {
        email: ada(),
        display_name: "  ".into(),
        role: Role::User,
        password_hash: hash("pw0"),
    };
    Given::with(())
        .given_no_previous_events()
        .when(cmd(blank))
        .then_expect_error_message("display name must not be empty");
    for existing in [created(), invited()] {
        let err = Given::with(())
            .given(existing)
            .when(cmd(create()))
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(
            err.to_string(),
            "user ada@example.com already exists; change their role or invite them instead"
        );
    }
}

#[test]
fn change_role_records_both_roles_and_ignores_the_current_one() {
    Given::with(())
        .given(created())
        .when(cmd(UserCommand::ChangeRole { role: Role::Viewer }))
        .then_expect_events(vec![UserEvent::UserRoleChanged {
            from: Role::Admin,
            to: Role::Viewer,
        }]);
    Given::with(())
        .given(created())
        .when(cmd(UserCommand::ChangeRole { role: Role::Admin }))
        .then_expect_events(vec![]);
    Given::with(())
        .given(invited())
        .when(cmd(UserCommand::ChangeRole {
            role: Role::Executor,
        }))
        .then_expect_events(vec![UserEvent::UserRoleChanged {
            from: Role::User,
            to: Role::Executor,
        }]);
}

#[test]
fn change_password_needs_a_member_and_ignores_the_current_hash() {
    let change = |h: &str| {
        cmd(UserCommand::ChangePassword {
            password_hash: hash(h),
        })
    };
    Given::with(())
        .given(created())
        .when(change("pw9"))
        .then_expect_events(vec![UserEvent::PasswordSet {
            password_hash: hash("pw9"),
        }]);
    Given::with(())
        .given(created())
        .when(change("pw0"))
        .then_expect_events(vec![]);
    let err = Given::with(())
        .given(invited())
        .when(change("pw9"))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert_eq!(
        err.to_string(),
        "user ada@example.com has not accepted their invitation yet; they choose a password when they accept it"
    );
}

#[test]
fn disable_and_enable_toggle_and_repeat_as_no_ops() {
    let disabled = with(created(), UserEvent::UserDisabled);
    Given::with(())
        .given(created())
        .when(cmd(UserCommand::Disable))
        .then_expect_events(vec![UserEvent::UserDisabled]);
    Given::with(())
        .given(disabled.clone())
        .when(cmd(UserCommand::Disable))
        .then_expect_events(vec![]);
    Given::with(())
        .given(disabled.clone())
        .when(cmd(UserCommand::Enable))
        .then_expect_events(vec![UserEvent::UserEnabled]);
    Given::with(())
        .given(created())
        .when(cmd(UserCommand::Enable))
        .then_expect_events(vec![]);
    let state: User = replay(disabled.clone());
    assert_eq!(state.status(), Some(UserStatus::Disabled));
    assert!(state.is_disabled() && !state.is_active());
    assert!(replay::<User>(with(disabled, UserEvent::UserEnabled)).is_active());
    let invited_then_toggled = with(
        with(invited(), UserEvent::UserDisabled),
        UserEvent::UserEnabled,
    );
    assert_eq!(
        replay::<User>(invited_then_toggled).status(),
        Some(UserStatus::Invited)
    );
}

#[test]
fn a_disabled_user_accepts_nothing_but_disable_and_enable() {
    let bodies = [
        create(),
        invite(Role::User, "inv2"),
        UserCommand::ChangeRole { role: Role::User },
        UserCommand::ChangePassword {
            password_hash: hash("pw9"),
        },
    ];
    for body in bodies {
        let err = Given::with(())
            .given(with(created(), UserEvent::UserDisabled))
            .when(cmd(body))
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.to_string(), DISABLED);
        assert_eq!(err.kind(), ErrorKind::InvalidState);
    }
    // Even with the right secret in time: the invitation link must not
    // reveal that its user was disabled.
    Given::with(())
        .given(with(invited(), UserEvent::UserDisabled))
        .when(cmd(accept("inv1", 10)))
        .then_expect_error_message(INVALID_INVITATION);
}

#[test]
fn every_command_on_a_missing_or_foreign_user_is_not_found() {
    let bodies = || {
        vec![
            accept("inv1", 10),
            UserCommand::ChangeRole { role: Role::User },
            UserCommand::ChangePassword {
                password_hash: hash("pw9"),
            },
            UserCommand::Disable,
            UserCommand::Enable,
        ]
    };
    for body in bodies() {
        Given::with(())
            .given_no_previous_events()
            .when(cmd(body))
            .then_expect_error_message(NOT_FOUND);
    }
    for body in bodies()
        .into_iter()
        .chain([create(), invite(Role::User, "x")])
    {
        let err = Given::with(())
            .given(created())
            .when(Command::new(OTHER_TENANT, body))
            .inspect_result()
            .unwrap_err();
        assert_eq!(err, UserError::NotFound);
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}

#[test]
fn a_stale_expected_version_is_a_conflict() {
    Given::with(())
        .given(created())
        .when(cmd(UserCommand::Disable).expecting(Some(1)))
        .then_expect_error_message(
            "expected version 1 but the user is at version 2; reload it and retry",
        );
    Given::with(())
        .given(created())
        .when(cmd(UserCommand::Disable).expecting(Some(2)))
        .then_expect_events(vec![UserEvent::UserDisabled]);
}
