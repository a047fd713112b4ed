//! The `Resources` entity (users, including API-only users): the fields onboard reads.
//! Autotask offers query, get, count, PUT and PATCH on it; no create, no delete.

use serde::{Deserialize, Serialize};

use crate::{Endpoint, Entity, Id};

/// An Autotask resource (user). Only the fields onboard needs; others are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// Resource id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Id<Resource>>,
    /// The login: for API users the generated key, email-formatted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// First name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Email (receives integration error mails).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the resource is active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// License type picklist value (labels in `Resources/entityInformation/fields`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_type: Option<i32>,
    /// User type picklist value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_type: Option<i32>,
    /// Resource type (string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// Title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl Entity for Resource {
    const ENTITY: &'static str = "Resource";
}

impl Resource {
    /// `Resources`.
    pub fn endpoint() -> Endpoint<Self> {
        Endpoint::root("Resources")
    }
}
