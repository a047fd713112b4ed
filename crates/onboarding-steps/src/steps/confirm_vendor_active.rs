//! `confirm_vendor_active` (operator-attested, V1): the integration vendor "Sophos Central -
//! Security" is active in the Integration Center; the API cannot see it, so an operator
//! confirms it.

use super::{Definition, StepContext, attested};
use crate::catalog::StepName;
use crate::observe::Lookup;
use crate::plan::{Drift, Plan, Refusal};

pub(crate) struct Step;

impl Definition for Step {
    const NAME: StepName = StepName::ConfirmVendorActive;
    type Found = bool;

    fn gather(ctx: &StepContext, _: &mut Lookup<'_>) -> Result<Option<bool>, Refusal> {
        Ok(Some(ctx.acknowledged.contains(&Self::NAME)))
    }

    fn plan(_: &StepContext, acknowledged: &bool) -> Result<Plan, Refusal> {
        attested::plan(Self::NAME, *acknowledged)
    }

    fn verify(_: &StepContext, acknowledged: &bool) -> Result<(), Drift> {
        attested::verify(Self::NAME, *acknowledged)
    }
}
