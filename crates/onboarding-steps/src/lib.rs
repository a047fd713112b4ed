//! The seed procedure (`../shared/seed/autotask-api-user-setup.en.md`) as pure, idempotent
//! step definitions that the worker executes and anyone can read as the procedure.
//!
//! What it holds:
//! - [`catalog`]: the closed [`StepName`] enum, each step's [`StepKind`] and the
//!   [`SeedStep`]s it carries; [`remediation`]: the operator instructions in English and German.
//! - [`steps`]: one module per step. Each step says which [`Read`]s it needs (queries as
//!   data), turns the [`Observed`] answers into a [`Plan`] of [`Call`]s (empty when converged)
//!   or a [`Refusal`], and verifies the result ([`Drift`]).
//! - [`run`]: run kinds as fixed step sequences with conditions, run and step states as state
//!   machines, audit events, dry-run reports.
//! - [`settings`]: tenant settings with defaults and validation naming the field.
//! - [`retry`]: error classes and retry schedules (PRODUCT.md §4), one type.
//! - [`payload`]: the versioned job payload stored in Redis.
//! - [`attempt`]: one step attempt as a sans-IO state machine (reads and calls out, answers
//!   in, an outcome at the end), the one protocol every executor drives.
//! - [`fields`]: how configured webhook field and UDF labels find Autotask's fields.
//!
//! The in-memory tenant its tests run against is the `onboarding-memory` crate.
//!
//! What it must not hold: no async, no HTTP, no Redis, no clock and no randomness it does not
//! receive (`make boundaries` checks the dependency tree). Time comes in as [`Timestamp`],
//! random values as arguments.
//!
//! How the worker executes one step (the whole contract):
//! 1. `loop { let reads = step.reads(&ctx, &observed); if reads.is_empty() { break } ... }`:
//!    perform every [`Read`] and [`Observed::record`] its answer or its [`CallFailure`]
//!    (failures are observations: a 401 on the previous user's credentials is a finding).
//! 2. `step.plan(&ctx, &observed)`: `Err(refusal)` → schedule by `refusal.class`
//!    ([`retry::StepSchedule::decide`]); `Ok(plan)` → execute `plan.calls` in order
//!    (resolving [`WebhookRef::CreatedBy`] to earlier calls' item ids; a failure that
//!    [`Call::tolerates`] counts as done), and record `plan.facts` in the run. A call that
//!    fails otherwise ends the attempt with
//!    [`run::AttemptOutcome::call_failed`]: the step may read the failure as a finding (a
//!    webhook create refused for lack of permission is the W1–W4 operator finding).
//! 3. Read again from scratch and `step.verify(&ctx, &observed)`: `Ok` → step succeeded;
//!    `Err(drift)` → transient retry (the next attempt re-plans from fresh reads).

pub mod attempt;
pub mod catalog;
mod error;
pub mod fields;
pub mod finding;
pub mod observe;
pub mod payload;
pub mod plan;
pub mod remediation;
pub mod retry;
pub mod run;
pub mod settings;
pub mod steps;
mod time;

pub use catalog::{SeedStep, StepKind, StepName};
pub use error::Error;
pub use observe::{CallFailure, Observed, Read, ReadResult, Role};
pub use plan::{Call, Drift, Fact, Finding, LeftoverCheck, Plan, Refusal, WebhookRef};
pub use remediation::Remediation;
pub use settings::TenantSettings;
pub use steps::StepContext;
pub use time::Timestamp;
