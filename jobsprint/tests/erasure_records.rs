//! The relay's records of a user's events (the CloudEvents Kafka records,
//! built from the same history the `events` query reads) carry the user's
//! email and display name only as ciphertext, and are byte for byte the
//! same after the user is erased (docs/adr/0016-erasure.md).

use std::sync::Arc;

use auth::jwt::{JwtConfig, JwtService, SigningKey};
use auth::tokens::generate_secret;
use commands::identity::{Identity, IdentityConfig};
use commands::secrets::data_keys::DataKeys;
use commands::secrets::erasure::erase_subject;
use commands::secrets::master::MasterKeys;
use commands::{CommandConfig, Commands};
use domain::ids::{TenantId, UserId};
use projections::commit_order::{CommittedEvent, Cursor};
use projections::history::aggregate_history;
use sqlx::PgPool;

const EMAIL: &str = "ada.canary@example.com";

fn identity(pool: &PgPool) -> Identity {
    let keys = DataKeys::new(pool.clone(), MasterKeys::generate("k1"));
    let commands = Arc::new(Commands::new(
        pool.clone(),
        CommandConfig {
            secrets: Some(Arc::new(keys)),
            ..CommandConfig::default()
        },
    ));
    let config = JwtConfig::new(
        "jobsprint",
        "jobsprint-api",
        vec![SigningKey::new("k", generate_secret())],
        "k",
        JwtConfig::DEFAULT_TTL,
        JwtConfig::DEFAULT_LEEWAY,
    )
    .unwrap();
    Identity::new(commands, JwtService::new(config), IdentityConfig::default())
}

/// The relay's records of `user`'s events: headers and value as text.
async fn records(pool: &PgPool, tenant: TenantId, user: UserId) -> String {
    let history = aggregate_history(pool, tenant.0, "User", &user.to_string(), 0, 100)
        .await
        .unwrap();
    assert!(history.events.iter().any(|e| e.event_type == "UserCreated"));
    history
        .events
        .into_iter()
        .map(|event| {
            let committed = CommittedEvent {
                cursor: Cursor::default(),
                event,
            };
            let record = stream::cloudevents::to_record(&committed);
            let headers: String = record.headers.iter().map(|(_, v)| v.as_str()).collect();
            format!("{headers}{}", String::from_utf8_lossy(&record.value))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[sqlx::test(migrations = "../migrations")]
async fn relay_records_carry_only_ciphertext_before_and_after_erasure(pool: PgPool) {
    let made = identity(&pool)
        .create_tenant("T", EMAIL, None)
        .await
        .unwrap();

    let before = records(&pool, made.tenant_id, made.user_id).await;
    assert!(before.contains("sealed"), "{before}");
    for personal in [EMAIL, "ada.canary", "Administrator"] {
        assert!(!before.contains(personal), "a record shows {personal:?}");
    }
    let erasure = erase_subject(&pool, made.tenant_id, made.user_id)
        .await
        .unwrap();
    assert!(erasure.key_destroyed);
    // Republishing after erasure sends the very same bytes.
    assert_eq!(records(&pool, made.tenant_id, made.user_id).await, before);
}
