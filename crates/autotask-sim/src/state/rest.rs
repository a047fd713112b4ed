//! REST writes: `POST`, `PATCH`, `PUT` and `DELETE` routed by entity kind to the rule that
//! owns it (resources, webhooks and their children; the organizational levels with their
//! reference checks; 405 for read-only entities).
//!
//! What it does not do: no reads (that is `query`), no HTTP (the REST layer parses the
//! request and answers).

use serde_json::Value as Json;

use crate::Error;
use crate::metadata::{EntityDef, Kind};

use super::accounts::Caller;
use super::db::Db;
use super::events::Outbound;
use super::tables::{Write, normalize};

impl Db {
    /// Create, PATCH or PUT through REST with Autotask's rules. Returns the item id and the
    /// callouts to deliver.
    pub(crate) fn write(
        &mut self,
        def: &EntityDef,
        caller: &Caller,
        mode: Write,
        body: &Json,
        parent: Option<i64>,
    ) -> Result<(i64, Vec<Outbound>), Error> {
        let body = body
            .as_object()
            .ok_or_else(|| Error::rejected("The request body must be a JSON object."))?;
        match def.kind {
            Kind::Resources => self.write_resource(def, caller, mode, body),
            Kind::Webhooks(family) => self.write_webhook(def, family, caller, mode, body),
            Kind::WebhookFields(family)
            | Kind::WebhookUdfFields(family)
            | Kind::WebhookExcluded(family) => {
                let parent = parent.ok_or_else(|| {
                    Error::rejected(format!(
                        "{} can only be written through its parent webhook.",
                        def.name
                    ))
                })?;
                self.write_webhook_child(def, family, caller, mode, body, parent)
            }
            Kind::OrgLevel1 | Kind::OrgLevel2 | Kind::OrgAssociation => {
                let changes = normalize(def, body, mode)?;
                if def.kind == Kind::OrgAssociation {
                    for (field, kind) in [
                        ("organizationalLevel1ID", Kind::OrgLevel1),
                        ("organizationalLevel2ID", Kind::OrgLevel2),
                    ] {
                        if let Some(id) = changes.get(field).and_then(Json::as_i64) {
                            if !self.tables.get(kind).contains(id) {
                                return Err(Error::rejected(format!(
                                    "{field} {id} does not exist."
                                )));
                            }
                        }
                    }
                }
                let id = self.tables.apply(def, mode, body, changes)?;
                Ok((id, Vec::new()))
            }
            Kind::Tickets | Kind::OrgResources | Kind::WebhookErrorLogs => {
                Err(Error::MethodNotAllowed {
                    method: if mode == Write::Create {
                        "POST"
                    } else {
                        "PATCH"
                    }
                    .into(),
                })
            }
        }
    }

    /// `DELETE {Entity}/{id}` (and children through their parent).
    pub(crate) fn delete(
        &mut self,
        def: &EntityDef,
        caller: &Caller,
        id: i64,
        parent: Option<i64>,
    ) -> Result<Vec<Outbound>, Error> {
        match def.kind {
            Kind::Webhooks(family) => self.delete_webhook(def, family, caller, id),
            Kind::WebhookFields(family)
            | Kind::WebhookUdfFields(family)
            | Kind::WebhookExcluded(family) => {
                let parent = parent.ok_or_else(|| Error::MethodNotAllowed {
                    method: "DELETE".into(),
                })?;
                self.delete_webhook_child(def, family, caller, id, parent)
            }
            Kind::WebhookErrorLogs => {
                self.tables
                    .get_mut(def.kind)
                    .remove(id)
                    .ok_or_else(|| Error::not_found(format!("{} with id {id}", def.name)))?;
                Ok(Vec::new())
            }
            _ => Err(Error::MethodNotAllowed {
                method: "DELETE".into(),
            }),
        }
    }
}
