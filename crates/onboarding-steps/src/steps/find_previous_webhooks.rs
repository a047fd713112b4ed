//! `find_previous_webhooks` (api, C1): with the previous user's credentials (kept active,
//! C1), every webhook of every family owned by the previous user. When those credentials are
//! rejected and the user is inactive, the run learns [`Fact::PreviousUserInactive`] and
//! reactivates it (C5) before cleanup; rejected credentials of an active user are a refused
//! precondition (wrong or regenerated secret).

use autotask_types::{Filter, Query, ResourceId, Webhook, WebhookFamily};

use super::{Definition, StepContext, previous_user};
use crate::catalog::StepName;
use crate::observe::{CallFailure, Lookup, Read, Role};
use crate::plan::{Drift, Fact, Finding, Plan, Refusal};
use crate::retry::ErrorClass;

pub(crate) struct Step;

/// The previous user's webhooks of one family, read with `credentials`.
pub(crate) fn previous_webhooks_read(
    credentials: Role,
    family: WebhookFamily,
    previous: ResourceId,
) -> Read {
    Read::Webhooks {
        credentials,
        family,
        query: Query::new([Filter::eq("ownerResourceID", previous.get())]),
    }
}

/// What the previous user's credentials show.
#[derive(Debug)]
pub(crate) enum PreviousState {
    /// Its webhooks, per family.
    Listed(Vec<(WebhookFamily, Vec<Webhook>)>),
    /// The credentials are rejected and the user is inactive.
    Inactive,
}

#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) id: ResourceId,
    pub(crate) state: PreviousState,
}

/// Reads the previous user and its webhooks of all five families with its credentials.
pub(crate) fn gather_previous(
    step: StepName,
    ctx: &StepContext,
    l: &mut Lookup<'_>,
) -> Result<Option<Found>, Refusal> {
    let Some((name, user, id)) = previous_user(step, ctx, l)? else {
        return Ok(None);
    };
    let mut listed = Vec::new();
    let mut rejected = false;
    let mut complete = true;
    for family in WebhookFamily::ALL {
        match l.webhooks(previous_webhooks_read(Role::Previous, family, id)) {
            None => complete = false,
            Some(Ok(ws)) => listed.push((
                family,
                ws.into_iter()
                    .filter(|w| w.owner_resource_id.is_none_or(|o| o == id))
                    .collect(),
            )),
            Some(Err(CallFailure::CredentialsRejected)) => rejected = true,
            Some(Err(f)) => {
                return Err(Refusal::failed_read(
                    step,
                    &format!("the previous user's {family} webhooks"),
                    &f,
                ));
            }
        }
    }
    if !complete {
        return Ok(None);
    }
    if rejected {
        if user.is_active == Some(false) {
            return Ok(Some(Found {
                id,
                state: PreviousState::Inactive,
            }));
        }
        let found = vec![Finding::CredentialsRejected { user_name: name }];
        return Err(Refusal {
            step,
            class: ErrorClass::Permanent,
            reason: format!(
                "{}, although the user is active: the stored key or secret of the previous API \
                 user is wrong or was regenerated. Give the run the previous user's current \
                 credentials (C1: they must stay valid until the webhooks are removed).",
                found[0].en()
            ),
            remediation: Some(Box::new(crate::Remediation::for_step(
                StepName::FindPreviousWebhooks,
                &found,
            ))),
            findings: found,
        });
    }
    Ok(Some(Found {
        id,
        state: PreviousState::Listed(listed),
    }))
}

impl Definition for Step {
    const NAME: StepName = StepName::FindPreviousWebhooks;
    type Found = Found;

    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Found>, Refusal> {
        gather_previous(Self::NAME, ctx, l)
    }

    fn plan(_: &StepContext, found: &Found) -> Result<Plan, Refusal> {
        let mut facts = vec![Fact::PreviousUser { id: found.id }];
        match &found.state {
            PreviousState::Inactive => facts.push(Fact::PreviousUserInactive),
            PreviousState::Listed(families) => facts.push(Fact::PreviousWebhooks {
                webhooks: families
                    .iter()
                    .flat_map(|(f, ws)| ws.iter().filter_map(move |w| w.id.map(|id| (*f, id))))
                    .collect(),
            }),
        }
        Ok(Plan::facts(facts))
    }

    fn verify(_: &StepContext, _: &Found) -> Result<(), Drift> {
        Ok(())
    }
}
