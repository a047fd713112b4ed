//! The crate's one error type: invalid settings or payloads, illegal state transitions and
//! read answers of the wrong shape. Refusals and drift of steps are not errors but outcomes
//! (see [`crate::plan`]).

use crate::catalog::StepName;

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A setting is invalid; `field` is its path, e.g. `webhook_families[0].subscribed_fields`.
    #[error("invalid setting `{field}`: {reason}")]
    InvalidSetting {
        /// Path of the setting.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A run state change that the state machine does not allow.
    #[error("illegal run transition from {from} to {to}")]
    IllegalRunTransition {
        /// Current state.
        from: &'static str,
        /// Requested state.
        to: &'static str,
    },
    /// A step state change that the state machine does not allow.
    #[error("illegal transition of step {step} from {from} to {to}")]
    IllegalStepTransition {
        /// The step.
        step: StepName,
        /// Current state.
        from: &'static str,
        /// Requested state.
        to: &'static str,
    },
    /// The step is not part of this run.
    #[error("step {step} is not part of this run")]
    UnknownStep {
        /// The step.
        step: StepName,
    },
    /// A read was answered with a result of another shape.
    #[error("read {read} answered with a {got} result")]
    ReadMismatch {
        /// The read, as its key.
        read: String,
        /// The kind of result given.
        got: &'static str,
    },
    /// A job payload that cannot be used.
    #[error("invalid job payload: {reason}")]
    InvalidPayload {
        /// What is wrong.
        reason: String,
    },
}
