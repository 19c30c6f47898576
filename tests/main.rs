//! One integration-test binary (faster to link than one per file): real HTTP, real PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod access;
mod auth;
mod books;
mod budgets;
mod campaigns;
mod cosigned;
mod csv;
mod database;
mod fee_batches;
mod fees;
mod grants;
mod guards;
mod hardship;
mod hostile;
mod layers;
mod limits;
mod log;
mod openapi;
mod orgs;
mod performance;
mod permissions;
mod processes;
mod readme;
mod reads;
mod reports;
mod retries;
mod spine;
mod validation;
mod verification;
mod verifiers;
mod witness;
