//! Wire-level tests of autotask-client against a local HTTP mock (wiremock on loopback):
//! headers, zones, paging, every error class, retries, the allowlist and secret hygiene.

mod bounds;
mod errors;
mod paging;
mod security;
mod support;
