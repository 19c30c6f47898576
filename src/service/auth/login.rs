//! Logging in: the password and client_credentials grants, and the secrets they check.

use std::net::IpAddr;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::{LoginThrottle, TokenKeys};
use crate::db::{self, Pool};
use crate::domain::policy::{Caller, Role, SubjectKind};
use crate::error::Error;

/// Hashes a password or client secret with argon2id (the crate's defaults: OWASP's parameters).
pub fn hash_secret(secret: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default().hash_password(secret.as_bytes(), &salt).map_err(Error::internal)?.to_string())
}

/// True when `secret` matches the stored hash.
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(secret.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the user does not exist, so that a wrong username costs the
/// same time as a wrong password and does not reveal which usernames exist.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_secret("unionfund-dummy-password").unwrap_or_default());

/// A login request (API.md: the password and client_credentials grants).
#[derive(Debug)]
pub enum Grant {
    /// A person: username and password.
    Password {
        /// Username.
        username: String,
        /// Password.
        password: SecretString,
    },
    /// A system: client id and secret.
    ClientCredentials {
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: SecretString,
    },
}

impl Grant {
    /// The name its failures count under in the login throttle.
    fn throttle_name(&self) -> String {
        match self {
            Grant::Password { username, .. } => format!("user:{username}"),
            // The parsed id, not the text: a UUID has many spellings (case, hyphens, braces), and
            // each must count against the same client.
            Grant::ClientCredentials { client_id, .. } => match Uuid::parse_str(client_id) {
                Ok(id) => format!("client:{id}"),
                Err(_) => format!("client:{client_id}"),
            },
        }
    }
}

/// Checks the credentials and answers a token.
#[tracing::instrument(skip_all)]
pub async fn token(
    pool: &Pool,
    keys: &TokenKeys,
    throttle: &LoginThrottle,
    address: Option<IpAddr>,
    grant: Grant,
) -> Result<String, Error> {
    let attempt = throttle.attempt(&grant.throttle_name(), address)?;
    let denied = || Error::Unauthorized("invalid credentials".into());
    let found = crate::service::read(pool, move |conn| {
        let (hash, caller) = match &grant {
            Grant::Password { username, .. } => match db::users::by_username(conn, username)? {
                Some(u) if !u.disabled => {
                    let role = Role::parse(&u.role).ok_or_else(|| Error::internal("bad role in database"))?;
                    let caller = Caller { subject: u.id, kind: SubjectKind::User, role, org_id: u.org_id };
                    (u.password_hash, Some((caller, u.token_version)))
                }
                _ => (DUMMY_HASH.clone(), None),
            },
            Grant::ClientCredentials { client_id, .. } => {
                let client = match Uuid::parse_str(client_id) {
                    Ok(id) => db::users::client(conn, id)?,
                    Err(_) => None,
                };
                match client {
                    Some(c) if !c.disabled => {
                        let role = Role::parse(&c.role).ok_or_else(|| Error::internal("bad role in database"))?;
                        let caller = Caller { subject: c.id, kind: SubjectKind::Client, role, org_id: c.org_id };
                        (c.secret_hash, Some((caller, c.token_version)))
                    }
                    _ => (DUMMY_HASH.clone(), None),
                }
            }
        };
        let secret = match &grant {
            Grant::Password { password, .. } => password.expose_secret(),
            Grant::ClientCredentials { client_secret, .. } => client_secret.expose_secret(),
        };
        let ok = verify_secret(secret, &hash);
        Ok(caller.filter(|_| ok))
    })
    .await?;
    let Some((caller, version)) = found else { return Err(denied()) };
    throttle.succeeded(attempt);
    tracing::info!(caller = %caller.actor(), role = %caller.role, "token issued");
    keys.issue(&caller, version, chrono::Utc::now().timestamp())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secrets_hash_and_verify() {
        let h = hash_secret("correct horse").unwrap();
        assert!(verify_secret("correct horse", &h));
        assert!(!verify_secret("wrong", &h));
    }

    #[test]
    fn a_clients_failures_count_under_one_name_however_its_id_is_spelt() {
        let client = |id: &str| {
            Grant::ClientCredentials { client_id: id.into(), client_secret: SecretString::from("x") }.throttle_name()
        };
        let id = "0190a0b0-0000-7000-8000-000000000b0b";
        assert_eq!(client(id), format!("client:{id}"));
        assert_eq!(client(&id.to_uppercase()), client(id));
        assert_eq!(client(&id.replace('-', "")), client(id));
        assert_eq!(client(&format!("{{{id}}}")), client(id));
        assert_eq!(client("not-a-uuid"), "client:not-a-uuid");
        let user = Grant::Password { username: "clerk".into(), password: SecretString::from("x") };
        assert_eq!(user.throttle_name(), "user:clerk");
    }
}
