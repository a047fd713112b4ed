//! Entity metadata as data: which entities the simulator serves, where they live, which
//! operations they allow, and their fields (type, length, read-only, queryable, picklists).
//!
//! One table drives everything generic: path resolution, the 405 answers, filter and
//! `IncludeFields` validation, write validation (types, lengths, required, read-only) and the
//! `entityInformation` / `entityInformation/fields` answers. Rules specific to an entity
//! (webhook ownership, Resources admin rights, ...) live in `state`.
//!
//! Layout (arrows point one way): `picklists` (values) ← `model` (kinds, fields, entity
//! definitions, `entityInformation`) ← `entities` (the concrete entities and the registry).
//! This file only re-exports.

mod entities;
mod model;
mod picklists;
#[cfg(test)]
mod tests;

pub(crate) use entities::registry;
pub(crate) use model::{EntityDef, Kind, Rights, Ty};
pub(crate) use picklists::{
    LICENSE_API_USER, LICENSE_PROFESSIONAL, USER_TYPE_API, USER_TYPE_EMPLOYEE, error_log_column,
    webhook_field_catalog, webhook_udf_catalog,
};
