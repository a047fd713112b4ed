//! Metadata and account information: zone discovery, the hourly request threshold, entity
//! capabilities and field metadata with picklists.
//!
//! Every property may be `null` or absent (see [`crate::lenient`]): fields without an unset
//! value read both as their default, the threshold's numbers as Autotask's documented
//! defaults (10,000 requests per 60 minutes, none used), so a `null` never reads as "the
//! budget is zero".

use serde::{Deserialize, Deserializer, Serialize};

use crate::AccessLevel;
use crate::lenient::null_as_default;

/// Autotask's documented hourly threshold (`autotask-api.md` §3, \[H\]).
const DEFAULT_THRESHOLD: u32 = 10_000;
/// Autotask's documented timeframe in minutes.
const DEFAULT_TIMEFRAME: u32 = 60;

fn default_threshold() -> u32 {
    DEFAULT_THRESHOLD
}

fn default_timeframe() -> u32 {
    DEFAULT_TIMEFRAME
}

fn null_as_default_threshold<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Option::<u32>::deserialize(d).map(|v| v.unwrap_or(DEFAULT_THRESHOLD))
}

fn null_as_default_timeframe<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Option::<u32>::deserialize(d).map(|v| v.unwrap_or(DEFAULT_TIMEFRAME))
}

/// `zoneInformation?user=` answer: where a user's database lives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneInformation {
    /// Zone name, e.g. "America East".
    #[serde(default)]
    pub zone_name: Option<String>,
    /// REST base URL, e.g. `https://webservices15.autotask.net/ATServicesRest/` (empty when
    /// Autotask sends none; the client then refuses the zone).
    #[serde(default, deserialize_with = "null_as_default")]
    pub url: String,
    /// Web UI URL.
    #[serde(default)]
    pub web_url: Option<String>,
    /// Unique id of the database.
    #[serde(default)]
    pub ci: Option<i64>,
}

/// `ThresholdInformation`: the database's hourly request budget and its use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdInformation {
    /// Requests allowed per timeframe (10,000 by default; also when null or absent).
    #[serde(
        default = "default_threshold",
        deserialize_with = "null_as_default_threshold"
    )]
    pub external_request_threshold: u32,
    /// The timeframe in minutes (60; also when null or absent).
    #[serde(
        default = "default_timeframe",
        deserialize_with = "null_as_default_timeframe"
    )]
    pub request_threshold_timeframe: u32,
    /// Requests made in the current rolling timeframe, by all integrations (0 when null or
    /// absent).
    #[serde(default, deserialize_with = "null_as_default")]
    pub current_timeframe_request_count: u32,
}

impl ThresholdInformation {
    /// Share of the budget used, 0.0..=1.0 (or above when exceeded); 1.0 when the threshold
    /// is zero.
    pub fn used_ratio(&self) -> f64 {
        if self.external_request_threshold == 0 {
            return 1.0;
        }
        f64::from(self.current_timeframe_request_count) / f64::from(self.external_request_threshold)
    }
}

/// `{Entity}/entityInformation` → `info`: what the caller may do with an entity.
///
/// `can*` say whether the entity supports the operation through the API at all (and may be
/// narrowed by the caller's rights); `None` when Autotask sends null or nothing. The caller's
/// own right is `user_access_for_*` ([`AccessLevel`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityInformation {
    /// Entity name.
    #[serde(default)]
    pub name: Option<String>,
    /// Create supported.
    #[serde(default)]
    pub can_create: Option<bool>,
    /// Delete supported.
    #[serde(default)]
    pub can_delete: Option<bool>,
    /// Query supported.
    #[serde(default)]
    pub can_query: Option<bool>,
    /// Update supported.
    #[serde(default)]
    pub can_update: Option<bool>,
    /// The caller's access level for creates.
    #[serde(default, skip_serializing_if = "AccessLevel::is_unknown")]
    pub user_access_for_create: AccessLevel,
    /// The caller's access level for deletes.
    #[serde(default, skip_serializing_if = "AccessLevel::is_unknown")]
    pub user_access_for_delete: AccessLevel,
    /// The caller's access level for queries.
    #[serde(default, skip_serializing_if = "AccessLevel::is_unknown")]
    pub user_access_for_query: AccessLevel,
    /// The caller's access level for updates.
    #[serde(default, skip_serializing_if = "AccessLevel::is_unknown")]
    pub user_access_for_update: AccessLevel,
    /// Has user-defined fields.
    #[serde(default, deserialize_with = "null_as_default")]
    pub has_user_defined_fields: bool,
    /// Supports webhook callouts.
    #[serde(default, deserialize_with = "null_as_default")]
    pub supports_webhook_callouts: bool,
}

impl EntityInformation {
    /// Whether the caller may create this entity, from its access level: `Some(true)`,
    /// `Some(false)`, or `None` when the level cannot tell (see [`AccessLevel::permits`]).
    pub fn user_may_create(&self) -> Option<bool> {
        self.user_access_for_create.permits()
    }
}

/// One picklist entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PicklistValue {
    /// The stored value (a string on the wire, often numeric).
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: String,
    /// The label shown in the UI, e.g. "API User (system)".
    #[serde(default, deserialize_with = "null_as_default")]
    pub label: String,
    /// Default value.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_default_value: bool,
    /// Sort order.
    #[serde(default)]
    pub sort_order: Option<i32>,
    /// Parent value for dependent picklists.
    #[serde(default)]
    pub parent_value: Option<String>,
    /// Active entry.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_active: bool,
    /// System entry.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_system: bool,
}

/// `{Entity}/entityInformation/fields` → one of `fields`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldInfo {
    /// Field name, e.g. `licenseType`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// Data type, e.g. `integer`.
    #[serde(default)]
    pub data_type: Option<String>,
    /// Maximum length.
    #[serde(default)]
    pub length: Option<i32>,
    /// Required on create.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_required: bool,
    /// Read-only.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_read_only: bool,
    /// Queryable.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_queryable: bool,
    /// A reference to another entity.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_reference: bool,
    /// The referenced entity.
    #[serde(default)]
    pub reference_entity_type: Option<String>,
    /// A picklist.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_pick_list: bool,
    /// The picklist entries.
    #[serde(default, deserialize_with = "null_as_default")]
    pub picklist_values: Vec<PicklistValue>,
    /// Parent field of a dependent picklist.
    #[serde(default)]
    pub picklist_parent_value_field: Option<String>,
    /// Whether the field can trigger or appear in webhooks (typed as an object in the
    /// contract; a boolean in practice).
    #[serde(default)]
    pub is_supported_webhook_field: Option<serde_json::Value>,
}

impl FieldInfo {
    /// The picklist value whose label matches `label` (case-insensitive).
    pub fn picklist_value(&self, label: &str) -> Option<&PicklistValue> {
        self.picklist_values
            .iter()
            .find(|v| v.label.eq_ignore_ascii_case(label))
    }
}

/// `{Entity}/entityInformation/userDefinedFields` → one of `fields`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UdfFieldInfo {
    /// UDF name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// Label.
    #[serde(default)]
    pub label: Option<String>,
    /// Type.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Required.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_required: bool,
    /// A picklist.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_pick_list: bool,
    /// Picklist entries.
    #[serde(default, deserialize_with = "null_as_default")]
    pub picklist_values: Vec<PicklistValue>,
}
