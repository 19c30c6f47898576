//! Environment → typed configuration. Secrets are wrapped (`secrecy`) so that they never print,
//! not even in a `Debug` of the whole configuration.

use secrecy::{ExposeSecret, SecretBox, SecretString};

use crate::pii::PiiKeys;

pub mod witness;

/// Everything the service reads from its environment (API.md, "Running").
#[derive(Debug)]
pub struct Config {
    /// `DATABASE_URL`; may hold a password, hence secret. The owner: migrates and grants.
    pub database_url: SecretString,
    /// `UNIONFUND_RUNTIME_DATABASE_URL`: the login of the pool, when it is not the owner's (a
    /// managed PostgreSQL); without it the pool logs in as the owner and `SET ROLE`s.
    pub runtime_database_url: Option<SecretString>,
    /// `UNIONFUND_RUNTIME_ROLE`: the role requests run as, default `unionfund_app`.
    pub runtime_role: String,
    /// `UNIONFUND_DB_LOCK_TIMEOUT_MS`, `UNIONFUND_DB_STATEMENT_TIMEOUT_MS`,
    /// `UNIONFUND_DB_READ_TIMEOUT_MS`: the database's time limits on the service's statements.
    pub db_limits: crate::db::pool::Limits,
    /// `UNIONFUND_BIND`, default `127.0.0.1:8080`.
    pub bind: String,
    /// Signing keys for access tokens.
    pub jwt: JwtConfig,
    /// `UNIONFUND_ADMIN_USERNAME` / `UNIONFUND_ADMIN_PASSWORD`: the first admin.
    pub first_admin: Option<(String, SecretString)>,
    /// `UNIONFUND_CORS_ORIGINS`, comma-separated; empty means no cross-origin access.
    pub cors_origins: Vec<String>,
    /// `UNIONFUND_LOG_FORMAT=json` for JSON lines.
    pub log_json: bool,
    /// `UNIONFUND_DB_POOL_SIZE`, default 10. The server allows 100 connections in all.
    pub pool_size: u32,
    /// `UNIONFUND_WORKERS`: HTTP worker threads, default the number of cores.
    pub workers: usize,
    /// How long a connection may take to send a request, and how many may be open.
    pub http: HttpLimits,
    /// `UNIONFUND_TOKEN_TTL_SECS`: access-token lifetime, default 900 (15 minutes).
    pub token_ttl_secs: i64,
    /// Login attempts allowed per username before the throttle answers 429.
    pub login_burst_per_username: u32,
    /// Login attempts allowed per client address before the throttle answers 429.
    pub login_burst_per_address: u32,
    /// `UNIONFUND_CHECKPOINT_SECS`: how often an audit checkpoint is taken, default 300; 0 = never.
    pub checkpoint_every_secs: u64,
    /// `UNIONFUND_PII_KEYS` and `UNIONFUND_PII_HASH_KEYS`: the keys that seal personal data and
    /// hash it for look-ups.
    pub pii: std::sync::Arc<PiiKeys>,
    /// True when no PII keys were configured and the public development keys are in use.
    pub pii_development: bool,
    /// `UNIONFUND_LOG_ORIGIN` and `UNIONFUND_LOG_KEY` (base64 of a 32-byte Ed25519 seed): the
    /// Merkle log's name and the key that signs its checkpoints.
    pub log_signer: std::sync::Arc<crate::domain::note::LogSigner>,
    /// True when the public development key signs the log (none was configured, or that one).
    pub log_key_development: bool,
    /// `UNIONFUND_WITNESSES`: the witnesses each new checkpoint is sent to, comma-separated
    /// `<add-checkpoint URL prefix> <verifier key>` pairs; none by default.
    pub witnesses: Vec<WitnessEndpoint>,
    /// `UNIONFUND_WITNESS_QUORUM`: how many of them must cosign a checkpoint for it to count as
    /// witnessed (default: all of them).
    pub witness_quorum: usize,
    /// `UNIONFUND_WITNESS_TIMEOUT_MS`: how long a witness is waited for, default 10000.
    pub witness_timeout_ms: u64,
    /// `UNIONFUND_LOG_SEQUENCE_MS`: how often the sequencer looks for new events, default 1000;
    /// 0 = never in the background (checkpoints and proofs still sequence on demand).
    pub log_sequence_ms: u64,
    /// `UNIONFUND_LEADER_THRESHOLD`: above this amount only a leader approves, default `3000.00`.
    pub leader_threshold: rust_decimal::Decimal,
    /// `UNIONFUND_AUTH_CACHE_MS`: how long a token's subject (disabled, role, organisation, token
    /// version) is cached between database reads, default 2000; 0 reads it on every request.
    /// Changes made through this process take effect at once; another process's within this.
    pub auth_cache_ms: u64,
    /// `UNIONFUND_EXPORT_SEND_TIMEOUT_SECS`: how long an audit export waits for its client to
    /// take the next batch, default 30; past it the export ends (logged) and the transfer breaks.
    pub export_send_timeout_secs: u64,
    /// `UNIONFUND_EXPORT_BATCH_EVENTS`: events an export reads per query, default 1000. Each
    /// query borrows a pooled connection and gives it back before its batch is sent.
    pub export_batch_events: i64,
    /// `UNIONFUND_EXPORTS_MAX`: audit exports running at once in the process, default 4.
    pub exports_max: usize,
    /// `UNIONFUND_HEAVY_PER_CALLER_MAX`: heavy reads (verify, export, checks, annual report) one
    /// caller may run at once, default 2.
    pub heavy_per_caller_max: usize,
    /// `UNIONFUND_HEAVY_QUERIES_MAX`: verifications, checks and reports running at once in the
    /// process. Each holds a connection throughout, so it must stay below the pool size, leaving
    /// connections to ordinary requests; default half the pool, at most 4 (4 for a pool of 10).
    pub heavy_queries_max: usize,
    /// `UNIONFUND_HEAVY_RETRY_AFTER_SECS`: the `Retry-After` of a 429 from those limits, default 5.
    pub heavy_retry_after_secs: u64,
}

/// What a connection may take of the server (README, "Security and limits"). A client that
/// sends nothing, or trickles its request, is cut off instead of holding a connection for ever.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// `UNIONFUND_HTTP_HEADER_TIMEOUT_MS`: the request line and headers must arrive within this,
    /// from the connection's opening or from the end of the previous answer (default 5,000).
    pub header_timeout_ms: u64,
    /// `UNIONFUND_HTTP_BODY_TIMEOUT_MS`: the whole body must arrive within this (default 15,000);
    /// past it the answer is 408.
    pub body_timeout_ms: u64,
    /// `UNIONFUND_HTTP_KEEP_ALIVE_SECS`: an idle kept-alive connection is closed after this (default 5).
    pub keep_alive_secs: u64,
    /// `UNIONFUND_HTTP_MAX_CONNECTIONS`: open connections per worker thread (default 256); past
    /// it, new connections wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self { header_timeout_ms: 5_000, body_timeout_ms: 15_000, keep_alive_secs: 5, max_connections: 256 }
    }
}

/// HMAC keys for HS256 tokens. The current key signs; previous keys still verify (rotation).
pub struct JwtConfig {
    /// The signing key.
    pub current: SecretBox<Vec<u8>>,
    /// Keys that verify tokens signed before a rotation.
    pub previous: Vec<SecretBox<Vec<u8>>>,
    /// True when no key was configured and a random one was made for this process.
    pub generated: bool,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("current", &"[redacted]")
            .field("previous", &self.previous.len())
            .field("generated", &self.generated)
            .finish()
    }
}

impl JwtConfig {
    /// A key from text (at least 32 bytes, as RFC 7518 asks of HS256 keys).
    pub fn from_secret(secret: &str) -> Result<Self, ConfigError> {
        Ok(Self { current: key(secret)?, previous: Vec::new(), generated: false })
    }

    /// True when the signing key is one printed in this repository (docker/compose.yaml's
    /// default): anyone can sign tokens with it.
    pub fn is_public(&self) -> bool {
        PUBLIC_JWT_SECRETS.iter().any(|s| s.as_bytes() == self.current.expose_secret().as_slice())
    }

    /// A random key for this process only: tokens die with it.
    pub fn random() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self { current: SecretBox::new(Box::new(bytes.to_vec())), previous: Vec::new(), generated: true }
    }
}

fn key(secret: &str) -> Result<SecretBox<Vec<u8>>, ConfigError> {
    let secret = secret.trim();
    if secret.len() < 32 {
        return Err(ConfigError("UNIONFUND_JWT_SECRET must be at least 32 bytes".into()));
    }
    Ok(SecretBox::new(Box::new(secret.as_bytes().to_vec())))
}

/// JWT secrets printed in this repository, refused outside the demo: docker/compose.yaml's default.
const PUBLIC_JWT_SECRETS: [&str; 1] = ["change-me-change-me-change-me-change-me"];

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// The database used when `DATABASE_URL` is unset: the local PostgreSQL, database `unionfund`.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/unionfund";

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parsed<T: std::str::FromStr>(name: &str, default: T) -> Result<T, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| ConfigError(format!("{name} is not a valid number: {v:?}"))),
    }
}

/// The Merkle log's default name (`UNIONFUND_LOG_ORIGIN`).
pub const DEFAULT_LOG_ORIGIN: &str = "unionfund.local/audit-log";

/// A witness the service sends its checkpoints to.
#[derive(Debug, Clone)]
pub struct WitnessEndpoint {
    /// Its submission prefix: `add-checkpoint` is appended (with a `/` between).
    pub url: String,
    /// Its cosigner key (`name+keyid+base64(0x04 ‖ key)`).
    pub key: crate::domain::note::WitnessKey,
}

/// Reads `UNIONFUND_WITNESSES`: `<url> <verifier key>` pairs separated by commas.
pub fn parse_witnesses(text: &str) -> Result<Vec<WitnessEndpoint>, ConfigError> {
    let mut out: Vec<WitnessEndpoint> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = || ConfigError("UNIONFUND_WITNESSES: each entry is `<http(s) URL> <witness verifier key>`".into());
        let (url, key) = entry.split_once(char::is_whitespace).ok_or_else(bad)?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(bad());
        }
        let key = crate::domain::note::WitnessKey::parse(key.trim()).map_err(|_| bad())?;
        if out.iter().any(|w| w.key.name() == key.name()) {
            return Err(ConfigError(format!("UNIONFUND_WITNESSES: the witness {} is listed twice", key.name())));
        }
        let url = if url.ends_with('/') { url.to_owned() } else { format!("{url}/") };
        out.push(WitnessEndpoint { url, key });
    }
    Ok(out)
}

/// The public development seed of the log's signing key, used when `UNIONFUND_LOG_KEY` is not
/// set (with a warning): anyone can sign with it, so checkpoints signed with it prove nothing.
pub const DEVELOPMENT_LOG_SEED: [u8; 32] = *b"unionfund-development-log-key!!!";

impl Config {
    /// Defaults that work on a machine with a local PostgreSQL; tests start from these.
    pub fn defaults(database_url: &str) -> Self {
        Self {
            database_url: SecretString::from(database_url.to_owned()),
            runtime_database_url: None,
            runtime_role: crate::db::pool::RUNTIME_ROLE.to_owned(),
            db_limits: crate::db::pool::Limits::default(),
            bind: "127.0.0.1:8080".into(),
            jwt: JwtConfig::random(),
            first_admin: None,
            cors_origins: Vec::new(),
            log_json: false,
            pool_size: 10,
            workers: std::thread::available_parallelism().map(usize::from).unwrap_or(2),
            http: HttpLimits::default(),
            token_ttl_secs: 900,
            login_burst_per_username: 5,
            login_burst_per_address: 30,
            checkpoint_every_secs: 300,
            witnesses: Vec::new(),
            witness_quorum: 0,
            witness_timeout_ms: 10_000,
            pii: std::sync::Arc::new(PiiKeys::development()),
            pii_development: true,
            log_signer: std::sync::Arc::new(crate::domain::note::LogSigner::new(
                DEFAULT_LOG_ORIGIN,
                DEVELOPMENT_LOG_SEED,
            )),
            log_key_development: true,
            log_sequence_ms: 1000,
            leader_threshold: rust_decimal::Decimal::new(300_000, 2),
            auth_cache_ms: 2000,
            export_send_timeout_secs: 30,
            export_batch_events: 1000,
            exports_max: 4,
            heavy_per_caller_max: 2,
            heavy_queries_max: 4,
            heavy_retry_after_secs: 5,
        }
    }

    /// Reads the environment (API.md, "Running").
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut c = Self::defaults(&var("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()));
        if let Some(bind) = var("UNIONFUND_BIND") {
            c.bind = bind;
        }
        let secret = match (var("UNIONFUND_JWT_SECRET"), var("UNIONFUND_JWT_SECRET_FILE")) {
            (Some(s), _) => Some(s),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| ConfigError(format!("UNIONFUND_JWT_SECRET_FILE {path}: {e}")))?,
            ),
            (None, None) => None,
        };
        if let Some(secret) = secret {
            c.jwt = JwtConfig::from_secret(&secret)?;
            if let Some(previous) = var("UNIONFUND_JWT_PREVIOUS_SECRETS") {
                c.jwt.previous = previous.split(',').map(key).collect::<Result<_, _>>()?;
            }
        }
        c.first_admin = match (var("UNIONFUND_ADMIN_USERNAME"), var("UNIONFUND_ADMIN_PASSWORD")) {
            (Some(u), Some(p)) => Some((u, SecretString::from(p))),
            (None, None) => None,
            _ => {
                return Err(ConfigError(
                    "set both UNIONFUND_ADMIN_USERNAME and UNIONFUND_ADMIN_PASSWORD, or neither".into(),
                ));
            }
        };
        c.cors_origins = var("UNIONFUND_CORS_ORIGINS")
            .map(|v| v.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
            .unwrap_or_default();
        c.log_json = var("UNIONFUND_LOG_FORMAT").is_some_and(|v| v.eq_ignore_ascii_case("json"));
        c.pool_size = parsed("UNIONFUND_DB_POOL_SIZE", c.pool_size)?;
        c.workers = parsed("UNIONFUND_WORKERS", c.workers)?;
        c.http.header_timeout_ms = parsed("UNIONFUND_HTTP_HEADER_TIMEOUT_MS", c.http.header_timeout_ms)?;
        c.http.body_timeout_ms = parsed("UNIONFUND_HTTP_BODY_TIMEOUT_MS", c.http.body_timeout_ms)?;
        c.http.keep_alive_secs = parsed("UNIONFUND_HTTP_KEEP_ALIVE_SECS", c.http.keep_alive_secs)?;
        c.http.max_connections = parsed("UNIONFUND_HTTP_MAX_CONNECTIONS", c.http.max_connections)?;
        if c.http.header_timeout_ms == 0 || c.http.body_timeout_ms == 0 || c.http.max_connections == 0 {
            return Err(ConfigError("HTTP timeouts and the connection cap must be positive".into()));
        }
        c.token_ttl_secs = parsed("UNIONFUND_TOKEN_TTL_SECS", c.token_ttl_secs)?;
        c.login_burst_per_username = parsed("UNIONFUND_LOGIN_BURST_PER_USERNAME", c.login_burst_per_username)?;
        c.login_burst_per_address = parsed("UNIONFUND_LOGIN_BURST_PER_ADDRESS", c.login_burst_per_address)?;
        c.checkpoint_every_secs = parsed("UNIONFUND_CHECKPOINT_SECS", c.checkpoint_every_secs)?;
        // UNIONFUND_PII_HASH_KEY is the name from before hash keys could be listed.
        let hash_keys = match (var("UNIONFUND_PII_HASH_KEYS"), var("UNIONFUND_PII_HASH_KEY")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError(
                    "set UNIONFUND_PII_HASH_KEYS or UNIONFUND_PII_HASH_KEY (its older name), not both".into(),
                ));
            }
            (keys, old_name) => keys.or(old_name),
        };
        match (var("UNIONFUND_PII_KEYS"), hash_keys) {
            (Some(keys), Some(hash)) => {
                c.pii = std::sync::Arc::new(PiiKeys::parse(&keys, &hash).map_err(|e| ConfigError(e.to_string()))?);
                c.pii_development = false;
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(ConfigError(
                    "UNIONFUND_PII_HASH_KEYS is not set while UNIONFUND_PII_KEYS is: set both, or neither".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError(
                    "UNIONFUND_PII_KEYS is not set while UNIONFUND_PII_HASH_KEYS is: set both, or neither".into(),
                ));
            }
        }
        c.runtime_database_url = var("UNIONFUND_RUNTIME_DATABASE_URL").map(SecretString::from);
        if let Some(role) = var("UNIONFUND_RUNTIME_ROLE") {
            c.runtime_role = role.trim().to_owned();
        }
        c.db_limits.lock_timeout_ms = parsed("UNIONFUND_DB_LOCK_TIMEOUT_MS", c.db_limits.lock_timeout_ms)?;
        c.db_limits.statement_timeout_ms =
            parsed("UNIONFUND_DB_STATEMENT_TIMEOUT_MS", c.db_limits.statement_timeout_ms)?;
        c.db_limits.read_timeout_ms = parsed("UNIONFUND_DB_READ_TIMEOUT_MS", c.db_limits.read_timeout_ms)?;
        // Zero would mean "no limit" to PostgreSQL: the limits are stated, never switched off.
        if c.db_limits.lock_timeout_ms == 0 || c.db_limits.statement_timeout_ms == 0 || c.db_limits.read_timeout_ms == 0
        {
            return Err(ConfigError("the database lock, statement and read timeouts must be positive".into()));
        }
        c.log_sequence_ms = parsed("UNIONFUND_LOG_SEQUENCE_MS", c.log_sequence_ms)?;
        c.witnesses = parse_witnesses(&var("UNIONFUND_WITNESSES").unwrap_or_default())?;
        c.witness_quorum = parsed("UNIONFUND_WITNESS_QUORUM", c.witnesses.len())?;
        if c.witness_quorum > c.witnesses.len() || (c.witness_quorum == 0 && !c.witnesses.is_empty()) {
            return Err(ConfigError(format!(
                "UNIONFUND_WITNESS_QUORUM must be from 1 to the {} witnesses of UNIONFUND_WITNESSES",
                c.witnesses.len()
            )));
        }
        c.witness_timeout_ms = parsed("UNIONFUND_WITNESS_TIMEOUT_MS", c.witness_timeout_ms)?;
        c.auth_cache_ms = parsed("UNIONFUND_AUTH_CACHE_MS", c.auth_cache_ms)?;
        let origin = var("UNIONFUND_LOG_ORIGIN").unwrap_or_else(|| DEFAULT_LOG_ORIGIN.to_owned());
        if origin.is_empty() || origin.chars().any(|ch| ch == '+' || ch.is_whitespace()) {
            return Err(ConfigError("UNIONFUND_LOG_ORIGIN must be non-empty, without spaces or '+'".into()));
        }
        let seed = match var("UNIONFUND_LOG_KEY") {
            Some(b64) => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
                    .and_then(|v| <[u8; 32]>::try_from(v).ok())
                    .ok_or_else(|| ConfigError("UNIONFUND_LOG_KEY must be the base64 of 32 bytes".into()))?
            }
            None => DEVELOPMENT_LOG_SEED,
        };
        c.log_key_development = seed == DEVELOPMENT_LOG_SEED;
        c.log_signer = std::sync::Arc::new(crate::domain::note::LogSigner::new(origin, seed));
        if let Some(v) = var("UNIONFUND_LEADER_THRESHOLD") {
            c.leader_threshold = crate::domain::money::Money::parse(v.trim())
                .map_err(|_| {
                    ConfigError(format!("UNIONFUND_LEADER_THRESHOLD is not an amount like \"3000.00\": {v:?}"))
                })?
                .as_decimal();
        }
        if c.pool_size == 0 || c.workers == 0 || c.token_ttl_secs <= 0 {
            return Err(ConfigError("pool size, workers and token lifetime must be positive".into()));
        }
        c.export_send_timeout_secs = parsed("UNIONFUND_EXPORT_SEND_TIMEOUT_SECS", c.export_send_timeout_secs)?;
        c.export_batch_events = parsed("UNIONFUND_EXPORT_BATCH_EVENTS", c.export_batch_events)?;
        c.exports_max = parsed("UNIONFUND_EXPORTS_MAX", c.exports_max)?;
        c.heavy_per_caller_max = parsed("UNIONFUND_HEAVY_PER_CALLER_MAX", c.heavy_per_caller_max)?;
        // A heavy query holds a connection from start to end: fewer run at once than the pool
        // has, so that ordinary requests always find one (an export holds one only while it reads
        // a batch, so the export cap is not tied to the pool).
        let pool = usize::try_from(c.pool_size).unwrap_or(usize::MAX);
        c.heavy_queries_max = parsed("UNIONFUND_HEAVY_QUERIES_MAX", (pool / 2).clamp(1, 4))?;
        if var("UNIONFUND_HEAVY_QUERIES_MAX").is_some() && c.heavy_queries_max >= pool {
            return Err(ConfigError(format!(
                "UNIONFUND_HEAVY_QUERIES_MAX ({}) must be below UNIONFUND_DB_POOL_SIZE ({})",
                c.heavy_queries_max, c.pool_size
            )));
        }
        c.heavy_retry_after_secs = parsed("UNIONFUND_HEAVY_RETRY_AFTER_SECS", c.heavy_retry_after_secs)?;
        if c.export_send_timeout_secs == 0
            || c.export_batch_events <= 0
            || c.exports_max == 0
            || c.heavy_per_caller_max == 0
            || c.heavy_queries_max == 0
            || c.heavy_retry_after_secs == 0
        {
            return Err(ConfigError(
                "the export timeout and batch, the heavy-read limits and their Retry-After must be positive".into(),
            ));
        }
        Ok(c)
    }

    /// The database URL, for the pool only.
    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }

    /// How the pool reaches the database and what it allows itself there.
    pub fn database(&self) -> crate::db::pool::Settings<'_> {
        crate::db::pool::Settings {
            owner_url: self.database_url(),
            runtime_url: self.runtime_database_url.as_ref().map(|u| u.expose_secret()),
            role: &self.runtime_role,
            size: self.pool_size,
            limits: self.db_limits,
        }
    }

    /// The keys that would let anyone forge a token, open personal data, test a guessed ID number
    /// or sign a checkpoint, because they are missing (so the public development ones are used)
    /// or are the public ones themselves: one sentence each, naming its variable.
    pub fn development_keys(&self) -> Vec<String> {
        let mut found = Vec::new();
        if self.jwt.generated {
            found.push("UNIONFUND_JWT_SECRET is not set (nor UNIONFUND_JWT_SECRET_FILE)".to_owned());
        } else if self.jwt.is_public() {
            found.push("UNIONFUND_JWT_SECRET is the example value printed in docker/compose.yaml".to_owned());
        }
        if self.pii_development {
            found.push("UNIONFUND_PII_KEYS is not set".to_owned());
            found.push("UNIONFUND_PII_HASH_KEYS is not set".to_owned());
        } else {
            if self.pii.seals_with_development_key() {
                found.push("UNIONFUND_PII_KEYS: its first key, which seals, is the public development key".to_owned());
            }
            if self.pii.hashes_with_development_key() {
                found.push(
                    "UNIONFUND_PII_HASH_KEYS: its first key, which hashes, is the public development key".to_owned(),
                );
            }
        }
        if self.log_key_development {
            found.push("UNIONFUND_LOG_KEY is not set, or is the public development key".to_owned());
        }
        found
    }

    /// Refuses keys that are missing or public (see [`Config::development_keys`]): outside the
    /// demo, the service does not start with them.
    pub fn refuse_development_keys(&self) -> Result<(), ConfigError> {
        refuse(self.development_keys())
    }

    /// Refuses personal-data keys that are missing or public: `pii reseal` must not move
    /// personal data onto keys everyone has.
    pub fn refuse_development_pii_keys(&self) -> Result<(), ConfigError> {
        refuse(self.development_keys().into_iter().filter(|k| k.starts_with("UNIONFUND_PII_")).collect())
    }
}

fn refuse(found: Vec<String>) -> Result<(), ConfigError> {
    if found.is_empty() {
        return Ok(());
    }
    Err(ConfigError(format!(
        "refusing to start with public development keys ({}); set real keys (README, \"Configuration\"), \
         or run the demo with `serve --demo`",
        found.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_defaults_are_development_keys_each_named_by_its_variable() {
        let c = Config::defaults(DEFAULT_DATABASE_URL);
        let found = c.development_keys();
        for name in ["UNIONFUND_JWT_SECRET", "UNIONFUND_PII_KEYS", "UNIONFUND_PII_HASH_KEYS", "UNIONFUND_LOG_KEY"] {
            assert!(found.iter().any(|f| f.starts_with(name)), "{name} in {found:?}");
        }
        let refused = c.refuse_development_keys().unwrap_err().to_string();
        assert!(refused.contains("UNIONFUND_LOG_KEY") && refused.contains("--demo"), "{refused}");
        let pii = c.refuse_development_pii_keys().unwrap_err().to_string();
        assert!(pii.contains("UNIONFUND_PII_KEYS") && !pii.contains("UNIONFUND_JWT_SECRET"), "{pii}");
    }

    #[test]
    fn real_keys_pass_and_the_compose_example_secret_does_not() {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut c = Config::defaults(DEFAULT_DATABASE_URL);
        c.jwt = JwtConfig::from_secret("a-real-secret-of-more-than-32-bytes!").unwrap();
        c.pii = std::sync::Arc::new(PiiKeys::parse(&format!("k1:{}", b64(&[1; 32])), &b64(&[2; 32])).unwrap());
        c.pii_development = false;
        c.log_key_development = false;
        assert!(c.development_keys().is_empty(), "{:?}", c.development_keys());
        c.jwt = JwtConfig::from_secret(PUBLIC_JWT_SECRETS[0]).unwrap();
        assert_eq!(c.development_keys().len(), 1);
        assert!(c.development_keys()[0].starts_with("UNIONFUND_JWT_SECRET"));
    }
}
