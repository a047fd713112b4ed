//! `verify_lines_of_business` (operator-verified, A11): when the tenant uses the
//! organizational structure (it has level associations), the new user belongs to every
//! configured line of business (default General > IT Services, General > Software
//! Development). Membership is query-only in the API, so a missing one waits for the operator.
//! A configured line of business the tenant does not have is a refused precondition.

use std::collections::BTreeSet;

use autotask_types::{
    Filter, OrganizationalLevel1, OrganizationalLevel2, OrganizationalLevelAssociation,
    OrganizationalResource, Query,
};

use super::{Definition, StepContext, new_user_id};
use crate::catalog::StepName;
use crate::observe::{CallFailure, Lookup, Read, Role};
use crate::plan::{Drift, Finding, Plan, Refusal};
use crate::retry::ErrorClass;

pub(crate) struct Step;

#[derive(Debug)]
pub(crate) struct Found {
    /// `None` when the organizational structure is off (no associations).
    missing: Option<Vec<String>>,
}

fn unwrap<T>(
    step: StepName,
    what: &str,
    v: Option<Result<T, CallFailure>>,
) -> Result<Option<T>, Refusal> {
    match v {
        None => Ok(None),
        Some(Ok(v)) => Ok(Some(v)),
        Some(Err(f)) => Err(Refusal::failed_read(step, what, &f)),
    }
}

impl Definition for Step {
    const NAME: StepName = StepName::VerifyLinesOfBusiness;
    type Found = Found;

    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Found>, Refusal> {
        let all = |credentials| (credentials, Query::all());
        let (c, q) = all(Role::New);
        let l1 = l.level1s(Read::OrganizationalLevel1s {
            credentials: c,
            query: q.clone(),
        });
        let l2 = l.level2s(Read::OrganizationalLevel2s {
            credentials: c,
            query: q.clone(),
        });
        let assoc = l.associations(Read::OrganizationalLevelAssociations {
            credentials: c,
            query: q,
        });
        let id = new_user_id(Self::NAME, ctx, l)?;
        let (Some(l1), Some(l2), Some(assoc), Some(id)) = (
            unwrap::<Vec<OrganizationalLevel1>>(Self::NAME, "level 1s", l1)?,
            unwrap::<Vec<OrganizationalLevel2>>(Self::NAME, "level 2s", l2)?,
            unwrap::<Vec<OrganizationalLevelAssociation>>(Self::NAME, "associations", assoc)?,
            id,
        ) else {
            return Ok(None);
        };
        if assoc.is_empty() {
            return Ok(Some(Found { missing: None }));
        }
        let Some(members) = unwrap::<Vec<OrganizationalResource>>(
            Self::NAME,
            "the user's lines of business",
            l.memberships(Read::OrganizationalResources {
                credentials: Role::New,
                query: Query::new([Filter::eq("resourceID", id.get())]),
            }),
        )?
        else {
            return Ok(None);
        };
        let member_of: BTreeSet<i64> = members
            .iter()
            .filter_map(|m| m.organizational_level_association_id.map(|a| a.get()))
            .collect();
        let mut missing = Vec::new();
        for (i, lob) in ctx.settings.lines_of_business.iter().enumerate() {
            let named = |name: &Option<String>, want: &str| {
                name.as_deref()
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case(want.trim()))
            };
            let ids1: Vec<_> = l1
                .iter()
                .filter(|x| named(&x.name, &lob.level1))
                .filter_map(|x| x.id)
                .collect();
            let ids2: Vec<_> = l2
                .iter()
                .filter(|x| named(&x.name, &lob.level2))
                .filter_map(|x| x.id)
                .collect();
            let a: Vec<_> = assoc
                .iter()
                .filter(|a| {
                    a.organizational_level1_id
                        .is_some_and(|i| ids1.contains(&i))
                        && a.organizational_level2_id
                            .is_some_and(|i| ids2.contains(&i))
                        && a.is_active != Some(false)
                })
                .filter_map(|a| a.id)
                .collect();
            if a.is_empty() {
                let found = vec![Finding::LineOfBusinessUnknown {
                    line: lob.to_string(),
                }];
                return Err(Refusal {
                    step: Self::NAME,
                    class: ErrorClass::Permanent,
                    reason: format!(
                        "the tenant has no active line of business {lob} (setting \
                         `lines_of_business[{i}]`): create it in Autotask or change the setting"
                    ),
                    remediation: None,
                    findings: found,
                });
            }
            if !a.iter().any(|id| member_of.contains(&id.get())) {
                missing.push(lob.to_string());
            }
        }
        Ok(Some(Found {
            missing: Some(missing),
        }))
    }

    fn plan(_: &StepContext, found: &Found) -> Result<Plan, Refusal> {
        match &found.missing {
            Some(lines) if !lines.is_empty() => Err(Refusal::operator(
                Self::NAME,
                ErrorClass::OperatorPending,
                vec![Finding::LinesOfBusinessMissing {
                    lines: lines.clone(),
                }],
            )),
            _ => Ok(Plan::default()),
        }
    }

    fn verify(_: &StepContext, found: &Found) -> Result<(), Drift> {
        match &found.missing {
            Some(lines) if !lines.is_empty() => Err(Drift {
                step: Self::NAME,
                differences: vec![
                    Finding::LinesOfBusinessMissing {
                        lines: lines.clone(),
                    }
                    .en(),
                ],
            }),
            _ => Ok(()),
        }
    }
}
