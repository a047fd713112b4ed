//! The run record: one tenant, one kind, its steps, facts and audit trail; every state change
//! goes through [`Run::set_state`] or [`Run::set_step_state`], which check the transition and
//! append an audit event.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::*;
use crate::catalog::StepName;
use crate::payload::TraceContext;
use crate::plan::Fact;
use crate::steps::StepContext;
use crate::{Error, Timestamp};

/// A run: one tenant, one kind, its steps and what it learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Run id.
    pub id: String,
    /// Idempotency key of the request.
    pub idempotency_key: String,
    /// The request.
    pub request: RunRequest,
    /// Trace context of the run's root span.
    pub trace: TraceContext,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// When operator steps stop being re-checked.
    pub deadline: Timestamp,
    /// State.
    pub state: RunState,
    /// The steps of the kind's sequence, in order.
    pub steps: Vec<StepRecord>,
    /// Facts learned.
    pub facts: RunFacts,
    /// Attested steps an operator acknowledged.
    pub acknowledged: BTreeSet<StepName>,
    /// Every transition.
    pub audit: Vec<AuditEvent>,
    /// Bulk work (a campaign or `onboard bulk`): every step of the run is queued at bulk
    /// priority, behind fresh work. Absent in records written before campaigns: false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bulk: bool,
}

impl Run {
    /// A queued run for a validated request.
    pub fn new(
        id: &str,
        idempotency_key: &str,
        request: RunRequest,
        trace: TraceContext,
        now: Timestamp,
    ) -> Result<Self, Error> {
        request.validate()?;
        let deadline = now.plus(request.settings.operator_deadline());
        let steps = request
            .kind
            .sequence()
            .iter()
            .map(|e| StepRecord {
                step: e.step,
                condition: e.condition,
                state: StepState::Pending,
                attempts: 0,
                transient_failures: 0,
            })
            .collect();
        Ok(Self {
            id: id.into(),
            idempotency_key: idempotency_key.into(),
            request,
            trace,
            created_at: now,
            updated_at: now,
            deadline,
            state: RunState::Queued,
            steps,
            facts: RunFacts::default(),
            acknowledged: BTreeSet::new(),
            audit: vec![AuditEvent {
                at: now,
                actor: Actor::System,
                step: None,
                transition: "-> queued".into(),
                detail: String::new(),
            }],
            bulk: false,
        })
    }

    /// What the steps of this run know.
    pub fn context(&self) -> StepContext {
        StepContext {
            tenant_id: self.request.tenant_id.clone(),
            settings: self.request.settings.clone(),
            new_user_name: self.request.new_user_name.clone(),
            previous_user_name: self.request.previous_user_name.clone(),
            has_admin_credentials: self.request.credentials.admin.is_some(),
            has_previous_credentials: self.request.credentials.previous.is_some(),
            cleanup_verified: self.facts.cleanup_verified,
            acknowledged: self.acknowledged.clone(),
        }
    }

    /// Changes the run's state, or refuses an illegal transition.
    pub fn set_state(
        &mut self,
        to: RunState,
        at: Timestamp,
        actor: Actor,
        detail: &str,
    ) -> Result<(), Error> {
        if !self.state.allows(to) {
            return Err(Error::IllegalRunTransition {
                from: self.state.as_str(),
                to: to.as_str(),
            });
        }
        self.audit.push(AuditEvent {
            at,
            actor,
            step: None,
            transition: format!("{} -> {}", self.state.as_str(), to.as_str()),
            detail: detail.into(),
        });
        self.state = to;
        self.updated_at = at;
        Ok(())
    }

    /// The record of a step.
    pub fn step(&self, step: StepName) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.step == step)
    }

    /// Changes a step's state, or refuses an illegal transition. A succeeded
    /// `delete_previous_webhooks` marks the cleanup verified.
    pub fn set_step_state(
        &mut self,
        step: StepName,
        to: StepState,
        at: Timestamp,
        actor: Actor,
        detail: &str,
    ) -> Result<(), Error> {
        let record = self
            .steps
            .iter_mut()
            .find(|s| s.step == step)
            .ok_or(Error::UnknownStep { step })?;
        let (from, next) = (record.state.status(), to.status());
        if !from.allows(next) {
            return Err(Error::IllegalStepTransition {
                step,
                from: from.as_str(),
                to: next.as_str(),
            });
        }
        if step == StepName::DeletePreviousWebhooks && next == StepStatus::Succeeded {
            self.facts.cleanup_verified = true;
        }
        record.state = to;
        self.audit.push(AuditEvent {
            at,
            actor,
            step: Some(step),
            transition: format!("{} -> {}", from.as_str(), next.as_str()),
            detail: detail.into(),
        });
        self.updated_at = at;
        Ok(())
    }

    /// Records the facts of a plan.
    pub fn record_facts(&mut self, facts: &[Fact]) {
        for f in facts {
            self.facts.record(f);
        }
    }

    /// An operator acknowledges an attested step (audit event included).
    pub fn acknowledge(
        &mut self,
        step: StepName,
        at: Timestamp,
        operator: &str,
    ) -> Result<(), Error> {
        if self.step(step).is_none() {
            return Err(Error::UnknownStep { step });
        }
        self.acknowledged.insert(step);
        self.audit.push(AuditEvent {
            at,
            actor: Actor::Operator(operator.into()),
            step: Some(step),
            transition: "acknowledged".into(),
            detail: String::new(),
        });
        self.updated_at = at;
        Ok(())
    }

    /// Records an operator's action that changes no state (e.g. a dead letter requeued).
    pub fn record_operator_event(
        &mut self,
        at: Timestamp,
        operator: &str,
        step: Option<StepName>,
        transition: &str,
        detail: &str,
    ) {
        self.audit.push(AuditEvent {
            at,
            actor: Actor::Operator(operator.into()),
            step,
            transition: transition.into(),
            detail: detail.into(),
        });
        self.updated_at = at;
    }

    /// The next step to run: the first pending one whose condition holds; pending steps
    /// before it whose condition does not hold are marked skipped (with an audit event).
    /// `None` when no step is pending (then the run is complete if none failed).
    pub fn next_step(&mut self, at: Timestamp, actor: Actor) -> Option<StepName> {
        let ctx = self.context();
        loop {
            let i = self.steps.iter().position(|s| {
                s.state.status() != StepStatus::Succeeded && s.state.status() != StepStatus::Skipped
            })?;
            let record = &self.steps[i];
            if record.state.status() != StepStatus::Pending {
                return Some(record.step);
            }
            if self.facts.holds(record.condition, &ctx) {
                return Some(record.step);
            }
            let (step, condition) = (record.step, record.condition);
            // Pending -> Skipped is always allowed.
            let _ = self.set_step_state(
                step,
                StepState::Skipped {
                    reason: format!("condition {condition:?} does not hold"),
                },
                at,
                actor.clone(),
                "",
            );
        }
    }

    /// Whether every step succeeded or was skipped.
    pub fn is_complete(&self) -> bool {
        self.steps.iter().all(|s| {
            matches!(
                s.state.status(),
                StepStatus::Succeeded | StepStatus::Skipped
            )
        })
    }
}
