//! How the model tenant answers a [`Read`]: authentication per role, then the rows the
//! question asks for (webhooks with `isReady` computed, picklists from the labels it holds).

//! [`MemoryTenant::attempt`] is the in-memory driver of one step attempt: the same thin loop
//! over `onboarding_steps::attempt::Attempt` as the worker's `execute::drive`, with
//! [`Fault`]s injected at a chosen call (a worker crash before it is sent, a response lost
//! after it is committed). [`MemoryTenant::execute`] applies a bare plan the same way, for
//! plan-level properties.

use autotask_types::{AccessLevel, EntityInformation, Resource, ZoneInformation};

use onboarding_steps::{CallFailure, Observed, Read, ReadResult, StepContext, StepName};

use crate::*;

impl MemoryTenant {
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
}
