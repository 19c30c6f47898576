//! Signed checkpoints of the Merkle log in the C2SP formats: a tlog-checkpoint body (origin,
//! tree size, base64 root hash) signed as a C2SP signed note with Ed25519, and the verifier key
//! string (`name+keyid+base64(0x01 ‖ key)`) an auditor keeps to check them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// The algorithm byte of an Ed25519 key in signed notes.
const ED25519: u8 = 0x01;

/// The algorithm byte of an Ed25519 cosigner key (C2SP tlog-cosignature v1): its signatures
/// are timestamped and cover `cosignature/v1\ntime <t>\n` before the note's body.
const COSIGNATURE_V1: u8 = 0x04;

/// What a checkpoint says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name.
    pub origin: String,
    /// How many leaves.
    pub size: u64,
    /// The root of those leaves.
    pub root: Hash,
}

impl Checkpoint {
    /// The note's body: the three lines the signature covers.
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root))
    }
}

/// The 4-byte key id: SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)[..4].
fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    typed_key_id(name, ED25519, key)
}

/// The key id of a key of the given algorithm byte.
fn typed_key_id(name: &str, alg: u8, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([alg]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The log's signing key and its name (the origin).
pub struct LogSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSigner").field("name", &self.name).field("key", &"<secret>").finish()
    }
}

impl LogSigner {
    /// A signer from a 32-byte Ed25519 seed.
    pub fn new(name: impl Into<String>, seed: [u8; 32]) -> Self {
        Self { name: name.into(), key: SigningKey::from_bytes(&seed) }
    }

    /// The origin and key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key string an auditor keeps: `name+keyid(hex)+base64(0x01 ‖ public key)`.
    pub fn verifier_key(&self) -> String {
        vkey_text(&self.name, ED25519, &self.key.verifying_key())
    }

    /// The public key, hex.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// The signed note of a checkpoint of this log.
    pub fn sign(&self, size: u64, root: Hash) -> String {
        let body = Checkpoint { origin: self.name.clone(), size, root }.body();
        let public = self.key.verifying_key();
        let mut sig = key_id(&self.name, &public).to_vec();
        sig.extend_from_slice(&self.key.sign(body.as_bytes()).to_bytes());
        format!("{body}\n\u{2014} {} {}\n", self.name, B64.encode(sig))
    }
}

/// Why a note or a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The verifier key is not `name+hex8+base64`.
    #[error("malformed verifier key")]
    BadKey,
    /// The note is not a checkpoint followed by signature lines.
    #[error("malformed checkpoint note")]
    Malformed,
    /// No signature by this key verifies.
    #[error("no valid signature by {0}")]
    BadSignature(String),
}

/// A named Ed25519 public key of one signed-note algorithm, as a verifier key string gives it.
#[derive(Debug, Clone)]
struct NamedKey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl NamedKey {
    fn parse(s: &str, alg: u8) -> Result<Self, NoteError> {
        let (name, id, key) = parse_vkey(s, alg)?;
        Ok(Self { name, id, key })
    }
}

/// A verifier key string: `name+keyid(hex)+base64(alg ‖ public key)`.
fn vkey_text(name: &str, alg: u8, key: &VerifyingKey) -> String {
    let mut raw = vec![alg];
    raw.extend_from_slice(key.as_bytes());
    format!("{name}+{}+{}", hex::encode(typed_key_id(name, alg, key)), B64.encode(raw))
}

/// A log's verifier key, parsed.
#[derive(Debug, Clone)]
pub struct VerifierKey(NamedKey);

impl VerifierKey {
    /// Parses `name+keyid+base64(0x01 ‖ key)`, checking that the id is the key's.
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        NamedKey::parse(s, ED25519).map(Self)
    }

    /// The key's name (the log's origin).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.0.key.to_bytes()
    }

    /// Opens a signed checkpoint note: its body must parse and one of its signature lines must
    /// be this key's and verify over the body.
    pub fn open(&self, note: &str) -> Result<Checkpoint, NoteError> {
        match self.check(note)? {
            (true, cp) => Ok(cp),
            (false, _) => Err(NoteError::BadSignature(self.0.name.clone())),
        }
    }

    /// Reads a checkpoint note and says whether this key signed it, so that a verifier can
    /// still report the size of a note whose signature fails; `Err` only for a malformed note.
    pub fn check(&self, note: &str) -> Result<(bool, Checkpoint), NoteError> {
        let (cp, body, sigs) = read(note)?;
        let signed = signature_lines(&sigs).any(|(name, sig)| name == self.0.name && self.verifies(&body, &sig));
        // A checkpoint of another log is not this log's, whoever signed it.
        Ok((signed && cp.origin == self.0.name, cp))
    }

    /// Whether a signature line of the note has this key's name and id but does not verify:
    /// such a note is malformed (C2SP signed-note), and a witness refuses it (tlog-witness: 403).
    pub fn has_failing_line(&self, note: &str) -> bool {
        let Ok((_, body, sigs)) = read(note) else { return false };
        signature_lines(&sigs).any(|(name, sig)| {
            name == self.0.name && sig.get(..4) == Some(&self.0.id[..]) && !self.verifies(&body, &sig)
        })
    }

    /// Whether decoded signature bytes are this key's id and a valid signature over `body`.
    fn verifies(&self, body: &str, sig: &[u8]) -> bool {
        if sig.len() != 68 || sig[..4] != self.0.id {
            return false;
        }
        let Ok(bytes) = <[u8; 64]>::try_from(&sig[4..]) else { return false };
        self.0.key.verify(body.as_bytes(), &Signature::from_bytes(&bytes)).is_ok()
    }
}

/// Parses a verifier key `name+keyid+base64(alg ‖ key)` of the algorithm `alg`, checking that
/// the id is the key's.
fn parse_vkey(s: &str, alg: u8) -> Result<(String, [u8; 4], VerifyingKey), NoteError> {
    // A key name holds no '+' (C2SP signed-note); the base64 part may.
    let mut parts = s.trim().splitn(3, '+');
    let (Some(name), Some(id), Some(raw)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::BadKey);
    };
    let raw = B64.decode(raw).map_err(|_| NoteError::BadKey)?;
    let (Some(&found), Ok(key)) = (raw.first(), <[u8; 32]>::try_from(&raw[1.min(raw.len())..])) else {
        return Err(NoteError::BadKey);
    };
    let key = VerifyingKey::from_bytes(&key).map_err(|_| NoteError::BadKey)?;
    let id: [u8; 4] = hex::decode(id).ok().and_then(|v| v.try_into().ok()).ok_or(NoteError::BadKey)?;
    if found != alg || name.is_empty() || id != typed_key_id(name, alg, &key) {
        return Err(NoteError::BadKey);
    }
    Ok((name.to_owned(), id, key))
}

/// A note's signature lines `— <name> <base64>` as (name, decoded bytes); lines that are not
/// one are skipped.
fn signature_lines(sigs: &str) -> impl Iterator<Item = (&str, Vec<u8>)> {
    sigs.lines().filter_map(|line| {
        let rest = line.strip_prefix("\u{2014} ")?;
        let (name, sig) = rest.rsplit_once(' ')?;
        Some((name, B64.decode(sig).ok()?))
    })
}

/// A witness's signing key (C2SP tlog-cosignature v1, Ed25519): it cosigns a checkpoint it
/// has checked against the last one it cosigned.
pub struct Cosigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cosigner").field("name", &self.name).field("key", &"<secret>").finish()
    }
}

/// The message a cosignature v1 signs: two lines, then the note's body.
fn cosigned_message(timestamp: u64, body: &str) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

impl Cosigner {
    /// A cosigner from a 32-byte Ed25519 seed.
    pub fn new(name: impl Into<String>, seed: [u8; 32]) -> Self {
        Self { name: name.into(), key: SigningKey::from_bytes(&seed) }
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its verifier key: `name+keyid+base64(0x04 ‖ public key)`.
    pub fn verifier_key(&self) -> String {
        vkey_text(&self.name, COSIGNATURE_V1, &self.key.verifying_key())
    }

    /// The cosignature line (ending in a newline) over a note's body, at `timestamp` (POSIX
    /// seconds, below 2^63).
    pub fn cosign(&self, body: &str, timestamp: u64) -> String {
        let public = self.key.verifying_key();
        let mut sig = typed_key_id(&self.name, COSIGNATURE_V1, &public).to_vec();
        sig.extend_from_slice(&timestamp.to_be_bytes());
        sig.extend_from_slice(&self.key.sign(cosigned_message(timestamp, body).as_bytes()).to_bytes());
        format!("\u{2014} {} {}\n", self.name, B64.encode(sig))
    }
}

/// A witness's verifier key, parsed.
#[derive(Debug, Clone)]
pub struct WitnessKey(NamedKey);

impl WitnessKey {
    /// Parses `name+keyid+base64(0x04 ‖ key)`.
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        NamedKey::parse(s, COSIGNATURE_V1).map(Self)
    }

    /// The witness's key name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The verifier key again, as text.
    pub fn verifier_key(&self) -> String {
        vkey_text(&self.0.name, COSIGNATURE_V1, &self.0.key)
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.0.key.to_bytes()
    }

    /// The timestamp of this witness's valid cosignature among a note's signature lines,
    /// over `body`; `None` when it has none (lines for other keys, or that fail, are ignored).
    pub fn cosigned(&self, body: &str, sigs: &str) -> Option<u64> {
        signature_lines(sigs).find_map(|(name, sig)| {
            if name != self.0.name || sig.len() != 76 || sig[..4] != self.0.id {
                return None;
            }
            let timestamp = u64::from_be_bytes(<[u8; 8]>::try_from(&sig[4..12]).ok()?);
            let bytes = <[u8; 64]>::try_from(&sig[12..]).ok()?;
            let message = cosigned_message(timestamp, body);
            (timestamp < 1 << 63 && self.0.key.verify(message.as_bytes(), &Signature::from_bytes(&bytes)).is_ok())
                .then_some(timestamp)
        })
    }

    /// The valid cosignature lines of this witness in a response (or a note's signature
    /// block) over `body`, each with its newline.
    pub fn lines_over(&self, body: &str, response: &str) -> Vec<String> {
        response.lines().filter(|line| self.cosigned(body, line).is_some()).map(|line| format!("{line}\n")).collect()
    }
}

/// A note read: what its checkpoint says, its body (the signed text, with its final
/// newline) and its signature block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The signed text.
    pub body: String,
    /// The signature lines.
    pub signatures: String,
}

/// Reads a note (as [`VerifierKey::check`] reads it) without checking any signature.
pub fn read_note(note: &str) -> Result<OpenedNote, NoteError> {
    let (checkpoint, body, signatures) = read(note)?;
    Ok(OpenedNote { checkpoint, body, signatures })
}

/// Splits a note into what its body says, the body (the signed text) and its signature lines.
/// A note saved with CRLF line ends or extra newlines at its end (as `jq -r .note > FILE`
/// writes it) is read as the note it is; the body ends at the last blank line (as Go's
/// sumdb/note reads a note).
fn read(note: &str) -> Result<(Checkpoint, String, String), NoteError> {
    let note = format!("{}\n", note.replace("\r\n", "\n").trim_end_matches('\n'));
    let (body, sigs) = note.rsplit_once("\n\n").ok_or(NoteError::Malformed)?;
    let body = format!("{body}\n");
    let mut lines = body.lines();
    let (Some(origin), Some(size_text), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
        return Err(NoteError::Malformed);
    };
    // The size in its one decimal form: "042" is not 42.
    let size: u64 = size_text.parse().map_err(|_| NoteError::Malformed)?;
    if size.to_string() != size_text {
        return Err(NoteError::Malformed);
    }
    let root: Hash = B64.decode(root).ok().and_then(|v| v.try_into().ok()).ok_or(NoteError::Malformed)?;
    let cp = Checkpoint { origin: origin.to_owned(), size, root };
    Ok((cp, body, sigs.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn signer() -> LogSigner {
        LogSigner::new("example.org/unionfund/audit", [7; 32])
    }

    #[test]
    fn a_note_opens_with_its_key_and_not_with_another_or_once_changed() {
        let s = signer();
        let note = s.sign(42, [9; 32]);
        assert!(note.starts_with("example.org/unionfund/audit\n42\nCQkJ"));
        assert!(note.contains("\n\n\u{2014} example.org/unionfund/audit "));
        let key = VerifierKey::parse(&s.verifier_key()).unwrap();
        assert_eq!(key.open(&note).unwrap(), Checkpoint { origin: s.name().into(), size: 42, root: [9; 32] });
        // As `jq -r .note > FILE` saves it, or an editor with CRLF line ends.
        assert!(key.open(&format!("{note}\n")).is_ok());
        assert!(key.open(&note.replace('\n', "\r\n")).is_ok());
        // Another key with the same name.
        let other = VerifierKey::parse(&LogSigner::new(s.name(), [8; 32]).verifier_key()).unwrap();
        assert_eq!(other.open(&note), Err(NoteError::BadSignature(s.name().into())));
        // Any change to the body.
        for (from, to) in [("\n42\n", "\n43\n"), ("CQkJ", "CQkK"), ("example.org", "example.com")] {
            assert!(key.open(&note.replacen(from, to, 1)).is_err(), "{from} → {to}");
        }
        assert_eq!(key.open(&note.replacen("\n42\n", "\n042\n", 1)).unwrap_err(), NoteError::Malformed);
        // A key whose id does not match it.
        let vk = s.verifier_key();
        let parts: Vec<&str> = vk.split('+').collect();
        assert_eq!(VerifierKey::parse(&format!("{}+00000000+{}", parts[0], parts[2])).unwrap_err(), NoteError::BadKey);
        assert_eq!(VerifierKey::parse("nonsense").unwrap_err(), NoteError::BadKey);
    }

    /// The README prints the development key's verifier key; it must stay true.
    #[test]
    fn the_development_verifier_key_is_the_one_the_readme_prints() {
        let s = LogSigner::new(crate::config::DEFAULT_LOG_ORIGIN, crate::config::DEVELOPMENT_LOG_SEED);
        assert_eq!(s.verifier_key(), "unionfund.local/audit-log+7529afec+AXLQUadkFk+iv/SkTNXkVqAqDjmheCSV2UwzaVAqGHH5");
    }

    /// RFC 8032 §7.1, test 1: the library signs as the standard says.
    #[test]
    fn ed25519_matches_rfc_8032_test_1() {
        let seed: [u8; 32] = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap()
            .try_into()
            .unwrap();
        let key = SigningKey::from_bytes(&seed);
        assert_eq!(
            hex::encode(key.verifying_key().as_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(key.sign(b"").to_bytes()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }
}
