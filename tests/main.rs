//! One integration-test binary (faster to link than one per file): real HTTP, real PostgreSQL.

mod helpers;

mod auth;
mod openapi;
mod orgs;
mod spine;
