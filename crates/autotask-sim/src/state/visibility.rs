//! Visibility and ownership: which rows a caller may see (tickets by line of business;
//! other owners' webhooks with `other_owners_webhooks = hidden`), and which webhooks a caller
//! may change (only its own).
//!
//! What it does not do: no writes. Rows a caller may not see are absent, not errors
//! (D-AUTH/D-BEST); ownership failures are 500 `errors[]`.

use autotask_types::WebhookFamily;
use serde_json::Value as Json;

use crate::Error;
use crate::behaviour::OtherOwnersWebhooks;
use crate::metadata::{EntityDef, Kind, registry};

use super::accounts::Caller;
use super::db::Db;
use super::tables::{Row, parent_matches};

/// Refuses a change to a webhook the caller does not own.
pub(crate) fn check_owner(def: &EntityDef, row: &Row, caller: &Caller) -> Result<(), Error> {
    if row.get("ownerResourceID").and_then(Json::as_i64) != Some(caller.resource_id) {
        return Err(Error::rejected(format!(
            "{} {} is owned by another resource; only its owner may update or delete it.",
            def.name,
            row.get("id").cloned().unwrap_or(Json::Null)
        )));
    }
    Ok(())
}

impl Db {
    /// Whether the caller may see a row. Only tickets are restricted: a resource with lines
    /// of business sees tickets of those lines, and tickets without one only with "view
    /// items with no assigned LOB"; a resource without lines of business sees every ticket.
    /// Rows it may not see are simply absent (Autotask answers empty results, not errors).
    ///
    /// With `other_owners_webhooks = hidden`, webhooks (and their children) of other owners
    /// are absent in the same way.
    pub(super) fn visible(&self, def: &EntityDef, row: &Row, caller: &Caller) -> bool {
        if let Some(family) = def.kind.family() {
            if self.behaviour.other_owners_webhooks == OtherOwnersWebhooks::Visible {
                return true;
            }
            let owner_of = |hook: &Row| {
                hook.get("ownerResourceID").and_then(Json::as_i64) == Some(caller.resource_id)
            };
            return match def.kind {
                Kind::Webhooks(_) => owner_of(row),
                _ => row
                    .get("webhookID")
                    .and_then(Json::as_i64)
                    .and_then(|p| self.tables.get(Kind::Webhooks(family)).get(p))
                    .is_some_and(owner_of),
            };
        }
        if def.kind != Kind::Tickets {
            return true;
        }
        let Some(account) = self.accounts.get(caller.resource_id) else {
            return false;
        };
        if account.lines_of_business.is_empty() {
            return true;
        }
        match row
            .get("organizationalLevelAssociationID")
            .and_then(Json::as_i64)
        {
            Some(lob) => account.lines_of_business.contains(&lob),
            None => account.view_no_lob,
        }
    }

    /// The row `id` if it exists (under `parent`, for children) and the caller may see it.
    pub(crate) fn find(
        &self,
        def: &EntityDef,
        id: i64,
        parent: Option<i64>,
        caller: &Caller,
    ) -> Option<&Row> {
        self.tables
            .get(def.kind)
            .get(id)
            .filter(|r| parent_matches(def, r, parent) && self.visible(def, r, caller))
    }

    /// The parent webhook, checked to exist and to belong to the caller.
    pub(super) fn owned_webhook(
        &self,
        family: WebhookFamily,
        caller: &Caller,
        id: i64,
    ) -> Result<i64, Error> {
        let def = registry().get(Kind::Webhooks(family));
        let row = self
            .tables
            .get(def.kind)
            .get(id)
            .ok_or_else(|| Error::not_found(format!("{} with id {id}", def.name)))?;
        check_owner(def, row, caller)?;
        Ok(id)
    }
}
