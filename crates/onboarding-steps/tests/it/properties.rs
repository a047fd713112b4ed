//! Idempotency properties against the in-memory tenant: apply a plan, plan again → nothing;
//! a crash before any call, or a write whose response was lost, followed by re-planning from
//! fresh reads converges without ever creating a duplicate webhook. The model's duplicate
//! rule is off here, so a planner that created a second webhook would be seen doing it.

use autotask_types::{WebhookExcludedResource, WebhookFamily, WebhookField};
use onboarding_memory::MemoryTenant;
use onboarding_steps::observe::Role;
use onboarding_steps::{StepContext, StepName as S, TenantSettings};
use proptest::prelude::*;

use onboarding_memory::Fault;

/// Applies a plan as an executor does, with an optional fault.
fn execute(
    t: &mut MemoryTenant,
    plan: &onboarding_steps::Plan,
    fault: Option<Fault>,
) -> Result<(), onboarding_steps::CallFailure> {
    t.execute(plan, fault).map_err(|(_, f)| f)
}

const NEW: i64 = 100;
const OLD: i64 = 50;

fn ctx(families: &[WebhookFamily]) -> StepContext {
    let mut settings = TenantSettings::new("https://hooks.example.com/at");
    settings.webhook_families = families
        .iter()
        .map(|f| onboarding_steps::settings::FamilySettings {
            family: *f,
            subscribed_fields: vec!["Status".into(), "Priority".into()],
            // A UDF wherever the family has them, so every property covers UDF fields too.
            subscribed_udf_fields: if f.has_udf_fields() {
                vec!["Sophos Tenant ID".into()]
            } else {
                Vec::new()
            },
        })
        .collect();
    let mut c = StepContext::new("acme", settings, "new@example.com");
    c.previous_user_name = Some("old@example.com".into());
    c
}

fn our_url(c: &StepContext, f: WebhookFamily) -> String {
    c.settings.webhook_url(&c.tenant_id, NEW.into(), f)
}

fn count_with_url(t: &MemoryTenant, f: WebhookFamily, url: &str) -> usize {
    t.webhooks
        .get(&f)
        .into_iter()
        .flatten()
        .filter(|w| w.webhook_url.as_deref() == Some(url))
        .count()
}

/// One pre-existing webhook: family, kind (0 ours, 1 ours but drifted, 2 stale ours with an
/// old URL, 3 another integration's hook of the same user, 4 the previous user's), active,
/// fields as (field id, subscribed) pairs, excluded resource present.
type Existing = (usize, u8, bool, Vec<(i32, bool)>, bool);

fn existing() -> impl Strategy<Value = Existing> {
    (
        0..5usize,
        0..5u8,
        any::<bool>(),
        prop::collection::vec((1..=3i32, any::<bool>()), 0..3),
        any::<bool>(),
    )
}

fn fault() -> impl Strategy<Value = Option<Fault>> {
    prop::option::of(prop_oneof![
        (0..12usize).prop_map(Fault::CrashBefore),
        (0..12usize).prop_map(Fault::LoseResponse),
    ])
}

fn tenant(c: &StepContext, existing: &[Existing]) -> MemoryTenant {
    let mut t = MemoryTenant::seeded();
    t.duplicate_rule = false;
    t.add_api_user(OLD, "old@example.com", true, WebhookFamily::ALL);
    t.credentials
        .insert(Role::Previous, "old@example.com".into());
    t.user_mut(NEW).unwrap().webhook_permission = WebhookFamily::ALL.into_iter().collect();
    for (fi, kind, active, fields, excluded) in existing {
        let f = WebhookFamily::ALL[*fi];
        let (owner, name, url) = match kind {
            0 => (
                NEW,
                TenantSettings::webhook_name(NEW.into(), f),
                our_url(c, f),
            ),
            1 => (NEW, "renamed".to_string(), our_url(c, f)),
            2 => (
                NEW,
                TenantSettings::webhook_name(NEW.into(), f),
                format!("https://old.example.com/{f}"),
            ),
            3 => (
                NEW,
                "PSA reporting".to_string(),
                "https://reports.example.com".to_string(),
            ),
            _ => (
                OLD,
                "Sophos Central".to_string(),
                c.settings.webhook_url("acme", OLD.into(), f),
            ),
        };
        let id = t.add_webhook(f, owner, &name, &url, *active, false);
        for (field, subscribed) in fields {
            t.next_id += 1;
            let row = WebhookField {
                id: Some(t.next_id.into()),
                field_id: Some(*field),
                is_subscribed_field: Some(*subscribed),
                is_display_always_field: Some(false),
                webhook_id: Some(id),
            };
            t.fields.entry(f).or_default().push(row);
        }
        if *excluded {
            t.next_id += 1;
            let row = WebhookExcludedResource {
                id: Some(t.next_id.into()),
                resource_id: Some(owner.into()),
                webhook_id: Some(id),
            };
            t.excluded.entry(f).or_default().push(row);
        }
    }
    t
}

/// Runs `step` like the worker until its plan is empty, one fault per execution while they
/// last; checks after every execution that no webhook URL of ours appears more often than
/// before (or than once). Returns the number of rounds.
fn converge(t: &mut MemoryTenant, c: &StepContext, step: S, faults: &[Option<Fault>]) -> usize {
    let families: Vec<_> = c.settings.families().collect();
    let limit: Vec<usize> = families
        .iter()
        .map(|f| count_with_url(t, *f, &our_url(c, *f)).max(1))
        .collect();
    for round in 0..20 {
        let observed = t.observe(step, c);
        let plan = step
            .plan(c, &observed)
            .unwrap_or_else(|r| panic!("round {round}: refused: {r}"));
        // Plans are reportable and stored: they never carry a secret.
        let json = serde_json::to_string(&plan).unwrap();
        assert!(!json.contains("secretKey"), "{json}");
        if plan.calls.is_empty() {
            return round;
        }
        let fault = faults.get(round).copied().flatten().map(|f| match f {
            Fault::CrashBefore(k) => Fault::CrashBefore(k % plan.calls.len()),
            Fault::LoseResponse(k) => Fault::LoseResponse(k % plan.calls.len()),
        });
        let _ = execute(t, &plan, fault);
        for (f, limit) in families.iter().zip(&limit) {
            let n = count_with_url(t, *f, &our_url(c, *f));
            assert!(n <= *limit, "round {round}: {n} webhooks with our {f} URL");
        }
    }
    panic!("{step} did not converge in 20 rounds");
}

fn assert_ensured(t: &mut MemoryTenant, c: &StepContext) {
    for f in c.settings.families() {
        let url = our_url(c, f);
        let ours: Vec<_> = t
            .webhooks_of(f)
            .into_iter()
            .filter(|w| w.webhook_url.as_deref() == Some(url.as_str()))
            .collect();
        assert_eq!(ours.len(), 1, "exactly one {f} webhook with our URL");
        let w = &ours[0];
        assert_eq!(w.owner_resource_id, Some(NEW.into()));
        assert_eq!((w.is_active, w.is_ready), (Some(true), Some(true)));
        let mut subscribed: Vec<_> = t.fields[&f]
            .iter()
            .filter(|r| r.webhook_id == w.id && r.is_subscribed_field == Some(true))
            .filter_map(|r| r.field_id)
            .collect();
        subscribed.sort();
        assert_eq!(subscribed, [1, 2]);
        let udfs: Vec<_> = t
            .udf_fields
            .get(&f)
            .into_iter()
            .flatten()
            .filter(|r| r.webhook_id == w.id && r.is_subscribed_field == Some(true))
            .filter_map(|r| r.udf_field_id)
            .collect();
        let want: &[i32] = if f.has_udf_fields() { &[29682901] } else { &[] };
        assert_eq!(udfs, want, "{f}: exactly the configured UDF, once");
        assert!(
            t.excluded[&f]
                .iter()
                .any(|e| e.webhook_id == w.id && e.resource_id == Some(NEW.into()))
        );
    }
    let observed = t.observe(S::EnsureWebhooks, c);
    S::EnsureWebhooks.verify(c, &observed).unwrap();
    // Running the step again writes nothing.
    let writes = t.writes;
    assert_eq!(converge(t, c, S::EnsureWebhooks, &[]), 0);
    assert_eq!(t.writes, writes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn ensure_webhooks_converges_without_duplicates(
        configured in prop::sample::subsequence(WebhookFamily::ALL.to_vec(), 1..=5),
        existing in prop::collection::vec(existing(), 0..6),
        faults in prop::collection::vec(fault(), 0..6),
    ) {
        let c = ctx(&configured);
        let mut t = tenant(&c, &existing);
        let others_before: Vec<_> = WebhookFamily::ALL
            .iter()
            .flat_map(|f| t.webhooks_of(*f))
            .filter(|w| w.owner_resource_id == Some(OLD.into())
                || w.name.as_deref() == Some("PSA reporting"))
            .map(|w| w.id)
            .collect();
        converge(&mut t, &c, S::EnsureWebhooks, &faults);
        assert_ensured(&mut t, &c);
        // Webhooks that are not onboard's are never touched.
        let others_after: Vec<_> = WebhookFamily::ALL
            .iter()
            .flat_map(|f| t.webhooks_of(*f))
            .filter(|w| w.owner_resource_id == Some(OLD.into())
                || w.name.as_deref() == Some("PSA reporting"))
            .map(|w| w.id)
            .collect();
        prop_assert_eq!(others_before, others_after);
    }

    #[test]
    fn delete_previous_webhooks_converges(
        existing in prop::collection::vec(existing(), 0..8),
        faults in prop::collection::vec(fault(), 0..6),
    ) {
        let c = ctx(&[WebhookFamily::Ticket]);
        let mut t = tenant(&c, &existing);
        let ours_before = WebhookFamily::ALL
            .iter()
            .flat_map(|f| t.webhooks_of(*f))
            .filter(|w| w.owner_resource_id == Some(NEW.into()))
            .count();
        converge(&mut t, &c, S::DeletePreviousWebhooks, &faults);
        let left = WebhookFamily::ALL
            .iter()
            .flat_map(|f| t.webhooks_of(*f))
            .filter(|w| w.owner_resource_id == Some(OLD.into()))
            .count();
        prop_assert_eq!(left, 0);
        let ours_after = WebhookFamily::ALL
            .iter()
            .flat_map(|f| t.webhooks_of(*f))
            .filter(|w| w.owner_resource_id == Some(NEW.into()))
            .count();
        prop_assert_eq!(ours_before, ours_after);
        let observed = t.observe(S::DeletePreviousWebhooks, &c);
        prop_assert!(S::DeletePreviousWebhooks.verify(&c, &observed).is_ok());
    }
}

/// Every crash point and every lost response of the first plan, exhaustively, for a tenant
/// with nothing yet and all five families configured.
#[test]
fn ensure_webhooks_survives_every_crash_point() {
    let c = ctx(&WebhookFamily::ALL);
    let fresh = tenant(&c, &[]);
    let n = {
        let mut t = fresh.clone();
        let observed = t.observe(S::EnsureWebhooks, &c);
        S::EnsureWebhooks.plan(&c, &observed).unwrap().calls.len()
    };
    assert_eq!(
        n,
        5 * 4 + 4,
        "create, two fields, excluded resource per family, a UDF field for all but TicketNote"
    );
    for k in 0..n {
        for fault in [Fault::CrashBefore(k), Fault::LoseResponse(k)] {
            let mut t = fresh.clone();
            // Two faults in a row, then clean rounds.
            converge(&mut t, &c, S::EnsureWebhooks, &[Some(fault), Some(fault)]);
            assert_ensured(&mut t, &c);
        }
    }
}

/// With the real duplicate rule on, a lost create response does not turn into a rejected
/// second create: the re-plan finds the webhook by its URL.
#[test]
fn a_lost_create_response_is_not_retried_as_a_create() {
    let c = ctx(&[WebhookFamily::Ticket]);
    let mut t = tenant(&c, &[]);
    t.duplicate_rule = true;
    let observed = t.observe(S::EnsureWebhooks, &c);
    let plan = S::EnsureWebhooks.plan(&c, &observed).unwrap();
    assert!(execute(&mut t, &plan, Some(Fault::LoseResponse(0))).is_err());
    let observed = t.observe(S::EnsureWebhooks, &c);
    let again = S::EnsureWebhooks.plan(&c, &observed).unwrap();
    assert!(
        again
            .calls
            .iter()
            .all(|call| !matches!(call, onboarding_steps::Call::CreateWebhook { .. }))
    );
    execute(&mut t, &again, None).unwrap();
    assert_ensured(&mut t, &c);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every step that writes (or may write) through the API: apply its plan to the model,
    /// plan again → nothing, and the goal verifies. A refusal changes nothing and repeats.
    #[test]
    fn every_api_step_is_idempotent(
        configured in prop::sample::subsequence(WebhookFamily::ALL.to_vec(), 1..=3),
        existing in prop::collection::vec(existing(), 0..6),
        previous_active in any::<bool>(),
        admin in any::<bool>(),
    ) {
        let mut c = ctx(&configured);
        c.has_admin_credentials = admin;
        let mut base = tenant(&c, &existing);
        base.duplicate_rule = true;
        base.user_mut(OLD).unwrap().resource.is_active = Some(previous_active);
        base.add_api_user(1, "admin@example.com", true, []);
        base.credentials.insert(Role::Admin, "admin@example.com".into());
        let api_steps = S::ALL.iter().copied().filter(|s| {
            matches!(s.kind(), onboarding_steps::StepKind::Api | onboarding_steps::StepKind::ApiOrOperatorVerified)
        });
        for step in api_steps {
            let mut t = base.clone();
            let observed = t.observe(step, &c);
            match step.plan(&c, &observed) {
                Ok(plan) => {
                    let writes = t.writes;
                    execute(&mut t, &plan, None)
                        .unwrap_or_else(|f| panic!("{step}: {f:?} executing {plan:?}"));
                    prop_assert_eq!(t.writes - writes, plan.calls.len() as u64);
                    let observed = t.observe(step, &c);
                    let again = step.plan(&c, &observed);
                    prop_assert!(
                        again.as_ref().is_ok_and(|p| p.calls.is_empty()),
                        "{} planned again: {:?}", step, again
                    );
                    prop_assert!(step.verify(&c, &observed).is_ok(), "{} does not verify", step);
                }
                Err(refusal) => {
                    prop_assert_eq!(t.writes, 0);
                    let again = step.plan(&c, &t.observe(step, &c)).unwrap_err();
                    prop_assert_eq!(again.class, refusal.class);
                    prop_assert_eq!(again.reason, refusal.reason);
                }
            }
        }
    }
}
