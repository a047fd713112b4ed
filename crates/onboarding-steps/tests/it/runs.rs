//! Whole runs of every kind, driven to their end by the worker-like loop of `support::drive`
//! against the in-memory tenant, with an operator who acts when the run waits for one.

use autotask_types::WebhookFamily;
use expect_test::expect;
use onboarding_memory::MemoryTenant;
use onboarding_steps::observe::Role;
use onboarding_steps::payload::{CredentialRef, TraceContext};
use onboarding_steps::run::{
    DryRun, Run, RunCredentials, RunKind, RunRequest, RunState, StepStatus,
};
use onboarding_steps::{Refusal, StepName as S, TenantSettings, Timestamp};
use proptest::prelude::*;

use onboarding_memory::Fault;

use crate::support::{Ended, drive};

const OLD: i64 = 50;

fn request(kind: RunKind, admin: bool) -> RunRequest {
    RunRequest {
        kind,
        tenant_id: "acme".into(),
        tenant_name: "Acme GmbH".into(),
        settings: TenantSettings::new("https://hooks.example.com/at"),
        new_user_name: "new@example.com".into(),
        previous_user_name: kind.needs_previous_user().then(|| "old@example.com".into()),
        credentials: RunCredentials {
            new: CredentialRef("vault:acme/new".into()),
            previous: Some(CredentialRef("vault:acme/old".into())),
            admin: admin.then(|| CredentialRef("vault:acme/admin".into())),
        },
        dry_run: false,
    }
}

fn new_run(kind: RunKind, admin: bool) -> Run {
    Run::new(
        "run-1",
        "key-1",
        request(kind, admin),
        TraceContext::default(),
        Timestamp(0),
    )
    .unwrap()
}

/// The seeded tenant with the previous user (id 50) and its old Ticket and Company webhooks.
fn tenant_with_previous(previous_active: bool) -> MemoryTenant {
    let mut t = MemoryTenant::seeded();
    t.add_api_user(OLD, "old@example.com", previous_active, WebhookFamily::ALL);
    t.credentials
        .insert(Role::Previous, "old@example.com".into());
    t.add_api_user(1, "admin@example.com", true, []);
    t.credentials
        .insert(Role::Admin, "admin@example.com".into());
    // The old integration used the same URL base, so the URLs differ only by user id.
    t.add_webhook(
        WebhookFamily::Ticket,
        OLD,
        "Sophos Central Ticket 50",
        "https://hooks.example.com/at/acme/50/ticket",
        previous_active,
        true,
    );
    t.add_webhook(
        WebhookFamily::Company,
        OLD,
        "Old company hook",
        "https://old.example.com/c",
        previous_active,
        true,
    );
    t
}

/// An operator who acknowledges attested steps and does nothing else.
fn acking(_: &mut MemoryTenant, run: &mut Run, r: &Refusal) -> bool {
    if r.step.kind() == onboarding_steps::StepKind::OperatorAttested {
        run.acknowledge(r.step, Timestamp(2), "anna").unwrap();
        return true;
    }
    false
}

fn waited(run: &Run, step: S) -> bool {
    run.audit
        .iter()
        .any(|e| e.step == Some(step) && e.transition.ends_with("-> waiting_for_operator"))
}

fn ours(t: &MemoryTenant, owner: i64) -> Vec<(WebhookFamily, bool, bool)> {
    WebhookFamily::ALL
        .iter()
        .flat_map(|f| t.webhooks_of(*f).into_iter().map(move |w| (*f, w)))
        .filter(|(_, w)| w.owner_resource_id == Some(owner.into()))
        .map(|(f, w)| (f, w.is_active == Some(true), w.is_ready == Some(true)))
        .collect()
}

#[test]
fn onboard_succeeds_and_a_second_run_changes_nothing() {
    let mut t = MemoryTenant::seeded();
    let mut run = new_run(RunKind::Onboard, false);
    assert!(matches!(
        drive(&mut run, &mut t, &mut vec![], acking),
        Ended::Succeeded
    ));
    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(ours(&t, 100), [(WebhookFamily::Ticket, true, true)]);
    assert_eq!(
        run.step(S::EnsureWebhooks).unwrap().state,
        onboarding_steps::run::StepState::Succeeded { changed: true }
    );

    let writes = t.writes;
    let mut again = new_run(RunKind::Onboard, false);
    again.acknowledged = run.acknowledged.clone();
    assert!(matches!(
        drive(&mut again, &mut t, &mut vec![], acking),
        Ended::Succeeded
    ));
    assert_eq!(t.writes, writes, "a converged tenant gets no write");
}

#[test]
fn the_operator_fixes_a_missing_webhook_permission_halfway() {
    let mut t = MemoryTenant::seeded();
    t.user_mut(100).unwrap().webhook_permission.clear();
    let mut run = new_run(RunKind::Onboard, false);
    let mut fixed = 0;
    let ended = drive(&mut run, &mut t, &mut vec![], |t, run, r| {
        if r.step == S::VerifyWebhookPermission {
            fixed += 1;
            // The second check still finds it missing; the operator fixes it after that.
            if fixed == 2 {
                t.user_mut(100)
                    .unwrap()
                    .webhook_permission
                    .insert(WebhookFamily::Ticket);
            }
            return true;
        }
        acking(t, run, r)
    });
    assert!(matches!(ended, Ended::Succeeded), "{ended:?}");
    assert_eq!(fixed, 2);
    assert!(waited(&run, S::VerifyWebhookPermission));
    assert_eq!(ours(&t, 100), [(WebhookFamily::Ticket, true, true)]);
}

#[test]
fn a_changeover_where_the_previous_user_was_inactive() {
    // No admin credentials: the operator reactivates and later deactivates the old user.
    let mut t = tenant_with_previous(false);
    let mut run = new_run(RunKind::ChangeApiUser, false);
    let ended = drive(&mut run, &mut t, &mut vec![], |t, run, r| match r.step {
        S::ReactivatePreviousUser => {
            t.user_mut(OLD).unwrap().resource.is_active = Some(true);
            true
        }
        S::DeactivatePreviousUser => {
            t.user_mut(OLD).unwrap().resource.is_active = Some(false);
            true
        }
        _ => acking(t, run, r),
    });
    assert!(matches!(ended, Ended::Succeeded), "{ended:?}");
    assert!(run.facts.previous_user_inactive && run.facts.reactivated_previous_user);
    assert!(waited(&run, S::ReactivatePreviousUser) && waited(&run, S::DeactivatePreviousUser));
    assert_eq!(ours(&t, OLD), []);
    assert_eq!(ours(&t, 100), [(WebhookFamily::Ticket, true, true)]);
    assert_eq!(t.user_mut(OLD).unwrap().resource.is_active, Some(false));
    let statuses: Vec<_> = run
        .steps
        .iter()
        .map(|s| format!("{} {}", s.step, s.state.status().as_str()))
        .collect();
    expect![[r#"
        [
            "resolve_zone succeeded",
            "check_api_budget succeeded",
            "check_webhook_fields succeeded",
            "verify_api_user succeeded",
            "verify_lines_of_business succeeded",
            "confirm_unassigned_lob_visibility succeeded",
            "verify_webhook_permission succeeded",
            "confirm_vendor_active succeeded",
            "ensure_webhooks succeeded",
            "await_webhooks_ready succeeded",
            "find_previous_webhooks succeeded",
            "reactivate_previous_user succeeded",
            "delete_previous_webhooks succeeded",
            "deactivate_previous_user succeeded",
            "verify_changeover succeeded",
        ]
    "#]]
    .assert_debug_eq(&statuses);
}

#[test]
fn a_changeover_with_admin_credentials_needs_no_operator_for_the_user() {
    let mut t = tenant_with_previous(false);
    let mut run = new_run(RunKind::ChangeApiUser, true);
    assert!(matches!(
        drive(&mut run, &mut t, &mut vec![], acking),
        Ended::Succeeded
    ));
    assert_eq!(ours(&t, OLD), []);
    assert_eq!(t.user_mut(OLD).unwrap().resource.is_active, Some(false));
}

#[test]
fn a_changeover_with_an_active_previous_user_leaves_it_active() {
    let mut t = tenant_with_previous(true);
    let mut run = new_run(RunKind::ChangeApiUser, true);
    assert!(matches!(
        drive(&mut run, &mut t, &mut vec![], acking),
        Ended::Succeeded
    ));
    assert_eq!(ours(&t, OLD), []);
    assert_eq!(t.user_mut(OLD).unwrap().resource.is_active, Some(true));
    assert_eq!(
        run.step(S::ReactivatePreviousUser).unwrap().state.status(),
        StepStatus::Skipped
    );
    assert_eq!(
        run.step(S::DeactivatePreviousUser).unwrap().state.status(),
        StepStatus::Skipped
    );
}

#[test]
fn cleanup_webhooks_alone() {
    let mut t = tenant_with_previous(true);
    // The new user's webhooks exist already.
    let mut onboard = new_run(RunKind::Onboard, false);
    assert!(matches!(
        drive(&mut onboard, &mut t, &mut vec![], acking),
        Ended::Succeeded
    ));
    let mut run = new_run(RunKind::CleanupWebhooks, false);
    assert!(matches!(
        drive(&mut run, &mut t, &mut vec![], acking),
        Ended::Succeeded
    ));
    assert_eq!(ours(&t, OLD), []);
    assert!(run.facts.changeover_webhooks.is_some());
}

#[test]
fn two_users_with_one_username_fail_with_a_clear_reason() {
    let mut t = MemoryTenant::seeded();
    t.add_api_user(101, "new@example.com", true, []);
    let mut run = new_run(RunKind::Onboard, false);
    let Ended::Failed(step, reason) = drive(&mut run, &mut t, &mut vec![], acking) else {
        panic!("expected failure");
    };
    assert_eq!(step, S::VerifyApiUser);
    assert!(
        reason.starts_with("2 users have the username new@example.com"),
        "{reason}"
    );
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(t.writes, 0);
}

#[test]
fn verify_makes_only_reads_and_reports_drift() {
    let mut t = MemoryTenant::seeded();
    let mut onboard = new_run(RunKind::Onboard, false);
    assert!(matches!(
        drive(&mut onboard, &mut t, &mut vec![], acking),
        Ended::Succeeded
    ));
    let (writes, reads) = (t.writes, t.reads);
    let mut verify = new_run(RunKind::Verify, false);
    assert!(matches!(
        drive(&mut verify, &mut t, &mut vec![], acking),
        Ended::Succeeded
    ));
    assert_eq!(t.writes, writes);
    // A converged tenant re-verified: few reads.
    expect!["19"].assert_eq(&(t.reads - reads).to_string());

    t.webhooks.get_mut(&WebhookFamily::Ticket).unwrap()[0].is_active = Some(false);
    let mut verify = new_run(RunKind::Verify, false);
    let Ended::Failed(step, reason) = drive(&mut verify, &mut t, &mut vec![], acking) else {
        panic!("expected drift");
    };
    assert_eq!(step, S::EnsureWebhooks);
    assert!(reason.contains("isActive"), "{reason}");
    assert_eq!(t.writes, writes);
}

#[test]
fn a_dry_run_reports_the_plan_and_writes_nothing() {
    let mut t = tenant_with_previous(true);
    let run = new_run(RunKind::ChangeApiUser, false);
    let mut ctx = run.context();
    ctx.acknowledged.insert(S::ConfirmVendorActive);
    let mut dry = DryRun::new(RunKind::ChangeApiUser, ctx);
    while let Some(step) = dry.next_step() {
        let observed = t.observe(step, dry.context());
        dry.report(step, &observed);
    }
    assert_eq!(t.writes, 0);
    expect![[r#"
        dry run of change_api_user for tenant acme
        Ticket webhook fields: Status, Priority
        resolve_zone: nothing to do
        check_api_budget: nothing to do
        check_webhook_fields: nothing to do
        verify_api_user: nothing to do
        verify_lines_of_business: nothing to do
        confirm_unassigned_lob_visibility: would stop (AwaitingAck): not confirmed by an operator yet
        verify_webhook_permission: nothing to do
        confirm_vendor_active: nothing to do
        ensure_webhooks: would make 4 call(s)
          as new: POST TicketWebhooks {"name":"Sophos Central Ticket 100","webhookUrl":"https://hooks.example.com/at/acme/100/ticket","deactivationUrl":"https://hooks.example.com/at/acme/100/ticket/deactivated","isActive":true,"isSubscribedToCreateEvents":true,"isSubscribedToUpdateEvents":true,"isSubscribedToDeleteEvents":false,"sendThresholdExceededNotification":false} (secretKey from webhook-secret/acme/100/Ticket)
          as new: POST TicketWebhooks/{id of call 0}/Fields {"fieldID":1,"isSubscribedField":true,"isDisplayAlwaysField":false}
          as new: POST TicketWebhooks/{id of call 0}/Fields {"fieldID":2,"isSubscribedField":true,"isDisplayAlwaysField":false}
          as new: POST TicketWebhooks/{id of call 0}/ExcludedResources {"resourceID":100}
        await_webhooks_ready: would stop (Permanent): the Ticket webhook is missing; ensure_webhooks must run again (retry the run)
        find_previous_webhooks: nothing to do
        reactivate_previous_user: skipped
        delete_previous_webhooks: would make 2 call(s)
          as previous: DELETE CompanyWebhooks/1005
          as previous: DELETE TicketWebhooks/1003
        deactivate_previous_user: skipped
        verify_changeover: would stop (Transient): the Ticket webhook is missing; Company webhook 1005 of the previous user 50 is still there; Ticket webhook 1003 of the previous user 50 is still there
    "#]]
    .assert_eq(&dry.render());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A whole changeover with crashes and lost responses at random points still ends with
    /// exactly one new webhook and none of the previous user's.
    #[test]
    fn a_changeover_converges_under_faults(
        faults in prop::collection::vec(
            prop::option::of(prop_oneof![
                (0..4usize).prop_map(Fault::CrashBefore),
                (0..4usize).prop_map(Fault::LoseResponse),
            ]),
            0..10,
        ),
        previous_active in any::<bool>(),
    ) {
        let mut t = tenant_with_previous(previous_active);
        let mut run = new_run(RunKind::ChangeApiUser, true);
        let mut faults = faults;
        let ended = drive(&mut run, &mut t, &mut faults, acking);
        prop_assert!(matches!(ended, Ended::Succeeded), "{:?}", ended);
        prop_assert_eq!(ours(&t, OLD), vec![]);
        prop_assert_eq!(ours(&t, 100), vec![(WebhookFamily::Ticket, true, true)]);
    }
}

#[test]
fn a_run_waits_for_the_operator_with_instructions_in_both_languages() {
    let mut t = MemoryTenant::seeded();
    t.memberships.clear();
    let mut run = new_run(RunKind::Onboard, false);
    let Ended::Stuck(refusal) = drive(&mut run, &mut t, &mut vec![], acking) else {
        panic!("expected a wait");
    };
    assert_eq!(refusal.step, S::VerifyLinesOfBusiness);
    assert_eq!(run.state, RunState::WaitingForOperator);
    let onboarding_steps::run::StepState::WaitingForOperator {
        instructions,
        next_check,
    } = &run.step(S::VerifyLinesOfBusiness).unwrap().state
    else {
        panic!("step not waiting");
    };
    assert!(next_check.is_some_and(|at| at <= run.deadline));
    expect![[r#"
        verify_lines_of_business wartet auf einen Bearbeiter.
        Befund:
          - der Benutzer ist nicht verknüpft mit: General > IT Services, General > Software Development
        In Autotask zu tun:
          A11. Wählen Sie unter Geschäftsbereich die folgenden Optionen aus und verschieben Sie sie in die Spalte Verknüpft: Allgemein > IT-Services, Allgemein > Softwareentwicklung.
    "#]]
    .assert_eq(&instructions.render_de());
}

#[test]
fn a_changeover_where_autotask_refuses_rest_activation_takes_the_operator_path() {
    // Admin credentials, but Autotask refuses PATCH Resources isActive (unconfirmed, §4).
    let mut t = tenant_with_previous(false);
    t.refuses_activation_via_rest = true;
    let mut run = new_run(RunKind::ChangeApiUser, true);
    // Nobody acts: the run waits for the operator with instructions, it does not fail.
    let ended = drive(&mut run.clone(), &mut t.clone(), &mut vec![], acking);
    let Ended::Stuck(r) = ended else {
        panic!("{ended:?}")
    };
    assert_eq!(r.step, S::ReactivatePreviousUser);
    let rem = r.remediation.as_deref().unwrap();
    assert!(
        rem.instructions_en
            .iter()
            .any(|l| l.contains("Tick Active"))
    );
    assert!(rem.instructions_de.iter().any(|l| l.contains("Aktiv")));
    assert!(rem.found_en.iter().any(|l| l.contains("did not activate")));
    // The operator reactivates, and later deactivates, the user in the web interface.
    let ended = drive(&mut run, &mut t, &mut vec![], |t, run, r| match r.step {
        S::ReactivatePreviousUser => {
            t.user_mut(OLD).unwrap().resource.is_active = Some(true);
            true
        }
        S::DeactivatePreviousUser => {
            assert!(r.reason.contains("did not deactivate"), "{}", r.reason);
            t.user_mut(OLD).unwrap().resource.is_active = Some(false);
            true
        }
        _ => acking(t, run, r),
    });
    assert!(matches!(ended, Ended::Succeeded), "{ended:?}");
    assert!(waited(&run, S::ReactivatePreviousUser) && waited(&run, S::DeactivatePreviousUser));
    assert!(run.facts.reactivated_previous_user && run.facts.cleanup_verified);
    assert_eq!(ours(&t, OLD), []);
    assert_eq!(t.user_mut(OLD).unwrap().resource.is_active, Some(false));
    // The previous user's credentials are rejected by the end; the cleanup saw none left.
    assert_eq!(
        run.facts.changeover_leftovers,
        Some(onboarding_steps::LeftoverCheck::AtCleanup)
    );
    assert!(run.facts.notes().is_empty());
}

#[test]
fn a_changeover_where_autotask_ignores_rest_activation_takes_the_operator_path() {
    // The PATCH is answered but isActive does not change: no retries into a dead letter.
    let mut t = tenant_with_previous(false);
    t.ignores_activation_via_rest = true;
    let mut run = new_run(RunKind::ChangeApiUser, true);
    let ended = drive(&mut run.clone(), &mut t.clone(), &mut vec![], acking);
    let Ended::Stuck(r) = ended else {
        panic!("{ended:?}")
    };
    assert_eq!(r.step, S::ReactivatePreviousUser);
    assert!(
        r.reason
            .contains("answered as done, but the user still reads inactive"),
        "{}",
        r.reason
    );
    let ended = drive(&mut run, &mut t, &mut vec![], |t, run, r| match r.step {
        S::ReactivatePreviousUser => {
            t.user_mut(OLD).unwrap().resource.is_active = Some(true);
            true
        }
        S::DeactivatePreviousUser => {
            t.user_mut(OLD).unwrap().resource.is_active = Some(false);
            true
        }
        _ => acking(t, run, r),
    });
    assert!(matches!(ended, Ended::Succeeded), "{ended:?}");
    assert!(waited(&run, S::ReactivatePreviousUser) && waited(&run, S::DeactivatePreviousUser));
    // Operator re-checks spend no transient retries.
    assert_eq!(
        run.step(S::ReactivatePreviousUser)
            .unwrap()
            .transient_failures,
        0
    );
    assert_eq!(ours(&t, OLD), []);
}
