//! Given/when/then tests of webhook secret rotation, and of which secrets
//! a trigger accepts when.

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use super::tests::{archived, cmd, created, with, Given, ARCHIVED, NOT_FOUND};
use super::*;
use crate::error::{DomainError, ErrorKind};
use crate::integration::SealedSecret;
use crate::test_support::{replay, OTHER_TENANT};

fn sealed(tag: &str) -> SealedSecret {
    SealedSecret {
        key_id: "dek-1".into(),
        algorithm: "AES-256-GCM".into(),
        nonce: format!("nonce-{tag}"),
        ciphertext: format!("ciphertext-{tag}"),
    }
}

fn trigger(n: u128) -> WebhookTriggerId {
    WebhookTriggerId(Uuid::from_u128(n))
}

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap() + Duration::minutes(minute)
}

fn rotate(tag: &str, candidate: u128, minute: i64, grace_seconds: u32) -> WorkflowCommand {
    WorkflowCommand::RotateWebhookSecret {
        secret: sealed(tag),
        trigger_id: trigger(candidate),
        new_trigger_id: false,
        at: at(minute),
        grace_seconds,
    }
}

fn rotated(tag: &str, id: u128, minute: i64, until: Option<i64>) -> WorkflowEvent {
    WorkflowEvent::WebhookSecretRotated {
        trigger_id: trigger(id),
        secret: sealed(tag),
        rotated_at: at(minute),
        previous_valid_until: until.map(at),
    }
}

/// The ciphertexts of the secrets valid at `minute`, newest first.
fn valid_at(events: Vec<WorkflowEvent>, minute: i64) -> Vec<String> {
    let workflow: Workflow = replay(events);
    workflow
        .webhook()
        .expect("a trigger")
        .secrets_valid_at(at(minute))
        .map(|s| s.ciphertext.clone())
        .collect()
}

#[test]
fn the_first_rotation_makes_the_trigger_with_the_offered_id() {
    Given::with(())
        .given(created())
        .when(cmd(rotate("a", 1, 0, 3600)))
        .then_expect_events(vec![rotated("a", 1, 0, None)]);
    let workflow: Workflow = replay(with(created(), [rotated("a", 1, 0, None)]));
    assert_eq!(workflow.webhook().unwrap().trigger_id(), trigger(1));
    assert!(Workflow::default().webhook().is_none());
}

#[test]
fn a_later_rotation_keeps_the_id_and_ends_earlier_secrets_after_the_grace() {
    let first = with(created(), [rotated("a", 1, 0, None)]);
    Given::with(())
        .given(first.clone())
        .when(cmd(rotate("b", 2, 10, 3600)))
        .then_expect_events(vec![rotated("b", 1, 10, Some(70))]);

    let events = with(first, [rotated("b", 1, 10, Some(70))]);
    assert_eq!(
        valid_at(events.clone(), 11),
        ["ciphertext-b", "ciphertext-a"]
    );
    assert_eq!(
        valid_at(events.clone(), 69),
        ["ciphertext-b", "ciphertext-a"]
    );
    assert_eq!(
        valid_at(events, 70),
        ["ciphertext-b"],
        "the window is half-open"
    );
}

#[test]
fn a_new_trigger_id_is_used_only_when_asked_for() {
    let mut command = rotate("b", 2, 10, 0);
    if let WorkflowCommand::RotateWebhookSecret { new_trigger_id, .. } = &mut command {
        *new_trigger_id = true;
    }
    Given::with(())
        .given(with(created(), [rotated("a", 1, 0, None)]))
        .when(cmd(command))
        .then_expect_events(vec![rotated("b", 2, 10, Some(10))]);
}

#[test]
fn no_grace_revokes_every_earlier_secret_at_once() {
    let events = with(
        created(),
        [
            rotated("a", 1, 0, None),
            rotated("b", 1, 10, Some(600)),
            rotated("c", 1, 20, Some(20)),
        ],
    );
    assert_eq!(valid_at(events, 20), ["ciphertext-c"]);
}

#[test]
fn a_shorter_window_shortens_earlier_ones_and_a_longer_one_never_extends_them() {
    let events = with(
        created(),
        [
            rotated("a", 1, 0, None),
            rotated("b", 1, 10, Some(60)),
            rotated("c", 1, 20, Some(600)),
        ],
    );
    assert_eq!(
        valid_at(events.clone(), 59),
        ["ciphertext-c", "ciphertext-b", "ciphertext-a"]
    );
    assert_eq!(
        valid_at(events.clone(), 60),
        ["ciphertext-c", "ciphertext-b"]
    );
    assert_eq!(valid_at(events, 600), ["ciphertext-c"]);
}

#[test]
fn a_trigger_keeps_at_most_the_newest_secrets() {
    let mut events = with(created(), [rotated("s0", 1, 0, None)]);
    for n in 1..=6 {
        events.push(rotated(&format!("s{n}"), 1, n, Some(1000)));
    }
    let valid = valid_at(events, 7);
    assert_eq!(valid.len(), MAX_WEBHOOK_SECRETS);
    assert_eq!(
        valid,
        [
            "ciphertext-s6",
            "ciphertext-s5",
            "ciphertext-s4",
            "ciphertext-s3"
        ]
    );
}

#[test]
fn rotation_rejects_bad_secrets_and_windows() {
    let mut blank = rotate("a", 1, 0, 0);
    if let WorkflowCommand::RotateWebhookSecret { secret, .. } = &mut blank {
        secret.ciphertext = " ".into();
    }
    let err = Given::with(())
        .given(created())
        .when(cmd(blank))
        .inspect_result()
        .unwrap_err();
    assert_eq!(
        err,
        WorkflowError::InvalidWebhookSecret {
            field: "ciphertext"
        }
    );
    assert_eq!(err.kind(), ErrorKind::Validation);

    let err = Given::with(())
        .given(created())
        .when(cmd(rotate("a", 1, 0, MAX_WEBHOOK_GRACE_SECONDS + 1)))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(
        err.to_string(),
        "graceSeconds 604801 is too long; earlier webhook secrets may stay valid for at most 604800 seconds (7 days)"
    );
    Given::with(())
        .given(created())
        .when(cmd(rotate("a", 1, 0, MAX_WEBHOOK_GRACE_SECONDS)))
        .then_expect_events(vec![rotated("a", 1, 0, None)]);
}

#[test]
fn rotation_is_rejected_when_missing_foreign_or_archived() {
    Given::with(())
        .given_no_previous_events()
        .when(cmd(rotate("a", 1, 0, 0)))
        .then_expect_error_message(NOT_FOUND);
    Given::with(())
        .given(created())
        .when(Command::new(OTHER_TENANT, rotate("a", 1, 0, 0)))
        .then_expect_error_message(NOT_FOUND);
    Given::with(())
        .given(archived())
        .when(cmd(rotate("a", 1, 0, 0)))
        .then_expect_error_message(ARCHIVED);
}

#[test]
fn rotation_events_print_no_ciphertext_and_survive_snapshots() {
    let event = rotated("a", 1, 0, None);
    assert!(!format!("{event:?}").contains("ciphertext-a"));
    let workflow: Workflow = replay(with(created(), [event]));
    let snapshot = serde_json::to_value(&workflow).unwrap();
    assert_eq!(
        serde_json::from_value::<Workflow>(snapshot).unwrap(),
        workflow
    );
    // Snapshots taken before webhooks existed still load.
    let mut old = serde_json::to_value(replay::<Workflow>(created())).unwrap();
    old.as_object_mut().unwrap().remove("webhook");
    assert!(serde_json::from_value::<Workflow>(old)
        .unwrap()
        .webhook()
        .is_none());
}
