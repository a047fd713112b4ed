//! `await_webhooks_ready` (api, no seed step): every webhook `ensure_webhooks` made is
//! `isActive && isReady`. Not ready yet is a transient refusal (fast retries); a missing
//! webhook is permanent (the run must ensure it again).

use autotask_types::{Filter, Query, ResourceId, Webhook, WebhookFamily};

use super::{Definition, StepContext, new_user_id};
use crate::catalog::StepName;
use crate::observe::{Lookup, Read, Role};
use crate::plan::{Drift, Plan, Refusal};
use crate::retry::ErrorClass;
use crate::steps::ensure_webhooks::ours;

pub(crate) struct Step;

/// Per configured family: our webhook, if it exists.
pub(crate) type Ours = Vec<(WebhookFamily, Option<Webhook>)>;

/// The new user's webhooks by URL (read with its credentials).
pub(crate) fn our_webhook_read(url: &str, family: WebhookFamily) -> Read {
    Read::Webhooks {
        credentials: Role::New,
        family,
        query: Query::new([Filter::eq("webhookUrl", url)]),
    }
}

/// Per configured family: our webhook if any.
pub(crate) fn gather_ours(
    step: StepName,
    ctx: &StepContext,
    user: ResourceId,
    l: &mut Lookup<'_>,
) -> Result<Option<Ours>, Refusal> {
    let mut out = Vec::new();
    let mut complete = true;
    for family in ctx.settings.families() {
        let url = ctx.settings.webhook_url(&ctx.tenant_id, user, family);
        match l.webhooks(our_webhook_read(&url, family)) {
            None => complete = false,
            Some(Ok(ws)) => out.push((family, ours(&ws, &url, user).first().copied().cloned())),
            Some(Err(f)) => {
                return Err(Refusal::failed_read(
                    step,
                    &format!("{family} webhooks"),
                    &f,
                ));
            }
        }
    }
    Ok(complete.then_some(out))
}

/// What is not right about our webhooks: (missing, not ready) descriptions.
pub(crate) fn problems(found: &[(WebhookFamily, Option<Webhook>)]) -> (Vec<String>, Vec<String>) {
    let mut missing = Vec::new();
    let mut not_ready = Vec::new();
    for (family, w) in found {
        match w {
            None => missing.push(format!("the {family} webhook is missing")),
            Some(w) => {
                let id = w.id.map(|i| i.to_string()).unwrap_or_default();
                if w.is_active != Some(true) {
                    not_ready.push(format!("{family} webhook {id} is inactive"));
                } else if w.is_ready != Some(true) {
                    not_ready.push(format!("{family} webhook {id} is not ready yet"));
                }
            }
        }
    }
    (missing, not_ready)
}

impl Definition for Step {
    const NAME: StepName = StepName::AwaitWebhooksReady;
    type Found = Ours;

    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Self::Found>, Refusal> {
        let Some(user) = new_user_id(Self::NAME, ctx, l)? else {
            return Ok(None);
        };
        gather_ours(Self::NAME, ctx, user, l)
    }

    fn plan(_: &StepContext, found: &Self::Found) -> Result<Plan, Refusal> {
        let (missing, not_ready) = problems(found);
        if !missing.is_empty() {
            return Err(Refusal::new(
                Self::NAME,
                ErrorClass::Permanent,
                format!(
                    "{}; ensure_webhooks must run again (retry the run)",
                    missing.join("; ")
                ),
            ));
        }
        if !not_ready.is_empty() {
            return Err(Refusal::new(
                Self::NAME,
                ErrorClass::Transient,
                not_ready.join("; "),
            ));
        }
        Ok(Plan::default())
    }

    fn verify(_: &StepContext, found: &Self::Found) -> Result<(), Drift> {
        let (mut missing, not_ready) = problems(found);
        missing.extend(not_ready);
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Drift {
                step: Self::NAME,
                differences: missing,
            })
        }
    }
}
