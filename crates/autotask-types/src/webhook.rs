//! Webhooks: the five families (Company, Contact, ConfigurationItem, Ticket, TicketNote) and
//! their children (subscribed fields, UDF fields, excluded resources).
//!
//! The contract gives all five families one identical model, and one identical model per
//! child kind, so each is one Rust type here; the [`WebhookFamily`] picks the endpoints
//! (`TicketWebhooks`, `TicketWebhooks/{id}/Fields`, `TicketWebhookFields/query`, ...). The
//! type names of the contract (`TicketWebhookFieldModel`, ...) map to
//! `WebhookFamily::Ticket` + [`WebhookField`]. TicketNote webhooks have no UDF fields.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Endpoint, Entity, Id, Resource};

/// One of the five entity families that support webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WebhookFamily {
    /// Companies (`CompanyWebhooks`).
    Company,
    /// Contacts (`ContactWebhooks`).
    Contact,
    /// Configuration items (`ConfigurationItemWebhooks`).
    ConfigurationItem,
    /// Tickets (`TicketWebhooks`).
    Ticket,
    /// Ticket notes (`TicketNoteWebhooks`); no UDF fields.
    TicketNote,
}

impl WebhookFamily {
    /// All five, in a fixed order.
    pub const ALL: [WebhookFamily; 5] = [
        Self::Company,
        Self::Contact,
        Self::ConfigurationItem,
        Self::Ticket,
        Self::TicketNote,
    ];

    /// The family name, e.g. `Ticket`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Company => "Company",
            Self::Contact => "Contact",
            Self::ConfigurationItem => "ConfigurationItem",
            Self::Ticket => "Ticket",
            Self::TicketNote => "TicketNote",
        }
    }

    /// The webhook entity name, e.g. `TicketWebhook`.
    pub const fn webhook_entity(self) -> &'static str {
        match self {
            Self::Company => "CompanyWebhook",
            Self::Contact => "ContactWebhook",
            Self::ConfigurationItem => "ConfigurationItemWebhook",
            Self::Ticket => "TicketWebhook",
            Self::TicketNote => "TicketNoteWebhook",
        }
    }

    /// The webhook collection, e.g. `TicketWebhooks`.
    pub const fn webhooks_path(self) -> &'static str {
        match self {
            Self::Company => "CompanyWebhooks",
            Self::Contact => "ContactWebhooks",
            Self::ConfigurationItem => "ConfigurationItemWebhooks",
            Self::Ticket => "TicketWebhooks",
            Self::TicketNote => "TicketNoteWebhooks",
        }
    }

    /// Whether this family has UDF fields (all but TicketNote).
    pub const fn has_udf_fields(self) -> bool {
        !matches!(self, Self::TicketNote)
    }

    /// `{Family}Webhooks`.
    pub fn webhooks(self) -> Endpoint<Webhook> {
        Endpoint::root(self.webhooks_path()).named(self.webhook_entity())
    }

    /// `{Family}Webhooks/{id}/Fields`, queried at `{Family}WebhookFields`.
    pub fn fields(self, webhook: Id<Webhook>) -> Endpoint<WebhookField> {
        Endpoint::child(
            self.webhooks_path(),
            webhook.get(),
            "Fields",
            format!("{}Fields", self.webhook_entity()),
        )
        .named(format!("{}Field", self.webhook_entity()))
    }

    /// `{Family}Webhooks/{id}/UdfFields`; `None` for TicketNote, which has none.
    pub fn udf_fields(self, webhook: Id<Webhook>) -> Option<Endpoint<WebhookUdfField>> {
        self.has_udf_fields().then(|| {
            Endpoint::child(
                self.webhooks_path(),
                webhook.get(),
                "UdfFields",
                format!("{}UdfFields", self.webhook_entity()),
            )
            .named(format!("{}UdfField", self.webhook_entity()))
        })
    }

    /// `{Family}Webhooks/{id}/ExcludedResources`, queried at `{Family}WebhookExcludedResources`.
    pub fn excluded_resources(self, webhook: Id<Webhook>) -> Endpoint<WebhookExcludedResource> {
        Endpoint::child(
            self.webhooks_path(),
            webhook.get(),
            "ExcludedResources",
            format!("{}ExcludedResources", self.webhook_entity()),
        )
        .named(format!("{}ExcludedResource", self.webhook_entity()))
    }
}

impl fmt::Display for WebhookFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WebhookFamily {
    type Err = String;

    /// Parses a family name case-insensitively (`ticket`, `TicketNote`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "unknown webhook family {s:?}; expected one of Company, Contact, \
                     ConfigurationItem, Ticket, TicketNote"
                )
            })
    }
}

/// A webhook of any family (the five share one model).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// Id (per-family sequence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Id<Webhook>>,
    /// Name (max 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// HTTPS POST target (max 500).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Called when the webhook is deactivated or deleted (max 500).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deactivation_url: Option<String>,
    /// HMAC-SHA1 key for `X-Hook-Signature` (max 64). Redacted by `Debug`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    /// Inactive webhooks make no callouts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// Read-only: true once at least one subscribed field exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_ready: Option<bool>,
    /// Fires on create events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_subscribed_to_create_events: Option<bool>,
    /// Fires on update events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_subscribed_to_update_events: Option<bool>,
    /// Fires on delete events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_subscribed_to_delete_events: Option<bool>,
    /// Receives error and threshold mails (max 150).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification_email_address: Option<String>,
    /// Mail when delivery is delayed by threshold limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_threshold_exceeded_notification: Option<bool>,
    /// Read-only: the API user that created the webhook.
    #[serde(rename = "ownerResourceID", skip_serializing_if = "Option::is_none")]
    pub owner_resource_id: Option<Id<Resource>>,
    /// Server-generated; echoed as `Guid` in payloads.
    #[serde(rename = "webhookGUID", skip_serializing_if = "Option::is_none")]
    pub webhook_guid: Option<String>,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("webhook_url", &self.webhook_url)
            .field("deactivation_url", &self.deactivation_url)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("is_active", &self.is_active)
            .field("is_ready", &self.is_ready)
            .field("owner_resource_id", &self.owner_resource_id)
            .field("webhook_guid", &self.webhook_guid)
            .finish_non_exhaustive()
    }
}

/// A subscribed or always-displayed field of a webhook (`{Family}WebhookFields`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookField {
    /// Id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Id<WebhookField>>,
    /// The entity field (picklist value of `fieldID` in the child's field metadata).
    #[serde(rename = "fieldID", skip_serializing_if = "Option::is_none")]
    pub field_id: Option<i32>,
    /// A change of this field fires the callout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_subscribed_field: Option<bool>,
    /// Always included in the payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_display_always_field: Option<bool>,
    /// The parent webhook.
    #[serde(rename = "webhookID", skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<Id<Webhook>>,
}

/// A subscribed or always-displayed UDF of a webhook (`{Family}WebhookUdfFields`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookUdfField {
    /// Id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Id<WebhookUdfField>>,
    /// The user-defined field.
    #[serde(rename = "udfFieldID", skip_serializing_if = "Option::is_none")]
    pub udf_field_id: Option<i32>,
    /// A change of this UDF fires the callout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_subscribed_field: Option<bool>,
    /// Always included in the payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_display_always_field: Option<bool>,
    /// The parent webhook.
    #[serde(rename = "webhookID", skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<Id<Webhook>>,
}

/// A resource whose own changes do not fire this webhook (`{Family}WebhookExcludedResources`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookExcludedResource {
    /// Id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Id<WebhookExcludedResource>>,
    /// The excluded resource.
    #[serde(rename = "resourceID", skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<Id<Resource>>,
    /// The parent webhook.
    #[serde(rename = "webhookID", skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<Id<Webhook>>,
}

impl Entity for Webhook {
    const ENTITY: &'static str = "Webhook";
}
impl Entity for WebhookField {
    const ENTITY: &'static str = "WebhookField";
}
impl Entity for WebhookUdfField {
    const ENTITY: &'static str = "WebhookUdfField";
}
impl Entity for WebhookExcludedResource {
    const ENTITY: &'static str = "WebhookExcludedResource";
}
