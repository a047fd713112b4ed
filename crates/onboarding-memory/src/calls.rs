//! How the model tenant applies a [`Call`]: the caller's permission, owner-only management
//! of webhooks, the duplicate rule, children under their parent webhook, users' activation.

//! [`MemoryTenant::attempt`] is the in-memory driver of one step attempt: the same thin loop
//! over `onboarding_steps::attempt::Attempt` as the worker's `execute::drive`, with
//! [`Fault`]s injected at a chosen call (a worker crash before it is sent, a response lost
//! after it is committed). [`MemoryTenant::execute`] applies a bare plan the same way, for
//! plan-level properties.

use autotask_types::{ResourceId, Webhook, WebhookExcludedResource, WebhookFamily, WebhookId};

use onboarding_steps::{Call, CallFailure, Role, WebhookRef};

use crate::children;
use crate::*;

impl MemoryTenant {
    fn owned_webhook(
        &self,
        owner: ResourceId,
        family: WebhookFamily,
        id: WebhookId,
    ) -> Result<usize, CallFailure> {
        let list = self.webhooks.get(&family).ok_or(CallFailure::NotFound)?;
        let i = list
            .iter()
            .position(|w| w.id == Some(id))
            .ok_or(CallFailure::NotFound)?;
        if list[i].owner_resource_id != Some(owner) {
            return Err(CallFailure::NotPermitted {
                message: Some("only the owner may manage this webhook".into()),
            });
        }
        Ok(i)
    }

    fn resolve(&self, r: WebhookRef, created: &[Option<i64>]) -> Result<WebhookId, CallFailure> {
        match r {
            WebhookRef::Existing(id) => Ok(id),
            WebhookRef::CreatedBy(i) => created
                .get(i)
                .copied()
                .flatten()
                .map(WebhookId::new)
                .ok_or(CallFailure::Rejected {
                    errors: vec![format!("call {i} created nothing")],
                }),
        }
    }

    /// Applies one call; `created` holds the item ids of the plan's earlier calls. Returns
    /// the call's item id.
    pub fn apply(
        &mut self,
        call: &Call,
        created: &[Option<i64>],
    ) -> Result<Option<i64>, CallFailure> {
        let caller = self.auth(call.credentials())?.clone();
        let owner = caller.resource.id.unwrap_or(ResourceId::new(0));
        let result = match call {
            Call::CreateWebhook {
                family, webhook, ..
            } => {
                if !caller.webhook_permission.contains(family) {
                    return Err(CallFailure::NotPermitted {
                        message: Some("webhooks are not enabled for this security level".into()),
                    });
                }
                let url = webhook.webhook_url.clone().unwrap_or_default();
                let events = |w: &Webhook| {
                    [
                        w.is_subscribed_to_create_events == Some(true),
                        w.is_subscribed_to_update_events == Some(true),
                        w.is_subscribed_to_delete_events == Some(true),
                    ]
                };
                let mine = events(webhook);
                let duplicate = self.webhooks.get(family).into_iter().flatten().any(|w| {
                    w.webhook_url
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(&url))
                        && events(w).iter().zip(mine).any(|(a, b)| *a && b)
                });
                if duplicate && self.duplicate_rule {
                    return Err(CallFailure::Rejected {
                        errors: vec!["a webhook with the same URL and event already exists".into()],
                    });
                }
                self.next_id += 1;
                let mut w = webhook.clone();
                w.id = Some(WebhookId::new(self.next_id));
                w.owner_resource_id = Some(owner);
                w.secret_key = Some("from-secret-slot".into());
                w.is_ready = None;
                self.webhooks.entry(*family).or_default().push(w);
                Some(self.next_id)
            }
            Call::UpdateWebhook {
                family, webhook, ..
            } => {
                let id = webhook.id.ok_or(CallFailure::Rejected {
                    errors: vec!["id is required".into()],
                })?;
                let i = self.owned_webhook(owner, *family, id)?;
                let w = &mut self.webhooks.get_mut(family).ok_or(CallFailure::NotFound)?[i];
                macro_rules! set {
                    ($($f:ident),*) => { $(if webhook.$f.is_some() { w.$f = webhook.$f.clone(); })* };
                }
                set!(
                    name,
                    webhook_url,
                    deactivation_url,
                    is_active,
                    is_subscribed_to_create_events,
                    is_subscribed_to_update_events,
                    is_subscribed_to_delete_events,
                    notification_email_address,
                    send_threshold_exceeded_notification
                );
                Some(id.get())
            }
            Call::DeleteWebhook { family, id, .. } => {
                let i = self.owned_webhook(owner, *family, *id)?;
                if let Some(list) = self.webhooks.get_mut(family) {
                    list.remove(i);
                }
                if let Some(f) = self.fields.get_mut(family) {
                    f.retain(|f| f.webhook_id != Some(*id));
                }
                if let Some(u) = self.udf_fields.get_mut(family) {
                    u.retain(|u| u.webhook_id != Some(*id));
                }
                if let Some(e) = self.excluded.get_mut(family) {
                    e.retain(|e| e.webhook_id != Some(*id));
                }
                Some(id.get())
            }
            Call::CreateWebhookField {
                family,
                webhook,
                field,
                ..
            } => {
                let parent = self.resolve(*webhook, created)?;
                self.owned_webhook(owner, *family, parent)?;
                let labels = &self.webhook_field_labels;
                let known = field
                    .field_id
                    .is_some_and(|v| labels.iter().any(|(l, _)| *l == v));
                let id = self.next_id + 1;
                let rows = self.fields.entry(*family).or_default();
                let created = children::create(rows, parent, field, known, id)?;
                self.next_id = id;
                created
            }
            Call::UpdateWebhookField {
                family,
                webhook,
                field,
                ..
            } => {
                self.owned_webhook(owner, *family, *webhook)?;
                children::update(self.fields.entry(*family).or_default(), *webhook, field)?
            }
            Call::DeleteWebhookField {
                family,
                webhook,
                id,
                ..
            } => {
                self.owned_webhook(owner, *family, *webhook)?;
                children::delete(self.fields.entry(*family).or_default(), *webhook, *id)?
            }
            Call::CreateWebhookUdfField {
                family,
                webhook,
                field,
                ..
            } => {
                let parent = self.resolve(*webhook, created)?;
                self.owned_webhook(owner, *family, parent)?;
                let labels = &self.webhook_udf_labels;
                let known = family.has_udf_fields()
                    && field
                        .udf_field_id
                        .is_some_and(|v| labels.iter().any(|(l, _)| *l == v));
                let id = self.next_id + 1;
                let rows = self.udf_fields.entry(*family).or_default();
                let created = children::create(rows, parent, field, known, id)?;
                self.next_id = id;
                created
            }
            Call::UpdateWebhookUdfField {
                family,
                webhook,
                field,
                ..
            } => {
                self.owned_webhook(owner, *family, *webhook)?;
                children::update(self.udf_fields.entry(*family).or_default(), *webhook, field)?
            }
            Call::DeleteWebhookUdfField {
                family,
                webhook,
                id,
                ..
            } => {
                self.owned_webhook(owner, *family, *webhook)?;
                children::delete(self.udf_fields.entry(*family).or_default(), *webhook, *id)?
            }
            Call::CreateWebhookExcludedResource {
                family,
                webhook,
                resource,
                ..
            } => {
                let parent = self.resolve(*webhook, created)?;
                self.owned_webhook(owner, *family, parent)?;
                self.next_id += 1;
                self.excluded
                    .entry(*family)
                    .or_default()
                    .push(WebhookExcludedResource {
                        id: Some(self.next_id.into()),
                        resource_id: Some(*resource),
                        webhook_id: Some(parent),
                    });
                Some(self.next_id)
            }
            Call::UpdateResource { resource, .. } => {
                if !self.admin_can_update_resources || call.credentials() != Role::Admin {
                    return Err(CallFailure::NotPermitted {
                        message: Some("admin access to Resources is required".into()),
                    });
                }
                if self.refuses_activation_via_rest && resource.is_active.is_some() {
                    return Err(CallFailure::Rejected {
                        errors: vec![
                            "isActive of an API-only resource can only be changed in the web \
                             interface."
                                .into(),
                        ],
                    });
                }
                let id = resource.id.ok_or(CallFailure::NotFound)?;
                let ignored = self.ignores_activation_via_rest;
                let user = self.user_mut(id.get()).ok_or(CallFailure::NotFound)?;
                if let Some(active) = resource.is_active.filter(|_| !ignored) {
                    user.resource.is_active = Some(active);
                    if !active {
                        // Autotask deactivates the webhooks of a deactivated resource.
                        for list in self.webhooks.values_mut() {
                            for w in list.iter_mut().filter(|w| w.owner_resource_id == Some(id)) {
                                w.is_active = Some(false);
                            }
                        }
                    }
                }
                Some(id.get())
            }
        };
        self.writes += 1;
        Ok(result)
    }
}
