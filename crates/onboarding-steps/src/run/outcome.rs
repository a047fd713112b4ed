//! How an attempt ended and what the worker does next: [`Run::begin_attempt`] and
//! [`Run::end_attempt`] turn an [`AttemptOutcome`] into step and run states and the [`Next`]
//! thing to schedule, with the retry schedules of `crate::retry`.

use super::*;
use crate::catalog::StepName;
use crate::observe::CallFailure;
use crate::plan::{Call, Drift, Fact, Refusal};
use crate::retry::{ErrorClass, RetryDecision, StepSchedule};
use crate::steps::StepContext;
use crate::{Error, Timestamp};

/// How one attempt of a step ended, as the worker saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    /// Planned, executed (possibly nothing) and verified; the plan's facts.
    Succeeded {
        /// Whether calls were made.
        changed: bool,
        /// The plan's facts.
        facts: Vec<Fact>,
    },
    /// The step refused to act now.
    Refused(Refusal),
    /// A read or a call failed in a way the step does not interpret (a call failure the call
    /// [tolerates](crate::Call::tolerates) is not a failure).
    Failed(CallFailure),
    /// Verification found drift: after executing a plan (transient: the next attempt
    /// re-plans), or in a verify-only run (the run fails and reports it).
    Drifted(Drift),
}

impl AttemptOutcome {
    /// The outcome when `call` of `step`'s plan failed with `failure`: the step's
    /// [refusal](StepName::call_failed) when it reads the failure as a finding (a webhook
    /// create refused for lack of permission is the W1–W4 operator finding, never a dead
    /// letter), otherwise [`AttemptOutcome::Failed`]. Every executor ends an attempt with a
    /// failed call through this.
    pub fn call_failed(
        step: StepName,
        ctx: &StepContext,
        call: &Call,
        failure: CallFailure,
    ) -> Self {
        match step.call_failed(ctx, call, &failure) {
            Some(refusal) => Self::Refused(refusal),
            None => Self::Failed(failure),
        }
    }
}

/// What the worker does after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Run `step` as attempt `attempt` at `at` (the run's next step now, a retry, a budget
    /// deferral or an operator re-check; schedule it in Redis, never by sleeping).
    RunStep {
        /// The step.
        step: StepName,
        /// Its attempt number.
        attempt: u32,
        /// When.
        at: Timestamp,
    },
    /// Nothing is scheduled: the step waits for an operator's acknowledgment
    /// ([`Run::acknowledge`], then [`Run::next_step`] returns it again).
    AwaitAck {
        /// The step.
        step: StepName,
    },
    /// Every step succeeded or was skipped.
    RunSucceeded,
    /// The run failed (dead-letter list).
    RunFailed {
        /// The failed step.
        step: StepName,
        /// Why, in words an MSP technician understands.
        reason: String,
    },
}

/// How the audit detail of a budget deferral starts.
pub const BUDGET_DEFERRED: &str = "budget deferred: ";

impl Run {
    /// Starts an attempt of `step`: the step becomes running (the run too, if it was queued
    /// or waiting for an operator). Returns the attempt number.
    pub fn begin_attempt(
        &mut self,
        step: StepName,
        at: Timestamp,
        actor: Actor,
    ) -> Result<u32, Error> {
        let attempts = self.step(step).ok_or(Error::UnknownStep { step })?.attempts;
        let attempt = attempts + 1;
        if matches!(self.state, RunState::Queued | RunState::WaitingForOperator) {
            self.set_state(RunState::Running, at, actor.clone(), "")?;
        }
        self.set_step_state(step, StepState::Running { attempt }, at, actor, "")?;
        if let Some(r) = self.steps.iter_mut().find(|s| s.step == step) {
            r.attempts = attempt;
        }
        Ok(attempt)
    }

    /// Ends the running attempt of `step` and decides what comes next with `policy` (`random`
    /// chooses the jitter). Records facts, step and run states, and their audit events.
    pub fn end_attempt(
        &mut self,
        step: StepName,
        outcome: AttemptOutcome,
        policy: &StepSchedule,
        now: Timestamp,
        random: u64,
        actor: Actor,
    ) -> Result<Next, Error> {
        let attempt = self.step(step).ok_or(Error::UnknownStep { step })?.attempts;
        let (class, reason, refusal) = match outcome {
            AttemptOutcome::Succeeded { changed, facts } => {
                self.record_facts(&facts);
                let notes: Vec<String> = facts.iter().filter_map(Fact::note).collect();
                self.set_step_state(
                    step,
                    StepState::Succeeded { changed },
                    now,
                    actor.clone(),
                    &notes.join("; "),
                )?;
                return self.advance(now, actor);
            }
            AttemptOutcome::Refused(r) => (r.class, r.reason.clone(), Some(r)),
            AttemptOutcome::Failed(f) => (f.class(), f.describe(), None),
            AttemptOutcome::Drifted(d) => {
                let verify_only = self.request.kind.verify_only();
                // A step may read a drift right after its calls as "the API path does not
                // work here" (an isActive PATCH answered but not applied).
                match step.drifted_after_calls(&self.context(), &d) {
                    Some(r) if !verify_only => (r.class, r.reason.clone(), Some(r)),
                    _ => {
                        let class = if verify_only {
                            ErrorClass::Permanent
                        } else {
                            ErrorClass::Transient
                        };
                        (class, d.to_string(), None)
                    }
                }
            }
        };
        let waiting = |r: &Option<Refusal>, next_check| {
            let instructions = r
                .as_ref()
                .and_then(|r| r.remediation.as_deref().cloned())
                .unwrap_or_else(|| crate::Remediation::for_step(step, &[]));
            StepState::WaitingForOperator {
                instructions,
                next_check,
            }
        };
        let failures = self
            .steps
            .iter_mut()
            .find(|s| s.step == step)
            .map_or(0, |r| {
                r.transient_failures = if class == ErrorClass::Transient {
                    r.transient_failures + 1
                } else {
                    0
                };
                r.transient_failures
            });
        let counted = if class == ErrorClass::Transient {
            failures
        } else {
            attempt
        };
        match policy.decide(class, counted, now, self.deadline, random) {
            RetryDecision::RetryAt { at, attempt: next } => {
                // The attempt number goes on from the step's attempts, whatever was counted.
                let next = next - counted + attempt;
                match class {
                    ErrorClass::OperatorPending => {
                        self.set_step_state(
                            step,
                            waiting(&refusal, Some(at)),
                            now,
                            actor.clone(),
                            &reason,
                        )?;
                        self.set_state(RunState::WaitingForOperator, now, actor, &reason)?;
                    }
                    _ => {
                        if class == ErrorClass::BudgetDeferred {
                            if let Some(r) = self.steps.iter_mut().find(|s| s.step == step) {
                                r.attempts = r.attempts.saturating_sub(1);
                            }
                        }
                        let state = StepState::RetryScheduled {
                            attempt: next,
                            next_at: at,
                            last_error: reason.clone(),
                        };
                        if class == ErrorClass::BudgetDeferred {
                            let detail = format!("{BUDGET_DEFERRED}{reason}");
                            self.set_step_state(step, state, now, actor, &detail)?;
                            self.fold_budget_recheck(step);
                        } else {
                            self.set_step_state(step, state, now, actor, &reason)?;
                        }
                    }
                }
                Ok(Next::RunStep {
                    step,
                    attempt: next,
                    at,
                })
            }
            RetryDecision::AwaitAck => {
                self.set_step_state(step, waiting(&refusal, None), now, actor.clone(), &reason)?;
                self.set_state(RunState::WaitingForOperator, now, actor, &reason)?;
                Ok(Next::AwaitAck { step })
            }
            decision @ (RetryDecision::DeadLetter | RetryDecision::DeadlinePassed) => {
                let reason = if decision == RetryDecision::DeadlinePassed {
                    format!("the operator deadline passed: {reason}")
                } else {
                    reason
                };
                let state = StepState::Failed {
                    reason: reason.clone(),
                    // Every failed step says what to do in Autotask: the step's own
                    // instructions when it gave none.
                    remediation: Some(match refusal {
                        Some(r) => r
                            .remediation
                            .map(|b| *b)
                            .unwrap_or_else(|| crate::Remediation::for_step(step, &r.findings)),
                        None => crate::Remediation::for_step(step, &[]),
                    }),
                };
                self.set_step_state(step, state, now, actor.clone(), &reason)?;
                self.set_state(RunState::Failed, now, actor, &reason)?;
                Ok(Next::RunFailed { step, reason })
            }
        }
    }

    /// One audit entry per budget deferral period: when this deferral follows a re-check of
    /// a deferral of the same step (`deferred`, `-> running`, `deferred`), the re-check's two
    /// entries go; the period's first entry stays, the step's state has the latest reason.
    fn fold_budget_recheck(&mut self, step: StepName) {
        let n = self.audit.len();
        if n < 3 {
            return;
        }
        let deferred = |e: &AuditEvent| {
            e.step == Some(step)
                && e.transition.ends_with("-> retry_scheduled")
                && e.detail.starts_with(BUDGET_DEFERRED)
        };
        let recheck = &self.audit[n - 2];
        if deferred(&self.audit[n - 3])
            && recheck.step == Some(step)
            && recheck.transition == "retry_scheduled -> running"
            && deferred(&self.audit[n - 1])
        {
            self.audit.truncate(n - 2);
        }
    }

    fn advance(&mut self, now: Timestamp, actor: Actor) -> Result<Next, Error> {
        match self.next_step(now, actor.clone()) {
            Some(step) => Ok(Next::RunStep {
                step,
                attempt: self.step(step).map_or(1, |s| s.attempts + 1),
                at: now,
            }),
            None => {
                self.set_state(RunState::Succeeded, now, actor, "")?;
                Ok(Next::RunSucceeded)
            }
        }
    }
}
