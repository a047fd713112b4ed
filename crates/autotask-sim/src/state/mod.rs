//! One Autotask database in memory: its entity tables, the hidden account data the web
//! interface manages (secrets, security levels, tracking identifiers, lines of business), and
//! Autotask's rules on top of the generic entity operations.
//!
//! Everything here is synchronous and does no I/O: operations that must call out (webhook
//! deactivation, ticket events) return [`Outbound`] callouts for the caller to deliver after
//! releasing the database lock. It imports no other layer of the simulator (no HTTP, no
//! console, no delivery).
//!
//! Layout, arrows pointing one way (each part's fields change only through its own methods):
//! - parts: `tables` (rows and ids, generic row operations) · `accounts` (accounts, levels,
//!   vendors, authentication) · `paging` (cursors, remembered queries) · `events` (callouts
//!   as data, sequence, failure counters) · limit bookkeeping in `crate::limits::Usage`;
//! - `db`: [`Db`] = the parts, with read access;
//! - rules adding `Db` methods: `visibility` (who sees and owns what) ← `webhooks` ←
//!   `resources` (and lines of business) · `tickets` · `query` (reads) ← `rest` (write and
//!   delete routing) · `setup` (what a new database holds).
//!
//! This file only declares and re-exports.

mod accounts;
mod db;
mod events;
mod paging;
mod query;
mod resources;
mod rest;
mod setup;
mod tables;
mod tickets;
mod visibility;
mod webhooks;

#[cfg(test)]
mod tests;

pub(crate) use accounts::{Caller, LEVEL_API_SYSTEM, Tracking};
pub use accounts::{IntegrationVendor, SOPHOS_VENDOR_CODE, SOPHOS_VENDOR_NAME, SecurityLevel};
pub(crate) use db::Db;
pub(crate) use events::Outbound;
pub(crate) use paging::Cursor;
pub(crate) use tables::{Write, random_string};
