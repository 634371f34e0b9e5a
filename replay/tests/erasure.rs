//! Erasure and the audit trail: a user's personal data reaches the hash
//! chain and the export only as ciphertext, and erasing the user (its key
//! destroyed) leaves the export byte for byte as it was, with every chain
//! still verifying: nothing readable of that user remains, nothing changed.

mod support;

use std::sync::Arc;
use std::time::Duration;

use commands::personal::erased_email;
use commands::secrets::data_keys::DataKeys;
use commands::secrets::erasure::erase_subject;
use commands::secrets::master::MasterKeys;
use commands::secrets::subject_keys::SubjectKeys;
use commands::store::EventRepository;
use cqrs_es::persist::SerializedEvent;
use domain::ids::{TenantId, UserId};
use replay::chain::ChainFilter;
use replay::export::export;
use serde_json::json;
use sqlx::PgPool;
use support::*;
use uuid::Uuid;

const EMAIL: &str = "grace.hopper@example.com";
const NAME: &str = "Grace Canary Hopper";

/// Writes a created user through the command layer's repository (which
/// seals its personal data); its id.
async fn create_user(pool: &PgPool, keys: &Arc<DataKeys>, tenant: Uuid) -> UserId {
    let user = UserId(Uuid::new_v4());
    let metadata = json!({
        "tenant_id": tenant.to_string(),
        "actor": "system:test",
        "command_id": Uuid::now_v7().to_string(),
        "correlation_id": Uuid::now_v7().to_string(),
        "causation_id": Uuid::now_v7().to_string(),
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    });
    let created = SerializedEvent::new(
        user.to_string(),
        1,
        "User".to_owned(),
        "UserCreated".to_owned(),
        "1".to_owned(),
        json!({"UserCreated": {
            "tenant_id": tenant.to_string(), "email": EMAIL, "display_name": NAME, "role": "admin",
        }}),
        metadata,
    );
    let subject_keys = Arc::new(SubjectKeys::new(pool.clone(), Some(keys.clone())));
    EventRepository::sealing(pool.clone(), subject_keys)
        .append("User", &[created], None)
        .await
        .unwrap();
    user
}

/// Seals until every event of `tenant` is in the chain (other tests'
/// open transactions may hold the commit-order horizon back a while),
/// then exports it.
async fn sealed_export(pool: &PgPool, tenant: Uuid) -> String {
    for _ in 0..1000 {
        seal(pool).await;
        let mut out = Vec::new();
        let summary = export(pool, tenant, &ChainFilter::default(), &mut out)
            .await
            .unwrap();
        if summary.unsealed == 0 {
            return String::from_utf8(out).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the tenant's events were never all sealed");
}

#[sqlx::test(migrations = "../migrations")]
async fn an_export_after_erasure_shows_nothing_readable_and_the_chain_verifies(pool: PgPool) {
    let keys = Arc::new(DataKeys::new(pool.clone(), MasterKeys::generate("k1")));
    let tenant = Uuid::now_v7();
    history(&pool, tenant, 2).await;
    let user = create_user(&pool, &keys, tenant).await;
    history(&pool, tenant, 1).await;

    let before = sealed_export(&pool, tenant).await;
    assert_eq!(before.lines().count(), 4);
    assert!(before.contains("sealed"));
    for personal in [EMAIL, "grace.hopper", "Canary"] {
        assert!(!before.contains(personal), "the export shows {personal:?}");
    }
    assert!(report(&pool).await.ok);

    let erasure = erase_subject(&pool, TenantId(tenant), user).await.unwrap();
    assert!(erasure.key_destroyed);

    let after = sealed_export(&pool, tenant).await;
    assert_eq!(after, before, "erasure changes no event");
    assert!(!after.contains(&erased_email(&user.to_string())));
    let verified = report(&pool).await;
    assert!(verified.ok, "{verified}");
}
