//! Plans as data: the API calls a step wants made ([`Call`]), the facts it reports for the
//! run ([`Fact`]), and the two ways a step can say no: a [`Refusal`] before acting (with the
//! error class that decides the retry) and a [`Drift`] when verification finds the state is not
//! what the step ensures. [`Finding`]s (in `crate::finding`) are what a check found, in
//! English and German.

use std::fmt;

use autotask_types::{
    Resource, ResourceId, Webhook, WebhookFamily, WebhookField, WebhookId, WebhookUdfField,
};
use serde::{Deserialize, Serialize};

use crate::catalog::StepName;
pub use crate::finding::Finding;
use crate::observe::{CallFailure, Role};
use crate::remediation::Remediation;
use crate::retry::ErrorClass;

/// The webhook a child call writes under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookRef {
    /// A webhook that exists.
    Existing(WebhookId),
    /// The webhook created by the call at this index of the same plan (its `itemId`).
    CreatedBy(usize),
}

impl fmt::Display for WebhookRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Existing(id) => write!(f, "{id}"),
            Self::CreatedBy(i) => write!(f, "{{id of call {i}}}"),
        }
    }
}

/// Where the webhook secret for a create comes from: the worker generates one for this slot
/// (random, stored encrypted) *before* sending the create, and reuses the stored one if the
/// slot already has one, so a create whose response was lost keeps a known secret. The plan
/// itself never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSlot {
    /// Tenant id.
    pub tenant: String,
    /// The owning API user.
    pub user: ResourceId,
    /// The family.
    pub family: WebhookFamily,
}

impl fmt::Display for SecretSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "webhook-secret/{}/{}/{}",
            self.tenant, self.user, self.family
        )
    }
}

/// One API call, as data. The worker executes it with the credentials of
/// [`Call::credentials`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Call {
    /// `POST {Family}Webhooks` → `itemId`; `secret_key` is filled from `secret`.
    CreateWebhook {
        /// Credentials (the owner-to-be).
        credentials: Role,
        /// The family.
        family: WebhookFamily,
        /// The body, without `secretKey`.
        webhook: Webhook,
        /// Where the secret comes from.
        secret: SecretSlot,
    },
    /// `PATCH {Family}Webhooks` with `id` and the changed fields.
    UpdateWebhook {
        /// Credentials.
        credentials: Role,
        /// The family.
        family: WebhookFamily,
        /// `id` plus the fields to change.
        webhook: Webhook,
    },
    /// `DELETE {Family}Webhooks/{id}`.
    DeleteWebhook {
        /// Credentials (the owner).
        credentials: Role,
        /// The family.
        family: WebhookFamily,
        /// The webhook.
        id: WebhookId,
    },
    /// `POST {Family}Webhooks/{webhook}/Fields`.
    CreateWebhookField {
        /// Credentials.
        credentials: Role,
        /// The family.
        family: WebhookFamily,
        /// The parent webhook.
        webhook: WebhookRef,
        /// `fieldID`, `isSubscribedField`, `isDisplayAlwaysField`.
        field: WebhookField,
    },
    /// `PATCH {Family}Webhooks/{webhook}/Fields` with `id` and the changed flags.
    UpdateWebhookField {
        /// Credentials.
        credentials: Role,
        /// The family.
        family: WebhookFamily,
        /// The parent webhook.
        webhook: WebhookId,
        /// `id` plus the flags to change.
        field: WebhookField,
    },
    /// `DELETE {Family}Webhooks/{webhook}/Fields/{id}`.
    DeleteWebhookField {
        /// Credentials.
        credentials: Role,
        /// The family.
        family: WebhookFamily,
        /// The parent webhook.
        webhook: WebhookId,
        /// The field row.
        id: i64,
    },
    /// `POST {Family}Webhooks/{webhook}/UdfFields` (not TicketNote).
    CreateWebhookUdfField {
        /// Credentials.
        credentials: Role,
        /// The family.
        family: WebhookFamily,
        /// The parent webhook.
        webhook: WebhookRef,
        /// `udfFieldID`, `isSubscribedField`, `isDisplayAlwaysField`.
        field: WebhookUdfField,
    },
    /// `PATCH {Family}Webhooks/{webhook}/UdfFields` with `id` and the changed flags.
    UpdateWebhookUdfField {
        /// Credentials.
        credentials: Role,
        /// The family.
        family: WebhookFamily,
        /// The parent webhook.
        webhook: WebhookId,
        /// `id` plus the flags to change.
        field: WebhookUdfField,
    },
    /// `DELETE {Family}Webhooks/{webhook}/UdfFields/{id}`.
    DeleteWebhookUdfField {
        /// Credentials.
        credentials: Role,
        /// The family.
        family: WebhookFamily,
        /// The parent webhook.
        webhook: WebhookId,
        /// The UDF field row.
        id: i64,
    },
    /// `POST {Family}Webhooks/{webhook}/ExcludedResources` with `resourceID`.
    CreateWebhookExcludedResource {
        /// Credentials.
        credentials: Role,
        /// The family.
        family: WebhookFamily,
        /// The parent webhook.
        webhook: WebhookRef,
        /// The excluded resource.
        resource: ResourceId,
    },
    /// `PATCH Resources` with `id` and `isActive`.
    UpdateResource {
        /// Credentials (admin).
        credentials: Role,
        /// `id` plus the fields to change.
        resource: Resource,
    },
}

impl Call {
    /// Whose credentials the call uses.
    pub fn credentials(&self) -> Role {
        match self {
            Self::CreateWebhook { credentials, .. }
            | Self::UpdateWebhook { credentials, .. }
            | Self::DeleteWebhook { credentials, .. }
            | Self::CreateWebhookField { credentials, .. }
            | Self::UpdateWebhookField { credentials, .. }
            | Self::DeleteWebhookField { credentials, .. }
            | Self::CreateWebhookUdfField { credentials, .. }
            | Self::UpdateWebhookUdfField { credentials, .. }
            | Self::DeleteWebhookUdfField { credentials, .. }
            | Self::CreateWebhookExcludedResource { credentials, .. }
            | Self::UpdateResource { credentials, .. } => *credentials,
        }
    }

    /// Whether `failure` still means the call's goal holds, so the executor counts the call as
    /// done: deleting something already gone (a delete whose response was lost).
    pub fn tolerates(&self, failure: &CallFailure) -> bool {
        matches!(
            (self, failure),
            (
                Self::DeleteWebhook { .. }
                    | Self::DeleteWebhookField { .. }
                    | Self::DeleteWebhookUdfField { .. },
                CallFailure::NotFound
            )
        )
    }

    /// One line for dry-run reports and audit records (never a secret).
    pub fn describe(&self) -> String {
        let who = |r: &Role| match r {
            Role::New => "as new",
            Role::Previous => "as previous",
            Role::Admin => "as admin",
        };
        let body = |v: &dyn erased::Json| v.json();
        match self {
            Self::CreateWebhook {
                credentials,
                family,
                webhook,
                secret,
            } => format!(
                "{}: POST {} {} (secretKey from {secret})",
                who(credentials),
                family.webhooks_path(),
                body(webhook)
            ),
            Self::UpdateWebhook {
                credentials,
                family,
                webhook,
            } => format!(
                "{}: PATCH {} {}",
                who(credentials),
                family.webhooks_path(),
                body(webhook)
            ),
            Self::DeleteWebhook {
                credentials,
                family,
                id,
            } => format!(
                "{}: DELETE {}/{id}",
                who(credentials),
                family.webhooks_path()
            ),
            Self::CreateWebhookField {
                credentials,
                family,
                webhook,
                field,
            } => format!(
                "{}: POST {}/{webhook}/Fields {}",
                who(credentials),
                family.webhooks_path(),
                body(field)
            ),
            Self::UpdateWebhookField {
                credentials,
                family,
                webhook,
                field,
            } => format!(
                "{}: PATCH {}/{webhook}/Fields {}",
                who(credentials),
                family.webhooks_path(),
                body(field)
            ),
            Self::DeleteWebhookField {
                credentials,
                family,
                webhook,
                id,
            } => format!(
                "{}: DELETE {}/{webhook}/Fields/{id}",
                who(credentials),
                family.webhooks_path()
            ),
            Self::CreateWebhookUdfField {
                credentials,
                family,
                webhook,
                field,
            } => format!(
                "{}: POST {}/{webhook}/UdfFields {}",
                who(credentials),
                family.webhooks_path(),
                body(field)
            ),
            Self::UpdateWebhookUdfField {
                credentials,
                family,
                webhook,
                field,
            } => format!(
                "{}: PATCH {}/{webhook}/UdfFields {}",
                who(credentials),
                family.webhooks_path(),
                body(field)
            ),
            Self::DeleteWebhookUdfField {
                credentials,
                family,
                webhook,
                id,
            } => format!(
                "{}: DELETE {}/{webhook}/UdfFields/{id}",
                who(credentials),
                family.webhooks_path()
            ),
            Self::CreateWebhookExcludedResource {
                credentials,
                family,
                webhook,
                resource,
            } => format!(
                "{}: POST {}/{webhook}/ExcludedResources {{\"resourceID\":{resource}}}",
                who(credentials),
                family.webhooks_path()
            ),
            Self::UpdateResource {
                credentials,
                resource,
            } => format!("{}: PATCH Resources {}", who(credentials), body(resource)),
        }
    }
}

mod erased {
    //! JSON of the bodies in `describe`, without secrets (the bodies hold none).
    pub(super) trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

/// Something a step learned that the run keeps (the run record is the source of truth).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fact", rename_all = "snake_case")]
pub enum Fact {
    /// The zone's REST base URL for the API user (cache it for the run).
    ZoneUrl {
        /// The URL as Autotask gave it.
        url: String,
    },
    /// The new API user's resource id.
    NewUser {
        /// Its id.
        id: ResourceId,
    },
    /// The previous API user's resource id.
    PreviousUser {
        /// Its id.
        id: ResourceId,
    },
    /// The previous user's credentials are rejected because the user is inactive: the run
    /// must reactivate it before cleanup (C5).
    PreviousUserInactive,
    /// The previous user's webhooks, as found.
    PreviousWebhooks {
        /// Family and id of each.
        webhooks: Vec<(WebhookFamily, WebhookId)>,
    },
    /// The run reactivated the previous user (so it must deactivate it again).
    ReactivatedPreviousUser,
    /// The changeover is complete (for the audit record).
    ChangeoverVerified {
        /// The new user's webhooks.
        webhooks: Vec<(WebhookFamily, WebhookId)>,
        /// How the absence of the previous user's webhooks was established (`None` in records
        /// written before onboard said so).
        #[serde(default)]
        leftovers: Option<LeftoverCheck>,
    },
    /// The new user's right to create webhooks of these families could not be read
    /// (`userAccessForCreate` absent, `{}` or of an unknown form): the check passed, and a
    /// missing permission will show when `ensure_webhooks` creates them (as the W1–W4
    /// operator finding).
    WebhookPermissionUnknown {
        /// The families.
        families: Vec<WebhookFamily>,
    },
}

impl Fact {
    /// A line for the audit trail, for facts an operator should read.
    pub fn note(&self) -> Option<String> {
        match self {
            Self::WebhookPermissionUnknown { families } => Some(format!(
                "the permission to create webhooks could not be read for {}; a missing \
                 permission will show when the webhooks are created",
                families
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => None,
        }
    }
}

/// How `verify_changeover` knows that none of the previous user's webhooks is left. Only a
/// read with the previous user's own credentials counts as having seen them: Autotask may
/// hide other owners' webhooks from the new user, so "none" and "hidden" look the same from
/// the new user's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum LeftoverCheck {
    /// Read now with the previous user's credentials: none is left.
    PreviousCredentials,
    /// The previous user's credentials are rejected now (the run deactivated the user), but
    /// this run's `delete_previous_webhooks` verified with them that none was left.
    AtCleanup,
    /// Not checked: the previous user's credentials are missing or rejected, and the new
    /// user's view shows none of its webhooks, which Autotask may hide from other users.
    NotChecked {
        /// Why, in English.
        reason: String,
    },
}

impl LeftoverCheck {
    /// One line for status, dashboard and audit records.
    pub fn describe(&self) -> String {
        match self {
            Self::PreviousCredentials => {
                "no webhook of the previous user is left (read with its credentials)".into()
            }
            Self::AtCleanup => "no webhook of the previous user is left (read with its \
                                credentials when its webhooks were deleted, before it was \
                                deactivated)"
                .into(),
            Self::NotChecked { reason } => {
                format!("the previous user's webhooks could NOT be checked: {reason}")
            }
        }
    }
}

/// The calls a step wants made (empty when converged) and the facts it reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The calls, in order (later calls may refer to earlier creates).
    pub calls: Vec<Call>,
    /// Facts for the run record.
    pub facts: Vec<Fact>,
}

impl Plan {
    /// No calls: the step's goal already holds.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// A plan with facts only.
    pub fn facts(facts: Vec<Fact>) -> Self {
        Self {
            calls: Vec::new(),
            facts,
        }
    }
}

/// A step declines to act now: why (in words an MSP technician understands), how the run
/// continues (the class), and for operator steps what to click.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// The step.
    pub step: StepName,
    /// How the run continues.
    pub class: ErrorClass,
    /// Why, in English.
    pub reason: String,
    /// What was found.
    pub findings: Vec<Finding>,
    /// Instructions for the operator, when one must act.
    pub remediation: Option<Box<Remediation>>,
}

impl Refusal {
    /// A refusal without findings or instructions (add them with [`Self::with_remediation`]).
    pub fn new(step: StepName, class: ErrorClass, reason: impl Into<String>) -> Self {
        Self {
            step,
            class,
            reason: reason.into(),
            findings: Vec::new(),
            remediation: None,
        }
    }

    pub(crate) fn operator(step: StepName, class: ErrorClass, findings: Vec<Finding>) -> Self {
        let reason = findings
            .iter()
            .map(Finding::en)
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            step,
            class,
            reason,
            remediation: Some(Box::new(Remediation::for_step(step, &findings))),
            findings,
        }
    }

    /// The same refusal with these instructions for the operator.
    pub fn with_remediation(mut self, r: Remediation) -> Self {
        self.remediation = Some(Box::new(r));
        self
    }

    /// A refusal because a read failed in a way the step does not interpret.
    pub(crate) fn failed_read(step: StepName, what: &str, failure: &CallFailure) -> Self {
        Self::new(
            step,
            failure.class(),
            format!("reading {what} failed: {}", failure.describe()),
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} refused ({:?}): {}",
            self.step, self.class, self.reason
        )
    }
}

/// Verification found the state is not what the step ensures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// The step.
    pub step: StepName,
    /// What differs, one line each (English).
    pub differences: Vec<String>,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} drifted: {}", self.step, self.differences.join("; "))
    }
}
