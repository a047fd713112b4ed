//! The console's data: what the operator types in (a new API user, the whole seed) and what
//! the web interface shows back (created credentials, a resource's view, lines of business).
//! Secrets are redacted in `Debug`.
//!
//! What it does not do: no behaviour; `database` and `seed` act on these.

use serde::{Deserialize, Serialize};

use crate::state::SOPHOS_VENDOR_NAME;

/// General fields of a new API user (seed A4–A6).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NewApiUser {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Email (receives integration error mails).
    pub email: String,
    /// Active (A6).
    pub active: bool,
    /// Locked.
    pub locked: bool,
}

/// A created API user: the generated key (username) and secret, shown once.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiUserCreated {
    /// The resource id.
    pub resource_id: i64,
    /// The generated key, email-formatted: the `UserName` header.
    pub user_name: String,
    /// The generated secret: the `Secret` header.
    pub secret: String,
}

impl std::fmt::Debug for ApiUserCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiUserCreated")
            .field("resource_id", &self.resource_id)
            .field("user_name", &self.user_name)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Everything the web interface shows about a resource (for tests and the demo).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiUserView {
    /// Resource id.
    pub resource_id: i64,
    /// Username.
    pub user_name: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Active.
    pub active: bool,
    /// Locked.
    pub locked: bool,
    /// API-only resource.
    pub api_only: bool,
    /// Security level id.
    pub security_level_id: Option<i64>,
    /// Security level name.
    pub security_level: Option<String>,
    /// Tracking identifier: the vendor's name, or "Custom (Internal Integration)".
    pub tracking_identifier: Option<String>,
    /// Associated lines of business ("Level1 > Level2").
    pub lines_of_business: Vec<String>,
    /// "Resource can view items with no assigned Line of Business".
    pub view_items_with_no_lob: bool,
    /// Webhooks created over the account's lifetime.
    pub webhooks_created: u32,
}

/// A line of business (an organizational level association).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineOfBusiness {
    /// The association id (what `OrganizationalResources` reference).
    pub association_id: i64,
    /// "Level1 > Level2".
    pub name: String,
}

/// The whole seed (A1–A13, W1–W4) in one call, for tests that need a ready API user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedApiUser {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Integration vendor name (A10); `None` = custom internal integration.
    pub vendor: Option<String>,
    /// Webhook maximum of the copied level (W3); `None` keeps "API User (system)".
    pub webhook_max: Option<u32>,
    /// Lines of business (A11).
    pub lines_of_business: Vec<String>,
    /// A12.
    pub view_items_with_no_lob: bool,
}

impl Default for SeedApiUser {
    fn default() -> Self {
        Self {
            first_name: "Sophos".into(),
            last_name: "Integration".into(),
            vendor: Some(SOPHOS_VENDOR_NAME.into()),
            webhook_max: Some(10),
            lines_of_business: vec![
                "General > IT Services".into(),
                "General > Software Development".into(),
            ],
            view_items_with_no_lob: true,
        }
    }
}

/// A seeded API user with the code to send as `ApiIntegrationCode`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeededApiUser {
    /// Resource id.
    pub resource_id: i64,
    /// `UserName`.
    pub user_name: String,
    /// `Secret`.
    pub secret: String,
    /// `ApiIntegrationCode`.
    pub integration_code: String,
    /// The security level assigned.
    pub security_level_id: i64,
}

impl std::fmt::Debug for SeededApiUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeededApiUser")
            .field("resource_id", &self.resource_id)
            .field("user_name", &self.user_name)
            .field("secret", &"<redacted>")
            .field("security_level_id", &self.security_level_id)
            .finish_non_exhaustive()
    }
}
