//! The operator console: the Autotask web-interface actions of the seed procedure, as Rust
//! methods on [`DbConsole`] and as JSON over HTTP under `/_sim/...`. The production client
//! never calls it; tests and the demo use it to play the operator.
//!
//! Seed step → console action: A3–A9 `create_api_user` (key and secret generated and returned
//! once), A6 `set_active`, A7 `assign_security_level`, A10 `set_tracking_vendor`, A11–A12
//! `set_lines_of_business`, W1–W4 `copy_security_level` + `set_webhook_permission` (system
//! levels cannot be edited), V1 `set_vendor_active`, C5 `set_active(true)`. Ticket create and
//! update fire ticket webhooks.

use std::sync::{Arc, Mutex};

use autotask_types::WebhookFamily;
use axum::Json;
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::Error;
use crate::callout::{CalloutRecord, Dispatcher};
use crate::config::{ApiUserConfig, DatabaseConfig};
use crate::faults::FaultRule;
use crate::server::{Inner, RequestRecord};
use crate::state::{
    Db, IntegrationVendor, LEVEL_API_SYSTEM, SecurityLevel, Tracking, random_string,
};

/// General fields of a new API user (seed A4–A6).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NewApiUser {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Email (receives integration error mails).
    pub email: String,
    /// Active (A6).
    pub active: bool,
    /// Locked.
    pub locked: bool,
}

/// A created API user: the generated key (username) and secret, shown once.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiUserCreated {
    /// The resource id.
    pub resource_id: i64,
    /// The generated key, email-formatted: the `UserName` header.
    pub user_name: String,
    /// The generated secret: the `Secret` header.
    pub secret: String,
}

impl std::fmt::Debug for ApiUserCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiUserCreated")
            .field("resource_id", &self.resource_id)
            .field("user_name", &self.user_name)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Everything the web interface shows about a resource (for tests and the demo).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiUserView {
    /// Resource id.
    pub resource_id: i64,
    /// Username.
    pub user_name: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Active.
    pub active: bool,
    /// Locked.
    pub locked: bool,
    /// API-only resource.
    pub api_only: bool,
    /// Security level id.
    pub security_level_id: Option<i64>,
    /// Security level name.
    pub security_level: Option<String>,
    /// Tracking identifier: the vendor's name, or "Custom (Internal Integration)".
    pub tracking_identifier: Option<String>,
    /// Associated lines of business ("Level1 > Level2").
    pub lines_of_business: Vec<String>,
    /// "Resource can view items with no assigned Line of Business".
    pub view_items_with_no_lob: bool,
    /// Webhooks created over the account's lifetime.
    pub webhooks_created: u32,
}

/// A line of business (an organizational level association).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineOfBusiness {
    /// The association id (what `OrganizationalResources` reference).
    pub association_id: i64,
    /// "Level1 > Level2".
    pub name: String,
}

/// The whole seed (A1–A13, W1–W4) in one call, for tests that need a ready API user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SeedApiUser {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Integration vendor name (A10); `None` = custom internal integration.
    pub vendor: Option<String>,
    /// Webhook maximum of the copied level (W3); `None` keeps "API User (system)".
    pub webhook_max: Option<u32>,
    /// Lines of business (A11).
    pub lines_of_business: Vec<String>,
    /// A12.
    pub view_items_with_no_lob: bool,
}

impl Default for SeedApiUser {
    fn default() -> Self {
        Self {
            first_name: "Sophos".into(),
            last_name: "Integration".into(),
            vendor: Some(crate::state::SOPHOS_VENDOR_NAME.into()),
            webhook_max: Some(10),
            lines_of_business: vec![
                "General > IT Services".into(),
                "General > Software Development".into(),
            ],
            view_items_with_no_lob: true,
        }
    }
}

/// A seeded API user with the code to send as `ApiIntegrationCode`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeededApiUser {
    /// Resource id.
    pub resource_id: i64,
    /// `UserName`.
    pub user_name: String,
    /// `Secret`.
    pub secret: String,
    /// `ApiIntegrationCode`.
    pub integration_code: String,
    /// The security level assigned.
    pub security_level_id: i64,
}

impl std::fmt::Debug for SeededApiUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeededApiUser")
            .field("resource_id", &self.resource_id)
            .field("user_name", &self.user_name)
            .field("secret", &"<redacted>")
            .field("security_level_id", &self.security_level_id)
            .finish_non_exhaustive()
    }
}

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
            if self.inner.db_of_user(&candidate).is_none() {
                break candidate;
            }
        };
        let secret = random_string(24, SECRET_ALPHABET);
        let email = if user.email.is_empty() {
            user_name.clone()
        } else {
            user.email.clone()
        };
        let mut db = self.lock();
        let id = db.insert_resource(&user.first_name, &user.last_name, &email, &user_name, true);
        let account = db.accounts.get_mut(&id).expect("just inserted");
        account.secret = Some(secret.clone());
        account.locked = user.locked;
        drop(db);
        if !user.active {
            self.set_active(id, false)?;
        }
        Ok(ApiUserCreated {
            resource_id: id,
            user_name,
            secret,
        })
    }

    pub(crate) fn add_fixture_user(&self, u: &ApiUserConfig) -> Result<(), Error> {
        if self.inner.db_of_user(&u.user_name).is_some() {
            return Err(Error::conflict(format!("username {} exists", u.user_name)));
        }
        let email = u.email.clone().unwrap_or_else(|| u.user_name.clone());
        let id = {
            let mut db = self.lock();
            let id = db.insert_resource(&u.first_name, &u.last_name, &email, &u.user_name, true);
            db.accounts.get_mut(&id).expect("just inserted").secret = Some(u.secret.clone());
            id
        };
        if let Some(level) = &u.security_level {
            let base = self
                .security_levels()
                .into_iter()
                .find(|l| l.name.eq_ignore_ascii_case(level))
                .ok_or_else(|| Error::Fixtures {
                    message: format!("unknown security level {level}"),
                })?;
            let level_id = match u.webhook_max {
                Some(max) => {
                    let copy =
                        self.copy_security_level(base.id, &format!("{} (webhooks)", base.name))?;
                    self.set_webhook_permission(copy.id, true, max)?;
                    copy.id
                }
                None => base.id,
            };
            self.assign_security_level(id, level_id)?;
        }
        if let Some(vendor) = &u.vendor {
            let v = self.vendor_by_name(vendor)?;
            self.set_tracking_vendor(id, v.id)?;
        }
        let lobs = u
            .lines_of_business
            .iter()
            .map(|l| {
                self.lock()
                    .line_of_business(l)
                    .ok_or_else(|| Error::Fixtures {
                        message: format!("unknown line of business {l}"),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.set_lines_of_business(id, &lobs, u.view_items_with_no_lob)?;
        if !u.active {
            self.set_active(id, false)?;
        }
        Ok(())
    }

    /// Generates a new secret (the old one stops working); returns it once.
    pub fn generate_secret(&self, resource: i64) -> Result<String, Error> {
        let secret = random_string(24, SECRET_ALPHABET);
        let mut db = self.lock();
        let a = db
            .accounts
            .get_mut(&resource)
            .ok_or_else(|| Error::not_found(format!("resource {resource}")))?;
        a.secret = Some(secret.clone());
        Ok(secret)
    }

    /// A6 / C5: (de)activates a resource. Deactivation deactivates its webhooks and calls
    /// each one's `deactivationUrl`.
    pub fn set_active(&self, resource: i64, active: bool) -> Result<(), Error> {
        let out = self.lock().set_resource_active(resource, active)?;
        Dispatcher::send(&self.inner, out);
        Ok(())
    }

    /// Locks or unlocks a resource (locked users get 401).
    pub fn set_locked(&self, resource: i64, locked: bool) -> Result<(), Error> {
        let mut db = self.lock();
        db.accounts
            .get_mut(&resource)
            .ok_or_else(|| Error::not_found(format!("resource {resource}")))?
            .locked = locked;
        Ok(())
    }

    /// Every security level.
    pub fn security_levels(&self) -> Vec<SecurityLevel> {
        self.lock().levels.values().cloned().collect()
    }

    /// W1: copies a level into a new custom (editable) level.
    pub fn copy_security_level(&self, level: i64, name: &str) -> Result<SecurityLevel, Error> {
        let mut db = self.lock();
        let mut copy = db
            .levels
            .get(&level)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("security level {level}")))?;
        if db
            .levels
            .values()
            .any(|l| l.name.eq_ignore_ascii_case(name))
        {
            return Err(Error::conflict(format!("security level {name} exists")));
        }
        copy.id = db.new_level_id();
        copy.name = name.into();
        copy.system = false;
        db.levels.insert(copy.id, copy.clone());
        Ok(copy)
    }

    fn edit_level(&self, level: i64, f: impl FnOnce(&mut SecurityLevel)) -> Result<(), Error> {
        let mut db = self.lock();
        let l = db
            .levels
            .get_mut(&level)
            .ok_or_else(|| Error::not_found(format!("security level {level}")))?;
        if l.system {
            return Err(Error::conflict(format!(
                "{} is a system security level: it cannot be edited, only copied",
                l.name
            )));
        }
        f(l);
        Ok(())
    }

    /// W2–W4: Other > Webhooks on a custom level, with the lifetime maximum.
    pub fn set_webhook_permission(&self, level: i64, enabled: bool, max: u32) -> Result<(), Error> {
        self.edit_level(level, |l| {
            l.webhooks_enabled = enabled;
            l.webhook_max = max;
        })
    }

    /// Admin rights on Resources/Users (HR) on a custom level.
    pub fn set_resource_admin(&self, level: i64, admin: bool) -> Result<(), Error> {
        self.edit_level(level, |l| l.resource_admin = admin)
    }

    /// A7: assigns a security level (API users only get API-only levels).
    pub fn assign_security_level(&self, resource: i64, level: i64) -> Result<(), Error> {
        let mut db = self.lock();
        let l = db
            .levels
            .get(&level)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("security level {level}")))?;
        let a = db
            .accounts
            .get_mut(&resource)
            .ok_or_else(|| Error::not_found(format!("resource {resource}")))?;
        if a.api_only != l.api_only {
            return Err(Error::conflict(format!(
                "{} is not offered for this kind of resource (API users need an API-only level)",
                l.name
            )));
        }
        a.security_level = Some(level);
        Ok(())
    }

    /// The integration vendor list.
    pub fn integration_vendors(&self) -> Vec<IntegrationVendor> {
        self.lock().vendors.values().cloned().collect()
    }

    fn vendor_by_name(&self, name: &str) -> Result<IntegrationVendor, Error> {
        self.integration_vendors()
            .into_iter()
            .find(|v| v.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::not_found(format!("integration vendor {name}")))
    }

    /// A10: API tracking identifier = an integration vendor.
    pub fn set_tracking_vendor(&self, resource: i64, vendor: i64) -> Result<(), Error> {
        let mut db = self.lock();
        if !db.vendors.contains_key(&vendor) {
            return Err(Error::not_found(format!("integration vendor {vendor}")));
        }
        db.accounts
            .get_mut(&resource)
            .ok_or_else(|| Error::not_found(format!("resource {resource}")))?
            .tracking = Some(Tracking::Vendor(vendor));
        Ok(())
    }

    /// API tracking identifier = Custom (Internal Integration): returns the generated code.
    pub fn set_tracking_custom(&self, resource: i64) -> Result<String, Error> {
        let code = format!(
            "SIM-CUSTOM-{}",
            random_string(20, b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        );
        let mut db = self.lock();
        db.accounts
            .get_mut(&resource)
            .ok_or_else(|| Error::not_found(format!("resource {resource}")))?
            .tracking = Some(Tracking::Custom(code.clone()));
        Ok(code)
    }

    /// V1: sets a vendor active in the Integration Center.
    pub fn set_vendor_active(&self, vendor: i64, active: bool) -> Result<(), Error> {
        let mut db = self.lock();
        db.vendors
            .get_mut(&vendor)
            .ok_or_else(|| Error::not_found(format!("integration vendor {vendor}")))?
            .active = active;
        Ok(())
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
            .accounts
            .get(&resource)
            .ok_or_else(|| Error::not_found(format!("resource {resource}")))?;
        let row = &db.table(crate::metadata::Kind::Resources).rows[&resource];
        let s = |k: &str| {
            row.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let lobs = db.lines_of_business();
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
                .and_then(|l| db.levels.get(&l))
                .map(|l| l.name.clone()),
            tracking_identifier: a.tracking.as_ref().map(|t| match t {
                Tracking::Vendor(v) => db
                    .vendors
                    .get(v)
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

    /// The whole seed for one API user: create (active), copy "API User (system)" with
    /// webhooks enabled (if `webhook_max`), assign it, set the tracking identifier and lines
    /// of business. Returns the credentials and the integration code.
    pub fn seed_api_user(&self, seed: &SeedApiUser) -> Result<SeededApiUser, Error> {
        let created = self.create_api_user(&NewApiUser {
            first_name: seed.first_name.clone(),
            last_name: seed.last_name.clone(),
            email: String::new(),
            active: true,
            locked: false,
        })?;
        let id = created.resource_id;
        let level = match seed.webhook_max {
            Some(max) => {
                let name = format!("API User (webhooks) {id}");
                let copy = self.copy_security_level(LEVEL_API_SYSTEM, &name)?;
                self.set_webhook_permission(copy.id, true, max)?;
                copy.id
            }
            None => LEVEL_API_SYSTEM,
        };
        self.assign_security_level(id, level)?;
        let code = match &seed.vendor {
            Some(name) => {
                let v = self.vendor_by_name(name)?;
                self.set_tracking_vendor(id, v.id)?;
                v.code
            }
            None => self.set_tracking_custom(id)?,
        };
        let lobs = seed
            .lines_of_business
            .iter()
            .map(|l| {
                self.lock()
                    .line_of_business(l)
                    .ok_or_else(|| Error::not_found(format!("line of business {l}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.set_lines_of_business(id, &lobs, seed.view_items_with_no_lob)?;
        Ok(SeededApiUser {
            resource_id: id,
            user_name: created.user_name,
            secret: created.secret,
            integration_code: code,
            security_level_id: level,
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
        Dispatcher::send(&self.inner, out);
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
        Dispatcher::send(&self.inner, out);
        Ok(())
    }

    /// Deletes a ticket as `person` (fires delete callouts).
    pub fn delete_ticket(&self, id: i64, person: Option<i64>) -> Result<(), Error> {
        let out = self.lock().delete_ticket(id, person)?;
        Dispatcher::send(&self.inner, out);
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
        let def = crate::metadata::registry()
            .by_path(entity)
            .ok_or_else(|| Error::not_found(format!("entity {entity}")))?;
        Ok(self
            .lock()
            .table(def.kind)
            .rows
            .values()
            .cloned()
            .map(Value::Object)
            .collect())
    }

    /// Requests counted in the current threshold window.
    pub fn threshold_count(&self) -> u32 {
        let window = std::time::Duration::from_secs(self.inner.config.threshold_window_secs);
        self.lock()
            .window
            .count(tokio::time::Instant::now(), window)
    }

    /// Changes the hourly threshold.
    pub fn set_hourly_threshold(&self, threshold: u32) {
        self.lock().hourly_threshold = threshold;
    }
}

// ------------------------------------------------------------------------- HTTP

type Sim = State<Arc<Inner>>;
type R<T> = Result<Json<T>, Error>;

fn console(inner: &Arc<Inner>, db: &str) -> Result<DbConsole, Error> {
    DbConsole::new(inner.clone(), db)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Flag {
    #[serde(alias = "active", alias = "locked", alias = "enabled")]
    value: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LevelBody {
    security_level_id: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrackingBody {
    #[serde(default)]
    vendor_id: Option<i64>,
    #[serde(default)]
    vendor: Option<String>,
    #[serde(default)]
    custom: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LobBody {
    #[serde(default)]
    association_ids: Vec<i64>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    view_items_with_no_lob: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CopyBody {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookPermission {
    enabled: bool,
    #[serde(default)]
    max: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TicketBody {
    #[serde(default)]
    person_id: Option<i64>,
    #[serde(default)]
    fields: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThresholdBody {
    hourly_threshold: u32,
}

/// The console routes (nested under `/_sim`).
pub(crate) fn router() -> axum::Router<Arc<Inner>> {
    axum::Router::new()
        .route("/databases", get(list_dbs).post(add_db))
        .route("/databases/{db}/api-users", post(create_api_user))
        .route("/databases/{db}/api-users/seed", post(seed_api_user))
        .route("/databases/{db}/resources/{id}", get(api_user))
        .route("/databases/{db}/resources/{id}/secret", post(new_secret))
        .route("/databases/{db}/resources/{id}/active", put(set_active))
        .route("/databases/{db}/resources/{id}/locked", put(set_locked))
        .route(
            "/databases/{db}/resources/{id}/security-level",
            put(assign_level),
        )
        .route(
            "/databases/{db}/resources/{id}/tracking-identifier",
            put(set_tracking),
        )
        .route(
            "/databases/{db}/resources/{id}/lines-of-business",
            put(set_lobs),
        )
        .route("/databases/{db}/security-levels", get(levels))
        .route(
            "/databases/{db}/security-levels/{id}/copy",
            post(copy_level),
        )
        .route(
            "/databases/{db}/security-levels/{id}/webhooks",
            put(level_webhooks),
        )
        .route(
            "/databases/{db}/security-levels/{id}/resource-admin",
            put(level_admin),
        )
        .route("/databases/{db}/integration-vendors", get(vendors))
        .route(
            "/databases/{db}/integration-vendors/{id}/active",
            put(vendor_active),
        )
        .route("/databases/{db}/lines-of-business", get(lobs))
        .route("/databases/{db}/tickets", post(create_ticket))
        .route(
            "/databases/{db}/tickets/{id}",
            axum::routing::patch(update_ticket).delete(delete_ticket),
        )
        .route("/databases/{db}/webhooks/{family}", get(webhooks))
        .route(
            "/databases/{db}/threshold",
            get(threshold).put(set_threshold),
        )
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/requests", get(requests).delete(clear_requests))
        .route("/callouts", get(callouts))
}

async fn list_dbs(State(s): Sim) -> Json<Vec<String>> {
    Json(s.db_names())
}

async fn add_db(State(s): Sim, Json(cfg): Json<DatabaseConfig>) -> R<Value> {
    s.add_db(&cfg)?;
    Ok(Json(json!({ "name": cfg.name })))
}

async fn create_api_user(
    State(s): Sim,
    Path(db): Path<String>,
    Json(u): Json<NewApiUser>,
) -> R<ApiUserCreated> {
    Ok(Json(console(&s, &db)?.create_api_user(&u)?))
}

async fn seed_api_user(
    State(s): Sim,
    Path(db): Path<String>,
    Json(u): Json<SeedApiUser>,
) -> R<SeededApiUser> {
    Ok(Json(console(&s, &db)?.seed_api_user(&u)?))
}

async fn api_user(State(s): Sim, Path((db, id)): Path<(String, i64)>) -> R<ApiUserView> {
    Ok(Json(console(&s, &db)?.api_user(id)?))
}

async fn new_secret(State(s): Sim, Path((db, id)): Path<(String, i64)>) -> R<Value> {
    Ok(Json(
        json!({ "secret": console(&s, &db)?.generate_secret(id)? }),
    ))
}

async fn set_active(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(f): Json<Flag>,
) -> R<ApiUserView> {
    let c = console(&s, &db)?;
    c.set_active(id, f.value)?;
    Ok(Json(c.api_user(id)?))
}

async fn set_locked(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(f): Json<Flag>,
) -> R<ApiUserView> {
    let c = console(&s, &db)?;
    c.set_locked(id, f.value)?;
    Ok(Json(c.api_user(id)?))
}

async fn assign_level(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(b): Json<LevelBody>,
) -> R<ApiUserView> {
    let c = console(&s, &db)?;
    c.assign_security_level(id, b.security_level_id)?;
    Ok(Json(c.api_user(id)?))
}

async fn set_tracking(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(b): Json<TrackingBody>,
) -> R<Value> {
    let c = console(&s, &db)?;
    if b.custom {
        let code = c.set_tracking_custom(id)?;
        return Ok(Json(json!({ "integrationCode": code })));
    }
    let vendor = match (b.vendor_id, b.vendor) {
        (Some(v), _) => v,
        (None, Some(name)) => c.vendor_by_name(&name)?.id,
        (None, None) => return Err(Error::bad_request("vendorId, vendor or custom is required")),
    };
    c.set_tracking_vendor(id, vendor)?;
    Ok(Json(json!({ "vendorId": vendor })))
}

async fn set_lobs(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(b): Json<LobBody>,
) -> R<ApiUserView> {
    let c = console(&s, &db)?;
    let mut ids = b.association_ids;
    for name in &b.names {
        ids.push(
            c.lock()
                .line_of_business(name)
                .ok_or_else(|| Error::not_found(format!("line of business {name}")))?,
        );
    }
    c.set_lines_of_business(id, &ids, b.view_items_with_no_lob)?;
    Ok(Json(c.api_user(id)?))
}

async fn levels(State(s): Sim, Path(db): Path<String>) -> R<Vec<SecurityLevel>> {
    Ok(Json(console(&s, &db)?.security_levels()))
}

async fn copy_level(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(b): Json<CopyBody>,
) -> R<SecurityLevel> {
    Ok(Json(console(&s, &db)?.copy_security_level(id, &b.name)?))
}

async fn level_webhooks(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(b): Json<WebhookPermission>,
) -> R<Vec<SecurityLevel>> {
    let c = console(&s, &db)?;
    c.set_webhook_permission(id, b.enabled, b.max)?;
    Ok(Json(c.security_levels()))
}

async fn level_admin(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(f): Json<Flag>,
) -> R<Vec<SecurityLevel>> {
    let c = console(&s, &db)?;
    c.set_resource_admin(id, f.value)?;
    Ok(Json(c.security_levels()))
}

async fn vendors(State(s): Sim, Path(db): Path<String>) -> R<Vec<IntegrationVendor>> {
    Ok(Json(console(&s, &db)?.integration_vendors()))
}

async fn vendor_active(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(f): Json<Flag>,
) -> R<Vec<IntegrationVendor>> {
    let c = console(&s, &db)?;
    c.set_vendor_active(id, f.value)?;
    Ok(Json(c.integration_vendors()))
}

async fn lobs(State(s): Sim, Path(db): Path<String>) -> R<Vec<LineOfBusiness>> {
    Ok(Json(console(&s, &db)?.lines_of_business()))
}

async fn create_ticket(
    State(s): Sim,
    Path(db): Path<String>,
    Json(b): Json<TicketBody>,
) -> R<Value> {
    let id = console(&s, &db)?.create_ticket(&b.fields, b.person_id)?;
    Ok(Json(json!({ "id": id })))
}

async fn update_ticket(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(b): Json<TicketBody>,
) -> R<Value> {
    console(&s, &db)?.update_ticket(id, &b.fields, b.person_id)?;
    Ok(Json(json!({ "id": id })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct PersonQuery {
    person_id: Option<i64>,
}

async fn delete_ticket(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    axum::extract::Query(q): axum::extract::Query<PersonQuery>,
) -> R<Value> {
    console(&s, &db)?.delete_ticket(id, q.person_id)?;
    Ok(Json(json!({ "id": id })))
}

async fn webhooks(State(s): Sim, Path((db, family)): Path<(String, String)>) -> R<Vec<Value>> {
    let family: WebhookFamily = family.parse().map_err(Error::bad_request)?;
    Ok(Json(console(&s, &db)?.webhooks(family)))
}

async fn threshold(State(s): Sim, Path(db): Path<String>) -> R<Value> {
    let c = console(&s, &db)?;
    let threshold = c.lock().hourly_threshold;
    Ok(Json(json!({
        "hourlyThreshold": threshold,
        "currentCount": c.threshold_count(),
    })))
}

async fn set_threshold(
    State(s): Sim,
    Path(db): Path<String>,
    Json(b): Json<ThresholdBody>,
) -> R<Value> {
    console(&s, &db)?.set_hourly_threshold(b.hourly_threshold);
    Ok(Json(json!({ "hourlyThreshold": b.hourly_threshold })))
}

async fn list_faults(State(s): Sim) -> Json<Vec<FaultRule>> {
    Json(s.faults.lock().expect("not poisoned").rules.clone())
}

async fn add_fault(State(s): Sim, Json(rule): Json<FaultRule>) -> Json<Vec<FaultRule>> {
    let mut f = s.faults.lock().expect("not poisoned");
    f.rules.push(rule);
    Json(f.rules.clone())
}

async fn clear_faults(State(s): Sim) -> Json<Vec<FaultRule>> {
    s.faults.lock().expect("not poisoned").rules.clear();
    Json(Vec::new())
}

async fn requests(State(s): Sim) -> Json<Vec<RequestRecord>> {
    Json(s.requests())
}

async fn clear_requests(State(s): Sim) -> Json<Vec<RequestRecord>> {
    s.clear_requests();
    Json(Vec::new())
}

async fn callouts(State(s): Sim) -> Json<Vec<CalloutRecord>> {
    Json(s.callouts())
}
