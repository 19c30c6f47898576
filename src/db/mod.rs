//! The only module that imports diesel. Rows and queries per feature; `write` is the one path
//! through which every change, its ledger entry and its audit event are written.

pub mod books;
pub mod budgets;
pub mod campaigns;
pub mod case_actors;
pub mod chain;
pub mod cosignatures;
pub mod fees;
pub mod funds;
pub mod grants;
pub mod hardship;
pub mod idempotency;
pub mod items;
pub mod log;
pub mod orgs;
pub mod personal_data;
pub mod pool;
pub mod reports;
pub mod schema;
pub mod users;
pub mod verification;
pub mod write;

pub use pool::{Conn, Pool};

use diesel::PgConnection;

/// A connection lent to a use case: by `Pool::read` for reads, or by the open write (`Tx::db`)
/// for the reads a write makes. It offers nothing of its own outside `db`: every query is a
/// function of this module, and every function that inserts, updates or locks a business row
/// takes the write path's `write::Tx` instead — so that only the write path, in its one
/// transaction with the ledger entry and the audit event, can change a row (the sequencer,
/// checkpoints and idempotency keys, which are the write path's own machinery, take a `Db`).
pub struct Db<'a>(&'a mut PgConnection);

impl<'a> Db<'a> {
    /// Lends `conn` for reads (the pool's `read` does this for the service; tests and tools
    /// that hold their own connection do it themselves). A `Db` cannot change a business row.
    pub fn new(conn: &'a mut PgConnection) -> Self {
        Self(conn)
    }

    /// Runs `f` in one read-only REPEATABLE READ transaction: every query of `f` sees the same
    /// snapshot (the checks and the annual report compare figures read by many queries).
    pub fn snapshot<T>(
        &mut self,
        f: impl FnOnce(&mut Db<'_>) -> Result<T, crate::error::Error>,
    ) -> Result<T, crate::error::Error> {
        self.0.build_transaction().read_only().repeatable_read().run(|pg| f(&mut Db::new(pg)))
    }

    /// The connection itself, for this module's queries.
    pub(in crate::db) fn pg(&mut self) -> &mut PgConnection {
        self.0
    }
}
