//! Key rotation for personal data at rest (`pii`): after a new key is put first in
//! `UNIONFUND_PII_KEYS`, `unionfund pii reseal` opens every value sealed under an older key and
//! seals it again under the current one, so that the old key can then be dropped. Values do not
//! change, only their ciphertext: no version moves, and one audit event records the pass.

use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::Pool;
use crate::db::write::{self, Answer, Event, WriteCtx};
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

/// What a pass re-sealed.
#[derive(Debug, Serialize, Deserialize)]
pub struct Resealed {
    /// The key everything is now sealed under.
    pub current_kid: String,
    /// Values re-sealed, per `table.column`.
    pub columns: Vec<(String, usize)>,
}

#[derive(QueryableByName)]
struct Sealed {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    value: String,
}

/// Re-seals, in one transaction, every value not sealed under the current key. Fails — writing
/// nothing — if any value cannot be opened (its key is no longer configured, or it was altered).
pub fn reseal(pool: &Pool, pii: &PiiKeys) -> Result<Resealed, Error> {
    let ctx =
        WriteCtx { caller: None, request_id: format!("reseal-{}", Uuid::now_v7()), now: super::now(), adjusting: None };
    let stored = write::execute(pool, &ctx, None, |tx| {
        let prefix = format!("{}:%", pii.current_kid());
        let mut columns = Vec::new();
        for (table, column, purpose) in SEALED {
            // Names come from the constant above, never from input.
            let stale: Vec<Sealed> = diesel::sql_query(format!(
                "SELECT id, {column} AS value FROM {table} WHERE {column} IS NOT NULL AND {column} NOT LIKE $1 FOR UPDATE"
            ))
            .bind::<Text, _>(&prefix)
            .load(tx.conn())?;
            for s in &stale {
                let plain = pii
                    .open(purpose, &s.value)
                    .map_err(|e| Error::internal(format!("{table}.{column} of {}: {e}", s.id)))?;
                let again = pii.seal(purpose, &plain)?;
                diesel::sql_query(format!("UPDATE {table} SET {column} = $1 WHERE id = $2"))
                    .bind::<Text, _>(again)
                    .bind::<SqlUuid, _>(s.id)
                    .execute(tx.conn())?;
            }
            columns.push((format!("{table}.{column}"), stale.len()));
        }
        let report = Resealed { current_kid: pii.current_kid().to_owned(), columns };
        tx.record(Event {
            after: Some(serde_json::to_value(&report).map_err(Error::internal)?),
            ..Event::new("system".into(), "personal_data.resealed", "personal_data", Uuid::nil())
        });
        Ok(Answer { status: 200, etag: None, body: report })
    })?;
    serde_json::from_slice(&stored.body).map_err(Error::internal)
}
