//! `verify_changeover` (api, C4): the new user's webhooks are active and ready and no webhook
//! of the previous user is left (read with the new user's credentials, since the previous
//! user may be deactivated by now). Success yields the audit fact
//! [`Fact::ChangeoverVerified`]; leftovers are a transient refusal (the run retries, then
//! dead-letters with the list).

use autotask_types::{ResourceId, Webhook, WebhookFamily};

use super::{Definition, StepContext, new_user_id, previous_user};
use crate::catalog::StepName;
use crate::observe::{Lookup, Role};
use crate::plan::{Drift, Fact, Plan, Refusal};
use crate::retry::ErrorClass;
use crate::steps::await_webhooks_ready::{gather_ours, problems};
use crate::steps::find_previous_webhooks::previous_webhooks_read;

pub(crate) struct Step;

#[derive(Debug)]
pub(crate) struct Found {
    ours: Vec<(WebhookFamily, Option<Webhook>)>,
    previous: ResourceId,
    left: Vec<(WebhookFamily, Webhook)>,
}

fn differences(found: &Found) -> Vec<String> {
    let (mut d, not_ready) = problems(&found.ours);
    d.extend(not_ready);
    for (family, w) in &found.left {
        d.push(format!(
            "{family} webhook {} of the previous user {} is still there",
            w.id.map(|i| i.to_string()).unwrap_or_default(),
            found.previous
        ));
    }
    d
}

impl Definition for Step {
    const NAME: StepName = StepName::VerifyChangeover;
    type Found = Found;

    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Found>, Refusal> {
        let user = new_user_id(Self::NAME, ctx, l)?;
        let previous = previous_user(Self::NAME, ctx, l)?;
        let (Some(user), Some((_, _, previous))) = (user, previous) else {
            return Ok(None);
        };
        let ours = gather_ours(Self::NAME, ctx, user, l)?;
        let mut left = Vec::new();
        let mut complete = true;
        for family in WebhookFamily::ALL {
            match l.webhooks(previous_webhooks_read(Role::New, family, previous)) {
                None => complete = false,
                Some(Ok(ws)) => left.extend(
                    ws.into_iter()
                        .filter(|w| w.owner_resource_id.is_none_or(|o| o == previous))
                        .map(|w| (family, w)),
                ),
                Some(Err(f)) => {
                    return Err(Refusal::failed_read(
                        Self::NAME,
                        &format!("the previous user's {family} webhooks"),
                        &f,
                    ));
                }
            }
        }
        match ours {
            Some(ours) if complete => Ok(Some(Found {
                ours,
                previous,
                left,
            })),
            _ => Ok(None),
        }
    }

    fn plan(_: &StepContext, found: &Found) -> Result<Plan, Refusal> {
        let d = differences(found);
        if !d.is_empty() {
            return Err(Refusal::new(
                Self::NAME,
                ErrorClass::Transient,
                d.join("; "),
            ));
        }
        Ok(Plan::facts(vec![Fact::ChangeoverVerified {
            webhooks: found
                .ours
                .iter()
                .filter_map(|(f, w)| w.as_ref().and_then(|w| w.id).map(|id| (*f, id)))
                .collect(),
        }]))
    }

    fn verify(_: &StepContext, found: &Found) -> Result<(), Drift> {
        let d = differences(found);
        if d.is_empty() {
            Ok(())
        } else {
            Err(Drift {
                step: Self::NAME,
                differences: d,
            })
        }
    }
}
