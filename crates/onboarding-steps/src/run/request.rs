//! What an upstream system asks for: the run request, validated once, and the credential
//! references it carries (never secrets).

use serde::{Deserialize, Serialize};

use super::*;
use crate::Error;
use crate::observe::Role;
use crate::payload::CredentialRef;
use crate::settings::{TenantSettings, validate_tenant_id};

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
