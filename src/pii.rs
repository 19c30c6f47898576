//! Personal data at rest: resident ID numbers, phone numbers and bank account numbers are stored
//! encrypted, and found again through a keyed hash.
//!
//! **Encryption.** Each value is sealed with AES-256-GCM under a 32-byte data key, with a fresh
//! random 96-bit nonce per seal, and stored as text:
//!
//! ```text
//! <kid>:<standard base64 of nonce (12 bytes) || ciphertext || tag (16 bytes)>
//! ```
//!
//! The additional authenticated data is the field's `purpose` (`"id_number"`, `"phone"`,
//! `"bank_account"`, …), so a ciphertext copied from one column into another fails to open instead
//! of being read as the wrong thing. A changed byte anywhere, or a ciphertext moved to the wrong
//! key id, fails authentication the same way.
//!
//! Random nonces are safe for up to 2³² seals under one key (NIST SP 800-38D, §8.3); a fund
//! service seals far fewer, and rotation starts a new count.
//!
//! **Rotation.** `UNIONFUND_PII_KEYS` lists `kid:base64key` pairs, comma-separated; the first is
//! current and seals, every one opens. To rotate: put a new key first and keep the old ones;
//! re-encrypt every value for which [`PiiKeys::is_stale`] says true (open, then seal); only then
//! drop the old key from the list. A value whose key is gone answers [`PiiError::UnknownKey`],
//! never a wrong plaintext.
//!
//! **Look-ups.** Finding "is this ID number already registered?" cannot use the ciphertext, which
//! differs on every seal. [`PiiKeys::lookup_hash`] is HMAC-SHA256 (RFC 2104) under a separate
//! hash key, of the purpose and the value: equal inputs give equal hashes, and without the key
//! nobody can test a guessed ID number (there are only about 10¹¹ plausible ones) against a
//! stolen table. Hash keys are listed too (`UNIONFUND_PII_HASH_KEYS`, comma-separated, first
//! current): the current one hashes what is stored; [`PiiKeys::lookup_hashes`] gives a value's
//! hash under every listed key, so that a row still hashed under an older key is found while the
//! hashes move. To change the hash key: put the new one first and keep the old one; `unionfund
//! pii reseal` recomputes every stored hash from the decrypted values (and a look-up that meets
//! a row under an older key moves that row at once); then drop the old key.
//!
//! **Secrets.** Keys live in [`SecretBox`]es, zeroized on drop, and never print: `Debug` shows the
//! key ids only. The AES key schedule exists only for the length of one call.
//!
//! This module sits outside `domain` because it draws randomness (the nonce, from the thread-local
//! CSPRNG, seeded by the operating system); everything else in it is a pure function.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The purposes under which personal data is sealed and hashed: every table that holds the same
/// kind of value must use the same one, or duplicate look-ups miss and values fail to open.
pub mod purpose {
    /// A resident ID number.
    pub const ID_NUMBER: &str = "id_number";
    /// A phone number.
    pub const PHONE: &str = "phone";
    /// A bank account number.
    pub const BANK_ACCOUNT: &str = "bank_account";
}

/// Bytes in an AES-256 data key.
const DATA_KEY_LEN: usize = 32;
/// Bytes in an AES-GCM nonce (96 bits, the size GCM is designed for).
const NONCE_LEN: usize = 12;
/// Bytes in an AES-GCM authentication tag.
const TAG_LEN: usize = 16;
/// The shortest hash key accepted: as long as the HMAC-SHA256 output.
const HASH_KEY_LEN_MIN: usize = 32;
/// SHA-256's block size; RFC 2104 pads the HMAC key to it, or hashes a longer key first.
const HMAC_BLOCK_LEN: usize = 64;
/// The longest key id, so that the prefix stays short in every stored value.
const KID_LEN_MAX: usize = 16;

/// The development key id (see [`PiiKeys::development`]).
const DEV_KID: &str = "dev";
/// The development data key: public, in the source, and so INSECURE. Used only when no keys are
/// configured, so that a demo runs with nothing set.
const DEV_DATA_KEY: &[u8; DATA_KEY_LEN] = b"unionfund-development-pii-key-01";
/// The development hash key: public and INSECURE, like [`DEV_DATA_KEY`].
const DEV_HASH_KEY: &[u8; HASH_KEY_LEN_MIN] = b"unionfund-development-hash-key-0";

/// Why keys could not be read, or a sealed value could not be opened.
///
/// No variant carries key material or plaintext, so any of them may be logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PiiError {
    /// The configured key text is malformed; the message names the entry (by kid or position),
    /// never the key.
    #[error("invalid PII keys: {0}")]
    BadKeys(String),
    /// The sealed value names a key id that is not configured (dropped before re-encryption?).
    #[error("no PII key with id `{0}` is configured")]
    UnknownKey(String),
    /// The sealed value is malformed, was altered, belongs to another purpose or another key, or
    /// (when sealing) the plaintext is beyond AES-GCM's length limit of about 64 GiB.
    #[error("sealed value is corrupt or does not authenticate")]
    Corrupt,
}

/// One data key and the id that sealed values carry to name it.
struct DataKey {
    kid: String,
    key: SecretBox<[u8; DATA_KEY_LEN]>,
}

impl DataKey {
    /// The cipher for this key; built per call so the expanded key schedule does not outlive it.
    fn cipher(&self) -> Aes256Gcm {
        let key: &Key<Aes256Gcm> = self.key.expose_secret().into();
        Aes256Gcm::new(key)
    }
}

/// A set of data keys: the current one encrypts, every one decrypts (rotation: add a new key as
/// current, keep the old ones until every value sealed under them is re-encrypted), plus the key
/// of [`PiiKeys::lookup_hash`].
///
/// `Debug` prints the key ids only.
pub struct PiiKeys {
    /// Seals, and opens what it sealed.
    current: DataKey,
    /// Open only: values still sealed under an earlier key.
    older: Vec<DataKey>,
    /// The HMAC keys as RFC 2104's `K0`: zero-padded to the block size (hashed first if
    /// longer), so that building the MAC cannot fail and gives the same result as the key itself.
    /// The current one hashes what is stored.
    hash_key: SecretBox<[u8; HMAC_BLOCK_LEN]>,
    /// Look-ups only: rows still hashed under an earlier key.
    older_hash_keys: Vec<SecretBox<[u8; HMAC_BLOCK_LEN]>>,
}

impl PiiKeys {
    /// Parses `UNIONFUND_PII_KEYS`-style text and the hash key.
    ///
    /// `keys` is comma-separated `kid:base64key` entries (spaces around an entry are ignored); the
    /// FIRST is current. A kid is 1 to 16 characters of `[A-Za-z0-9_-]`, unique in the list; a key
    /// is standard base64 (with padding) of exactly 32 bytes. `hash_keys` is comma-separated
    /// standard base64 of at least 32 bytes each, the FIRST current. Anything else is
    /// [`PiiError::BadKeys`], whose message never quotes a key.
    pub fn parse(keys: &str, hash_keys: &str) -> Result<PiiKeys, PiiError> {
        let mut parsed = Vec::new();
        for (position, entry) in keys.split(',').enumerate() {
            let entry = entry.trim();
            let number = position.saturating_add(1);
            if entry.is_empty() {
                return Err(PiiError::BadKeys(format!("entry {number} is empty")));
            }
            let Some((kid, encoded)) = entry.split_once(':') else {
                return Err(PiiError::BadKeys(format!("entry {number} is not `kid:base64key`")));
            };
            if !is_valid_kid(kid) {
                let rule = format!("1 to {KID_LEN_MAX} characters of A-Z, a-z, 0-9, '_' or '-'");
                return Err(PiiError::BadKeys(format!("entry {number}: a key id is {rule}")));
            }
            if parsed.iter().any(|k: &DataKey| k.kid == kid) {
                return Err(PiiError::BadKeys(format!("key id `{kid}` appears twice")));
            }
            let bytes = decode_secret(encoded)
                .ok_or_else(|| PiiError::BadKeys(format!("key `{kid}` is not standard base64")))?;
            let Ok(bytes) = <&[u8; DATA_KEY_LEN]>::try_from(bytes.expose_secret().as_slice()) else {
                return Err(PiiError::BadKeys(format!("key `{kid}` is not {DATA_KEY_LEN} bytes")));
            };
            let key = SecretBox::init_with_mut(|k: &mut [u8; DATA_KEY_LEN]| k.copy_from_slice(bytes));
            parsed.push(DataKey { kid: kid.to_owned(), key });
        }
        let mut parsed = parsed.into_iter();
        let Some(current) = parsed.next() else {
            return Err(PiiError::BadKeys("no data key".into()));
        };

        let mut blocks = Vec::new();
        for (position, text) in hash_keys.split(',').enumerate() {
            let number = position.saturating_add(1);
            let bytes = decode_secret(text)
                .ok_or_else(|| PiiError::BadKeys(format!("hash key {number} is not standard base64")))?;
            if bytes.expose_secret().len() < HASH_KEY_LEN_MIN {
                return Err(PiiError::BadKeys(format!("hash key {number} is shorter than {HASH_KEY_LEN_MIN} bytes")));
            }
            blocks.push(hmac_key_block(bytes.expose_secret()));
        }
        let mut blocks = blocks.into_iter();
        let Some(hash_key) = blocks.next() else {
            return Err(PiiError::BadKeys("no hash key".into()));
        };
        Ok(PiiKeys { current, older: parsed.collect(), hash_key, older_hash_keys: blocks.collect() })
    }

    /// The development keys, used when none are configured: kid `dev`, with keys that are fixed
    /// and public in this source file, so INSECURE. Data sealed under them is protected from
    /// nobody; never use them for real members' data.
    pub fn development() -> PiiKeys {
        PiiKeys {
            current: DataKey {
                kid: DEV_KID.to_owned(),
                key: SecretBox::init_with_mut(|k: &mut [u8; DATA_KEY_LEN]| k.copy_from_slice(DEV_DATA_KEY)),
            },
            older: Vec::new(),
            hash_key: hmac_key_block(DEV_HASH_KEY),
            older_hash_keys: Vec::new(),
        }
    }

    /// Encrypts `plaintext` under the current key: returns `"<kid>:<base64(nonce||ciphertext+tag)>"`,
    /// with a fresh random 96-bit nonce each time (so two seals of one value differ). `purpose`
    /// (e.g. `"id_number"`, `"phone"`, `"bank_account"`) is authenticated with it, and
    /// [`PiiKeys::open`] must be given the same one.
    ///
    /// Fails ([`PiiError::Corrupt`]) only for a plaintext beyond AES-GCM's limit of about 64 GiB.
    pub fn seal(&self, purpose: &str, plaintext: &str) -> Result<String, PiiError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .current
            .cipher()
            .encrypt((&nonce).into(), Payload { msg: plaintext.as_bytes(), aad: purpose.as_bytes() })
            .map_err(|_| PiiError::Corrupt)?;
        let mut body = Vec::with_capacity(NONCE_LEN + sealed.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&sealed);
        Ok(format!("{}:{}", self.current.kid, STANDARD.encode(body)))
    }

    /// Decrypts a [`PiiKeys::seal`] output with the key its kid names, checking that it was sealed
    /// for `purpose`.
    ///
    /// [`PiiError::UnknownKey`] if that key is not configured; [`PiiError::Corrupt`] if the value is
    /// malformed or fails to authenticate (altered, another purpose, moved to another kid).
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<String, PiiError> {
        let (kid, encoded) = sealed.split_once(':').ok_or(PiiError::Corrupt)?;
        if !is_valid_kid(kid) {
            return Err(PiiError::Corrupt);
        }
        let key = self.key(kid).ok_or_else(|| PiiError::UnknownKey(kid.to_owned()))?;
        let body = STANDARD.decode(encoded).map_err(|_| PiiError::Corrupt)?;
        let Some((nonce, ciphertext)) = body.split_first_chunk::<NONCE_LEN>() else {
            return Err(PiiError::Corrupt);
        };
        if ciphertext.len() < TAG_LEN {
            return Err(PiiError::Corrupt);
        }
        let plaintext = key
            .cipher()
            .decrypt(nonce.into(), Payload { msg: ciphertext, aad: purpose.as_bytes() })
            .map_err(|_| PiiError::Corrupt)?;
        // Authenticated bytes were a `&str` when sealed; anything else means a foreign writer.
        String::from_utf8(plaintext).map_err(|_| PiiError::Corrupt)
    }

    /// Whether `sealed` was sealed under a key other than the current one, so that a re-encryption
    /// pass should open and seal it again. A value with no kid prefix at all also counts as stale:
    /// opening it then reports it as [`PiiError::Corrupt`] rather than skipping it silently.
    pub fn is_stale(&self, sealed: &str) -> bool {
        sealed.split_once(':').is_none_or(|(kid, _)| kid != self.current.kid)
    }

    /// Keyed hash of `value` for duplicate look-ups: HMAC-SHA256 under the hash key, as 64
    /// lowercase hex digits. Equal `(purpose, value)` give equal hashes; different purposes give
    /// unrelated ones. Without the hash key nobody can test a guessed value against it.
    ///
    /// The MAC input is fixed, since stored hashes depend on it: the purpose's length in bytes as
    /// a big-endian `u64`, the purpose's UTF-8 bytes, then the value's UTF-8 bytes. The length
    /// prefix keeps `("ab", "c")` and `("a", "bc")` apart whatever characters a purpose contains.
    /// Callers normalise the value first (e.g. an ID number's final `x` to `X`).
    /// Under the current hash key: the hash to store.
    pub fn lookup_hash(&self, purpose: &str, value: &str) -> String {
        hash_under(&self.hash_key, purpose, value)
    }

    /// The hashes of `value` under every listed hash key, the current one first: what a stored
    /// row may still carry while hashes move to a new key.
    pub fn lookup_hashes(&self, purpose: &str, value: &str) -> Vec<String> {
        std::iter::once(&self.hash_key).chain(&self.older_hash_keys).map(|k| hash_under(k, purpose, value)).collect()
    }

    /// Whether hash keys older than the current one are listed (hashes are moving).
    pub fn has_older_hash_keys(&self) -> bool {
        !self.older_hash_keys.is_empty()
    }

    /// Whether the key that seals is the public development key.
    pub fn seals_with_development_key(&self) -> bool {
        self.current.key.expose_secret() == DEV_DATA_KEY
    }

    /// Whether the key that hashes is the public development key (or one HMAC cannot tell from
    /// it).
    pub fn hashes_with_development_key(&self) -> bool {
        self.hash_key.expose_secret() == hmac_key_block(DEV_HASH_KEY).expose_secret()
    }

    /// The current key id: the one [`PiiKeys::seal`] writes.
    pub fn current_kid(&self) -> &str {
        &self.current.kid
    }

    /// The data key named `kid`, if configured.
    fn key(&self, kid: &str) -> Option<&DataKey> {
        std::iter::once(&self.current).chain(&self.older).find(|k| k.kid == kid)
    }
}

impl fmt::Debug for PiiKeys {
    /// Key ids only: no key, no hash key, not even their lengths.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let older: Vec<&str> = self.older.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("PiiKeys").field("current", &self.current.kid).field("older", &older).finish_non_exhaustive()
    }
}

/// Masks `value` for display in answers: keeps the first `head` and the last `tail` characters
/// (chars, not bytes) and replaces the rest with `'*'`, one per character. A value not longer than
/// `head + tail` is masked whole, so a short value never shows in full.
///
/// Conventions: resident ID `mask(id, 4, 4)` (`4309**********1234`), phone `mask(p, 3, 4)`, bank
/// account `mask(a, 0, 4)`.
pub fn mask(value: &str, head: usize, tail: usize) -> String {
    let len = value.chars().count();
    if len <= head.saturating_add(tail) {
        return "*".repeat(len);
    }
    // len > head + tail, so `len - tail` does not underflow and at least one char is masked.
    let tail_start = len - tail;
    value.chars().enumerate().map(|(i, c)| if i < head || i >= tail_start { c } else { '*' }).collect()
}

/// HMAC-SHA256 under `key` of the documented input (see [`PiiKeys::lookup_hash`]), in hex.
fn hash_under(key: &SecretBox<[u8; HMAC_BLOCK_LEN]>, purpose: &str, value: &str) -> String {
    let block: &hmac::digest::Key<HmacSha256> = key.expose_secret().into();
    let mut mac = <HmacSha256 as Mac>::new(block);
    mac.update(&(purpose.len() as u64).to_be_bytes());
    mac.update(purpose.as_bytes());
    mac.update(value.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `kid` is 1 to 16 characters of `[A-Za-z0-9_-]`.
fn is_valid_kid(kid: &str) -> bool {
    (1..=KID_LEN_MAX).contains(&kid.len()) && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Decodes standard base64 (surrounding spaces ignored) into a buffer zeroized on drop.
fn decode_secret(text: &str) -> Option<SecretBox<Vec<u8>>> {
    STANDARD.decode(text.trim()).ok().map(|bytes| SecretBox::new(Box::new(bytes)))
}

/// RFC 2104's `K0` for HMAC-SHA256: the key zero-padded to the 64-byte block, or, if longer than
/// the block, its SHA-256 digest zero-padded. HMAC under `K0` equals HMAC under the key itself.
fn hmac_key_block(key: &[u8]) -> SecretBox<[u8; HMAC_BLOCK_LEN]> {
    let mut block = SecretBox::new(Box::new([0u8; HMAC_BLOCK_LEN]));
    let bytes = block.expose_secret_mut();
    if key.len() <= HMAC_BLOCK_LEN {
        bytes[..key.len()].copy_from_slice(key);
    } else {
        let digest = Sha256::digest(key);
        bytes[..digest.len()].copy_from_slice(&digest);
    }
    block
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    fn hash_key() -> String {
        b64(&[7u8; 32])
    }

    /// Keys "<kid>:<32 bytes of `fill`>", comma-separated, first current.
    fn keys(list: &[(&str, u8)]) -> PiiKeys {
        let text: Vec<String> = list.iter().map(|(kid, fill)| format!("{kid}:{}", b64(&[*fill; 32]))).collect();
        PiiKeys::parse(&text.join(","), &hash_key()).unwrap()
    }

    fn bad(keys: &str, hash_key: &str) -> String {
        match PiiKeys::parse(keys, hash_key) {
            Err(PiiError::BadKeys(message)) => message,
            other => panic!("expected BadKeys, got {other:?}"),
        }
    }

    #[test]
    fn sealing_then_opening_gives_the_value_back() {
        let k = keys(&[("k1", 1)]);
        for value in ["430921199001011234", "13800138000", "6222 0200 1234 5678", "", "张三 ✓"] {
            let sealed = k.seal("id_number", value).unwrap();
            assert!(sealed.starts_with("k1:"), "{sealed}");
            assert!(!sealed.contains(value) || value.is_empty());
            assert_eq!(k.open("id_number", &sealed).unwrap(), value);
        }
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let k = keys(&[("k1", 1)]);
        let a = k.seal("phone", "13800138000").unwrap();
        let b = k.seal("phone", "13800138000").unwrap();
        assert_ne!(a, b);
        assert_eq!(k.open("phone", &a).unwrap(), k.open("phone", &b).unwrap());
    }

    #[test]
    fn a_sealed_value_is_kid_colon_nonce_ciphertext_and_tag() {
        let k = keys(&[("k1", 1)]);
        let sealed = k.seal("phone", "13800138000").unwrap();
        let (kid, body) = sealed.split_once(':').unwrap();
        assert_eq!(kid, "k1");
        assert_eq!(STANDARD.decode(body).unwrap().len(), NONCE_LEN + "13800138000".len() + TAG_LEN);
    }

    #[test]
    fn a_tampered_value_is_corrupt() {
        let k = keys(&[("k1", 1)]);
        let sealed = k.seal("id_number", "430921199001011234").unwrap();
        let (kid, body) = sealed.split_once(':').unwrap();
        let body = STANDARD.decode(body).unwrap();
        // Flip one bit in the nonce, the ciphertext and the tag in turn.
        for at in [0, NONCE_LEN + 3, body.len() - 1] {
            let mut altered = body.clone();
            altered[at] ^= 1;
            let altered = format!("{kid}:{}", b64(&altered));
            assert_eq!(k.open("id_number", &altered), Err(PiiError::Corrupt), "byte {at}");
        }
        let truncated = format!("{kid}:{}", b64(&body[..body.len() - 1]));
        assert_eq!(k.open("id_number", &truncated), Err(PiiError::Corrupt));
        let too_short = format!("{kid}:{}", b64(&body[..NONCE_LEN + TAG_LEN - 1]));
        assert_eq!(k.open("id_number", &too_short), Err(PiiError::Corrupt));
    }

    #[test]
    fn a_malformed_value_is_corrupt() {
        let k = keys(&[("k1", 1)]);
        for sealed in ["", "k1", "k1:", "k1:not base64!", ":AAAA", "a b:AAAA", "430921199001011234"] {
            assert_eq!(k.open("phone", sealed), Err(PiiError::Corrupt), "{sealed:?}");
        }
    }

    #[test]
    fn a_value_opened_for_another_purpose_is_corrupt() {
        let k = keys(&[("k1", 1)]);
        let sealed = k.seal("bank_account", "6222020012345678").unwrap();
        assert_eq!(k.open("phone", &sealed), Err(PiiError::Corrupt));
        assert_eq!(k.open("bank_account", &sealed).unwrap(), "6222020012345678");
    }

    #[test]
    fn a_value_moved_to_another_kid_is_corrupt() {
        let k = keys(&[("new", 2), ("old", 1)]);
        let sealed = k.seal("phone", "13800138000").unwrap();
        let moved = sealed.replacen("new:", "old:", 1);
        assert_eq!(k.open("phone", &moved), Err(PiiError::Corrupt));
    }

    #[test]
    fn after_rotation_old_values_open_and_are_stale() {
        let old = keys(&[("old", 1)]);
        let sealed_old = old.seal("id_number", "430921199001011234").unwrap();
        assert!(!old.is_stale(&sealed_old));

        let rotated = keys(&[("new", 2), ("old", 1)]);
        assert_eq!(rotated.current_kid(), "new");
        assert_eq!(rotated.open("id_number", &sealed_old).unwrap(), "430921199001011234");
        assert!(rotated.is_stale(&sealed_old));

        let resealed = rotated.seal("id_number", &rotated.open("id_number", &sealed_old).unwrap()).unwrap();
        assert!(resealed.starts_with("new:"));
        assert!(!rotated.is_stale(&resealed));

        // Once everything is re-encrypted the old key can go.
        let new_only = keys(&[("new", 2)]);
        assert_eq!(new_only.open("id_number", &resealed).unwrap(), "430921199001011234");
    }

    #[test]
    fn a_value_without_a_kid_counts_as_stale() {
        assert!(keys(&[("k1", 1)]).is_stale("no colon here"));
    }

    #[test]
    fn a_dropped_key_is_an_unknown_key() {
        let sealed = keys(&[("old", 1)]).seal("phone", "13800138000").unwrap();
        let new_only = keys(&[("new", 2)]);
        assert_eq!(new_only.open("phone", &sealed), Err(PiiError::UnknownKey("old".into())));
    }

    #[test]
    fn bad_key_text_is_refused_without_quoting_the_key() {
        let good = b64(&[1u8; 32]);
        let short = b64(&[1u8; 31]);
        let long = b64(&[1u8; 33]);
        for (text, about) in [
            (String::new(), "entry 1 is empty"),
            ("   ".to_owned(), "entry 1 is empty"),
            (format!("k1:{good},"), "entry 2 is empty"),
            (format!("k1:{short}"), "not 32 bytes"),
            (format!("k1:{long}"), "not 32 bytes"),
            ("k1:not base64!".to_owned(), "not standard base64"),
            (good.clone(), "not `kid:base64key`"),
            (format!(":{good}"), "key id"),
            (format!("a b:{good}"), "key id"),
            (format!("ключ:{good}"), "key id"),
            (format!("{}:{good}", "k".repeat(17)), "key id"),
            (format!("k1:{good},k1:{good}"), "appears twice"),
        ] {
            let message = bad(&text, &hash_key());
            assert!(message.contains(about), "{text:?}: {message}");
            assert!(!message.contains(&good) && !message.contains(&short), "{message}");
        }
        // The longest kid and every allowed character are fine; spaces around entries are ignored.
        let fine = format!(" {}:{good} , A-z_09:{} ", "k".repeat(16), b64(&[2u8; 32]));
        assert_eq!(PiiKeys::parse(&fine, &hash_key()).unwrap().current_kid(), "k".repeat(16));
    }

    #[test]
    fn a_bad_hash_key_is_refused() {
        let data = format!("k1:{}", b64(&[1u8; 32]));
        assert!(bad(&data, "").contains("shorter than 32"));
        assert!(bad(&data, &b64(&[7u8; 31])).contains("shorter than 32"));
        assert!(bad(&data, "not base64!").contains("not standard base64"));
        assert!(PiiKeys::parse(&data, &b64(&[7u8; 100])).is_ok());
    }

    #[test]
    fn lookup_hash_is_deterministic_hex_and_keyed() {
        let k = keys(&[("k1", 1)]);
        let h = k.lookup_hash("id_number", "430921199001011234");
        assert_eq!(h, k.lookup_hash("id_number", "430921199001011234"));
        assert_eq!(h.len(), 64);
        assert!(h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{h}");
        assert_ne!(h, k.lookup_hash("id_number", "430921199001011235"));
        assert_ne!(h, k.lookup_hash("phone", "430921199001011234"));
        assert_ne!(k.lookup_hash("ab", "c"), k.lookup_hash("a", "bc"));

        // The data keys play no part; the hash key does.
        assert_eq!(h, keys(&[("k2", 9)]).lookup_hash("id_number", "430921199001011234"));
        let other = PiiKeys::parse(&format!("k1:{}", b64(&[1u8; 32])), &b64(&[8u8; 32])).unwrap();
        assert_ne!(h, other.lookup_hash("id_number", "430921199001011234"));
    }

    #[test]
    fn an_older_hash_key_still_finds_what_it_hashed() {
        let data = format!("k1:{}", b64(&[1u8; 32]));
        let old = PiiKeys::parse(&data, &b64(&[7u8; 32])).unwrap();
        let moving = PiiKeys::parse(&data, &format!("{}, {}", b64(&[8u8; 32]), b64(&[7u8; 32]))).unwrap();
        let value = "430921199001011234";
        let under_old = old.lookup_hash("id_number", value);
        assert_ne!(moving.lookup_hash("id_number", value), under_old, "the first hash key is current");
        assert_eq!(moving.lookup_hashes("id_number", value), [moving.lookup_hash("id_number", value), under_old]);
        assert_eq!(old.lookup_hashes("id_number", value), [old.lookup_hash("id_number", value)]);
        assert!(moving.has_older_hash_keys());
        assert!(!old.has_older_hash_keys());
        assert!(bad(&data, &format!("{},", b64(&[8u8; 32]))).contains("hash key 2"));
        assert!(bad(&data, &format!("{},{}", b64(&[8u8; 32]), b64(&[7u8; 31]))).contains("hash key 2 is shorter"));
    }

    #[test]
    fn the_development_keys_are_recognised_however_they_are_given() {
        let dev = PiiKeys::development();
        assert!(dev.seals_with_development_key() && dev.hashes_with_development_key());
        let spelled_out = PiiKeys::parse(&format!("mine:{}", b64(DEV_DATA_KEY)), &b64(DEV_HASH_KEY)).unwrap();
        assert!(spelled_out.seals_with_development_key() && spelled_out.hashes_with_development_key());
        let real = keys(&[("k1", 1)]);
        assert!(!real.seals_with_development_key() && !real.hashes_with_development_key());
        // Listed after a real key, a development key only opens and finds: moving away from it
        // is what the list is for.
        let leaving = PiiKeys::parse(
            &format!("k1:{},dev:{}", b64(&[1u8; 32]), b64(DEV_DATA_KEY)),
            &format!("{},{}", hash_key(), b64(DEV_HASH_KEY)),
        )
        .unwrap();
        assert!(!leaving.seals_with_development_key() && !leaving.hashes_with_development_key());
    }

    /// The K0 block must give exactly HMAC under the configured key, short or longer than a block.
    #[test]
    fn lookup_hash_is_standard_hmac_sha256_of_the_documented_input() {
        for key in [vec![7u8; 32], (0..=99u8).collect::<Vec<u8>>()] {
            let k = PiiKeys::parse(&format!("k1:{}", b64(&[1u8; 32])), &b64(&key)).unwrap();
            let mut reference = <HmacSha256 as Mac>::new_from_slice(&key).unwrap();
            reference.update(&[0, 0, 0, 0, 0, 0, 0, 5]);
            reference.update(b"phone");
            reference.update(b"13800138000");
            assert_eq!(k.lookup_hash("phone", "13800138000"), hex::encode(reference.finalize().into_bytes()));
        }
    }

    #[test]
    fn debug_shows_kids_and_no_key_material() {
        let data_new = b64(&[2u8; 32]);
        let data_old = b64(&[1u8; 32]);
        let hash = b64(&[7u8; 32]);
        let k = PiiKeys::parse(&format!("new:{data_new},old:{data_old}"), &hash).unwrap();
        let debug = format!("{k:?}");
        assert_eq!(debug, r#"PiiKeys { current: "new", older: ["old"], .. }"#);
        for secret in [&data_new, &data_old, &hash] {
            assert!(!debug.contains(secret.as_str()) && !debug.contains(&secret[..8]), "{debug}");
        }
        assert!(!format!("{:?}", PiiKeys::development()).contains(&b64(DEV_DATA_KEY)[..8]));
    }

    #[test]
    fn development_keys_work_and_match_their_documented_text() {
        let dev = PiiKeys::development();
        assert_eq!(dev.current_kid(), "dev");
        let sealed = dev.seal("phone", "13800138000").unwrap();
        assert_eq!(dev.open("phone", &sealed).unwrap(), "13800138000");

        let parsed = PiiKeys::parse(&format!("dev:{}", b64(DEV_DATA_KEY)), &b64(DEV_HASH_KEY)).unwrap();
        assert_eq!(parsed.open("phone", &sealed).unwrap(), "13800138000");
        assert_eq!(parsed.lookup_hash("phone", "13800138000"), dev.lookup_hash("phone", "13800138000"));
    }

    #[test]
    fn mask_keeps_head_and_tail_chars() {
        assert_eq!(mask("430921199001011234", 4, 4), "4309**********1234");
        assert_eq!(mask("13800138000", 3, 4), "138****8000");
        assert_eq!(mask("6222020012345678", 0, 4), "************5678");
        assert_eq!(mask("abcdef", 0, 0), "******");
        assert_eq!(mask("abcdef", 6, 0), "******");
        assert_eq!(mask("abcdefg", 6, 0), "abcdef*");
    }

    #[test]
    fn mask_counts_chars_not_bytes() {
        assert_eq!(mask("张三丰先生", 1, 1), "张***生");
        assert_eq!(mask("新疆维吾尔自治区", 2, 0), "新疆******");
        assert_eq!(mask("ü1234ä", 1, 1), "ü****ä");
    }

    #[test]
    fn a_value_not_longer_than_head_and_tail_is_masked_whole() {
        assert_eq!(mask("", 4, 4), "");
        assert_eq!(mask("1234", 4, 4), "****");
        assert_eq!(mask("12345678", 4, 4), "********");
        assert_eq!(mask("张三", 1, 1), "**");
        assert_eq!(mask("123456789", 4, 4), "1234*6789");
        assert_eq!(mask("abc", usize::MAX, usize::MAX), "***");
    }
}
