//! System clients: created with a secret shown once, listed, disabled, their secrets rotated.

use serde_json::json;
use uuid::Uuid;

use super::{ClientView, check_assignment, client_standing, org_stream};
use crate::db::users::ClientRow;
use crate::db::write::{self, Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::ids::ClientId;
use crate::domain::policy::{Role, SubjectKind};
use crate::error::Error;
use crate::service::auth::{self, SubjectCache};
use crate::service::{Listed, Page, check_if_match, etag};

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
    crate::service::blocking(move || create_client_now(&pool, &ctx, idem.as_ref(), cmd, None)).await
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
    crate::service::read(pool, move |conn| {
        let rows = db::users::list_clients(conn, after, page.fetch())?;
        Ok(Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| ClientView::of(r, None)))
    })
    .await
}

/// One client (never its secret) and its `ETag`.
pub async fn get_client(pool: &Pool, id: ClientId) -> Result<(ClientView, String), Error> {
    let id = id.uuid();
    crate::service::read(pool, move |conn| {
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
    id: ClientId,
    disabled: bool,
) -> Result<Stored, Error> {
    let id = id.uuid();
    let stored = crate::service::write(pool, ctx, idem, move |tx| {
        let before = db::users::lock_client(tx, id)?;
        check_if_match(if_match.as_deref(), before.version)?;
        let mut row = before.clone();
        row.disabled = disabled;
        let ends_tokens = client_standing(&before).change_ends_tokens(&client_standing(&row));
        row.version += 1;
        let mut after = json!({"disabled": disabled, "version": row.version});
        if ends_tokens {
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
    id: ClientId,
) -> Result<Stored, Error> {
    let id = id.uuid();
    let secret = new_secret();
    let pool = pool.clone();
    let stored = crate::service::blocking(move || {
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
