//! Access tokens: HS256 JWTs, keyed by `kid` so that keys can rotate.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::JwtConfig;
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
    /// Whether its subject still holds that access is [`super::check_subject`]'s question.
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
}
