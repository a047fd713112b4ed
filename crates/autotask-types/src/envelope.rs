//! The response envelopes Autotask wraps entities in: `{item}`, `{items, pageDetails}`,
//! `{itemId}`, `{queryCount}`, `{info}`, `{fields}` and the error body `{errors: [...]}`.

use serde::{Deserialize, Serialize};

use crate::{EntityInformation, FieldInfo};

/// `GET {Entity}/{id}` → `{"item": ...}` (`item` may be null for an unknown id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResult<T> {
    /// The entity, or `None` when Autotask answers `{"item": null}`.
    pub item: Option<T>,
}

/// Paging information of a query page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageDetails {
    /// Rows in this page.
    #[serde(default)]
    pub count: u32,
    /// The page size asked for (500 at most).
    #[serde(default)]
    pub request_count: u32,
    /// Absolute URL of the previous page.
    #[serde(default)]
    pub prev_page_url: Option<String>,
    /// Absolute URL of the next page (POST it with the original body); `None` on the last.
    #[serde(default)]
    pub next_page_url: Option<String>,
}

/// `POST {Entity}/query` → `{"items": [...], "pageDetails": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResult<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Paging.
    #[serde(default)]
    pub page_details: PageDetails,
}

/// Create, update and delete → `{"itemId": n}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemIdResult {
    /// The id of the created, updated or deleted entity.
    pub item_id: i64,
}

/// `{Entity}/query/count` → `{"queryCount": n}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountResult {
    /// Number of matching rows.
    pub query_count: u64,
}

/// `{Entity}/entityInformation` → `{"info": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityInformationResult {
    /// The capabilities.
    pub info: EntityInformation,
}

/// `{Entity}/entityInformation/fields` → `{"fields": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldInformationResult {
    /// The fields.
    pub fields: Vec<FieldInfo>,
}

/// The error body of any status: `{"errors": ["message", ...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorsResult {
    /// Business or validation messages.
    #[serde(default)]
    pub errors: Vec<String>,
}
