//! `deactivate_previous_user` (api or operator-verified, no seed step): after cleanup is
//! verified, and only if the run reactivated the previous user or the settings ask for it
//! (the run model decides that), the previous user is made inactive again: by PATCH with
//! admin credentials, otherwise by the operator in the web interface.

use autotask_types::{Resource, ResourceId};

use super::{Definition, StepContext, previous_user};
use crate::catalog::StepName;
use crate::observe::{Lookup, Role};
use crate::plan::{Call, Drift, Finding, Plan, Refusal};
use crate::remediation::Remediation;
use crate::retry::ErrorClass;

pub(crate) struct Step;

#[derive(Debug)]
pub(crate) struct Found {
    name: String,
    id: ResourceId,
    active: bool,
}

impl Definition for Step {
    const NAME: StepName = StepName::DeactivatePreviousUser;
    type Found = Found;

    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Found>, Refusal> {
        Ok(
            previous_user(Self::NAME, ctx, l)?.map(|(name, r, id)| Found {
                name,
                id,
                active: r.is_active != Some(false),
            }),
        )
    }

    fn plan(ctx: &StepContext, found: &Found) -> Result<Plan, Refusal> {
        if !found.active {
            return Ok(Plan::default());
        }
        if ctx.has_admin_credentials {
            return Ok(Plan {
                calls: vec![Call::UpdateResource {
                    credentials: Role::Admin,
                    resource: Resource {
                        id: Some(found.id),
                        is_active: Some(false),
                        ..Resource::default()
                    },
                }],
                facts: Vec::new(),
            });
        }
        let f = vec![Finding::PreviousUserActive {
            user_name: found.name.clone(),
        }];
        Err(Refusal {
            step: Self::NAME,
            class: ErrorClass::OperatorPending,
            reason: f[0].en(),
            remediation: Some(Box::new(Remediation::custom(
                Self::NAME,
                &f,
                "Go to Admin > Resources (Users), open the previous API user, untick Active and \
                 click Save & Close.",
                "Gehen Sie zu Admin > Ressourcen (Benutzer), öffnen Sie den vorherigen \
                 API-Benutzer, entfernen Sie das Häkchen bei Aktiv und klicken Sie auf \
                 Speichern & Schließen.",
            ))),
            findings: f,
        })
    }

    fn verify(_: &StepContext, found: &Found) -> Result<(), Drift> {
        if found.active {
            Err(Drift {
                step: Self::NAME,
                differences: vec![format!("the previous user {} is still active", found.name)],
            })
        } else {
            Ok(())
        }
    }
}
