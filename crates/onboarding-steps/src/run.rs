//! The run model (PRODUCT.md §3): run kinds as fixed step sequences with conditions, run and
//! step states with their allowed transitions (illegal ones are errors), the facts a run
//! learns, audit events, and dry-run reports.
//!
//! A [`Run`] is the record the worker keeps (the source of truth); every state change goes
//! through [`Run::set_state`] or [`Run::set_step_state`], which check the transition and
//! append an [`AuditEvent`] with the time, the actor and the detail given.

use std::collections::BTreeSet;

use autotask_types::{ResourceId, WebhookFamily, WebhookId};
use serde::{Deserialize, Serialize};

use crate::catalog::StepName;
use crate::observe::{CallFailure, Observed, Role};
use crate::payload::{CredentialRef, TraceContext};
use crate::plan::{Call, Drift, Fact, LeftoverCheck, Refusal};
use crate::remediation::Remediation;
use crate::retry::{ErrorClass, RetryDecision, RetryPolicy};
use crate::settings::{TenantSettings, validate_tenant_id};
use crate::steps::StepContext;
use crate::{Error, Timestamp};

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// A tenant's first API user: verification, then its webhooks.
    Onboard,
    /// A new API user replaces the previous one: verification, new webhooks, cleanup of the
    /// previous user's webhooks, optional deactivation, verification of the changeover.
    ChangeApiUser,
    /// The seed's manual fallback (C4..C6) alone.
    CleanupWebhooks,
    /// Every check, no change (drift detection).
    Verify,
}

/// When a step of a sequence runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Always.
    Always,
    /// Only when the previous user's credentials were rejected because it is inactive.
    PreviousUserInactive,
    /// Only after cleanup is verified, and only if the run reactivated the previous user or
    /// the settings ask to deactivate it.
    Deactivation,
    /// Only when the run names a previous user.
    HasPreviousUser,
}

/// One entry of a run kind's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The step.
    pub step: StepName,
    /// When it runs.
    pub condition: Condition,
}

const fn always(step: StepName) -> Entry {
    Entry {
        step,
        condition: Condition::Always,
    }
}

const fn when(step: StepName, condition: Condition) -> Entry {
    Entry { step, condition }
}

use StepName as S;

const ONBOARD: &[Entry] = &[
    always(S::ResolveZone),
    always(S::CheckApiBudget),
    always(S::CheckWebhookFields),
    always(S::VerifyApiUser),
    always(S::VerifyLinesOfBusiness),
    always(S::ConfirmUnassignedLobVisibility),
    always(S::VerifyWebhookPermission),
    always(S::ConfirmVendorActive),
    always(S::EnsureWebhooks),
    always(S::AwaitWebhooksReady),
];

const CHANGE_API_USER: &[Entry] = &[
    always(S::ResolveZone),
    always(S::CheckApiBudget),
    always(S::CheckWebhookFields),
    always(S::VerifyApiUser),
    always(S::VerifyLinesOfBusiness),
    always(S::ConfirmUnassignedLobVisibility),
    always(S::VerifyWebhookPermission),
    always(S::ConfirmVendorActive),
    always(S::EnsureWebhooks),
    always(S::AwaitWebhooksReady),
    always(S::FindPreviousWebhooks),
    when(S::ReactivatePreviousUser, Condition::PreviousUserInactive),
    always(S::DeletePreviousWebhooks),
    when(S::DeactivatePreviousUser, Condition::Deactivation),
    always(S::VerifyChangeover),
];

const CLEANUP_WEBHOOKS: &[Entry] = &[
    always(S::ResolveZone),
    always(S::CheckApiBudget),
    always(S::FindPreviousWebhooks),
    when(S::ReactivatePreviousUser, Condition::PreviousUserInactive),
    always(S::DeletePreviousWebhooks),
    when(S::DeactivatePreviousUser, Condition::Deactivation),
    always(S::VerifyChangeover),
];

const VERIFY: &[Entry] = &[
    always(S::ResolveZone),
    always(S::CheckApiBudget),
    always(S::CheckWebhookFields),
    always(S::VerifyApiUser),
    always(S::VerifyLinesOfBusiness),
    always(S::VerifyWebhookPermission),
    always(S::EnsureWebhooks),
    always(S::AwaitWebhooksReady),
    when(S::VerifyChangeover, Condition::HasPreviousUser),
];

impl std::str::FromStr for RunKind {
    type Err = String;

    /// Parses the wire name (`onboard`, `change_api_user`, `cleanup_webhooks`, `verify`).
    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Onboard, Self::ChangeApiUser, Self::CleanupWebhooks, Self::Verify]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown run kind {s:?}; expected onboard, change_api_user, cleanup_webhooks or verify"
                )
            })
    }
}

impl RunKind {
    /// The fixed sequence of steps.
    pub fn sequence(self) -> &'static [Entry] {
        match self {
            Self::Onboard => ONBOARD,
            Self::ChangeApiUser => CHANGE_API_USER,
            Self::CleanupWebhooks => CLEANUP_WEBHOOKS,
            Self::Verify => VERIFY,
        }
    }

    /// Whether steps only verify (no plan is executed): true for `verify`.
    pub fn verify_only(self) -> bool {
        matches!(self, Self::Verify)
    }

    /// Whether the run needs the previous user's username and credentials.
    pub fn needs_previous_user(self) -> bool {
        matches!(self, Self::ChangeApiUser | Self::CleanupWebhooks)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Onboard => "onboard",
            Self::ChangeApiUser => "change_api_user",
            Self::CleanupWebhooks => "cleanup_webhooks",
            Self::Verify => "verify",
        }
    }
}

/// What a run learned from its steps (kept in the run record).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFacts {
    /// The zone's REST base URL.
    #[serde(default)]
    pub zone_url: Option<String>,
    /// The new API user's id.
    #[serde(default)]
    pub new_user: Option<ResourceId>,
    /// The previous API user's id.
    #[serde(default)]
    pub previous_user: Option<ResourceId>,
    /// The previous user's credentials were rejected because it is inactive.
    #[serde(default)]
    pub previous_user_inactive: bool,
    /// The previous user's webhooks as first found.
    #[serde(default)]
    pub previous_webhooks: Vec<(WebhookFamily, WebhookId)>,
    /// The run reactivated the previous user.
    #[serde(default)]
    pub reactivated_previous_user: bool,
    /// `delete_previous_webhooks` succeeded (its verification found nothing left).
    #[serde(default)]
    pub cleanup_verified: bool,
    /// The new user's webhooks at the verified changeover.
    #[serde(default)]
    pub changeover_webhooks: Option<Vec<(WebhookFamily, WebhookId)>>,
    /// How the verified changeover established that no webhook of the previous user is left.
    #[serde(default)]
    pub changeover_leftovers: Option<LeftoverCheck>,
    /// Families whose webhook permission `verify_webhook_permission` could not read (it
    /// passed; a refusal will show at creation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook_permission_unknown: Vec<WebhookFamily>,
}

impl RunFacts {
    /// Records a fact from a plan.
    pub fn record(&mut self, fact: &Fact) {
        match fact {
            Fact::ZoneUrl { url } => self.zone_url = Some(url.clone()),
            Fact::NewUser { id } => self.new_user = Some(*id),
            Fact::PreviousUser { id } => self.previous_user = Some(*id),
            Fact::PreviousUserInactive => self.previous_user_inactive = true,
            Fact::PreviousWebhooks { webhooks } => {
                if self.previous_webhooks.is_empty() {
                    self.previous_webhooks = webhooks.clone();
                }
            }
            Fact::ReactivatedPreviousUser => self.reactivated_previous_user = true,
            Fact::ChangeoverVerified {
                webhooks,
                leftovers,
            } => {
                self.changeover_webhooks = Some(webhooks.clone());
                self.changeover_leftovers = leftovers.clone();
            }
            Fact::WebhookPermissionUnknown { families } => {
                self.webhook_permission_unknown = families.clone();
            }
        }
    }

    /// What an operator should know about the run's outcome besides step states, one
    /// English line each (shown by `onboard status` and the dashboard; the API has the facts
    /// themselves): today, a changeover whose leftovers could not be checked.
    pub fn notes(&self) -> Vec<String> {
        match &self.changeover_leftovers {
            Some(check @ LeftoverCheck::NotChecked { .. }) => {
                vec![format!("verify_changeover: {}", check.describe())]
            }
            _ => Vec::new(),
        }
    }

    /// Whether an entry's condition holds.
    pub fn holds(&self, condition: Condition, ctx: &StepContext) -> bool {
        match condition {
            Condition::Always => true,
            Condition::PreviousUserInactive => self.previous_user_inactive,
            Condition::Deactivation => {
                self.cleanup_verified
                    && (self.reactivated_previous_user || ctx.settings.deactivate_previous_user)
            }
            Condition::HasPreviousUser => ctx.previous_user_name.is_some(),
        }
    }
}

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

/// Credential references of a run (never secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCredentials {
    /// The (new) API user.
    pub new: CredentialRef,
    /// The previous API user.
    #[serde(default)]
    pub previous: Option<CredentialRef>,
    /// Admin credentials (PATCH `Resources.isActive`).
    #[serde(default)]
    pub admin: Option<CredentialRef>,
}

impl RunCredentials {
    /// The reference for a role.
    pub fn get(&self, role: Role) -> Option<&CredentialRef> {
        match role {
            Role::New => Some(&self.new),
            Role::Previous => self.previous.as_ref(),
            Role::Admin => self.admin.as_ref(),
        }
    }
}

/// What an upstream system asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    /// What to do.
    pub kind: RunKind,
    /// Tenant id.
    pub tenant_id: String,
    /// Tenant name (for people).
    pub tenant_name: String,
    /// Settings.
    pub settings: TenantSettings,
    /// The (new) API user's username.
    pub new_user_name: String,
    /// The previous API user's username.
    #[serde(default)]
    pub previous_user_name: Option<String>,
    /// Credential references.
    pub credentials: RunCredentials,
    /// Report planned calls without making them.
    #[serde(default)]
    pub dry_run: bool,
}

impl RunRequest {
    /// Checks the request; the error names the field.
    pub fn validate(&self) -> Result<(), Error> {
        validate_tenant_id(&self.tenant_id)?;
        self.settings.validate()?;
        let bad = |field: &str, reason: &str| {
            Err(Error::InvalidSetting {
                field: field.into(),
                reason: reason.into(),
            })
        };
        if self.new_user_name.trim().is_empty() {
            return bad("new_user_name", "must not be empty");
        }
        if self.kind.needs_previous_user() {
            match &self.previous_user_name {
                None => {
                    return bad(
                        "previous_user_name",
                        "this run kind needs the previous user",
                    );
                }
                Some(p) if p.eq_ignore_ascii_case(&self.new_user_name) => {
                    return bad("previous_user_name", "must differ from new_user_name");
                }
                Some(_) => {}
            }
            if self.credentials.previous.is_none() {
                return bad(
                    "credentials.previous",
                    "this run kind needs the previous user's credential reference",
                );
            }
        }
        Ok(())
    }
}

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
        policy: &RetryPolicy,
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
                        self.set_step_state(step, state, now, actor, &reason)?;
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

/// One line of a dry-run report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DryRunOutcome {
    /// The calls the step would make (empty: converged).
    Planned {
        /// Each call, described.
        calls: Vec<String>,
    },
    /// The step would not act now.
    Refused {
        /// How the run would continue.
        class: ErrorClass,
        /// Why.
        reason: String,
    },
    /// Verification result (verify runs).
    Verified {
        /// Differences found (empty: no drift).
        drift: Vec<String>,
    },
    /// The step's condition does not hold.
    Skipped,
}

/// A dry run: the worker drives it like a real run (reads only), and it reports what each
/// step would do. Later steps see the state as it is now, not as earlier plans would leave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DryRun {
    kind: RunKind,
    ctx: StepContext,
    facts: RunFacts,
    /// The report so far.
    pub lines: Vec<(StepName, DryRunOutcome)>,
}

impl DryRun {
    /// A dry run of `kind` in `ctx`.
    pub fn new(kind: RunKind, ctx: StepContext) -> Self {
        Self {
            kind,
            ctx,
            facts: RunFacts::default(),
            lines: Vec::new(),
        }
    }

    /// The context to read with.
    pub fn context(&self) -> &StepContext {
        &self.ctx
    }

    /// The next step to observe (steps whose condition does not hold are reported skipped).
    pub fn next_step(&mut self) -> Option<StepName> {
        loop {
            let entry = self.kind.sequence().get(self.lines.len())?;
            if self.facts.holds(entry.condition, &self.ctx) {
                return Some(entry.step);
            }
            self.lines.push((entry.step, DryRunOutcome::Skipped));
        }
    }

    /// Reports `step` from what its reads observed.
    pub fn report(&mut self, step: StepName, observed: &Observed) {
        let outcome = if self.kind.verify_only() {
            DryRunOutcome::Verified {
                drift: step
                    .verify(&self.ctx, observed)
                    .err()
                    .map(|d| d.differences)
                    .unwrap_or_default(),
            }
        } else {
            match step.plan(&self.ctx, observed) {
                Ok(plan) => {
                    for f in &plan.facts {
                        self.facts.record(f);
                    }
                    // As if the cleanup succeeded, so the report shows the whole sequence.
                    if step == StepName::DeletePreviousWebhooks {
                        self.facts.cleanup_verified = true;
                    }
                    DryRunOutcome::Planned {
                        calls: plan.calls.iter().map(|c| c.describe()).collect(),
                    }
                }
                Err(r) => DryRunOutcome::Refused {
                    class: r.class,
                    reason: r.reason,
                },
            }
        };
        self.lines.push((step, outcome));
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut s = format!(
            "dry run of {} for tenant {}\n",
            self.kind.as_str(),
            self.ctx.tenant_id
        );
        for line in self.ctx.settings.subscriptions() {
            s.push_str(&format!("{line}\n"));
        }
        for (step, outcome) in &self.lines {
            match outcome {
                DryRunOutcome::Planned { calls } if calls.is_empty() => {
                    s.push_str(&format!("{step}: nothing to do\n"));
                }
                DryRunOutcome::Planned { calls } => {
                    s.push_str(&format!("{step}: would make {} call(s)\n", calls.len()));
                    for c in calls {
                        s.push_str(&format!("  {c}\n"));
                    }
                }
                DryRunOutcome::Refused { class, reason } => {
                    s.push_str(&format!("{step}: would stop ({class:?}): {reason}\n"));
                }
                DryRunOutcome::Verified { drift } if drift.is_empty() => {
                    s.push_str(&format!("{step}: no drift\n"));
                }
                DryRunOutcome::Verified { drift } => {
                    s.push_str(&format!("{step}: drift: {}\n", drift.join("; ")));
                }
                DryRunOutcome::Skipped => s.push_str(&format!("{step}: skipped\n")),
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchecked_changeover_is_a_note_a_checked_one_is_not() {
        let mut facts = RunFacts::default();
        for (check, noted) in [
            (LeftoverCheck::PreviousCredentials, false),
            (LeftoverCheck::AtCleanup, false),
            (
                LeftoverCheck::NotChecked {
                    reason: "no credentials".into(),
                },
                true,
            ),
        ] {
            facts.record(&Fact::ChangeoverVerified {
                webhooks: Vec::new(),
                leftovers: Some(check),
            });
            let notes = facts.notes();
            assert_eq!(notes.len(), usize::from(noted), "{notes:?}");
            if noted {
                assert_eq!(
                    notes[0],
                    "verify_changeover: the previous user's webhooks could NOT be checked: no \
                     credentials"
                );
            }
        }
        // Records written before the check existed still read.
        let old: Fact =
            serde_json::from_str(r#"{"fact":"changeover_verified","webhooks":[]}"#).unwrap();
        assert_eq!(
            old,
            Fact::ChangeoverVerified {
                webhooks: Vec::new(),
                leftovers: None
            }
        );
    }

    fn request(kind: RunKind) -> RunRequest {
        RunRequest {
            kind,
            tenant_id: "acme".into(),
            tenant_name: "Acme GmbH".into(),
            settings: TenantSettings::new("https://hooks.example.com/at"),
            new_user_name: "new@example.com".into(),
            previous_user_name: Some("old@example.com".into()),
            credentials: RunCredentials {
                new: CredentialRef("vault:acme/new".into()),
                previous: Some(CredentialRef("vault:acme/old".into())),
                admin: None,
            },
            dry_run: false,
        }
    }

    fn run(kind: RunKind) -> Run {
        Run::new(
            "run-1",
            "key-1",
            request(kind),
            TraceContext::default(),
            Timestamp(0),
        )
        .unwrap()
    }

    const W: fn() -> Actor = || Actor::Worker("w1".into());

    #[test]
    fn every_run_state_transition_is_checked() {
        use RunState::*;
        let mut allowed = Vec::new();
        for from in RunState::ALL {
            for to in RunState::ALL {
                let mut r = run(RunKind::Onboard);
                r.state = *from;
                let res = r.set_state(*to, Timestamp(5), W(), "");
                assert_eq!(res.is_ok(), from.allows(*to));
                if res.is_ok() {
                    allowed.push(format!("{} -> {}", from.as_str(), to.as_str()));
                    assert_eq!(r.state, *to);
                    assert_eq!(r.audit.last().unwrap().at, Timestamp(5));
                } else {
                    assert_eq!(r.state, *from, "a refused transition changes nothing");
                    assert_eq!(r.audit.len(), 1);
                }
            }
        }
        expect_test::expect![[r#"
            [
                "queued -> running",
                "queued -> cancelled",
                "running -> waiting_for_operator",
                "running -> succeeded",
                "running -> failed",
                "running -> cancelled",
                "waiting_for_operator -> running",
                "waiting_for_operator -> failed",
                "waiting_for_operator -> cancelled",
                "failed -> queued",
            ]
        "#]]
        .assert_debug_eq(&allowed);
        let mut r = run(RunKind::Onboard);
        r.state = Succeeded;
        assert_eq!(
            r.set_state(Running, Timestamp(1), W(), "")
                .unwrap_err()
                .to_string(),
            "illegal run transition from succeeded to running"
        );
        assert!(Succeeded.is_final() && Cancelled.is_final() && !Running.is_final());
    }

    #[test]
    fn every_step_state_transition_is_checked() {
        let mut allowed = Vec::new();
        for from in StepStatus::ALL {
            for to in StepStatus::ALL {
                if from.allows(*to) {
                    allowed.push(format!("{} -> {}", from.as_str(), to.as_str()));
                }
            }
        }
        expect_test::expect![[r#"
            [
                "pending -> running",
                "pending -> skipped",
                "running -> retry_scheduled",
                "running -> waiting_for_operator",
                "running -> succeeded",
                "running -> failed",
                "retry_scheduled -> running",
                "retry_scheduled -> failed",
                "waiting_for_operator -> running",
                "waiting_for_operator -> succeeded",
                "waiting_for_operator -> failed",
                "failed -> pending",
            ]
        "#]]
        .assert_debug_eq(&allowed);

        let mut r = run(RunKind::Onboard);
        let s = StepName::ResolveZone;
        let err = r
            .set_step_state(
                s,
                StepState::Succeeded { changed: false },
                Timestamp(1),
                W(),
                "",
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "illegal transition of step resolve_zone from pending to succeeded"
        );
        r.set_step_state(s, StepState::Running { attempt: 1 }, Timestamp(1), W(), "")
            .unwrap();
        r.set_step_state(
            s,
            StepState::Succeeded { changed: false },
            Timestamp(2),
            W(),
            "ok",
        )
        .unwrap();
        assert!(
            r.set_step_state(s, StepState::Running { attempt: 2 }, Timestamp(3), W(), "")
                .is_err()
        );
        assert_eq!(
            r.set_step_state(
                StepName::VerifyChangeover,
                StepState::Pending,
                Timestamp(3),
                W(),
                ""
            ),
            Err(Error::UnknownStep {
                step: StepName::VerifyChangeover
            })
        );
        let audit: Vec<_> = r
            .audit
            .iter()
            .map(|e| {
                format!(
                    "{} {:?} {:?} {} {}",
                    e.at, e.actor, e.step, e.transition, e.detail
                )
            })
            .collect();
        expect_test::expect![[r#"
            [
                "0ms System None -> queued ",
                "1ms Worker(\"w1\") Some(ResolveZone) pending -> running ",
                "2ms Worker(\"w1\") Some(ResolveZone) running -> succeeded ok",
            ]
        "#]]
        .assert_debug_eq(&audit);
    }

    #[test]
    fn sequences_and_conditions() {
        let names = |k: RunKind| {
            k.sequence()
                .iter()
                .map(|e| match e.condition {
                    Condition::Always => e.step.to_string(),
                    c => format!("{} [{c:?}]", e.step),
                })
                .collect::<Vec<_>>()
        };
        expect_test::expect![[r#"
            [
                "resolve_zone",
                "check_api_budget",
                "find_previous_webhooks",
                "reactivate_previous_user [PreviousUserInactive]",
                "delete_previous_webhooks",
                "deactivate_previous_user [Deactivation]",
                "verify_changeover",
            ]
        "#]]
        .assert_debug_eq(&names(RunKind::CleanupWebhooks));
        assert_eq!(names(RunKind::Onboard).len(), 10);
        assert_eq!(names(RunKind::ChangeApiUser).len(), 15);
        assert!(
            RunKind::Verify
                .sequence()
                .iter()
                .all(|e| e.step.is_read_only() || e.step == StepName::EnsureWebhooks)
        );
        assert!(RunKind::Verify.verify_only());
    }

    fn finish(r: &mut Run, step: StepName) {
        r.set_step_state(
            step,
            StepState::Running { attempt: 1 },
            Timestamp(1),
            W(),
            "",
        )
        .unwrap();
        r.set_step_state(
            step,
            StepState::Succeeded { changed: true },
            Timestamp(2),
            W(),
            "",
        )
        .unwrap();
    }

    #[test]
    fn reactivation_only_when_inactive_and_deactivation_only_after_cleanup() {
        // Previous user active: neither reactivation nor deactivation.
        let mut r = run(RunKind::CleanupWebhooks);
        for s in [S::ResolveZone, S::CheckApiBudget, S::FindPreviousWebhooks] {
            assert_eq!(r.next_step(Timestamp(1), W()), Some(s));
            finish(&mut r, s);
        }
        assert_eq!(
            r.next_step(Timestamp(3), W()),
            Some(S::DeletePreviousWebhooks)
        );
        assert_eq!(
            r.step(S::ReactivatePreviousUser).unwrap().state.status(),
            StepStatus::Skipped
        );
        finish(&mut r, S::DeletePreviousWebhooks);
        assert!(r.facts.cleanup_verified);
        assert_eq!(r.next_step(Timestamp(4), W()), Some(S::VerifyChangeover));
        assert_eq!(
            r.step(S::DeactivatePreviousUser).unwrap().state.status(),
            StepStatus::Skipped
        );
        finish(&mut r, S::VerifyChangeover);
        assert_eq!(r.next_step(Timestamp(5), W()), None);
        assert!(r.is_complete());

        // Previous user inactive: the run reactivates, cleans up, then deactivates again.
        let mut r = run(RunKind::CleanupWebhooks);
        for s in [S::ResolveZone, S::CheckApiBudget, S::FindPreviousWebhooks] {
            assert_eq!(r.next_step(Timestamp(1), W()), Some(s));
            finish(&mut r, s);
        }
        r.record_facts(&[Fact::PreviousUserInactive]);
        assert_eq!(
            r.next_step(Timestamp(1), W()),
            Some(S::ReactivatePreviousUser)
        );
        r.record_facts(&[Fact::ReactivatedPreviousUser]);
        finish(&mut r, S::ReactivatePreviousUser);
        assert_eq!(
            r.next_step(Timestamp(1), W()),
            Some(S::DeletePreviousWebhooks)
        );
        // Not before cleanup is verified:
        let ctx = r.context();
        assert!(!r.facts.holds(Condition::Deactivation, &ctx));
        finish(&mut r, S::DeletePreviousWebhooks);
        assert_eq!(
            r.next_step(Timestamp(1), W()),
            Some(S::DeactivatePreviousUser)
        );

        // Asked for by the settings, without reactivation.
        let mut req = request(RunKind::CleanupWebhooks);
        req.settings.deactivate_previous_user = true;
        let mut r = Run::new("r", "k", req, TraceContext::default(), Timestamp(0)).unwrap();
        for s in [
            S::ResolveZone,
            S::CheckApiBudget,
            S::FindPreviousWebhooks,
            S::DeletePreviousWebhooks,
        ] {
            assert_eq!(r.next_step(Timestamp(1), W()), Some(s));
            finish(&mut r, s);
        }
        assert_eq!(
            r.next_step(Timestamp(1), W()),
            Some(S::DeactivatePreviousUser)
        );
    }

    #[test]
    fn requests_are_validated_naming_the_field() {
        let mut req = request(RunKind::ChangeApiUser);
        req.previous_user_name = None;
        assert!(
            Run::new("r", "k", req, TraceContext::default(), Timestamp(0))
                .unwrap_err()
                .to_string()
                .contains("`previous_user_name`")
        );
        let mut req = request(RunKind::ChangeApiUser);
        req.previous_user_name = Some("NEW@example.com".into());
        assert!(
            req.validate()
                .unwrap_err()
                .to_string()
                .contains("must differ")
        );
        let mut req = request(RunKind::ChangeApiUser);
        req.credentials.previous = None;
        assert!(
            req.validate()
                .unwrap_err()
                .to_string()
                .contains("`credentials.previous`")
        );
        let mut req = request(RunKind::Onboard);
        req.tenant_id = "a b".into();
        assert!(
            req.validate()
                .unwrap_err()
                .to_string()
                .contains("`tenant_id`")
        );
        let r = run(RunKind::Onboard);
        assert_eq!(r.deadline, Timestamp(7 * 86_400_000));
        // The run record never holds a secret: only references.
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("vault:acme/new") && !json.to_lowercase().contains("secret"));
    }

    #[test]
    fn acknowledgment_reaches_the_context() {
        let mut r = run(RunKind::Onboard);
        r.acknowledge(S::ConfirmVendorActive, Timestamp(9), "anna")
            .unwrap();
        assert!(r.context().acknowledged.contains(&S::ConfirmVendorActive));
        assert_eq!(
            r.audit.last().unwrap().actor,
            Actor::Operator("anna".into())
        );
        assert!(
            r.acknowledge(S::VerifyChangeover, Timestamp(9), "anna")
                .is_err()
        );
    }

    #[test]
    fn attempts_end_by_class() {
        let policy = RetryPolicy::default();
        let transient = || AttemptOutcome::Failed(CallFailure::ThreadLimit);
        let mut r = run(RunKind::Onboard);
        let s = S::ResolveZone;
        // Budget deferrals never spend an attempt.
        for _ in 0..20 {
            assert_eq!(r.begin_attempt(s, Timestamp(1), W()).unwrap(), 1);
            let next = r
                .end_attempt(
                    s,
                    AttemptOutcome::Failed(CallFailure::ThresholdExceeded),
                    &policy,
                    Timestamp(1),
                    1 << 63,
                    W(),
                )
                .unwrap();
            assert_eq!(
                next,
                Next::RunStep {
                    step: s,
                    attempt: 1,
                    at: Timestamp(300_001)
                }
            );
        }
        // Transient failures: attempts 1..=8, then dead letter with the reason.
        for k in 1..=8 {
            assert_eq!(r.begin_attempt(s, Timestamp(2), W()).unwrap(), k);
            let next = r
                .end_attempt(s, transient(), &policy, Timestamp(2), 1 << 63, W())
                .unwrap();
            if k < 8 {
                assert!(matches!(next, Next::RunStep { attempt, .. } if attempt == k + 1));
                assert_eq!(
                    r.step(s).unwrap().state.status(),
                    StepStatus::RetryScheduled
                );
            } else {
                assert_eq!(
                    next,
                    Next::RunFailed {
                        step: s,
                        reason: "thread limit exceeded (429)".into()
                    }
                );
            }
        }
        assert_eq!(r.state, RunState::Failed);

        // Success moves on to the next step.
        let mut r = run(RunKind::Onboard);
        r.begin_attempt(s, Timestamp(1), W()).unwrap();
        let next = r
            .end_attempt(
                s,
                AttemptOutcome::Succeeded {
                    changed: false,
                    facts: vec![Fact::ZoneUrl {
                        url: "https://z".into(),
                    }],
                },
                &policy,
                Timestamp(3),
                0,
                W(),
            )
            .unwrap();
        assert_eq!(
            next,
            Next::RunStep {
                step: S::CheckApiBudget,
                attempt: 1,
                at: Timestamp(3)
            }
        );
        assert_eq!(r.facts.zone_url.as_deref(), Some("https://z"));

        // Drift in a verify-only run fails it at once.
        let mut r = run(RunKind::Verify);
        r.begin_attempt(s, Timestamp(1), W()).unwrap();
        let drift = Drift {
            step: s,
            differences: vec!["x".into()],
        };
        assert!(matches!(
            r.end_attempt(
                s,
                AttemptOutcome::Drifted(drift),
                &policy,
                Timestamp(1),
                0,
                W()
            ),
            Ok(Next::RunFailed { .. })
        ));
    }

    #[test]
    fn operator_rechecks_do_not_use_up_transient_retries() {
        let policy = RetryPolicy::default();
        let mut r = run(RunKind::Onboard);
        let s = S::VerifyApiUser;
        let pending = || {
            AttemptOutcome::Refused(Refusal::operator(
                s,
                ErrorClass::OperatorPending,
                vec![crate::Finding::UserNotFound {
                    user_name: "new@example.com".into(),
                }],
            ))
        };
        // Twenty re-checks while the operator has not acted yet ...
        for k in 1..=20 {
            r.begin_attempt(s, Timestamp(k), W()).unwrap();
            r.end_attempt(s, pending(), &policy, Timestamp(k), 0, W())
                .unwrap();
        }
        // ... then a transient failure is retried, as attempt 22, not dead-lettered.
        r.begin_attempt(s, Timestamp(30), W()).unwrap();
        let next = r
            .end_attempt(
                s,
                AttemptOutcome::Failed(CallFailure::ThreadLimit),
                &policy,
                Timestamp(30),
                0,
                W(),
            )
            .unwrap();
        assert!(
            matches!(next, Next::RunStep { attempt: 22, .. }),
            "{next:?}"
        );
        assert_eq!(r.step(s).unwrap().transient_failures, 1);
    }

    #[test]
    fn operator_checks_stop_at_the_deadline() {
        let policy = RetryPolicy::default();
        let mut r = run(RunKind::Onboard);
        let s = S::VerifyApiUser;
        let refusal = Refusal::operator(
            s,
            ErrorClass::OperatorPending,
            vec![crate::Finding::UserNotFound {
                user_name: "new@example.com".into(),
            }],
        );
        let mut now = Timestamp(0);
        let mut checks = 0;
        loop {
            r.begin_attempt(s, now, W()).unwrap();
            assert_eq!(r.state, RunState::Running);
            match r
                .end_attempt(
                    s,
                    AttemptOutcome::Refused(refusal.clone()),
                    &policy,
                    now,
                    0,
                    W(),
                )
                .unwrap()
            {
                Next::RunStep { at, .. } => {
                    assert_eq!(r.state, RunState::WaitingForOperator);
                    assert!(at <= r.deadline && at > now);
                    now = at;
                    checks += 1;
                }
                Next::RunFailed { reason, .. } => {
                    assert!(reason.starts_with("the operator deadline passed: no user"));
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        // Slow: 5 minutes growing to 6 hours over 7 days.
        assert!((30..60).contains(&checks), "{checks} checks");
        let StepState::Failed { remediation, .. } = &r.step(s).unwrap().state else {
            panic!("not failed");
        };
        assert_eq!(
            remediation.as_ref().unwrap().seed_steps[0],
            crate::SeedStep::A1
        );
    }
}
