//! `reactivate_previous_user` (api or operator-verified, C5): runs only when the previous
//! user's credentials are rejected because it is inactive. With admin credentials it PATCHes
//! `Resources.isActive = true`; without them, or when Autotask refuses that PATCH or answers
//! it without applying it (whether REST may reactivate an API-only resource is unconfirmed,
//! autotask-api.md §4 \[L\]), the operator reactivates the user in the web interface (EN/DE
//! instructions from the seed) and the step re-checks `isActive` on the operator schedule
//! until it reads true — never a dead letter for a PATCH that does not work. Each re-check with admin credentials tries the PATCH once
//! more (one request), so a tenant whose admin rights get fixed continues by itself.
//! Either way the run records that it reactivated the user, so it deactivates it again after
//! cleanup.

use autotask_types::{Resource, ResourceId};

use super::{Definition, StepContext, is_refusal, previous_user};
use crate::catalog::StepName;
use crate::observe::{CallFailure, Lookup, Role};
use crate::plan::{Call, Drift, Fact, Finding, Plan, Refusal};
use crate::remediation::Remediation;
use crate::retry::ErrorClass;

pub(crate) struct Step;

#[derive(Debug)]
pub(crate) struct Found {
    name: String,
    id: ResourceId,
    active: bool,
}

/// The operator path: reactivate in the web interface, re-checked by reading `isActive`.
fn in_web_interface(user_name: &str, mut findings: Vec<Finding>) -> Refusal {
    findings.insert(
        0,
        Finding::PreviousUserInactive {
            user_name: user_name.into(),
        },
    );
    let refusal = Refusal::operator(Step::NAME, ErrorClass::OperatorPending, findings);
    let remediation =
        Remediation::reactivate_in_web_interface(Step::NAME, user_name, &refusal.findings);
    refusal.with_remediation(remediation)
}

impl Definition for Step {
    const NAME: StepName = StepName::ReactivatePreviousUser;
    type Found = Found;

    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Found>, Refusal> {
        Ok(
            previous_user(Self::NAME, ctx, l)?.map(|(name, r, id)| Found {
                name,
                id,
                active: r.is_active == Some(true),
            }),
        )
    }

    fn plan(ctx: &StepContext, found: &Found) -> Result<Plan, Refusal> {
        let facts = vec![Fact::ReactivatedPreviousUser];
        if found.active {
            return Ok(Plan::facts(facts));
        }
        if ctx.has_admin_credentials {
            return Ok(Plan {
                calls: vec![Call::UpdateResource {
                    credentials: Role::Admin,
                    resource: Resource {
                        id: Some(found.id),
                        is_active: Some(true),
                        ..Resource::default()
                    },
                }],
                facts,
            });
        }
        Err(in_web_interface(&found.name, Vec::new()))
    }

    fn verify(_: &StepContext, found: &Found) -> Result<(), Drift> {
        if found.active {
            Ok(())
        } else {
            Err(Drift {
                step: Self::NAME,
                differences: vec![format!("the previous user {} is inactive", found.name)],
            })
        }
    }
}

/// A `PATCH Resources isActive` that was answered but not applied (see
/// [`StepName::drifted_after_calls`]): the web-interface path.
pub(crate) fn not_applied(ctx: &StepContext, detail: String) -> Refusal {
    let user_name = ctx.previous_user_name.clone().unwrap_or_default();
    in_web_interface(
        &user_name,
        vec![Finding::ActivationRefused {
            user_name: user_name.clone(),
            activate: true,
            detail,
        }],
    )
}

/// A refused `PATCH Resources isActive` (see [`StepName::call_failed`]): the web-interface
/// path instead of a dead letter.
pub(crate) fn activation_refused(
    ctx: &StepContext,
    call: &Call,
    failure: &CallFailure,
) -> Option<Refusal> {
    if !matches!(call, Call::UpdateResource { .. }) || !is_refusal(failure) {
        return None;
    }
    let user_name = ctx.previous_user_name.clone().unwrap_or_default();
    Some(in_web_interface(
        &user_name,
        vec![Finding::ActivationRefused {
            user_name: user_name.clone(),
            activate: true,
            detail: failure.describe(),
        }],
    ))
}
