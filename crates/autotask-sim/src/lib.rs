//! A stateful, multi-tenant Autotask PSA REST simulator with Autotask's documented rules,
//! fault injection as data and an operator console, started in-process by tests and the demo.
//!
//! It behaves like Autotask as documented in `shared/docs/autotask-api.md` and the contract
//! files in `shared/autotask-openapi/`, not like our client expects: zone discovery per
//! username, the three authentication headers (401 on any mismatch), `Resources` (no create,
//! no delete; updates need admin rights), the five webhook families with their children and
//! ownership, permission, lifetime-maximum and duplicate rules, lines of business,
//! `ThresholdInformation`, `entityInformation` with picklists, query semantics with POST
//! paging, validation errors as HTTP 500 `{"errors": [...]}`, the per-endpoint thread limit,
//! the hourly threshold with its latency steps, and signed webhook callouts.
//!
//! ```no_run
//! # async fn demo() -> Result<(), autotask_sim::Error> {
//! let sim = autotask_sim::spawn(autotask_sim::SimConfig::default().with_database("acme")).await?;
//! let user = sim.db("acme")?.seed_api_user(&Default::default())?;
//! // zone discovery: GET {sim.zone_discovery_url()}?user={user.user_name}
//! # Ok(()) }
//! ```
//!
//! State lives in memory behind one mutex per database; handlers do no I/O except webhook
//! callouts, which run on their own tasks. See the crate README for the URL layout, the
//! console endpoints and the decisions taken where Autotask's documentation is silent.
//!
//! # Layering
//!
//! Imports point one way, top to bottom (`tests/it/layering.rs` fails on any cycle):
//!
//! - `server` — [`spawn`], [`spawn_replay`] and [`SimHandle`]: binds the listener and wires
//!   the app; imports `api`, `replay`, `console`, `shared`, `listener`.
//! - `api` — the REST surface and its pipeline; [`replay`] — a recorded tenant answering
//!   instead (`shared` and `reqlog` only); `console` — the operator console (its Rust API
//!   [`DbConsole`], the seed helpers, its HTTP routes). They import `shared` and `state`,
//!   never each other.
//! - `shared` — what the layers above share: databases, fault rules, request and callout
//!   logs, the callout dispatcher; it books delivery outcomes in the database.
//! - `callout` — delivery; reports outcomes through a narrow trait (`Deliveries`) that
//!   `shared` implements, so it imports only `state` (for the callout as data) and `config`.
//! - `state` — one database and every Autotask rule; synchronous, imports only the leaves.
//! - leaves: `metadata`, `limits`, `faults`, `reqlog`, `listener`, `config`, `behaviour`,
//!   `error`. `cli` sits beside `server` (it only calls `spawn`).

mod api;
pub mod behaviour;
mod callout;
pub mod cli;
mod config;
mod console;
mod error;
mod faults;
mod limits;
mod listener;
mod metadata;
pub mod replay;
mod reqlog;
mod server;
mod shared;
mod state;

pub use behaviour::{Behaviour, Profile};
pub use callout::{CalloutRecord, signature};
pub use config::{ApiUserConfig, CalloutConfig, DatabaseConfig, SimConfig, VendorConfig};
pub use console::{
    ApiUserCreated, ApiUserView, DbConsole, LineOfBusiness, NewApiUser, SeedApiUser, SeededApiUser,
};
pub use error::Error;
pub use faults::{Fault, FaultRule};
pub use server::{RequestRecord, SimHandle, spawn, spawn_replay};
pub use state::{IntegrationVendor, SOPHOS_VENDOR_CODE, SOPHOS_VENDOR_NAME, SecurityLevel};
