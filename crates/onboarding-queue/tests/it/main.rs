//! Integration tests of onboarding-queue against a private `redis-server` per test.

mod basics;
mod fairness;
mod introspection;
mod leases;
mod limits;
mod outcomes;
mod support;
