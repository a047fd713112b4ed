//! Resources and users: adding a resource with its account, authenticating a REST caller,
//! `PATCH`/`PUT Resources` (admin rights, read-only fields, the `resource_activation` knob),
//! (de)activation (which deactivates the owner's webhooks), and lines of business (the
//! organizational levels and a resource's memberships).
//!
//! What it does not do: no webhook rules beyond calling `webhooks` on deactivation; the
//! web interface's account-only changes (secrets, locks, levels, tracking) are
//! `accounts`' methods.

use serde_json::{Map, Value as Json, json};

use crate::Error;
use crate::metadata::{self, EntityDef, Kind, registry};

use super::accounts::Caller;
use super::db::Db;
use super::events::Outbound;
use super::tables::{Row, Table, Write, body_id, normalize, obj, utc_now};

impl Db {
    /// Adds a resource row plus its hidden account; returns its id.
    pub(crate) fn insert_resource(
        &mut self,
        first: &str,
        last: &str,
        email: &str,
        user_name: &str,
        api_only: bool,
    ) -> i64 {
        let (license, user_type, rtype) = if api_only {
            (
                metadata::LICENSE_API_USER,
                metadata::USER_TYPE_API,
                "API User",
            )
        } else {
            (
                metadata::LICENSE_PROFESSIONAL,
                metadata::USER_TYPE_EMPLOYEE,
                "Employee",
            )
        };
        let mut row = Map::new();
        for f in &registry().get(Kind::Resources).fields {
            row.insert(f.name.into(), Json::Null);
        }
        let initials: String = [first, last]
            .iter()
            .filter_map(|s| s.chars().next())
            .collect();
        for (k, v) in [
            ("firstName", json!(first)),
            ("lastName", json!(last)),
            ("email", json!(email)),
            ("userName", json!(user_name)),
            ("isActive", json!(true)),
            ("licenseType", json!(license)),
            ("userType", json!(user_type)),
            ("resourceType", json!(rtype)),
            ("initials", json!(initials)),
            ("dateFormat", json!("dd/MM/yyyy")),
            ("timeFormat", json!("HH:mm")),
            ("numberFormat", json!("X,XXX.XX")),
            ("emailTypeCode", json!("PRIMARY")),
            ("hireDate", json!(utc_now())),
            ("locationID", json!(1)),
            ("payrollType", json!(1)),
            ("travelAvailabilityPct", json!("0")),
        ] {
            row.insert(k.into(), v);
        }
        let id = self.tables.get_mut(Kind::Resources).insert(row);
        self.accounts.add(id, user_name, api_only);
        id
    }

    /// Checks the three headers the way Autotask does (see `Accounts::authenticate`).
    pub(crate) fn authenticate(
        &self,
        user: Option<&str>,
        secret: Option<&str>,
        code: Option<&str>,
    ) -> Result<Caller, Error> {
        let resources = self.tables.get(Kind::Resources);
        self.accounts.authenticate(
            user,
            secret,
            code,
            |id| resources.get(id).and_then(|r| r.get("isActive")) == Some(&Json::Bool(true)),
            self.behaviour.tracking_mismatch_status,
        )
    }

    /// `PATCH`/`PUT Resources` (create is a 405).
    pub(super) fn write_resource(
        &mut self,
        def: &EntityDef,
        caller: &Caller,
        mode: Write,
        body: &Row,
    ) -> Result<(i64, Vec<Outbound>), Error> {
        if mode == Write::Create {
            return Err(Error::MethodNotAllowed {
                method: "POST".into(),
            });
        }
        let id = body_id(body)?;
        if !self.tables.get(Kind::Resources).contains(id) {
            return Err(Error::rejected(format!(
                "Resource with id {id} does not exist."
            )));
        }
        if !caller.resource_admin() {
            return Err(Error::rejected(
                "The logged in user's security level does not allow updating Resources \
                 (admin rights on Resources/Users (HR) are required).",
            ));
        }
        let mut changes = normalize(def, body, mode)?;
        let was_active = self.is_active(id);
        let api_only = self.accounts.get(id).is_some_and(|a| a.api_only);
        if self.api_user_activation_ignored && api_only {
            changes.insert("isActive".into(), json!(was_active));
        }
        let activation_changes = changes
            .get("isActive")
            .is_some_and(|v| v != &json!(was_active));
        if api_only && activation_changes && !self.api_user_activation_via_rest {
            return Err(Error::rejected(
                "isActive of an API-only resource can only be changed in the web interface.",
            ));
        }
        self.tables.apply(def, mode, body, changes)?;
        let out = if was_active && !self.is_active(id) {
            self.deactivate_webhooks_of(id)
        } else {
            Vec::new()
        };
        Ok((id, out))
    }

    fn is_active(&self, resource: i64) -> bool {
        self.tables
            .get(Kind::Resources)
            .get(resource)
            .is_some_and(|r| r.get("isActive") == Some(&json!(true)))
    }

    /// Sets a resource's `isActive` (console); deactivating it deactivates its webhooks.
    pub(crate) fn set_resource_active(
        &mut self,
        id: i64,
        active: bool,
    ) -> Result<Vec<Outbound>, Error> {
        let row = self
            .tables
            .get_mut(Kind::Resources)
            .get_mut(id)
            .ok_or_else(|| Error::not_found(format!("resource {id}")))?;
        let was = row.get("isActive") == Some(&json!(true));
        row.insert("isActive".into(), json!(active));
        Ok(if was && !active {
            self.deactivate_webhooks_of(id)
        } else {
            Vec::new()
        })
    }

    /// Adds "Level1 > Level2" (levels found by name or added); returns the association id.
    pub(super) fn add_line_of_business(&mut self, path: &str) -> i64 {
        let (l1, l2) = path.split_once('>').unwrap_or(("General", path));
        let (l1, l2) = (l1.trim(), l2.trim());
        let find_or_add = |table: &mut Table, name: &str| {
            table
                .rows()
                .iter()
                .find(|(_, r)| r.get("name").and_then(Json::as_str) == Some(name))
                .map(|(id, _)| *id)
                .unwrap_or_else(|| {
                    table.insert(obj(
                        json!({"name": name, "description": null, "isActive": true}),
                    ))
                })
        };
        let l1 = find_or_add(self.tables.get_mut(Kind::OrgLevel1), l1);
        let l2 = find_or_add(self.tables.get_mut(Kind::OrgLevel2), l2);
        self.tables.get_mut(Kind::OrgAssociation).insert(obj(json!({
            "isActive": true,
            "organizationalLevel1ID": l1,
            "organizationalLevel2ID": l2,
        })))
    }

    /// The name of an organizational level row.
    fn level_name(&self, kind: Kind, id: &Json) -> Option<String> {
        id.as_i64()
            .and_then(|id| self.tables.get(kind).get(id))
            .and_then(|r| r.get("name"))
            .and_then(Json::as_str)
            .map(str::to_owned)
    }

    /// The association id of "Level1 > Level2".
    pub(crate) fn line_of_business(&self, path: &str) -> Option<i64> {
        let (l1, l2) = path.split_once('>')?;
        self.tables
            .get(Kind::OrgAssociation)
            .rows()
            .iter()
            .find(|(_, r)| {
                self.level_name(Kind::OrgLevel1, &r["organizationalLevel1ID"])
                    .as_deref()
                    == Some(l1.trim())
                    && self
                        .level_name(Kind::OrgLevel2, &r["organizationalLevel2ID"])
                        .as_deref()
                        == Some(l2.trim())
            })
            .map(|(id, _)| *id)
    }

    /// Every line of business as (association id, "Level1 > Level2").
    pub(crate) fn lines_of_business(&self) -> Vec<(i64, String)> {
        let name_of = |kind, id: &Json| self.level_name(kind, id).unwrap_or_else(|| "?".into());
        self.tables
            .get(Kind::OrgAssociation)
            .rows()
            .iter()
            .map(|(id, r)| {
                (
                    *id,
                    format!(
                        "{} > {}",
                        name_of(Kind::OrgLevel1, &r["organizationalLevel1ID"]),
                        name_of(Kind::OrgLevel2, &r["organizationalLevel2ID"])
                    ),
                )
            })
            .collect()
    }

    /// A11–A12: a resource's lines of business (replacing earlier ones, also as
    /// `OrganizationalResources` rows) and its "view items with no assigned LOB" flag.
    pub(crate) fn set_lines_of_business(
        &mut self,
        resource: i64,
        associations: &[i64],
        view_no_lob: bool,
    ) -> Result<(), Error> {
        for a in associations {
            if !self.tables.get(Kind::OrgAssociation).contains(*a) {
                return Err(Error::not_found(format!(
                    "line of business (association) {a}"
                )));
            }
        }
        self.accounts
            .set_lines_of_business(resource, associations, view_no_lob)?;
        let t = self.tables.get_mut(Kind::OrgResources);
        t.retain(|r| r.get("resourceID").and_then(Json::as_i64) != Some(resource));
        for a in associations {
            t.insert(obj(json!({
                "organizationalLevelAssociationID": a,
                "resourceID": resource,
            })));
        }
        Ok(())
    }
}
