//! Master key rotation: re-wraps every data key that is not wrapped under the
//! active master key. Each row changes in its own single-statement
//! transaction, guarded by a compare-and-set on what was read, so servers
//! that hold both the old and the new master key keep opening secrets
//! throughout, and two rotations at once never overwrite each other.

use std::fmt;

use domain::ids::TenantId;
use uuid::Uuid;

use super::data_keys::DataKeys;
use super::SecretError;

/// Rows read per page while scanning for keys to re-wrap.
const PAGE: i64 = 256;

/// What one run of [`DataKeys::rotate_master_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// The master key every data key is now wrapped under.
    pub master_key_id: String,
    /// Data keys re-wrapped by this run.
    pub rewrapped: u64,
    /// Data keys that were already wrapped under the active master key.
    pub already_current: u64,
    /// Data keys another process changed between this run's read and write;
    /// left as they were (run again to check them).
    pub changed_concurrently: u64,
}

impl fmt::Display for RotationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "master key '{}': {} data keys re-wrapped, {} already current",
            self.master_key_id, self.rewrapped, self.already_current
        )?;
        if self.changed_concurrently > 0 {
            write!(
                f,
                ", {} changed by another process meanwhile (run again)",
                self.changed_concurrently
            )?;
        }
        Ok(())
    }
}

impl DataKeys {
    /// Re-wraps every data key not wrapped under the active master key.
    /// Idempotent: a second run re-wraps nothing. Fails on the first data
    /// key wrapped under a master key this process is not given, naming it;
    /// what was re-wrapped before stays re-wrapped.
    pub async fn rotate_master_key(&self) -> Result<RotationReport, SecretError> {
        let active = self.master.active_id();
        let already_current: i64 =
            sqlx::query_scalar("SELECT count(*) FROM tenant_data_keys WHERE master_key_id = $1")
                .bind(active)
                .fetch_one(&self.pool)
                .await?;
        let mut report = RotationReport {
            master_key_id: active.to_owned(),
            rewrapped: 0,
            already_current: already_current as u64,
            changed_concurrently: 0,
        };
        let mut after = (Uuid::nil(), String::new());
        loop {
            let page: Vec<(Uuid, String, String, String)> = sqlx::query_as(
                "SELECT tenant_id, key_id, wrapped_key, master_key_id FROM tenant_data_keys
                  WHERE master_key_id <> $1 AND (tenant_id, key_id) > ($2, $3)
                  ORDER BY tenant_id, key_id LIMIT $4",
            )
            .bind(active)
            .bind(after.0)
            .bind(&after.1)
            .bind(PAGE)
            .fetch_all(&self.pool)
            .await?;
            let Some((last_tenant, last_key, _, _)) = page.last() else {
                break;
            };
            after = (*last_tenant, last_key.clone());
            for (tenant, key_id, wrapped, from) in &page {
                if self
                    .rewrap(TenantId(*tenant), key_id, wrapped, from)
                    .await?
                {
                    report.rewrapped += 1;
                } else {
                    report.changed_concurrently += 1;
                }
            }
        }
        Ok(report)
    }

    /// Re-wraps one data key; false if the row changed since it was read.
    async fn rewrap(
        &self,
        tenant: TenantId,
        key_id: &str,
        wrapped: &str,
        from: &str,
    ) -> Result<bool, SecretError> {
        let data_key = self.master.unwrap(from, tenant, key_id, wrapped)?;
        let rewrapped = self.master.wrap(tenant, key_id, &data_key);
        let updated = sqlx::query(
            "UPDATE tenant_data_keys
                SET wrapped_key = $1, master_key_id = $2, rewrapped_at = clock_timestamp()
              WHERE tenant_id = $3 AND key_id = $4
                AND master_key_id = $5 AND wrapped_key = $6",
        )
        .bind(&rewrapped)
        .bind(self.master.active_id())
        .bind(tenant.0)
        .bind(key_id)
        .bind(from)
        .bind(wrapped)
        .execute(&self.pool)
        .await?
        .rows_affected();
        tracing::debug!(
            tenant_id = %tenant,
            key_id,
            from,
            to = self.master.active_id(),
            updated,
            "re-wrapped a tenant data key"
        );
        Ok(updated == 1)
    }
}
