//! What a run learns from its steps (the previous user's id and state, what it reactivated,
//! how the changeover was checked), kept in the run record and deciding the sequence's
//! conditions.

use autotask_types::{ResourceId, WebhookFamily, WebhookId};
use serde::{Deserialize, Serialize};

use super::*;
use crate::plan::{Fact, LeftoverCheck};
use crate::steps::StepContext;

/// What a run learned from its steps (kept in the run record).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFacts {
    /// The zone's REST base URL.
    #[serde(default)]
    pub zone_url: Option<String>,
    /// The new API user's id.
    #[serde(default)]
    pub new_user: Option<ResourceId>,
    /// The previous API user's id.
    #[serde(default)]
    pub previous_user: Option<ResourceId>,
    /// The previous user's credentials were rejected because it is inactive.
    #[serde(default)]
    pub previous_user_inactive: bool,
    /// The previous user's webhooks as first found.
    #[serde(default)]
    pub previous_webhooks: Vec<(WebhookFamily, WebhookId)>,
    /// The run reactivated the previous user.
    #[serde(default)]
    pub reactivated_previous_user: bool,
    /// `delete_previous_webhooks` succeeded (its verification found nothing left).
    #[serde(default)]
    pub cleanup_verified: bool,
    /// The new user's webhooks at the verified changeover.
    #[serde(default)]
    pub changeover_webhooks: Option<Vec<(WebhookFamily, WebhookId)>>,
    /// How the verified changeover established that no webhook of the previous user is left.
    #[serde(default)]
    pub changeover_leftovers: Option<LeftoverCheck>,
    /// Families whose webhook permission `verify_webhook_permission` could not read (it
    /// passed; a refusal will show at creation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook_permission_unknown: Vec<WebhookFamily>,
}

impl RunFacts {
    /// Records a fact from a plan.
    pub fn record(&mut self, fact: &Fact) {
        match fact {
            Fact::ZoneUrl { url } => self.zone_url = Some(url.clone()),
            Fact::NewUser { id } => self.new_user = Some(*id),
            Fact::PreviousUser { id } => self.previous_user = Some(*id),
            Fact::PreviousUserInactive => self.previous_user_inactive = true,
            Fact::PreviousWebhooks { webhooks } => {
                if self.previous_webhooks.is_empty() {
                    self.previous_webhooks = webhooks.clone();
                }
            }
            Fact::ReactivatedPreviousUser => self.reactivated_previous_user = true,
            Fact::ChangeoverVerified {
                webhooks,
                leftovers,
            } => {
                self.changeover_webhooks = Some(webhooks.clone());
                self.changeover_leftovers = leftovers.clone();
            }
            Fact::WebhookPermissionUnknown { families } => {
                self.webhook_permission_unknown = families.clone();
            }
        }
    }

    /// What an operator should know about the run's outcome besides step states, one
    /// English line each (shown by `onboard status` and the dashboard; the API has the facts
    /// themselves): today, a changeover whose leftovers could not be checked.
    pub fn notes(&self) -> Vec<String> {
        match &self.changeover_leftovers {
            Some(check @ LeftoverCheck::NotChecked { .. }) => {
                vec![format!("verify_changeover: {}", check.describe())]
            }
            _ => Vec::new(),
        }
    }

    /// Whether an entry's condition holds.
    pub fn holds(&self, condition: Condition, ctx: &StepContext) -> bool {
        match condition {
            Condition::Always => true,
            Condition::PreviousUserInactive => self.previous_user_inactive,
            Condition::Deactivation => {
                self.cleanup_verified
                    && (self.reactivated_previous_user || ctx.settings.deactivate_previous_user)
            }
            Condition::HasPreviousUser => ctx.previous_user_name.is_some(),
        }
    }
}
