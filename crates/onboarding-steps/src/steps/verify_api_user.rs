//! `verify_api_user` (operator-verified, A1..A10, A13): the new user's credentials and the
//! vendor's integration code authenticate; exactly one user has the username; it is active,
//! an API-only user (license label contains "API"), and has first name, last name and email.
//! Two users with one username is a refused precondition (permanent): onboard will not guess.

use autotask_types::{FieldInfo, Resource};

use super::{Definition, StepContext, ambiguous_user, id_of, user_read};
use crate::catalog::StepName;
use crate::observe::{CallFailure, Lookup, Read, Role};
use crate::plan::{Drift, Fact, Finding, Plan, Refusal};
use crate::retry::ErrorClass;

pub(crate) struct Step;

#[derive(Debug)]
pub(crate) struct Found {
    user: Resource,
    license: Option<String>,
}

fn findings(ctx: &StepContext, found: &Found) -> Vec<Finding> {
    let user_name = ctx.new_user_name.clone();
    let u = &found.user;
    let mut out = Vec::new();
    if u.is_active != Some(true) {
        out.push(Finding::UserInactive {
            user_name: user_name.clone(),
        });
    }
    let license = found
        .license
        .clone()
        .unwrap_or_else(|| match u.license_type {
            Some(v) => format!("value {v}"),
            None => "none".into(),
        });
    if !license.to_ascii_lowercase().contains("api") {
        out.push(Finding::NotApiUser { user_name, license });
    }
    let empty = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
    let missing: Vec<String> = [
        ("firstName", &u.first_name),
        ("lastName", &u.last_name),
        ("email", &u.email),
    ]
    .into_iter()
    .filter(|(_, v)| empty(v))
    .map(|(n, _)| n.to_owned())
    .collect();
    if !missing.is_empty() {
        out.push(Finding::MissingUserFields { fields: missing });
    }
    out
}

impl Definition for Step {
    const NAME: StepName = StepName::VerifyApiUser;
    type Found = Found;

    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Found>, Refusal> {
        let users = l.resources(user_read(Role::New, &ctx.new_user_name));
        let fields = l.fields(Read::ResourceFields {
            credentials: Role::New,
        });
        let user_name = ctx.new_user_name.clone();
        let users = match users {
            None => return Ok(None),
            Some(Err(CallFailure::CredentialsRejected)) => {
                // With admin credentials the user can still be seen: an inactive user is the
                // common reason for rejected credentials.
                let mut found = vec![Finding::CredentialsRejected {
                    user_name: user_name.clone(),
                }];
                if ctx.has_admin_credentials {
                    match l.resources(user_read(Role::Admin, &ctx.new_user_name)) {
                        None => return Ok(None),
                        Some(Ok(rows)) if rows.is_empty() => {
                            found = vec![Finding::UserNotFound { user_name }];
                        }
                        Some(Ok(rows)) if rows.iter().all(|r| r.is_active == Some(false)) => {
                            found = vec![Finding::UserInactive { user_name }];
                        }
                        Some(_) => {}
                    }
                }
                return Err(Refusal::operator(
                    Self::NAME,
                    ErrorClass::OperatorPending,
                    found,
                ));
            }
            Some(Err(f)) => return Err(Refusal::failed_read(Self::NAME, "the API user", &f)),
            Some(Ok(users)) => users,
        };
        let user = match users.len() {
            0 => {
                return Err(Refusal::operator(
                    Self::NAME,
                    ErrorClass::OperatorPending,
                    vec![Finding::UserNotFound { user_name }],
                ));
            }
            1 => users.into_iter().next().unwrap_or_default(),
            n => return Err(ambiguous_user(Self::NAME, &user_name, n)),
        };
        let fields: Vec<FieldInfo> = match fields {
            None => return Ok(None),
            Some(Ok(f)) => f,
            Some(Err(f)) => {
                return Err(Refusal::failed_read(Self::NAME, "the user fields", &f));
            }
        };
        let license = user.license_type.and_then(|v| {
            fields
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case("licenseType"))
                .and_then(|f| f.picklist_values.iter().find(|p| p.value == v.to_string()))
                .map(|p| p.label.clone())
        });
        Ok(Some(Found { user, license }))
    }

    fn plan(ctx: &StepContext, found: &Found) -> Result<Plan, Refusal> {
        let f = findings(ctx, found);
        if !f.is_empty() {
            return Err(Refusal::operator(
                Self::NAME,
                ErrorClass::OperatorPending,
                f,
            ));
        }
        Ok(Plan::facts(vec![Fact::NewUser {
            id: id_of(Self::NAME, &found.user)?,
        }]))
    }

    fn verify(ctx: &StepContext, found: &Found) -> Result<(), Drift> {
        let f = findings(ctx, found);
        if f.is_empty() {
            Ok(())
        } else {
            Err(Drift {
                step: Self::NAME,
                differences: f.iter().map(Finding::en).collect(),
            })
        }
    }
}
