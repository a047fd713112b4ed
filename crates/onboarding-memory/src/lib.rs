//! An in-memory Autotask tenant that answers [`Read`](onboarding_steps::Read)s and applies [`Call`](onboarding_steps::Call)s with the rules
//! that matter to the steps: authentication per role (inactive users and bad secrets are
//! rejected with 401), webhook permission per family (403), owner-only management of
//! webhooks, the duplicate rule (same family + URL + event, any owner, inactive included),
//! `isReady` once a subscribed field exists, and deactivating a user deactivating its
//! webhooks. Used by `onboarding-steps`' tests (idempotency properties, snapshots, whole runs)
//! and usable to rehearse a plan without a network. It is a model, not the simulator: no
//! HTTP, no paging, no limits.
//!
//! [`MemoryTenant::attempt`] is the in-memory driver of one step attempt: the same thin loop
//! over `onboarding_steps::attempt::Attempt` as the worker's `execute::drive`, with
//! [`Fault`]s injected at a chosen call (a worker crash before it is sent, a response lost
//! after it is committed). [`MemoryTenant::execute`] applies a bare plan the same way, for
//! plan-level properties.
//!
//! Modules: this file holds the model and its builders (`seeded`, `add_api_user`, ...);
//! `reads` answers reads, `calls` applies calls (a webhook's field and UDF rows through
//! `children`), `driver` holds the two executors.

use std::collections::{BTreeMap, BTreeSet};

use autotask_types::{
    FieldInfo, OrganizationalLevel1, OrganizationalLevel2, OrganizationalLevelAssociation,
    OrganizationalResource, PicklistValue, Query, Resource, ResourceId, ThresholdInformation,
    Webhook, WebhookExcludedResource, WebhookFamily, WebhookField, WebhookId, WebhookUdfField,
};
use serde::Serialize;

use onboarding_steps::{CallFailure, Role};

mod calls;
mod children;
mod driver;
mod reads;

pub use driver::Fault;

/// A user of the model tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryUser {
    /// The resource row.
    pub resource: Resource,
    /// Whether the stored secret for this user is right.
    pub secret_valid: bool,
    /// Families it may create webhooks of (its security level).
    pub webhook_permission: BTreeSet<WebhookFamily>,
}

/// The tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryTenant {
    /// Zone URL.
    pub zone_url: String,
    /// Request budget.
    pub threshold: ThresholdInformation,
    /// Users.
    pub users: Vec<MemoryUser>,
    /// Whose credentials each role holds (by username).
    pub credentials: BTreeMap<Role, String>,
    /// Whether the admin role may PATCH `Resources.isActive`.
    pub admin_can_update_resources: bool,
    /// Whether Autotask refuses `PATCH Resources isActive` of API users whoever asks (500
    /// `errors[]`; unconfirmed either way, autotask-api.md §4).
    pub refuses_activation_via_rest: bool,
    /// Whether Autotask answers `PATCH Resources isActive` of API users but does not apply it
    /// (as it does with read-only fields; unconfirmed, autotask-api.md §4).
    pub ignores_activation_via_rest: bool,
    /// Whether a user's webhook queries hide other owners' webhooks (undocumented either
    /// way, autotask-api.md §5).
    pub hides_other_owners_webhooks: bool,
    /// `{Family}Webhooks/entityInformation` as the contract shapes it (`canCreate` true,
    /// `userAccessForCreate` `{}`): the webhook permission shows only when a create is
    /// refused. Otherwise `canCreate` follows the permission (default).
    pub webhook_access_unknown: bool,
    /// `licenseType` picklist: value → label.
    pub license_labels: Vec<(i32, String)>,
    /// Level 1s.
    pub level1s: Vec<OrganizationalLevel1>,
    /// Level 2s.
    pub level2s: Vec<OrganizationalLevel2>,
    /// Associations.
    pub associations: Vec<OrganizationalLevelAssociation>,
    /// Memberships.
    pub memberships: Vec<OrganizationalResource>,
    /// Webhook `fieldID` picklist (same for every family): value → label.
    pub webhook_field_labels: Vec<(i32, String)>,
    /// Webhooks per family (`isReady` is computed when read).
    pub webhooks: BTreeMap<WebhookFamily, Vec<Webhook>>,
    /// Webhook fields per family.
    pub fields: BTreeMap<WebhookFamily, Vec<WebhookField>>,
    /// The `udfFieldID` picklist: (value, label), for every family but TicketNote.
    pub webhook_udf_labels: Vec<(i32, String)>,
    /// Webhook UDF fields per family.
    pub udf_fields: BTreeMap<WebhookFamily, Vec<WebhookUdfField>>,
    /// Excluded resources per family.
    pub excluded: BTreeMap<WebhookFamily, Vec<WebhookExcludedResource>>,
    /// Whether creates obey Autotask's duplicate rule (tests turn it off to see whether a
    /// planner would create a duplicate at all).
    pub duplicate_rule: bool,
    /// Next id for created rows.
    pub next_id: i64,
    /// Reads answered.
    pub reads: u64,
    /// Calls applied (successful writes).
    pub writes: u64,
    /// Every call an attempt driven by [`MemoryTenant::attempt`] sent: `step: description`.
    pub calls_made: Vec<String>,
}

fn row<T: Serialize>(v: &T) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

fn filter<T: Serialize + Clone>(rows: &[T], q: &Query) -> Vec<T> {
    rows.iter()
        .filter(|r| q.matches(&row(*r)))
        .cloned()
        .collect()
}

fn picklist(name: &str, labels: &[(i32, String)]) -> FieldInfo {
    FieldInfo {
        name: name.into(),
        is_pick_list: true,
        picklist_values: labels
            .iter()
            .map(|(v, l)| PicklistValue {
                value: v.to_string(),
                label: l.clone(),
                is_active: true,
                ..PicklistValue::default()
            })
            .collect(),
        ..FieldInfo::default()
    }
}

impl MemoryTenant {
    /// A tenant with the new API user (`new@example.com`, id 100) set up as the seed asks:
    /// active API user with name and email, both default lines of business, Ticket webhook
    /// permission; `Status` (1) and `Priority` (2) as webhook fields.
    pub fn seeded() -> Self {
        let mut t = Self {
            zone_url: "https://webservices15.autotask.net/ATServicesRest/".into(),
            threshold: ThresholdInformation {
                external_request_threshold: 10_000,
                request_threshold_timeframe: 60,
                current_timeframe_request_count: 120,
            },
            users: Vec::new(),
            credentials: BTreeMap::new(),
            admin_can_update_resources: true,
            refuses_activation_via_rest: false,
            ignores_activation_via_rest: false,
            hides_other_owners_webhooks: false,
            webhook_access_unknown: false,
            license_labels: vec![(1, "Full".into()), (7, "API User (system)".into())],
            level1s: vec![OrganizationalLevel1 {
                id: Some(1.into()),
                name: Some("General".into()),
                is_active: Some(true),
            }],
            level2s: vec![
                OrganizationalLevel2 {
                    id: Some(11.into()),
                    name: Some("IT Services".into()),
                    is_active: Some(true),
                },
                OrganizationalLevel2 {
                    id: Some(12.into()),
                    name: Some("Software Development".into()),
                    is_active: Some(true),
                },
            ],
            associations: vec![
                OrganizationalLevelAssociation {
                    id: Some(21.into()),
                    is_active: Some(true),
                    organizational_level1_id: Some(1.into()),
                    organizational_level2_id: Some(11.into()),
                },
                OrganizationalLevelAssociation {
                    id: Some(22.into()),
                    is_active: Some(true),
                    organizational_level1_id: Some(1.into()),
                    organizational_level2_id: Some(12.into()),
                },
            ],
            memberships: Vec::new(),
            webhook_field_labels: vec![
                (1, "Status".into()),
                (2, "Priority".into()),
                (3, "Title".into()),
            ],
            webhooks: BTreeMap::new(),
            fields: BTreeMap::new(),
            webhook_udf_labels: vec![(29682901, "Sophos Tenant ID".into())],
            udf_fields: BTreeMap::new(),
            excluded: BTreeMap::new(),
            duplicate_rule: true,
            next_id: 1000,
            reads: 0,
            writes: 0,
            calls_made: Vec::new(),
        };
        t.add_api_user(100, "new@example.com", true, [WebhookFamily::Ticket]);
        t.credentials.insert(Role::New, "new@example.com".into());
        t.add_member(100, 21);
        t.add_member(100, 22);
        t
    }

    /// Adds an API user (license "API User (system)", named, with email).
    pub fn add_api_user(
        &mut self,
        id: i64,
        user_name: &str,
        active: bool,
        permission: impl IntoIterator<Item = WebhookFamily>,
    ) {
        self.users.push(MemoryUser {
            resource: Resource {
                id: Some(id.into()),
                user_name: Some(user_name.into()),
                first_name: Some("Sophos".into()),
                last_name: Some("Integration".into()),
                email: Some("psa@example.com".into()),
                is_active: Some(active),
                license_type: Some(7),
                ..Resource::default()
            },
            secret_valid: true,
            webhook_permission: permission.into_iter().collect(),
        });
    }

    /// Makes resource `id` a member of association `association`.
    pub fn add_member(&mut self, id: i64, association: i64) {
        self.next_id += 1;
        self.memberships.push(OrganizationalResource {
            id: Some(self.next_id.into()),
            organizational_level_association_id: Some(association.into()),
            resource_id: Some(id.into()),
        });
    }

    /// The user with this id.
    pub fn user_mut(&mut self, id: i64) -> Option<&mut MemoryUser> {
        self.users
            .iter_mut()
            .find(|u| u.resource.id == Some(ResourceId::new(id)))
    }

    /// Inserts a webhook as if `owner` had created it (with a subscribed field when `ready`).
    pub fn add_webhook(
        &mut self,
        family: WebhookFamily,
        owner: i64,
        name: &str,
        url: &str,
        active: bool,
        ready: bool,
    ) -> WebhookId {
        self.next_id += 1;
        let id = WebhookId::new(self.next_id);
        self.webhooks.entry(family).or_default().push(Webhook {
            id: Some(id),
            name: Some(name.into()),
            webhook_url: Some(url.into()),
            deactivation_url: Some(format!("{url}/deactivated")),
            is_active: Some(active),
            is_subscribed_to_create_events: Some(true),
            is_subscribed_to_update_events: Some(true),
            is_subscribed_to_delete_events: Some(false),
            owner_resource_id: Some(owner.into()),
            ..Webhook::default()
        });
        if ready {
            self.next_id += 1;
            self.fields.entry(family).or_default().push(WebhookField {
                id: Some(self.next_id.into()),
                field_id: Some(1),
                is_subscribed_field: Some(true),
                is_display_always_field: Some(false),
                webhook_id: Some(id),
            });
        }
        id
    }

    /// All webhooks of a family as Autotask would return them (`isReady` computed).
    pub fn webhooks_of(&self, family: WebhookFamily) -> Vec<Webhook> {
        self.webhooks
            .get(&family)
            .into_iter()
            .flatten()
            .map(|w| {
                let mut w = w.clone();
                let fields = self
                    .fields
                    .get(&family)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let udfs = self
                    .udf_fields
                    .get(&family)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                w.is_ready = Some(
                    children::any_subscribed(fields, w.id) || children::any_subscribed(udfs, w.id),
                );
                w
            })
            .collect()
    }

    fn auth(&self, role: Role) -> Result<&MemoryUser, CallFailure> {
        let name = self
            .credentials
            .get(&role)
            .ok_or(CallFailure::CredentialsRejected)?;
        self.users
            .iter()
            .find(|u| {
                u.resource
                    .user_name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .filter(|u| u.secret_valid && u.resource.is_active == Some(true))
            .ok_or(CallFailure::CredentialsRejected)
    }
}
