//! `verify_webhook_permission` (operator-verified, W1..W4): the new user may create webhooks
//! of every configured family, read with the user's own credentials from
//! `{Family}Webhooks/entityInformation`.
//!
//! The user's own right is `userAccessForCreate` ([`autotask_types::AccessLevel`]); `canCreate` only says
//! whether the entity can be created through the API at all (on a real tenant it is true for
//! webhooks whether or not W1–W4 were done). Per family:
//! - `canCreate` false, a level that refuses (`None`, 0) or a 403 → the W1–W4 operator
//!   finding (the remediation explains copying "API User (system)" into a custom level,
//!   since system levels cannot be edited);
//! - a level that permits (`All`, 1) → passes;
//! - a level that cannot tell (absent, `null`, `{}` as the contract shapes it, `Restricted`,
//!   unknown forms; see `autotask_types::lenient`, \[L\]) → passes, with the fact
//!   [`Fact::WebhookPermissionUnknown`] saying so in the run record and the audit trail. A
//!   missing permission then shows at creation: [`create_refused`] makes `ensure_webhooks`'
//!   refused webhook write the same operator finding, re-checked by the operator schedule.

use autotask_types::{EntityInformation, WebhookFamily};

use super::{Definition, StepContext, credentials_rejected};
use crate::catalog::StepName;
use crate::observe::{CallFailure, Lookup, Read, Role};
use crate::plan::{Call, Drift, Fact, Finding, Plan, Refusal};
use crate::remediation::Remediation;
use crate::retry::ErrorClass;

pub(crate) struct Step;

#[derive(Debug)]
pub(crate) struct Found {
    denied: Vec<WebhookFamily>,
    unknown: Vec<WebhookFamily>,
}

/// Whether the caller may create the entity: `Some` when known, `None` when it cannot be
/// read (see the module documentation).
fn may_create(info: &EntityInformation) -> Option<bool> {
    if info.can_create == Some(false) {
        return Some(false);
    }
    info.user_may_create()
}

impl Definition for Step {
    const NAME: StepName = StepName::VerifyWebhookPermission;
    type Found = Found;

    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Found>, Refusal> {
        let answers: Vec<_> = ctx
            .settings
            .families()
            .map(|family| {
                (
                    family,
                    l.entity_information(Read::WebhookEntityInformation {
                        credentials: Role::New,
                        family,
                    }),
                )
            })
            .collect();
        let mut found = Found {
            denied: Vec::new(),
            unknown: Vec::new(),
        };
        for (family, a) in answers {
            match a {
                None => return Ok(None),
                Some(Ok(info)) => match may_create(&info) {
                    Some(true) => {}
                    Some(false) => found.denied.push(family),
                    None => found.unknown.push(family),
                },
                Some(Err(CallFailure::NotPermitted { .. })) => found.denied.push(family),
                Some(Err(CallFailure::CredentialsRejected)) => {
                    return Err(credentials_rejected(Self::NAME, &ctx.new_user_name));
                }
                Some(Err(f)) => {
                    return Err(Refusal::failed_read(
                        Self::NAME,
                        &format!("{} webhook permissions", family),
                        &f,
                    ));
                }
            }
        }
        Ok(Some(found))
    }

    fn plan(_: &StepContext, found: &Found) -> Result<Plan, Refusal> {
        if !found.denied.is_empty() {
            return Err(Refusal::operator(
                Self::NAME,
                ErrorClass::OperatorPending,
                vec![Finding::WebhookPermissionMissing {
                    families: found.denied.clone(),
                }],
            ));
        }
        let mut plan = Plan::default();
        if !found.unknown.is_empty() {
            plan.facts.push(Fact::WebhookPermissionUnknown {
                families: found.unknown.clone(),
            });
        }
        Ok(plan)
    }

    fn verify(_: &StepContext, found: &Found) -> Result<(), Drift> {
        if found.denied.is_empty() {
            Ok(())
        } else {
            Err(Drift {
                step: Self::NAME,
                differences: vec![
                    Finding::WebhookPermissionMissing {
                        families: found.denied.clone(),
                    }
                    .en(),
                ],
            })
        }
    }
}

/// The webhook family a call writes, if it writes a webhook or one of its children.
fn webhook_family(call: &Call) -> Option<WebhookFamily> {
    match call {
        Call::CreateWebhook { family, .. }
        | Call::UpdateWebhook { family, .. }
        | Call::DeleteWebhook { family, .. }
        | Call::CreateWebhookField { family, .. }
        | Call::UpdateWebhookField { family, .. }
        | Call::DeleteWebhookField { family, .. }
        | Call::CreateWebhookUdfField { family, .. }
        | Call::UpdateWebhookUdfField { family, .. }
        | Call::DeleteWebhookUdfField { family, .. }
        | Call::CreateWebhookExcludedResource { family, .. } => Some(*family),
        Call::UpdateResource { .. } => None,
    }
}

/// Whether Autotask's failure says the caller's security level lacks the webhook
/// permission: a 403, or a rejection (500 with `errors[]`) whose text says so. The texts
/// are undocumented (\[L\], `autotask-api.md` §4: "attempt the create and map the 500
/// error"): a message naming a permission, the security level, "not permitted", "not
/// authorized" or "not allowed to". Other rejections are not: a duplicate webhook's
/// "duplicate callouts are not allowed", a validation error, and the lifetime maximum of
/// webhooks being reached (the level permits webhooks; raising the maximum is a deliberate
/// decision, so that run fails and is retried by an operator).
pub(crate) fn says_permission_missing(failure: &CallFailure) -> bool {
    match failure {
        CallFailure::NotPermitted { .. } => true,
        CallFailure::Rejected { errors } => errors.iter().any(|e| {
            let e = e.to_ascii_lowercase();
            [
                "permission",
                "security level",
                "not permitted",
                "not authorized",
                "not allowed to",
            ]
            .iter()
            .any(|needle| e.contains(needle))
        }),
        _ => false,
    }
}

/// The refusal of `step` (`ensure_webhooks`) when Autotask refused its webhook write for
/// lack of permission: the W1–W4 finding with their EN/DE instructions, re-checked on the
/// operator schedule (the next attempt plans again from what Autotask holds).
pub(crate) fn create_refused(
    step: StepName,
    call: &Call,
    failure: &CallFailure,
) -> Option<Refusal> {
    let family = webhook_family(call)?;
    if call.credentials() != Role::New || !says_permission_missing(failure) {
        return None;
    }
    let findings = vec![Finding::WebhookPermissionMissing {
        families: vec![family],
    }];
    let remediation = Remediation::from_seed(
        step,
        StepName::VerifyWebhookPermission.seed_steps(),
        &findings,
    );
    Some(Refusal {
        step,
        class: ErrorClass::OperatorPending,
        reason: format!(
            "{}: Autotask refused creating the {family} webhook ({})",
            findings[0].en(),
            failure.describe()
        ),
        findings,
        remediation: Some(Box::new(remediation)),
    })
}
