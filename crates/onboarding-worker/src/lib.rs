//! The worker side of onboard: runs enqueued by upstream systems are executed step by step
//! as apalis jobs on `onboarding-queue`, against Autotask (or `autotask-sim`).

pub mod secrets;
