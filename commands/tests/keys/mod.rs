//! Shared setup for the envelope-encryption tests: two master keys to
//! configure in various ways, fresh tenants, distinguishable secrets.

#![allow(dead_code)]

use commands::secrets::data_keys::DataKeys;
use commands::secrets::master::MasterKeys;
use commands::secrets::{generate_key, SecretString};
use domain::ids::TenantId;
use sqlx::PgPool;
use uuid::Uuid;

/// Two master keys, `m1` and `m2`, that tests configure in various ways.
pub struct Masters {
    m1: SecretString,
    m2: SecretString,
}

impl Masters {
    /// Two fresh random keys.
    pub fn new() -> Self {
        Self {
            m1: generate_key(),
            m2: generate_key(),
        }
    }

    /// Master keys with the given ids configured and `active` active.
    pub fn keys(&self, active: &str, ids: &[&str]) -> MasterKeys {
        let entries = ids.iter().map(|id| {
            let key = match *id {
                "m1" => self.m1.clone(),
                "m2" => self.m2.clone(),
                other => panic!("no test key {other}"),
            };
            ((*id).to_owned(), key)
        });
        MasterKeys::new(active, entries).unwrap()
    }

    /// A fresh service (empty cache) over `pool`.
    pub fn data_keys(&self, pool: &PgPool, active: &str, ids: &[&str]) -> DataKeys {
        DataKeys::new(pool.clone(), self.keys(active, ids))
    }
}

/// A new tenant.
pub fn tenant() -> TenantId {
    TenantId(Uuid::new_v4())
}

/// The `n`th test secret.
pub fn secret(n: usize) -> SecretString {
    SecretString::new(format!(r#"{{"token":"canary-{n}"}}"#))
}

/// Every stored data key: tenant, key id, wrapped key, master key id.
pub async fn rows(pool: &PgPool) -> Vec<(Uuid, String, String, String)> {
    sqlx::query_as(
        "SELECT tenant_id, key_id, wrapped_key, master_key_id FROM tenant_data_keys ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}
