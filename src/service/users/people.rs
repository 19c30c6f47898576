//! People: created, listed, changed (role, organisation, disabled) and given new passwords.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{UserView, check_assignment, org_stream, standing};
use crate::db::users::UserRow;
use crate::db::write::{self, Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::ids::UserId;
use crate::domain::policy::{Caller, Role, SubjectKind, last_admin, password_setter};
use crate::error::Error;
use crate::service::auth::{self, LoginThrottle, SubjectCache};
use crate::service::{Listed, Page, check_if_match, etag};

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

/// Creates a user.
#[tracing::instrument(skip_all)]
pub async fn create(pool: &Pool, ctx: WriteCtx, idem: Option<Idempotency>, cmd: NewUser) -> Result<Stored, Error> {
    let pool = pool.clone();
    crate::service::blocking(move || create_now(&pool, &ctx, idem.as_ref(), cmd)).await
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
    crate::service::read(pool, move |conn| {
        let rows = db::users::list(conn, after, page.fetch())?;
        Ok(Listed::from_rows(rows, &page, |r| r.id.to_string(), UserView::of))
    })
    .await
}

/// One user and its `ETag`.
pub async fn get(pool: &Pool, id: UserId) -> Result<(UserView, String), Error> {
    let id = id.uuid();
    crate::service::read(pool, move |conn| {
        let row = db::users::find(conn, id)?;
        let tag = etag(row.version);
        Ok((UserView::of(row), tag))
    })
    .await
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
    id: UserId,
    changes: UserChanges,
) -> Result<Stored, Error> {
    let id = id.uuid();
    let stored = crate::service::write(pool, ctx, idem, move |tx| {
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
        let (was_standing, now_standing) = (standing(&before), standing(&row));
        if was_standing.loses_an_admin(&now_standing) && db::users::other_enabled_admins(tx.db(), id)? == 0 {
            return Err(last_admin().into());
        }
        let ends_tokens = was_standing.change_ends_tokens(&now_standing);
        row.version += 1;
        if ends_tokens {
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
    id: UserId,
    cmd: NewPassword,
) -> Result<Stored, Error> {
    let id = id.uuid();
    let caller: &Caller = ctx.caller.as_ref().ok_or_else(|| Error::internal("no caller"))?;
    let by = password_setter(caller, id, cmd.old_password.is_some())?.as_str();
    // The version the old password was checked against: the change applies only to it.
    let mut checked_version = None;
    match cmd.old_password {
        None => {}
        Some(old) => {
            let user = crate::service::read(pool, move |conn| db::users::find(conn, id)).await?;
            let attempt = throttle.attempt(&format!("user:{}", user.username), address)?;
            let hash = user.password_hash;
            let ok = crate::service::blocking(move || Ok(auth::verify_secret(old.expose_secret(), &hash))).await?;
            if !ok {
                return Err(Error::invalid("old_password", "is not the current password"));
            }
            throttle.succeeded(attempt);
            checked_version = Some(user.version);
        }
    }
    let new = cmd.new_password;
    let password_hash = crate::service::blocking(move || auth::hash_secret(new.expose_secret())).await?;
    let stored = crate::service::write(pool, ctx, None, move |tx| {
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
