//! Tickets through the console (REST only reads them): create, update and delete, and the
//! ticket events they fire — to every active, ready webhook subscribed to the event whose
//! subscribed fields changed (deletes: every subscribed one), unless the acting resource is
//! excluded, with the always-displayed fields.
//!
//! What it does not do: no delivery (the events come back as [`Outbound`]), no ticket
//! visibility (that is `visibility`).

use autotask_types::WebhookFamily;
use serde_json::{Map, Value as Json, json};

use crate::Error;
use crate::metadata::{self, Kind, registry};

use super::db::Db;
use super::events::{Outbound, encode};
use super::tables::{Row, Write, normalize, str_field, utc_now};

impl Db {
    /// Creates a ticket (console) and returns its id and the create callouts.
    pub(crate) fn create_ticket(
        &mut self,
        fields: &Row,
        person: Option<i64>,
    ) -> Result<(i64, Vec<Outbound>), Error> {
        let def = registry().get(Kind::Tickets);
        let mut changes = normalize(def, fields, Write::Create)?;
        let now = utc_now();
        changes.insert("createDate".into(), json!(now));
        changes.insert("lastActivityDate".into(), json!(now));
        changes.insert("creatorResourceID".into(), json!(person));
        let id = self.tables.apply(def, Write::Create, fields, changes)?;
        let number = format!("T20260101.{:04}", id % 10_000);
        let row = self
            .tables
            .get_mut(Kind::Tickets)
            .get_mut(id)
            .expect("just inserted");
        row.insert("ticketNumber".into(), json!(number));
        row.insert("userDefinedFields".into(), json!([]));
        let row = row.clone();
        let names: Vec<String> = row.keys().cloned().collect();
        Ok((id, self.ticket_callouts("Create", &row, &names, person)))
    }

    /// Deletes a ticket (console) and returns the delete callouts (always-displayed fields
    /// only).
    pub(crate) fn delete_ticket(
        &mut self,
        id: i64,
        person: Option<i64>,
    ) -> Result<Vec<Outbound>, Error> {
        let row = self
            .tables
            .get_mut(Kind::Tickets)
            .remove(id)
            .ok_or_else(|| Error::not_found(format!("ticket {id}")))?;
        Ok(self.ticket_callouts("Delete", &row, &[], person))
    }

    /// Updates a ticket (console) and returns the update callouts.
    pub(crate) fn update_ticket(
        &mut self,
        id: i64,
        fields: &Row,
        person: Option<i64>,
    ) -> Result<Vec<Outbound>, Error> {
        let def = registry().get(Kind::Tickets);
        let changes = normalize(def, fields, Write::Patch)?;
        let row = self
            .tables
            .get_mut(Kind::Tickets)
            .get_mut(id)
            .ok_or_else(|| Error::not_found(format!("ticket {id}")))?;
        let changed: Vec<String> = changes
            .iter()
            .filter(|(k, v)| row.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .collect();
        row.extend(changes);
        row.insert("lastActivityDate".into(), json!(utc_now()));
        let row = row.clone();
        Ok(self.ticket_callouts("Update", &row, &changed, person))
    }

    fn ticket_callouts(
        &mut self,
        action: &'static str,
        ticket: &Row,
        changed: &[String],
        person: Option<i64>,
    ) -> Vec<Outbound> {
        let family = WebhookFamily::Ticket;
        let catalog = metadata::webhook_field_catalog(family);
        let event_flag = match action {
            "Create" => "isSubscribedToCreateEvents",
            "Update" => "isSubscribedToUpdateEvents",
            _ => "isSubscribedToDeleteEvents",
        };
        let hooks: Vec<Row> = self
            .tables
            .get(Kind::Webhooks(family))
            .rows()
            .values()
            .filter(|h| {
                h.get("isActive") == Some(&json!(true))
                    && h.get("isReady") == Some(&json!(true))
                    && h.get(event_flag) == Some(&json!(true))
            })
            .cloned()
            .collect();
        let mut out = Vec::new();
        for hook in hooks {
            let hook_id = hook.get("id").and_then(Json::as_i64).unwrap_or_default();
            let excluded = person.is_some_and(|p| {
                self.tables
                    .get(Kind::WebhookExcluded(family))
                    .rows()
                    .values()
                    .any(|r| {
                        r.get("webhookID").and_then(Json::as_i64) == Some(hook_id)
                            && r.get("resourceID").and_then(Json::as_i64) == Some(p)
                    })
            });
            if excluded {
                continue;
            }
            let mut subscribed = Vec::new();
            let mut always = Vec::new();
            for r in self.tables.get(Kind::WebhookFields(family)).rows().values() {
                if r.get("webhookID").and_then(Json::as_i64) != Some(hook_id) {
                    continue;
                }
                let Some(name) = r
                    .get("fieldID")
                    .and_then(Json::as_i64)
                    .and_then(|v| catalog.iter().find(|(x, _)| *x == v))
                    .map(|(_, n)| *n)
                else {
                    continue;
                };
                if r.get("isSubscribedField") == Some(&json!(true)) {
                    subscribed.push(name);
                }
                if r.get("isDisplayAlwaysField") == Some(&json!(true)) {
                    always.push(name);
                }
            }
            let fired: Vec<&str> = subscribed
                .iter()
                .copied()
                .filter(|n| changed.iter().any(|c| c == n))
                .collect();
            // Deletes fire whatever changed; creates and updates need a subscribed field.
            if fired.is_empty() && action != "Delete" {
                continue;
            }
            let mut fields = Map::new();
            for name in fired.iter().chain(always.iter()) {
                fields.insert(
                    (*name).into(),
                    ticket.get(*name).cloned().unwrap_or(Json::Null),
                );
            }
            let payload = json!({
                "Action": action,
                "Guid": hook.get("webhookGUID").cloned().unwrap_or(Json::Null),
                "EntityType": "Ticket",
                "Id": ticket.get("id").cloned().unwrap_or(Json::Null),
                "Fields": fields,
                "EventTime": utc_now(),
                "SequenceNumber": self.events.next_sequence(),
                "PersonID": person,
            });
            out.push(Outbound {
                database: self.name.clone(),
                family,
                webhook_id: hook_id,
                url: str_field(&hook, "webhookUrl"),
                secret: str_field(&hook, "secretKey"),
                body: encode(&payload),
                action,
            });
        }
        out
    }
}
