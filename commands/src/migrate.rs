//! Schema migrations from `migrations/`, embedded in the binary.

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::PgPool;

/// The migrations in the repository's `migrations/` folder.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Applies every migration not yet applied; safe to run at every start and
/// from several processes at once (sqlx takes an advisory lock).
pub async fn run(pool: &PgPool) -> Result<(), MigrateError> {
    MIGRATOR.run(pool).await
}
