//! Tenant data keys: one random 32-byte key per tenant, made on first use,
//! stored in `tenant_data_keys` wrapped under a master key, and kept
//! unwrapped in this process's memory once read. They seal the tenant's
//! integration credentials and webhook secrets.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use domain::ids::{IntegrationId, TenantId, WorkflowId};
use domain::integration::SealedSecret;
use sqlx::PgPool;
use uuid::Uuid;

use super::cipher::{
    open_credentials, open_webhook_secret, seal_credentials, seal_webhook_secret, KeyBytes,
};
use super::master::{MasterKeys, DATA_KEY_PREFIX};
use super::{SecretError, SecretString};

/// Seals and opens integration credentials with per-tenant data keys.
/// Shared by every command of a process; `Debug` prints key ids only.
pub struct DataKeys {
    pub(super) pool: PgPool,
    pub(super) master: MasterKeys,
    cache: RwLock<Cache>,
}

/// Unwrapped data keys. A tenant's active key id is remembered for the life
/// of the process; a newer data key made elsewhere is picked up at restart,
/// and older keys keep opening what they sealed, so nothing breaks meanwhile.
#[derive(Default)]
struct Cache {
    active: HashMap<TenantId, String>,
    keys: HashMap<(TenantId, String), Arc<KeyBytes>>,
}

impl fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.cache.read().map_or(0, |cache| cache.keys.len());
        f.debug_struct("DataKeys")
            .field("master", &self.master)
            .field("cached_data_keys", &cached)
            .finish()
    }
}

impl DataKeys {
    /// Data keys stored in `pool`'s `tenant_data_keys`, wrapped under `master`.
    pub fn new(pool: PgPool, master: MasterKeys) -> Self {
        Self {
            pool,
            master,
            cache: RwLock::new(Cache::default()),
        }
    }

    /// The master keys this service wraps and unwraps with.
    pub fn master_keys(&self) -> &MasterKeys {
        &self.master
    }

    /// Encrypts the credentials of one integration under its tenant's active
    /// data key, making that key on the tenant's first use.
    pub async fn seal(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        plaintext: &SecretString,
    ) -> Result<SealedSecret, SecretError> {
        let (key_id, key) = self.active_key(tenant).await?;
        Ok(seal_credentials(
            &key,
            &key_id,
            tenant,
            integration,
            plaintext,
        ))
    }

    /// Decrypts the credentials of one integration with the key the sealed
    /// secret names: one of the tenant's data keys or, for secrets sealed
    /// before envelope encryption, a configured master key.
    pub async fn open(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        sealed: &SealedSecret,
    ) -> Result<SecretString, SecretError> {
        let unknown = || SecretError::UnknownKey(sealed.key_id.clone());
        if !sealed.key_id.starts_with(DATA_KEY_PREFIX) {
            let key = self.master.get(&sealed.key_id).ok_or_else(unknown)?;
            return open_credentials(key, tenant, integration, sealed);
        }
        let key = self
            .key(tenant, &sealed.key_id)
            .await?
            .ok_or_else(unknown)?;
        open_credentials(&key, tenant, integration, sealed)
    }

    /// Encrypts the webhook secret of one workflow under its tenant's active
    /// data key.
    pub async fn seal_webhook_secret(
        &self,
        tenant: TenantId,
        workflow: WorkflowId,
        plaintext: &SecretString,
    ) -> Result<SealedSecret, SecretError> {
        let (key_id, key) = self.active_key(tenant).await?;
        Ok(seal_webhook_secret(
            &key, &key_id, tenant, workflow, plaintext,
        ))
    }

    /// Decrypts the webhook secret of one workflow with the data key the
    /// sealed secret names (webhook secrets were never sealed directly
    /// under a master key).
    pub async fn open_webhook_secret(
        &self,
        tenant: TenantId,
        workflow: WorkflowId,
        sealed: &SealedSecret,
    ) -> Result<SecretString, SecretError> {
        let key = self
            .key(tenant, &sealed.key_id)
            .await?
            .ok_or_else(|| SecretError::UnknownKey(sealed.key_id.clone()))?;
        open_webhook_secret(&key, tenant, workflow, sealed)
    }

    /// The tenant's newest data key, made if the tenant has none.
    async fn active_key(&self, tenant: TenantId) -> Result<(String, Arc<KeyBytes>), SecretError> {
        if let Some(found) = self.cached_active(tenant) {
            return Ok(found);
        }
        let newest: Option<(String, String, String)> = sqlx::query_as(
            "SELECT key_id, wrapped_key, master_key_id FROM tenant_data_keys
              WHERE tenant_id = $1 ORDER BY created_at DESC, key_id DESC LIMIT 1",
        )
        .bind(tenant.0)
        .fetch_optional(&self.pool)
        .await?;
        let (key_id, key) = match newest {
            Some((key_id, wrapped, master_key_id)) => {
                let key = self.remember(tenant, &key_id, &master_key_id, &wrapped)?;
                (key_id, key)
            }
            None => self.create_first(tenant).await?,
        };
        self.write_cache().active.insert(tenant, key_id.clone());
        Ok((key_id, key))
    }

    /// Makes the tenant's first data key. Its id is derived from the tenant,
    /// so processes racing to make it collide on the primary key: one insert
    /// wins and everyone reads back the winner.
    async fn create_first(&self, tenant: TenantId) -> Result<(String, Arc<KeyBytes>), SecretError> {
        let key_id = first_key_id(tenant);
        let wrapped = self.master.wrap(tenant, &key_id, &KeyBytes::random());
        let inserted = sqlx::query(
            "INSERT INTO tenant_data_keys (tenant_id, key_id, wrapped_key, master_key_id)
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, key_id) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(&key_id)
        .bind(&wrapped)
        .bind(self.master.active_id())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            tracing::info!(
                tenant_id = %tenant,
                key_id,
                master_key_id = self.master.active_id(),
                "made a tenant data key"
            );
        }
        let key = self
            .key(tenant, &key_id)
            .await?
            .ok_or_else(|| SecretError::UnknownKey(key_id.clone()))?;
        Ok((key_id, key))
    }

    /// Data key `key_id` of `tenant`, from the cache or the table; `None` if
    /// the tenant has no such key.
    async fn key(
        &self,
        tenant: TenantId,
        key_id: &str,
    ) -> Result<Option<Arc<KeyBytes>>, SecretError> {
        if let Some(key) = self.read_cache().keys.get(&(tenant, key_id.to_owned())) {
            return Ok(Some(key.clone()));
        }
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT wrapped_key, master_key_id FROM tenant_data_keys
              WHERE tenant_id = $1 AND key_id = $2",
        )
        .bind(tenant.0)
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(wrapped, master_key_id)| self.remember(tenant, key_id, &master_key_id, &wrapped))
            .transpose()
    }

    /// Unwraps a stored data key and caches it.
    fn remember(
        &self,
        tenant: TenantId,
        key_id: &str,
        master_key_id: &str,
        wrapped: &str,
    ) -> Result<Arc<KeyBytes>, SecretError> {
        let key = Arc::new(self.master.unwrap(master_key_id, tenant, key_id, wrapped)?);
        self.write_cache()
            .keys
            .insert((tenant, key_id.to_owned()), key.clone());
        Ok(key)
    }

    fn cached_active(&self, tenant: TenantId) -> Option<(String, Arc<KeyBytes>)> {
        let cache = self.read_cache();
        let key_id = cache.active.get(&tenant)?;
        let key = cache.keys.get(&(tenant, key_id.clone()))?;
        Some((key_id.clone(), key.clone()))
    }

    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        // The cache holds no invariant a panicking writer could break.
        self.cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_cache(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The id of a tenant's first data key: `dek-` and a UUID v5 of the tenant.
/// Never change the namespace: existing rows and ciphertexts carry the ids.
fn first_key_id(tenant: TenantId) -> String {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6a0f_3c1e_52d4_4b8f_9e27_d1c0_8b3a_f415);
    let id = Uuid::new_v5(&NAMESPACE, format!("{tenant}/1").as_bytes());
    format!("{DATA_KEY_PREFIX}{id}")
}
