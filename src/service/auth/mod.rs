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
//!
//! The keys and tokens are in `tokens`, the login throttle in `throttle`, the subject check and
//! its cache in `subjects`, the grants and the secrets they check in `login`.

mod login;
mod subjects;
mod throttle;
mod tokens;

pub use self::login::{Grant, hash_secret, token, verify_secret};
pub use self::subjects::{SubjectCache, check_subject};
pub use self::throttle::{Attempt, LoginThrottle};
pub use self::tokens::{AUDIENCE, Claims, ISSUER, TokenKeys, Verified};
