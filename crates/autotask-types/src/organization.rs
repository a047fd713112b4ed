//! Lines of business: `OrganizationalLevel1s` (e.g. "General"), `OrganizationalLevel2s`
//! (e.g. "IT Services"), their associations ("General > IT Services") and
//! `OrganizationalResources` (which resource belongs to which association; query-only).

use serde::{Deserialize, Serialize};

use crate::{Endpoint, Entity, Id, Resource};

/// Organizational level 1 (a division, e.g. "General").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationalLevel1 {
    /// Id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Id<OrganizationalLevel1>>,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

/// Organizational level 2 (a line of business, e.g. "IT Services").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationalLevel2 {
    /// Id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Id<OrganizationalLevel2>>,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

/// A level-1 > level-2 pair, e.g. "General > IT Services".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationalLevelAssociation {
    /// Id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Id<OrganizationalLevelAssociation>>,
    /// Whether active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// The level-1 id.
    #[serde(
        rename = "organizationalLevel1ID",
        skip_serializing_if = "Option::is_none"
    )]
    pub organizational_level1_id: Option<Id<OrganizationalLevel1>>,
    /// The level-2 id.
    #[serde(
        rename = "organizationalLevel2ID",
        skip_serializing_if = "Option::is_none"
    )]
    pub organizational_level2_id: Option<Id<OrganizationalLevel2>>,
}

/// Membership of a resource in an association (query-only in the API).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationalResource {
    /// Id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Id<OrganizationalResource>>,
    /// The association.
    #[serde(
        rename = "organizationalLevelAssociationID",
        skip_serializing_if = "Option::is_none"
    )]
    pub organizational_level_association_id: Option<Id<OrganizationalLevelAssociation>>,
    /// The resource.
    #[serde(rename = "resourceID", skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<Id<Resource>>,
}

macro_rules! root_entity {
    ($ty:ident, $name:literal, $path:literal) => {
        impl Entity for $ty {
            const ENTITY: &'static str = $name;
        }
        impl $ty {
            #[doc = concat!("`", $path, "`.")]
            pub fn endpoint() -> Endpoint<Self> {
                Endpoint::root($path)
            }
        }
    };
}

root_entity!(
    OrganizationalLevel1,
    "OrganizationalLevel1",
    "OrganizationalLevel1s"
);
root_entity!(
    OrganizationalLevel2,
    "OrganizationalLevel2",
    "OrganizationalLevel2s"
);
root_entity!(
    OrganizationalLevelAssociation,
    "OrganizationalLevelAssociation",
    "OrganizationalLevelAssociations"
);
root_entity!(
    OrganizationalResource,
    "OrganizationalResource",
    "OrganizationalResources"
);
