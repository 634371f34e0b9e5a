//! Given/when/then tests of every session command, accepted and rejected,
//! and of refresh-token reuse detection.

use chrono::{TimeZone, Utc};
use cqrs_es::test::TestFramework;
use uuid::Uuid;

use super::*;
use crate::error::{DomainError, ErrorKind};
use crate::test_support::{replay, run, OTHER_TENANT};

type Given = TestFramework<Session>;
const T: TenantId = TenantId::DEFAULT;
const ADA: UserId = UserId(Uuid::from_u128(7));
const REUSED: SessionEvent = SessionEvent::SessionRevoked {
    reason: RevocationReason::RefreshTokenReused,
};

fn cmd(body: SessionCommand) -> Command<SessionCommand> {
    Command::new(T, body)
}

fn hash(value: &str) -> SecretHash {
    SecretHash::new(value.into())
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).unwrap()
}

fn started() -> Vec<SessionEvent> {
    vec![SessionEvent::SessionStarted {
        tenant_id: T,
        user_id: ADA,
        generation: 1,
        refresh_hash: hash("rt1"),
        expires_at: at(100),
    }]
}

/// Started, then refreshed once: generation 2 is current, `rt2` its hash.
fn refreshed() -> Vec<SessionEvent> {
    let mut events = started();
    events.push(SessionEvent::SessionRefreshed {
        generation: 2,
        refresh_hash: hash("rt2"),
        expires_at: at(200),
    });
    events
}

fn refresh(generation: u32, presented: &str, now: i64) -> SessionCommand {
    SessionCommand::Refresh {
        generation,
        presented_hash: hash(presented),
        new_hash: hash("next"),
        new_expires_at: at(now + 100),
        now: at(now),
    }
}

#[test]
fn start_issues_generation_one() {
    let start = SessionCommand::Start {
        user_id: ADA,
        refresh_hash: hash("rt1"),
        expires_at: at(100),
    };
    Given::with(())
        .given_no_previous_events()
        .when(cmd(start.clone()))
        .then_expect_events(started());
    let state: Session = replay(started());
    assert_eq!(
        (state.tenant_id(), state.user_id(), state.generation()),
        (Some(T), Some(ADA), 1)
    );
    assert_eq!(state.expires_at(), Some(at(100)));
    assert!(!state.is_revoked());
    assert_eq!(state.revocation_reason(), None);
    let err = Given::with(())
        .given(started())
        .when(cmd(start))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        "session already exists; start the new session under a new id"
    );
}

#[test]
fn refreshing_the_current_token_rotates_it() {
    Given::with(())
        .given(started())
        .when(cmd(refresh(1, "rt1", 50)))
        .then_expect_events(vec![SessionEvent::SessionRefreshed {
            generation: 2,
            refresh_hash: hash("next"),
            expires_at: at(150),
        }]);
    let state: Session = replay(refreshed());
    assert_eq!(state.generation(), 2);
    assert_eq!(state.expires_at(), Some(at(200)));
    Given::with(())
        .given(refreshed())
        .when(cmd(refresh(2, "rt2", 150)))
        .then_expect_events(vec![SessionEvent::SessionRefreshed {
            generation: 3,
            refresh_hash: hash("next"),
            expires_at: at(250),
        }]);
}

#[test]
fn a_spent_token_revokes_the_whole_family_and_succeeds() {
    // Ok, not Err: the revocation must be committed.
    Given::with(())
        .given(refreshed())
        .when(cmd(refresh(1, "rt1", 150)))
        .then_expect_events(vec![REUSED]);
    let mut state: Session = replay(refreshed());
    let written = run(&mut state, cmd(refresh(1, "rt1", 150))).expect("reuse is not an error");
    assert_eq!(written, vec![REUSED]);
    assert!(state.is_revoked());
    assert_eq!(
        state.revocation_reason(),
        Some(RevocationReason::RefreshTokenReused)
    );
    // The current token of the family no longer works either.
    let err = run(&mut state, cmd(refresh(2, "rt2", 150))).unwrap_err();
    assert_eq!(err, SessionError::Revoked);
}

#[test]
fn a_wrong_secret_for_the_current_generation_also_revokes() {
    Given::with(())
        .given(refreshed())
        .when(cmd(refresh(2, "forged", 150)))
        .then_expect_events(vec![REUSED]);
    Given::with(())
        .given(started())
        .when(cmd(refresh(1, "rt2", 50)))
        .then_expect_events(vec![REUSED]);
}

#[test]
fn refresh_rejects_revoked_expired_and_unissued_generations() {
    let mut revoked = refreshed();
    revoked.push(SessionEvent::SessionRevoked {
        reason: RevocationReason::Logout,
    });
    let err = Given::with(())
        .given(revoked)
        .when(cmd(refresh(2, "rt2", 150)))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert_eq!(err.to_string(), "session revoked; sign in again");
    for now in [200, 201] {
        let err = Given::with(())
            .given(refreshed())
            .when(cmd(refresh(2, "rt2", now)))
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidState);
        assert_eq!(err.to_string(), "refresh token expired; sign in again");
    }
    let err = Given::with(())
        .given(refreshed())
        .when(cmd(refresh(3, "rt3", 150)))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(
        err.to_string(),
        "refresh token generation 3 is ahead of the session (generation 2); present the refresh token this server issued last"
    );
}

#[test]
fn revoke_keeps_the_first_reason() {
    Given::with(())
        .given(started())
        .when(cmd(SessionCommand::Revoke {
            reason: RevocationReason::Logout,
        }))
        .then_expect_events(vec![SessionEvent::SessionRevoked {
            reason: RevocationReason::Logout,
        }]);
    let mut revoked = started();
    revoked.push(REUSED);
    Given::with(())
        .given(revoked)
        .when(cmd(SessionCommand::Revoke {
            reason: RevocationReason::Admin,
        }))
        .then_expect_events(vec![]);
}

#[test]
fn every_command_on_a_missing_or_foreign_session_is_not_found() {
    let revoke = SessionCommand::Revoke {
        reason: RevocationReason::Logout,
    };
    for body in [refresh(1, "rt1", 50), revoke.clone()] {
        Given::with(())
            .given_no_previous_events()
            .when(cmd(body))
            .then_expect_error_message("session not found; sign in again");
    }
    let start = SessionCommand::Start {
        user_id: ADA,
        refresh_hash: hash("rt1"),
        expires_at: at(100),
    };
    for body in [refresh(1, "rt1", 50), revoke, start] {
        let err = Given::with(())
            .given(started())
            .when(Command::new(OTHER_TENANT, body))
            .inspect_result()
            .unwrap_err();
        assert_eq!(err, SessionError::NotFound);
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}

#[test]
fn a_stale_expected_version_is_a_conflict() {
    Given::with(())
        .given(refreshed())
        .when(cmd(refresh(2, "rt2", 150)).expecting(Some(1)))
        .then_expect_error_message(
            "expected version 1 but the session is at version 2; reload it and retry",
        );
}

#[test]
fn revocation_reasons_have_stable_names() {
    let all = [
        (RevocationReason::Logout, "logout"),
        (RevocationReason::RefreshTokenReused, "refresh_token_reused"),
        (RevocationReason::UserDisabled, "user_disabled"),
        (RevocationReason::RoleChanged, "role_changed"),
        (RevocationReason::Admin, "admin"),
    ];
    for (reason, name) in all {
        assert_eq!(reason.as_str(), name);
        assert_eq!(reason.to_string(), name);
        assert_eq!(
            serde_json::to_value(reason).unwrap(),
            serde_json::json!(name)
        );
    }
}
