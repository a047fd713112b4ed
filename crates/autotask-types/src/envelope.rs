//! The response envelopes Autotask wraps entities in: `{item}`, `{items, pageDetails}`,
//! `{itemId}`, `{queryCount}`, `{info}`, `{fields}` and the error body `{errors: [...]}`.
//!
//! Like the entities, envelopes read `null` or an absent property as empty (see
//! [`crate::lenient`]), with two exceptions: `itemId` and `queryCount` are the whole answer
//! of a write or a count, so a body without them is not a success of any kind; it stays a
//! decode error, which the client reports as contract drift naming the field.

use serde::{Deserialize, Serialize};

use crate::lenient::null_as_default;
use crate::{EntityInformation, FieldInfo};

/// `GET {Entity}/{id}` → `{"item": ...}` (`item` may be null for an unknown id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResult<T> {
    /// The entity, or `None` when Autotask answers `{"item": null}` (or no `item`).
    pub item: Option<T>,
}

/// Paging information of a query page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageDetails {
    /// Rows in this page.
    #[serde(default, deserialize_with = "null_as_default")]
    pub count: u32,
    /// The page size asked for (500 at most).
    #[serde(default, deserialize_with = "null_as_default")]
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
#[serde(rename_all = "camelCase", bound(deserialize = "T: Deserialize<'de>"))]
pub struct QueryResult<T> {
    /// The rows of this page.
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub items: Vec<T>,
    /// Paging.
    #[serde(default, deserialize_with = "null_as_default")]
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
    /// The capabilities (all unknown when Autotask sends none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub info: EntityInformation,
}

/// `{Entity}/entityInformation/fields` → `{"fields": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldInformationResult {
    /// The fields.
    #[serde(default, deserialize_with = "null_as_default")]
    pub fields: Vec<FieldInfo>,
}

/// The error body of any status: `{"errors": ["message", ...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorsResult {
    /// Business or validation messages.
    #[serde(default, deserialize_with = "null_as_default")]
    pub errors: Vec<String>,
}
