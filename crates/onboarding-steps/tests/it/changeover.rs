//! One `check` snapshot per interesting case of the changeover's steps (the previous user's
//! webhooks found and deleted, its reactivation and deactivation with their web-interface
//! fallbacks, the changeover audit), against the in-memory tenant.

use autotask_types::WebhookFamily;
use expect_test::expect;
use onboarding_memory::MemoryTenant;
use onboarding_steps::observe::Role;
use onboarding_steps::{StepContext, StepName as S};

use crate::steps::{OLD, change_ctx, converged, ctx, with_previous};
use crate::support::check;

#[test]
fn find_previous_webhooks() {
    check(
        S::FindPreviousWebhooks,
        &change_ctx(),
        &with_previous(true),
        expect![[r#"
        find_previous_webhooks (api), 6 read(s)
        plan: nothing to do
        fact: {"fact":"previous_user","id":50}
        fact: {"fact":"previous_webhooks","webhooks":[["Company",1005],["Ticket",1003]]}
        verify: ok
    "#]],
    );
    // Inactive previous user: its credentials are rejected; the run must reactivate it.
    check(
        S::FindPreviousWebhooks,
        &change_ctx(),
        &with_previous(false),
        expect![[r#"
        find_previous_webhooks (api), 6 read(s)
        plan: nothing to do
        fact: {"fact":"previous_user","id":50}
        fact: {"fact":"previous_user_inactive"}
        verify: ok
    "#]],
    );
    // Active but the stored secret is wrong: refused.
    let mut t = with_previous(true);
    t.user_mut(50).unwrap().secret_valid = false;
    check(
        S::FindPreviousWebhooks,
        &change_ctx(),
        &t,
        expect![[r#"
        find_previous_webhooks (api), 6 read(s)
        refused (Permanent): Autotask rejects the credentials of old@example.com (key, secret or integration vendor), although the user is active: the stored key or secret of the previous API user is wrong or was regenerated. Give the run the previous user's current credentials (C1: they must stay valid until the webhooks are removed).
          seed: C1
          befund: Autotask weist die Anmeldeinformationen von old@example.com zurück (Schlüssel, geheimer Schlüssel oder Integrationsanbieter)
        drift: Autotask rejects the credentials of old@example.com (key, secret or integration vendor), although the user is active: the stored key or secret of the previous API user is wrong or was regenerated. Give the run the previous user's current credentials (C1: they must stay valid until the webhooks are removed).
    "#]],
    );
    // No previous user given.
    check(
        S::FindPreviousWebhooks,
        &ctx(),
        &with_previous(true),
        expect![[r#"
        find_previous_webhooks (api), 0 read(s)
        refused (Permanent): this run has no previous API user: give the previous user's username and credential reference
        drift: this run has no previous API user: give the previous user's username and credential reference
    "#]],
    );
}

#[test]
fn delete_previous_webhooks() {
    check(
        S::DeletePreviousWebhooks,
        &change_ctx(),
        &with_previous(true),
        expect![[r#"
        delete_previous_webhooks (api), 6 read(s)
        plan:
          as previous: DELETE CompanyWebhooks/1005
          as previous: DELETE TicketWebhooks/1003
        drift: needs as previous: DELETE CompanyWebhooks/1005; needs as previous: DELETE TicketWebhooks/1003
    "#]],
    );
    let mut t = with_previous(true);
    t.webhooks.clear();
    check(
        S::DeletePreviousWebhooks,
        &change_ctx(),
        &t,
        expect![[r#"
        delete_previous_webhooks (api), 6 read(s)
        plan: nothing to do
        verify: ok
    "#]],
    );
    check(
        S::DeletePreviousWebhooks,
        &change_ctx(),
        &with_previous(false),
        expect![[r#"
        delete_previous_webhooks (api), 6 read(s)
        refused (OperatorPending): the previous user old@example.com is inactive: its webhooks can only be deleted with its credentials once it is active again
          seed: C4 C5 A2 A6
          befund: der vorherige Benutzer old@example.com ist inaktiv
        drift: the previous user old@example.com is inactive: its webhooks can only be deleted with its credentials once it is active again
    "#]],
    );
}

#[test]
fn reactivate_previous_user() {
    let mut c = change_ctx();
    check(
        S::ReactivatePreviousUser,
        &c,
        &with_previous(false),
        expect![[r#"
        reactivate_previous_user (api-or-operator-verified), 1 read(s)
        refused (OperatorPending): the previous user old@example.com is inactive
          seed: C5 A2 A6 A13
          befund: der vorherige Benutzer old@example.com ist inaktiv
        drift: the previous user old@example.com is inactive
    "#]],
    );
    c.has_admin_credentials = true;
    check(
        S::ReactivatePreviousUser,
        &c,
        &with_previous(false),
        expect![[r#"
        reactivate_previous_user (api-or-operator-verified), 1 read(s)
        plan:
          as admin: PATCH Resources {"id":50,"isActive":true}
        fact: {"fact":"reactivated_previous_user"}
        drift: the previous user old@example.com is inactive
    "#]],
    );
    check(
        S::ReactivatePreviousUser,
        &c,
        &with_previous(true),
        expect![[r#"
        reactivate_previous_user (api-or-operator-verified), 1 read(s)
        plan: nothing to do
        fact: {"fact":"reactivated_previous_user"}
        verify: ok
    "#]],
    );
}

#[test]
fn deactivate_previous_user() {
    let mut c = change_ctx();
    check(
        S::DeactivatePreviousUser,
        &c,
        &with_previous(true),
        expect![[r#"
            deactivate_previous_user (api-or-operator-verified), 1 read(s)
            refused (OperatorPending): the previous user old@example.com is still active
              seed: A2 A13
              befund: der vorherige Benutzer old@example.com ist noch aktiv
            drift: the previous user old@example.com is still active
        "#]],
    );
    c.has_admin_credentials = true;
    check(
        S::DeactivatePreviousUser,
        &c,
        &with_previous(true),
        expect![[r#"
        deactivate_previous_user (api-or-operator-verified), 1 read(s)
        plan:
          as admin: PATCH Resources {"id":50,"isActive":false}
        drift: the previous user old@example.com is still active
    "#]],
    );
    check(
        S::DeactivatePreviousUser,
        &c,
        &with_previous(false),
        expect![[r#"
        deactivate_previous_user (api-or-operator-verified), 1 read(s)
        plan: nothing to do
        verify: ok
    "#]],
    );
}

#[test]
fn verify_changeover() {
    let mut t = converged();
    t.add_api_user(50, OLD, true, WebhookFamily::ALL);
    check(
        S::VerifyChangeover,
        &change_ctx(),
        &t,
        expect![[r#"
            verify_changeover (api), 8 read(s)
            plan: nothing to do
            fact: {"fact":"changeover_verified","webhooks":[["Ticket",1003]],"leftovers":{"check":"not_checked","reason":"the run has no credentials of the previous user, and the new user's view shows none of its webhooks, which Autotask may hide from other users; run cleanup_webhooks with the previous user's credentials to check and remove them"}}
            verify: ok
        "#]],
    );
    t.add_webhook(
        WebhookFamily::Contact,
        50,
        "left over",
        "https://x.example.com/c",
        false,
        true,
    );
    check(
        S::VerifyChangeover,
        &change_ctx(),
        &t,
        expect![[r#"
        verify_changeover (api), 8 read(s)
        refused (Transient): Contact webhook 1007 of the previous user 50 is still there
        drift: Contact webhook 1007 of the previous user 50 is still there
    "#]],
    );
}

/// `t` with an admin user whose credentials the run has.
fn with_admin(mut t: MemoryTenant) -> MemoryTenant {
    t.add_api_user(1, "admin@example.com", true, []);
    t.credentials
        .insert(Role::Admin, "admin@example.com".into());
    t
}

/// What a step makes of its plan's first call failing in `t`: the refusal's class, reason,
/// seed steps and instructions in both languages.
fn refused_call(step: S, c: &StepContext, t: &MemoryTenant) -> String {
    let mut t = t.clone();
    let observed = t.observe(step, c);
    let plan = step.plan(c, &observed).unwrap();
    let (i, failure) = t.execute(&plan, None).unwrap_err();
    let i = i.expect("no fault was injected");
    let Some(r) = step.call_failed(c, &plan.calls[i], &failure) else {
        return format!("no other path for {}", failure.describe());
    };
    let rem = r.remediation.unwrap();
    let seeds: Vec<_> = rem.seed_steps.iter().map(ToString::to_string).collect();
    let mut s = format!(
        "refused ({:?}): {}\n  seed: {}\n",
        r.class,
        r.reason,
        seeds.join(" ")
    );
    for l in rem.instructions_en.iter().chain(&rem.found_de) {
        s.push_str(&format!("  {l}\n"));
    }
    for l in &rem.instructions_de {
        s.push_str(&format!("  {l}\n"));
    }
    s
}

#[test]
fn a_refused_reactivation_through_rest_falls_back_to_the_web_interface() {
    let mut c = change_ctx();
    c.has_admin_credentials = true;
    let mut t = with_admin(with_previous(false));
    t.refuses_activation_via_rest = true;
    expect![[r#"
        refused (OperatorPending): the previous user old@example.com is inactive; Autotask did not activate old@example.com through the API (rejected: isActive of an API-only resource can only be changed in the web interface.); API users are managed in the web interface
          seed: C5 A2 A6 A13
          C5. reactivate the previous API user that the old webhook belongs to,
          A2. Hover over the Autotask icon and go to Admin > Resources (Users).
          (onboard) Open the previous API user old@example.com in the list.
          A6. Tick Active.
          A13. Click Save & Close. The account appears in the resource list.
          (onboard) onboard reads the user's Active flag again by itself; nothing to acknowledge.
          der vorherige Benutzer old@example.com ist inaktiv
          Autotask hat old@example.com über die API nicht aktiviert (rejected: isActive of an API-only resource can only be changed in the web interface.); API-Benutzer werden in der Weboberfläche verwaltet
          C5. Um den alten Webhook manuell zu entfernen, reaktivieren Sie den vorherigen API-Benutzer, der mit dem alten Webhook verknüpft ist,
          A2. Fahren Sie mit der Maus über das Autotask-Symbol und gehen Sie zu Admin > Ressourcen (Benutzer).
          (onboard) Öffnen Sie den vorherigen API-Benutzer old@example.com in der Liste.
          A6. Klicken Sie auf Aktiv.
          A13. Klicken Sie auf Speichern & Schließen. Das Konto wird der Ressourcenliste hinzugefügt.
          (onboard) onboard liest das Aktiv-Kennzeichen des Benutzers selbst erneut; nichts zu bestätigen.
    "#]]
    .assert_eq(&refused_call(S::ReactivatePreviousUser, &c, &t));
    // Missing admin rights (403) are a refusal too.
    let mut t = with_admin(with_previous(false));
    t.admin_can_update_resources = false;
    assert!(
        refused_call(S::ReactivatePreviousUser, &c, &t).starts_with("refused (OperatorPending)")
    );
}

#[test]
fn a_refused_deactivation_through_rest_falls_back_to_the_web_interface() {
    let mut c = change_ctx();
    c.has_admin_credentials = true;
    let mut t = with_admin(with_previous(true));
    t.refuses_activation_via_rest = true;
    expect![[r#"
        refused (OperatorPending): the previous user old@example.com is still active; Autotask did not deactivate old@example.com through the API (rejected: isActive of an API-only resource can only be changed in the web interface.); API users are managed in the web interface
          seed: A2 A13
          A2. Hover over the Autotask icon and go to Admin > Resources (Users).
          (onboard) Open the previous API user old@example.com in the list and untick Active (the opposite of A6).
          A13. Click Save & Close. The account appears in the resource list.
          (onboard) onboard reads the user's Active flag again by itself; nothing to acknowledge.
          der vorherige Benutzer old@example.com ist noch aktiv
          Autotask hat old@example.com über die API nicht deaktiviert (rejected: isActive of an API-only resource can only be changed in the web interface.); API-Benutzer werden in der Weboberfläche verwaltet
          A2. Fahren Sie mit der Maus über das Autotask-Symbol und gehen Sie zu Admin > Ressourcen (Benutzer).
          (onboard) Öffnen Sie den vorherigen API-Benutzer old@example.com in der Liste und entfernen Sie das Häkchen bei Aktiv (das Gegenteil von A6).
          A13. Klicken Sie auf Speichern & Schließen. Das Konto wird der Ressourcenliste hinzugefügt.
          (onboard) onboard liest das Aktiv-Kennzeichen des Benutzers selbst erneut; nichts zu bestätigen.
    "#]]
    .assert_eq(&refused_call(S::DeactivatePreviousUser, &c, &t));
}

#[test]
fn only_refusals_of_the_activation_call_take_the_web_interface_path() {
    use onboarding_steps::{Call, CallFailure};
    let c = change_ctx();
    let patch = Call::UpdateResource {
        credentials: Role::Admin,
        resource: Default::default(),
    };
    let rejected = CallFailure::Rejected {
        errors: vec!["no".into()],
    };
    for step in [S::ReactivatePreviousUser, S::DeactivatePreviousUser] {
        for f in [
            rejected.clone(),
            CallFailure::NotPermitted { message: None },
            CallFailure::CredentialsRejected,
        ] {
            let r = step.call_failed(&c, &patch, &f).unwrap();
            assert_eq!(
                r.class,
                onboarding_steps::retry::ErrorClass::OperatorPending
            );
        }
        // Failures that trying again can cure keep their own class.
        for f in [
            CallFailure::Transient { detail: "x".into() },
            CallFailure::ThreadLimit,
            CallFailure::ThresholdExceeded,
            CallFailure::Rejected {
                errors: vec!["Itgenatr005: thread threshold exceeded".into()],
            },
        ] {
            assert!(step.call_failed(&c, &patch, &f).is_none(), "{step} {f:?}");
        }
    }
    // Other steps have no other path.
    assert!(
        S::EnsureWebhooks
            .call_failed(&c, &patch, &rejected)
            .is_none()
    );
    assert!(
        S::DeletePreviousWebhooks
            .call_failed(&c, &patch, &rejected)
            .is_none()
    );
}

/// The converged tenant plus the previous user (id 50) owning a leftover Contact webhook.
fn changeover_with_leftover(previous_active: bool) -> MemoryTenant {
    let mut t = converged();
    t.add_api_user(50, OLD, previous_active, WebhookFamily::ALL);
    t.credentials.insert(Role::Previous, OLD.into());
    t.add_webhook(
        WebhookFamily::Contact,
        50,
        "left over",
        "https://x.example.com/c",
        false,
        true,
    );
    t
}

#[test]
fn the_changeover_audit_counts_only_what_the_previous_users_credentials_saw() {
    let mut c = change_ctx();
    c.has_previous_credentials = true;
    // Hidden from the new user, but the previous user's credentials see the leftover.
    let mut t = changeover_with_leftover(true);
    t.hides_other_owners_webhooks = true;
    check(
        S::VerifyChangeover,
        &c,
        &t,
        expect![[r#"
            verify_changeover (api), 8 read(s)
            refused (Transient): Contact webhook 1007 of the previous user 50 is still there
            drift: Contact webhook 1007 of the previous user 50 is still there
        "#]],
    );
    // Without the previous user's credentials the new user's view cannot tell "none" from
    // "hidden": the leftover goes unseen, and the step says it could not check.
    c.has_previous_credentials = false;
    check(
        S::VerifyChangeover,
        &c,
        &t,
        expect![[r#"
            verify_changeover (api), 8 read(s)
            plan: nothing to do
            fact: {"fact":"changeover_verified","webhooks":[["Ticket",1003]],"leftovers":{"check":"not_checked","reason":"the run has no credentials of the previous user, and the new user's view shows none of its webhooks, which Autotask may hide from other users; run cleanup_webhooks with the previous user's credentials to check and remove them"}}
            verify: ok
        "#]],
    );
    // Rejected credentials (the user is inactive) are the same, unless this run's cleanup
    // verified with them that nothing was left.
    let mut t = changeover_with_leftover(false);
    t.hides_other_owners_webhooks = true;
    t.webhooks.get_mut(&WebhookFamily::Contact).unwrap().clear();
    c.has_previous_credentials = true;
    check(
        S::VerifyChangeover,
        &c,
        &t,
        expect![[r#"
            verify_changeover (api), 13 read(s)
            plan: nothing to do
            fact: {"fact":"changeover_verified","webhooks":[["Ticket",1003]],"leftovers":{"check":"not_checked","reason":"Autotask rejects the previous user's credentials (it is inactive, or they were changed), and the new user's view shows none of its webhooks, which Autotask may hide from other users; run cleanup_webhooks with the previous user's credentials to check and remove them"}}
            verify: ok
        "#]],
    );
    c.cleanup_verified = true;
    check(
        S::VerifyChangeover,
        &c,
        &t,
        expect![[r#"
            verify_changeover (api), 13 read(s)
            plan: nothing to do
            fact: {"fact":"changeover_verified","webhooks":[["Ticket",1003]],"leftovers":{"check":"at_cleanup"}}
            verify: ok
        "#]],
    );
    // What the new user does see is there for certain.
    let mut t = changeover_with_leftover(false);
    check(
        S::VerifyChangeover,
        &c,
        &t,
        expect![[r#"
            verify_changeover (api), 13 read(s)
            refused (Transient): Contact webhook 1007 of the previous user 50 is still there
            drift: Contact webhook 1007 of the previous user 50 is still there
        "#]],
    );
    // With working credentials and nothing left: seen.
    t = converged();
    t.add_api_user(50, OLD, true, WebhookFamily::ALL);
    t.credentials.insert(Role::Previous, OLD.into());
    t.hides_other_owners_webhooks = true;
    check(
        S::VerifyChangeover,
        &c,
        &t,
        expect![[r#"
            verify_changeover (api), 8 read(s)
            plan: nothing to do
            fact: {"fact":"changeover_verified","webhooks":[["Ticket",1003]],"leftovers":{"check":"previous_credentials"}}
            verify: ok
        "#]],
    );
}
