//! An in-memory Autotask tenant that answers [`Read`]s and applies [`Call`]s with the rules
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

use std::collections::{BTreeMap, BTreeSet};

use autotask_types::{
    AccessLevel, EntityInformation, FieldInfo, OrganizationalLevel1, OrganizationalLevel2,
    OrganizationalLevelAssociation, OrganizationalResource, PicklistValue, Query, Resource,
    ResourceId, ThresholdInformation, Webhook, WebhookExcludedResource, WebhookFamily,
    WebhookField, WebhookId, WebhookUdfField, ZoneInformation,
};
use serde::Serialize;

use onboarding_steps::attempt::{Attempt, Want};
use onboarding_steps::run::AttemptOutcome;
use onboarding_steps::{
    Call, CallFailure, Observed, Plan, Read, ReadResult, Role, StepContext, StepName, WebhookRef,
};

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
                let field = self
                    .fields
                    .get(&family)
                    .into_iter()
                    .flatten()
                    .any(|f| f.webhook_id == w.id && f.is_subscribed_field == Some(true));
                let udf = self
                    .udf_fields
                    .get(&family)
                    .into_iter()
                    .flatten()
                    .any(|u| u.webhook_id == w.id && u.is_subscribed_field == Some(true));
                w.is_ready = Some(field || udf);
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

    /// Answers a read.
    pub fn answer(&mut self, read: &Read) -> Result<ReadResult, CallFailure> {
        self.reads += 1;
        if let Some(role) = read.credentials() {
            self.auth(role)?;
        }
        Ok(match read {
            Read::ZoneInformation { user_name } => {
                let known = self.users.iter().any(|u| {
                    u.resource
                        .user_name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(user_name))
                });
                if !known {
                    return Err(CallFailure::NotFound);
                }
                ReadResult::Zone(ZoneInformation {
                    url: self.zone_url.clone(),
                    ..ZoneInformation::default()
                })
            }
            Read::ThresholdInformation { .. } => ReadResult::Threshold(self.threshold),
            Read::Resources { query, .. } => {
                let rows: Vec<Resource> = self.users.iter().map(|u| u.resource.clone()).collect();
                ReadResult::Resources(filter(&rows, query))
            }
            Read::ResourceFields { .. } => {
                ReadResult::Fields(vec![picklist("licenseType", &self.license_labels)])
            }
            Read::OrganizationalLevel1s { query, .. } => {
                ReadResult::Level1s(filter(&self.level1s, query))
            }
            Read::OrganizationalLevel2s { query, .. } => {
                ReadResult::Level2s(filter(&self.level2s, query))
            }
            Read::OrganizationalLevelAssociations { query, .. } => {
                ReadResult::Associations(filter(&self.associations, query))
            }
            Read::OrganizationalResources { query, .. } => {
                ReadResult::Memberships(filter(&self.memberships, query))
            }
            Read::WebhookEntityInformation {
                credentials,
                family,
            } => {
                let user = self.auth(*credentials)?;
                ReadResult::EntityInformation(EntityInformation {
                    name: Some(family.webhook_entity().into()),
                    can_create: Some(
                        self.webhook_access_unknown || user.webhook_permission.contains(family),
                    ),
                    can_delete: Some(user.webhook_permission.contains(family)),
                    can_query: Some(true),
                    can_update: Some(user.webhook_permission.contains(family)),
                    // The user's own level: "All" or "None" as public clients receive it,
                    // or the contract's `{}` (unknown).
                    user_access_for_create: match (
                        self.webhook_access_unknown,
                        user.webhook_permission.contains(family),
                    ) {
                        (true, _) => AccessLevel::Unknown,
                        (false, true) => AccessLevel::All,
                        (false, false) => AccessLevel::None,
                    },
                    supports_webhook_callouts: false,
                    ..EntityInformation::default()
                })
            }
            Read::WebhookFieldInfo { .. } => {
                ReadResult::Fields(vec![picklist("fieldID", &self.webhook_field_labels)])
            }
            Read::WebhookUdfFieldInfo { family, .. } if family.has_udf_fields() => {
                ReadResult::Fields(vec![picklist("udfFieldID", &self.webhook_udf_labels)])
            }
            Read::WebhookUdfFieldInfo { .. } => return Err(CallFailure::NotFound),
            Read::WebhookUdfFields { family, query, .. } => ReadResult::WebhookUdfFields(filter(
                self.udf_fields
                    .get(family)
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
                query,
            )),
            Read::Webhooks {
                family,
                query,
                credentials,
            } => {
                let mut rows = self.webhooks_of(*family);
                if self.hides_other_owners_webhooks {
                    let me = self.auth(*credentials)?.resource.id;
                    rows.retain(|w| w.owner_resource_id == me);
                }
                ReadResult::Webhooks(filter(&rows, query))
            }
            Read::WebhookFields { family, query, .. } => ReadResult::WebhookFields(filter(
                self.fields
                    .get(family)
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
                query,
            )),
            Read::WebhookExcludedResources { family, query, .. } => {
                ReadResult::ExcludedResources(filter(
                    self.excluded
                        .get(family)
                        .map(Vec::as_slice)
                        .unwrap_or_default(),
                    query,
                ))
            }
        })
    }

    /// Performs `step`'s reads until it needs no more, as the worker does.
    pub fn observe(&mut self, step: StepName, ctx: &StepContext) -> Observed {
        let mut observed = Observed::new();
        for _ in 0..onboarding_steps::attempt::MAX_ROUNDS {
            let reads = step.reads(ctx, &observed);
            if reads.is_empty() {
                break;
            }
            for read in reads {
                let answer = self.answer(&read);
                // The model answers every read with the result kind that fits it.
                let _ = observed.record(&read, answer);
            }
        }
        observed
    }

    fn owned_webhook(
        &self,
        owner: ResourceId,
        family: WebhookFamily,
        id: WebhookId,
    ) -> Result<usize, CallFailure> {
        let list = self.webhooks.get(&family).ok_or(CallFailure::NotFound)?;
        let i = list
            .iter()
            .position(|w| w.id == Some(id))
            .ok_or(CallFailure::NotFound)?;
        if list[i].owner_resource_id != Some(owner) {
            return Err(CallFailure::NotPermitted {
                message: Some("only the owner may manage this webhook".into()),
            });
        }
        Ok(i)
    }

    fn resolve(&self, r: WebhookRef, created: &[Option<i64>]) -> Result<WebhookId, CallFailure> {
        match r {
            WebhookRef::Existing(id) => Ok(id),
            WebhookRef::CreatedBy(i) => created
                .get(i)
                .copied()
                .flatten()
                .map(WebhookId::new)
                .ok_or(CallFailure::Rejected {
                    errors: vec![format!("call {i} created nothing")],
                }),
        }
    }

    /// Applies one call; `created` holds the item ids of the plan's earlier calls. Returns
    /// the call's item id.
    pub fn apply(
        &mut self,
        call: &Call,
        created: &[Option<i64>],
    ) -> Result<Option<i64>, CallFailure> {
        let caller = self.auth(call.credentials())?.clone();
        let owner = caller.resource.id.unwrap_or(ResourceId::new(0));
        let result = match call {
            Call::CreateWebhook {
                family, webhook, ..
            } => {
                if !caller.webhook_permission.contains(family) {
                    return Err(CallFailure::NotPermitted {
                        message: Some("webhooks are not enabled for this security level".into()),
                    });
                }
                let url = webhook.webhook_url.clone().unwrap_or_default();
                let events = |w: &Webhook| {
                    [
                        w.is_subscribed_to_create_events == Some(true),
                        w.is_subscribed_to_update_events == Some(true),
                        w.is_subscribed_to_delete_events == Some(true),
                    ]
                };
                let mine = events(webhook);
                let duplicate = self.webhooks.get(family).into_iter().flatten().any(|w| {
                    w.webhook_url
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(&url))
                        && events(w).iter().zip(mine).any(|(a, b)| *a && b)
                });
                if duplicate && self.duplicate_rule {
                    return Err(CallFailure::Rejected {
                        errors: vec!["a webhook with the same URL and event already exists".into()],
                    });
                }
                self.next_id += 1;
                let mut w = webhook.clone();
                w.id = Some(WebhookId::new(self.next_id));
                w.owner_resource_id = Some(owner);
                w.secret_key = Some("from-secret-slot".into());
                w.is_ready = None;
                self.webhooks.entry(*family).or_default().push(w);
                Some(self.next_id)
            }
            Call::UpdateWebhook {
                family, webhook, ..
            } => {
                let id = webhook.id.ok_or(CallFailure::Rejected {
                    errors: vec!["id is required".into()],
                })?;
                let i = self.owned_webhook(owner, *family, id)?;
                let w = &mut self.webhooks.get_mut(family).ok_or(CallFailure::NotFound)?[i];
                macro_rules! set {
                    ($($f:ident),*) => { $(if webhook.$f.is_some() { w.$f = webhook.$f.clone(); })* };
                }
                set!(
                    name,
                    webhook_url,
                    deactivation_url,
                    is_active,
                    is_subscribed_to_create_events,
                    is_subscribed_to_update_events,
                    is_subscribed_to_delete_events,
                    notification_email_address,
                    send_threshold_exceeded_notification
                );
                Some(id.get())
            }
            Call::DeleteWebhook { family, id, .. } => {
                let i = self.owned_webhook(owner, *family, *id)?;
                if let Some(list) = self.webhooks.get_mut(family) {
                    list.remove(i);
                }
                if let Some(f) = self.fields.get_mut(family) {
                    f.retain(|f| f.webhook_id != Some(*id));
                }
                if let Some(u) = self.udf_fields.get_mut(family) {
                    u.retain(|u| u.webhook_id != Some(*id));
                }
                if let Some(e) = self.excluded.get_mut(family) {
                    e.retain(|e| e.webhook_id != Some(*id));
                }
                Some(id.get())
            }
            Call::CreateWebhookField {
                family,
                webhook,
                field,
                ..
            } => {
                let parent = self.resolve(*webhook, created)?;
                self.owned_webhook(owner, *family, parent)?;
                let known = field
                    .field_id
                    .is_some_and(|id| self.webhook_field_labels.iter().any(|(v, _)| *v == id));
                let taken = self
                    .fields
                    .get(family)
                    .into_iter()
                    .flatten()
                    .any(|f| f.webhook_id == Some(parent) && f.field_id == field.field_id);
                if !known || taken {
                    return Err(CallFailure::Rejected {
                        errors: vec!["invalid or duplicate fieldID".into()],
                    });
                }
                self.next_id += 1;
                let mut f = field.clone();
                f.id = Some(self.next_id.into());
                f.webhook_id = Some(parent);
                self.fields.entry(*family).or_default().push(f);
                Some(self.next_id)
            }
            Call::UpdateWebhookField {
                family,
                webhook,
                field,
                ..
            } => {
                self.owned_webhook(owner, *family, *webhook)?;
                let row = self
                    .fields
                    .get_mut(family)
                    .into_iter()
                    .flatten()
                    .find(|f| f.id == field.id && f.webhook_id == Some(*webhook))
                    .ok_or(CallFailure::NotFound)?;
                if field.is_subscribed_field.is_some() {
                    row.is_subscribed_field = field.is_subscribed_field;
                }
                if field.is_display_always_field.is_some() {
                    row.is_display_always_field = field.is_display_always_field;
                }
                row.id.map(|i| i.get())
            }
            Call::DeleteWebhookField {
                family,
                webhook,
                id,
                ..
            } => {
                self.owned_webhook(owner, *family, *webhook)?;
                let list = self.fields.get_mut(family).ok_or(CallFailure::NotFound)?;
                let before = list.len();
                list.retain(|f| {
                    !(f.id.map(|i| i.get()) == Some(*id) && f.webhook_id == Some(*webhook))
                });
                if list.len() == before {
                    return Err(CallFailure::NotFound);
                }
                Some(*id)
            }
            Call::CreateWebhookUdfField {
                family,
                webhook,
                field,
                ..
            } => {
                let parent = self.resolve(*webhook, created)?;
                self.owned_webhook(owner, *family, parent)?;
                let known = family.has_udf_fields()
                    && field
                        .udf_field_id
                        .is_some_and(|id| self.webhook_udf_labels.iter().any(|(v, _)| *v == id));
                let taken =
                    self.udf_fields.get(family).into_iter().flatten().any(|u| {
                        u.webhook_id == Some(parent) && u.udf_field_id == field.udf_field_id
                    });
                if !known || taken {
                    return Err(CallFailure::Rejected {
                        errors: vec!["invalid or duplicate udfFieldID".into()],
                    });
                }
                self.next_id += 1;
                let mut u = field.clone();
                u.id = Some(self.next_id.into());
                u.webhook_id = Some(parent);
                self.udf_fields.entry(*family).or_default().push(u);
                Some(self.next_id)
            }
            Call::UpdateWebhookUdfField {
                family,
                webhook,
                field,
                ..
            } => {
                self.owned_webhook(owner, *family, *webhook)?;
                let row = self
                    .udf_fields
                    .get_mut(family)
                    .into_iter()
                    .flatten()
                    .find(|u| u.id == field.id && u.webhook_id == Some(*webhook))
                    .ok_or(CallFailure::NotFound)?;
                if field.is_subscribed_field.is_some() {
                    row.is_subscribed_field = field.is_subscribed_field;
                }
                row.id.map(|i| i.get())
            }
            Call::DeleteWebhookUdfField {
                family,
                webhook,
                id,
                ..
            } => {
                self.owned_webhook(owner, *family, *webhook)?;
                let list = self
                    .udf_fields
                    .get_mut(family)
                    .ok_or(CallFailure::NotFound)?;
                let before = list.len();
                list.retain(|u| {
                    !(u.id.map(|i| i.get()) == Some(*id) && u.webhook_id == Some(*webhook))
                });
                if list.len() == before {
                    return Err(CallFailure::NotFound);
                }
                Some(*id)
            }
            Call::CreateWebhookExcludedResource {
                family,
                webhook,
                resource,
                ..
            } => {
                let parent = self.resolve(*webhook, created)?;
                self.owned_webhook(owner, *family, parent)?;
                self.next_id += 1;
                self.excluded
                    .entry(*family)
                    .or_default()
                    .push(WebhookExcludedResource {
                        id: Some(self.next_id.into()),
                        resource_id: Some(*resource),
                        webhook_id: Some(parent),
                    });
                Some(self.next_id)
            }
            Call::UpdateResource { resource, .. } => {
                if !self.admin_can_update_resources || call.credentials() != Role::Admin {
                    return Err(CallFailure::NotPermitted {
                        message: Some("admin access to Resources is required".into()),
                    });
                }
                if self.refuses_activation_via_rest && resource.is_active.is_some() {
                    return Err(CallFailure::Rejected {
                        errors: vec![
                            "isActive of an API-only resource can only be changed in the web \
                             interface."
                                .into(),
                        ],
                    });
                }
                let id = resource.id.ok_or(CallFailure::NotFound)?;
                let ignored = self.ignores_activation_via_rest;
                let user = self.user_mut(id.get()).ok_or(CallFailure::NotFound)?;
                if let Some(active) = resource.is_active.filter(|_| !ignored) {
                    user.resource.is_active = Some(active);
                    if !active {
                        // Autotask deactivates the webhooks of a deactivated resource.
                        for list in self.webhooks.values_mut() {
                            for w in list.iter_mut().filter(|w| w.owner_resource_id == Some(id)) {
                                w.is_active = Some(false);
                            }
                        }
                    }
                }
                Some(id.get())
            }
        };
        self.writes += 1;
        Ok(result)
    }

    /// Applies `plan`'s calls in order as an executor does (a failure the call tolerates
    /// counts as done), with an optional `fault`; the error names the failed call (`None`
    /// for an injected fault).
    pub fn execute(
        &mut self,
        plan: &Plan,
        fault: Option<Fault>,
    ) -> Result<(), (Option<usize>, CallFailure)> {
        let mut created = Vec::with_capacity(plan.calls.len());
        for (i, call) in plan.calls.iter().enumerate() {
            if let Some(f) = Fault::before(fault, i) {
                return Err((None, f));
            }
            match self.apply(call, &created) {
                Ok(id) => created.push(id),
                Err(f) if call.tolerates(&f) => created.push(None),
                Err(f) => return Err((Some(i), f)),
            }
            if let Some(f) = Fault::after(fault, i) {
                return Err((None, f));
            }
        }
        Ok(())
    }

    /// Drives one attempt to its outcome against this tenant, the in-memory twin of the
    /// worker's `execute::drive`; `fault` hits the attempt's call of that index.
    pub fn attempt(&mut self, mut attempt: Attempt, fault: Option<Fault>) -> AttemptOutcome {
        let step = attempt.step();
        let mut calls = 0;
        loop {
            match attempt.want() {
                Want::Reads(reads) => {
                    for read in reads {
                        let answer = self.answer(&read);
                        attempt.read(&read, answer);
                    }
                }
                Want::Call { call, created } => {
                    if let Some(f) = Fault::before(fault, calls) {
                        return AttemptOutcome::Failed(f);
                    }
                    let result = self.apply(call, created);
                    if let Some(f) = Fault::after(fault, calls) {
                        return AttemptOutcome::Failed(f);
                    }
                    self.calls_made.push(format!("{step}: {}", call.describe()));
                    calls += 1;
                    attempt.called(result);
                }
                Want::Done(outcome) => return outcome,
            }
        }
    }
}

/// A fault during one plan execution or attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The worker dies before call `k` is sent.
    CrashBefore(usize),
    /// Call `k` is committed but its response is lost.
    LoseResponse(usize),
}

impl Fault {
    fn before(fault: Option<Fault>, k: usize) -> Option<CallFailure> {
        (fault == Some(Fault::CrashBefore(k))).then(|| CallFailure::Transient {
            detail: "worker died".into(),
        })
    }

    fn after(fault: Option<Fault>, k: usize) -> Option<CallFailure> {
        (fault == Some(Fault::LoseResponse(k))).then(|| CallFailure::Transient {
            detail: "response lost".into(),
        })
    }
}
