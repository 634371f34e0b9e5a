//! Tenant settings an admin controls: whether the tenant's `http` and
//! integration steps may reach private networks (the SSRF guard refuses
//! loopback, private and link-local addresses unless the tenant allows
//! them; cloud metadata host names stay refused).

use std::sync::Arc;

use async_graphql::{Context, InputObject, Object, ID};
use commands::identity::Identity;
use domain::access::Permission;

use super::errors::command_error;
use super::result::{command_context, CommandResult};

/// Tenant settings mutations.
#[derive(Default)]
pub struct TenantSettingsMutation;

/// Input of `setTenantEgressPolicy`.
#[derive(InputObject)]
struct SetTenantEgressPolicyInput {
    /// Let the tenant's steps reach loopback, private and link-local
    /// addresses (for example services on the same network).
    allow_private_networks: bool,
    command_id: Option<ID>,
}

#[Object]
impl TenantSettingsMutation {
    /// Allows or refuses private networks for the caller's tenant's steps
    /// (admins). Setting the current value changes nothing.
    async fn set_tenant_egress_policy(
        &self,
        ctx: &Context<'_>,
        input: SetTenantEgressPolicyInput,
    ) -> async_graphql::Result<CommandResult> {
        let (_, command, trace_id) =
            command_context(ctx, Permission::ManageMembers, input.command_id.as_ref())?;
        ctx.data::<Arc<Identity>>()?
            .set_egress_policy(&command, input.allow_private_networks)
            .await
            .map(CommandResult::from)
            .map_err(|err| command_error(err, &trace_id))
    }
}
