//! Identity on the write side: tenants, users, sessions and API tokens are
//! aggregates like the rest, so who was invited, who got which role and who
//! revoked which token are events an auditor can replay.
//!
//! Plain-text passwords and tokens exist only here, in memory, on their way
//! to a hash (docs/adr/0006-identity-and-tokens.md).

mod accounts;
mod authenticate;
mod bootstrap;
mod directory;
pub mod egress;
mod sessions;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use ::auth::jwt::JwtService;
use domain::identity::{ApiToken, Session, Tenant, User};

pub use authenticate::{AuthError, Authenticated};
pub use bootstrap::Bootstrapped;
pub use sessions::IssuedTokens;
pub use tokens::CreatedApiToken;

use crate::service::{CommandConfig, Commands, Lane};
use directory::Directory;

/// How identity behaves.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// Refresh tokens live this long after issue (30 days).
    pub refresh_ttl: Duration,
    /// Invitations are valid this long (7 days).
    pub invitation_ttl: Duration,
    /// How long a looked-up session, user or token is trusted before it is
    /// read again: the bound on how late a logout or a role change takes
    /// effect for tokens already issued (30 s, within the 60 s promised).
    pub directory_ttl: Duration,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            invitation_ttl: Duration::from_secs(7 * 24 * 3600),
            directory_ttl: Duration::from_secs(30),
        }
    }
}

/// Identity commands and request authentication.
pub struct Identity {
    commands: Arc<Commands>,
    tenants: Lane<Tenant>,
    users: Lane<User>,
    api_tokens: Lane<ApiToken>,
    sessions: Lane<Session>,
    jwt: JwtService,
    directory: Directory,
    config: IdentityConfig,
}

impl Identity {
    /// Identity over the same event store as `commands`.
    pub fn new(commands: Arc<Commands>, jwt: JwtService, config: IdentityConfig) -> Self {
        let repo = commands.repo.clone();
        let command_config = commands.config().clone();
        // Users are never kept in the command cache: an erased user's
        // plain personal data must not outlive the erasure in memory
        // (docs/adr/0016-erasure.md), and user commands are rare.
        let uncached = CommandConfig {
            cache_capacity: 0,
            ..command_config.clone()
        };
        Self {
            tenants: Lane::new(&repo, &command_config),
            users: Lane::new(&repo, &uncached),
            api_tokens: Lane::new(&repo, &command_config),
            sessions: Lane::new(&repo, &command_config),
            directory: Directory::new(repo, command_config.snapshot_every, config.directory_ttl),
            commands,
            jwt,
            config,
        }
    }

    /// The command layer identity writes through.
    pub fn commands(&self) -> &Arc<Commands> {
        &self.commands
    }
}
