//! `reactivate_previous_user` (api or operator-verified, C5): runs only when the previous
//! user's credentials are rejected because it is inactive. With admin credentials it PATCHes
//! `Resources.isActive = true`; without, the operator reactivates it in the web interface and
//! the step re-checks. Either way the run records that it reactivated the user, so it
//! deactivates it again after cleanup.

use autotask_types::{Resource, ResourceId};

use super::{Definition, StepContext, previous_user};
use crate::catalog::{SeedStep, StepName};
use crate::observe::{Lookup, Role};
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
        let f = vec![Finding::PreviousUserInactive {
            user_name: found.name.clone(),
        }];
        Err(Refusal {
            step: Self::NAME,
            class: ErrorClass::OperatorPending,
            reason: f[0].en(),
            remediation: Some(Box::new(Remediation::from_seed(
                Self::NAME,
                &[SeedStep::C5, SeedStep::A2, SeedStep::A6, SeedStep::A13],
                &f,
            ))),
            findings: f,
        })
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
