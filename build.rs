//! Rebuilds the crate when a migration is added or changed: `diesel_migrations::embed_migrations!`
//! reads `migrations/` at compile time, and cargo does not know that on its own (diesel's docs
//! ask for this line).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
