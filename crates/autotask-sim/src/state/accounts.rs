//! Resources' hidden account data and the web interface's lists: secrets, locks, security
//! levels, API tracking identifiers (integration vendors or custom codes), line-of-business
//! memberships and the per-user webhook counter; and the credential check every REST request
//! starts with.
//!
//! What it does not do: no REST rows (a resource's row, `isActive` included, is in the
//! tables; the caller passes what it needs), no callouts. Every field here changes only
//! through [`Accounts`]' methods.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;

use crate::Error;
use crate::config::DatabaseConfig;

/// The tracking identifier of "Sophos Central - Security" in every simulated database.
pub const SOPHOS_VENDOR_CODE: &str = "SIM-SOPHOS-CENTRAL-SECURITY-7Q2K";
/// The name of the Sophos vendor entry.
pub const SOPHOS_VENDOR_NAME: &str = "Sophos Central - Security";

/// Security level ids of the system levels.
pub(crate) const LEVEL_ADMIN: i64 = 1;
/// "API User (system)".
pub(crate) const LEVEL_API_SYSTEM: i64 = 2;

/// A security level (web interface only; no REST entity).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityLevel {
    /// Id.
    pub id: i64,
    /// Name, e.g. "API User (system)".
    pub name: String,
    /// System levels cannot be edited, only copied.
    pub system: bool,
    /// API-only level (the only kind an API user may have).
    pub api_only: bool,
    /// Admin rights on Resources/Users (HR): needed to update Resources.
    pub resource_admin: bool,
    /// Other > Webhooks: may create webhooks.
    pub webhooks_enabled: bool,
    /// Other > Webhooks: how many webhooks a user may create over the account's lifetime.
    pub webhook_max: u32,
}

/// An integration vendor of the tracking-identifier list.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationVendor {
    /// Id.
    pub id: i64,
    /// Name, e.g. "Sophos Central - Security".
    pub name: String,
    /// The vendor's tracking identifier (what it sends as `ApiIntegrationCode`).
    #[serde(skip)]
    pub code: String,
    /// Active in the Integration Center (seed step V1).
    pub active: bool,
}

impl fmt::Debug for IntegrationVendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntegrationVendor")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// A user's API tracking identifier.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Tracking {
    Vendor(i64),
    Custom(String),
}

/// What the web interface holds about a resource beyond its REST model. Read-only outside
/// this module: [`Accounts`] hands out shared references only.
#[derive(Clone, Default)]
pub(crate) struct Account {
    pub(crate) secret: Option<String>,
    pub(crate) locked: bool,
    pub(crate) api_only: bool,
    pub(crate) security_level: Option<i64>,
    pub(crate) tracking: Option<Tracking>,
    pub(crate) lines_of_business: Vec<i64>,
    pub(crate) view_no_lob: bool,
    pub(crate) webhooks_created: u32,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("locked", &self.locked)
            .field("security_level", &self.security_level)
            .field("webhooks_created", &self.webhooks_created)
            .finish_non_exhaustive()
    }
}

/// The authenticated caller of a REST request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) resource_id: i64,
    pub(crate) level: Option<SecurityLevel>,
}

impl Caller {
    /// Other > Webhooks on the caller's level.
    pub(crate) fn can_create_webhooks(&self) -> bool {
        self.level.as_ref().is_some_and(|l| l.webhooks_enabled)
    }

    /// Admin rights on Resources/Users (HR) on the caller's level.
    pub(crate) fn resource_admin(&self) -> bool {
        self.level.as_ref().is_some_and(|l| l.resource_admin)
    }
}

/// Accounts, usernames, security levels and vendors of one database.
#[derive(Debug)]
pub(crate) struct Accounts {
    accounts: HashMap<i64, Account>,
    by_user: HashMap<String, i64>,
    levels: BTreeMap<i64, SecurityLevel>,
    vendors: BTreeMap<i64, IntegrationVendor>,
    next_level_id: i64,
}

fn not_a_resource(id: i64) -> Error {
    Error::not_found(format!("resource {id}"))
}

fn not_a_level(id: i64) -> Error {
    Error::not_found(format!("security level {id}"))
}

fn not_a_vendor(id: i64) -> Error {
    Error::not_found(format!("integration vendor {id}"))
}

impl Accounts {
    /// No accounts; the three system levels; the configured vendors (or the three default
    /// ones: Sophos, Innerapps, Barracuda), active as configured.
    pub(crate) fn new(cfg: &DatabaseConfig) -> Self {
        let level = |id, name: &str, api_only, admin| {
            (
                id,
                SecurityLevel {
                    id,
                    name: name.into(),
                    system: true,
                    api_only,
                    resource_admin: admin,
                    webhooks_enabled: false,
                    webhook_max: 0,
                },
            )
        };
        let levels = BTreeMap::from([
            level(LEVEL_ADMIN, "Administrator", false, true),
            level(LEVEL_API_SYSTEM, "API User (system)", true, true),
            level(3, "API User (system) Can't Read Costs", true, true),
        ]);
        let vendor_cfgs = if cfg.vendors.is_empty() {
            vec![
                (SOPHOS_VENDOR_NAME.to_owned(), SOPHOS_VENDOR_CODE.to_owned()),
                (
                    "Innerapps - Identity Syncronizer".to_owned(),
                    "SIM-INNERAPPS-IDSYNC-3F8D".to_owned(),
                ),
                (
                    "Barracuda MSP".to_owned(),
                    "SIM-BARRACUDA-MSP-9X1C".to_owned(),
                ),
            ]
        } else {
            cfg.vendors
                .iter()
                .map(|v| (v.name.clone(), v.code.clone()))
                .collect()
        };
        let vendors = vendor_cfgs
            .into_iter()
            .enumerate()
            .map(|(i, (name, code))| {
                let id = i as i64 + 1;
                let active = cfg
                    .vendors
                    .iter()
                    .find(|v| v.name == name)
                    .is_some_and(|v| v.active);
                (
                    id,
                    IntegrationVendor {
                        id,
                        name,
                        code,
                        active,
                    },
                )
            })
            .collect();
        Self {
            accounts: HashMap::new(),
            by_user: HashMap::new(),
            levels,
            vendors,
            next_level_id: 100,
        }
    }

    /// Adds the account of a new resource `id` (no secret, level, tracking or LOBs yet).
    pub(crate) fn add(&mut self, id: i64, user_name: &str, api_only: bool) {
        self.by_user.insert(user_name.to_ascii_lowercase(), id);
        self.accounts.insert(
            id,
            Account {
                api_only,
                ..Account::default()
            },
        );
    }

    /// The account of resource `id`.
    pub(crate) fn get(&self, id: i64) -> Option<&Account> {
        self.accounts.get(&id)
    }

    fn get_mut(&mut self, id: i64) -> Result<&mut Account, Error> {
        self.accounts.get_mut(&id).ok_or_else(|| not_a_resource(id))
    }

    /// Every username (lower-cased).
    pub(crate) fn user_names(&self) -> impl Iterator<Item = &str> {
        self.by_user.keys().map(String::as_str)
    }

    /// The resource id of a username (case-insensitive).
    pub(crate) fn user_id(&self, user_name: &str) -> Option<i64> {
        self.by_user.get(&user_name.to_ascii_lowercase()).copied()
    }

    /// Sets a resource's secret (the old one stops working).
    pub(crate) fn set_secret(&mut self, id: i64, secret: &str) -> Result<(), Error> {
        self.get_mut(id)?.secret = Some(secret.to_owned());
        Ok(())
    }

    /// Locks or unlocks a resource.
    pub(crate) fn set_locked(&mut self, id: i64, locked: bool) -> Result<(), Error> {
        self.get_mut(id)?.locked = locked;
        Ok(())
    }

    /// Every security level, by id.
    pub(crate) fn levels(&self) -> impl Iterator<Item = &SecurityLevel> {
        self.levels.values()
    }

    /// The security level `id`.
    pub(crate) fn level(&self, id: i64) -> Option<&SecurityLevel> {
        self.levels.get(&id)
    }

    /// W1: copies a level into a new custom (editable) level named `name` (unique).
    pub(crate) fn copy_level(&mut self, level: i64, name: &str) -> Result<SecurityLevel, Error> {
        let mut copy = self
            .level(level)
            .cloned()
            .ok_or_else(|| not_a_level(level))?;
        if self
            .levels
            .values()
            .any(|l| l.name.eq_ignore_ascii_case(name))
        {
            return Err(Error::conflict(format!("security level {name} exists")));
        }
        copy.id = self.next_level_id;
        self.next_level_id += 1;
        copy.name = name.into();
        copy.system = false;
        self.levels.insert(copy.id, copy.clone());
        Ok(copy)
    }

    /// Edits a custom level; system levels cannot be edited.
    pub(crate) fn edit_level(
        &mut self,
        level: i64,
        edit: impl FnOnce(&mut SecurityLevel),
    ) -> Result<(), Error> {
        let l = self
            .levels
            .get_mut(&level)
            .ok_or_else(|| not_a_level(level))?;
        if l.system {
            return Err(Error::conflict(format!(
                "{} is a system security level: it cannot be edited, only copied",
                l.name
            )));
        }
        edit(l);
        Ok(())
    }

    /// A7: assigns a security level (API users only get API-only levels, others only
    /// ordinary ones).
    pub(crate) fn assign_level(&mut self, resource: i64, level: i64) -> Result<(), Error> {
        let l = self
            .level(level)
            .cloned()
            .ok_or_else(|| not_a_level(level))?;
        let a = self.get_mut(resource)?;
        if a.api_only != l.api_only {
            return Err(Error::conflict(format!(
                "{} is not offered for this kind of resource (API users need an API-only level)",
                l.name
            )));
        }
        a.security_level = Some(level);
        Ok(())
    }

    /// The integration vendor list, by id.
    pub(crate) fn vendors(&self) -> impl Iterator<Item = &IntegrationVendor> {
        self.vendors.values()
    }

    /// The vendor `id`.
    pub(crate) fn vendor(&self, id: i64) -> Option<&IntegrationVendor> {
        self.vendors.get(&id)
    }

    /// V1: sets a vendor active in the Integration Center.
    pub(crate) fn set_vendor_active(&mut self, vendor: i64, active: bool) -> Result<(), Error> {
        self.vendors
            .get_mut(&vendor)
            .ok_or_else(|| not_a_vendor(vendor))?
            .active = active;
        Ok(())
    }

    /// A10: sets a resource's API tracking identifier (a vendor must exist).
    pub(crate) fn set_tracking(&mut self, resource: i64, tracking: Tracking) -> Result<(), Error> {
        if let Tracking::Vendor(v) = tracking {
            if !self.vendors.contains_key(&v) {
                return Err(not_a_vendor(v));
            }
        }
        self.get_mut(resource)?.tracking = Some(tracking);
        Ok(())
    }

    /// A11–A12 (the account's side): the associated lines of business and the "view items
    /// with no assigned LOB" flag.
    pub(crate) fn set_lines_of_business(
        &mut self,
        resource: i64,
        associations: &[i64],
        view_no_lob: bool,
    ) -> Result<(), Error> {
        let a = self.get_mut(resource)?;
        a.lines_of_business = associations.to_vec();
        a.view_no_lob = view_no_lob;
        Ok(())
    }

    /// Counts one webhook creation towards the lifetime maximum.
    pub(crate) fn count_webhook_created(&mut self, resource: i64) {
        if let Some(a) = self.accounts.get_mut(&resource) {
            a.webhooks_created += 1;
        }
    }

    /// Checks the three headers the way Autotask does; every failure is a 401, except a
    /// tracking mismatch with `tracking_mismatch_status` other than 401 (500 `errors[]`).
    /// `is_active` tells whether a resource's row is active.
    pub(crate) fn authenticate(
        &self,
        user: Option<&str>,
        secret: Option<&str>,
        code: Option<&str>,
        is_active: impl Fn(i64) -> bool,
        tracking_mismatch_status: u16,
    ) -> Result<Caller, Error> {
        let (Some(user), Some(secret), Some(code)) = (user, secret, code) else {
            return Err(Error::unauthorized("missing authentication header"));
        };
        let id = self
            .user_id(user)
            .ok_or_else(|| Error::unauthorized("unknown user"))?;
        let account = &self.accounts[&id];
        if account.secret.as_deref() != Some(secret) {
            return Err(Error::unauthorized("wrong secret"));
        }
        if !is_active(id) {
            return Err(Error::unauthorized("inactive user"));
        }
        if account.locked {
            return Err(Error::unauthorized("locked user"));
        }
        let expected = match &account.tracking {
            Some(Tracking::Vendor(v)) => self.vendors.get(v).map(|v| v.code.as_str()),
            Some(Tracking::Custom(c)) => Some(c.as_str()),
            None => None,
        };
        if expected != Some(code) {
            // Presumably a 401 (autotask-api.md §6, [L]); the strict side answers 500.
            return Err(if tracking_mismatch_status == 401 {
                Error::unauthorized(
                    "integration code does not match the user's API tracking identifier",
                )
            } else {
                Error::rejected(
                    "The ApiIntegrationCode does not match the API tracking identifier of the \
                     logged in resource.",
                )
            });
        }
        Ok(Caller {
            resource_id: id,
            level: account
                .security_level
                .and_then(|l| self.levels.get(&l))
                .cloned(),
        })
    }
}
