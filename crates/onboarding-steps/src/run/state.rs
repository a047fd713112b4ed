//! Run and step states with their allowed transitions, who made a change, audit events and
//! step records.

use serde::{Deserialize, Serialize};

use super::*;
use crate::Timestamp;
use crate::catalog::StepName;
use crate::remediation::Remediation;

macro_rules! states {
    ($(#[$m:meta])* $name:ident { $($(#[$d:meta])* $v:ident => $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$d])* $v,)* }
        impl $name {
            /// Every state.
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            /// The wire name.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
        }
        impl std::str::FromStr for $name {
            type Err = String;
            /// Parses the wire name; the error lists the valid ones.
            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let names: Vec<_> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    format!("unknown state {s:?}; expected {}", names.join(", "))
                })
            }
        }
    };
}

states! {
    /// The state of a run.
    RunState {
        /// Enqueued, not started.
        Queued => "queued",
        /// A step is running or scheduled.
        Running => "running",
        /// A step waits for an operator (instructions on the dashboard).
        WaitingForOperator => "waiting_for_operator",
        /// Every step succeeded or was skipped.
        Succeeded => "succeeded",
        /// A step failed permanently (dead letter).
        Failed => "failed",
        /// Cancelled by an operator.
        Cancelled => "cancelled",
    }
}

impl RunState {
    /// Whether the state machine allows `self → to`.
    pub fn allows(self, to: RunState) -> bool {
        use RunState::*;
        matches!(
            (self, to),
            (Queued, Running | Cancelled)
                | (Running, WaitingForOperator | Succeeded | Failed | Cancelled)
                | (WaitingForOperator, Running | Failed | Cancelled)
                // An operator retries a failed run from the dead-letter list.
                | (Failed, Queued)
        )
    }

    /// Whether no transition leaves this state except an operator's retry.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

states! {
    /// The state of a step, without its data.
    StepStatus {
        /// Not started.
        Pending => "pending",
        /// An attempt is running.
        Running => "running",
        /// A retry is scheduled.
        RetryScheduled => "retry_scheduled",
        /// Waits for an operator.
        WaitingForOperator => "waiting_for_operator",
        /// Done.
        Succeeded => "succeeded",
        /// Failed permanently.
        Failed => "failed",
        /// Not needed in this run.
        Skipped => "skipped",
    }
}

impl StepStatus {
    /// Whether the state machine allows `self → to`.
    pub fn allows(self, to: StepStatus) -> bool {
        use StepStatus::*;
        matches!(
            (self, to),
            (Pending, Running | Skipped)
                | (Running, Succeeded | RetryScheduled | WaitingForOperator | Failed)
                | (RetryScheduled, Running | Failed)
                // The next check, or an operator's acknowledgment of an attested step.
                | (WaitingForOperator, Running | Succeeded | Failed)
                // An operator retries a failed step.
                | (Failed, Pending)
        )
    }
}

/// The state of a step with its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StepState {
    /// Not started.
    Pending,
    /// Attempt `attempt` is running.
    Running {
        /// 1-based attempt.
        attempt: u32,
    },
    /// The next attempt is scheduled.
    RetryScheduled {
        /// The next attempt's number.
        attempt: u32,
        /// When.
        next_at: Timestamp,
        /// The last error (no secrets).
        last_error: String,
    },
    /// Waits for an operator.
    WaitingForOperator {
        /// What to do, EN and DE, and what was found.
        instructions: Remediation,
        /// The next check (`None`: waits for an acknowledgment).
        next_check: Option<Timestamp>,
    },
    /// Done.
    Succeeded {
        /// Whether the step changed anything in Autotask.
        changed: bool,
    },
    /// Failed permanently.
    Failed {
        /// Why, in words an MSP technician understands.
        reason: String,
        /// What to click in Autotask, if anything helps.
        remediation: Option<Remediation>,
    },
    /// Not needed in this run.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl StepState {
    /// The state without its data.
    pub fn status(&self) -> StepStatus {
        match self {
            Self::Pending => StepStatus::Pending,
            Self::Running { .. } => StepStatus::Running,
            Self::RetryScheduled { .. } => StepStatus::RetryScheduled,
            Self::WaitingForOperator { .. } => StepStatus::WaitingForOperator,
            Self::Succeeded { .. } => StepStatus::Succeeded,
            Self::Failed { .. } => StepStatus::Failed,
            Self::Skipped { .. } => StepStatus::Skipped,
        }
    }
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "actor", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A worker, by its id.
    Worker(String),
    /// An operator, by name or id.
    Operator(String),
    /// The system (enqueue, deadlines).
    System,
}

/// One audit event: every transition of a run or a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When (given by the caller).
    pub at: Timestamp,
    /// Who.
    pub actor: Actor,
    /// The step, for step transitions.
    #[serde(default)]
    pub step: Option<StepName>,
    /// `from -> to`.
    pub transition: String,
    /// Free detail (no secrets).
    #[serde(default)]
    pub detail: String,
}

/// A step of a run and its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step.
    pub step: StepName,
    /// Its condition in the sequence.
    pub condition: Condition,
    /// Its state.
    pub state: StepState,
    /// Attempts started and counted (a budget deferral gives its attempt back).
    #[serde(default)]
    pub attempts: u32,
    /// Transient failures in a row: the transient attempt limit counts these, so operator
    /// re-checks (which may go on for days) never use up a step's retries.
    #[serde(default)]
    pub transient_failures: u32,
}
