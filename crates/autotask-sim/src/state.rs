//! One Autotask database in memory: its entity tables, the hidden account data the web
//! interface manages (secrets, security levels, tracking identifiers, lines of business), and
//! Autotask's rules on top of the generic entity operations.
//!
//! Everything here is synchronous and does no I/O: operations that must call out (webhook
//! deactivation, ticket events) return [`Outbound`] callouts for the caller to deliver after
//! releasing the database lock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;

use autotask_types::{Filter, Query, Value, WebhookFamily};
use rand::Rng;
use serde::Serialize;
use serde_json::{Map, Value as Json, json};

use crate::behaviour::{Behaviour, OtherOwnersWebhooks, ResourceActivation, UnknownId, WebhookMax};
use crate::config::DatabaseConfig;
use crate::limits::{RequestWindow, Threads};
use crate::metadata::{self, EntityDef, Kind, Ty, registry};
use crate::{Error, callout};

/// The tracking identifier of "Sophos Central - Security" in every simulated database.
pub const SOPHOS_VENDOR_CODE: &str = "SIM-SOPHOS-CENTRAL-SECURITY-7Q2K";
/// The name of the Sophos vendor entry.
pub const SOPHOS_VENDOR_NAME: &str = "Sophos Central - Security";

/// Rows of one entity, by id.
#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) rows: BTreeMap<i64, Map<String, Json>>,
    next_id: i64,
}

impl Table {
    fn new(first_id: i64) -> Self {
        Self {
            rows: BTreeMap::new(),
            next_id: first_id,
        }
    }

    fn insert(&mut self, mut row: Map<String, Json>) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        row.insert("id".into(), json!(id));
        self.rows.insert(id, row);
        id
    }
}

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

/// What the web interface holds about a resource beyond its REST model.
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
    fn can_create_webhooks(&self) -> bool {
        self.level.as_ref().is_some_and(|l| l.webhooks_enabled)
    }
    fn resource_admin(&self) -> bool {
        self.level.as_ref().is_some_and(|l| l.resource_admin)
    }
}

/// A callout to deliver once the lock is released.
#[derive(Clone)]
pub(crate) struct Outbound {
    pub(crate) database: String,
    pub(crate) family: WebhookFamily,
    pub(crate) webhook_id: i64,
    pub(crate) url: String,
    pub(crate) secret: String,
    pub(crate) body: Vec<u8>,
    pub(crate) action: &'static str,
}

/// Where a query page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cursor {
    /// Rows with a larger id (the next page).
    After(i64),
    /// Rows with a smaller id (the previous page).
    Before(i64),
}

/// One page of a query.
#[derive(Debug)]
pub(crate) struct QueryPage {
    pub(crate) rows: Vec<Json>,
    /// The first id of this page, when rows come before it.
    pub(crate) prev: Option<i64>,
    /// The last id of this page, when rows come after it.
    pub(crate) next: Option<i64>,
}

/// A write's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    Create,
    Patch,
    Put,
}

/// One database.
#[derive(Debug)]
pub(crate) struct Db {
    pub(crate) name: String,
    pub(crate) zone_name: String,
    pub(crate) ci: i64,
    pub(crate) hourly_threshold: u32,
    /// The simulator's behaviour knobs.
    pub(crate) behaviour: Behaviour,
    api_user_activation_via_rest: bool,
    /// With `resource_activation = ignored`: REST changes of an API user's `isActive` are
    /// answered but not applied.
    api_user_activation_ignored: bool,
    tables: HashMap<Kind, Table>,
    pub(crate) accounts: HashMap<i64, Account>,
    by_user: HashMap<String, i64>,
    pub(crate) levels: BTreeMap<i64, SecurityLevel>,
    pub(crate) vendors: BTreeMap<i64, IntegrationVendor>,
    pub(crate) window: RequestWindow,
    pub(crate) threads: Threads,
    paging: HashMap<u64, Query>,
    paging_order: VecDeque<u64>,
    next_paging: u64,
    pub(crate) hook_failures: HashMap<(WebhookFamily, i64), u32>,
    sequence: u64,
    next_level_id: i64,
}

/// Security level ids of the system levels.
pub(crate) const LEVEL_ADMIN: i64 = 1;
/// "API User (system)".
pub(crate) const LEVEL_API_SYSTEM: i64 = 2;

impl Db {
    /// A database with the default system levels, vendors, lines of business and one human
    /// administrator (who has no API access).
    pub(crate) fn new(cfg: &DatabaseConfig, ci: i64, behaviour: Behaviour) -> Self {
        let mut tables = HashMap::new();
        for def in registry().all() {
            let first = match def.kind {
                Kind::Resources => 29_682_885,
                Kind::Tickets => 7_000,
                _ => 1,
            };
            tables.insert(def.kind, Table::new(first));
        }
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
        let mut db = Self {
            name: cfg.name.clone(),
            zone_name: cfg.zone_name.clone(),
            ci,
            hourly_threshold: cfg.hourly_threshold,
            behaviour,
            api_user_activation_via_rest: cfg
                .api_user_activation_via_rest
                .unwrap_or(behaviour.resource_activation != ResourceActivation::Refused),
            api_user_activation_ignored: cfg.api_user_activation_via_rest.is_none()
                && behaviour.resource_activation == ResourceActivation::Ignored,
            tables,
            accounts: HashMap::new(),
            by_user: HashMap::new(),
            levels,
            vendors,
            window: RequestWindow::default(),
            threads: Threads::default(),
            paging: HashMap::new(),
            paging_order: VecDeque::new(),
            next_paging: 1,
            hook_failures: HashMap::new(),
            sequence: 0,
            next_level_id: 100,
        };
        let lobs: Vec<String> = if cfg.lines_of_business.is_empty() {
            [
                "General > IT Services",
                "General > Software Development",
                "General > Managed Services",
            ]
            .map(str::to_owned)
            .to_vec()
        } else {
            cfg.lines_of_business.clone()
        };
        for lob in &lobs {
            db.add_line_of_business(lob);
        }
        let admin = db.insert_resource(
            "Sam",
            "Operator",
            &format!("operator@{}.example.com", cfg.name),
            &format!("operator@{}.example.com", cfg.name),
            false,
        );
        if let Some(a) = db.accounts.get_mut(&admin) {
            a.security_level = Some(LEVEL_ADMIN);
        }
        db
    }

    fn add_line_of_business(&mut self, path: &str) -> i64 {
        let (l1, l2) = path.split_once('>').unwrap_or(("General", path));
        let (l1, l2) = (l1.trim(), l2.trim());
        let find_or_add = |table: &mut Table, name: &str| {
            table
                .rows
                .iter()
                .find(|(_, r)| r.get("name").and_then(Json::as_str) == Some(name))
                .map(|(id, _)| *id)
                .unwrap_or_else(|| {
                    table.insert(obj(
                        json!({"name": name, "description": null, "isActive": true}),
                    ))
                })
        };
        let l1 = find_or_add(self.table_mut(Kind::OrgLevel1), l1);
        let l2 = find_or_add(self.table_mut(Kind::OrgLevel2), l2);
        self.table_mut(Kind::OrgAssociation).insert(obj(json!({
            "isActive": true,
            "organizationalLevel1ID": l1,
            "organizationalLevel2ID": l2,
        })))
    }

    /// The association id of "Level1 > Level2".
    pub(crate) fn line_of_business(&self, path: &str) -> Option<i64> {
        let (l1, l2) = path.split_once('>')?;
        let name_of = |kind, id: &Json| {
            id.as_i64()
                .and_then(|id| self.table(kind).rows.get(&id))
                .and_then(|r| r.get("name"))
                .and_then(Json::as_str)
                .map(str::to_owned)
        };
        self.table(Kind::OrgAssociation)
            .rows
            .iter()
            .find(|(_, r)| {
                name_of(Kind::OrgLevel1, &r["organizationalLevel1ID"]).as_deref() == Some(l1.trim())
                    && name_of(Kind::OrgLevel2, &r["organizationalLevel2ID"]).as_deref()
                        == Some(l2.trim())
            })
            .map(|(id, _)| *id)
    }

    /// Every line of business as (association id, "Level1 > Level2").
    pub(crate) fn lines_of_business(&self) -> Vec<(i64, String)> {
        let name_of = |kind, id: &Json| {
            id.as_i64()
                .and_then(|id| self.table(kind).rows.get(&id))
                .and_then(|r| r.get("name"))
                .and_then(Json::as_str)
                .unwrap_or("?")
                .to_owned()
        };
        self.table(Kind::OrgAssociation)
            .rows
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

    pub(crate) fn table(&self, kind: Kind) -> &Table {
        &self.tables[&kind]
    }

    fn table_mut(&mut self, kind: Kind) -> &mut Table {
        self.tables.get_mut(&kind).expect("every kind has a table")
    }

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
        let id = self.table_mut(Kind::Resources).insert(row);
        self.by_user.insert(user_name.to_ascii_lowercase(), id);
        self.accounts.insert(
            id,
            Account {
                api_only,
                ..Account::default()
            },
        );
        id
    }

    /// Whether a username exists here.
    pub(crate) fn has_user(&self, user_name: &str) -> bool {
        self.by_user.contains_key(&user_name.to_ascii_lowercase())
    }

    /// The resource id of a username.
    pub(crate) fn user_id(&self, user_name: &str) -> Option<i64> {
        self.by_user.get(&user_name.to_ascii_lowercase()).copied()
    }

    pub(crate) fn new_level_id(&mut self) -> i64 {
        let id = self.next_level_id;
        self.next_level_id += 1;
        id
    }

    /// Checks the three headers the way Autotask does; every failure is a 401.
    pub(crate) fn authenticate(
        &self,
        user: Option<&str>,
        secret: Option<&str>,
        code: Option<&str>,
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
        let row = &self.table(Kind::Resources).rows[&id];
        if row.get("isActive") != Some(&Json::Bool(true)) {
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
            return Err(if self.behaviour.tracking_mismatch_status == 401 {
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

    // ---------------------------------------------------------------- reads

    /// Whether the caller may see a row. Only tickets are restricted: a resource with lines
    /// of business sees tickets of those lines, and tickets without one only with "view
    /// items with no assigned LOB"; a resource without lines of business sees every ticket.
    /// Rows it may not see are simply absent (Autotask answers empty results, not errors).
    ///
    /// With `other_owners_webhooks = hidden`, webhooks (and their children) of other owners
    /// are absent in the same way.
    fn visible(&self, def: &EntityDef, row: &Map<String, Json>, caller: &Caller) -> bool {
        if let Some(family) = def.kind.family() {
            if self.behaviour.other_owners_webhooks == OtherOwnersWebhooks::Visible {
                return true;
            }
            let owner_of = |hook: &Map<String, Json>| {
                hook.get("ownerResourceID").and_then(Json::as_i64) == Some(caller.resource_id)
            };
            return match def.kind {
                Kind::Webhooks(_) => owner_of(row),
                _ => row
                    .get("webhookID")
                    .and_then(Json::as_i64)
                    .and_then(|p| self.table(Kind::Webhooks(family)).rows.get(&p))
                    .is_some_and(owner_of),
            };
        }
        if def.kind != Kind::Tickets {
            return true;
        }
        let Some(account) = self.accounts.get(&caller.resource_id) else {
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
    ) -> Option<&Map<String, Json>> {
        self.table(def.kind)
            .rows
            .get(&id)
            .filter(|r| parent_matches(def, r, parent) && self.visible(def, r, caller))
    }

    /// `GET {Entity}/{id}`; `parent` restricts children to their parent.
    pub(crate) fn get(
        &self,
        def: &EntityDef,
        id: i64,
        parent: Option<i64>,
        caller: &Caller,
    ) -> Result<Json, Error> {
        match self.find(def, id, parent, caller) {
            Some(row) => Ok(json!({ "item": with_udfs(def, row.clone()) })),
            // APIGRATE documents a 404; GO also handles `{"item": null}` (§2, [M]).
            None if self.behaviour.unknown_id == UnknownId::NullItem => Ok(json!({ "item": null })),
            None => Err(Error::not_found(format!("{} with id {id}", def.name))),
        }
    }

    /// Runs a query page: at most `page` rows matching `query`, after or before a cursor
    /// (rows come sorted by id, like Autotask's).
    pub(crate) fn query(
        &self,
        def: &EntityDef,
        query: &Query,
        cursor: Option<Cursor>,
        page: u32,
        caller: &Caller,
    ) -> Result<QueryPage, Error> {
        validate_query(def, query)?;
        let page = query.max_records.unwrap_or(page).min(page).max(1) as usize;
        let rows = &self.table(def.kind).rows;
        let hit = |row: &Map<String, Json>| query.matches(row) && self.visible(def, row, caller);
        let mut ids = Vec::with_capacity(page.min(64));
        let (more_before, more_after) = match cursor {
            None | Some(Cursor::After(_)) => {
                let start = match cursor {
                    Some(Cursor::After(a)) => a.saturating_add(1),
                    _ => i64::MIN,
                };
                let mut iter = rows
                    .range(start..)
                    .filter(|(_, r)| hit(r))
                    .map(|(id, _)| *id);
                ids.extend(iter.by_ref().take(page));
                let before = start > i64::MIN && rows.range(..start).any(|(_, r)| hit(r));
                (before, iter.next().is_some())
            }
            Some(Cursor::Before(b)) => {
                let mut iter = rows
                    .range(..b)
                    .rev()
                    .filter(|(_, r)| hit(r))
                    .map(|(id, _)| *id);
                ids.extend(iter.by_ref().take(page));
                ids.reverse();
                let more = iter.next().is_some();
                (more, rows.range(b..).any(|(_, r)| hit(r)))
            }
        };
        Ok(QueryPage {
            rows: ids
                .iter()
                .map(|id| project(def, &rows[id], &query.include_fields))
                .collect(),
            prev: more_before.then(|| ids.first().copied()).flatten(),
            next: more_after.then(|| ids.last().copied()).flatten(),
        })
    }

    /// `query/count`.
    pub(crate) fn count(
        &self,
        def: &EntityDef,
        query: &Query,
        caller: &Caller,
    ) -> Result<u64, Error> {
        validate_query(def, query)?;
        Ok(self
            .table(def.kind)
            .rows
            .values()
            .filter(|r| query.matches(r) && self.visible(def, r, caller))
            .count() as u64)
    }

    /// Every child row of `parent` (the parent-path `GET` of a child collection).
    pub(crate) fn children(&self, def: &EntityDef, parent: i64) -> Vec<Json> {
        self.table(def.kind)
            .rows
            .values()
            .filter(|r| parent_matches(def, r, Some(parent)))
            .map(|r| Json::Object(with_udfs(def, r.clone())))
            .collect()
    }

    /// Remembers a query for `query/next` calls that come without a body.
    pub(crate) fn remember_query(&mut self, query: Query) -> u64 {
        let token = self.next_paging;
        self.next_paging += 1;
        self.paging.insert(token, query);
        self.paging_order.push_back(token);
        while self.paging_order.len() > 10_000 {
            if let Some(old) = self.paging_order.pop_front() {
                self.paging.remove(&old);
            }
        }
        token
    }

    pub(crate) fn remembered_query(&self, token: u64) -> Option<&Query> {
        self.paging.get(&token)
    }

    /// `{Entity}/entityInformation` for this caller. The caller's rights: webhook families
    /// create with the Webhooks permission; Resources update with admin rights. With
    /// `capability_flags = caller` `canCreate`/`canUpdate` follow them; `userAccessFor*`
    /// show them as strings or as `{}` (`access_levels`).
    pub(crate) fn entity_info(&self, def: &EntityDef, caller: &Caller) -> Json {
        let (create, update) = match def.kind {
            Kind::Webhooks(_)
            | Kind::WebhookFields(_)
            | Kind::WebhookUdfFields(_)
            | Kind::WebhookExcluded(_) => (caller.can_create_webhooks(), true),
            Kind::Resources => (false, caller.resource_admin()),
            _ => (true, true),
        };
        def.info(
            metadata::Rights {
                create,
                update,
                delete: true,
            },
            self.behaviour,
        )
    }

    // ---------------------------------------------------------------- writes

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
                            if !self.table(kind).rows.contains_key(&id) {
                                return Err(Error::rejected(format!(
                                    "{field} {id} does not exist."
                                )));
                            }
                        }
                    }
                }
                let id = self.apply(def, mode, body, changes)?;
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

    /// Inserts (create) or merges (patch/put) normalized changes; returns the id.
    fn apply(
        &mut self,
        def: &EntityDef,
        mode: Write,
        body: &Map<String, Json>,
        changes: Map<String, Json>,
    ) -> Result<i64, Error> {
        if mode == Write::Create {
            let mut row = Map::new();
            for f in &def.fields {
                row.insert(f.name.into(), Json::Null);
            }
            row.extend(changes);
            return Ok(self.table_mut(def.kind).insert(row));
        }
        let id = body_id(body)?;
        let row =
            self.table_mut(def.kind).rows.get_mut(&id).ok_or_else(|| {
                Error::rejected(format!("{} with id {id} does not exist.", def.name))
            })?;
        row.extend(changes);
        Ok(id)
    }

    fn write_resource(
        &mut self,
        def: &EntityDef,
        caller: &Caller,
        mode: Write,
        body: &Map<String, Json>,
    ) -> Result<(i64, Vec<Outbound>), Error> {
        if mode == Write::Create {
            return Err(Error::MethodNotAllowed {
                method: "POST".into(),
            });
        }
        let id = body_id(body)?;
        if !self.table(Kind::Resources).rows.contains_key(&id) {
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
        let was_active =
            self.table(Kind::Resources).rows[&id].get("isActive") == Some(&json!(true));
        if self.api_user_activation_ignored && self.accounts.get(&id).is_some_and(|a| a.api_only) {
            changes.insert("isActive".into(), json!(was_active));
        }
        let api_only = self.accounts.get(&id).is_some_and(|a| a.api_only);
        let activation_changes = changes
            .get("isActive")
            .is_some_and(|v| v != &json!(was_active));
        if api_only && activation_changes && !self.api_user_activation_via_rest {
            return Err(Error::rejected(
                "isActive of an API-only resource can only be changed in the web interface.",
            ));
        }
        self.apply(def, mode, body, changes)?;
        let now_active =
            self.table(Kind::Resources).rows[&id].get("isActive") == Some(&json!(true));
        let out = if was_active && !now_active {
            self.deactivate_webhooks_of(id)
        } else {
            Vec::new()
        };
        Ok((id, out))
    }

    /// Sets a resource's `isActive` (console); deactivating it deactivates its webhooks.
    pub(crate) fn set_resource_active(
        &mut self,
        id: i64,
        active: bool,
    ) -> Result<Vec<Outbound>, Error> {
        let row = self
            .table_mut(Kind::Resources)
            .rows
            .get_mut(&id)
            .ok_or_else(|| Error::not_found(format!("resource {id}")))?;
        let was = row.get("isActive") == Some(&json!(true));
        row.insert("isActive".into(), json!(active));
        Ok(if was && !active {
            self.deactivate_webhooks_of(id)
        } else {
            Vec::new()
        })
    }

    /// Deactivates every active webhook owned by `owner`, returning the deactivation callouts.
    fn deactivate_webhooks_of(&mut self, owner: i64) -> Vec<Outbound> {
        let mut out = Vec::new();
        for family in WebhookFamily::ALL {
            let ids: Vec<i64> = self
                .table(Kind::Webhooks(family))
                .rows
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
    pub(crate) fn deactivate_webhook(
        &mut self,
        family: WebhookFamily,
        id: i64,
    ) -> Option<Outbound> {
        let row = self.table_mut(Kind::Webhooks(family)).rows.get_mut(&id)?;
        if row.get("isActive") != Some(&json!(true)) {
            return None;
        }
        row.insert("isActive".into(), json!(false));
        let row = row.clone();
        Some(self.deactivation_callout(family, &row))
    }

    fn deactivation_callout(&mut self, family: WebhookFamily, row: &Map<String, Json>) -> Outbound {
        self.sequence += 1;
        let payload = json!({
            "Action": "Deactivated",
            "Guid": row.get("webhookGUID").cloned().unwrap_or(Json::Null),
            "EntityType": family.webhook_entity(),
            "Id": row.get("id").cloned().unwrap_or(Json::Null),
            "Fields": {},
            "EventTime": utc_now(),
            "SequenceNumber": self.sequence,
            "PersonID": row.get("ownerResourceID").cloned().unwrap_or(Json::Null),
        });
        Outbound {
            database: self.name.clone(),
            family,
            webhook_id: row.get("id").and_then(Json::as_i64).unwrap_or_default(),
            url: str_field(row, "deactivationUrl"),
            secret: str_field(row, "secretKey"),
            body: callout::encode(&payload),
            action: "Deactivated",
        }
    }

    fn write_webhook(
        &mut self,
        def: &EntityDef,
        family: WebhookFamily,
        caller: &Caller,
        mode: Write,
        body: &Map<String, Json>,
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
                WebhookMax::Lifetime => self.accounts[&caller.resource_id].webhooks_created,
                WebhookMax::Concurrent => WebhookFamily::ALL
                    .iter()
                    .map(|f| {
                        self.table(Kind::Webhooks(*f))
                            .rows
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
            let id = self.apply(def, mode, body, changes)?;
            if let Some(a) = self.accounts.get_mut(&caller.resource_id) {
                a.webhooks_created += 1;
            }
            return Ok((id, Vec::new()));
        }
        let id = body_id(body)?;
        let existing =
            self.table(kind).rows.get(&id).cloned().ok_or_else(|| {
                Error::rejected(format!("{} with id {id} does not exist.", def.name))
            })?;
        check_owner(def, &existing, caller)?;
        let changes = normalize(def, body, mode)?;
        let mut merged = existing.clone();
        merged.extend(changes.clone());
        self.check_duplicate(family, &merged, Some(id))?;
        self.apply(def, mode, body, changes)?;
        let was_active = existing.get("isActive") == Some(&json!(true));
        let now_active = merged.get("isActive") == Some(&json!(true));
        let mut out = Vec::new();
        if was_active && !now_active {
            out.push(self.deactivation_callout(family, &merged));
        }
        if now_active && !was_active {
            self.hook_failures.remove(&(family, id));
        }
        Ok((id, out))
    }

    /// Autotask's duplicate rule: same entity, same URL and a shared event type, across all
    /// owners, inactive webhooks included. The simulator refuses the write.
    fn check_duplicate(
        &self,
        family: WebhookFamily,
        row: &Map<String, Json>,
        except: Option<i64>,
    ) -> Result<(), Error> {
        let url = str_field(row, "webhookUrl");
        let flag = |r: &Map<String, Json>, k: &str| r.get(k) == Some(&json!(true));
        for (id, other) in &self.table(Kind::Webhooks(family)).rows {
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

    /// `DELETE {Entity}/{id}` (and children through their parent).
    pub(crate) fn delete(
        &mut self,
        def: &EntityDef,
        caller: &Caller,
        id: i64,
        parent: Option<i64>,
    ) -> Result<Vec<Outbound>, Error> {
        match def.kind {
            Kind::Webhooks(family) => {
                let row = self
                    .table(def.kind)
                    .rows
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| Error::not_found(format!("{} with id {id}", def.name)))?;
                check_owner(def, &row, caller)?;
                for child in [
                    Kind::WebhookFields(family),
                    Kind::WebhookUdfFields(family),
                    Kind::WebhookExcluded(family),
                ] {
                    if let Some(t) = self.tables.get_mut(&child) {
                        t.rows
                            .retain(|_, r| r.get("webhookID").and_then(Json::as_i64) != Some(id));
                    }
                }
                self.table_mut(def.kind).rows.remove(&id);
                self.hook_failures.remove(&(family, id));
                let mut out = Vec::new();
                if row.get("isActive") == Some(&json!(true)) {
                    out.push(self.deactivation_callout(family, &row));
                }
                Ok(out)
            }
            Kind::WebhookFields(family)
            | Kind::WebhookUdfFields(family)
            | Kind::WebhookExcluded(family) => {
                let parent = parent.ok_or_else(|| Error::MethodNotAllowed {
                    method: "DELETE".into(),
                })?;
                let hook = self.owned_webhook(family, caller, parent)?;
                let found = self
                    .table(def.kind)
                    .rows
                    .get(&id)
                    .is_some_and(|r| parent_matches(def, r, Some(parent)));
                if !found {
                    return Err(Error::not_found(format!("{} with id {id}", def.name)));
                }
                self.table_mut(def.kind).rows.remove(&id);
                self.refresh_ready(family, hook);
                Ok(Vec::new())
            }
            Kind::WebhookErrorLogs => {
                self.table_mut(def.kind)
                    .rows
                    .remove(&id)
                    .ok_or_else(|| Error::not_found(format!("{} with id {id}", def.name)))?;
                Ok(Vec::new())
            }
            _ => Err(Error::MethodNotAllowed {
                method: "DELETE".into(),
            }),
        }
    }

    /// The parent webhook, checked to exist and to belong to the caller.
    fn owned_webhook(&self, family: WebhookFamily, caller: &Caller, id: i64) -> Result<i64, Error> {
        let def = registry().get(Kind::Webhooks(family));
        let row = self
            .table(def.kind)
            .rows
            .get(&id)
            .ok_or_else(|| Error::not_found(format!("{} with id {id}", def.name)))?;
        check_owner(def, row, caller)?;
        Ok(id)
    }

    fn write_webhook_child(
        &mut self,
        def: &EntityDef,
        family: WebhookFamily,
        caller: &Caller,
        mode: Write,
        body: &Map<String, Json>,
        parent: i64,
    ) -> Result<(i64, Vec<Outbound>), Error> {
        self.owned_webhook(family, caller, parent)?;
        let mut changes = normalize(def, body, mode)?;
        if mode != Write::Create {
            let id = body_id(body)?;
            let ok = self
                .table(def.kind)
                .rows
                .get(&id)
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
                let dup = self.table(def.kind).rows.iter().any(|(id, r)| {
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
            if !self.table(Kind::Resources).rows.contains_key(&r) {
                return Err(Error::rejected(format!("Resource {r} does not exist.")));
            }
            let dup = self.table(def.kind).rows.values().any(|row| {
                parent_matches(def, row, Some(parent))
                    && row.get("resourceID").and_then(Json::as_i64) == Some(r)
            });
            if dup {
                return Err(Error::rejected(format!(
                    "Resource {r} is already excluded from webhook {parent}."
                )));
            }
        }
        let id = self.apply(def, mode, body, changes)?;
        self.refresh_ready(family, parent);
        Ok((id, Vec::new()))
    }

    /// `isReady` = at least one subscribed field or UDF field.
    fn refresh_ready(&mut self, family: WebhookFamily, hook: i64) {
        let subscribed = |kind| {
            self.tables.get(&kind).is_some_and(|t: &Table| {
                t.rows.values().any(|r| {
                    r.get("webhookID").and_then(Json::as_i64) == Some(hook)
                        && r.get("isSubscribedField") == Some(&json!(true))
                })
            })
        };
        let ready =
            subscribed(Kind::WebhookFields(family)) || subscribed(Kind::WebhookUdfFields(family));
        if let Some(row) = self.table_mut(Kind::Webhooks(family)).rows.get_mut(&hook) {
            row.insert("isReady".into(), json!(ready));
        }
    }

    // ---------------------------------------------------------------- tickets

    /// Creates a ticket (console) and returns its id and the create callouts.
    pub(crate) fn create_ticket(
        &mut self,
        fields: &Map<String, Json>,
        person: Option<i64>,
    ) -> Result<(i64, Vec<Outbound>), Error> {
        let def = registry().get(Kind::Tickets);
        let mut changes = normalize(def, fields, Write::Create)?;
        let now = utc_now();
        changes.insert("createDate".into(), json!(now));
        changes.insert("lastActivityDate".into(), json!(now));
        changes.insert("creatorResourceID".into(), json!(person));
        let id = self.apply(def, Write::Create, fields, changes)?;
        let number = format!("T20260101.{:04}", id % 10_000);
        let row = self
            .table_mut(Kind::Tickets)
            .rows
            .get_mut(&id)
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
            .table_mut(Kind::Tickets)
            .rows
            .remove(&id)
            .ok_or_else(|| Error::not_found(format!("ticket {id}")))?;
        Ok(self.ticket_callouts("Delete", &row, &[], person))
    }

    /// Updates a ticket (console) and returns the update callouts.
    pub(crate) fn update_ticket(
        &mut self,
        id: i64,
        fields: &Map<String, Json>,
        person: Option<i64>,
    ) -> Result<Vec<Outbound>, Error> {
        let def = registry().get(Kind::Tickets);
        let changes = normalize(def, fields, Write::Patch)?;
        let row = self
            .table_mut(Kind::Tickets)
            .rows
            .get_mut(&id)
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
        ticket: &Map<String, Json>,
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
        let hooks: Vec<Map<String, Json>> = self
            .table(Kind::Webhooks(family))
            .rows
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
                self.table(Kind::WebhookExcluded(family))
                    .rows
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
            for r in self.table(Kind::WebhookFields(family)).rows.values() {
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
            self.sequence += 1;
            let payload = json!({
                "Action": action,
                "Guid": hook.get("webhookGUID").cloned().unwrap_or(Json::Null),
                "EntityType": "Ticket",
                "Id": ticket.get("id").cloned().unwrap_or(Json::Null),
                "Fields": fields,
                "EventTime": utc_now(),
                "SequenceNumber": self.sequence,
                "PersonID": person,
            });
            out.push(Outbound {
                database: self.name.clone(),
                family,
                webhook_id: hook_id,
                url: str_field(&hook, "webhookUrl"),
                secret: str_field(&hook, "secretKey"),
                body: callout::encode(&payload),
                action,
            });
        }
        out
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
        self.table_mut(Kind::WebhookErrorLogs).insert(row);
    }

    /// Webhook rows of a family (console / tests).
    pub(crate) fn webhooks(&self, family: WebhookFamily) -> Vec<Map<String, Json>> {
        self.table(Kind::Webhooks(family))
            .rows
            .values()
            .cloned()
            .collect()
    }

    /// Adds a resource's line-of-business memberships as `OrganizationalResources` rows.
    pub(crate) fn set_lines_of_business(
        &mut self,
        resource: i64,
        associations: &[i64],
        view_no_lob: bool,
    ) -> Result<(), Error> {
        for a in associations {
            if !self.table(Kind::OrgAssociation).rows.contains_key(a) {
                return Err(Error::not_found(format!(
                    "line of business (association) {a}"
                )));
            }
        }
        let account = self
            .accounts
            .get_mut(&resource)
            .ok_or_else(|| Error::not_found(format!("resource {resource}")))?;
        account.lines_of_business = associations.to_vec();
        account.view_no_lob = view_no_lob;
        let t = self.table_mut(Kind::OrgResources);
        t.rows
            .retain(|_, r| r.get("resourceID").and_then(Json::as_i64) != Some(resource));
        for a in associations {
            t.insert(obj(json!({
                "organizationalLevelAssociationID": a,
                "resourceID": resource,
            })));
        }
        Ok(())
    }
}

fn obj(v: Json) -> Map<String, Json> {
    match v {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

fn str_field(row: &Map<String, Json>, key: &str) -> String {
    row.get(key)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn check_owner(def: &EntityDef, row: &Map<String, Json>, caller: &Caller) -> Result<(), Error> {
    if row.get("ownerResourceID").and_then(Json::as_i64) != Some(caller.resource_id) {
        return Err(Error::rejected(format!(
            "{} {} is owned by another resource; only its owner may update or delete it.",
            def.name,
            row.get("id").cloned().unwrap_or(Json::Null)
        )));
    }
    Ok(())
}

fn parent_matches(def: &EntityDef, row: &Map<String, Json>, parent: Option<i64>) -> bool {
    match (parent, def.parent_field) {
        (Some(p), Some(field)) => row.get(field).and_then(Json::as_i64) == Some(p),
        _ => true,
    }
}

fn with_udfs(def: &EntityDef, mut row: Map<String, Json>) -> Map<String, Json> {
    if def.has_udfs {
        row.entry("userDefinedFields").or_insert(json!([]));
    }
    row
}

/// Keeps only `IncludeFields` (plus `id`, and `userDefinedFields` on entities that have them).
fn project(def: &EntityDef, row: &Map<String, Json>, include: &[String]) -> Json {
    if include.is_empty() {
        return Json::Object(with_udfs(def, row.clone()));
    }
    let mut out = Map::new();
    for (k, v) in row {
        if k == "id" || include.iter().any(|i| i.eq_ignore_ascii_case(k)) {
            out.insert(k.clone(), v.clone());
        }
    }
    Json::Object(with_udfs(def, out))
}

/// The id a PATCH/PUT body names.
fn body_id(body: &Map<String, Json>) -> Result<i64, Error> {
    body.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("id"))
        .and_then(|(_, v)| v.as_i64())
        .ok_or_else(|| Error::rejected("The id field is required to update an entity."))
}

/// Checks a query against the entity's fields: known, queryable, booleans as literals, UDF
/// names known, `IncludeFields` known.
fn validate_query(def: &EntityDef, query: &Query) -> Result<(), Error> {
    fn walk(def: &EntityDef, f: &Filter) -> Result<(), Error> {
        let (field, udf, values): (&str, bool, Vec<&Value>) = match f {
            Filter::And(items) | Filter::Or(items) => {
                return items.iter().try_for_each(|i| walk(def, i));
            }
            Filter::Compare {
                field, value, udf, ..
            } => (field, *udf, vec![value]),
            Filter::Exist { field, udf } | Filter::NotExist { field, udf } => (field, *udf, vec![]),
            Filter::In { field, values, udf } | Filter::NotIn { field, values, udf } => {
                (field, *udf, values.iter().collect())
            }
        };
        if udf {
            let known = def.has_udfs
                && metadata::webhook_udf_catalog(WebhookFamily::Ticket)
                    .iter()
                    .any(|(_, n)| n.eq_ignore_ascii_case(field));
            if !known {
                return Err(Error::rejected(format!(
                    "Unable to find user-defined field {field} in the {} entity.",
                    def.name
                )));
            }
            return Ok(());
        }
        let fd = def.field(field).ok_or_else(|| {
            Error::rejected(format!(
                "Unable to find field {field} in the {} entity.",
                def.name
            ))
        })?;
        if !fd.queryable {
            return Err(Error::rejected(format!(
                "Field {} of the {} entity cannot be queried.",
                fd.name, def.name
            )));
        }
        if fd.ty == Ty::Boolean && values.iter().any(|v| !matches!(v, Value::Bool(_))) {
            return Err(Error::rejected(format!(
                "Field {} is a boolean: its filter value must be true or false.",
                fd.name
            )));
        }
        Ok(())
    }
    query.filter.iter().try_for_each(|f| walk(def, f))?;
    for inc in &query.include_fields {
        if def.field(inc).is_none() && !inc.eq_ignore_ascii_case("userDefinedFields") {
            return Err(Error::rejected(format!(
                "Unable to find field {inc} in the {} entity (IncludeFields).",
                def.name
            )));
        }
    }
    Ok(())
}

/// Validates a write body against the entity's fields and returns the changes to apply,
/// keyed by canonical field name. Read-only and unknown fields are ignored, as Autotask
/// does; PUT sets omitted writable fields to null.
pub(crate) fn normalize(
    def: &EntityDef,
    body: &Map<String, Json>,
    mode: Write,
) -> Result<Map<String, Json>, Error> {
    let mut out = Map::new();
    let mut errors = Vec::new();
    for (k, v) in body {
        let Some(fd) = def.field(k) else { continue };
        if fd.read_only {
            continue;
        }
        let ok = match (fd.ty, v) {
            (_, Json::Null) => true,
            (Ty::Integer | Ty::Long, v) => v.is_i64() || v.is_u64(),
            (Ty::Double, v) => v.is_number(),
            (Ty::Boolean, v) => v.is_boolean(),
            (Ty::Str(max), Json::String(s)) => {
                if s.chars().count() > max as usize {
                    errors.push(format!(
                        "The value of {} exceeds its maximum length of {max}.",
                        fd.name
                    ));
                }
                true
            }
            (Ty::DateTime, Json::String(_)) => true,
            _ => false,
        };
        if !ok {
            errors.push(format!(
                "The value {v} is not valid for field {} ({}).",
                fd.name,
                match fd.ty {
                    Ty::Str(_) => "string".into(),
                    t => format!("{t:?}").to_lowercase(),
                }
            ));
            continue;
        }
        if let (Some(p), Some(n)) = (fd.picklist, v.as_i64()) {
            if fd.name != "fieldID"
                && fd.name != "udfFieldID"
                && !p.values().iter().any(|(x, _)| *x == n)
            {
                errors.push(format!(
                    "{n} is not a valid value for picklist {}.",
                    fd.name
                ));
            }
        }
        out.insert(fd.name.into(), v.clone());
    }
    if mode == Write::Put {
        for fd in def.fields.iter().filter(|f| !f.read_only) {
            out.entry(fd.name).or_insert(Json::Null);
        }
    }
    if mode != Write::Patch {
        for fd in def.fields.iter().filter(|f| f.required && !f.read_only) {
            if out.get(fd.name).is_none_or(Json::is_null) {
                errors.push(format!("{} is required.", fd.name));
            }
        }
    } else {
        for fd in def.fields.iter().filter(|f| f.required) {
            if out.get(fd.name).is_some_and(Json::is_null) {
                errors.push(format!("{} is required and cannot be null.", fd.name));
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Error::Rejected { messages: errors })
    }
}

/// A random GUID-shaped string.
pub(crate) fn guid() -> String {
    let mut rng = rand::rng();
    let b: [u8; 16] = rng.random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A random string from `alphabet`.
pub(crate) fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// Now in UTC as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn utc_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_now_is_rfc3339_shaped() {
        let s = utc_now();
        assert_eq!(s.len(), 24, "{s}");
        assert!(
            s.starts_with("20") && s.ends_with('Z') && &s[10..11] == "T",
            "{s}"
        );
    }

    #[test]
    fn normalize_rejects_wrong_types_lengths_and_missing_required() {
        let def = registry().get(Kind::Webhooks(WebhookFamily::Ticket));
        let body = obj(json!({"name": "x".repeat(51), "isActive": "yes"}));
        let Err(Error::Rejected { messages }) = normalize(def, &body, Write::Create) else {
            panic!("must be rejected")
        };
        let all = messages.join("\n");
        assert!(all.contains("maximum length of 50"), "{all}");
        assert!(all.contains("isActive"), "{all}");
        assert!(all.contains("webhookUrl is required"), "{all}");
    }

    fn caller_with_webhooks(db: &mut Db) -> Caller {
        let id = db.insert_resource("A", "B", "a@b.c", "a@b.c", true);
        let level = SecurityLevel {
            id: 50,
            name: "hooks".into(),
            system: false,
            api_only: true,
            resource_admin: true,
            webhooks_enabled: true,
            webhook_max: 10,
        };
        db.levels.insert(50, level.clone());
        db.accounts.get_mut(&id).unwrap().security_level = Some(50);
        Caller {
            resource_id: id,
            level: Some(level),
        }
    }

    fn hook(db: &mut Db, caller: &Caller, url: &str, subscribe: bool) -> i64 {
        let family = WebhookFamily::Ticket;
        let def = registry().get(Kind::Webhooks(family));
        let body = json!({
            "name": url, "webhookUrl": url, "deactivationUrl": url, "secretKey": "k",
            "isActive": true, "isSubscribedToCreateEvents": true,
            "isSubscribedToUpdateEvents": true,
        });
        let (id, _) = db.write(def, caller, Write::Create, &body, None).unwrap();
        if subscribe {
            let def = registry().get(Kind::WebhookFields(family));
            let f = json!({"fieldID": 7, "isSubscribedField": true});
            db.write(def, caller, Write::Create, &f, Some(id)).unwrap();
        }
        id
    }

    #[test]
    fn only_ready_active_subscribed_not_excluded_webhooks_fire() {
        let mut db = Db::new(&DatabaseConfig::named("t"), 1, Behaviour::default());
        let caller = caller_with_webhooks(&mut db);
        let ready = hook(&mut db, &caller, "https://x/ready", true);
        let _unready = hook(&mut db, &caller, "https://x/unready", false);
        let inactive = hook(&mut db, &caller, "https://x/inactive", true);
        let def = registry().get(Kind::Webhooks(WebhookFamily::Ticket));
        db.write(
            def,
            &caller,
            Write::Patch,
            &json!({"id": inactive, "isActive": false}),
            None,
        )
        .unwrap();
        let excl = registry().get(Kind::WebhookExcluded(WebhookFamily::Ticket));
        let (t, out) = db
            .create_ticket(
                &obj(json!({"title": "t", "status": 1, "priority": 1, "companyID": 0})),
                None,
            )
            .unwrap();
        let urls: Vec<&str> = out.iter().map(|o| o.url.as_str()).collect();
        assert_eq!(urls, ["https://x/ready"]);
        assert_eq!(out[0].action, "Create");
        // Unsubscribed change: nothing; subscribed change: the ready hook.
        assert!(
            db.update_ticket(t, &obj(json!({"priority": 3})), None)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            db.update_ticket(t, &obj(json!({"status": 5})), None)
                .unwrap()
                .len(),
            1
        );
        // Unchanged value: nothing.
        assert!(
            db.update_ticket(t, &obj(json!({"status": 5})), None)
                .unwrap()
                .is_empty()
        );
        // Excluded person: nothing.
        db.write(
            excl,
            &caller,
            Write::Create,
            &json!({"resourceID": caller.resource_id}),
            Some(ready),
        )
        .unwrap();
        let person = Some(caller.resource_id);
        assert!(
            db.update_ticket(t, &obj(json!({"status": 8})), person)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            db.update_ticket(t, &obj(json!({"status": 1})), None)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn put_nulls_omitted_writable_fields_and_patch_keeps_them() {
        let def = registry().get(Kind::OrgLevel1);
        let body = obj(json!({"id": 1, "name": "N", "isActive": true}));
        let put = normalize(def, &body, Write::Put).unwrap();
        assert_eq!(put.get("description"), Some(&Json::Null));
        let patch = normalize(def, &body, Write::Patch).unwrap();
        assert!(!patch.contains_key("description"));
    }
}
