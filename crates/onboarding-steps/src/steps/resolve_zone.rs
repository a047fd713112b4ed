//! `resolve_zone` (api, no seed step): zone discovery for the API user's username; the zone
//! URL becomes a run fact so later steps talk to the right host. An unknown username means
//! the API user does not exist yet: the operator is shown how to create it (A1..A13).

use autotask_types::ZoneInformation;

use super::{Definition, StepContext};
use crate::catalog::StepName;
use crate::observe::{CallFailure, Lookup, Read};
use crate::plan::{Drift, Fact, Finding, Plan, Refusal};
use crate::remediation::Remediation;
use crate::retry::ErrorClass;

pub(crate) struct Step;

impl Definition for Step {
    const NAME: StepName = StepName::ResolveZone;
    type Found = ZoneInformation;

    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Self::Found>, Refusal> {
        let read = Read::ZoneInformation {
            user_name: ctx.new_user_name.clone(),
        };
        match l.zone(read) {
            None => Ok(None),
            Some(Ok(zone)) if !zone.url.trim().is_empty() => Ok(Some(zone)),
            Some(Ok(_))
            | Some(Err(
                CallFailure::NotFound
                | CallFailure::Rejected { .. }
                | CallFailure::CredentialsRejected,
            )) => {
                let found = vec![Finding::ZoneUnknown {
                    user_name: ctx.new_user_name.clone(),
                }];
                let seed = StepName::VerifyApiUser.seed_steps();
                Err(Refusal {
                    step: Self::NAME,
                    class: ErrorClass::OperatorPending,
                    reason: found[0].en(),
                    remediation: Some(Box::new(Remediation::from_seed(Self::NAME, seed, &found))),
                    findings: found,
                })
            }
            Some(Err(f)) => Err(Refusal::failed_read(Self::NAME, "the zone", &f)),
        }
    }

    fn plan(_: &StepContext, zone: &ZoneInformation) -> Result<Plan, Refusal> {
        Ok(Plan::facts(vec![Fact::ZoneUrl {
            url: zone.url.clone(),
        }]))
    }

    fn verify(_: &StepContext, _: &ZoneInformation) -> Result<(), Drift> {
        Ok(())
    }
}
