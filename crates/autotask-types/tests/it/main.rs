//! Integration tests of autotask-types: the filter's JSON pinned by snapshots, matching
//! semantics, and every model checked against the vendor's contract files.

mod contract;
mod filter;
mod hostile;
