//! [`DbConsole`]: one database's operator console as a Rust API — the Autotask web-interface
//! actions of the seed procedure (API users, secrets, activation, locks, security levels,
//! tracking identifiers, vendors, lines of business), tickets that fire webhooks, and views of
//! what is stored. Methods are synchronous and may be called from any thread; callouts they
//! trigger run on the runtime the simulator was spawned on.
//!
//! What it does not do: no HTTP (that is `routes`), no multi-step seeding (that is `seed`),
//! no rule of its own (each action is a method of the database in `state`).

use std::sync::{Arc, Mutex};

use autotask_types::WebhookFamily;
use serde_json::{Map, Value, json};

use super::types::{ApiUserCreated, ApiUserView, LineOfBusiness, NewApiUser};
use crate::Error;
use crate::metadata::{Kind, registry};
use crate::shared::Inner;
use crate::state::{Db, IntegrationVendor, SecurityLevel, Tracking, random_string};

/// The operator console of one database.
#[derive(Clone)]
pub struct DbConsole {
    inner: Arc<Inner>,
    name: String,
    db: Arc<Mutex<Db>>,
}

impl std::fmt::Debug for DbConsole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConsole")
            .field("name", &self.name)
            .finish()
    }
}

const KEY_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789$*#@~";

impl DbConsole {
    pub(crate) fn new(inner: Arc<Inner>, name: &str) -> Result<Self, Error> {
        let db = inner
            .db(name)
            .ok_or_else(|| Error::not_found(format!("database {name}")))?;
        Ok(Self {
            inner,
            name: name.into(),
            db,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Db> {
        self.db.lock().expect("not poisoned")
    }

    /// Whether `user_name` exists in any database (usernames are unique across them).
    pub(super) fn user_name_taken(&self, user_name: &str) -> bool {
        self.inner.db_of_user(user_name).is_some()
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A3–A9: a new API-only user with generated key (username) and secret; no security
    /// level, tracking identifier or lines of business yet.
    pub fn create_api_user(&self, user: &NewApiUser) -> Result<ApiUserCreated, Error> {
        if user.first_name.trim().is_empty() || user.last_name.trim().is_empty() {
            return Err(Error::bad_request("first and last name are required"));
        }
        let user_name = loop {
            let candidate = format!(
                "{}@{}.example.com",
                random_string(14, KEY_ALPHABET),
                self.name.to_ascii_lowercase()
            );
            if !self.user_name_taken(&candidate) {
                break candidate;
            }
        };
        let secret = random_string(24, SECRET_ALPHABET);
        let email = if user.email.is_empty() {
            user_name.clone()
        } else {
            user.email.clone()
        };
        let id = self.add_user(
            (&user.first_name, &user.last_name, &email),
            &user_name,
            &secret,
            user.locked,
        )?;
        if !user.active {
            self.set_active(id, false)?;
        }
        Ok(ApiUserCreated {
            resource_id: id,
            user_name,
            secret,
        })
    }

    /// Adds an API-only resource (first name, last name, email) with `secret`, locked or
    /// not, under one lock; returns its id.
    pub(super) fn add_user(
        &self,
        (first, last, email): (&str, &str, &str),
        user_name: &str,
        secret: &str,
        locked: bool,
    ) -> Result<i64, Error> {
        let mut db = self.lock();
        let id = db.insert_resource(first, last, email, user_name, true);
        let accounts = db.accounts_mut();
        accounts.set_secret(id, secret)?;
        accounts.set_locked(id, locked)?;
        drop(db);
        self.inner.index_user(user_name, &self.name);
        Ok(id)
    }

    /// Generates a new secret (the old one stops working); returns it once.
    pub fn generate_secret(&self, resource: i64) -> Result<String, Error> {
        let secret = random_string(24, SECRET_ALPHABET);
        self.lock().accounts_mut().set_secret(resource, &secret)?;
        Ok(secret)
    }

    /// A6 / C5: (de)activates a resource. Deactivation deactivates its webhooks and calls
    /// each one's `deactivationUrl`.
    pub fn set_active(&self, resource: i64, active: bool) -> Result<(), Error> {
        let out = self.lock().set_resource_active(resource, active)?;
        self.inner.send_callouts(out);
        Ok(())
    }

    /// Locks or unlocks a resource (locked users get 401).
    pub fn set_locked(&self, resource: i64, locked: bool) -> Result<(), Error> {
        self.lock().accounts_mut().set_locked(resource, locked)
    }

    /// Every security level.
    pub fn security_levels(&self) -> Vec<SecurityLevel> {
        self.lock().accounts().levels().cloned().collect()
    }

    /// W1: copies a level into a new custom (editable) level.
    pub fn copy_security_level(&self, level: i64, name: &str) -> Result<SecurityLevel, Error> {
        self.lock().accounts_mut().copy_level(level, name)
    }

    /// W2–W4: Other > Webhooks on a custom level, with the lifetime maximum.
    pub fn set_webhook_permission(&self, level: i64, enabled: bool, max: u32) -> Result<(), Error> {
        self.lock().accounts_mut().edit_level(level, |l| {
            l.webhooks_enabled = enabled;
            l.webhook_max = max;
        })
    }

    /// Admin rights on Resources/Users (HR) on a custom level.
    pub fn set_resource_admin(&self, level: i64, admin: bool) -> Result<(), Error> {
        self.lock()
            .accounts_mut()
            .edit_level(level, |l| l.resource_admin = admin)
    }

    /// A7: assigns a security level (API users only get API-only levels).
    pub fn assign_security_level(&self, resource: i64, level: i64) -> Result<(), Error> {
        self.lock().accounts_mut().assign_level(resource, level)
    }

    /// The integration vendor list.
    pub fn integration_vendors(&self) -> Vec<IntegrationVendor> {
        self.lock().accounts().vendors().cloned().collect()
    }

    /// The vendor named `name` (case-insensitive).
    pub(super) fn vendor_by_name(&self, name: &str) -> Result<IntegrationVendor, Error> {
        self.integration_vendors()
            .into_iter()
            .find(|v| v.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::not_found(format!("integration vendor {name}")))
    }

    /// A10: API tracking identifier = an integration vendor.
    pub fn set_tracking_vendor(&self, resource: i64, vendor: i64) -> Result<(), Error> {
        self.lock()
            .accounts_mut()
            .set_tracking(resource, Tracking::Vendor(vendor))
    }

    /// API tracking identifier = Custom (Internal Integration): returns the generated code.
    pub fn set_tracking_custom(&self, resource: i64) -> Result<String, Error> {
        let code = format!(
            "SIM-CUSTOM-{}",
            random_string(20, b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        );
        self.lock()
            .accounts_mut()
            .set_tracking(resource, Tracking::Custom(code.clone()))?;
        Ok(code)
    }

    /// V1: sets a vendor active in the Integration Center.
    pub fn set_vendor_active(&self, vendor: i64, active: bool) -> Result<(), Error> {
        self.lock().accounts_mut().set_vendor_active(vendor, active)
    }

    /// Every line of business.
    pub fn lines_of_business(&self) -> Vec<LineOfBusiness> {
        self.lock()
            .lines_of_business()
            .into_iter()
            .map(|(association_id, name)| LineOfBusiness {
                association_id,
                name,
            })
            .collect()
    }

    /// The association id of the line of business "Level1 > Level2".
    pub(super) fn association_id(&self, name: &str) -> Option<i64> {
        self.lock().line_of_business(name)
    }

    /// A11–A12: the associated lines of business (replacing earlier ones) and the
    /// "view items with no assigned LOB" flag.
    pub fn set_lines_of_business(
        &self,
        resource: i64,
        associations: &[i64],
        view_items_with_no_lob: bool,
    ) -> Result<(), Error> {
        self.lock()
            .set_lines_of_business(resource, associations, view_items_with_no_lob)
    }

    /// The resource id of a username (e.g. a fixture user).
    pub fn resource_id_of(&self, user_name: &str) -> Option<i64> {
        self.lock().user_id(user_name)
    }

    /// What the web interface shows about a resource.
    pub fn api_user(&self, resource: i64) -> Result<ApiUserView, Error> {
        let db = self.lock();
        let a = db
            .account(resource)
            .ok_or_else(|| Error::not_found(format!("resource {resource}")))?;
        let row = db
            .table(Kind::Resources)
            .get(resource)
            .expect("every account has a resource row");
        let s = |k: &str| {
            row.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let lobs = db.lines_of_business();
        let accounts = db.accounts();
        Ok(ApiUserView {
            resource_id: resource,
            user_name: s("userName"),
            first_name: s("firstName"),
            last_name: s("lastName"),
            active: row.get("isActive") == Some(&json!(true)),
            locked: a.locked,
            api_only: a.api_only,
            security_level_id: a.security_level,
            security_level: a
                .security_level
                .and_then(|l| accounts.level(l))
                .map(|l| l.name.clone()),
            tracking_identifier: a.tracking.as_ref().map(|t| match t {
                Tracking::Vendor(v) => accounts
                    .vendor(*v)
                    .map_or_else(String::new, |v| v.name.clone()),
                Tracking::Custom(_) => "Custom (Internal Integration)".into(),
            }),
            lines_of_business: a
                .lines_of_business
                .iter()
                .filter_map(|id| lobs.iter().find(|(x, _)| x == id).map(|(_, n)| n.clone()))
                .collect(),
            view_items_with_no_lob: a.view_no_lob,
            webhooks_created: a.webhooks_created,
        })
    }

    /// Creates a ticket as `person` (fires create callouts). `fields` are Ticket fields;
    /// `title`, `status`, `priority` and `companyID` default when absent.
    pub fn create_ticket(
        &self,
        fields: &Map<String, Value>,
        person: Option<i64>,
    ) -> Result<i64, Error> {
        let mut f = Map::new();
        f.insert("title".into(), json!("Simulated ticket"));
        f.insert("status".into(), json!(1));
        f.insert("priority".into(), json!(2));
        f.insert("companyID".into(), json!(0));
        f.extend(fields.clone());
        let (id, out) = self.lock().create_ticket(&f, person)?;
        self.inner.send_callouts(out);
        Ok(id)
    }

    /// Updates a ticket as `person` (fires update callouts for changed subscribed fields).
    pub fn update_ticket(
        &self,
        id: i64,
        fields: &Map<String, Value>,
        person: Option<i64>,
    ) -> Result<(), Error> {
        let out = self.lock().update_ticket(id, fields, person)?;
        self.inner.send_callouts(out);
        Ok(())
    }

    /// Deletes a ticket as `person` (fires delete callouts).
    pub fn delete_ticket(&self, id: i64, person: Option<i64>) -> Result<(), Error> {
        let out = self.lock().delete_ticket(id, person)?;
        self.inner.send_callouts(out);
        Ok(())
    }

    /// Webhooks of a family, as REST would return them.
    pub fn webhooks(&self, family: WebhookFamily) -> Vec<Value> {
        self.lock()
            .webhooks(family)
            .into_iter()
            .map(Value::Object)
            .collect()
    }

    /// Every stored row of an entity by its REST collection path (e.g. `Tickets`,
    /// `TicketWebhookFields`, `OrganizationalResources`), ignoring visibility rules.
    pub fn rows(&self, entity: &str) -> Result<Vec<Value>, Error> {
        let def = registry()
            .by_path(entity)
            .ok_or_else(|| Error::not_found(format!("entity {entity}")))?;
        Ok(self
            .lock()
            .table(def.kind)
            .rows()
            .values()
            .cloned()
            .map(Value::Object)
            .collect())
    }

    /// Requests counted in the current threshold window.
    pub fn threshold_count(&self) -> u32 {
        let window = std::time::Duration::from_secs(self.inner.config.threshold_window_secs);
        self.lock()
            .usage_mut()
            .count(tokio::time::Instant::now(), window)
    }

    /// The hourly threshold.
    pub(super) fn hourly_threshold(&self) -> u32 {
        self.lock().usage().hourly_threshold()
    }

    /// Changes the hourly threshold.
    pub fn set_hourly_threshold(&self, threshold: u32) {
        self.lock().usage_mut().set_hourly_threshold(threshold);
    }
}
