//! Business rules, pure: no database, no HTTP, no clock, no randomness, no I/O.
//! Everything here is testable with plain `cargo test` and nothing else running.

pub mod approval;
pub mod audit;
pub mod audit_export;
pub mod books;
pub mod budgets;
pub mod campaigns;
pub mod error;
pub mod fees;
pub mod funds;
pub mod grants;
pub mod hardship;
pub mod ids;
pub mod items;
pub mod ledger;
pub mod merkle;
pub mod money;
pub mod note;
pub mod orgs;
pub mod policy;
pub mod witness;

pub use error::{DomainError, FieldError};
