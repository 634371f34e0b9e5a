//! Who is who: tenants, their users, the users' sessions and API tokens,
//! as four aggregates in the same event store as everything else, so who
//! invited whom, who got which role and who revoked which token is history
//! an auditor can replay.
//!
//! Architecture invariant: no secret reaches this module in plain text.
//! Passwords, refresh tokens, invitations and API tokens arrive as
//! [`SecretHash`]es computed by the `auth` crate; the domain stores hashes
//! and compares them for equality, and never hashes anything itself. Times
//! arrive inside commands too.
//!
//! Every aggregate belongs to one tenant and runs the same envelope checks
//! as the others ([`crate::command::Command`]).

mod api_token;
mod email;
mod secret;
mod session;
mod tenant;
mod user;

pub use api_token::{
    ApiToken, ApiTokenCommand, ApiTokenError, ApiTokenEvent, MAX_REVOCATION_REASON_CHARS,
    MAX_TOKEN_NAME_CHARS,
};
pub use email::{Email, EmailError, MAX_EMAIL_CHARS};
pub use secret::SecretHash;
pub use session::{RevocationReason, Session, SessionCommand, SessionError, SessionEvent};
pub use tenant::{Tenant, TenantCommand, TenantError, TenantEvent, MAX_TENANT_NAME_CHARS};
pub use user::{User, UserCommand, UserError, UserEvent, UserStatus, MAX_DISPLAY_NAME_CHARS};
