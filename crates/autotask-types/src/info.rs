//! Metadata and account information: zone discovery, the hourly request threshold, entity
//! capabilities and field metadata with picklists.

use serde::{Deserialize, Serialize};

/// `zoneInformation?user=` answer: where a user's database lives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneInformation {
    /// Zone name, e.g. "America East".
    #[serde(default)]
    pub zone_name: Option<String>,
    /// REST base URL, e.g. `https://webservices15.autotask.net/ATServicesRest/`.
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
    /// Requests allowed per timeframe (10,000 by default).
    pub external_request_threshold: u32,
    /// The timeframe in minutes (60).
    pub request_threshold_timeframe: u32,
    /// Requests made in the current rolling timeframe, by all integrations.
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityInformation {
    /// Entity name.
    #[serde(default)]
    pub name: Option<String>,
    /// Create allowed.
    #[serde(default)]
    pub can_create: bool,
    /// Delete allowed.
    #[serde(default)]
    pub can_delete: bool,
    /// Query allowed.
    #[serde(default)]
    pub can_query: bool,
    /// Update allowed.
    #[serde(default)]
    pub can_update: bool,
    /// Access level objects (shape undocumented; kept raw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_access_for_create: Option<serde_json::Value>,
    /// See `user_access_for_create`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_access_for_delete: Option<serde_json::Value>,
    /// See `user_access_for_create`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_access_for_query: Option<serde_json::Value>,
    /// See `user_access_for_create`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_access_for_update: Option<serde_json::Value>,
    /// Has user-defined fields.
    #[serde(default)]
    pub has_user_defined_fields: bool,
    /// Supports webhook callouts.
    #[serde(default)]
    pub supports_webhook_callouts: bool,
}

/// One picklist entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PicklistValue {
    /// The stored value (a string on the wire, often numeric).
    pub value: String,
    /// The label shown in the UI, e.g. "API User (system)".
    pub label: String,
    /// Default value.
    #[serde(default)]
    pub is_default_value: bool,
    /// Sort order.
    #[serde(default)]
    pub sort_order: Option<i32>,
    /// Parent value for dependent picklists.
    #[serde(default)]
    pub parent_value: Option<String>,
    /// Active entry.
    #[serde(default)]
    pub is_active: bool,
    /// System entry.
    #[serde(default)]
    pub is_system: bool,
}

/// `{Entity}/entityInformation/fields` → one of `fields`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldInfo {
    /// Field name, e.g. `licenseType`.
    pub name: String,
    /// Data type, e.g. `integer`.
    #[serde(default)]
    pub data_type: Option<String>,
    /// Maximum length.
    #[serde(default)]
    pub length: Option<i32>,
    /// Required on create.
    #[serde(default)]
    pub is_required: bool,
    /// Read-only.
    #[serde(default)]
    pub is_read_only: bool,
    /// Queryable.
    #[serde(default)]
    pub is_queryable: bool,
    /// A reference to another entity.
    #[serde(default)]
    pub is_reference: bool,
    /// The referenced entity.
    #[serde(default)]
    pub reference_entity_type: Option<String>,
    /// A picklist.
    #[serde(default)]
    pub is_pick_list: bool,
    /// The picklist entries.
    #[serde(default)]
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
    #[serde(default)]
    pub is_required: bool,
    /// A picklist.
    #[serde(default)]
    pub is_pick_list: bool,
    /// Picklist entries.
    #[serde(default)]
    pub picklist_values: Vec<PicklistValue>,
}
