//! `verify_webhook_permission` (operator-verified, W1..W4): the new user may create webhooks
//! of every configured family (`{Family}Webhooks/entityInformation` → `canCreate`, read with
//! the user's own credentials; a 403 counts as "may not"). The remediation explains copying
//! "API User (system)" into a custom level, since system levels cannot be edited.

use autotask_types::WebhookFamily;

use super::{Definition, StepContext};
use crate::catalog::StepName;
use crate::observe::{CallFailure, Lookup, Read, Role};
use crate::plan::{Drift, Finding, Plan, Refusal};
use crate::retry::ErrorClass;

pub(crate) struct Step;

#[derive(Debug)]
pub(crate) struct Found {
    denied: Vec<WebhookFamily>,
}

impl Definition for Step {
    const NAME: StepName = StepName::VerifyWebhookPermission;
    type Found = Found;

    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Found>, Refusal> {
        let answers: Vec<_> = ctx
            .settings
            .families()
            .map(|family| {
                (
                    family,
                    l.entity_information(Read::WebhookEntityInformation {
                        credentials: Role::New,
                        family,
                    }),
                )
            })
            .collect();
        let mut denied = Vec::new();
        for (family, a) in answers {
            match a {
                None => return Ok(None),
                Some(Ok(info)) if info.can_create == Some(true) => {}
                Some(Ok(_)) | Some(Err(CallFailure::NotPermitted { .. })) => denied.push(family),
                Some(Err(CallFailure::CredentialsRejected)) => {
                    // The instructions are those of verify_api_user (credentials, A1..A13).
                    let mut r = Refusal::operator(
                        StepName::VerifyApiUser,
                        ErrorClass::OperatorPending,
                        vec![Finding::CredentialsRejected {
                            user_name: ctx.new_user_name.clone(),
                        }],
                    );
                    r.step = Self::NAME;
                    return Err(r);
                }
                Some(Err(f)) => {
                    return Err(Refusal::failed_read(
                        Self::NAME,
                        &format!("{} webhook permissions", family),
                        &f,
                    ));
                }
            }
        }
        Ok(Some(Found { denied }))
    }

    fn plan(_: &StepContext, found: &Found) -> Result<Plan, Refusal> {
        if found.denied.is_empty() {
            Ok(Plan::default())
        } else {
            Err(Refusal::operator(
                Self::NAME,
                ErrorClass::OperatorPending,
                vec![Finding::WebhookPermissionMissing {
                    families: found.denied.clone(),
                }],
            ))
        }
    }

    fn verify(_: &StepContext, found: &Found) -> Result<(), Drift> {
        if found.denied.is_empty() {
            Ok(())
        } else {
            Err(Drift {
                step: Self::NAME,
                differences: vec![
                    Finding::WebhookPermissionMissing {
                        families: found.denied.clone(),
                    }
                    .en(),
                ],
            })
        }
    }
}
