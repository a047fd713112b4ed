//! The operator console: the Autotask web-interface actions of the seed procedure, as Rust
//! methods on [`DbConsole`] and as JSON over HTTP under `/_sim/...`. The production client
//! never calls it; tests and the demo use it to play the operator.
//!
//! Seed step → console action: A3–A9 `create_api_user` (key and secret generated and returned
//! once), A6 `set_active`, A7 `assign_security_level`, A10 `set_tracking_vendor`, A11–A12
//! `set_lines_of_business`, W1–W4 `copy_security_level` + `set_webhook_permission` (system
//! levels cannot be edited), V1 `set_vendor_active`, C5 `set_active(true)`. Ticket create and
//! update fire ticket webhooks.
//!
//! Layout, arrows pointing one way: `types` (what goes in and out) ← `database` (the Rust
//! API) ← `seed` (multi-step helpers, adding a database) ← `routes` (HTTP). This file only
//! declares and re-exports. What it does not do: no Autotask rule (every action is a
//! method of the database in `state`).

mod database;
mod routes;
mod seed;
mod types;

pub use database::DbConsole;
pub(crate) use routes::router;
pub(crate) use seed::add_database;
pub use types::{
    ApiUserCreated, ApiUserView, LineOfBusiness, NewApiUser, SeedApiUser, SeededApiUser,
};
