//! Reads as data and what they found.
//!
//! A step names the [`Read`]s it needs; the worker performs each with the credentials of the
//! read's [`Role`] and records the answer (or the failure, which is itself an observation:
//! a 401 with the previous user's credentials is how an inactive previous user shows) in
//! [`Observed`]. Observed answers are keyed by the read itself, so a step finds exactly the
//! answer to the question it asked, and a step can ask in phases (first the webhooks, then
//! the fields of the ones it found) by naming more reads once earlier answers are in.

use std::collections::BTreeMap;

use autotask_types::{
    EntityInformation, FieldInfo, OrganizationalLevel1, OrganizationalLevel2,
    OrganizationalLevelAssociation, OrganizationalResource, Query, Resource, ThresholdInformation,
    Webhook, WebhookExcludedResource, WebhookFamily, WebhookField, WebhookUdfField,
    ZoneInformation,
};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::retry::ErrorClass;

/// Whose credentials a read or call uses. The run holds a credential reference per role; the
/// secrets never enter this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The integration's (new) API user.
    New,
    /// The previous API user (change of user, cleanup).
    Previous,
    /// Optional admin credentials (may PATCH `Resources.isActive`).
    Admin,
}

/// One read: which endpoint, with which credentials, asking what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "read", rename_all = "snake_case")]
pub enum Read {
    /// `GET zoneInformation?user={user_name}` (no credentials) → [`ReadResult::Zone`].
    ZoneInformation {
        /// The API user's username.
        user_name: String,
    },
    /// `GET ThresholdInformation` → [`ReadResult::Threshold`].
    ThresholdInformation {
        /// Credentials.
        credentials: Role,
    },
    /// `POST Resources/query` → [`ReadResult::Resources`].
    Resources {
        /// Credentials.
        credentials: Role,
        /// The query.
        query: Query,
    },
    /// `GET Resources/entityInformation/fields` → [`ReadResult::Fields`].
    ResourceFields {
        /// Credentials.
        credentials: Role,
    },
    /// `POST OrganizationalLevel1s/query` → [`ReadResult::Level1s`].
    OrganizationalLevel1s {
        /// Credentials.
        credentials: Role,
        /// The query.
        query: Query,
    },
    /// `POST OrganizationalLevel2s/query` → [`ReadResult::Level2s`].
    OrganizationalLevel2s {
        /// Credentials.
        credentials: Role,
        /// The query.
        query: Query,
    },
    /// `POST OrganizationalLevelAssociations/query` → [`ReadResult::Associations`].
    OrganizationalLevelAssociations {
        /// Credentials.
        credentials: Role,
        /// The query.
        query: Query,
    },
    /// `POST OrganizationalResources/query` → [`ReadResult::Memberships`].
    OrganizationalResources {
        /// Credentials.
        credentials: Role,
        /// The query.
        query: Query,
    },
    /// `GET {Family}Webhooks/entityInformation` → [`ReadResult::EntityInformation`].
    WebhookEntityInformation {
        /// Credentials.
        credentials: Role,
        /// The family.
        family: WebhookFamily,
    },
    /// `GET {Family}WebhookFields/entityInformation/fields` → [`ReadResult::Fields`]
    /// (the picklist of `fieldID` names the fields a webhook can subscribe to).
    WebhookFieldInfo {
        /// Credentials.
        credentials: Role,
        /// The family.
        family: WebhookFamily,
    },
    /// `GET {Family}WebhookUdfFields/entityInformation/fields` → [`ReadResult::Fields`]
    /// (the picklist of `udfFieldID` names the user-defined fields a webhook can subscribe
    /// to).
    WebhookUdfFieldInfo {
        /// Credentials.
        credentials: Role,
        /// The family (not TicketNote).
        family: WebhookFamily,
    },
    /// `POST {Family}Webhooks/query` → [`ReadResult::Webhooks`].
    Webhooks {
        /// Credentials.
        credentials: Role,
        /// The family.
        family: WebhookFamily,
        /// The query.
        query: Query,
    },
    /// `POST {Family}WebhookFields/query` → [`ReadResult::WebhookFields`].
    WebhookFields {
        /// Credentials.
        credentials: Role,
        /// The family.
        family: WebhookFamily,
        /// The query.
        query: Query,
    },
    /// `POST {Family}WebhookUdfFields/query` → [`ReadResult::WebhookUdfFields`].
    WebhookUdfFields {
        /// Credentials.
        credentials: Role,
        /// The family (not TicketNote).
        family: WebhookFamily,
        /// The query.
        query: Query,
    },
    /// `POST {Family}WebhookExcludedResources/query` → [`ReadResult::ExcludedResources`].
    WebhookExcludedResources {
        /// Credentials.
        credentials: Role,
        /// The family.
        family: WebhookFamily,
        /// The query.
        query: Query,
    },
}

impl Read {
    /// The credentials this read uses (`None` for zone discovery, which needs none).
    pub fn credentials(&self) -> Option<Role> {
        match self {
            Self::ZoneInformation { .. } => None,
            Self::ThresholdInformation { credentials }
            | Self::Resources { credentials, .. }
            | Self::ResourceFields { credentials }
            | Self::OrganizationalLevel1s { credentials, .. }
            | Self::OrganizationalLevel2s { credentials, .. }
            | Self::OrganizationalLevelAssociations { credentials, .. }
            | Self::OrganizationalResources { credentials, .. }
            | Self::WebhookEntityInformation { credentials, .. }
            | Self::WebhookFieldInfo { credentials, .. }
            | Self::WebhookUdfFieldInfo { credentials, .. }
            | Self::WebhookUdfFields { credentials, .. }
            | Self::Webhooks { credentials, .. }
            | Self::WebhookFields { credentials, .. }
            | Self::WebhookExcludedResources { credentials, .. } => Some(*credentials),
        }
    }

    /// A stable key: the read's JSON.
    pub fn key(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("unserializable read: {e}"))
    }

    /// One line for dry-run reports and spans, e.g. `as new: POST TicketWebhooks/query {...}`.
    pub fn describe(&self) -> String {
        let who = |r: &Role| {
            format!(
                "as {}",
                serde_json::to_value(r)
                    .unwrap_or_default()
                    .as_str()
                    .unwrap_or("?")
            )
        };
        let q = |q: &Query| q.to_json().to_string();
        match self {
            Self::ZoneInformation { user_name } => format!("GET zoneInformation?user={user_name}"),
            Self::ThresholdInformation { credentials } => {
                format!("{}: GET ThresholdInformation", who(credentials))
            }
            Self::Resources { credentials, query } => {
                format!("{}: POST Resources/query {}", who(credentials), q(query))
            }
            Self::ResourceFields { credentials } => {
                format!(
                    "{}: GET Resources/entityInformation/fields",
                    who(credentials)
                )
            }
            Self::OrganizationalLevel1s { credentials, query } => format!(
                "{}: POST OrganizationalLevel1s/query {}",
                who(credentials),
                q(query)
            ),
            Self::OrganizationalLevel2s { credentials, query } => format!(
                "{}: POST OrganizationalLevel2s/query {}",
                who(credentials),
                q(query)
            ),
            Self::OrganizationalLevelAssociations { credentials, query } => format!(
                "{}: POST OrganizationalLevelAssociations/query {}",
                who(credentials),
                q(query)
            ),
            Self::OrganizationalResources { credentials, query } => format!(
                "{}: POST OrganizationalResources/query {}",
                who(credentials),
                q(query)
            ),
            Self::WebhookEntityInformation {
                credentials,
                family,
            } => format!(
                "{}: GET {}/entityInformation",
                who(credentials),
                family.webhooks_path()
            ),
            Self::WebhookFieldInfo {
                credentials,
                family,
            } => format!(
                "{}: GET {}Fields/entityInformation/fields",
                who(credentials),
                family.webhook_entity()
            ),
            Self::WebhookUdfFieldInfo {
                credentials,
                family,
            } => format!(
                "{}: GET {}UdfFields/entityInformation/fields",
                who(credentials),
                family.webhook_entity()
            ),
            Self::WebhookUdfFields {
                credentials,
                family,
                query,
            } => format!(
                "{}: POST {}UdfFields/query {}",
                who(credentials),
                family.webhook_entity(),
                q(query)
            ),
            Self::Webhooks {
                credentials,
                family,
                query,
            } => format!(
                "{}: POST {}/query {}",
                who(credentials),
                family.webhooks_path(),
                q(query)
            ),
            Self::WebhookFields {
                credentials,
                family,
                query,
            } => format!(
                "{}: POST {}Fields/query {}",
                who(credentials),
                family.webhook_entity(),
                q(query)
            ),
            Self::WebhookExcludedResources {
                credentials,
                family,
                query,
            } => format!(
                "{}: POST {}ExcludedResources/query {}",
                who(credentials),
                family.webhook_entity(),
                q(query)
            ),
        }
    }
}

/// The answer to a [`Read`] (all pages of a query together).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", content = "value", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum ReadResult {
    Zone(ZoneInformation),
    Threshold(ThresholdInformation),
    Resources(Vec<Resource>),
    Fields(Vec<FieldInfo>),
    Level1s(Vec<OrganizationalLevel1>),
    Level2s(Vec<OrganizationalLevel2>),
    Associations(Vec<OrganizationalLevelAssociation>),
    Memberships(Vec<OrganizationalResource>),
    EntityInformation(EntityInformation),
    Webhooks(Vec<Webhook>),
    WebhookFields(Vec<WebhookField>),
    WebhookUdfFields(Vec<WebhookUdfField>),
    ExcludedResources(Vec<WebhookExcludedResource>),
}

impl ReadResult {
    fn kind(&self) -> &'static str {
        match self {
            Self::Zone(_) => "zone",
            Self::Threshold(_) => "threshold",
            Self::Resources(_) => "resources",
            Self::Fields(_) => "fields",
            Self::Level1s(_) => "level1s",
            Self::Level2s(_) => "level2s",
            Self::Associations(_) => "associations",
            Self::Memberships(_) => "memberships",
            Self::EntityInformation(_) => "entity_information",
            Self::Webhooks(_) => "webhooks",
            Self::WebhookFields(_) => "webhook_fields",
            Self::WebhookUdfFields(_) => "webhook_udf_fields",
            Self::ExcludedResources(_) => "excluded_resources",
        }
    }

    fn fits(&self, read: &Read) -> bool {
        matches!(
            (read, self),
            (Read::ZoneInformation { .. }, Self::Zone(_))
                | (Read::ThresholdInformation { .. }, Self::Threshold(_))
                | (Read::Resources { .. }, Self::Resources(_))
                | (Read::ResourceFields { .. }, Self::Fields(_))
                | (Read::OrganizationalLevel1s { .. }, Self::Level1s(_))
                | (Read::OrganizationalLevel2s { .. }, Self::Level2s(_))
                | (
                    Read::OrganizationalLevelAssociations { .. },
                    Self::Associations(_)
                )
                | (Read::OrganizationalResources { .. }, Self::Memberships(_))
                | (
                    Read::WebhookEntityInformation { .. },
                    Self::EntityInformation(_)
                )
                | (Read::WebhookFieldInfo { .. }, Self::Fields(_))
                | (Read::WebhookUdfFieldInfo { .. }, Self::Fields(_))
                | (Read::WebhookUdfFields { .. }, Self::WebhookUdfFields(_))
                | (Read::Webhooks { .. }, Self::Webhooks(_))
                | (Read::WebhookFields { .. }, Self::WebhookFields(_))
                | (
                    Read::WebhookExcludedResources { .. },
                    Self::ExcludedResources(_)
                )
        )
    }
}

/// Why a read or a call did not succeed, as the worker maps the client's errors. Each maps to
/// an [`ErrorClass`] when it ends an attempt; a step may instead treat it as a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "failure", rename_all = "snake_case")]
pub enum CallFailure {
    /// 401: the credentials (or the integration code) were rejected.
    CredentialsRejected,
    /// 403: the user's security level does not allow this.
    NotPermitted {
        /// Autotask's message, if any.
        #[serde(default)]
        message: Option<String>,
    },
    /// 404 or `{"item": null}`.
    NotFound,
    /// 429 or `Itgenatr005`: more than 3 concurrent requests on the endpoint.
    ThreadLimit,
    /// The tenant's hourly request threshold is exceeded.
    ThresholdExceeded,
    /// 500 with `errors[]`: a validation or business-rule failure.
    Rejected {
        /// Autotask's messages.
        errors: Vec<String>,
    },
    /// Network error, timeout, 5xx without a business error.
    Transient {
        /// What happened (no secrets).
        detail: String,
    },
    /// Contract drift: Autotask answered with a body that does not fit the contract onboard
    /// reads, even leniently. The same answer will come again, so it is permanent and shown
    /// to the operator at once, naming the entity and the field.
    ContractDrift {
        /// The entity or envelope, e.g. `TicketWebhookField`.
        entity: String,
        /// The field's JSON path, e.g. `fields[0].picklistValues`.
        path: String,
        /// What was found and what was expected, in words (never a value).
        detail: String,
    },
}

impl CallFailure {
    /// The error class when this failure ends an attempt.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Transient { .. } | Self::ThreadLimit => ErrorClass::Transient,
            Self::ThresholdExceeded => ErrorClass::BudgetDeferred,
            // Someone must fix credentials or a security level in Autotask.
            Self::CredentialsRejected | Self::NotPermitted { .. } => ErrorClass::OperatorPending,
            Self::Rejected { errors } => {
                let thread = errors.iter().any(|e| {
                    let e = e.to_ascii_lowercase();
                    e.contains("itgenatr005") || e.contains("thread threshold")
                });
                if thread {
                    ErrorClass::Transient
                } else {
                    ErrorClass::Permanent
                }
            }
            Self::NotFound | Self::ContractDrift { .. } => ErrorClass::Permanent,
        }
    }

    /// A short English description for run records (no secrets).
    pub fn describe(&self) -> String {
        match self {
            Self::CredentialsRejected => "credentials rejected (401)".into(),
            Self::NotPermitted { message } => match message {
                Some(m) => format!("not permitted (403): {m}"),
                None => "not permitted (403)".into(),
            },
            Self::NotFound => "not found (404)".into(),
            Self::ThreadLimit => "thread limit exceeded (429)".into(),
            Self::ThresholdExceeded => "hourly request threshold exceeded".into(),
            Self::Rejected { errors } => format!("rejected: {}", errors.join("; ")),
            Self::Transient { detail } => format!("transient failure: {detail}"),
            Self::ContractDrift { detail, .. } => detail.clone(),
        }
    }
}

/// What the reads found, keyed by the read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    answers: BTreeMap<String, Result<ReadResult, CallFailure>>,
}

impl Observed {
    /// Nothing read yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the answer to `read`; fails if the result does not fit the read.
    pub fn record(
        &mut self,
        read: &Read,
        answer: Result<ReadResult, CallFailure>,
    ) -> Result<(), Error> {
        if let Ok(r) = &answer {
            if !r.fits(read) {
                return Err(Error::ReadMismatch {
                    read: read.describe(),
                    got: r.kind(),
                });
            }
        }
        self.answers.insert(read.key(), answer);
        Ok(())
    }

    /// Whether `read` has an answer.
    pub fn has(&self, read: &Read) -> bool {
        self.answers.contains_key(&read.key())
    }

    /// The answer to `read`, if recorded.
    pub fn get(&self, read: &Read) -> Option<&Result<ReadResult, CallFailure>> {
        self.answers.get(&read.key())
    }

    /// Number of recorded answers.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }
}

/// A step's typed view of [`Observed`]: collects the reads still missing while the step
/// looks up what it needs.
pub(crate) struct Lookup<'a> {
    observed: &'a Observed,
    pub(crate) missing: Vec<Read>,
}

macro_rules! typed_get {
    ($fn:ident, $variant:ident, $ty:ty) => {
        pub(crate) fn $fn(&mut self, read: Read) -> Option<Result<$ty, CallFailure>> {
            match self.observed.get(&read) {
                None => {
                    if !self.missing.contains(&read) {
                        self.missing.push(read);
                    }
                    None
                }
                Some(Err(f)) => Some(Err(f.clone())),
                Some(Ok(ReadResult::$variant(v))) => Some(Ok(v.clone())),
                // `record` refuses results that do not fit; treat a foreign one as missing.
                Some(Ok(_)) => {
                    self.missing.push(read);
                    None
                }
            }
        }
    };
}

impl<'a> Lookup<'a> {
    pub(crate) fn new(observed: &'a Observed) -> Self {
        Self {
            observed,
            missing: Vec::new(),
        }
    }

    typed_get!(zone, Zone, ZoneInformation);
    typed_get!(threshold, Threshold, ThresholdInformation);
    typed_get!(resources, Resources, Vec<Resource>);
    typed_get!(fields, Fields, Vec<FieldInfo>);
    typed_get!(level1s, Level1s, Vec<OrganizationalLevel1>);
    typed_get!(level2s, Level2s, Vec<OrganizationalLevel2>);
    typed_get!(
        associations,
        Associations,
        Vec<OrganizationalLevelAssociation>
    );
    typed_get!(memberships, Memberships, Vec<OrganizationalResource>);
    typed_get!(entity_information, EntityInformation, EntityInformation);
    typed_get!(webhooks, Webhooks, Vec<Webhook>);
    typed_get!(webhook_fields, WebhookFields, Vec<WebhookField>);
    typed_get!(webhook_udf_fields, WebhookUdfFields, Vec<WebhookUdfField>);
    typed_get!(excluded, ExcludedResources, Vec<WebhookExcludedResource>);
}
