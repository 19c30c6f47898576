//! Key rotation for personal data at rest (`pii`): after a new key is put first in
//! `UNIONFUND_PII_KEYS`, `unionfund pii reseal` opens every value sealed under an older key and
//! seals it again under the current one, so that the old key can then be dropped. Values do not
//! change, only their ciphertext: no version moves, and one audit event records the pass.
//!
//! The same pass moves the ID numbers' look-up hashes to the current hash key (the first of
//! `UNIONFUND_PII_HASH_KEYS`), recomputing each from the decrypted number. Until it has run, a
//! look-up that meets a person's rows under an older hash key moves them at once
//! ([`move_hashes`]), so that the duplicate checks, which compare stored hashes, keep finding
//! every application and beneficiary of that person.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::write::{self, Answer, Event, Tx, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::audit::Stream;
use crate::error::Error;
use crate::pii::{PiiKeys, purpose};

/// Every sealed column: table, column, and the purpose it was sealed for.
const SEALED: [(&str, &str, &str); 5] = [
    ("hardship_applications", "id_number_sealed", purpose::ID_NUMBER),
    ("hardship_applications", "phone_sealed", purpose::PHONE),
    ("hardship_applications", "bank_account_sealed", purpose::BANK_ACCOUNT),
    ("campaign_beneficiaries", "id_number_sealed", purpose::ID_NUMBER),
    ("campaign_beneficiaries", "bank_account_sealed", purpose::BANK_ACCOUNT),
];

/// Every ID-number look-up hash, beside the sealed number it is the hash of.
const HASHED: [(&str, &str, &str); 2] = [
    ("hardship_applications", "id_number_hash", "id_number_sealed"),
    ("campaign_beneficiaries", "id_number_hash", "id_number_sealed"),
];

/// What a pass re-sealed.
#[derive(Debug, Serialize, Deserialize)]
pub struct Resealed {
    /// The key everything is now sealed under.
    pub current_kid: String,
    /// Values re-sealed or hashes moved, per `table.column`.
    pub columns: Vec<(String, usize)>,
}

/// Re-seals, in one transaction, every value not sealed under the current key, and moves every
/// ID-number hash to the current hash key. Fails — writing nothing — if any value cannot be
/// opened (its key is no longer configured, or it was altered).
pub fn reseal(pool: &Pool, pii: &PiiKeys) -> Result<Resealed, Error> {
    let ctx =
        WriteCtx { caller: None, request_id: format!("reseal-{}", Uuid::now_v7()), now: super::now(), adjusting: None };
    let stored = write::execute(pool, &ctx, None, |tx| {
        let prefix = format!("{}:%", pii.current_kid());
        let mut columns = Vec::new();
        for (table, column, purpose) in SEALED {
            let stale = db::personal_data::stale(tx, table, column, &prefix)?;
            for (id, value) in &stale {
                let plain =
                    pii.open(purpose, value).map_err(|e| Error::internal(format!("{table}.{column} of {id}: {e}")))?;
                db::personal_data::set_sealed(tx, table, column, *id, &pii.seal(purpose, &plain)?)?;
            }
            columns.push((format!("{table}.{column}"), stale.len()));
        }
        for (table, column, sealed) in HASHED {
            let moved = rehash(tx, pii, table, column, sealed)?;
            columns.push((format!("{table}.{column}"), moved));
        }
        let report = Resealed { current_kid: pii.current_kid().to_owned(), columns };
        tx.record(Event {
            after: Some(serde_json::to_value(&report).map_err(Error::internal)?),
            ..Event::new(Stream::System, "personal_data.resealed", "personal_data", Uuid::nil())
        });
        Ok(Answer { status: 200, etag: None, body: report })
    })?;
    serde_json::from_slice(&stored.body).map_err(Error::internal)
}

/// Recomputes every hash of `table.column` from its sealed number under the current hash key and
/// stores those that differ, in one statement; returns how many moved. A stored hash carries no
/// key id, so every row is read: the pass is for an operator, run once per key change.
fn rehash(
    tx: &mut Tx<'_>,
    pii: &PiiKeys,
    table: &'static str,
    column: &'static str,
    sealed: &'static str,
) -> Result<usize, Error> {
    let mut ids = Vec::new();
    let mut hashes = Vec::new();
    for (id, sealed_number, stored) in db::personal_data::hashed(tx, table, column, sealed)? {
        let number = pii
            .open(purpose::ID_NUMBER, &sealed_number)
            .map_err(|e| Error::internal(format!("{table}.{sealed} of {id}: {e}")))?;
        let hash = pii.lookup_hash(purpose::ID_NUMBER, &number);
        if hash != stored {
            ids.push(id);
            hashes.push(hash);
        }
    }
    if ids.is_empty() {
        return Ok(0);
    }
    db::personal_data::set_hashes(tx, table, column, &ids, &hashes)
}

/// Moves to the current hash key every stored ID-number hash that one of `numbers` has under an
/// older listed key (hash keys are changing and `pii reseal` has not run yet), in the caller's
/// transaction; returns how many rows moved. Call it where ID numbers come in, before their
/// duplicate look-ups: rows of the same person then carry the same hash again, and the checks,
/// which compare stored hashes, find them. Without older hash keys it does nothing at all.
pub fn move_hashes<'a>(
    tx: &mut Tx<'_>,
    pii: &PiiKeys,
    numbers: impl IntoIterator<Item = &'a str>,
) -> Result<usize, Error> {
    if !pii.has_older_hash_keys() {
        return Ok(0);
    }
    let mut older = Vec::new();
    let mut current = Vec::new();
    for number in numbers {
        let mut hashes = pii.lookup_hashes(purpose::ID_NUMBER, number).into_iter();
        let Some(now) = hashes.next() else { continue };
        for old in hashes {
            older.push(old);
            current.push(now.clone());
        }
    }
    let mut moved = 0;
    for (table, column, _) in HASHED {
        moved += db::personal_data::replace_hashes(tx, table, column, &older, &current)?;
    }
    Ok(moved)
}
