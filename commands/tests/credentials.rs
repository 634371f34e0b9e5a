//! Integration credentials reach the event store only sealed.

mod support;

use commands::integrations::RegisterIntegration;
use commands::secrets::{Keyring, SecretString};
use commands::{CommandConfig, Commands};
use domain::ids::{IntegrationId, TenantId};
use domain::integration::IntegrationEvent;
use serde_json::json;
use sqlx::PgPool;
use support::*;

#[sqlx::test(migrations = "../migrations")]
async fn credentials_are_stored_sealed_and_open_with_the_key(pool: PgPool) {
    let key = Keyring::generate_key();
    let keyring = Keyring::new("k-2026", &key).unwrap();
    let commands = Commands::new(
        pool.clone(),
        CommandConfig {
            keyring: Some(keyring.clone()),
            ..CommandConfig::default()
        },
    );
    let id = IntegrationId::new_v7();
    let canary = "canary-5f2c9e-plaintext-token";
    let register = RegisterIntegration {
        name: "Slack".into(),
        kind: "slack".into(),
        config: json!({"channel": "#ops"}),
        credentials: Some(SecretString::new(json!({"token": canary}).to_string())),
    };
    commands
        .register_integration(&ctx(), id, register)
        .await
        .unwrap();
    commands
        .rotate_integration_credentials(&ctx(), id, &SecretString::new(format!("{canary}-2")), None)
        .await
        .unwrap();

    let dump: String =
        sqlx::query_scalar("SELECT string_agg(payload::text || metadata::text, '') FROM events")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        !dump.contains("canary"),
        "plaintext credential reached the event store"
    );
    assert!(dump.contains("k-2026"), "events record the key id");

    let payload: serde_json::Value =
        sqlx::query_scalar("SELECT payload FROM events WHERE aggregate_id = $1 AND sequence = 1")
            .bind(id.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    let event: IntegrationEvent = serde_json::from_value(payload).unwrap();
    let IntegrationEvent::IntegrationRegistered {
        credentials: Some(sealed),
        ..
    } = event
    else {
        panic!("expected IntegrationRegistered with credentials, got {event:?}");
    };
    let opened = keyring.open(TenantId::DEFAULT, id, &sealed).unwrap();
    assert_eq!(opened.expose(), json!({"token": canary}).to_string());
}

#[sqlx::test(migrations = "../migrations")]
async fn without_a_key_credentials_are_refused_not_stored(pool: PgPool) {
    let commands = Commands::new(pool.clone(), CommandConfig::default());
    let id = IntegrationId::new_v7();
    let register = RegisterIntegration {
        name: "Slack".into(),
        kind: "slack".into(),
        config: json!({}),
        credentials: Some(SecretString::new("token")),
    };
    let err = commands
        .register_integration(&ctx(), id, register)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("JOBSPRINT_SECRET_KEY"), "{err}");
    assert_eq!(event_count(&pool, id).await, 0);
}
