//! `ensure_webhooks` (api, C2): exactly one webhook per configured family owned by the new
//! API user, active, with the configured subscribed fields and the user itself excluded (no
//! echo of its own changes).
//!
//! Safe to run any number of times: the plan comes from what Autotask holds now, never from
//! what an earlier attempt did. The step recognises its own webhook by its deterministic URL
//! (`{base}/{tenant}/{user id}/{family}`, see [`TenantSettings::webhook_url`]) and owner, so a
//! create whose response was lost is found on the next attempt instead of duplicated; its
//! children (fields, excluded resource) are completed from what exists. The URL is unique per
//! tenant and user, which Autotask's duplicate rule (same entity + URL + event across owners,
//! inactive included) requires during a change of API user. Webhooks of the user named with
//! onboard's prefix but another URL (an older URL base) are removed; duplicates with our URL
//! (which the duplicate rule should prevent) are reduced to the oldest.

use std::collections::BTreeMap;

use autotask_types::{
    Filter, Id, Query, ResourceId, Webhook, WebhookExcludedResource, WebhookFamily, WebhookField,
    WebhookId, WebhookUdfField,
};

use super::{Definition, StepContext, new_user_id, same_url, verify_by_plan};
use crate::catalog::StepName;
use crate::fields::{self, Labels};
use crate::observe::{CallFailure, Lookup, Read, Role};
use crate::plan::{Call, Drift, Plan, Refusal, SecretSlot, WebhookRef};
use crate::retry::ErrorClass;
use crate::settings::{TenantSettings, WEBHOOK_NAME_PREFIX};

pub(crate) struct Step;

#[derive(Debug)]
pub(crate) struct FamilyFound {
    family: WebhookFamily,
    desired_fields: Vec<i32>,
    desired_udfs: Vec<i32>,
    webhooks: Vec<Webhook>,
    fields: Vec<WebhookField>,
    udfs: Vec<WebhookUdfField>,
    excluded: Vec<WebhookExcludedResource>,
}

#[derive(Debug)]
pub(crate) struct Found {
    user: ResourceId,
    families: Vec<FamilyFound>,
}

/// The query that finds our webhook by URL (any owner) and every webhook the user owns.
pub(crate) fn webhooks_read(url: &str, user: ResourceId, family: WebhookFamily) -> Read {
    Read::Webhooks {
        credentials: Role::New,
        family,
        query: Query::new([Filter::or([
            Filter::eq("webhookUrl", url),
            Filter::eq("ownerResourceID", user.get()),
        ])]),
    }
}

fn children_query(webhook: WebhookId) -> Query {
    Query::new([Filter::eq("webhookID", webhook.get())])
}

/// Our webhook among `webhooks`: owned by `user` with our URL, the oldest if several.
pub(crate) fn ours<'a>(webhooks: &'a [Webhook], url: &str, user: ResourceId) -> Vec<&'a Webhook> {
    let mut v: Vec<&Webhook> = webhooks
        .iter()
        .filter(|w| w.owner_resource_id == Some(user) && same_url(w.webhook_url.as_deref(), url))
        .collect();
    v.sort_by_key(|w| w.id);
    v
}

impl Definition for Step {
    const NAME: StepName = StepName::EnsureWebhooks;
    type Found = Found;

    fn gather(ctx: &StepContext, l: &mut Lookup<'_>) -> Result<Option<Found>, Refusal> {
        let infos: Vec<_> = ctx
            .settings
            .webhook_families
            .iter()
            .map(|f| {
                let credentials = Role::New;
                let family = f.family;
                let fields = l.fields(Read::WebhookFieldInfo {
                    credentials,
                    family,
                });
                // UDF metadata only when the family names UDFs.
                let udfs = (!f.subscribed_udf_fields.is_empty()).then(|| {
                    l.fields(Read::WebhookUdfFieldInfo {
                        credentials,
                        family,
                    })
                });
                (family, fields, udfs)
            })
            .collect();
        let Some(user) = new_user_id(Self::NAME, ctx, l)? else {
            return Ok(None);
        };
        let failed = |what: String, f: &CallFailure| Refusal::failed_read(Self::NAME, &what, f);
        let mut families = Vec::new();
        let mut complete = true;
        for (family, fields_info, udf_info) in infos {
            let url = ctx.settings.webhook_url(&ctx.tenant_id, user, family);
            let webhooks = l.webhooks(webhooks_read(&url, user, family));
            let (fields_info, udf_info, webhooks) = match (fields_info, udf_info, webhooks) {
                (Some(Err(f)), _, _) | (_, Some(Some(Err(f))), _) => {
                    return Err(failed(format!("{family} webhook field metadata"), &f));
                }
                (_, _, Some(Err(f))) => return Err(failed(format!("{family} webhooks"), &f)),
                (Some(Ok(fi)), None, Some(Ok(w))) => (fi, Vec::new(), w),
                (Some(Ok(fi)), Some(Some(Ok(ui))), Some(Ok(w))) => (fi, ui, w),
                _ => {
                    complete = false;
                    continue;
                }
            };
            let settings = &ctx.settings;
            let desired_fields =
                fields::resolve(Self::NAME, settings, family, Labels::Fields, &fields_info)?;
            let desired_udfs =
                fields::resolve(Self::NAME, settings, family, Labels::Udfs, &udf_info)?;
            let (mut fields, mut udfs, mut excluded) = (Vec::new(), Vec::new(), Vec::new());
            if let Some(keeper) = ours(&webhooks, &url, user).first().and_then(|w| w.id) {
                let credentials = Role::New;
                let query = children_query(keeper);
                let f = l.webhook_fields(Read::WebhookFields {
                    credentials,
                    family,
                    query: query.clone(),
                });
                // Every UDF-capable family's UDF rows, so unconfigured ones are removed.
                let u = if family.has_udf_fields() {
                    l.webhook_udf_fields(Read::WebhookUdfFields {
                        credentials,
                        family,
                        query: query.clone(),
                    })
                } else {
                    Some(Ok(Vec::new()))
                };
                let e = l.excluded(Read::WebhookExcludedResources {
                    credentials,
                    family,
                    query,
                });
                match (f, u, e) {
                    (Some(Ok(f)), Some(Ok(u)), Some(Ok(e))) => {
                        fields = f;
                        udfs = u;
                        excluded = e;
                    }
                    (Some(Err(f)), _, _) | (_, Some(Err(f)), _) | (_, _, Some(Err(f))) => {
                        return Err(failed(format!("{family} webhook {keeper}'s children"), &f));
                    }
                    _ => complete = false,
                }
            }
            families.push(FamilyFound {
                family,
                desired_fields,
                desired_udfs,
                webhooks,
                fields,
                udfs,
                excluded,
            });
        }
        Ok(complete.then_some(Found { user, families }))
    }

    fn plan(ctx: &StepContext, found: &Found) -> Result<Plan, Refusal> {
        let mut calls = Vec::new();
        for f in &found.families {
            plan_family(ctx, found.user, f, &mut calls)?;
        }
        Ok(Plan {
            calls,
            facts: Vec::new(),
        })
    }

    fn verify(ctx: &StepContext, found: &Found) -> Result<(), Drift> {
        verify_by_plan::<Self>(ctx, found)
    }
}

fn plan_family(
    ctx: &StepContext,
    user: ResourceId,
    f: &FamilyFound,
    calls: &mut Vec<Call>,
) -> Result<(), Refusal> {
    let s = &ctx.settings;
    let family = f.family;
    let url = s.webhook_url(&ctx.tenant_id, user, family);
    let name = TenantSettings::webhook_name(user, family);
    let deactivation_url = s.deactivation_url(&ctx.tenant_id, user, family);
    let credentials = Role::New;

    if let Some(foreign) = f
        .webhooks
        .iter()
        .find(|w| same_url(w.webhook_url.as_deref(), &url) && w.owner_resource_id != Some(user))
    {
        return Err(Refusal::new(
            StepName::EnsureWebhooks,
            ErrorClass::Permanent,
            format!(
                "{family} webhook {} with onboard's URL {url} belongs to resource {}, not to the \
                 API user {user}; Autotask would reject ours as a duplicate. Delete it with its \
                 owner's credentials.",
                foreign.id.map(|i| i.to_string()).unwrap_or_default(),
                foreign
                    .owner_resource_id
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| "unknown".into())
            ),
        ));
    }

    // Stale webhooks of ours (an older URL) and duplicates of our URL go.
    let mine = ours(&f.webhooks, &url, user);
    let mut stale: Vec<&Webhook> = f
        .webhooks
        .iter()
        .filter(|w| {
            w.owner_resource_id == Some(user)
                && !same_url(w.webhook_url.as_deref(), &url)
                && w.name
                    .as_deref()
                    .is_some_and(|n| n.starts_with(WEBHOOK_NAME_PREFIX))
        })
        .collect();
    stale.extend(mine.iter().skip(1));
    for w in stale {
        if let Some(id) = w.id {
            calls.push(Call::DeleteWebhook {
                credentials,
                family,
                id,
            });
        }
    }

    let subscribe = |v: bool| Some(v);
    let notification = s.notification_email.clone();
    let Some(keeper) = mine.first() else {
        let index = calls.len();
        calls.push(Call::CreateWebhook {
            credentials,
            family,
            webhook: Webhook {
                name: Some(name),
                webhook_url: Some(url),
                deactivation_url: Some(deactivation_url),
                is_active: Some(true),
                is_subscribed_to_create_events: subscribe(true),
                is_subscribed_to_update_events: subscribe(true),
                is_subscribed_to_delete_events: subscribe(false),
                send_threshold_exceeded_notification: Some(notification.is_some()),
                notification_email_address: notification,
                ..Webhook::default()
            },
            secret: SecretSlot {
                tenant: ctx.tenant_id.clone(),
                user,
                family,
            },
        });
        for field_id in &f.desired_fields {
            calls.push(Call::CreateWebhookField {
                credentials,
                family,
                webhook: WebhookRef::CreatedBy(index),
                field: WebhookField {
                    field_id: Some(*field_id),
                    is_subscribed_field: Some(true),
                    is_display_always_field: Some(false),
                    ..WebhookField::default()
                },
            });
        }
        for udf_id in &f.desired_udfs {
            calls.push(Call::CreateWebhookUdfField {
                credentials,
                family,
                webhook: WebhookRef::CreatedBy(index),
                field: subscribed_udf(*udf_id),
            });
        }
        calls.push(Call::CreateWebhookExcludedResource {
            credentials,
            family,
            webhook: WebhookRef::CreatedBy(index),
            resource: user,
        });
        return Ok(());
    };
    let Some(id) = keeper.id else {
        return Err(Refusal::new(
            StepName::EnsureWebhooks,
            ErrorClass::Permanent,
            "Autotask returned a webhook without an id",
        ));
    };

    // The webhook itself: PATCH what differs.
    let mut patch = Webhook {
        id: Some(id),
        ..Webhook::default()
    };
    let mut changed = false;
    if keeper.is_active != Some(true) {
        patch.is_active = Some(true);
        changed = true;
    }
    if keeper.name.as_deref() != Some(name.as_str()) {
        patch.name = Some(name);
        changed = true;
    }
    if keeper.deactivation_url.as_deref() != Some(deactivation_url.as_str()) {
        patch.deactivation_url = Some(deactivation_url);
        changed = true;
    }
    if keeper.is_subscribed_to_create_events != Some(true) {
        patch.is_subscribed_to_create_events = Some(true);
        changed = true;
    }
    if keeper.is_subscribed_to_update_events != Some(true) {
        patch.is_subscribed_to_update_events = Some(true);
        changed = true;
    }
    if let Some(email) = &notification {
        if keeper.notification_email_address.as_deref() != Some(email.as_str()) {
            patch.notification_email_address = Some(email.clone());
            patch.send_threshold_exceeded_notification = Some(true);
            changed = true;
        }
    }
    if changed {
        calls.push(Call::UpdateWebhook {
            credentials,
            family,
            webhook: patch,
        });
    }

    // Subscribed fields and UDF fields: exactly the desired sets; creates before deletes, so
    // the webhook never loses its last subscribed field on the way.
    let rows: Vec<_> = f
        .fields
        .iter()
        .map(|r| (r.id.map(|i| i.get()), r.field_id, r.is_subscribed_field))
        .collect();
    let fix = children(&rows, &f.desired_fields);
    calls.extend(fix.create.iter().map(|field_id| Call::CreateWebhookField {
        credentials,
        family,
        webhook: WebhookRef::Existing(id),
        field: subscribed_field(*field_id),
    }));
    calls.extend(fix.subscribe.iter().map(|row| Call::UpdateWebhookField {
        credentials,
        family,
        webhook: id,
        field: WebhookField {
            id: Some(Id::new(*row)),
            is_subscribed_field: Some(true),
            ..WebhookField::default()
        },
    }));
    calls.extend(fix.delete.iter().map(|row| Call::DeleteWebhookField {
        credentials,
        family,
        webhook: id,
        id: *row,
    }));
    let rows: Vec<_> = f
        .udfs
        .iter()
        .map(|r| (r.id.map(|i| i.get()), r.udf_field_id, r.is_subscribed_field))
        .collect();
    let fix = children(&rows, &f.desired_udfs);
    calls.extend(fix.create.iter().map(|udf_id| Call::CreateWebhookUdfField {
        credentials,
        family,
        webhook: WebhookRef::Existing(id),
        field: subscribed_udf(*udf_id),
    }));
    calls.extend(fix.subscribe.iter().map(|row| Call::UpdateWebhookUdfField {
        credentials,
        family,
        webhook: id,
        field: WebhookUdfField {
            id: Some(Id::new(*row)),
            is_subscribed_field: Some(true),
            ..WebhookUdfField::default()
        },
    }));
    calls.extend(fix.delete.iter().map(|row| Call::DeleteWebhookUdfField {
        credentials,
        family,
        webhook: id,
        id: *row,
    }));

    if !f.excluded.iter().any(|e| e.resource_id == Some(user)) {
        calls.push(Call::CreateWebhookExcludedResource {
            credentials,
            family,
            webhook: WebhookRef::Existing(id),
            resource: user,
        });
    }
    Ok(())
}

fn subscribed_field(field_id: i32) -> WebhookField {
    WebhookField {
        field_id: Some(field_id),
        is_subscribed_field: Some(true),
        is_display_always_field: Some(false),
        ..WebhookField::default()
    }
}

fn subscribed_udf(udf_field_id: i32) -> WebhookUdfField {
    WebhookUdfField {
        udf_field_id: Some(udf_field_id),
        is_subscribed_field: Some(true),
        is_display_always_field: Some(false),
        ..WebhookUdfField::default()
    }
}

/// What to change in a webhook's child rows of one kind (fields or UDF fields) so that
/// exactly `desired` are subscribed, once each.
#[derive(Debug, Default, PartialEq)]
struct ChildFix {
    /// Row ids to delete: repeats of a value and values not desired.
    delete: Vec<i64>,
    /// Desired values without a row.
    create: Vec<i32>,
    /// Row ids of desired values that are not subscribed.
    subscribe: Vec<i64>,
}

/// `rows` are (row id, picklist value, subscribed) as found; the first row of a value is
/// kept.
fn children(rows: &[(Option<i64>, Option<i32>, Option<bool>)], desired: &[i32]) -> ChildFix {
    let mut fix = ChildFix::default();
    let mut kept: BTreeMap<i32, (Option<i64>, Option<bool>)> = BTreeMap::new();
    for (row, value, subscribed) in rows {
        let Some(value) = value else { continue };
        if kept.contains_key(value) || !desired.contains(value) {
            fix.delete.extend(*row);
        } else {
            kept.insert(*value, (*row, *subscribed));
        }
    }
    for value in desired {
        match kept.get(value) {
            None => fix.create.push(*value),
            Some((Some(row), subscribed)) if *subscribed != Some(true) => {
                fix.subscribe.push(*row);
            }
            Some(_) => {}
        }
    }
    fix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_rows_converge_to_the_desired_set() {
        let rows = [
            (Some(1), Some(7), Some(true)),
            (Some(2), Some(7), Some(true)),
            (Some(3), Some(5), Some(false)),
            (Some(4), Some(9), Some(true)),
            (Some(5), None, None),
        ];
        assert_eq!(
            children(&rows, &[7, 5, 8]),
            ChildFix {
                delete: vec![2, 4],
                create: vec![8],
                subscribe: vec![3],
            }
        );
        assert_eq!(children(&[], &[]), ChildFix::default());
    }
}
