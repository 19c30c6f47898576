//! The connection pool, creating the database when it is missing, the embedded migrations, and
//! the role every request runs as.
//!
//! Sync diesel on an r2d2 pool, called through `actix_web::web::block`: a transaction never waits
//! on the network between its statements except for the database itself, the code stays plain
//! Rust, and no actix worker thread ever blocks on a query (they run on the blocking pool).
//!
//! **Two roles.** Migrations run as the owner (the `DATABASE_URL` user), which owns every table.
//! Requests, and the background tasks, run as [`RUNTIME_ROLE`], which owns nothing: it may read
//! and add to the ledger, the trail, the log and the append-only records, but not change, delete
//! or truncate them, and since it owns no table it cannot `DISABLE TRIGGER` either. What it may
//! do to each table is written once, in [`TABLES`], and granted at every start after the
//! migrations, so that a table added later is covered — and a table missing from the list stops
//! the start-up instead of being forgotten. With `UNIONFUND_RUNTIME_DATABASE_URL` the pool logs in
//! as that user (a managed PostgreSQL, where the service is no superuser); without it the pool
//! logs in as the owner and each connection switches with `SET ROLE` (a developer's machine,
//! where the owner is a superuser and creates the role itself).
//!
//! **One start-up at a time.** Creating the database (under an advisory lock on the maintenance
//! database `postgres`), then migrating, granting and whatever the caller does before serving
//! (the demo data, the first admin; under the migration lock on the database itself) happen once
//! even when several processes start at the same instant: the others wait, then find it done.

use std::time::Duration;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, PooledConnection};
use diesel::sql_types::{Bool, Text};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// One pooled connection.
pub type Conn = PooledConnection<ConnectionManager<PgConnection>>;

/// The migrations under `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Advisory-lock key under which migrations, grants and the start-up's own writes run, so that
/// two processes starting at once on one database do them once ("unionfun" in ASCII).
const MIGRATION_LOCK: i64 = 0x756e_696f_6e66_756e;

/// Advisory-lock key, on the maintenance database, under which a missing database is created
/// ("unionfdb" in ASCII).
const CREATE_LOCK: i64 = 0x756e_696f_6e66_6462;

/// The role requests run as, unless `UNIONFUND_RUNTIME_ROLE` names another.
pub const RUNTIME_ROLE: &str = "unionfund_app";

/// What the runtime role may do to a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Facts: read and add, never change or remove (the ledger, the trail, the log, the
    /// append-only records).
    Append,
    /// Rows with a life cycle: read, add, and change (a status, a version, a stream's head).
    Update,
    /// The Merkle log's queue: added to by the trail's trigger, emptied by the sequencer.
    Drain,
    /// Idempotency keys: claimed, completed, and purged when they expire.
    Expire,
    /// One row that moves and is never added to: the Merkle log's head.
    Move,
    /// Read only.
    Read,
}

impl Access {
    /// The privileges, as `GRANT` takes them.
    pub fn privileges(self) -> &'static str {
        match self {
            Access::Append => "SELECT, INSERT",
            Access::Update => "SELECT, INSERT, UPDATE",
            Access::Drain => "SELECT, INSERT, DELETE",
            Access::Expire => "SELECT, INSERT, UPDATE, DELETE",
            Access::Move => "SELECT, UPDATE",
            Access::Read => "SELECT",
        }
    }
}

/// Every table of the schema and what the runtime role may do to it: the one place that says
/// so. A table that is not here stops the start-up (add it with the least the code needs); one
/// that is here but not in the schema does too (the list must say what is).
pub const TABLES: &[(&str, Access)] = &[
    // The ledger: balances move only through the posting trigger, which runs with its owner's
    // rights (migration 000013), so not even `accounts` takes an UPDATE from the service.
    ("accounts", Access::Append),
    ("journal_entries", Access::Append),
    ("postings", Access::Append),
    // The trail and the Merkle log over it.
    ("audit_events", Access::Append),
    ("audit_checkpoints", Access::Append),
    ("audit_verifications", Access::Append),
    ("checkpoint_cosignatures", Access::Append),
    ("log_leaves", Access::Append),
    ("log_nodes", Access::Append),
    ("log_queue", Access::Drain),
    ("log_head", Access::Move),
    // A stream's head is upserted by the write path and moved by the trail's trigger.
    ("audit_heads", Access::Update),
    // Records that are added to, never changed.
    ("fund_sources", Access::Append),
    ("fee_rates", Access::Append),
    ("fee_declarations", Access::Append),
    ("fee_settlements", Access::Append),
    ("fee_remittances", Access::Append),
    ("fee_payments", Access::Append),
    ("fee_remit_refunds", Access::Append),
    ("fee_upper_remittances", Access::Append),
    ("item_movements", Access::Append),
    ("item_vouchers", Access::Append),
    ("appropriations", Access::Append),
    ("line_expenditures", Access::Append),
    ("fixed_assets", Access::Append),
    ("case_actors", Access::Append),
    // Rows with a state and a version (and, for applications and beneficiaries, sealed personal
    // data that `pii reseal` re-seals in place).
    ("orgs", Access::Update),
    ("users", Access::Update),
    ("api_clients", Access::Update),
    ("funds", Access::Update),
    ("items", Access::Update),
    ("hardship_applications", Access::Update),
    ("hardship_campaigns", Access::Update),
    ("campaign_beneficiaries", Access::Update),
    ("township_grants", Access::Update),
    ("budget_lines", Access::Update),
    // A year's books: open → closing → closed (a trigger refuses reopening it).
    ("book_years", Access::Update),
    ("idempotency_keys", Access::Expire),
    // diesel's record of applied migrations, read by /readyz.
    ("__diesel_schema_migrations", Access::Read),
];

/// The time limits the database enforces on the service's own statements (README, "Database
/// roles and time limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `UNIONFUND_DB_LOCK_TIMEOUT_MS`: how long a write waits for a row lock (default 2,000).
    pub lock_timeout_ms: u64,
    /// `UNIONFUND_DB_STATEMENT_TIMEOUT_MS`: how long one statement of a write may run (default
    /// 10,000; the demo's largest batch statement takes well under a second).
    pub statement_timeout_ms: u64,
    /// `UNIONFUND_DB_READ_TIMEOUT_MS`: how long any other statement may run — reads, the
    /// annual report's and the checks' snapshot queries, a verification of the whole trail, the
    /// sequencer (default 60,000).
    pub read_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { lock_timeout_ms: 2_000, statement_timeout_ms: 10_000, read_timeout_ms: 60_000 }
    }
}

/// The pool every request draws from, with the limits its write transactions set.
#[derive(Debug, Clone)]
pub struct Pool {
    inner: diesel::r2d2::Pool<ConnectionManager<PgConnection>>,
    limits: Limits,
    /// The owner's login, for the upkeep only the owner may do (vacuuming the log's queue).
    owner_url: secrecy::SecretString,
}

impl Pool {
    /// A connection, waiting at most the pool's connection timeout.
    pub fn get(&self) -> Result<Conn, diesel::r2d2::PoolError> {
        self.inner.get()
    }

    /// Runs `f` on a pooled connection, lent as a `Db` (reads, and the write path's own
    /// machinery: the sequencer, checkpoints, the idempotency table's purge).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&mut super::Db<'_>) -> Result<T, crate::error::Error>,
    ) -> Result<T, crate::error::Error> {
        let mut conn = self.get()?;
        f(&mut super::Db::new(&mut conn))
    }

    /// The time limits of this pool's write transactions.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Runs `sql` on a connection of the owner's own, outside any transaction (`VACUUM` can
    /// run in no other way, and only the owner may vacuum its tables).
    pub(crate) fn as_owner(&self, sql: &str) -> Result<(), crate::error::Error> {
        use secrecy::ExposeSecret;
        let mut owner =
            PgConnection::establish(self.owner_url.expose_secret()).map_err(crate::error::Error::internal)?;
        Ok(owner.batch_execute(sql)?)
    }
}

/// Where the database is and how the service uses it.
#[derive(Clone, Copy)]
pub struct Settings<'a> {
    /// `DATABASE_URL`: the owner, who migrates and grants.
    pub owner_url: &'a str,
    /// `UNIONFUND_RUNTIME_DATABASE_URL`: the pool's login, when not the owner's.
    pub runtime_url: Option<&'a str>,
    /// `UNIONFUND_RUNTIME_ROLE`: the role requests run as.
    pub role: &'a str,
    /// Connections in the pool.
    pub size: u32,
    /// Time limits.
    pub limits: Limits,
}

impl<'a> Settings<'a> {
    /// The defaults for a database URL: the owner's login, `SET ROLE` to [`RUNTIME_ROLE`].
    pub fn new(owner_url: &'a str, size: u32) -> Self {
        Self { owner_url, runtime_url: None, role: RUNTIME_ROLE, size, limits: Limits::default() }
    }
}

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

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

/// Creates the database named in `url` when it does not exist yet. Under an advisory lock on
/// the maintenance database: two processes starting at once both see it missing, and without
/// the lock the second's CREATE fails on `pg_database`'s unique index.
pub fn ensure_database(url: &str) -> anyhow::Result<()> {
    if PgConnection::establish(url).is_ok() {
        return Ok(());
    }
    let (maintenance, name) = maintenance_url(url)?;
    let mut conn = PgConnection::establish(&maintenance)
        .with_context(|| "cannot reach PostgreSQL (is it running? is DATABASE_URL right?)")?;
    conn.batch_execute(&format!("SELECT pg_advisory_lock({CREATE_LOCK})"))?;
    let result = create_missing(&mut conn, &name);
    // Closing the connection would release the lock too; this releases it before the close.
    let unlocked = conn.batch_execute(&format!("SELECT pg_advisory_unlock({CREATE_LOCK})"));
    result.and(unlocked.map_err(anyhow::Error::from))
}

fn create_missing(conn: &mut PgConnection, name: &str) -> anyhow::Result<()> {
    let found: Exists = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<Text, _>(name)
        .get_result(conn)?;
    if !found.exists {
        // The name was checked to hold only safe characters; CREATE DATABASE takes no binds.
        conn.batch_execute(&format!("CREATE DATABASE \"{name}\"")).context("creating the database")?;
        tracing::info!(database = %name, "created database");
    }
    Ok(())
}

/// Runs `f` holding the migration lock of the database `conn` is connected to.
fn locked<T>(conn: &mut PgConnection, f: impl FnOnce(&mut PgConnection) -> anyhow::Result<T>) -> anyhow::Result<T> {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    let result = f(conn);
    let unlocked = conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
    let value = result?;
    unlocked?;
    Ok(value)
}

fn run_migrations(conn: &mut PgConnection) -> anyhow::Result<usize> {
    conn.run_pending_migrations(MIGRATIONS).map(|v| v.len()).map_err(|e| anyhow::anyhow!(e))
}

/// Applies pending migrations under the migration lock (the schema only: no grants).
pub fn migrate(conn: &mut PgConnection) -> anyhow::Result<usize> {
    locked(conn, run_migrations)
}

/// True when every embedded migration has been applied (for `/readyz`). It reads diesel's table
/// itself: diesel's own check first runs `CREATE TABLE IF NOT EXISTS`, which the runtime role
/// may not.
pub fn migrations_applied(conn: &mut super::Db<'_>) -> anyhow::Result<bool> {
    use diesel::migration::MigrationSource;
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        version: String,
    }
    let applied: std::collections::HashSet<String> =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
            .load::<Version>(conn.pg())?
            .into_iter()
            .map(|v| v.version)
            .collect();
    let embedded = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS).map_err(|e| anyhow::anyhow!(e))?;
    Ok(embedded.iter().all(|m| applied.contains(&m.name().version().to_string())))
}

/// Creates the database if missing, migrates it, opens the pool with the default settings.
pub fn connect(url: &str, size: u32) -> anyhow::Result<Pool> {
    open(&Settings::new(url, size), |_| Ok(()))
}

/// Creates the database if missing; then, holding the migration lock, migrates it, prepares the
/// runtime role and its grants, opens the pool, and runs `under_lock` on it (the start-up's own
/// writes: the demo data, the first admin), so that a process starting beside this one finds
/// all of it done. Returns the pool.
pub fn open(settings: &Settings<'_>, under_lock: impl FnOnce(&Pool) -> anyhow::Result<()>) -> anyhow::Result<Pool> {
    let role = checked_role(settings.role)?;
    ensure_database(settings.owner_url)?;
    let mut owner = PgConnection::establish(settings.owner_url).context("connecting to the database")?;
    locked(&mut owner, |owner| {
        let applied = run_migrations(owner)?;
        if applied > 0 {
            tracing::info!(migrations = applied, "applied migrations");
        }
        prepare_role(owner, role, settings.runtime_url.is_none())?;
        grant(owner, role)?;
        let pool = build(settings, role)?;
        under_lock(&pool)?;
        Ok(pool)
    })
}

/// A role name that needs no quoting rules beyond double quotes: PostgreSQL's unquoted
/// identifiers, lower case.
fn checked_role(role: &str) -> anyhow::Result<&str> {
    let mut chars = role.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok || role.len() > 63 || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        anyhow::bail!("UNIONFUND_RUNTIME_ROLE must be 1 to 63 of a-z, 0-9 and '_', not starting with a digit");
    }
    Ok(role)
}

#[derive(QueryableByName)]
struct RoleRow {
    #[diesel(sql_type = Bool)]
    rolsuper: bool,
    #[diesel(sql_type = Bool)]
    rolcreaterole: bool,
}

fn find_role(conn: &mut PgConnection, role: &str) -> QueryResult<Option<RoleRow>> {
    diesel::sql_query("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = $1")
        .bind::<Text, _>(role)
        .get_result(conn)
        .optional()
}

/// Makes sure the runtime role exists (creating it, `NOLOGIN`, when the pool logs in as the
/// owner) and can do no more than it is granted: no superuser, no CREATEROLE (it could grant
/// itself any role), and no way to act as the owner of any table here.
fn prepare_role(owner: &mut PgConnection, role: &str, create: bool) -> anyhow::Result<()> {
    let found = match find_role(owner, role)? {
        Some(found) => found,
        None if !create => anyhow::bail!(
            "the runtime role {role} does not exist: create it as the README says (\"Database roles\") \
             before starting with UNIONFUND_RUNTIME_DATABASE_URL"
        ),
        None => {
            // Roles are cluster-wide: many processes on many databases (every test's) may get
            // here at once, and all but one then fail on pg_authid's unique index or with
            // duplicate_object. Whoever loses finds the role made.
            let created = owner.batch_execute(&format!(
                "CREATE ROLE \"{role}\" NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
            ));
            match (created, find_role(owner, role)?) {
                (Ok(()), Some(found)) => {
                    tracing::info!(role = %role, "created the runtime role");
                    found
                }
                (_, Some(found)) => found,
                (Err(e), None) => {
                    return Err(e).context(format!(
                        "creating the runtime role {role} (the DATABASE_URL user needs CREATEROLE; \
                         or create it as the README says, \"Database roles\")"
                    ));
                }
                (Ok(()), None) => anyhow::bail!("the runtime role {role} was created but cannot be found"),
            }
        }
    };
    if found.rolsuper || found.rolcreaterole {
        anyhow::bail!("the runtime role {role} must not be a superuser nor have CREATEROLE");
    }
    #[derive(QueryableByName)]
    struct Owned {
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        names: Option<String>,
    }
    let owned: Owned = diesel::sql_query(
        "SELECT string_agg(c.relname, ', ' ORDER BY c.relname) AS names FROM pg_class c \
         WHERE c.relnamespace = 'public'::regnamespace AND pg_has_role($1, c.relowner, 'MEMBER')",
    )
    .bind::<Text, _>(role)
    .get_result(owner)?;
    if let Some(names) = owned.names {
        anyhow::bail!(
            "the runtime role {role} owns, or may become the owner of, {names}: it must own nothing \
             (migrations run as the DATABASE_URL user)"
        );
    }
    Ok(())
}

/// The tables of the schema that [`TABLES`] does not classify, and the classified ones the schema
/// does not have.
pub fn unclassified(conn: &mut PgConnection) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        relname: String,
    }
    let present: Vec<String> = diesel::sql_query(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace \
         AND relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY relname",
    )
    .load::<Name>(conn)?
    .into_iter()
    .map(|n| n.relname)
    .collect();
    let listed = |name: &str| TABLES.iter().any(|(t, _)| *t == name);
    let missing = present.iter().filter(|t| !listed(t)).cloned().collect();
    let stale = TABLES.iter().map(|(t, _)| (*t).to_owned()).filter(|t| !present.contains(t)).collect();
    Ok((missing, stale))
}

/// Grants the runtime role exactly what [`TABLES`] says, in one transaction: everything it had
/// is revoked first, so a privilege taken out of the list is taken from the role too.
fn grant(owner: &mut PgConnection, role: &str) -> anyhow::Result<()> {
    let (missing, stale) = unclassified(owner)?;
    if !missing.is_empty() {
        anyhow::bail!(
            "tables with no runtime-role privileges in src/db/pool.rs (TABLES): {}; add each with the least \
             the code needs",
            missing.join(", ")
        );
    }
    if !stale.is_empty() {
        anyhow::bail!("src/db/pool.rs (TABLES) lists tables the schema does not have: {}", stale.join(", "));
    }
    let mut sql = format!(
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM \"{role}\";\n\
         REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM \"{role}\";\n\
         GRANT USAGE ON SCHEMA public TO \"{role}\";\n\
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO \"{role}\";\n"
    );
    for (table, access) in TABLES {
        sql.push_str(&format!("GRANT {} ON TABLE public.\"{table}\" TO \"{role}\";\n", access.privileges()));
    }
    owner.transaction(|conn| conn.batch_execute(&sql)).context("granting the runtime role its privileges")?;
    Ok(())
}

/// What every pooled connection runs once, when it is opened: become the runtime role, and give
/// every statement a time limit (writes set tighter ones in their transaction).
#[derive(Debug)]
struct Session {
    sql: String,
}

impl Session {
    fn new(role: &str, limits: Limits) -> Self {
        Self { sql: format!("SET ROLE \"{role}\"; SET statement_timeout = {}", limits.read_timeout_ms) }
    }
}

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for Session {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&self.sql).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Opens the pool, after checking once, on a connection of its own, that its login becomes the
/// runtime role: a pool that cannot would otherwise only fail each request after its timeout.
fn build(settings: &Settings<'_>, role: &str) -> anyhow::Result<Pool> {
    let url = settings.runtime_url.unwrap_or(settings.owner_url);
    let session = Session::new(role, settings.limits);
    let mut probe = PgConnection::establish(url).context("connecting with UNIONFUND_RUNTIME_DATABASE_URL")?;
    probe.batch_execute(&session.sql).with_context(|| {
        format!(
            "the pool's login cannot SET ROLE {role}: make it that role or a member of it (README, \"Database roles\")"
        )
    })?;
    #[derive(QueryableByName)]
    struct Current {
        #[diesel(sql_type = Text)]
        current_user: String,
    }
    let current: Current = diesel::sql_query("SELECT current_user::text AS current_user").get_result(&mut probe)?;
    if current.current_user != role {
        anyhow::bail!("the pool runs as {} instead of the runtime role {role}", current.current_user);
    }
    drop(probe);
    let inner = diesel::r2d2::Pool::builder()
        .max_size(settings.size)
        .min_idle(Some(0))
        // A request waits at most this long for a connection, then answers 503.
        .connection_timeout(Duration::from_secs(5))
        // A cheap `SELECT 1` on every checkout: after the database restarts, every pooled
        // connection is dead, and without the check each would fail one request before the pool
        // dropped it. With it, the service is back for the first request after the database is.
        .test_on_check_out(true)
        .connection_customizer(Box::new(session))
        .build_unchecked(ConnectionManager::<PgConnection>::new(url));
    Ok(Pool { inner, limits: settings.limits, owner_url: settings.owner_url.to_owned().into() })
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

    #[test]
    fn a_role_name_is_a_plain_identifier() {
        assert!(checked_role("unionfund_app").is_ok());
        assert!(checked_role("app2").is_ok());
        for bad in ["", "2app", "App", "a\"b", "a b", "a;drop", &"a".repeat(64)] {
            assert!(checked_role(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn each_table_is_classified_once() {
        let mut names: Vec<&str> = TABLES.iter().map(|(t, _)| *t).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before);
    }
}
