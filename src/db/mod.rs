//! The only module that imports diesel. Rows and queries per feature; `write` is the one path
//! through which every change, its ledger entry and its audit event are written.

pub mod books;
pub mod budgets;
pub mod campaigns;
pub mod case_actors;
pub mod chain;
pub mod fees;
pub mod funds;
pub mod grants;
pub mod hardship;
pub mod idempotency;
pub mod items;
pub mod log;
pub mod orgs;
pub mod pool;
pub mod reports;
pub mod schema;
pub mod users;
pub mod write;

pub use pool::{Conn, Pool};
