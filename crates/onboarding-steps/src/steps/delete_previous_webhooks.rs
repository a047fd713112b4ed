//! `delete_previous_webhooks` (api, C3, C6): deletes every webhook the previous user owns,
//! with the previous user's credentials (Autotask lets the owner manage its webhooks). A
//! delete whose response was lost is harmless: the next attempt finds the webhook gone, and
//! a 404 on a delete counts as done ([`Call::tolerates`]).

use super::{Definition, StepContext};
use crate::catalog::{SeedStep, StepName};
use crate::observe::{Lookup, Role};
use crate::plan::{Call, Drift, Finding, Plan, Refusal};
use crate::remediation::Remediation;
use crate::retry::ErrorClass;
use crate::steps::find_previous_webhooks::{Found, PreviousState, gather_previous};
use crate::steps::verify_by_plan;

pub(crate) struct Step;

impl Definition for Step {
    const NAME: StepName = StepName::DeletePreviousWebhooks;
    type Found = Found;

    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Found>, Refusal> {
        gather_previous(Self::NAME, ctx, l)
    }

    fn plan(ctx: &StepContext, found: &Found) -> Result<Plan, Refusal> {
        match &found.state {
            PreviousState::Inactive => {
                let f = vec![Finding::PreviousUserInactive {
                    user_name: ctx.previous_user_name.clone().unwrap_or_default(),
                }];
                Err(Refusal {
                    step: Self::NAME,
                    class: ErrorClass::OperatorPending,
                    reason: format!(
                        "{}: its webhooks can only be deleted with its credentials once it is \
                         active again",
                        f[0].en()
                    ),
                    remediation: Some(Box::new(Remediation::from_seed(
                        Self::NAME,
                        &[SeedStep::C4, SeedStep::C5, SeedStep::A2, SeedStep::A6],
                        &f,
                    ))),
                    findings: f,
                })
            }
            PreviousState::Listed(families) => Ok(Plan {
                calls: families
                    .iter()
                    .flat_map(|(family, ws)| {
                        ws.iter().filter_map(move |w| {
                            w.id.map(|id| Call::DeleteWebhook {
                                credentials: Role::Previous,
                                family: *family,
                                id,
                            })
                        })
                    })
                    .collect(),
                facts: Vec::new(),
            }),
        }
    }

    fn verify(ctx: &StepContext, found: &Found) -> Result<(), Drift> {
        verify_by_plan::<Self>(ctx, found)
    }
}
