//! Erasure by crypto-shredding: destroying a subject's key, so the personal
//! data it sealed reads as a placeholder wherever a copy of it went, while
//! the events themselves stay unchanged (docs/adr/0016-erasure.md).

use chrono::{DateTime, Utc};
use domain::ids::{TenantId, UserId};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::subject_keys::subject_key_id;

/// What [`erase_subject`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Erasure {
    /// The erased subject (the user's aggregate id).
    pub subject: String,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// Always true: the subject is erased once this returns.
    pub erased: bool,
    /// When it was first erased (a repeated erasure keeps that time).
    pub erased_at: DateTime<Utc>,
    /// True when the subject was already erased before this call.
    pub already_erased: bool,
    /// True when a key was destroyed by this call; false when the subject
    /// had none (nothing of it was sealed, e.g. written without master
    /// keys: such plain text is masked on load but stays in the events).
    pub key_destroyed: bool,
    /// Snapshot rows of this user deleted by this call.
    pub snapshots_deleted: u64,
}

/// Why a subject could not be erased.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    /// No such user in that tenant (another tenant's user reads the same).
    #[error("user {user} does not exist in tenant {tenant}")]
    NotFound {
        /// The user asked for.
        user: UserId,
        /// The tenant asked for.
        tenant: TenantId,
    },
    /// A statement failed; nothing was changed.
    #[error("the database refused the erasure: {0}")]
    Database(#[from] sqlx::Error),
}

/// Erases user `user` of `tenant`: its subject key is destroyed
/// (`wrapped_key = NULL`, `erased_at` set) and its snapshots are deleted,
/// in one transaction. Idempotent. Events are never changed.
pub async fn erase_subject(
    pool: &PgPool,
    tenant: TenantId,
    user: UserId,
) -> Result<Erasure, EraseError> {
    let subject = user.to_string();
    let mut tx = pool.begin().await?;
    let row: Option<(Uuid, bool, bool)> = sqlx::query_as(
        "SELECT tenant_id, wrapped_key IS NOT NULL, erased_at IS NOT NULL
           FROM subject_keys WHERE subject_id = $1 FOR UPDATE",
    )
    .bind(&subject)
    .fetch_optional(&mut *tx)
    .await?;
    let (key_destroyed, already_erased) = match row {
        Some((owner, live, erased)) if owner == tenant.0 => (live, erased),
        Some(_) => return Err(EraseError::NotFound { user, tenant }),
        None if user_exists(&mut tx, tenant, &subject).await? => (false, false),
        None => return Err(EraseError::NotFound { user, tenant }),
    };
    // A subject without a key gets an erased row too: nothing will ever
    // seal or write its personal data again, and loads mask what is plain.
    let erased_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO subject_keys (subject_id, tenant_id, key_id, erased_at)
         VALUES ($1, $2, $3, clock_timestamp())
         ON CONFLICT (subject_id) DO UPDATE
            SET wrapped_key = NULL, master_key_id = NULL,
                erased_at = COALESCE(subject_keys.erased_at, EXCLUDED.erased_at)
         RETURNING erased_at",
    )
    .bind(&subject)
    .bind(tenant.0)
    .bind(subject_key_id(&subject))
    .fetch_one(&mut *tx)
    .await?;
    let snapshots_deleted =
        sqlx::query("DELETE FROM snapshots WHERE aggregate_type = 'User' AND aggregate_id = $1")
            .bind(&subject)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    tx.commit().await?;
    // Ids only: the subject's personal data is never logged.
    tracing::info!(
        subject_id = %subject,
        tenant_id = %tenant,
        key_destroyed,
        already_erased,
        snapshots_deleted,
        "erased a subject"
    );
    Ok(Erasure {
        subject,
        tenant_id: tenant.0,
        erased: true,
        erased_at,
        already_erased,
        key_destroyed,
        snapshots_deleted,
    })
}

/// Whether `subject` is a user created or invited into `tenant` (the
/// tenant id of those events is never sealed).
async fn user_exists(
    tx: &mut sqlx::PgConnection,
    tenant: TenantId,
    subject: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events
          WHERE aggregate_type = 'User' AND aggregate_id = $1
            AND COALESCE(payload -> 'UserCreated' ->> 'tenant_id',
                         payload -> 'UserInvited' ->> 'tenant_id') = $2)",
    )
    .bind(subject)
    .bind(tenant.to_string())
    .fetch_one(&mut *tx)
    .await
}
