//! Each tenant's choice of whether its steps may reach private networks
//! (`TenantEgressPolicySet` events), read from the store and kept for a
//! few seconds so a busy engine does not read it for every step.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use domain::ids::TenantId;
use sqlx::PgPool;

/// How long a tenant's answer is reused.
const FRESH_FOR: Duration = Duration::from_secs(5);

/// The cached answers, by tenant.
#[derive(Debug, Default)]
pub(super) struct TenantPolicies {
    known: Mutex<HashMap<TenantId, (Instant, bool)>>,
}

impl TenantPolicies {
    /// Whether `tenant` allows private networks; a read failure refuses.
    pub(super) async fn allows(&self, pool: &PgPool, tenant: TenantId) -> bool {
        if let Some((at, allowed)) = self.lock().get(&tenant).copied() {
            if at.elapsed() < FRESH_FOR {
                return allowed;
            }
        }
        let allowed = commands::identity::egress::allows_private_networks(pool, tenant)
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(tenant_id = %tenant, error = %err, "cannot read the tenant's egress policy; refusing private networks");
                false
            });
        self.lock().insert(tenant, (Instant::now(), allowed));
        allowed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, (Instant, bool)>> {
        self.known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
