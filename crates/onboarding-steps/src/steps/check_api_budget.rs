//! `check_api_budget` (api, no seed step): reads `ThresholdInformation`. Autotask allows
//! 10,000 requests per rolling hour for all integrations of a tenant together and slows every
//! call from 50 %; above the configured pause ratio the run is deferred (rescheduled without
//! spending an attempt), never failed.

use autotask_types::ThresholdInformation;

use super::{Definition, StepContext, credentials_rejected};
use crate::catalog::StepName;
use crate::observe::{CallFailure, Lookup, Read, Role};
use crate::plan::{Drift, Plan, Refusal};
use crate::retry::ErrorClass;

pub(crate) struct Step;

impl Definition for Step {
    const NAME: StepName = StepName::CheckApiBudget;
    type Found = ThresholdInformation;

    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Self::Found>, Refusal> {
        match l.threshold(Read::ThresholdInformation {
            credentials: Role::New,
        }) {
            None => Ok(None),
            Some(Ok(t)) => Ok(Some(t)),
            Some(Err(CallFailure::ThresholdExceeded)) => Err(Refusal::new(
                Self::NAME,
                ErrorClass::BudgetDeferred,
                "the tenant's hourly Autotask request threshold is exceeded; waiting for it to \
                 recover",
            )),
            Some(Err(CallFailure::CredentialsRejected)) => {
                Err(credentials_rejected(Self::NAME, &ctx.new_user_name))
            }
            Some(Err(f)) => Err(Refusal::failed_read(Self::NAME, "the request budget", &f)),
        }
    }

    fn plan(ctx: &StepContext, t: &ThresholdInformation) -> Result<Plan, Refusal> {
        let ratio = t.used_ratio();
        if ratio >= ctx.settings.budget_pause_ratio {
            return Err(Refusal::new(
                Self::NAME,
                ErrorClass::BudgetDeferred,
                format!(
                    "the tenant used {} of {} Autotask requests in the last {} minutes ({:.0} %); \
                     onboard pauses above {:.0} %",
                    t.current_timeframe_request_count,
                    t.external_request_threshold,
                    t.request_threshold_timeframe,
                    ratio * 100.0,
                    ctx.settings.budget_pause_ratio * 100.0
                ),
            ));
        }
        Ok(Plan::default())
    }

    fn verify(_: &StepContext, _: &ThresholdInformation) -> Result<(), Drift> {
        // The budget is a condition to wait for, not a state to converge.
        Ok(())
    }
}
