//! `verify_changeover` (api, C4): the new user's webhooks are active and ready and no webhook
//! of the previous user is left. Success yields the audit fact [`Fact::ChangeoverVerified`]
//! with a [`LeftoverCheck`] saying how the absence of leftovers was established; leftovers
//! are a transient refusal (the run retries, then dead-letters with the list).
//!
//! # Who may see the previous user's webhooks (decision)
//!
//! Whether Autotask shows a user other owners' webhooks is undocumented (autotask-api.md §5,
//! \[L\]). From the new user's view alone "none left" and "hidden from me" look the same, so
//! only a read with the **previous user's own credentials** counts as having seen them:
//!
//! 1. With the previous user's credentials (when the run has them) the step reads its
//!    webhooks of every family. Answered: that is the truth — leftovers are refused, none is
//!    [`LeftoverCheck::PreviousCredentials`].
//! 2. When those credentials are missing or rejected (typically because this run deactivated
//!    the user again), the step reads with the new user's credentials. Leftovers it can see
//!    exist for certain and are refused as above. Seeing none proves nothing, so:
//!    - if this run's `delete_previous_webhooks` succeeded, its verification read the
//!      previous user's webhooks with that user's credentials and found none
//!      ([`LeftoverCheck::AtCleanup`]); only the previous user can create webhooks it owns,
//!      and Autotask deactivates a deactivated user's webhooks anyway \[H\];
//!    - otherwise the step says so: [`LeftoverCheck::NotChecked`] with the reason, recorded in
//!      the run's facts and shown by `onboard status`, the dashboard and the API.
//!
//! The step still succeeds with `NotChecked` rather than waiting or failing: it happens in
//! runs that were not given the means to look (a `verify` run without the previous user's
//! credentials, or one whose previous user was deactivated outside the run), no operator
//! action in the web interface can make the webhooks visible to the new user, and the new
//! user's own webhooks — what the changeover needs — were verified. Passing silently is what
//! it must not do, and it does not.

use autotask_types::{ResourceId, Webhook, WebhookFamily};

use super::{Definition, StepContext, new_user_id, previous_user};
use crate::catalog::StepName;
use crate::observe::{CallFailure, Lookup, Role};
use crate::plan::{Drift, Fact, LeftoverCheck, Plan, Refusal};
use crate::retry::ErrorClass;
use crate::steps::await_webhooks_ready::{gather_ours, problems};
use crate::steps::find_previous_webhooks::previous_webhooks_read;

pub(crate) struct Step;

#[derive(Debug)]
pub(crate) struct Found {
    ours: Vec<(WebhookFamily, Option<Webhook>)>,
    previous: ResourceId,
    left: Vec<(WebhookFamily, Webhook)>,
    check: LeftoverCheck,
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

/// The previous user's webhooks of every family read with `credentials`: `None` while reads
/// are missing, `Err` with the first failure.
fn read_left(
    l: &mut Lookup<'_>,
    credentials: Role,
    previous: ResourceId,
) -> Option<Result<Vec<(WebhookFamily, Webhook)>, CallFailure>> {
    let mut left = Vec::new();
    let mut failure = None;
    let mut complete = true;
    for family in WebhookFamily::ALL {
        match l.webhooks(previous_webhooks_read(credentials, family, previous)) {
            None => complete = false,
            Some(Ok(ws)) => left.extend(
                ws.into_iter()
                    .filter(|w| w.owner_resource_id.is_none_or(|o| o == previous))
                    .map(|w| (family, w)),
            ),
            Some(Err(f)) => {
                failure.get_or_insert(f);
            }
        }
    }
    if !complete {
        return None;
    }
    Some(match failure {
        Some(f) => Err(f),
        None => Ok(left),
    })
}

fn failed(family_reads: &str, f: &CallFailure) -> Refusal {
    Refusal::failed_read(Step::NAME, family_reads, f)
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
        let what = "the previous user's webhooks";
        // 1. With the previous user's own credentials, when the run has them.
        let not_seen = if ctx.has_previous_credentials {
            match read_left(l, Role::Previous, previous) {
                None => return Ok(None),
                Some(Ok(left)) => {
                    return Ok(ours.map(|ours| Found {
                        ours,
                        previous,
                        left,
                        check: LeftoverCheck::PreviousCredentials,
                    }));
                }
                Some(Err(CallFailure::CredentialsRejected)) => {
                    "Autotask rejects the previous user's credentials (it is inactive, or they \
                     were changed)"
                }
                Some(Err(f)) => return Err(failed(what, &f)),
            }
        } else {
            "the run has no credentials of the previous user"
        };
        // 2. The new user's view: what it shows is there; what it does not show may be hidden.
        let left = match read_left(l, Role::New, previous) {
            None => return Ok(None),
            Some(Ok(left)) => left,
            Some(Err(f)) => return Err(failed(what, &f)),
        };
        let check = if ctx.cleanup_verified {
            LeftoverCheck::AtCleanup
        } else {
            LeftoverCheck::NotChecked {
                reason: format!(
                    "{not_seen}, and the new user's view shows none of its webhooks, which \
                     Autotask may hide from other users; run cleanup_webhooks with the previous \
                     user's credentials to check and remove them"
                ),
            }
        };
        Ok(ours.map(|ours| Found {
            ours,
            previous,
            left,
            check,
        }))
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
            leftovers: Some(found.check.clone()),
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
