//! Integration credentials reach the event store only sealed.

mod support;

use std::sync::Arc;

use commands::integrations::RegisterIntegration;
use commands::secrets::data_keys::DataKeys;
use commands::secrets::master::MasterKeys;
use commands::secrets::{generate_key, SecretString};
use commands::{CommandConfig, Commands};
use domain::ids::{IntegrationId, TenantId};
use domain::integration::IntegrationEvent;
use serde_json::json;
use sqlx::PgPool;
use support::*;

#[sqlx::test(migrations = "../migrations")]
async fn credentials_are_stored_sealed_and_open_with_the_key(pool: PgPool) {
    let key = generate_key();
    let master = || MasterKeys::new("k-2026", [("k-2026".to_owned(), key.clone())]).unwrap();
    let commands = Commands::new(
        pool.clone(),
        CommandConfig {
            secrets: Some(Arc::new(DataKeys::new(pool.clone(), master()))),
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
    let (data_key_id, master_key_id): (String, String) =
        sqlx::query_as("SELECT key_id, master_key_id FROM tenant_data_keys WHERE tenant_id = $1")
            .bind(TenantId::DEFAULT.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        master_key_id, "k-2026",
        "the data key records its master key"
    );
    assert!(dump.contains(&data_key_id), "events record the data key id");
    assert!(
        !dump.contains("k-2026"),
        "events name the data key, not the master key"
    );

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
    assert_eq!(sealed.key_id, data_key_id);
    // A process that has only the master key opens it through the stored data key.
    let fresh = DataKeys::new(pool.clone(), master());
    let opened = fresh.open(TenantId::DEFAULT, id, &sealed).await.unwrap();
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
    assert!(err.to_string().contains("JOBSPRINT_MASTER_KEYS"), "{err}");
    assert_eq!(event_count(&pool, id).await, 0);
}
