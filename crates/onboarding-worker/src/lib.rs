//! The worker side of onboard: runs enqueued by upstream systems are executed step by step
//! as apalis jobs on `onboarding-queue`, against Autotask (or `autotask-sim`).

pub mod binding;
pub mod campaign_driver;
pub mod campaigns;
pub mod care;
pub mod drift;
pub mod execute;
pub mod limits;
pub mod metrics;
pub mod rekey;
pub mod retention;
pub mod runs;
pub mod secrets;
pub mod service;
pub mod setup;
pub mod tokens;
pub mod worker;
