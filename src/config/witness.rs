//! The settings of `unionfund witness`: a witness that a second party (the city finance bureau,
//! the funds-review committee) runs with its own key and its own state file, to cosign the
//! checkpoints of logs it follows (c2sp.org/tlog-witness).

use secrecy::{ExposeSecret, SecretBox};

use super::{ConfigError, var};
use crate::domain::note::{Cosigner, VerifierKey};

/// The default listen address (`UNIONFUND_WITNESS_BIND`).
pub const DEFAULT_WITNESS_BIND: &str = "127.0.0.1:8090";

/// The public development seed of a witness key (`--dev-key`): anyone can cosign with it, so
/// its cosignatures prove nothing.
pub const DEVELOPMENT_WITNESS_SEED: [u8; 32] = *b"unionfund-development-witness!!!";

/// What the command line (or its environment fallbacks) gave.
#[derive(Debug, Clone, Default)]
pub struct WitnessArgs {
    /// `UNIONFUND_WITNESS_NAME`.
    pub name: Option<String>,
    /// `UNIONFUND_WITNESS_LOGS`: comma-separated log verifier keys.
    pub logs: Option<String>,
    /// `UNIONFUND_WITNESS_STATE`.
    pub state: Option<std::path::PathBuf>,
    /// `UNIONFUND_WITNESS_BIND`.
    pub bind: Option<String>,
    /// `--dev-key`: cosign with the public development key.
    pub dev_key: bool,
}

/// A witness's configuration, checked.
#[derive(Debug)]
pub struct WitnessConfig {
    /// The witness's key name, e.g. `finance-bureau.example/witness`.
    pub name: String,
    /// The 32-byte Ed25519 seed of its key (`UNIONFUND_WITNESS_KEY`, base64).
    seed: SecretBox<[u8; 32]>,
    /// True with `--dev-key`: the public development seed.
    pub development_key: bool,
    /// The keys of the logs it follows (may be empty until it serves).
    pub logs: Vec<VerifierKey>,
    /// Its state file (required to serve).
    pub state: Option<std::path::PathBuf>,
    /// Where it listens.
    pub bind: String,
    /// `UNIONFUND_LOG_FORMAT=json` for JSON lines.
    pub log_json: bool,
}

impl WitnessConfig {
    /// Checks the arguments, with the key read from `UNIONFUND_WITNESS_KEY` (never an argument:
    /// a command line is visible to every user of the machine).
    pub fn from_args(args: WitnessArgs) -> Result<Self, ConfigError> {
        Self::read(args, var("UNIONFUND_WITNESS_KEY"))
    }

    /// Checks the arguments and the key's base64 (`None`: not set).
    pub fn read(args: WitnessArgs, key: Option<String>) -> Result<Self, ConfigError> {
        let name =
            args.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).ok_or_else(|| {
                ConfigError("UNIONFUND_WITNESS_NAME (--name) is required: the witness's key name".into())
            })?;
        if name.chars().any(|ch| ch == '+' || ch.is_whitespace()) {
            return Err(ConfigError("UNIONFUND_WITNESS_NAME must be without spaces or '+'".into()));
        }
        let seed = match (key, args.dev_key) {
            (Some(_), true) => {
                return Err(ConfigError(
                    "--dev-key uses the public development key: unset UNIONFUND_WITNESS_KEY".into(),
                ));
            }
            (None, true) => DEVELOPMENT_WITNESS_SEED,
            (None, false) => {
                return Err(ConfigError(
                    "UNIONFUND_WITNESS_KEY is not set: the base64 of a 32-byte Ed25519 seed \
                     (head -c 32 /dev/urandom | base64); --dev-key runs with the public development key"
                        .into(),
                ));
            }
            (Some(b64), false) => {
                use base64::Engine;
                let seed = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
                    .and_then(|v| <[u8; 32]>::try_from(v).ok())
                    .ok_or_else(|| ConfigError("UNIONFUND_WITNESS_KEY must be the base64 of 32 bytes".into()))?;
                if seed == DEVELOPMENT_WITNESS_SEED {
                    return Err(ConfigError(
                        "UNIONFUND_WITNESS_KEY is the public development key; use --dev-key to say so".into(),
                    ));
                }
                seed
            }
        };
        let logs = match args.logs {
            None => Vec::new(),
            Some(list) => parse_logs(&list)?,
        };
        Ok(Self {
            name,
            seed: SecretBox::new(Box::new(seed)),
            development_key: args.dev_key,
            logs,
            state: args.state,
            bind: args.bind.filter(|b| !b.trim().is_empty()).unwrap_or_else(|| DEFAULT_WITNESS_BIND.to_owned()),
            log_json: var("UNIONFUND_LOG_FORMAT").is_some_and(|v| v.eq_ignore_ascii_case("json")),
        })
    }

    /// The witness's signing key.
    pub fn cosigner(&self) -> Cosigner {
        Cosigner::new(self.name.clone(), *self.seed.expose_secret())
    }

    /// What serving needs beyond the key: a state file and at least one log.
    pub fn to_serve(&self) -> Result<(&[VerifierKey], &std::path::Path), ConfigError> {
        let state = self.state.as_deref().ok_or_else(|| {
            ConfigError("UNIONFUND_WITNESS_STATE (--state) is required: the file the witness keeps its state in".into())
        })?;
        if self.logs.is_empty() {
            return Err(ConfigError(
                "UNIONFUND_WITNESS_LOGS (--logs) is required: the verifier keys of the logs it follows".into(),
            ));
        }
        Ok((&self.logs, state))
    }
}

/// Comma-separated log verifier keys (`name+keyid+base64(0x01 ‖ key)`), empty items skipped.
pub fn parse_logs(list: &str) -> Result<Vec<VerifierKey>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .enumerate()
        .map(|(i, k)| {
            VerifierKey::parse(k).map_err(|_| {
                ConfigError(format!("UNIONFUND_WITNESS_LOGS: item {} is not a log verifier key: {k:?}", i + 1))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::note::LogSigner;

    fn args() -> WitnessArgs {
        WitnessArgs { name: Some("bureau.example/witness".into()), ..WitnessArgs::default() }
    }

    #[test]
    fn a_witness_needs_its_own_key_unless_told_to_use_the_development_one() {
        let err = WitnessConfig::read(args(), None).unwrap_err().to_string();
        assert!(err.contains("UNIONFUND_WITNESS_KEY") && err.contains("--dev-key"), "{err}");
        let dev = WitnessConfig::read(WitnessArgs { dev_key: true, ..args() }, None).unwrap();
        assert!(dev.development_key);
        assert_eq!(
            dev.cosigner().verifier_key(),
            Cosigner::new("bureau.example/witness", DEVELOPMENT_WITNESS_SEED).verifier_key()
        );
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        assert!(WitnessConfig::read(args(), Some(b64(&DEVELOPMENT_WITNESS_SEED))).is_err());
        assert!(WitnessConfig::read(args(), Some(b64(&[1; 31]))).is_err());
        let real = WitnessConfig::read(args(), Some(b64(&[7; 32]))).unwrap();
        assert_eq!(real.cosigner().verifier_key(), Cosigner::new("bureau.example/witness", [7; 32]).verifier_key());
        assert!(!format!("{real:?}").contains(&b64(&[7; 32])), "the seed never prints");
        assert_eq!(real.bind, DEFAULT_WITNESS_BIND);
        assert!(real.to_serve().is_err(), "no state file, no logs");
        assert!(WitnessConfig::read(WitnessArgs { name: Some("a b".into()), ..args() }, Some(b64(&[7; 32]))).is_err());
        assert!(WitnessConfig::read(WitnessArgs { name: None, ..args() }, Some(b64(&[7; 32]))).is_err());
    }

    #[test]
    fn the_logs_are_verifier_keys_and_a_witness_key_is_not_one() {
        let log = LogSigner::new("unionfund.local/audit-log", [1; 32]).verifier_key();
        let other = LogSigner::new("other.example/log", [2; 32]).verifier_key();
        assert_eq!(parse_logs(&format!(" {log} ,, {other}")).unwrap().len(), 2);
        let witness = Cosigner::new("w.example/w", [3; 32]).verifier_key();
        let err = parse_logs(&format!("{log},{witness}")).unwrap_err().to_string();
        assert!(err.contains("item 2"), "{err}");
    }
}
