//! Integration tests of onboarding-queue against a private `redis-server` per test.

mod apalis_backend;
mod basics;
mod cap;
mod crash;
mod fairness;
mod introspection;
mod leases;
mod limits;
mod outcomes;
mod sentinel;
mod support;
