//! Given/when/then tests of invitations: inviting, re-inviting and
//! accepting, and the one answer every unusable invitation gets.

use super::tests::{
    accept, at, cmd, created, hash, invite, invited, invited_event, with, Given, INVALID_INVITATION,
};
use super::*;
use crate::error::{DomainError, ErrorKind};
use crate::test_support::replay;

#[test]
fn invite_records_a_pending_invitation() {
    Given::with(())
        .given_no_previous_events()
        .when(cmd(invite(Role::User, "inv1")))
        .then_expect_events(invited());
    let state: User = replay(invited());
    assert_eq!(state.status(), Some(UserStatus::Invited));
    assert!(!state.is_active());
    assert_eq!(state.password_hash(), None);
    assert_eq!(state.invitation_expires_at(), Some(at(1000)));
    assert_eq!(state.display_name(), "");
}

#[test]
fn reinviting_a_pending_user_replaces_the_invitation() {
    Given::with(())
        .given(invited())
        .when(cmd(invite(Role::Viewer, "inv2")))
        .then_expect_events(vec![invited_event(Role::Viewer, "inv2")]);
    let reinvited = with(invited(), invited_event(Role::Viewer, "inv2"));
    assert_eq!(replay::<User>(reinvited.clone()).role(), Some(Role::Viewer));
    Given::with(())
        .given(reinvited)
        .when(cmd(accept("inv1", 10)))
        .then_expect_error_message(INVALID_INVITATION);
}

#[test]
fn inviting_a_member_conflicts_and_another_email_is_refused() {
    let err = Given::with(())
        .given(created())
        .when(cmd(invite(Role::User, "inv1")))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        "user ada@example.com is already a member; change their role instead of inviting them again"
    );
    let other = UserCommand::Invite {
        email: Email::parse("bob@example.com").unwrap(),
        role: Role::User,
        invitation_hash: hash("inv2"),
        expires_at: at(1000),
    };
    let err = Given::with(())
        .given(invited())
        .when(cmd(other))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(err
        .to_string()
        .starts_with("this user is ada@example.com, not bob@example.com;"));
}

#[test]
fn accepting_the_invitation_activates_the_user() {
    let accepted = vec![
        UserEvent::InvitationAccepted {
            display_name: "Ada L".into(),
        },
        UserEvent::PasswordSet {
            password_hash: hash("pw1"),
        },
    ];
    Given::with(())
        .given(invited())
        .when(cmd(accept("inv1", 999)))
        .then_expect_events(accepted.clone());
    let mut events = invited();
    events.extend(accepted);
    let state: User = replay(events);
    assert!(state.is_active());
    assert_eq!(state.display_name(), "Ada L");
    assert_eq!(state.password_hash(), Some(&hash("pw1")));
    assert_eq!(state.invitation_expires_at(), None);
}

#[test]
fn wrong_lapsed_and_missing_invitations_are_refused_alike() {
    let accepted = with(
        invited(),
        UserEvent::InvitationAccepted {
            display_name: "Ada".into(),
        },
    );
    let cases = [
        (invited(), accept("wrong", 10)),
        (invited(), accept("inv1", 1000)),
        (invited(), accept("inv1", 5000)),
        (accepted, accept("inv1", 10)),
        (created(), accept("inv1", 10)),
    ];
    for (given, body) in cases {
        let err = Given::with(())
            .given(given)
            .when(cmd(body))
            .inspect_result()
            .unwrap_err();
        assert_eq!(err, UserError::InvitationInvalid);
        assert_eq!(err.to_string(), INVALID_INVITATION);
        assert_eq!(err.kind(), ErrorKind::InvalidState);
    }
    let unnamed = UserCommand::AcceptInvitation {
        invitation_hash: hash("inv1"),
        display_name: String::new(),
        password_hash: hash("pw1"),
        now: at(10),
    };
    Given::with(())
        .given(invited())
        .when(cmd(unnamed))
        .then_expect_error_message("display name must not be empty");
}
