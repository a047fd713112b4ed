//! Webhook rules: creation (Webhooks permission, the level's maximum, `ownerResourceID`,
//! GUID), updates and deletes by the owner only, the duplicate rule, the children (fields,
//! UDF fields, excluded resources: picklists, uniqueness, references), `isReady`, and
//! deactivation (by a write, by the owner's deactivation, by delivery failures) with its
//! callout; also the event error log of dropped events.
//!
//! What it does not do: no delivery, no ticket events (that is `tickets`), no routing of
//! generic writes (that is `rest`).

use autotask_types::WebhookFamily;
use serde_json::{Map, Value as Json, json};

use crate::Error;
use crate::behaviour::WebhookMax;
use crate::metadata::{self, EntityDef, Kind, registry};

use super::accounts::Caller;
use super::db::Db;
use super::events::Outbound;
use super::tables::{
    Row, Table, Write, body_id, guid, normalize, parent_matches, str_field, utc_now,
};
use super::visibility::check_owner;

impl Db {
    /// Creates or updates a webhook (not its children).
    pub(super) fn write_webhook(
        &mut self,
        def: &EntityDef,
        family: WebhookFamily,
        caller: &Caller,
        mode: Write,
        body: &Row,
    ) -> Result<(i64, Vec<Outbound>), Error> {
        let kind = Kind::Webhooks(family);
        if mode == Write::Create {
            if !caller.can_create_webhooks() {
                return Err(Error::rejected(
                    "The logged in user's security level does not have permission to create \
                     webhooks (Other > Webhooks).",
                ));
            }
            let max = caller.level.as_ref().map_or(0, |l| l.webhook_max);
            let created = match self.behaviour.webhook_max {
                WebhookMax::Lifetime => {
                    self.accounts
                        .get(caller.resource_id)
                        .expect("the caller has an account")
                        .webhooks_created
                }
                WebhookMax::Concurrent => WebhookFamily::ALL
                    .iter()
                    .map(|f| {
                        self.tables
                            .get(Kind::Webhooks(*f))
                            .rows()
                            .values()
                            .filter(|r| {
                                r.get("ownerResourceID").and_then(Json::as_i64)
                                    == Some(caller.resource_id)
                            })
                            .count() as u32
                    })
                    .sum(),
            };
            if created >= max {
                return Err(Error::rejected(format!(
                    "The maximum number of webhooks ({max}) this resource may create has been \
                     reached."
                )));
            }
            let mut changes = normalize(def, body, mode)?;
            changes.insert("ownerResourceID".into(), json!(caller.resource_id));
            changes.insert("webhookGUID".into(), json!(guid()));
            changes.insert("isReady".into(), json!(false));
            self.check_duplicate(family, &changes, None)?;
            let id = self.tables.apply(def, mode, body, changes)?;
            self.accounts.count_webhook_created(caller.resource_id);
            return Ok((id, Vec::new()));
        }
        let id = body_id(body)?;
        let existing =
            self.tables.get(kind).get(id).cloned().ok_or_else(|| {
                Error::rejected(format!("{} with id {id} does not exist.", def.name))
            })?;
        check_owner(def, &existing, caller)?;
        let changes = normalize(def, body, mode)?;
        let mut merged = existing.clone();
        merged.extend(changes.clone());
        self.check_duplicate(family, &merged, Some(id))?;
        self.tables.apply(def, mode, body, changes)?;
        let was_active = existing.get("isActive") == Some(&json!(true));
        let now_active = merged.get("isActive") == Some(&json!(true));
        let mut out = Vec::new();
        if was_active && !now_active {
            out.push(self.events.deactivation(&self.name, family, &merged));
        }
        if now_active && !was_active {
            self.events.clear_failures(family, id);
        }
        Ok((id, out))
    }

    /// Autotask's duplicate rule: same entity, same URL and a shared event type, across all
    /// owners, inactive webhooks included. The simulator refuses the write.
    fn check_duplicate(
        &self,
        family: WebhookFamily,
        row: &Row,
        except: Option<i64>,
    ) -> Result<(), Error> {
        let url = str_field(row, "webhookUrl");
        let flag = |r: &Row, k: &str| r.get(k) == Some(&json!(true));
        for (id, other) in self.tables.get(Kind::Webhooks(family)).rows() {
            if Some(*id) == except || !str_field(other, "webhookUrl").eq_ignore_ascii_case(&url) {
                continue;
            }
            for event in [
                "isSubscribedToCreateEvents",
                "isSubscribedToUpdateEvents",
                "isSubscribedToDeleteEvents",
            ] {
                if flag(row, event) && flag(other, event) {
                    return Err(Error::rejected(format!(
                        "A {} with the same webhookUrl and event type already exists (id {id}); \
                         duplicate callouts are not allowed.",
                        family.webhook_entity()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Deletes a webhook (owner only) with its children; an active one sends its
    /// deactivation callout.
    pub(super) fn delete_webhook(
        &mut self,
        def: &EntityDef,
        family: WebhookFamily,
        caller: &Caller,
        id: i64,
    ) -> Result<Vec<Outbound>, Error> {
        let row = self
            .tables
            .get(def.kind)
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("{} with id {id}", def.name)))?;
        check_owner(def, &row, caller)?;
        for child in [
            Kind::WebhookFields(family),
            Kind::WebhookUdfFields(family),
            Kind::WebhookExcluded(family),
        ] {
            if let Some(t) = self.tables.try_get_mut(child) {
                t.retain(|r| r.get("webhookID").and_then(Json::as_i64) != Some(id));
            }
        }
        self.tables.get_mut(def.kind).remove(id);
        self.events.clear_failures(family, id);
        let mut out = Vec::new();
        if row.get("isActive") == Some(&json!(true)) {
            out.push(self.events.deactivation(&self.name, family, &row));
        }
        Ok(out)
    }

    /// Deletes a child row of a webhook the caller owns.
    pub(super) fn delete_webhook_child(
        &mut self,
        def: &EntityDef,
        family: WebhookFamily,
        caller: &Caller,
        id: i64,
        parent: i64,
    ) -> Result<Vec<Outbound>, Error> {
        let hook = self.owned_webhook(family, caller, parent)?;
        let found = self
            .tables
            .get(def.kind)
            .get(id)
            .is_some_and(|r| parent_matches(def, r, Some(parent)));
        if !found {
            return Err(Error::not_found(format!("{} with id {id}", def.name)));
        }
        self.tables.get_mut(def.kind).remove(id);
        self.refresh_ready(family, hook);
        Ok(Vec::new())
    }

    /// Creates or updates a child row (field, UDF field, excluded resource) of a webhook the
    /// caller owns.
    pub(super) fn write_webhook_child(
        &mut self,
        def: &EntityDef,
        family: WebhookFamily,
        caller: &Caller,
        mode: Write,
        body: &Row,
        parent: i64,
    ) -> Result<(i64, Vec<Outbound>), Error> {
        self.owned_webhook(family, caller, parent)?;
        let mut changes = normalize(def, body, mode)?;
        if mode != Write::Create {
            let id = body_id(body)?;
            let ok = self
                .tables
                .get(def.kind)
                .get(id)
                .is_some_and(|r| parent_matches(def, r, Some(parent)));
            if !ok {
                return Err(Error::rejected(format!(
                    "{} with id {id} does not exist on webhook {parent}.",
                    def.name
                )));
            }
        } else {
            changes.insert("webhookID".into(), json!(parent));
        }
        // Picklist and reference checks.
        let key = match def.kind {
            Kind::WebhookFields(_) => Some("fieldID"),
            Kind::WebhookUdfFields(_) => Some("udfFieldID"),
            _ => None,
        };
        if let Some(key) = key {
            if let Some(v) = changes.get(key).and_then(Json::as_i64) {
                let pick = def.field(key).and_then(|f| f.picklist).map(|p| p.values());
                if !pick.unwrap_or_default().iter().any(|(x, _)| *x == v) {
                    return Err(Error::rejected(format!(
                        "{v} is not a valid value for {key} of {}.",
                        def.name
                    )));
                }
                let dup = self.tables.get(def.kind).rows().iter().any(|(id, r)| {
                    parent_matches(def, r, Some(parent))
                        && r.get(key).and_then(Json::as_i64) == Some(v)
                        && (mode == Write::Create || Some(*id) != body_id(body).ok())
                });
                if dup {
                    return Err(Error::rejected(format!(
                        "{key} {v} is already on webhook {parent}."
                    )));
                }
            }
        }
        if let Some(r) = changes.get("resourceID").and_then(Json::as_i64) {
            if !self.tables.get(Kind::Resources).contains(r) {
                return Err(Error::rejected(format!("Resource {r} does not exist.")));
            }
            let dup = self.tables.get(def.kind).rows().values().any(|row| {
                parent_matches(def, row, Some(parent))
                    && row.get("resourceID").and_then(Json::as_i64) == Some(r)
            });
            if dup {
                return Err(Error::rejected(format!(
                    "Resource {r} is already excluded from webhook {parent}."
                )));
            }
        }
        let id = self.tables.apply(def, mode, body, changes)?;
        self.refresh_ready(family, parent);
        Ok((id, Vec::new()))
    }

    /// `isReady` = at least one subscribed field or UDF field.
    fn refresh_ready(&mut self, family: WebhookFamily, hook: i64) {
        let subscribed = |kind| {
            self.tables.try_get(kind).is_some_and(|t: &Table| {
                t.rows().values().any(|r| {
                    r.get("webhookID").and_then(Json::as_i64) == Some(hook)
                        && r.get("isSubscribedField") == Some(&json!(true))
                })
            })
        };
        let ready =
            subscribed(Kind::WebhookFields(family)) || subscribed(Kind::WebhookUdfFields(family));
        if let Some(row) = self.tables.get_mut(Kind::Webhooks(family)).get_mut(hook) {
            row.insert("isReady".into(), json!(ready));
        }
    }

    /// Deactivates every active webhook owned by `owner`, returning the deactivation callouts.
    pub(super) fn deactivate_webhooks_of(&mut self, owner: i64) -> Vec<Outbound> {
        let mut out = Vec::new();
        for family in WebhookFamily::ALL {
            let ids: Vec<i64> = self
                .tables
                .get(Kind::Webhooks(family))
                .rows()
                .iter()
                .filter(|(_, r)| {
                    r.get("ownerResourceID").and_then(Json::as_i64) == Some(owner)
                        && r.get("isActive") == Some(&json!(true))
                })
                .map(|(id, _)| *id)
                .collect();
            for id in ids {
                out.extend(self.deactivate_webhook(family, id));
            }
        }
        out
    }

    /// Marks a webhook inactive and returns its deactivation callout (if it was active).
    fn deactivate_webhook(&mut self, family: WebhookFamily, id: i64) -> Option<Outbound> {
        let row = self.tables.get_mut(Kind::Webhooks(family)).get_mut(id)?;
        if row.get("isActive") != Some(&json!(true)) {
            return None;
        }
        row.insert("isActive".into(), json!(false));
        let row = row.clone();
        Some(self.events.deactivation(&self.name, family, &row))
    }

    /// Books one delivery attempt of an event to webhook `id`. Returns whether to keep
    /// retrying the event (false once delivered, once the webhook is inactive or gone, or
    /// when this failure reached `deactivate_after` consecutive failures and deactivated
    /// it) and the deactivation callouts to send.
    pub(crate) fn book_delivery(
        &mut self,
        family: WebhookFamily,
        id: i64,
        delivered: bool,
        deactivate_after: u32,
    ) -> (bool, Vec<Outbound>) {
        if delivered {
            self.events.clear_failures(family, id);
            return (false, Vec::new());
        }
        if self.events.count_failure(family, id) >= deactivate_after {
            self.events.clear_failures(family, id);
            return (
                false,
                self.deactivate_webhook(family, id).into_iter().collect(),
            );
        }
        let active = self
            .tables
            .get(Kind::Webhooks(family))
            .get(id)
            .is_some_and(|h| h.get("isActive") == Some(&Json::Bool(true)));
        (active, Vec::new())
    }

    /// Writes a dropped event (all attempts failed) to `WebhookEventErrorLogs`.
    pub(crate) fn log_dropped_event(&mut self, c: &Outbound, error: &str) {
        let payload = String::from_utf8_lossy(&c.body).into_owned();
        let sequence = serde_json::from_slice::<Json>(&c.body)
            .ok()
            .and_then(|p| p.get("SequenceNumber").and_then(Json::as_i64));
        let mut row = Map::new();
        for f in &registry().get(Kind::WebhookErrorLogs).fields {
            row.insert(f.name.into(), Json::Null);
        }
        row.insert(
            metadata::error_log_column(c.family).into(),
            json!(c.webhook_id),
        );
        row.insert("createDateTime".into(), json!(utc_now()));
        row.insert("errorMessage".into(), json!(error));
        row.insert("payload".into(), json!(payload));
        row.insert("sequenceNumber".into(), json!(sequence));
        self.tables.get_mut(Kind::WebhookErrorLogs).insert(row);
    }

    /// Webhook rows of a family (console / tests).
    pub(crate) fn webhooks(&self, family: WebhookFamily) -> Vec<Row> {
        self.tables
            .get(Kind::Webhooks(family))
            .rows()
            .values()
            .cloned()
            .collect()
    }
}
