//! People and system clients.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::Db;
use super::schema::{api_clients, users};
use super::write::Tx;
use crate::error::Error;

/// A person as stored (the password only as its argon2id hash).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
#[allow(missing_docs)]
pub struct UserRow {
    pub id: Uuid,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub org_id: Uuid,
    pub display_name: String,
    pub disabled: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    /// Bumped by every change that must end the user's tokens (disabled, role, organisation,
    /// password); tokens carry it and are compared with it on each request.
    pub token_version: i32,
}

/// A system client as stored (the secret only as its argon2id hash).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_clients)]
#[allow(missing_docs)]
pub struct ClientRow {
    pub id: Uuid,
    pub name: String,
    pub secret_hash: String,
    pub role: String,
    pub org_id: Uuid,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub version: i32,
    /// Bumped when the client is disabled or its secret rotated (see `UserRow::token_version`).
    pub token_version: i32,
}

/// The user with this name, if any.
pub fn by_username(conn: &mut Db<'_>, username: &str) -> Result<Option<UserRow>, Error> {
    Ok(users::table.select(UserRow::as_select()).filter(users::username.eq(username)).first(conn.pg()).optional()?)
}

/// One user.
pub fn find(conn: &mut Db<'_>, id: Uuid) -> Result<UserRow, Error> {
    Ok(users::table.select(UserRow::as_select()).filter(users::id.eq(id)).first(conn.pg())?)
}

/// A page of users in creation order.
pub fn list(conn: &mut Db<'_>, after: Option<Uuid>, limit: i64) -> Result<Vec<UserRow>, Error> {
    let mut q = users::table.select(UserRow::as_select()).into_boxed();
    if let Some(after) = after {
        q = q.filter(users::id.gt(after));
    }
    Ok(q.order(users::id.asc()).limit(limit).load(conn.pg())?)
}

/// Inserts a user; a taken username is a 409.
pub fn insert(tx: &mut Tx<'_>, row: &UserRow) -> Result<(), Error> {
    diesel::insert_into(users::table).values(row).execute(tx.pg()).map_err(|e| match e {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
            Error::Conflict { code: "username_taken", detail: "this username is already taken".into() }
        }
        other => other.into(),
    })?;
    Ok(())
}

/// Whether an enabled admin exists.
pub fn admin_exists(conn: &mut Db<'_>) -> Result<bool, Error> {
    Ok(diesel::select(diesel::dsl::exists(users::table.filter(users::role.eq("admin").and(users::disabled.eq(false)))))
        .get_result(conn.pg())?)
}

/// One client.
pub fn client(conn: &mut Db<'_>, id: Uuid) -> Result<Option<ClientRow>, Error> {
    Ok(api_clients::table.select(ClientRow::as_select()).filter(api_clients::id.eq(id)).first(conn.pg()).optional()?)
}

/// A page of clients in creation order.
pub fn list_clients(conn: &mut Db<'_>, after: Option<Uuid>, limit: i64) -> Result<Vec<ClientRow>, Error> {
    let mut q = api_clients::table.select(ClientRow::as_select()).into_boxed();
    if let Some(after) = after {
        q = q.filter(api_clients::id.gt(after));
    }
    Ok(q.order(api_clients::id.asc()).limit(limit).load(conn.pg())?)
}

/// Inserts a client.
pub fn insert_client(tx: &mut Tx<'_>, row: &ClientRow) -> Result<(), Error> {
    diesel::insert_into(api_clients::table).values(row).execute(tx.pg())?;
    Ok(())
}

/// One user, locked for a change (404 when there is none).
pub fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<UserRow, Error> {
    Ok(users::table.select(UserRow::as_select()).filter(users::id.eq(id)).for_update().first(tx.pg())?)
}

/// Writes a changed user back (everything but its id, username and creation time).
pub fn update(tx: &mut Tx<'_>, row: &UserRow) -> Result<(), Error> {
    diesel::update(users::table.filter(users::id.eq(row.id)))
        .set((
            users::password_hash.eq(&row.password_hash),
            users::role.eq(&row.role),
            users::org_id.eq(row.org_id),
            users::display_name.eq(&row.display_name),
            users::disabled.eq(row.disabled),
            users::version.eq(row.version),
            users::token_version.eq(row.token_version),
        ))
        .execute(tx.pg())?;
    Ok(())
}

/// One client, locked for a change (404 when there is none).
pub fn lock_client(tx: &mut Tx<'_>, id: Uuid) -> Result<ClientRow, Error> {
    Ok(api_clients::table.select(ClientRow::as_select()).filter(api_clients::id.eq(id)).for_update().first(tx.pg())?)
}

/// Writes a changed client back (secret hash, disabled, versions).
pub fn update_client(tx: &mut Tx<'_>, row: &ClientRow) -> Result<(), Error> {
    diesel::update(api_clients::table.filter(api_clients::id.eq(row.id)))
        .set((
            api_clients::secret_hash.eq(&row.secret_hash),
            api_clients::disabled.eq(row.disabled),
            api_clients::version.eq(row.version),
            api_clients::token_version.eq(row.token_version),
        ))
        .execute(tx.pg())?;
    Ok(())
}

/// The advisory lock that serialises every change of a user's role or `disabled` flag, taken
/// after the idempotency key and before the user's row. Two admins disabling each other at
/// once would each see the other still enabled; under this lock the second sees the first's
/// change, so the last enabled admin can never be removed.
pub fn lock_admin_changes(tx: &mut Tx<'_>) -> Result<(), Error> {
    /// Any fixed number: the lock's name within this database.
    const ADMIN_CHANGES_LOCK: i64 = 7_262_010;
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(ADMIN_CHANGES_LOCK)
        .execute(tx.pg())?;
    Ok(())
}

/// How many enabled admins there are besides `id`.
pub fn other_enabled_admins(conn: &mut Db<'_>, id: Uuid) -> Result<i64, Error> {
    Ok(users::table
        .filter(users::role.eq("admin").and(users::disabled.eq(false)).and(users::id.ne(id)))
        .count()
        .get_result(conn.pg())?)
}

/// What decides whether a token of a user or client still holds: read on each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectAccess {
    /// The subject is disabled.
    pub disabled: bool,
    /// Its role, as stored.
    pub role: String,
    /// Its organisation.
    pub org_id: Uuid,
    /// Its current token version.
    pub token_version: i32,
}

/// The access state of a user (`client == false`) or a client, if it exists.
pub fn access(conn: &mut Db<'_>, client: bool, id: Uuid) -> Result<Option<SubjectAccess>, Error> {
    let row: Option<(bool, String, Uuid, i32)> = if client {
        api_clients::table
            .filter(api_clients::id.eq(id))
            .select((api_clients::disabled, api_clients::role, api_clients::org_id, api_clients::token_version))
            .first(conn.pg())
            .optional()?
    } else {
        users::table
            .filter(users::id.eq(id))
            .select((users::disabled, users::role, users::org_id, users::token_version))
            .first(conn.pg())
            .optional()?
    };
    Ok(row.map(|(disabled, role, org_id, token_version)| SubjectAccess { disabled, role, org_id, token_version }))
}
