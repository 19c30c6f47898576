//! People and system clients (admin), and the first admin at start-up.
//!
//! Access can be taken back: an admin disables a user or client, changes a user's role or
//! organisation, resets a password or rotates a client's secret; each bumps the subject's
//! `token_version`, so that every token issued before is refused on its next request
//! (`auth::check_subject`), and each writes an audit event naming what changed — never a
//! password, a hash or a secret. The last enabled admin cannot be disabled or demoted.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::{LoginThrottle, SubjectCache};
use super::{Listed, Page, auth, check_if_match, etag};
use crate::db::Db;
use crate::db::users::{ClientRow, UserRow};
use crate::db::write::{self, Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::audit::Stream;
use crate::domain::policy::{Caller, Role, Scope, SubjectKind};
use crate::error::Error;

/// A person as answered (never the password or its hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Organisation.
    pub org_id: Uuid,
    /// Name shown on screens.
    pub display_name: String,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// Version (also the `ETag`).
    pub version: i32,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl UserView {
    fn of(r: UserRow) -> Self {
        Self {
            id: r.id,
            username: r.username,
            role: Role::parse(&r.role).unwrap_or(Role::Auditor),
            org_id: r.org_id,
            display_name: r.display_name,
            disabled: r.disabled,
            version: r.version,
            created_at: r.created_at,
        }
    }
}

/// A system client as answered; `client_secret` only in the answer that created it or rotated
/// it (a replay of either answers without it: the secret is stored nowhere).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientView {
    /// The client id (use as `client_id` in the client_credentials grant).
    pub client_id: Uuid,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Organisation.
    pub org_id: Uuid,
    /// Whether the client is disabled.
    pub disabled: bool,
    /// Version (also the `ETag`).
    pub version: i32,
    /// The secret, shown once, at creation or rotation; store it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl ClientView {
    fn of(r: ClientRow, client_secret: Option<String>) -> Self {
        Self {
            client_id: r.id,
            name: r.name,
            role: Role::parse(&r.role).unwrap_or(Role::Auditor),
            org_id: r.org_id,
            disabled: r.disabled,
            version: r.version,
            client_secret,
            created_at: r.created_at,
        }
    }

    /// The answer as kept for a replay: without the secret.
    fn without_secret(&self) -> Self {
        Self { client_secret: None, ..self.clone() }
    }
}

/// A new user, validated.
#[derive(Debug)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Password (at least 10 characters).
    pub password: SecretString,
    /// Role.
    pub role: Role,
    /// Organisation.
    pub org_id: Uuid,
    /// Name shown on screens.
    pub display_name: String,
}

/// Changes to a user, validated; absent fields stay as they are.
#[derive(Debug, Default)]
pub struct UserChanges {
    /// Disable (or enable again).
    pub disabled: Option<bool>,
    /// New role.
    pub role: Option<Role>,
    /// New organisation.
    pub org_id: Option<Uuid>,
    /// New name shown on screens.
    pub display_name: Option<String>,
}

/// A new password, validated; `old_password` is what a user changing its own gives.
#[derive(Debug)]
pub struct NewPassword {
    /// The current password (required unless an admin sets it).
    pub old_password: Option<SecretString>,
    /// The new password.
    pub new_password: SecretString,
}

/// A new client, validated.
#[derive(Debug)]
pub struct NewClient {
    /// A fixed id (demo data only; otherwise a new one is made).
    pub id: Option<Uuid>,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Organisation.
    pub org_id: Uuid,
}

/// The rules on a user's or client's role and organisation, the same at creation and at every
/// change: the organisation must exist. (No rule ties a role to a kind of organisation: a clerk
/// is scoped to whichever organisation it belongs to.)
fn check_assignment(conn: &mut Db<'_>, _role: Role, org_id: Uuid) -> Result<(), Error> {
    db::orgs::find(conn, Scope::All, org_id).map_err(|e| match e {
        Error::NotFound => Error::invalid("org_id", "no such organisation"),
        other => other,
    })?;
    Ok(())
}

fn org_stream(org_id: Uuid) -> Stream {
    Stream::Org(org_id)
}

/// Creates a user.
#[tracing::instrument(skip_all)]
pub async fn create(pool: &Pool, ctx: WriteCtx, idem: Option<Idempotency>, cmd: NewUser) -> Result<Stored, Error> {
    let pool = pool.clone();
    super::blocking(move || create_now(&pool, &ctx, idem.as_ref(), cmd)).await
}

/// Creates a user on the calling thread.
pub fn create_now(pool: &Pool, ctx: &WriteCtx, idem: Option<&Idempotency>, cmd: NewUser) -> Result<Stored, Error> {
    // Hash before the transaction opens: argon2 takes tens of milliseconds, no lock should wait on it.
    let password_hash = auth::hash_secret(cmd.password.expose_secret())?;
    write::execute(pool, ctx, idem, |tx| {
        check_assignment(tx.db(), cmd.role, cmd.org_id)?;
        let row = UserRow {
            id: Uuid::now_v7(),
            username: cmd.username,
            password_hash,
            role: cmd.role.as_str().into(),
            org_id: cmd.org_id,
            display_name: cmd.display_name,
            disabled: false,
            version: 1,
            created_at: tx.ctx().now,
            token_version: 1,
        };
        db::users::insert(tx, &row)?;
        tx.record(Event {
            org_id: Some(row.org_id),
            after: Some(json!({"username": row.username, "role": row.role, "org_id": row.org_id})),
            ..Event::new(org_stream(row.org_id), "user.created", "user", row.id)
        });
        Ok(Answer { status: 201, etag: Some(etag(row.version)), body: UserView::of(row) })
    })
}

/// A page of users.
pub async fn list(pool: &Pool, page: Page) -> Result<Listed<UserView>, Error> {
    let after = page.uuid_cursor()?;
    super::read(pool, move |conn| {
        let rows = db::users::list(conn, after, page.fetch())?;
        Ok(Listed::from_rows(rows, &page, |r| r.id.to_string(), UserView::of))
    })
    .await
}

/// One user and its `ETag`.
pub async fn get(pool: &Pool, id: Uuid) -> Result<(UserView, String), Error> {
    super::read(pool, move |conn| {
        let row = db::users::find(conn, id)?;
        let tag = etag(row.version);
        Ok((UserView::of(row), tag))
    })
    .await
}

fn is_enabled_admin(row: &UserRow) -> bool {
    row.role == Role::Admin.as_str() && !row.disabled
}

/// Sets `current` to `new` when it is given and differs, noting the field's value before and
/// after for the audit event.
fn note_change<T: PartialEq + serde::Serialize>(
    was: &mut Map<String, Value>,
    is: &mut Map<String, Value>,
    field: &str,
    current: &mut T,
    new: Option<T>,
) {
    if let Some(new) = new.filter(|n| n != current) {
        was.insert(field.into(), json!(current));
        is.insert(field.into(), json!(new));
        *current = new;
    }
}

/// Changes a user (admin; `If-Match` required). Disabling it, or changing its role or
/// organisation, ends its tokens; the last enabled admin cannot be disabled or demoted (409
/// `last_admin`).
#[tracing::instrument(skip_all, fields(user.id = %id))]
pub async fn update(
    pool: &Pool,
    subjects: &SubjectCache,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    id: Uuid,
    changes: UserChanges,
) -> Result<Stored, Error> {
    let stored = super::write(pool, ctx, idem, move |tx| {
        if changes.disabled.is_some() || changes.role.is_some() {
            db::users::lock_admin_changes(tx)?;
        }
        let before = db::users::lock(tx, id)?;
        check_if_match(if_match.as_deref(), before.version)?;
        let mut row = before.clone();
        let (mut was, mut is) = (Map::new(), Map::new());
        note_change(&mut was, &mut is, "disabled", &mut row.disabled, changes.disabled);
        note_change(&mut was, &mut is, "role", &mut row.role, changes.role.map(|r| r.as_str().to_owned()));
        note_change(&mut was, &mut is, "org_id", &mut row.org_id, changes.org_id);
        note_change(&mut was, &mut is, "display_name", &mut row.display_name, changes.display_name);
        if row.role != before.role || row.org_id != before.org_id {
            let role = Role::parse(&row.role).ok_or_else(|| Error::internal("bad role"))?;
            check_assignment(tx.db(), role, row.org_id)?;
        }
        if is_enabled_admin(&before) && !is_enabled_admin(&row) && db::users::other_enabled_admins(tx.db(), id)? == 0 {
            return Err(Error::Conflict {
                code: "last_admin",
                detail: "this is the last enabled admin: enable or appoint another admin first".into(),
            });
        }
        row.version += 1;
        if row.disabled != before.disabled || row.role != before.role || row.org_id != before.org_id {
            row.token_version += 1;
            is.insert("token_version".into(), json!(row.token_version));
        }
        is.insert("version".into(), json!(row.version));
        db::users::update(tx, &row)?;
        tx.record(Event {
            org_id: Some(row.org_id),
            before: Some(Value::Object(was)),
            after: Some(Value::Object(is)),
            ..Event::new(org_stream(row.org_id), "user.updated", "user", id)
        });
        Ok(Answer { status: 200, etag: Some(etag(row.version)), body: UserView::of(row) })
    })
    .await?;
    subjects.forget(SubjectKind::User, id);
    Ok(stored)
}

/// Sets a user's password: an admin for anyone, or a user for itself with its current password
/// (`old_password`, checked under the login throttle). Ends the user's tokens, its own current
/// one included. `If-Match` is checked when sent.
#[expect(clippy::too_many_arguments, reason = "one use case, its state and its request")]
#[tracing::instrument(skip_all, fields(user.id = %id))]
pub async fn set_password(
    pool: &Pool,
    subjects: &SubjectCache,
    throttle: &LoginThrottle,
    ctx: WriteCtx,
    address: Option<IpAddr>,
    if_match: Option<String>,
    id: Uuid,
    cmd: NewPassword,
) -> Result<Stored, Error> {
    let caller: &Caller = ctx.caller.as_ref().ok_or_else(|| Error::internal("no caller"))?;
    let by_admin = caller.role == Role::Admin;
    let by_self = caller.kind == SubjectKind::User && caller.subject == id;
    if !by_admin && !by_self {
        return Err(Error::forbidden());
    }
    let by = if by_self { "self" } else { "admin" };
    // The version the old password was checked against: the change applies only to it.
    let mut checked_version = None;
    match cmd.old_password {
        None if !by_admin => return Err(Error::invalid("old_password", "is required to change your own password")),
        None => {}
        Some(old) => {
            let user = super::read(pool, move |conn| db::users::find(conn, id)).await?;
            let attempt = throttle.attempt(&format!("user:{}", user.username), address)?;
            let hash = user.password_hash;
            let ok = super::blocking(move || Ok(auth::verify_secret(old.expose_secret(), &hash))).await?;
            if !ok {
                return Err(Error::invalid("old_password", "is not the current password"));
            }
            throttle.succeeded(attempt);
            checked_version = Some(user.version);
        }
    }
    let new = cmd.new_password;
    let password_hash = super::blocking(move || auth::hash_secret(new.expose_secret())).await?;
    let stored = super::write(pool, ctx, None, move |tx| {
        let mut row = db::users::lock(tx, id)?;
        if if_match.is_some() {
            check_if_match(if_match.as_deref(), row.version)?;
        }
        if let Some(v) = checked_version {
            // Changed since the old password was checked (perhaps the password itself).
            check_if_match(Some(&etag(v)), row.version)?;
        }
        row.password_hash = password_hash;
        row.version += 1;
        row.token_version += 1;
        db::users::update(tx, &row)?;
        tx.record(Event {
            org_id: Some(row.org_id),
            after: Some(json!({"by": by, "version": row.version, "token_version": row.token_version})),
            ..Event::new(org_stream(row.org_id), "user.password_changed", "user", id)
        });
        Ok(Answer { status: 200, etag: Some(etag(row.version)), body: UserView::of(row) })
    })
    .await?;
    subjects.forget(SubjectKind::User, id);
    Ok(stored)
}

/// A fresh client secret: 32 random bytes, hex (256 bits that no one can guess).
fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Creates a client; the answer carries its secret, the only time it is shown. A replay of the
/// creating request's `Idempotency-Key` answers the same status and body without the secret:
/// it is stored nowhere. (Lost it? Rotate it.)
#[tracing::instrument(skip_all)]
pub async fn create_client(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    cmd: NewClient,
) -> Result<Stored, Error> {
    let pool = pool.clone();
    super::blocking(move || create_client_now(&pool, &ctx, idem.as_ref(), cmd, None)).await
}

/// Creates a client on the calling thread; `secret` is fixed only for demo data.
pub fn create_client_now(
    pool: &Pool,
    ctx: &WriteCtx,
    idem: Option<&Idempotency>,
    cmd: NewClient,
    secret: Option<String>,
) -> Result<Stored, Error> {
    let secret = secret.unwrap_or_else(new_secret);
    let secret_hash = auth::hash_secret(&secret)?;
    let work = |tx: &mut write::Tx<'_>| {
        check_assignment(tx.db(), cmd.role, cmd.org_id)?;
        let row = ClientRow {
            id: cmd.id.unwrap_or_else(Uuid::now_v7),
            name: cmd.name,
            secret_hash,
            role: cmd.role.as_str().into(),
            org_id: cmd.org_id,
            disabled: false,
            created_at: tx.ctx().now,
            version: 1,
            token_version: 1,
        };
        db::users::insert_client(tx, &row)?;
        tx.record(Event {
            org_id: Some(row.org_id),
            after: Some(json!({"name": row.name, "role": row.role, "org_id": row.org_id})),
            ..Event::new(org_stream(row.org_id), "client.created", "client", row.id)
        });
        Ok(Answer { status: 201, etag: Some(etag(row.version)), body: ClientView::of(row, Some(secret)) })
    };
    write::execute_keeping(pool, ctx, idem, work, ClientView::without_secret)
}

/// A page of clients (never their secrets).
pub async fn list_clients(pool: &Pool, page: Page) -> Result<Listed<ClientView>, Error> {
    let after = page.uuid_cursor()?;
    super::read(pool, move |conn| {
        let rows = db::users::list_clients(conn, after, page.fetch())?;
        Ok(Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| ClientView::of(r, None)))
    })
    .await
}

/// One client (never its secret) and its `ETag`.
pub async fn get_client(pool: &Pool, id: Uuid) -> Result<(ClientView, String), Error> {
    super::read(pool, move |conn| {
        let row = db::users::client(conn, id)?.ok_or(Error::NotFound)?;
        let tag = etag(row.version);
        Ok((ClientView::of(row, None), tag))
    })
    .await
}

/// Disables a client (or enables it again; admin, `If-Match` required). Disabling ends its tokens.
#[tracing::instrument(skip_all, fields(client.id = %id))]
pub async fn update_client(
    pool: &Pool,
    subjects: &SubjectCache,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    id: Uuid,
    disabled: bool,
) -> Result<Stored, Error> {
    let stored = super::write(pool, ctx, idem, move |tx| {
        let before = db::users::lock_client(tx, id)?;
        check_if_match(if_match.as_deref(), before.version)?;
        let mut row = before.clone();
        row.disabled = disabled;
        row.version += 1;
        let mut after = json!({"disabled": disabled, "version": row.version});
        if row.disabled != before.disabled {
            row.token_version += 1;
            after["token_version"] = json!(row.token_version);
        }
        db::users::update_client(tx, &row)?;
        tx.record(Event {
            org_id: Some(row.org_id),
            before: Some(json!({"disabled": before.disabled})),
            after: Some(after),
            ..Event::new(org_stream(row.org_id), "client.updated", "client", id)
        });
        Ok(Answer { status: 200, etag: Some(etag(row.version)), body: ClientView::of(row, None) })
    })
    .await?;
    subjects.forget(SubjectKind::Client, id);
    Ok(stored)
}

/// Rotates a client's secret (admin): the answer carries the new secret, the only time it is
/// shown (a replay of its `Idempotency-Key` answers without it); the old secret and every
/// token issued with it stop working at once. `If-Match` is checked when sent.
#[tracing::instrument(skip_all, fields(client.id = %id))]
pub async fn rotate_secret(
    pool: &Pool,
    subjects: &SubjectCache,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    id: Uuid,
) -> Result<Stored, Error> {
    let secret = new_secret();
    let pool = pool.clone();
    let stored = super::blocking(move || {
        let secret_hash = auth::hash_secret(&secret)?;
        let work = |tx: &mut write::Tx<'_>| {
            let mut row = db::users::lock_client(tx, id)?;
            if if_match.is_some() {
                check_if_match(if_match.as_deref(), row.version)?;
            }
            row.secret_hash = secret_hash;
            row.version += 1;
            row.token_version += 1;
            db::users::update_client(tx, &row)?;
            tx.record(Event {
                org_id: Some(row.org_id),
                after: Some(json!({"version": row.version, "token_version": row.token_version})),
                ..Event::new(org_stream(row.org_id), "client.secret_rotated", "client", id)
            });
            Ok(Answer { status: 200, etag: Some(etag(row.version)), body: ClientView::of(row, Some(secret)) })
        };
        write::execute_keeping(&pool, &ctx, idem.as_ref(), work, ClientView::without_secret)
    })
    .await?;
    subjects.forget(SubjectKind::Client, id);
    Ok(stored)
}
