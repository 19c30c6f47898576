//! The connection pool, creating the database when it is missing, and the embedded migrations.
//!
//! Sync diesel on an r2d2 pool, called through `actix_web::web::block`: a transaction never waits
//! on the network between its statements except for the database itself, the code stays plain
//! Rust, and no actix worker thread ever blocks on a query (they run on the blocking pool).

use std::time::Duration;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The pool every request draws from.
pub type Pool = diesel::r2d2::Pool<ConnectionManager<PgConnection>>;
/// One pooled connection.
pub type Conn = PooledConnection<ConnectionManager<PgConnection>>;

/// The migrations under `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Advisory-lock key under which migrations run, so that two processes starting at once on one
/// database don't both apply them ("unionfund" in ASCII, truncated to 8 bytes).
const MIGRATION_LOCK: i64 = 0x756e_696f_6e66_756e;

/// Splits `postgres://…/name?params` into (URL of the `postgres` database, name).
fn maintenance_url(url: &str) -> anyhow::Result<(String, String)> {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let (server, name) = base.rsplit_once('/').context("DATABASE_URL has no database name")?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        anyhow::bail!("DATABASE_URL: database name must be letters, digits, '_' or '-'");
    }
    let maintenance = match query {
        Some(q) => format!("{server}/postgres?{q}"),
        None => format!("{server}/postgres"),
    };
    Ok((maintenance, name.to_owned()))
}

/// Creates the database named in `url` when it does not exist yet.
pub fn ensure_database(url: &str) -> anyhow::Result<()> {
    if PgConnection::establish(url).is_ok() {
        return Ok(());
    }
    let (maintenance, name) = maintenance_url(url)?;
    let mut conn = PgConnection::establish(&maintenance)
        .with_context(|| "cannot reach PostgreSQL (is it running? is DATABASE_URL right?)")?;
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let found: Exists = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<diesel::sql_types::Text, _>(&name)
        .get_result(&mut conn)?;
    if !found.exists {
        // The name was checked above to hold only safe characters; CREATE DATABASE takes no binds.
        match conn.batch_execute(&format!("CREATE DATABASE \"{name}\"")) {
            Ok(()) => tracing::info!(database = %name, "created database"),
            // Another process created it between our check and our CREATE: fine.
            Err(e) if e.to_string().contains("already exists") => {}
            Err(e) => return Err(e).context("creating the database"),
        }
    }
    Ok(())
}

/// Applies pending migrations under an advisory lock.
pub fn migrate(conn: &mut PgConnection) -> anyhow::Result<usize> {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    let result = conn.run_pending_migrations(MIGRATIONS).map(|v| v.len()).map_err(|e| anyhow::anyhow!(e));
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
    result
}

/// True when every embedded migration has been applied (for `/readyz`).
pub fn migrations_applied(conn: &mut PgConnection) -> anyhow::Result<bool> {
    Ok(!conn.has_pending_migration(MIGRATIONS).map_err(|e| anyhow::anyhow!(e))?)
}

/// Creates the database if missing, migrates it, and opens the pool.
pub fn connect(url: &str, size: u32) -> anyhow::Result<Pool> {
    ensure_database(url)?;
    let mut conn = PgConnection::establish(url).context("connecting to the database")?;
    let applied = migrate(&mut conn)?;
    if applied > 0 {
        tracing::info!(migrations = applied, "applied migrations");
    }
    let pool = diesel::r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        // A request waits at most this long for a connection, then answers 503.
        .connection_timeout(Duration::from_secs(5))
        // A cheap `SELECT 1` on every checkout: after the database restarts, every pooled
        // connection is dead, and without the check each would fail one request before the pool
        // dropped it. With it, the service is back for the first request after the database is.
        .test_on_check_out(true)
        .build_unchecked(ConnectionManager::<PgConnection>::new(url));
    Ok(pool)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_maintenance_url_keeps_server_and_parameters() {
        let (m, n) = maintenance_url("postgres://u:p@h:5432/unionfund?sslmode=require").unwrap();
        assert_eq!(m, "postgres://u:p@h:5432/postgres?sslmode=require");
        assert_eq!(n, "unionfund");
        assert!(maintenance_url("postgres://h/bad;name").is_err());
    }
}
