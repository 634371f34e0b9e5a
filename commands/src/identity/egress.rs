//! A tenant's egress policy: whether its `http` and integration steps may
//! reach loopback, private and link-local networks (the SSRF guard refuses
//! them by default). Set by the tenant's admins; read by the engine.

use domain::identity::TenantCommand;
use domain::ids::TenantId;
use sqlx::PgPool;

use super::Identity;
use crate::context::CommandContext;
use crate::error::CommandError;
use crate::service::CommandOutcome;

impl Identity {
    /// Allows or refuses private networks for the caller's tenant.
    pub async fn set_egress_policy(
        &self,
        ctx: &CommandContext,
        allow_private_networks: bool,
    ) -> Result<CommandOutcome, CommandError> {
        let command = TenantCommand::SetEgressPolicy {
            allow_private_networks,
        };
        self.commands
            .execute(
                &self.tenants,
                "SetTenantEgressPolicy",
                ctx,
                &ctx.tenant_id.to_string(),
                command,
                None,
            )
            .await
    }
}

/// Whether `tenant` allows private networks, from its last
/// `TenantEgressPolicySet` event (none: refused).
pub async fn allows_private_networks(
    pool: &PgPool,
    tenant: TenantId,
) -> Result<bool, CommandError> {
    let allowed: Option<bool> = sqlx::query_scalar(
        "SELECT (payload -> 'TenantEgressPolicySet' ->> 'allow_private_networks')::boolean
           FROM events
          WHERE aggregate_type = 'Tenant' AND aggregate_id = $1
            AND event_type = 'TenantEgressPolicySet'
          ORDER BY sequence DESC LIMIT 1",
    )
    .bind(tenant.to_string())
    .fetch_optional(pool)
    .await?;
    Ok(allowed.unwrap_or(false))
}
