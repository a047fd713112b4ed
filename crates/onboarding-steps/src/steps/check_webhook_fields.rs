//! `check_webhook_fields` (api, read-only, no seed step): every configured webhook field and
//! user-defined field label is one that Autotask offers for its family (the picklists of
//! `fieldID` in `{Family}WebhookFields/entityInformation/fields` and of `udfFieldID` in
//! `{Family}WebhookUdfFields/entityInformation/fields`, read with the new user's credentials;
//! the UDF metadata only for families that name UDFs).
//!
//! It runs right after the budget check and before any operator step, so a misspelt or
//! foreign label (e.g. Ticket's "Status" for Company) fails the run within seconds, naming the
//! setting and listing the family's valid labels closest first, instead of after the operator
//! has done the web-interface work. `ensure_webhooks` resolves the labels the same way
//! ([`crate::fields`]). While the new user's credentials are rejected the step waits with
//! `verify_api_user`'s instructions: the metadata cannot be read before the user exists.

use autotask_types::{FieldInfo, WebhookFamily};

use super::{Definition, StepContext, credentials_rejected};
use crate::catalog::StepName;
use crate::fields::{self, Labels};
use crate::observe::{CallFailure, Lookup, Read, Role};
use crate::plan::{Drift, Finding, Plan, Refusal};

pub(crate) struct Step;

#[derive(Debug)]
pub(crate) struct Found {
    infos: Vec<(WebhookFamily, Labels, Vec<FieldInfo>)>,
}

impl Definition for Step {
    const NAME: StepName = StepName::CheckWebhookFields;
    type Found = Found;

    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Found>, Refusal> {
        let mut answers = Vec::new();
        for f in &ctx.settings.webhook_families {
            let family = f.family;
            let read = Read::WebhookFieldInfo {
                credentials: Role::New,
                family,
            };
            answers.push((family, Labels::Fields, l.fields(read)));
            if !f.subscribed_udf_fields.is_empty() {
                let read = Read::WebhookUdfFieldInfo {
                    credentials: Role::New,
                    family,
                };
                answers.push((family, Labels::Udfs, l.fields(read)));
            }
        }
        let mut infos = Vec::new();
        let mut complete = true;
        for (family, labels, answer) in answers {
            match answer {
                None => complete = false,
                Some(Ok(info)) => infos.push((family, labels, info)),
                Some(Err(CallFailure::CredentialsRejected)) => {
                    return Err(credentials_rejected(Self::NAME, &ctx.new_user_name));
                }
                Some(Err(f)) => {
                    return Err(Refusal::failed_read(
                        Self::NAME,
                        &format!("{family} webhook field metadata"),
                        &f,
                    ));
                }
            }
        }
        if !complete {
            return Ok(None);
        }
        Ok(Some(Found { infos }))
    }

    fn plan(ctx: &StepContext, found: &Found) -> Result<Plan, Refusal> {
        let mut unknown = Vec::new();
        for (family, labels, info) in &found.infos {
            if let Err(r) = fields::resolve(Self::NAME, &ctx.settings, *family, *labels, info) {
                if r.findings.is_empty() {
                    return Err(r);
                }
                unknown.extend(r.findings);
            }
        }
        if unknown.is_empty() {
            Ok(Plan::default())
        } else {
            Err(fields::refusal(Self::NAME, unknown))
        }
    }

    fn verify(ctx: &StepContext, found: &Found) -> Result<(), Drift> {
        Self::plan(ctx, found).map(|_| ()).map_err(|r| Drift {
            step: Self::NAME,
            differences: r.findings.iter().map(Finding::en).collect(),
        })
    }
}
