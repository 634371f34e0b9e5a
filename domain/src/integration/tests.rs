//! Given/when/then tests of every integration command, accepted and
//! rejected.

use chrono::{TimeZone, Utc};
use cqrs_es::test::TestFramework;
use serde_json::json;

use super::*;
use crate::error::{DomainError, ErrorKind};
use crate::test_support::OTHER_TENANT;

type Given = TestFramework<Integration>;
const T: TenantId = TenantId::DEFAULT;
const NOT_FOUND: &str = "integration not found; check the integration id";
const REMOVED: &str = "integration is removed; register a new integration instead";

fn cmd(body: IntegrationCommand) -> Command<IntegrationCommand> {
    Command::new(T, body)
}

pub(super) fn secret(key_id: &str) -> SealedSecret {
    SealedSecret {
        key_id: key_id.into(),
        algorithm: "AES-256-GCM".into(),
        nonce: "bm9uY2U=".into(),
        ciphertext: "Y2lwaGVy".into(),
    }
}

fn register(kind: &str) -> IntegrationCommand {
    IntegrationCommand::Register {
        name: " Team Slack ".into(),
        kind: kind.into(),
        config: json!({"channel": "#ops"}),
        credentials: Some(secret("k1")),
    }
}

fn registered() -> Vec<IntegrationEvent> {
    vec![IntegrationEvent::IntegrationRegistered {
        tenant_id: T,
        name: "Team Slack".into(),
        kind: "slack".into(),
        config: json!({"channel": "#ops"}),
        credentials: Some(secret("k1")),
    }]
}

fn then(more: IntegrationEvent) -> Vec<IntegrationEvent> {
    let mut events = registered();
    events.push(more);
    events
}

fn health(at: i64, healthy: bool) -> IntegrationCommand {
    IntegrationCommand::RecordHealthCheck {
        healthy,
        message: Some("ok".into()),
        latency_ms: Some(12),
        checked_at: Utc.timestamp_opt(at, 0).unwrap(),
    }
}

fn health_event(at: i64, healthy: bool, message: Option<String>) -> IntegrationEvent {
    IntegrationEvent::IntegrationHealthChecked {
        healthy,
        message,
        latency_ms: Some(12),
        checked_at: Utc.timestamp_opt(at, 0).unwrap(),
    }
}

#[test]
fn register_records_trimmed_name_and_starts_enabled() {
    Given::with(())
        .given_no_previous_events()
        .when(cmd(register("slack")))
        .then_expect_events(registered());
    let state: Integration = crate::test_support::replay(registered());
    assert!(state.is_enabled());
    assert_eq!(state.credential_key_id(), Some("k1"));
    assert_eq!(
        (state.name(), state.kind(), state.version()),
        ("Team Slack", "slack", 1)
    );
}

#[test]
fn register_twice_conflicts_and_another_tenant_sees_nothing() {
    let err = Given::with(())
        .given(registered())
        .when(cmd(register("slack")))
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().starts_with("integration already exists"));
    Given::with(())
        .given(registered())
        .when(Command::new(OTHER_TENANT, register("slack")))
        .then_expect_error_message(NOT_FOUND);
}

#[test]
fn register_validates_kind_name_config_and_credentials() {
    let reject = |body: IntegrationCommand, message: &str| {
        Given::with(())
            .given_no_previous_events()
            .when(cmd(body))
            .then_expect_error_message(message)
    };
    for kind in ["Slack", "", "9lives", "a b", &"a".repeat(65)] {
        reject(register(kind), &format!("integration kind '{kind}' is invalid; use 1 to 64 characters: lowercase letters, digits, '_' or '-', starting with a letter (e.g. 'slack')"));
    }
    Given::with(())
        .given_no_previous_events()
        .when(cmd(register(&format!("a{}", "-_9".repeat(21)))))
        .inspect_result()
        .expect("64 valid characters are accepted");
    let with = |name: &str, config, credentials| IntegrationCommand::Register {
        name: name.into(),
        kind: "slack".into(),
        config,
        credentials,
    };
    reject(
        with(" ", json!({}), None),
        "integration name must not be empty",
    );
    reject(
        with("Slack", json!([1]), None),
        "integration config must be a JSON object, e.g. {\"base_url\": \"https://...\"}",
    );
    let big = json!({ "blob": "x".repeat(MAX_CONFIG_BYTES) });
    let err = Given::with(())
        .given_no_previous_events()
        .when(cmd(with("Slack", big, None)))
        .inspect_result()
        .unwrap_err();
    assert!(err.to_string().contains("but the limit is 65536"), "{err}");
    let mut no_nonce = secret("k1");
    no_nonce.nonce = String::new();
    reject(
        with("Slack", json!({}), Some(no_nonce)),
        "credentials.nonce must not be empty; send the sealed secret produced by the encryption step",
    );
}

#[test]
fn update_config_records_changes_and_ignores_identical_configs() {
    Given::with(())
        .given(registered())
        .when(cmd(IntegrationCommand::UpdateConfig {
            config: json!({"channel": "#alerts"}),
        }))
        .then_expect_events(vec![IntegrationEvent::IntegrationConfigUpdated {
            config: json!({"channel": "#alerts"}),
        }]);
    Given::with(())
        .given(registered())
        .when(cmd(IntegrationCommand::UpdateConfig {
            config: json!({"channel": "#ops"}),
        }))
        .then_expect_events(vec![]);
    Given::with(())
        .given(registered())
        .when(cmd(IntegrationCommand::UpdateConfig { config: json!("x") }))
        .then_expect_error_message(
            "integration config must be a JSON object, e.g. {\"base_url\": \"https://...\"}",
        );
}

#[test]
fn rotate_credentials_replaces_the_secret_unless_identical() {
    Given::with(())
        .given(registered())
        .when(cmd(IntegrationCommand::RotateCredentials {
            credentials: secret("k2"),
        }))
        .then_expect_events(vec![IntegrationEvent::IntegrationCredentialsRotated {
            credentials: secret("k2"),
        }]);
    Given::with(())
        .given(registered())
        .when(cmd(IntegrationCommand::RotateCredentials {
            credentials: secret("k1"),
        }))
        .then_expect_events(vec![]);
    Given::with(())
        .given(registered())
        .when(cmd(IntegrationCommand::RotateCredentials {
            credentials: secret(""),
        }))
        .then_expect_error_message(
            "credentials.key_id must not be empty; send the sealed secret produced by the encryption step",
        );
}

#[test]
fn set_enabled_toggles_and_ignores_the_current_state() {
    let set = |enabled| cmd(IntegrationCommand::SetEnabled { enabled });
    Given::with(())
        .given(registered())
        .when(set(false))
        .then_expect_events(vec![IntegrationEvent::IntegrationDisabled]);
    Given::with(())
        .given(registered())
        .when(set(true))
        .then_expect_events(vec![]);
    Given::with(())
        .given(then(IntegrationEvent::IntegrationDisabled))
        .when(set(true))
        .then_expect_events(vec![IntegrationEvent::IntegrationEnabled]);
    Given::with(())
        .given(then(IntegrationEvent::IntegrationDisabled))
        .when(set(false))
        .then_expect_events(vec![]);
}

#[test]
fn health_checks_are_recorded_cut_and_stale_ones_dropped() {
    Given::with(())
        .given(registered())
        .when(cmd(health(100, true)))
        .then_expect_events(vec![health_event(100, true, Some("ok".into()))]);
    Given::with(())
        .given(then(health_event(100, true, None)))
        .when(cmd(health(50, false)))
        .then_expect_events(vec![]);
    let long = IntegrationCommand::RecordHealthCheck {
        healthy: false,
        message: Some("é".repeat(MAX_HEALTH_MESSAGE_CHARS + 5)),
        latency_ms: Some(12),
        checked_at: Utc.timestamp_opt(7, 0).unwrap(),
    };
    let cut = Some("é".repeat(MAX_HEALTH_MESSAGE_CHARS));
    Given::with(())
        .given(registered())
        .when(cmd(long))
        .then_expect_events(vec![health_event(7, false, cut)]);
    let state: Integration = crate::test_support::replay(then(health_event(100, false, None)));
    assert_eq!(state.last_health().map(|h| h.healthy), Some(false));
}

#[test]
fn remove_records_removal_and_repeats_as_a_no_op() {
    Given::with(())
        .given(registered())
        .when(cmd(IntegrationCommand::Remove))
        .then_expect_events(vec![IntegrationEvent::IntegrationRemoved]);
    Given::with(())
        .given(then(IntegrationEvent::IntegrationRemoved))
        .when(cmd(IntegrationCommand::Remove))
        .then_expect_events(vec![]);
}

#[test]
fn a_removed_integration_rejects_everything_but_remove() {
    let bodies = [
        register("slack"),
        IntegrationCommand::UpdateConfig { config: json!({}) },
        IntegrationCommand::RotateCredentials {
            credentials: secret("k2"),
        },
        IntegrationCommand::SetEnabled { enabled: false },
        health(1, true),
    ];
    for body in bodies {
        let err = Given::with(())
            .given(then(IntegrationEvent::IntegrationRemoved))
            .when(cmd(body))
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.to_string(), REMOVED);
        assert_eq!(err.kind(), ErrorKind::InvalidState);
    }
}

#[test]
fn every_command_on_a_missing_or_foreign_integration_is_not_found() {
    let bodies = || {
        vec![
            IntegrationCommand::UpdateConfig { config: json!({}) },
            IntegrationCommand::RotateCredentials {
                credentials: secret("k2"),
            },
            IntegrationCommand::SetEnabled { enabled: false },
            health(1, true),
            IntegrationCommand::Remove,
        ]
    };
    for body in bodies() {
        Given::with(())
            .given_no_previous_events()
            .when(cmd(body))
            .then_expect_error_message(NOT_FOUND);
    }
    for body in bodies() {
        Given::with(())
            .given(registered())
            .when(Command::new(OTHER_TENANT, body))
            .then_expect_error_message(NOT_FOUND);
    }
}

#[test]
fn a_stale_expected_version_is_a_conflict() {
    Given::with(())
        .given(registered())
        .when(cmd(IntegrationCommand::SetEnabled { enabled: false }).expecting(Some(0)))
        .then_expect_error_message(
            "expected version 0 but the integration is at version 1; reload it and retry",
        );
    Given::with(())
        .given(registered())
        .when(cmd(IntegrationCommand::SetEnabled { enabled: false }).expecting(Some(1)))
        .then_expect_events(vec![IntegrationEvent::IntegrationDisabled]);
}
