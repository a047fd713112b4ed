//! What an upstream system asks for: the run request, validated once, and the credential
//! references it carries (never secrets).

use serde::{Deserialize, Serialize};

use super::*;
use crate::Error;
use crate::observe::Role;
use crate::payload::CredentialRef;
use crate::settings::{TenantSettings, validate_tenant_id};

/// Longest tenant name accepted (characters).
pub const MAX_TENANT_NAME: usize = 200;
/// Longest username accepted (characters; Autotask's `userName` holds 100).
pub const MAX_USER_NAME: usize = 100;

/// Credential references of a run (never secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCredentials {
    /// The (new) API user.
    pub new: CredentialRef,
    /// The previous API user.
    #[serde(default)]
    pub previous: Option<CredentialRef>,
    /// Admin credentials (PATCH `Resources.isActive`).
    #[serde(default)]
    pub admin: Option<CredentialRef>,
}

impl RunCredentials {
    /// The reference for a role.
    pub fn get(&self, role: Role) -> Option<&CredentialRef> {
        match role {
            Role::New => Some(&self.new),
            Role::Previous => self.previous.as_ref(),
            Role::Admin => self.admin.as_ref(),
        }
    }
}

/// What an upstream system asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    /// What to do.
    pub kind: RunKind,
    /// Tenant id.
    pub tenant_id: String,
    /// Tenant name (for people).
    pub tenant_name: String,
    /// Settings.
    pub settings: TenantSettings,
    /// The (new) API user's username.
    pub new_user_name: String,
    /// The previous API user's username.
    #[serde(default)]
    pub previous_user_name: Option<String>,
    /// Credential references.
    pub credentials: RunCredentials,
    /// Report planned calls without making them.
    #[serde(default)]
    pub dry_run: bool,
}

impl RunRequest {
    /// Checks the request; the error names the field.
    /// Checks the request; every string has a maximum length ([`MAX_TENANT_NAME`],
    /// [`MAX_USER_NAME`], and those of [`TenantSettings::validate`]).
    pub fn validate(&self) -> Result<(), Error> {
        validate_tenant_id(&self.tenant_id)?;
        self.settings.validate()?;
        let bad = |field: &str, reason: &str| {
            Err(Error::InvalidSetting {
                field: field.into(),
                reason: reason.into(),
            })
        };
        if self.new_user_name.trim().is_empty() {
            return bad("new_user_name", "must not be empty");
        }
        // Autotask's userName holds at most 100 characters.
        for (field, value) in [
            ("new_user_name", Some(&self.new_user_name)),
            ("previous_user_name", self.previous_user_name.as_ref()),
        ] {
            if value.is_some_and(|v| v.chars().count() > MAX_USER_NAME) {
                return bad(
                    field,
                    "must be at most 100 characters (Autotask's userName)",
                );
            }
        }
        if self.tenant_name.chars().count() > MAX_TENANT_NAME {
            return bad("tenant_name", "must be at most 200 characters");
        }
        if self.kind.needs_previous_user() {
            match &self.previous_user_name {
                None => {
                    return bad(
                        "previous_user_name",
                        "this run kind needs the previous user",
                    );
                }
                Some(p) if p.eq_ignore_ascii_case(&self.new_user_name) => {
                    return bad("previous_user_name", "must differ from new_user_name");
                }
                Some(_) => {}
            }
            if self.credentials.previous.is_none() {
                return bad(
                    "credentials.previous",
                    "this run kind needs the previous user's credential reference",
                );
            }
        }
        Ok(())
    }
}
