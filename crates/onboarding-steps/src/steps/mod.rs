//! The step catalog's behaviour: one module per step, each with the same shape —
//! `gather` (look up what it needs in [`Observed`], naming missing [`Read`]s), `plan` (the
//! calls to make, empty when converged, or a [`Refusal`]) and `verify` (or a [`Drift`]).
//! [`StepName::reads`], [`StepName::plan`] and [`StepName::verify`] dispatch over the closed
//! enum.
//!
//! Every plan is computed from what Autotask holds now, never from what an earlier attempt
//! did, so running a step twice, or again after a crash between a write and its response,
//! converges to the same state.

use std::collections::BTreeSet;
use std::fmt::Debug;

use autotask_types::{Filter, Query, Resource, ResourceId};
use serde::{Deserialize, Serialize};

use crate::catalog::StepName;
use crate::observe::{CallFailure, Lookup, Observed, Read, Role};
use crate::plan::{Call, Drift, Finding, Plan, Refusal};
use crate::remediation::Remediation;
use crate::retry::ErrorClass;
use crate::settings::TenantSettings;

mod await_webhooks_ready;
mod check_api_budget;
mod check_webhook_fields;
mod confirm_unassigned_lob_visibility;
mod confirm_vendor_active;
mod deactivate_previous_user;
mod delete_previous_webhooks;
mod ensure_webhooks;
mod find_previous_webhooks;
mod reactivate_previous_user;
mod resolve_zone;
mod verify_api_user;
mod verify_changeover;
mod verify_lines_of_business;
mod verify_webhook_permission;

/// What a step knows besides the observed state: the tenant, its settings, the users'
/// usernames (not secrets), whether admin credentials exist and which attested steps an
/// operator acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepContext {
    /// Tenant id (used in webhook URLs).
    pub tenant_id: String,
    /// The tenant's settings.
    pub settings: TenantSettings,
    /// The (new) API user's username.
    pub new_user_name: String,
    /// The previous API user's username (change of user, cleanup).
    #[serde(default)]
    pub previous_user_name: Option<String>,
    /// Whether admin credentials were given (PATCH `Resources.isActive`).
    #[serde(default)]
    pub has_admin_credentials: bool,
    /// Whether the previous user's credentials were given.
    #[serde(default)]
    pub has_previous_credentials: bool,
    /// Whether this run's `delete_previous_webhooks` succeeded: its verification read the
    /// previous user's webhooks with that user's credentials and found none.
    #[serde(default)]
    pub cleanup_verified: bool,
    /// Operator-attested steps an operator has acknowledged.
    #[serde(default)]
    pub acknowledged: BTreeSet<StepName>,
}

impl StepContext {
    /// A context with no previous user, no admin credentials and nothing acknowledged.
    pub fn new(tenant_id: &str, settings: TenantSettings, new_user_name: &str) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            settings,
            new_user_name: new_user_name.into(),
            previous_user_name: None,
            has_admin_credentials: false,
            has_previous_credentials: false,
            cleanup_verified: false,
            acknowledged: BTreeSet::new(),
        }
    }
}

/// The shape every step module implements.
pub(crate) trait Definition {
    const NAME: StepName;
    /// What the step found, once every read it needs is answered.
    type Found: Debug;
    /// Looks up what the step needs; `Ok(None)` while reads are missing (named in `l`).
    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Self::Found>, Refusal>;
    /// The calls to make (empty when converged) and facts, or why not now.
    fn plan(ctx: &StepContext, found: &Self::Found) -> Result<Plan, Refusal>;
    /// Whether the step's goal holds.
    fn verify(ctx: &StepContext, found: &Self::Found) -> Result<(), Drift>;
}

fn reads_of<D: Definition>(ctx: &StepContext, observed: &Observed) -> Vec<Read> {
    let mut l = Lookup::new(observed);
    match D::gather(ctx, &mut l) {
        Ok(None) => l.missing,
        Ok(Some(_)) | Err(_) => Vec::new(),
    }
}

fn missing_reads(step: StepName, missing: &[Read]) -> String {
    format!(
        "{step} was asked to plan before its reads were answered: {}",
        missing
            .iter()
            .map(Read::describe)
            .collect::<Vec<_>>()
            .join("; ")
    )
}

fn plan_of<D: Definition>(ctx: &StepContext, observed: &Observed) -> Result<Plan, Refusal> {
    let mut l = Lookup::new(observed);
    match D::gather(ctx, &mut l)? {
        Some(found) => D::plan(ctx, &found),
        None => Err(Refusal::new(
            D::NAME,
            ErrorClass::Permanent,
            missing_reads(D::NAME, &l.missing),
        )),
    }
}

fn verify_of<D: Definition>(ctx: &StepContext, observed: &Observed) -> Result<(), Drift> {
    let mut l = Lookup::new(observed);
    match D::gather(ctx, &mut l) {
        Ok(Some(found)) => D::verify(ctx, &found),
        Ok(None) => Err(Drift {
            step: D::NAME,
            differences: vec![missing_reads(D::NAME, &l.missing)],
        }),
        Err(refusal) => Err(Drift {
            step: D::NAME,
            differences: vec![refusal.reason],
        }),
    }
}

/// For api steps whose goal is "the plan is empty": the drift lists the calls still needed.
fn verify_by_plan<D: Definition>(ctx: &StepContext, found: &D::Found) -> Result<(), Drift> {
    match D::plan(ctx, found) {
        Ok(plan) if plan.is_empty() => Ok(()),
        Ok(plan) => Err(Drift {
            step: D::NAME,
            differences: plan
                .calls
                .iter()
                .map(|c| format!("needs {}", c.describe()))
                .collect(),
        }),
        Err(refusal) => Err(Drift {
            step: D::NAME,
            differences: vec![refusal.reason],
        }),
    }
}

macro_rules! dispatch {
    ($self:expr, $f:ident, $($args:expr),*) => {
        match $self {
            StepName::ResolveZone => $f::<resolve_zone::Step>($($args),*),
            StepName::CheckApiBudget => $f::<check_api_budget::Step>($($args),*),
            StepName::CheckWebhookFields => $f::<check_webhook_fields::Step>($($args),*),
            StepName::VerifyApiUser => $f::<verify_api_user::Step>($($args),*),
            StepName::VerifyLinesOfBusiness => $f::<verify_lines_of_business::Step>($($args),*),
            StepName::ConfirmUnassignedLobVisibility => {
                $f::<confirm_unassigned_lob_visibility::Step>($($args),*)
            }
            StepName::VerifyWebhookPermission => $f::<verify_webhook_permission::Step>($($args),*),
            StepName::ConfirmVendorActive => $f::<confirm_vendor_active::Step>($($args),*),
            StepName::EnsureWebhooks => $f::<ensure_webhooks::Step>($($args),*),
            StepName::AwaitWebhooksReady => $f::<await_webhooks_ready::Step>($($args),*),
            StepName::FindPreviousWebhooks => $f::<find_previous_webhooks::Step>($($args),*),
            StepName::DeletePreviousWebhooks => $f::<delete_previous_webhooks::Step>($($args),*),
            StepName::ReactivatePreviousUser => $f::<reactivate_previous_user::Step>($($args),*),
            StepName::DeactivatePreviousUser => $f::<deactivate_previous_user::Step>($($args),*),
            StepName::VerifyChangeover => $f::<verify_changeover::Step>($($args),*),
        }
    };
}

impl StepName {
    /// The reads still needed before [`Self::plan`] or [`Self::verify`] can decide. Call it
    /// in a loop, recording every answer, until it returns nothing (reads come in phases:
    /// e.g. a webhook's fields after the webhook was found).
    pub fn reads(self, ctx: &StepContext, observed: &Observed) -> Vec<Read> {
        dispatch!(self, reads_of, ctx, observed)
    }

    /// The calls to make now (empty when converged), or why not now.
    pub fn plan(self, ctx: &StepContext, observed: &Observed) -> Result<Plan, Refusal> {
        dispatch!(self, plan_of, ctx, observed)
    }

    /// Whether the step's goal holds in the observed state.
    pub fn verify(self, ctx: &StepContext, observed: &Observed) -> Result<(), Drift> {
        dispatch!(self, verify_of, ctx, observed)
    }

    /// How the step reads a failed call of its plan: a refusal when the failure is a finding
    /// rather than an error, `None` when the failure ends the attempt as it is. A webhook
    /// write refused for lack of permission (`ensure_webhooks`) is the W1–W4 operator
    /// finding; a refused `PATCH Resources isActive` (`reactivate_previous_user`,
    /// `deactivate_previous_user`) is the web-interface path. See
    /// [`crate::run::AttemptOutcome::call_failed`].
    pub fn call_failed(
        self,
        ctx: &StepContext,
        call: &Call,
        failure: &CallFailure,
    ) -> Option<Refusal> {
        match self {
            StepName::EnsureWebhooks => {
                verify_webhook_permission::create_refused(self, call, failure)
            }
            StepName::ReactivatePreviousUser => {
                reactivate_previous_user::activation_refused(ctx, call, failure)
            }
            StepName::DeactivatePreviousUser => {
                deactivate_previous_user::deactivation_refused(ctx, call, failure)
            }
            _ => None,
        }
    }
}

impl StepName {
    /// How the step reads a drift found right after its calls succeeded: a refusal when the
    /// drift means the API path does not work here, `None` when it is an ordinary drift (a
    /// transient retry re-plans). `reactivate_previous_user` and `deactivate_previous_user`:
    /// Autotask answered the `PATCH Resources isActive` but the user's `isActive` did not
    /// change (as Autotask does with fields it treats as read-only), so the web-interface
    /// path, re-checked by reading `isActive`, instead of retries that end in a dead letter.
    /// [`crate::run::Run::end_attempt`] asks it.
    pub fn drifted_after_calls(self, ctx: &StepContext, drift: &Drift) -> Option<Refusal> {
        let detail = |what: &str| {
            format!(
                "the change was answered as done, but the user still reads {what}: {}",
                drift.differences.join("; ")
            )
        };
        match self {
            StepName::ReactivatePreviousUser => Some(reactivate_previous_user::not_applied(
                ctx,
                detail("inactive"),
            )),
            StepName::DeactivatePreviousUser => {
                Some(deactivate_previous_user::not_applied(ctx, detail("active")))
            }
            _ => None,
        }
    }
}

// ---- shared lookups ----

/// `Resources` rows with this username.
pub(crate) fn user_read(credentials: Role, user_name: &str) -> Read {
    Read::Resources {
        credentials,
        query: Query::new([Filter::eq("userName", user_name)]),
    }
}

/// `step` waits because the user's credentials are rejected: the finding, with the
/// instructions of `verify_api_user` (A1..A13: key, secret, integration vendor).
pub(crate) fn credentials_rejected(step: StepName, user_name: &str) -> Refusal {
    let found = vec![Finding::CredentialsRejected {
        user_name: user_name.into(),
    }];
    let remediation = Remediation::for_step(StepName::VerifyApiUser, &found);
    Refusal::operator(step, ErrorClass::OperatorPending, found).with_remediation(remediation)
}

/// Looks up exactly one user by username; refusals speak about it as `whose`.
pub(crate) fn one_user(
    step: StepName,
    l: &mut Lookup<'_>,
    credentials: Role,
    user_name: &str,
) -> Result<Option<Resource>, Refusal> {
    let Some(rows) = l.resources(user_read(credentials, user_name)) else {
        return Ok(None);
    };
    let rows = match rows {
        Ok(rows) => rows,
        Err(CallFailure::CredentialsRejected) if credentials == Role::New => {
            return Err(credentials_rejected(step, user_name));
        }
        Err(f) => return Err(Refusal::failed_read(step, &format!("user {user_name}"), &f)),
    };
    match rows.len() {
        1 => Ok(rows.into_iter().next()),
        0 => {
            let found = [Finding::UserNotFound {
                user_name: user_name.into(),
            }];
            Err(Refusal {
                step,
                class: ErrorClass::OperatorPending,
                reason: found[0].en(),
                remediation: Some(Box::new(Remediation::for_step(
                    StepName::VerifyApiUser,
                    &found,
                ))),
                findings: found.to_vec(),
            })
        }
        n => Err(ambiguous_user(step, user_name, n)),
    }
}

pub(crate) fn ambiguous_user(step: StepName, user_name: &str, count: usize) -> Refusal {
    let found = vec![Finding::UserAmbiguous {
        user_name: user_name.into(),
        count,
    }];
    Refusal {
        step,
        class: ErrorClass::Permanent,
        reason: format!(
            "{count} users have the username {user_name}; onboard will not guess which one is \
             the integration's API user. Give one of them another username in Autotask \
             (Admin > Resources (Users)) and start the run again."
        ),
        remediation: Some(Box::new(Remediation::for_step(
            StepName::VerifyApiUser,
            &found,
        ))),
        findings: found,
    }
}

/// The id of a resource row (Autotask always returns it; a row without one is refused).
pub(crate) fn id_of(step: StepName, r: &Resource) -> Result<ResourceId, Refusal> {
    r.id.ok_or_else(|| {
        Refusal::new(
            step,
            ErrorClass::Permanent,
            "Autotask returned a user without an id",
        )
    })
}

/// The new user's id, looked up with its own credentials.
pub(crate) fn new_user_id(
    step: StepName,
    ctx: &StepContext,
    l: &mut Lookup<'_>,
) -> Result<Option<ResourceId>, Refusal> {
    match one_user(step, l, Role::New, &ctx.new_user_name)? {
        Some(r) => id_of(step, &r).map(Some),
        None => Ok(None),
    }
}

/// The previous user, looked up with the new user's credentials (the previous user's own may
/// be rejected).
pub(crate) fn previous_user(
    step: StepName,
    ctx: &StepContext,
    l: &mut Lookup<'_>,
) -> Result<Option<(String, Resource, ResourceId)>, Refusal> {
    let Some(name) = ctx.previous_user_name.clone() else {
        return Err(Refusal::new(
            step,
            ErrorClass::Permanent,
            "this run has no previous API user: give the previous user's username and \
             credential reference",
        ));
    };
    match one_user(step, l, Role::New, &name)? {
        Some(r) => {
            let id = id_of(step, &r)?;
            Ok(Some((name, r, id)))
        }
        None => Ok(None),
    }
}

/// Whether a failed call was *refused* by Autotask (a business rule, a permission, rejected
/// credentials), as opposed to failing transiently or for the budget: a refusal will not go
/// away by trying again, so a step with another path takes it.
pub(crate) fn is_refusal(failure: &CallFailure) -> bool {
    match failure {
        CallFailure::Rejected { .. } => failure.class() == ErrorClass::Permanent,
        CallFailure::NotPermitted { .. } | CallFailure::CredentialsRejected => true,
        // An answer that could not be decoded is not a refusal: the change may have happened.
        CallFailure::NotFound
        | CallFailure::ContractDrift { .. }
        | CallFailure::ThreadLimit
        | CallFailure::ThresholdExceeded
        | CallFailure::Transient { .. } => false,
    }
}

/// A webhook URL comparison as Autotask's duplicate rule sees it (case-insensitive).
pub(crate) fn same_url(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(b))
}

/// Operator-attested steps: done when acknowledged, otherwise waiting for the ack.
pub(crate) mod attested {
    use crate::catalog::StepName;
    use crate::plan::{Drift, Finding, Plan, Refusal};
    use crate::retry::ErrorClass;

    pub(crate) fn plan(step: StepName, acknowledged: bool) -> Result<Plan, Refusal> {
        if acknowledged {
            Ok(Plan::default())
        } else {
            Err(Refusal::operator(
                step,
                ErrorClass::AwaitingAck,
                vec![Finding::NotAcknowledged],
            ))
        }
    }

    pub(crate) fn verify(step: StepName, acknowledged: bool) -> Result<(), Drift> {
        if acknowledged {
            Ok(())
        } else {
            Err(Drift {
                step,
                differences: vec![Finding::NotAcknowledged.en()],
            })
        }
    }
}
