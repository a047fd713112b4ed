//! Autotask PSA REST entities as serde types: the models onboard needs, typed ids, the
//! query `Filter` AST, the response envelopes and the endpoint descriptors that tell a client
//! where each entity lives.
//!
//! This crate does no I/O: no HTTP, no async, no clock (`make boundaries` checks it). Field
//! names follow the 2026 contract (camelCase, with Autotask's `ID`/`GUID` suffixes kept);
//! unknown fields are ignored so newer Autotask releases still parse. Every model field is an
//! `Option`: Autotask omits fields left out by `IncludeFields`, and writes send only the
//! fields that are set. Metadata fields without an unset value (`bool`, `Vec`) read `null`
//! and absence as their default ([`lenient`]); `userAccessFor*` is a typed [`AccessLevel`]
//! read from a name, a number or any other shape.

mod endpoint;
mod envelope;
mod filter;
mod id;
mod info;
pub mod lenient;
mod organization;
mod resource;
mod webhook;

pub use endpoint::{Endpoint, Entity};
pub use envelope::{
    CountResult, EntityInformationResult, ErrorsResult, FieldInformationResult, ItemIdResult,
    ItemResult, PageDetails, QueryResult,
};
pub use filter::{CompareOp, Filter, FilterError, Query, Value};
pub use id::Id;
pub use info::{
    EntityInformation, FieldInfo, PicklistValue, ThresholdInformation, UdfFieldInfo,
    ZoneInformation,
};
pub use lenient::AccessLevel;
pub use organization::{
    OrganizationalLevel1, OrganizationalLevel2, OrganizationalLevelAssociation,
    OrganizationalResource,
};
pub use resource::Resource;
pub use webhook::{Webhook, WebhookExcludedResource, WebhookFamily, WebhookField, WebhookUdfField};

/// Id of a [`Resource`] (a user, including API users).
pub type ResourceId = Id<Resource>;
/// Id of a [`Webhook`] of any family (each family has its own sequence).
pub type WebhookId = Id<Webhook>;
