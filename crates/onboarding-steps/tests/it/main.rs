//! Integration tests of onboarding-steps, one binary: step snapshots (`check`), idempotency
//! properties against the in-memory tenant, and whole runs driven by a worker-like loop.

mod changeover;
mod e2e;
mod hostile;
mod permission;
mod properties;
mod runs;
mod steps;
mod support;
