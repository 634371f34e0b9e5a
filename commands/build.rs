//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds
//! the migrations directory at compile time (what `sqlx migrate
//! build-script` generates).

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
