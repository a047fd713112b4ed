//! The run model (PRODUCT.md §3): run kinds as fixed step sequences with conditions, run and
//! step states with their allowed transitions (illegal ones are errors), the facts a run
//! learns, audit events, and dry-run reports.
//!
//! A [`Run`] is the record the worker keeps (the source of truth); every state change goes
//! through [`Run::set_state`] or [`Run::set_step_state`], which check the transition and
//! append an [`AuditEvent`] with the time, the actor and the detail given.

mod dry_run;
mod facts;
mod kind;
mod outcome;
mod record;
mod request;
mod state;
#[cfg(test)]
mod tests;

pub use dry_run::{DryRun, DryRunOutcome};
pub use facts::RunFacts;
pub use kind::{Condition, Entry, RunKind};
pub use outcome::{AttemptOutcome, BUDGET_DEFERRED, Next};
pub use record::Run;
pub use request::{MAX_TENANT_NAME, MAX_USER_NAME, RunCredentials, RunRequest};
pub use state::{Actor, AuditEvent, RunState, StepRecord, StepState, StepStatus};
