//! Shared by the tests that drive the real `jobsprint` binary.

use sqlx::PgPool;

/// The URL of the test's own database (`pool`'s), on the server that
/// `DATABASE_URL` names: what a spawned `jobsprint` process connects to.
pub async fn database_url(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL (make test sets it)");
    let (server, _) = base
        .rsplit_once('/')
        .expect("a database URL ends in /<name>");
    format!("{server}/{name}")
}
