//! Tokens, passwords and the login throttle.
//!
//! Access tokens are JWTs signed with HS256 — the algorithm is pinned: a token naming any other
//! (including `none`) is refused before its signature is even looked at. Each key has a `kid`
//! (a digest of the key), so keys can rotate: the current key signs, previous keys still verify
//! until their tokens expire. Lifetimes are minutes (default 15).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::JwtConfig;
use crate::db::{self, Pool};
use crate::domain::policy::{Caller, Role, SubjectKind};
use crate::error::Error;

/// The token's issuer.
pub const ISSUER: &str = "unionfund";
/// The token's audience.
pub const AUDIENCE: &str = "unionfund-api";

/// What a token says (API.md, "Auth").
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user's or client's id.
    pub sub: String,
    /// The caller's role.
    pub role: Role,
    /// The caller's organisation.
    pub org_id: Uuid,
    /// Person or system.
    pub sub_kind: SubjectKind,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Not before.
    pub nbf: i64,
    /// Issued at.
    pub iat: i64,
    /// Token id.
    pub jti: String,
}

/// Signing and verifying keys.
pub struct TokenKeys {
    kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    ttl_secs: i64,
    validation: Validation,
}

fn kid(key: &[u8]) -> String {
    hex::encode(&Sha256::digest(key)[..8])
}

impl TokenKeys {
    /// Keys from configuration.
    pub fn new(config: &JwtConfig, ttl_secs: i64) -> Self {
        let current = config.current.expose_secret();
        let mut verifying = HashMap::new();
        for key in std::iter::once(&config.current).chain(&config.previous) {
            let key = key.expose_secret();
            verifying.insert(kid(key), DecodingKey::from_secret(key));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        Self { kid: kid(current), signing: EncodingKey::from_secret(current), verifying, ttl_secs, validation }
    }

    /// Lifetime of a token in seconds.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// A token for `caller`.
    pub fn issue(&self, caller: &Caller, now: i64) -> Result<String, Error> {
        let claims = Claims {
            sub: caller.subject.to_string(),
            role: caller.role,
            org_id: caller.org_id,
            sub_kind: caller.kind,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            exp: now + self.ttl_secs,
            nbf: now,
            iat: now,
            jti: Uuid::new_v4().to_string(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.signing).map_err(Error::internal)
    }

    /// The caller a token names, if the token is genuine, current and meant for this service.
    pub fn verify(&self, token: &str) -> Result<Caller, Error> {
        let bad = || Error::Unauthorized("invalid or expired token".into());
        let header = jsonwebtoken::decode_header(token).map_err(|_| bad())?;
        if header.alg != Algorithm::HS256 {
            return Err(bad());
        }
        let key = header.kid.as_deref().and_then(|k| self.verifying.get(k)).ok_or_else(bad)?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|_| bad())?;
        let c = data.claims;
        Ok(Caller {
            subject: Uuid::parse_str(&c.sub).map_err(|_| bad())?,
            kind: c.sub_kind,
            role: c.role,
            org_id: c.org_id,
        })
    }
}

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

/// Throttles login attempts per username (or client id) and per client address, with
/// `governor` (GCRA). Every attempt counts, so guessing stops being possible once the burst
/// is spent, whether or not a guess was right.
pub struct LoginThrottle {
    by_name: DefaultKeyedRateLimiter<String>,
    by_address: DefaultKeyedRateLimiter<String>,
}

impl LoginThrottle {
    /// `per_name` attempts, then one every 12 s; `per_address` attempts, then one every 2 s.
    pub fn new(per_name: u32, per_address: u32) -> Self {
        let quota = |burst: u32, period: u64| {
            Quota::with_period(Duration::from_secs(period))
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
        };
        Self {
            by_name: DefaultKeyedRateLimiter::keyed(quota(per_name, 12)),
            by_address: DefaultKeyedRateLimiter::keyed(quota(per_address, 2)),
        }
    }

    /// Counts an attempt; a 429 when either limit is spent.
    pub fn attempt(&self, name: &str, address: &str) -> Result<(), Error> {
        let now = DefaultClock::default().now();
        for (limiter, key) in [(&self.by_address, address), (&self.by_name, name)] {
            if let Err(not_until) = limiter.check_key(&key.to_owned()) {
                let wait = not_until.wait_time_from(now).as_secs().max(1);
                return Err(Error::TooManyRequests { retry_after_secs: wait });
            }
        }
        Ok(())
    }

    /// Forgets keys that are back to a full burst (run periodically, bounds memory).
    pub fn shrink(&self) {
        self.by_name.retain_recent();
        self.by_address.retain_recent();
    }
}

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

/// Checks the credentials and answers a token.
#[tracing::instrument(skip_all)]
pub async fn token(
    pool: &Pool,
    keys: &TokenKeys,
    throttle: &LoginThrottle,
    address: &str,
    grant: Grant,
) -> Result<String, Error> {
    let name = match &grant {
        Grant::Password { username, .. } => format!("user:{username}"),
        // The parsed id, not the text: a UUID has many spellings (case, hyphens, braces), and
        // each must count against the same client.
        Grant::ClientCredentials { client_id, .. } => match Uuid::parse_str(client_id) {
            Ok(id) => format!("client:{id}"),
            Err(_) => format!("client:{client_id}"),
        },
    };
    throttle.attempt(&name, address)?;
    let denied = || Error::Unauthorized("invalid credentials".into());
    let caller = super::read(pool, move |conn| {
        let (hash, caller) = match &grant {
            Grant::Password { username, .. } => match db::users::by_username(conn, username)? {
                Some(u) if !u.disabled => {
                    let role = Role::parse(&u.role).ok_or_else(|| Error::internal("bad role in database"))?;
                    (u.password_hash, Some(Caller { subject: u.id, kind: SubjectKind::User, role, org_id: u.org_id }))
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
                        (
                            c.secret_hash,
                            Some(Caller { subject: c.id, kind: SubjectKind::Client, role, org_id: c.org_id }),
                        )
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
    .await?
    .ok_or_else(denied)?;
    tracing::info!(caller = %caller.actor(), role = %caller.role, "token issued");
    keys.issue(&caller, chrono::Utc::now().timestamp())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&JwtConfig::from_secret(&"k".repeat(32)).unwrap(), 900)
    }

    fn caller() -> Caller {
        Caller { subject: Uuid::from_u128(1), kind: SubjectKind::User, role: Role::Clerk, org_id: Uuid::from_u128(2) }
    }

    #[test]
    fn a_token_round_trips() {
        let k = keys();
        let t = k.issue(&caller(), chrono::Utc::now().timestamp()).unwrap();
        assert_eq!(k.verify(&t).unwrap(), caller());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let k = keys();
        let t = k.issue(&caller(), chrono::Utc::now().timestamp() - 3600).unwrap();
        assert!(k.verify(&t).is_err());
    }

    #[test]
    fn a_rotated_key_still_verifies_old_tokens() {
        let old = keys();
        let t = old.issue(&caller(), chrono::Utc::now().timestamp()).unwrap();
        let mut config = JwtConfig::from_secret(&"n".repeat(32)).unwrap();
        config.previous = vec![secrecy::SecretBox::new(Box::new("k".repeat(32).into_bytes()))];
        let new = TokenKeys::new(&config, 900);
        assert_eq!(new.verify(&t).unwrap(), caller());
        let other = TokenKeys::new(&JwtConfig::from_secret(&"z".repeat(32)).unwrap(), 900);
        assert!(other.verify(&t).is_err());
    }

    #[test]
    fn secrets_hash_and_verify() {
        let h = hash_secret("correct horse").unwrap();
        assert!(verify_secret("correct horse", &h));
        assert!(!verify_secret("wrong", &h));
    }

    #[test]
    fn the_throttle_stops_a_burst() {
        let t = LoginThrottle::new(3, 100);
        for _ in 0..3 {
            t.attempt("user:a", "127.0.0.1").unwrap();
        }
        assert!(matches!(t.attempt("user:a", "127.0.0.1"), Err(Error::TooManyRequests { .. })));
        t.attempt("user:b", "127.0.0.1").unwrap();
    }
}
