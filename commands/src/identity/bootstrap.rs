//! The first tenant and admin of a fresh installation
//! (`jobsprint admin bootstrap`): never a default password.

use ::auth::password::hash_password;
use ::auth::tokens::{hash_secret, ApiTokenString};
use ::auth::Secret;
use domain::access::{Role, Scope};
use domain::error::ErrorKind;
use domain::identity::{ApiTokenCommand, Email, SecretHash, TenantCommand, UserCommand};
use domain::ids::{ApiTokenId, TenantId, UserId};

use super::accounts::hash_new_password;
use super::sessions::random_secret;
use super::Identity;
use crate::context::CommandContext;
use crate::error::CommandError;

/// What bootstrap made. `api_token` is printed once.
#[derive(Debug)]
pub struct Bootstrapped {
    /// The new tenant.
    pub tenant_id: TenantId,
    /// Its admin.
    pub user_id: UserId,
    /// An `admin:all` API token for the admin.
    pub api_token: Secret,
    /// That token's id.
    pub api_token_id: ApiTokenId,
}

impl Identity {
    /// Creates the first tenant of a fresh installation, its admin (with
    /// `password` if given, else with no usable password) and an `admin:all`
    /// API token. Refused once any tenant exists; two bootstraps racing are
    /// serialised by an advisory lock.
    pub async fn bootstrap(
        &self,
        tenant_name: &str,
        email: &str,
        password: Option<&Secret>,
    ) -> Result<Bootstrapped, CommandError> {
        let mut lock = self.commands.pool().acquire().await?;
        sqlx::query("SELECT pg_advisory_lock(hashtext('jobsprint:bootstrap'))")
            .execute(&mut *lock)
            .await?;
        let result = async {
            let exists: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM events WHERE aggregate_type = 'Tenant')",
            )
            .fetch_one(self.commands.pool())
            .await?;
            if exists {
                return Err(CommandError::rejected(
                    ErrorKind::InvalidState,
                    "this installation is already bootstrapped; ask an admin to invite you",
                ));
            }
            self.create_tenant(tenant_name, email, password).await
        }
        .await;
        sqlx::query("SELECT pg_advisory_unlock(hashtext('jobsprint:bootstrap'))")
            .execute(&mut *lock)
            .await?;
        result
    }

    /// Creates a tenant with its admin and an `admin:all` API token (an
    /// installation operator's act: `jobsprint admin create-tenant`).
    pub async fn create_tenant(
        &self,
        tenant_name: &str,
        email: &str,
        password: Option<&Secret>,
    ) -> Result<Bootstrapped, CommandError> {
        let email = Email::parse(email)
            .map_err(|err| CommandError::rejected(ErrorKind::Validation, err.to_string()))?;
        let password_hash = match password {
            Some(password) => hash_new_password(password).await?,
            None => {
                let unusable = random_secret();
                tokio::task::spawn_blocking(move || hash_password(&unusable))
                    .await
                    .map_err(|err| CommandError::Internal(err.to_string()))?
                    .map(SecretHash::new)
                    .map_err(|err| CommandError::Internal(err.to_string()))?
            }
        };
        let tenant_id = TenantId::new_v7();
        let user_id = UserId::for_email(tenant_id, &email);
        let ctx = CommandContext::new(tenant_id, "system:bootstrap");

        let create_tenant = TenantCommand::Create {
            name: tenant_name.to_owned(),
        };
        self.commands
            .execute(
                &self.tenants,
                "CreateTenant",
                &ctx,
                &tenant_id.to_string(),
                create_tenant,
                None,
            )
            .await?;
        let create_admin = UserCommand::Create {
            email,
            display_name: "Administrator".to_owned(),
            role: Role::Admin,
            password_hash,
        };
        self.commands
            .execute(
                &self.users,
                "CreateUser",
                &ctx,
                &user_id.to_string(),
                create_admin,
                None,
            )
            .await?;
        let api_token_id = ApiTokenId::new_v7();
        let token = ApiTokenString::generate(api_token_id.0);
        let create_token = ApiTokenCommand::Create {
            name: "bootstrap".to_owned(),
            scopes: vec![Scope::AdminAll],
            secret_hash: SecretHash::new(hash_secret(&token.secret)),
            created_by: user_id,
            creator_role: Role::Admin,
            expires_at: None,
        };
        self.commands
            .execute(
                &self.api_tokens,
                "CreateApiToken",
                &ctx,
                &api_token_id.to_string(),
                create_token,
                None,
            )
            .await?;
        Ok(Bootstrapped {
            tenant_id,
            user_id,
            api_token: token.to_secret(),
            api_token_id,
        })
    }
}
