//! What `onboard doctor` reads and how it judges the answers: the reads (the steps' own,
//! through [`StepName::reads`], plus a few of the doctor's), and [`assess`], which turns the
//! observed answers into the product's assumptions (holds / does not hold / cannot tell, with
//! the evidence) and the fallback path a run will take where one does not hold.
//!
//! Pure: no I/O, no clock. Verdicts reuse the steps' own plans where a step decides the
//! question (`verify_api_user`, `check_webhook_fields`, `verify_lines_of_business`,
//! `check_api_budget`), so the doctor cannot judge differently from a run. Evidence never
//! holds a name, an e-mail address or a secret.

use autotask_types::{EntityInformation, Filter, Query, ResourceId, Webhook, WebhookFamily};
use onboarding_steps::{CallFailure, Observed, Read, ReadResult, Role, StepContext, StepName};
use serde::Serialize;

/// The steps whose reads the doctor performs (all read-only; their plans are only computed).
pub const STEPS: [StepName; 7] = [
    StepName::ResolveZone,
    StepName::CheckApiBudget,
    StepName::VerifyApiUser,
    StepName::CheckWebhookFields,
    StepName::VerifyWebhookPermission,
    StepName::VerifyLinesOfBusiness,
    StepName::FindPreviousWebhooks,
];

/// Whether an assumption holds on this tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It holds.
    Holds,
    /// It does not: a run takes the fallback path.
    DoesNotHold,
    /// A read-only check cannot tell.
    CannotTell,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Holds => "holds",
            Self::DoesNotHold => "does not hold",
            Self::CannotTell => "cannot tell",
        }
    }
}

/// One assumption of the product and what this tenant said about it.
#[derive(Debug, Clone, Serialize)]
pub struct Assumption {
    /// Stable id, e.g. `webhook_permission.Ticket`.
    pub id: String,
    /// The assumption in words.
    pub assumption: String,
    /// Its status here.
    pub status: Status,
    /// What the answers showed.
    pub evidence: String,
}

/// Which path a run will take for one uncertain behaviour.
#[derive(Debug, Clone, Serialize)]
pub struct Fallback {
    /// `permission`, `previous_user_activation` or `changeover_audit`.
    pub topic: &'static str,
    /// The path, e.g. `read from userAccessForCreate`.
    pub path: String,
    /// Why.
    pub why: String,
}

/// The doctor's report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The assumptions, in a fixed order.
    pub assumptions: Vec<Assumption>,
    /// The fallback paths.
    pub fallbacks: Vec<Fallback>,
}

impl Report {
    /// The human table.
    pub fn render(&self) -> String {
        let mut s = String::from("ASSUMPTION                          STATUS         EVIDENCE\n");
        for a in &self.assumptions {
            s.push_str(&format!(
                "{:<35} {:<14} {}\n",
                a.id,
                a.status.as_str(),
                a.evidence
            ));
        }
        s.push_str("\nFALLBACK                   PATH A RUN WILL TAKE\n");
        for f in &self.fallbacks {
            s.push_str(&format!("{:<26} {}\n    ({})\n", f.topic, f.path, f.why));
        }
        s
    }
}

/// The Resources query the steps use to find a user by username.
fn user_read(credentials: Role, user_name: &str) -> Read {
    Read::Resources {
        credentials,
        query: Query::new([Filter::eq("userName", user_name)]),
    }
}

fn all_webhooks_read(family: WebhookFamily) -> Read {
    Read::Webhooks {
        credentials: Role::New,
        family,
        query: Query::all(),
    }
}

fn owned_by_read(credentials: Role, family: WebhookFamily, owner: ResourceId) -> Read {
    Read::Webhooks {
        credentials,
        family,
        query: Query::new([Filter::eq("ownerResourceID", owner.get())]),
    }
}

fn answer<'a>(o: &'a Observed, read: &Read) -> Option<&'a Result<ReadResult, CallFailure>> {
    o.get(read)
}

fn the_user(o: &Observed, role: Role, name: &str) -> Option<autotask_types::Resource> {
    match answer(o, &user_read(role, name)) {
        Some(Ok(ReadResult::Resources(rows))) if rows.len() == 1 => rows.first().cloned(),
        _ => None,
    }
}

fn webhooks(o: &Observed, read: &Read) -> Option<Result<Vec<Webhook>, CallFailure>> {
    match answer(o, read)? {
        Ok(ReadResult::Webhooks(w)) => Some(Ok(w.clone())),
        Ok(_) => None,
        Err(f) => Some(Err(f.clone())),
    }
}

/// The doctor's own reads beyond the steps': every configured family's webhooks as the new
/// user sees them, the previous user's webhooks as the new user sees them (where its own
/// credentials showed some), and the admin user as the admin sees it.
pub fn extra_reads(ctx: &StepContext, admin: Option<&str>, o: &Observed) -> Vec<Read> {
    let mut reads: Vec<Read> = ctx.settings.families().map(all_webhooks_read).collect();
    if let Some(admin) = admin {
        reads.push(user_read(Role::Admin, admin));
    }
    if let Some(prev) = previous_id(ctx, o) {
        for family in WebhookFamily::ALL {
            if let Some(Ok(ws)) = webhooks(o, &owned_by_read(Role::Previous, family, prev)) {
                if !ws.is_empty() {
                    reads.push(owned_by_read(Role::New, family, prev));
                }
            }
        }
    }
    reads.retain(|r| !o.has(r));
    reads
}

fn previous_id(ctx: &StepContext, o: &Observed) -> Option<ResourceId> {
    let name = ctx.previous_user_name.as_deref()?;
    the_user(o, Role::New, name)?.id
}

fn new_id(ctx: &StepContext, o: &Observed) -> Option<ResourceId> {
    the_user(o, Role::New, &ctx.new_user_name)?.id
}

fn verdict(step: StepName, ctx: &StepContext, o: &Observed) -> Result<(), String> {
    step.plan(ctx, o).map(|_| ()).map_err(|r| r.reason)
}

/// Judges the observed answers (`admin`: the admin's username, when given).
pub fn assess(ctx: &StepContext, admin: Option<&str>, o: &Observed) -> Report {
    let mut a = Vec::new();
    let mut push = |id: &str, assumption: &str, status: Status, evidence: String| {
        a.push(Assumption {
            id: id.into(),
            assumption: assumption.into(),
            status,
            evidence,
        });
    };
    let zone = answer(
        o,
        &Read::ZoneInformation {
            user_name: ctx.new_user_name.clone(),
        },
    );
    let (s, e) = match zone {
        Some(Ok(ReadResult::Zone(z))) => (Status::Holds, format!("zone {}", z.url)),
        Some(Err(f)) => (Status::DoesNotHold, f.describe()),
        _ => (Status::CannotTell, "not read".into()),
    };
    push("zone", "zone discovery answers for the API user", s, e);

    let threshold = answer(
        o,
        &Read::ThresholdInformation {
            credentials: Role::New,
        },
    );
    let (s, e) = match (threshold, verdict(StepName::CheckApiBudget, ctx, o)) {
        (Some(Ok(ReadResult::Threshold(t))), Ok(())) => (
            Status::Holds,
            format!(
                "{} of {} requests used in the current {}-minute timeframe",
                t.current_timeframe_request_count,
                t.external_request_threshold,
                t.request_threshold_timeframe
            ),
        ),
        (_, Err(reason)) => (Status::DoesNotHold, reason),
        (_, Ok(())) => (Status::CannotTell, "not read".into()),
    };
    push(
        "threshold",
        "ThresholdInformation is readable and the hourly budget has room",
        s,
        e,
    );

    let fields = match answer(
        o,
        &Read::ResourceFields {
            credentials: Role::New,
        },
    ) {
        Some(Ok(ReadResult::Fields(f))) => Some(f.clone()),
        _ => None,
    };
    let user = the_user(o, Role::New, &ctx.new_user_name);
    let (s, e) = match (verdict(StepName::VerifyApiUser, ctx, o), &user) {
        (Ok(()), Some(u)) => {
            let license = u.license_type.and_then(|v| {
                fields.as_ref().and_then(|f| {
                    f.iter()
                        .find(|f| f.name.eq_ignore_ascii_case("licenseType"))
                        .and_then(|f| f.picklist_values.iter().find(|p| p.value == v.to_string()))
                        .map(|p| p.label.clone())
                })
            });
            let set = |v: &Option<String>| {
                if v.as_deref().is_some_and(|s| !s.trim().is_empty()) {
                    "set"
                } else {
                    "empty"
                }
            };
            (
                Status::Holds,
                format!(
                    "found once, active, license {:?}; first name {}, last name {}, e-mail {}",
                    license.unwrap_or_default(),
                    set(&u.first_name),
                    set(&u.last_name),
                    set(&u.email)
                ),
            )
        }
        (Ok(()), None) => (Status::CannotTell, "the user was not read".into()),
        (Err(reason), _) => (Status::DoesNotHold, reason),
    };
    push(
        "api_user",
        "the API user's resource is found once, active, with license \"API User\"",
        s,
        e,
    );

    let is_active = fields
        .as_ref()
        .and_then(|f| f.iter().find(|f| f.name.eq_ignore_ascii_case("isActive")));
    let (activation, e) = match is_active {
        Some(f) if f.is_read_only => (
            Status::DoesNotHold,
            "Resources/entityInformation/fields marks isActive read-only".to_owned(),
        ),
        Some(_) => (
            Status::CannotTell,
            "Resources/entityInformation/fields marks isActive writable; whether Autotask \
             applies it to an API-only resource shows only at the first write"
                .to_owned(),
        ),
        None => (
            Status::CannotTell,
            "Resources/entityInformation/fields was not read or has no isActive".to_owned(),
        ),
    };
    push(
        "resource_activation",
        "REST can (re)activate the previous API user (PATCH Resources isActive)",
        activation,
        e,
    );

    let (s, e) = match verdict(StepName::CheckWebhookFields, ctx, o) {
        Ok(()) => (
            Status::Holds,
            ctx.settings
                .subscriptions()
                .into_iter()
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Err(reason) => (Status::DoesNotHold, reason),
    };
    push(
        "webhook_fields",
        "every subscribed field label exists in its family's field metadata",
        s,
        e,
    );

    let mut unknown = Vec::new();
    let mut denied = Vec::new();
    for family in ctx.settings.families() {
        let read = Read::WebhookEntityInformation {
            credentials: Role::New,
            family,
        };
        let (s, e) = match answer(o, &read) {
            Some(Ok(ReadResult::EntityInformation(info))) => permission(info),
            Some(Err(CallFailure::NotPermitted { .. })) => (
                Status::DoesNotHold,
                "entityInformation refused (403)".into(),
            ),
            Some(Err(f)) => (Status::CannotTell, f.describe()),
            _ => (Status::CannotTell, "not read".into()),
        };
        match s {
            Status::CannotTell => unknown.push(family.as_str()),
            Status::DoesNotHold => denied.push(family.as_str()),
            Status::Holds => {}
        }
        push(
            &format!("webhook_permission.{family}"),
            "the access level shows whether the new user may create these webhooks",
            s,
            e,
        );
    }

    let visible = others_visible(ctx, o);
    push(
        "other_owners_webhooks_visible",
        "a user's webhook queries show webhooks other users own",
        visible.0,
        visible.1.clone(),
    );

    let (s, e) = match verdict(StepName::VerifyLinesOfBusiness, ctx, o) {
        Ok(()) => (
            Status::Holds,
            "the user's lines of business cover the configured ones (or none is in use)".into(),
        ),
        Err(reason) => (Status::DoesNotHold, reason),
    };
    push(
        "lines_of_business",
        "the API user belongs to the configured lines of business",
        s,
        e,
    );

    let previous = previous_credentials(ctx, o);
    push(
        "previous_credentials",
        "the previous user's credentials authenticate and show its webhooks",
        previous.0,
        previous.1.clone(),
    );
    let admin = match admin {
        None => (Status::CannotTell, "no --admin-user given".to_owned()),
        Some(name) => match answer(o, &user_read(Role::Admin, name)) {
            Some(Ok(_)) => (Status::Holds, "the admin's credentials authenticate".into()),
            Some(Err(f)) => (Status::DoesNotHold, f.describe()),
            None => (Status::CannotTell, "not read".into()),
        },
    };
    push(
        "admin_credentials",
        "the admin's credentials authenticate",
        admin.0,
        admin.1.clone(),
    );

    let mut fallbacks = Vec::new();
    fallbacks.push(if !denied.is_empty() {
        Fallback {
            topic: "permission",
            path: "operator finding W1-W4 at verify_webhook_permission".into(),
            why: format!("the access level refuses {}", denied.join(", ")),
        }
    } else if unknown.is_empty() {
        Fallback {
            topic: "permission",
            path: "read from userAccessForCreate".into(),
            why: "every configured family's access level can be read".into(),
        }
    } else {
        Fallback {
            topic: "permission",
            path: "will show at webhook creation".into(),
            why: format!(
                "the access level cannot tell for {}; a refused create is the W1-W4 operator \
                 finding",
                unknown.join(", ")
            ),
        }
    });
    fallbacks.push(
        match (
            &ctx.previous_user_name,
            ctx.has_admin_credentials,
            activation,
        ) {
            (None, _, _) => Fallback {
                topic: "previous_user_activation",
                path: "not needed".into(),
                why: "no --previous-user given".into(),
            },
            (Some(_), true, Status::Holds | Status::CannotTell) => Fallback {
                topic: "previous_user_activation",
                path: "REST, web interface (operator) if refused".into(),
                why: "admin credentials are given and isActive is not read-only; whether Autotask \
                  applies the write shows only at the first one, and a refused or ignored \
                  write takes the web-interface path"
                    .into(),
            },
            (Some(_), false, _) => Fallback {
                topic: "previous_user_activation",
                path: "web interface (operator)".into(),
                why: "no admin credentials".into(),
            },
            (Some(_), true, Status::DoesNotHold) => Fallback {
                topic: "previous_user_activation",
                path: "web interface (operator)".into(),
                why: "isActive is read-only".into(),
            },
        },
    );
    fallbacks.push(
        match (ctx.previous_user_name.is_some(), previous.0, visible.0) {
            (false, _, _) => Fallback {
                topic: "changeover_audit",
                path: "not needed".into(),
                why: "no --previous-user given".into(),
            },
            (true, Status::Holds, _) => Fallback {
                topic: "changeover_audit",
                path: "previous user's credentials".into(),
                why: previous.1,
            },
            (true, _, Status::Holds) => Fallback {
                topic: "changeover_audit",
                path: "new user's view".into(),
                why: "other owners' webhooks are visible to the new user".into(),
            },
            (true, _, _) => Fallback {
                topic: "changeover_audit",
                path: "cannot be checked: leftovers hidden".into(),
                why: "the previous user's credentials cannot list its webhooks and the new \
                      user may not see them"
                    .into(),
            },
        },
    );
    Report {
        assumptions: a,
        fallbacks,
    }
}

fn permission(info: &EntityInformation) -> (Status, String) {
    let evidence = format!(
        "userAccessForCreate {}, canCreate {}",
        info.user_access_for_create,
        info.can_create
            .map_or_else(|| "absent".to_owned(), |b| b.to_string())
    );
    if info.can_create == Some(false) {
        return (Status::DoesNotHold, evidence);
    }
    match info.user_may_create() {
        Some(true) => (Status::Holds, evidence),
        Some(false) => (Status::DoesNotHold, evidence),
        None => (Status::CannotTell, evidence),
    }
}

fn others_visible(ctx: &StepContext, o: &Observed) -> (Status, String) {
    let me = new_id(ctx, o);
    let mut seen = 0;
    let mut others = 0;
    for family in ctx.settings.families() {
        if let Some(Ok(ws)) = webhooks(o, &all_webhooks_read(family)) {
            seen += ws.len();
            others += ws
                .iter()
                .filter(|w| w.owner_resource_id.is_some() && w.owner_resource_id != me)
                .count();
        }
    }
    if others > 0 {
        return (
            Status::Holds,
            format!("the new user's queries list {others} webhook(s) of other owners"),
        );
    }
    // The previous user's own view against the new user's view of the same owner.
    if let Some(prev) = previous_id(ctx, o) {
        let mut own = 0;
        let mut shown = 0;
        for family in WebhookFamily::ALL {
            if let Some(Ok(ws)) = webhooks(o, &owned_by_read(Role::Previous, family, prev)) {
                if ws.is_empty() {
                    continue;
                }
                own += ws.len();
                if let Some(Ok(v)) = webhooks(o, &owned_by_read(Role::New, family, prev)) {
                    shown += v.len();
                }
            }
        }
        if own > 0 && shown == 0 {
            return (
                Status::DoesNotHold,
                format!(
                    "the previous user's credentials list {own} webhook(s) of its own; the new \
                     user's queries show none of them"
                ),
            );
        }
        if shown > 0 {
            return (
                Status::Holds,
                format!("the new user's queries show {shown} of the previous user's webhooks"),
            );
        }
    }
    (
        Status::CannotTell,
        format!(
            "the new user's queries list {seen} webhook(s), none of another owner; no other \
             owner's webhook is known to exist"
        ),
    )
}

fn previous_credentials(ctx: &StepContext, o: &Observed) -> (Status, String) {
    if ctx.previous_user_name.is_none() || !ctx.has_previous_credentials {
        return (Status::CannotTell, "no --previous-user given".into());
    }
    let Some(prev) = previous_id(ctx, o) else {
        return (
            Status::CannotTell,
            "the previous user was not found (once) with the new user's credentials".into(),
        );
    };
    let mut own = 0;
    for family in WebhookFamily::ALL {
        match webhooks(o, &owned_by_read(Role::Previous, family, prev)) {
            Some(Ok(ws)) => own += ws.len(),
            Some(Err(f)) => {
                return (
                    Status::DoesNotHold,
                    format!("{family} webhooks with its credentials: {}", f.describe()),
                );
            }
            None => return (Status::CannotTell, "not read".into()),
        }
    }
    (
        Status::Holds,
        format!("its credentials list {own} webhook(s) of its own"),
    )
}

#[cfg(test)]
mod tests {
    use autotask_types::{FieldInfo, Resource};

    use super::*;

    fn record(o: &mut Observed, read: Read, answer: Result<ReadResult, CallFailure>) {
        o.record(&read, answer).unwrap();
    }

    #[test]
    fn an_inactive_previous_user_and_hidden_webhooks_leave_the_audit_unchecked() {
        let settings = serde_json::from_value(serde_json::json!({
            "webhook_url_base": "https://doctor.invalid/hooks",
        }))
        .unwrap();
        let mut ctx = StepContext::new("doctor", settings, "new@t");
        ctx.previous_user_name = Some("old@t".into());
        ctx.has_previous_credentials = true;
        let user = |id: i64, active: bool| {
            Ok(ReadResult::Resources(vec![Resource {
                id: Some(ResourceId::new(id)),
                is_active: Some(active),
                ..Resource::default()
            }]))
        };
        let mut o = Observed::new();
        record(&mut o, user_read(Role::New, "new@t"), user(10, true));
        record(&mut o, user_read(Role::New, "old@t"), user(11, false));
        for family in WebhookFamily::ALL {
            let read = owned_by_read(Role::Previous, family, ResourceId::new(11));
            record(&mut o, read, Err(CallFailure::CredentialsRejected));
        }
        record(
            &mut o,
            all_webhooks_read(WebhookFamily::Ticket),
            Ok(ReadResult::Webhooks(Vec::new())),
        );
        let read_only = FieldInfo {
            name: "isActive".into(),
            is_read_only: true,
            ..FieldInfo::default()
        };
        record(
            &mut o,
            Read::ResourceFields {
                credentials: Role::New,
            },
            Ok(ReadResult::Fields(vec![read_only])),
        );
        assert!(extra_reads(&ctx, None, &o).is_empty());
        let report = assess(&ctx, None, &o);
        let status = |id: &str| {
            report
                .assumptions
                .iter()
                .find(|a| a.id == id)
                .map(|a| a.status)
        };
        assert_eq!(
            [
                status("resource_activation"),
                status("previous_credentials"),
                status("other_owners_webhooks_visible"),
            ],
            [
                Some(Status::DoesNotHold),
                Some(Status::DoesNotHold),
                Some(Status::CannotTell),
            ]
        );
        let paths: Vec<&str> = report.fallbacks.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths[1..],
            [
                "web interface (operator)",
                "cannot be checked: leftovers hidden"
            ]
        );
        assert!(
            report
                .render()
                .contains("cannot be checked: leftovers hidden")
        );
    }
}
