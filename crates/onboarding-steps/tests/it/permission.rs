//! What the steps do with answers the contract allows but the default simulator never sends:
//! the webhook permission read from `userAccessForCreate` (known-denied, known-allowed,
//! cannot be known), a webhook create refused for lack of permission (403, or 500 with
//! Autotask's text) becoming the W1–W4 operator finding instead of a dead letter, and
//! contract drift ending a run as a permanent failure that names entity and field.

use autotask_types::{EntityInformation, Filter, Query, WebhookFamily};
use onboarding_memory::MemoryTenant;
use onboarding_steps::observe::{CallFailure, Read, ReadResult, Role};
use onboarding_steps::payload::{CredentialRef, TraceContext};
use onboarding_steps::plan::SecretSlot;
use onboarding_steps::retry::{ErrorClass, StepSchedule};
use onboarding_steps::run::{
    Actor, AttemptOutcome, Next, Run, RunCredentials, RunKind, RunRequest, RunState, StepState,
};
use onboarding_steps::{
    Call, Fact, Finding, StepContext, StepKind, StepName as S, TenantSettings, Timestamp,
};
use serde_json::json;

use crate::support::{Ended, drive};

const NEW: &str = "new@example.com";

fn ctx() -> StepContext {
    StepContext::new(
        "acme",
        TenantSettings::new("https://hooks.example.com/at"),
        NEW,
    )
}

fn run() -> Run {
    let request = RunRequest {
        kind: RunKind::Onboard,
        tenant_id: "acme".into(),
        tenant_name: "Acme GmbH".into(),
        settings: TenantSettings::new("https://hooks.example.com/at"),
        new_user_name: NEW.into(),
        previous_user_name: None,
        credentials: RunCredentials {
            new: CredentialRef("vault:acme/new".into()),
            previous: None,
            admin: None,
        },
        dry_run: false,
    };
    Run::new(
        "run-1",
        "key-1",
        request,
        TraceContext::default(),
        Timestamp(0),
    )
    .unwrap()
}

/// `verify_webhook_permission` on the seeded tenant, with the Ticket family's
/// `entityInformation` answered by `info` as Autotask would send it on the wire.
fn permission_with(info: serde_json::Value) -> Result<Vec<Fact>, onboarding_steps::Refusal> {
    let ctx = ctx();
    let mut t = MemoryTenant::seeded();
    let mut observed = t.observe(S::VerifyWebhookPermission, &ctx);
    let info: EntityInformation = serde_json::from_value(info).unwrap();
    let read = Read::WebhookEntityInformation {
        credentials: Role::New,
        family: WebhookFamily::Ticket,
    };
    observed
        .record(&read, Ok(ReadResult::EntityInformation(info)))
        .unwrap();
    let plan = S::VerifyWebhookPermission.plan(&ctx, &observed)?;
    assert!(plan.calls.is_empty());
    let verified = S::VerifyWebhookPermission.verify(&ctx, &observed);
    assert!(verified.is_ok(), "{verified:?}");
    Ok(plan.facts)
}

#[test]
fn a_known_denied_access_level_is_the_operator_finding_whatever_can_create_says() {
    for denied in [json!("None"), json!("none"), json!(0)] {
        let r =
            permission_with(json!({"canCreate": true, "userAccessForCreate": denied})).unwrap_err();
        assert_eq!(r.class, ErrorClass::OperatorPending);
        assert_eq!(
            r.findings,
            [Finding::WebhookPermissionMissing {
                families: vec![WebhookFamily::Ticket]
            }]
        );
        let rem = r.remediation.unwrap();
        let seed: Vec<_> = rem.seed_steps.iter().map(ToString::to_string).collect();
        assert_eq!(seed, ["W1", "W2", "W3", "W4"]);
    }
}

#[test]
fn a_known_allowed_access_level_passes() {
    for allowed in [json!("All"), json!(1), json!("ALL")] {
        let facts =
            permission_with(json!({"canCreate": true, "userAccessForCreate": allowed})).unwrap();
        assert_eq!(facts, []);
    }
}

#[test]
fn an_access_level_that_cannot_be_read_passes_and_says_so() {
    for unknown in [
        json!({"canCreate": true, "userAccessForCreate": {}}),
        json!({"canCreate": true, "userAccessForCreate": null}),
        json!({"canCreate": true}),
        json!({"canCreate": null, "userAccessForCreate": "Restricted"}),
        json!({"canCreate": true, "userAccessForCreate": 42}),
    ] {
        let facts = permission_with(unknown.clone()).unwrap();
        assert_eq!(
            facts,
            [Fact::WebhookPermissionUnknown {
                families: vec![WebhookFamily::Ticket]
            }],
            "{unknown}"
        );
    }
}

fn create_call() -> Call {
    Call::CreateWebhook {
        credentials: Role::New,
        family: WebhookFamily::Ticket,
        webhook: Default::default(),
        secret: SecretSlot {
            tenant: "acme".into(),
            user: 100.into(),
            family: WebhookFamily::Ticket,
        },
    }
}

#[test]
fn a_refused_webhook_create_is_the_operator_finding_and_other_failures_are_not() {
    let finding = |f: CallFailure| match AttemptOutcome::call_failed(
        S::EnsureWebhooks,
        &ctx(),
        &create_call(),
        f,
    ) {
        AttemptOutcome::Refused(r) => {
            assert_eq!(r.class, ErrorClass::OperatorPending);
            assert_eq!(r.step, S::EnsureWebhooks);
            let rem = r.remediation.as_ref().unwrap();
            assert!(rem.instructions_en[0].starts_with("W1."), "{rem:?}");
            assert!(rem.instructions_de[0].starts_with("W1."), "{rem:?}");
            "finding"
        }
        AttemptOutcome::Failed(f) => match f.class() {
            ErrorClass::Permanent => "permanent",
            ErrorClass::Transient => "transient",
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let rejected = |m: &str| CallFailure::Rejected {
        errors: vec![m.into()],
    };
    let table = [
        // 403, and the 500 texts: the simulator's, and wordings of the same refusal.
        (CallFailure::NotPermitted { message: None }, "finding"),
        (
            rejected(
                "The logged in user's security level does not have permission to create \
                 webhooks (Other > Webhooks).",
            ),
            "finding",
        ),
        (
            rejected("User is not allowed to create TicketWebhooks"),
            "finding",
        ),
        (
            rejected("Operation not permitted for this resource"),
            "finding",
        ),
        // Near misses: a duplicate ("not allowed" without "to"), the lifetime maximum reached
        // (the level permits webhooks), validation, the limits.
        (
            rejected(
                "The maximum number of webhooks (0) this resource may create has been reached.",
            ),
            "permanent",
        ),
        (
            rejected(
                "A TicketWebhook with the same webhookUrl and event type already exists (id 3); \
                 duplicate callouts are not allowed.",
            ),
            "permanent",
        ),
        (rejected("Webhook name is required"), "permanent"),
        (CallFailure::ThreadLimit, "transient"),
        (
            CallFailure::Transient {
                detail: "timed out".into(),
            },
            "transient",
        ),
    ];
    for (failure, expected) in table {
        assert_eq!(finding(failure.clone()), expected, "{failure:?}");
    }
    // Only ensure_webhooks reads it so; another step's refused call stays what it was.
    let other = AttemptOutcome::call_failed(
        S::DeletePreviousWebhooks,
        &ctx(),
        &create_call(),
        CallFailure::NotPermitted { message: None },
    );
    assert!(matches!(other, AttemptOutcome::Failed(_)), "{other:?}");
}

/// The permission cannot be read (the contract's `{}`), the user lacks it: the run passes
/// the check, Autotask refuses the create (403), the run waits for the operator with the
/// W1–W4 instructions, re-checks, and succeeds once the operator fixed the level. Nothing is
/// dead-lettered.
#[test]
fn when_the_permission_cannot_be_read_a_refused_create_waits_for_the_operator() {
    let mut t = MemoryTenant::seeded();
    t.webhook_access_unknown = true;
    t.user_mut(100).unwrap().webhook_permission.clear();
    let mut run = run();
    let mut seen = Vec::new();
    let ended = drive(&mut run, &mut t, &mut vec![], |t, run, r| {
        if r.step.kind() == StepKind::OperatorAttested {
            run.acknowledge(r.step, Timestamp(2), "anna").unwrap();
            return true;
        }
        assert_eq!(r.step, S::EnsureWebhooks, "unexpected wait: {r}");
        let rem = r.remediation.as_ref().unwrap();
        assert!(rem.instructions_de[0].starts_with("W1."));
        seen.push(r.reason.clone());
        // The second re-check still finds it refused; the operator fixes it after that.
        if seen.len() == 2 {
            t.user_mut(100)
                .unwrap()
                .webhook_permission
                .insert(WebhookFamily::Ticket);
        }
        true
    });
    assert!(matches!(ended, Ended::Succeeded), "{ended:?}");
    assert_eq!(seen.len(), 2);
    assert!(
        seen[0].starts_with("the user may not create webhooks for: Ticket: Autotask refused"),
        "{}",
        seen[0]
    );
    assert_eq!(
        run.facts.webhook_permission_unknown,
        [WebhookFamily::Ticket]
    );
    assert!(
        run.audit
            .iter()
            .any(|e| e.step == Some(S::VerifyWebhookPermission)
                && e.detail.contains("could not be read"))
    );
    assert!(
        run.audit.iter().any(|e| e.step == Some(S::EnsureWebhooks)
            && e.transition.ends_with("-> waiting_for_operator"))
    );
    assert!(
        !run.audit
            .iter()
            .any(|e| e.transition.ends_with("-> failed"))
    );
    assert_eq!(t.webhooks_of(WebhookFamily::Ticket).len(), 1);
}

/// A read that answers with drift ends the run at once as a permanent failure whose reason
/// names the entity and the field; it is not retried as transient.
#[test]
fn contract_drift_fails_the_run_at_once_naming_entity_and_field() {
    let ctx = ctx();
    let mut t = MemoryTenant::seeded();
    let step = S::VerifyApiUser;
    let mut observed = t.observe(step, &ctx);
    let read = Read::Resources {
        credentials: Role::New,
        query: Query::new([Filter::eq("userName", NEW)]),
    };
    let drift = CallFailure::ContractDrift {
        entity: "Resource".into(),
        path: "items[0].isActive".into(),
        detail: "contract drift: Autotask's Resource answer has a string at \
                 `items[0].isActive` where onboard expects a boolean"
            .into(),
    };
    assert_eq!(drift.class(), ErrorClass::Permanent);
    observed.record(&read, Err(drift.clone())).unwrap();
    let refusal = step.plan(&ctx, &observed).unwrap_err();

    let mut run = run();
    let w = || Actor::Worker("test".into());
    let mut now = Timestamp(1_000);
    let policy = StepSchedule::default();
    // Drive the run to this step.
    loop {
        let next = run.next_step(now, w()).unwrap();
        run.begin_attempt(next, now, w()).unwrap();
        if next == step {
            break;
        }
        let outcome = AttemptOutcome::Succeeded {
            changed: false,
            facts: vec![],
        };
        run.end_attempt(next, outcome, &policy, now, 7, w())
            .unwrap();
        now = now.plus(std::time::Duration::from_millis(10));
    }
    for outcome in [
        AttemptOutcome::Refused(refusal),
        AttemptOutcome::Failed(drift),
    ] {
        let mut r = run.clone();
        let next = r.end_attempt(step, outcome, &policy, now, 7, w()).unwrap();
        let Next::RunFailed { reason, .. } = next else {
            panic!("drift was not permanent: {next:?}");
        };
        assert!(
            reason.contains("Resource") && reason.contains("items[0].isActive"),
            "{reason}"
        );
        assert_eq!(r.state, RunState::Failed);
        assert!(matches!(
            r.step(step).unwrap().state,
            StepState::Failed { .. }
        ));
    }
}
