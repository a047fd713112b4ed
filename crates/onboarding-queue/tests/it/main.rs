//! Integration tests of onboarding-queue against a private `redis-server` per test.

mod basics;
mod leases;
mod support;
