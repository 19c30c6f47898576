//! People and system clients (admin), and the first admin at start-up.
//!
//! Access can be taken back: an admin disables a user or client, changes a user's role or
//! organisation, resets a password or rotates a client's secret; each bumps the subject's
//! `token_version`, so that every token issued before is refused on its next request
//! (`auth::check_subject`), and each writes an audit event naming what changed — never a
//! password, a hash or a secret. The last enabled admin cannot be disabled or demoted.
//!
//! What both answer, and the rules both keep, are here; people are in `people`, system clients
//! in `clients`.

mod clients;
mod people;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

pub use self::clients::{
    NewClient, create_client, create_client_now, get_client, list_clients, rotate_secret, update_client,
};
pub use self::people::{NewPassword, NewUser, UserChanges, create, create_now, get, list, set_password, update};
use crate::db;
use crate::db::Db;
use crate::db::users::{ClientRow, UserRow};
use crate::domain::audit::Stream;
use crate::domain::policy::{Role, Scope, Standing};
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

/// A user's access as its row says it.
fn standing(r: &UserRow) -> Standing<'_> {
    Standing { role: &r.role, org_id: r.org_id, disabled: r.disabled, token_version: r.token_version }
}

/// A client's access as its row says it.
fn client_standing(r: &ClientRow) -> Standing<'_> {
    Standing { role: &r.role, org_id: r.org_id, disabled: r.disabled, token_version: r.token_version }
}
