//! `deactivate_previous_user` (api or operator-verified, no seed step): after cleanup is
//! verified, and only if the run reactivated the previous user or the settings ask for it
//! (the run model decides that), the previous user is made inactive again: by PATCH with
//! admin credentials; without them, or when Autotask refuses the PATCH or answers it without
//! applying it (unconfirmed, autotask-api.md §4 \[L\]), by the operator in the web interface
//! (EN/DE instructions), the step re-checking `isActive` until it reads false — never a dead
//! letter for a PATCH that does not work.

use autotask_types::{Resource, ResourceId};

use super::{Definition, StepContext, is_refusal, previous_user};
use crate::catalog::StepName;
use crate::observe::{CallFailure, Lookup, Role};
use crate::plan::{Call, Drift, Finding, Plan, Refusal};
use crate::remediation::Remediation;
use crate::retry::ErrorClass;

pub(crate) struct Step;

/// The operator path: deactivate in the web interface, re-checked by reading `isActive`.
fn in_web_interface(user_name: &str, mut findings: Vec<Finding>) -> Refusal {
    findings.insert(
        0,
        Finding::PreviousUserActive {
            user_name: user_name.into(),
        },
    );
    let refusal = Refusal::operator(Step::NAME, ErrorClass::OperatorPending, findings);
    let remediation =
        Remediation::deactivate_in_web_interface(Step::NAME, user_name, &refusal.findings);
    refusal.with_remediation(remediation)
}

#[derive(Debug)]
pub(crate) struct Found {
    name: String,
    id: ResourceId,
    active: bool,
}

impl Definition for Step {
    const NAME: StepName = StepName::DeactivatePreviousUser;
    type Found = Found;

    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Found>, Refusal> {
        Ok(
            previous_user(Self::NAME, ctx, l)?.map(|(name, r, id)| Found {
                name,
                id,
                active: r.is_active != Some(false),
            }),
        )
    }

    fn plan(ctx: &StepContext, found: &Found) -> Result<Plan, Refusal> {
        if !found.active {
            return Ok(Plan::default());
        }
        if ctx.has_admin_credentials {
            return Ok(Plan {
                calls: vec![Call::UpdateResource {
                    credentials: Role::Admin,
                    resource: Resource {
                        id: Some(found.id),
                        is_active: Some(false),
                        ..Resource::default()
                    },
                }],
                facts: Vec::new(),
            });
        }
        Err(in_web_interface(&found.name, Vec::new()))
    }

    fn verify(_: &StepContext, found: &Found) -> Result<(), Drift> {
        if found.active {
            Err(Drift {
                step: Self::NAME,
                differences: vec![format!("the previous user {} is still active", found.name)],
            })
        } else {
            Ok(())
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
            activate: false,
            detail,
        }],
    )
}

/// A refused `PATCH Resources isActive` (see [`StepName::call_failed`]): the web-interface
/// path instead of a dead letter.
pub(crate) fn deactivation_refused(
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
            activate: false,
            detail: failure.describe(),
        }],
    ))
}
