//! Envelope encryption against the real database: per-tenant data keys
//! stored wrapped in `tenant_data_keys` seal and open credentials, and
//! nothing opens outside its own tenant and record.

mod keys;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use commands::secrets::data_keys::DataKeys;
use commands::secrets::master::MasterKeys;
use commands::secrets::{SecretError, SecretString};
use domain::ids::{IntegrationId, TenantId};
use domain::integration::SealedSecret;
use keys::*;
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrations = "../migrations")]
async fn secrets_round_trip_through_the_stored_data_key(pool: PgPool) {
    let masters = Masters::new();
    let (t, integration) = (tenant(), IntegrationId::new_v7());
    let sealed = masters
        .data_keys(&pool, "m1", &["m1"])
        .seal(t, integration, &secret(1))
        .await
        .unwrap();

    let stored = rows(&pool).await;
    assert_eq!(stored.len(), 1, "one data key for the tenant");
    let (tenant_id, key_id, wrapped, master_key_id) = &stored[0];
    assert_eq!((*tenant_id, master_key_id.as_str()), (t.0, "m1"));
    assert!(key_id.starts_with("dek-"), "{key_id}");
    assert_eq!(&sealed.key_id, key_id, "the ciphertext names its data key");
    assert_eq!(B64.decode(wrapped).unwrap().len(), 12 + 32 + 16);
    assert!(!sealed.ciphertext.contains("canary"));

    // An empty cache reads the data key from the table.
    let fresh = masters.data_keys(&pool, "m1", &["m1"]);
    assert_eq!(
        fresh.open(t, integration, &sealed).await.unwrap(),
        secret(1)
    );
    // The same tenant keeps its data key.
    let again = fresh.seal(t, integration, &secret(2)).await.unwrap();
    assert_eq!(again.key_id, sealed.key_id);
    assert_eq!(rows(&pool).await.len(), 1);
    assert!(!format!("{fresh:?}").contains(wrapped.as_str()));
}

#[sqlx::test(migrations = "../migrations")]
async fn tenants_get_their_own_data_keys_and_ciphertexts_do_not_travel(pool: PgPool) {
    let masters = Masters::new();
    let keys = masters.data_keys(&pool, "m1", &["m1"]);
    let (a, b) = (tenant(), tenant());
    let (integration, other_integration) = (IntegrationId::new_v7(), IntegrationId::new_v7());
    let sealed_a = keys.seal(a, integration, &secret(1)).await.unwrap();
    let sealed_b = keys.seal(b, integration, &secret(1)).await.unwrap();

    assert_ne!(sealed_a.key_id, sealed_b.key_id);
    let stored = rows(&pool).await;
    assert_eq!(stored.len(), 2);
    assert_ne!(stored[0].2, stored[1].2);

    // Copied to another tenant: that tenant has no such data key.
    let err = keys.open(b, integration, &sealed_a).await.unwrap_err();
    assert!(matches!(err, SecretError::UnknownKey(_)), "{err:?}");
    // Relabelled with the other tenant's key id: the key does not open it.
    let relabelled = SealedSecret {
        key_id: sealed_b.key_id.clone(),
        ..sealed_a.clone()
    };
    let err = keys.open(b, integration, &relabelled).await.unwrap_err();
    assert!(matches!(err, SecretError::Undecryptable), "{err:?}");
    // Moved to another integration of the same tenant.
    let err = keys
        .open(a, other_integration, &sealed_a)
        .await
        .unwrap_err();
    assert!(matches!(err, SecretError::Undecryptable), "{err:?}");

    // A wrapped data key copied into another tenant's row does not unwrap.
    sqlx::query(
        "UPDATE tenant_data_keys SET wrapped_key =
           (SELECT wrapped_key FROM tenant_data_keys WHERE tenant_id = $1) WHERE tenant_id = $2",
    )
    .bind(a.0)
    .bind(b.0)
    .execute(&pool)
    .await
    .unwrap();
    let fresh = masters.data_keys(&pool, "m1", &["m1"]);
    let err = fresh.open(b, integration, &sealed_b).await.unwrap_err();
    assert!(matches!(err, SecretError::Unwrappable { .. }), "{err:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn tampering_fails_to_open(pool: PgPool) {
    let masters = Masters::new();
    let keys = masters.data_keys(&pool, "m1", &["m1"]);
    let (t, integration) = (tenant(), IntegrationId::new_v7());
    let sealed = keys.seal(t, integration, &secret(1)).await.unwrap();

    let mut tampered = sealed.clone();
    let mut bytes = B64.decode(&tampered.ciphertext).unwrap();
    bytes[3] ^= 0x40;
    tampered.ciphertext = B64.encode(bytes);
    let err = keys.open(t, integration, &tampered).await.unwrap_err();
    assert!(matches!(err, SecretError::Undecryptable), "{err:?}");

    let mut wrapped = B64.decode(&rows(&pool).await[0].2).unwrap();
    wrapped[20] ^= 1;
    sqlx::query("UPDATE tenant_data_keys SET wrapped_key = $1")
        .bind(B64.encode(wrapped))
        .execute(&pool)
        .await
        .unwrap();
    let fresh = masters.data_keys(&pool, "m1", &["m1"]);
    let err = fresh.open(t, integration, &sealed).await.unwrap_err();
    assert!(matches!(err, SecretError::Unwrappable { .. }), "{err:?}");
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_keys_are_named(pool: PgPool) {
    let masters = Masters::new();
    let (t, integration) = (tenant(), IntegrationId::new_v7());
    let sealed = masters
        .data_keys(&pool, "m1", &["m1"])
        .seal(t, integration, &secret(1))
        .await
        .unwrap();

    let without_m1 = masters.data_keys(&pool, "m2", &["m2"]);
    let err = without_m1.open(t, integration, &sealed).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "data key '{}' is wrapped under master key 'm1', which is not configured \
             (add it to JOBSPRINT_MASTER_KEYS)",
            sealed.key_id
        )
    );
    let unknown = SealedSecret {
        key_id: "nope".into(),
        ..sealed
    };
    let err = without_m1.open(t, integration, &unknown).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "no key with id 'nope' is stored for this tenant or configured"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn secrets_sealed_by_the_single_key_keyring_still_open(pool: PgPool) {
    // Made by `Keyring::seal` (commit 2a6e802) under key id `k1`, the id
    // `JOBSPRINT_SECRET_KEY_ID` defaults to.
    let legacy = MasterKeys::new(
        "k1",
        [(
            "k1".to_owned(),
            SecretString::new("g8pOGzkDTXAKE7xAWrJq9hrVu4flYNrkmMNPL2aoFLQ="),
        )],
    )
    .unwrap();
    let sealed = SealedSecret {
        key_id: "k1".into(),
        algorithm: "AES-256-GCM".into(),
        nonce: "FMDYqXiS+JPkPZ/P".into(),
        ciphertext: "4d518ckpJ/i7yLHVQeOM6SoWZv1MCfbPDn5AkDyYNt1TLIZyZfC6fOg=".into(),
    };
    let (t, integration) = (
        TenantId(Uuid::from_u128(0x1111)),
        IntegrationId(Uuid::from_u128(0x2222)),
    );
    let keys = DataKeys::new(pool.clone(), legacy);
    let opened = keys.open(t, integration, &sealed).await.unwrap();
    assert_eq!(opened.expose(), r#"{"token":"legacy-canary"}"#);
    assert!(keys.open(tenant(), integration, &sealed).await.is_err());
}

#[sqlx::test(migrations = "../migrations")]
async fn processes_racing_on_a_new_tenant_share_one_data_key(pool: PgPool) {
    let masters = Masters::new();
    let t = tenant();
    let integration = IntegrationId::new_v7();
    let sealers = (0..8).map(|n| {
        let keys = masters.data_keys(&pool, "m1", &["m1"]);
        async move { keys.seal(t, integration, &secret(n)).await.unwrap() }
    });
    let sealed = futures::future::join_all(sealers).await;

    assert_eq!(
        rows(&pool).await.len(),
        1,
        "exactly one data key was stored"
    );
    let reader = masters.data_keys(&pool, "m1", &["m1"]);
    for (n, one) in sealed.iter().enumerate() {
        assert_eq!(one.key_id, sealed[0].key_id);
        assert_eq!(reader.open(t, integration, one).await.unwrap(), secret(n));
    }
}
