//! Tokens, passwords and the login throttle.
//!
//! Access tokens are JWTs signed with HS256 — the algorithm is pinned: a token naming any other
//! (including `none`) is refused before its signature is even looked at. Each key has a `kid`
//! (a digest of the key), so keys can rotate: the current key signs, previous keys still verify
//! until their tokens expire. Lifetimes are minutes (default 15).
//!
//! A token is not trusted on its signature alone: it carries its subject's token version
//! (`ver`), and every request compares subject, role, organisation and version with the
//! database (through a cache of a few seconds, [`SubjectCache`]). Disabling a user or client,
//! changing its role or organisation, resetting its password or rotating its secret bumps the
//! version, so every token issued before is refused at once: 401, as is a token whose subject
//! does not exist.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
use crate::db::users::SubjectAccess;
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
    /// The subject's token version when the token was issued; a token whose version is no
    /// longer the subject's is refused.
    pub ver: i32,
}

/// What a genuine token says: its caller and the token version it was issued under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Who is calling.
    pub caller: Caller,
    /// The subject's token version in the token (`ver`).
    pub version: i32,
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

    /// A token for `caller`, whose subject's token version is `version`.
    pub fn issue(&self, caller: &Caller, version: i32, now: i64) -> Result<String, Error> {
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
            ver: version,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.signing).map_err(Error::internal)
    }

    /// The caller a token names, if the token is genuine, current and meant for this service.
    /// Whether its subject still holds that access is [`check_subject`]'s question.
    pub fn verify(&self, token: &str) -> Result<Verified, Error> {
        let bad = || Error::Unauthorized("invalid or expired token".into());
        let header = jsonwebtoken::decode_header(token).map_err(|_| bad())?;
        if header.alg != Algorithm::HS256 {
            return Err(bad());
        }
        let key = header.kid.as_deref().and_then(|k| self.verifying.get(k)).ok_or_else(bad)?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|_| bad())?;
        let c = data.claims;
        let caller = Caller {
            subject: Uuid::parse_str(&c.sub).map_err(|_| bad())?,
            kind: c.sub_kind,
            role: c.role,
            org_id: c.org_id,
        };
        Ok(Verified { caller, version: c.ver })
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

/// Throttles login attempts, so that guessing a password or secret is slow, without letting
/// anyone lock a user or client out by guessing wrong on purpose:
/// - per client address (`governor`, GCRA), every attempt counts: `per_address`, then one
///   every 2 s;
/// - per (username or client, address) pair, only failures count: `per_name` wrong attempts,
///   then one every 12 s — and past that, every attempt of the pair is refused, right
///   password or not.
///
/// So five wrong secrets sent for the finance bureau's published `client_id` from one address
/// throttle that address only; the bureau, from its own, still logs in. An IPv6 address counts
/// by its /64 prefix (one host usually holds a whole /64), an IPv4-mapped one as IPv4.
pub struct LoginThrottle {
    by_address: DefaultKeyedRateLimiter<String>,
    failures: Failures,
}

/// One attempt admitted by the throttle; a success must be reported (`succeeded`), so that
/// only failures stay counted.
#[must_use = "report a success with LoginThrottle::succeeded"]
pub struct Attempt {
    pair: String,
}

impl LoginThrottle {
    /// `per_name` failures per (name, address), then one every 12 s; `per_address` attempts
    /// per address, then one every 2 s.
    pub fn new(per_name: u32, per_address: u32) -> Self {
        let quota = |burst: u32, period: u64| {
            Quota::with_period(Duration::from_secs(period))
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
        };
        Self {
            by_address: DefaultKeyedRateLimiter::keyed(quota(per_address, 2)),
            failures: Failures::new(per_name.max(1), Duration::from_secs(12)),
        }
    }

    /// The key an address counts under.
    pub fn address_key(address: Option<IpAddr>) -> String {
        match address.map(|a| a.to_canonical()) {
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            Some(v4) => v4.to_string(),
            None => "unknown".to_owned(),
        }
    }

    /// Admits an attempt for `name` from `address`, or answers 429 with the wait. The attempt
    /// is counted as a failure until `succeeded` says otherwise, so that concurrent guesses
    /// cannot slip past the limit.
    pub fn attempt(&self, name: &str, address: Option<IpAddr>) -> Result<Attempt, Error> {
        let address = Self::address_key(address);
        if let Err(not_until) = self.by_address.check_key(&address) {
            let wait = not_until.wait_time_from(DefaultClock::default().now()).as_secs().max(1);
            return Err(Error::TooManyRequests { retry_after_secs: wait });
        }
        let pair = format!("{name} from {address}");
        self.failures.spend(&pair, Instant::now())?;
        Ok(Attempt { pair })
    }

    /// The attempt had the right credentials: it is not a failure.
    pub fn succeeded(&self, attempt: Attempt) {
        self.failures.refund(&attempt.pair, Instant::now());
    }

    /// Forgets keys that are back to a full burst (run periodically, bounds memory).
    pub fn shrink(&self) {
        self.by_address.retain_recent();
        self.failures.shrink(Instant::now());
    }
}

/// Failures per key, as GCRA: each failure moves the key's theoretical arrival time (TAT) one
/// period on; a failure is allowed while the TAT stays within `burst` periods of now. Written
/// here rather than with `governor` because a success must give its cell back, and governor
/// can neither look at a key without spending a cell nor return one.
struct Failures {
    burst: u32,
    period: Duration,
    tats: Mutex<HashMap<String, Instant>>,
}

impl Failures {
    fn new(burst: u32, period: Duration) -> Self {
        Self { burst, period, tats: Mutex::new(HashMap::new()) }
    }

    fn tats(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // The map holds no invariant a panic could break half-way: a poisoned lock is usable.
        self.tats.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Spends one failure of `key`, or answers 429 when its burst is spent.
    fn spend(&self, key: &str, now: Instant) -> Result<(), Error> {
        let mut tats = self.tats();
        let tat = tats.get(key).copied().unwrap_or(now).max(now) + self.period;
        let ahead = tat.duration_since(now);
        let limit = self.period * self.burst;
        if ahead > limit {
            let wait = ahead - limit;
            let wait = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
            return Err(Error::TooManyRequests { retry_after_secs: wait });
        }
        tats.insert(key.to_owned(), tat);
        Ok(())
    }

    /// Gives back the failure an attempt spent.
    fn refund(&self, key: &str, now: Instant) {
        let mut tats = self.tats();
        if let Some(tat) = tats.get_mut(key) {
            match tat.checked_sub(self.period) {
                Some(earlier) if earlier > now => *tat = earlier,
                _ => {
                    tats.remove(key);
                }
            }
        }
    }

    fn shrink(&self, now: Instant) {
        self.tats().retain(|_, tat| *tat > now);
    }
}

/// Who a token's subject is now, as the database says, cached for a few seconds.
///
/// Every authenticated request needs its subject's row ([`check_subject`]); the cache keeps each
/// row for `ttl` (`UNIONFUND_AUTH_CACHE_MS`, default 2 s; 0 turns it off). A change made
/// through this process (disable, role, password, secret, …) drops the entry when it commits,
/// so it takes effect on the very next request; a change made by another process sharing the
/// database is seen within `ttl`. Entries are stored only when no change was committed while
/// they were being read (a generation counter), so a read racing a change cannot keep the old
/// row alive. Unknown subjects are not cached: they are refused, and a flood of forged
/// subjects must not grow the map.
pub struct SubjectCache {
    ttl: Duration,
    generation: AtomicU64,
    entries: Mutex<HashMap<(bool, Uuid), (Instant, SubjectAccess)>>,
}

/// Beyond this many entries, expired ones are dropped on the next insert.
const SUBJECT_CACHE_SWEEP_ABOVE: usize = 10_000;

impl SubjectCache {
    /// A cache keeping rows for `ttl` (zero: no cache).
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, generation: AtomicU64::new(0), entries: Mutex::new(HashMap::new()) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<(bool, Uuid), (Instant, SubjectAccess)>> {
        // Plain data: a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn key(kind: SubjectKind, id: Uuid) -> (bool, Uuid) {
        (kind == SubjectKind::Client, id)
    }

    fn get(&self, key: (bool, Uuid), now: Instant) -> Option<SubjectAccess> {
        self.entries().get(&key).filter(|(until, _)| *until > now).map(|(_, access)| access.clone())
    }

    fn put(&self, key: (bool, Uuid), access: SubjectAccess, generation: u64, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        // Checked under the lock that `forget` also takes: a change committed since the read
        // began has bumped the generation, and the row read may be the old one.
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if entries.len() > SUBJECT_CACHE_SWEEP_ABOVE {
            entries.retain(|_, (until, _)| *until > now);
        }
        entries.insert(key, (now + self.ttl, access));
    }

    /// Drops a subject's entry; call after a change to its access has committed.
    pub fn forget(&self, kind: SubjectKind, id: Uuid) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.remove(&Self::key(kind, id));
    }
}

/// Whether a verified token's subject still holds the access the token grants: it exists, is
/// not disabled, has the token's role and organisation, and its token version is the token's.
/// Anything else is a 401 — the token was revoked, or names a subject this database does not
/// know.
pub async fn check_subject(pool: &Pool, cache: &SubjectCache, token: &Verified) -> Result<(), Error> {
    let caller = &token.caller;
    let key = SubjectCache::key(caller.kind, caller.subject);
    let access = match cache.get(key, Instant::now()) {
        Some(access) => Some(access),
        None => {
            let generation = cache.generation.load(Ordering::SeqCst);
            let (client, id) = key;
            let access = super::read(pool, move |conn| db::users::access(conn, client, id)).await?;
            if let Some(access) = &access {
                cache.put(key, access.clone(), generation, Instant::now());
            }
            access
        }
    };
    let holds = access.is_some_and(|a| {
        !a.disabled && a.token_version == token.version && a.role == caller.role.as_str() && a.org_id == caller.org_id
    });
    if holds { Ok(()) } else { Err(Error::Unauthorized("this token is no longer valid: log in again".into())) }
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
    address: Option<IpAddr>,
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
    let attempt = throttle.attempt(&name, address)?;
    let denied = || Error::Unauthorized("invalid credentials".into());
    let found = super::read(pool, move |conn| {
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

    fn keys() -> TokenKeys {
        TokenKeys::new(&JwtConfig::from_secret(&"k".repeat(32)).unwrap(), 900)
    }

    fn caller() -> Caller {
        Caller { subject: Uuid::from_u128(1), kind: SubjectKind::User, role: Role::Clerk, org_id: Uuid::from_u128(2) }
    }

    #[test]
    fn a_token_round_trips() {
        let k = keys();
        let t = k.issue(&caller(), 7, chrono::Utc::now().timestamp()).unwrap();
        assert_eq!(k.verify(&t).unwrap(), Verified { caller: caller(), version: 7 });
    }

    #[test]
    fn an_expired_token_is_refused() {
        let k = keys();
        let t = k.issue(&caller(), 1, chrono::Utc::now().timestamp() - 3600).unwrap();
        assert!(k.verify(&t).is_err());
    }

    #[test]
    fn a_rotated_key_still_verifies_old_tokens() {
        let old = keys();
        let t = old.issue(&caller(), 1, chrono::Utc::now().timestamp()).unwrap();
        let mut config = JwtConfig::from_secret(&"n".repeat(32)).unwrap();
        config.previous = vec![secrecy::SecretBox::new(Box::new("k".repeat(32).into_bytes()))];
        let new = TokenKeys::new(&config, 900);
        assert_eq!(new.verify(&t).unwrap().caller, caller());
        let other = TokenKeys::new(&JwtConfig::from_secret(&"z".repeat(32)).unwrap(), 900);
        assert!(other.verify(&t).is_err());
    }

    #[test]
    fn secrets_hash_and_verify() {
        let h = hash_secret("correct horse").unwrap();
        assert!(verify_secret("correct horse", &h));
        assert!(!verify_secret("wrong", &h));
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn failures_of_one_name_from_one_address_are_throttled_and_only_there() {
        let t = LoginThrottle::new(3, 100);
        for _ in 0..3 {
            let _failed = t.attempt("client:b", ip("127.0.0.2")).unwrap();
        }
        let e = t.attempt("client:b", ip("127.0.0.2")).err().unwrap();
        assert!(matches!(e, Error::TooManyRequests { retry_after_secs: 12 }), "{e:?}");
        // The same name from its own address, and another name from the attacker's, still pass.
        t.succeeded(t.attempt("client:b", ip("127.0.0.1")).unwrap());
        let _other = t.attempt("user:a", ip("127.0.0.2")).unwrap();
    }

    #[test]
    fn successes_are_not_counted_as_failures() {
        let t = LoginThrottle::new(2, 100);
        for _ in 0..10 {
            t.succeeded(t.attempt("user:a", ip("10.0.0.1")).unwrap());
        }
        let _one = t.attempt("user:a", ip("10.0.0.1")).unwrap();
        let _two = t.attempt("user:a", ip("10.0.0.1")).unwrap();
        assert!(t.attempt("user:a", ip("10.0.0.1")).is_err(), "two failures spend the burst");
    }

    #[test]
    fn every_attempt_counts_against_the_address() {
        let t = LoginThrottle::new(100, 3);
        for i in 0..3 {
            t.succeeded(t.attempt(&format!("user:{i}"), ip("10.0.0.1")).unwrap());
        }
        assert!(matches!(t.attempt("user:x", ip("10.0.0.1")), Err(Error::TooManyRequests { .. })));
        t.succeeded(t.attempt("user:x", ip("10.0.0.2")).unwrap());
    }

    #[test]
    fn an_ipv6_address_counts_by_its_64_prefix_and_a_mapped_ipv4_as_ipv4() {
        let key = LoginThrottle::address_key;
        assert_eq!(key(ip("2001:db8:1:2:aaaa::1")), key(ip("2001:db8:1:2:bbbb::2")));
        assert_ne!(key(ip("2001:db8:1:2::1")), key(ip("2001:db8:1:3::1")));
        assert_eq!(key(ip("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(key(None), "unknown");
    }

    #[test]
    fn a_failure_budget_refills_one_period_at_a_time() {
        let f = Failures::new(2, Duration::from_secs(12));
        let t0 = Instant::now();
        f.spend("k", t0).unwrap();
        f.spend("k", t0).unwrap();
        assert!(f.spend("k", t0).is_err());
        assert!(f.spend("k", t0 + Duration::from_secs(11)).is_err());
        f.spend("k", t0 + Duration::from_secs(12)).unwrap();
        f.shrink(t0 + Duration::from_secs(60));
        assert!(f.tats().is_empty(), "a key back to a full burst is forgotten");
    }

    #[test]
    fn the_subject_cache_forgets_a_changed_subject_and_refuses_a_racing_read() {
        let c = SubjectCache::new(Duration::from_secs(60));
        let a = SubjectAccess { disabled: false, role: "admin".into(), org_id: Uuid::from_u128(2), token_version: 1 };
        let key = SubjectCache::key(SubjectKind::User, Uuid::from_u128(1));
        let now = Instant::now();
        c.put(key, a.clone(), c.generation.load(Ordering::SeqCst), now);
        assert_eq!(c.get(key, now), Some(a.clone()));
        assert_eq!(c.get(key, now + Duration::from_secs(61)), None, "entries expire");
        let read_began = c.generation.load(Ordering::SeqCst);
        c.forget(SubjectKind::User, Uuid::from_u128(1));
        assert_eq!(c.get(key, now), None);
        c.put(key, a, read_began, now);
        assert_eq!(c.get(key, now), None, "a row read before a change is not kept");
    }
}
