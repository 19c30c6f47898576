//! People and system clients (admin), and the first admin at start-up.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Listed, Page, auth};
use crate::db::users::{ClientRow, UserRow};
use crate::db::write::{self, Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::policy::{Role, Scope};
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
            created_at: r.created_at,
        }
    }
}

/// A system client as answered; `client_secret` only in the answer that created it (a replay
/// of it answers without: the secret is stored nowhere).
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
    /// The secret, shown once, at creation; store it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl ClientView {
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
        db::orgs::find(tx.conn(), Scope::All, cmd.org_id)
            .map_err(|_| Error::invalid("org_id", "no such organisation"))?;
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
        db::users::insert(tx.conn(), &row)?;
        tx.record(Event {
            org_id: Some(row.org_id),
            after: Some(serde_json::json!({"username": row.username, "role": row.role, "org_id": row.org_id})),
            ..Event::new(format!("org:{}", row.org_id), "user.created", "user", row.id)
        });
        Ok(Answer { status: 201, etag: Some(super::etag(row.version)), body: UserView::of(row) })
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

/// One user.
pub async fn get(pool: &Pool, id: Uuid) -> Result<UserView, Error> {
    super::read(pool, move |conn| Ok(UserView::of(db::users::find(conn, id)?))).await
}

/// Creates a client; the answer carries its secret, the only time it is shown. A replay of the
/// creating request's `Idempotency-Key` answers the same status and body without the secret:
/// it is stored nowhere.
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
    // 32 random bytes, hex: 256 bits that no one can guess.
    let secret = secret.unwrap_or_else(|| hex::encode(rand::random::<[u8; 32]>()));
    let secret_hash = auth::hash_secret(&secret)?;
    let work = |tx: &mut write::Tx<'_>| {
        db::orgs::find(tx.conn(), Scope::All, cmd.org_id)
            .map_err(|_| Error::invalid("org_id", "no such organisation"))?;
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
        db::users::insert_client(tx.conn(), &row)?;
        tx.record(Event {
            org_id: Some(row.org_id),
            after: Some(serde_json::json!({"name": row.name, "role": row.role, "org_id": row.org_id})),
            ..Event::new(format!("org:{}", row.org_id), "client.created", "client", row.id)
        });
        let view = ClientView {
            client_id: row.id,
            name: row.name,
            role: cmd.role,
            org_id: row.org_id,
            client_secret: Some(secret),
            created_at: row.created_at,
        };
        Ok(Answer { status: 201, etag: None, body: view })
    };
    write::execute_keeping(pool, ctx, idem, work, ClientView::without_secret)
}

/// A page of clients (never their secrets).
pub async fn list_clients(pool: &Pool, page: Page) -> Result<Listed<ClientView>, Error> {
    let after = page.uuid_cursor()?;
    super::read(pool, move |conn| {
        let rows = db::users::list_clients(conn, after, page.fetch())?;
        Ok(Listed::from_rows(
            rows,
            &page,
            |r| r.id.to_string(),
            |r| ClientView {
                client_id: r.id,
                name: r.name,
                role: Role::parse(&r.role).unwrap_or(Role::Auditor),
                org_id: r.org_id,
                client_secret: None,
                created_at: r.created_at,
            },
        ))
    })
    .await
}
