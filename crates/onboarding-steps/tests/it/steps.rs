//! One `check` snapshot per interesting case of every step up to the new user's webhooks,
//! against the in-memory tenant; the changeover's steps are in `changeover.rs`.

use autotask_types::WebhookFamily;
use expect_test::expect;
use onboarding_memory::MemoryTenant;
use onboarding_steps::observe::Role;
use onboarding_steps::{StepContext, StepName as S, TenantSettings};

use crate::support::check;

const NEW: &str = "new@example.com";
pub(crate) const OLD: &str = "old@example.com";

pub(crate) fn ctx() -> StepContext {
    StepContext::new(
        "acme",
        TenantSettings::new("https://hooks.example.com/at"),
        NEW,
    )
}

pub(crate) fn change_ctx() -> StepContext {
    let mut c = ctx();
    c.previous_user_name = Some(OLD.into());
    c
}

/// The seeded tenant plus the previous user (id 50) with a Ticket and a Company webhook.
pub(crate) fn with_previous(active: bool) -> MemoryTenant {
    let mut t = MemoryTenant::seeded();
    t.add_api_user(50, OLD, active, WebhookFamily::ALL);
    t.credentials.insert(Role::Previous, OLD.into());
    t.add_webhook(
        WebhookFamily::Ticket,
        50,
        "Sophos Central Ticket 50",
        "https://hooks.example.com/at/acme/50/ticket",
        active,
        true,
    );
    t.add_webhook(
        WebhookFamily::Company,
        50,
        "Other hook",
        "https://other.example.com/x",
        active,
        true,
    );
    t
}

/// The seeded tenant after ensure_webhooks converged.
pub(crate) fn converged() -> MemoryTenant {
    let mut t = MemoryTenant::seeded();
    let c = ctx();
    let obs = t.observe(S::EnsureWebhooks, &c);
    let plan = S::EnsureWebhooks.plan(&c, &obs).unwrap();
    t.execute(&plan, None).unwrap();
    t
}

#[test]
fn resolve_zone() {
    check(
        S::ResolveZone,
        &ctx(),
        &MemoryTenant::seeded(),
        expect![[r#"
        resolve_zone (api), 1 read(s)
        plan: nothing to do
        fact: {"fact":"zone_url","url":"https://webservices15.autotask.net/ATServicesRest/"}
        verify: ok
    "#]],
    );
    let mut c = ctx();
    c.new_user_name = "nobody@example.com".into();
    check(
        S::ResolveZone,
        &c,
        &MemoryTenant::seeded(),
        expect![[r#"
        resolve_zone (api), 1 read(s)
        refused (OperatorPending): Autotask knows no API user with the username nobody@example.com
          seed: A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A13
          befund: Autotask kennt keinen API-Benutzer mit dem Benutzernamen nobody@example.com
        drift: Autotask knows no API user with the username nobody@example.com
    "#]],
    );
}

#[test]
fn check_api_budget() {
    check(
        S::CheckApiBudget,
        &ctx(),
        &MemoryTenant::seeded(),
        expect![[r#"
        check_api_budget (api), 1 read(s)
        plan: nothing to do
        verify: ok
    "#]],
    );
    let mut t = MemoryTenant::seeded();
    t.threshold.current_timeframe_request_count = 8_000;
    check(
        S::CheckApiBudget,
        &ctx(),
        &t,
        expect![[r#"
        check_api_budget (api), 1 read(s)
        refused (BudgetDeferred): the tenant used 8000 of 10000 Autotask requests in the last 60 minutes (80 %); onboard pauses above 75 %
        verify: ok
    "#]],
    );
}

#[test]
fn verify_api_user() {
    check(
        S::VerifyApiUser,
        &ctx(),
        &MemoryTenant::seeded(),
        expect![[r#"
        verify_api_user (operator-verified), 2 read(s)
        plan: nothing to do
        fact: {"fact":"new_user","id":100}
        verify: ok
    "#]],
    );

    let mut t = MemoryTenant::seeded();
    let u = t.user_mut(100).unwrap();
    u.resource.email = None;
    u.resource.license_type = Some(1);
    check(
        S::VerifyApiUser,
        &ctx(),
        &t,
        expect![[r#"
        verify_api_user (operator-verified), 2 read(s)
        refused (OperatorPending): user new@example.com is not an API user (license: Full); required fields are empty: email
          seed: A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A13
          befund: Benutzer new@example.com ist kein API-Benutzer (Lizenz: Full)
          befund: Pflichtfelder sind leer: email
        drift: user new@example.com is not an API user (license: Full); required fields are empty: email
    "#]],
    );

    // Inactive: its own credentials are rejected, so nothing more can be seen.
    let mut t = MemoryTenant::seeded();
    t.user_mut(100).unwrap().resource.is_active = Some(false);
    check(
        S::VerifyApiUser,
        &ctx(),
        &t,
        expect![[r#"
        verify_api_user (operator-verified), 2 read(s)
        refused (OperatorPending): Autotask rejects the credentials of new@example.com (key, secret or integration vendor)
          seed: A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A13
          befund: Autotask weist die Anmeldeinformationen von new@example.com zurück (Schlüssel, geheimer Schlüssel oder Integrationsanbieter)
        drift: Autotask rejects the credentials of new@example.com (key, secret or integration vendor)
    "#]],
    );

    // With admin credentials the reason shows.
    let mut t = MemoryTenant::seeded();
    t.user_mut(100).unwrap().resource.is_active = Some(false);
    t.add_api_user(1, "admin@example.com", true, []);
    t.credentials
        .insert(Role::Admin, "admin@example.com".into());
    let mut c = ctx();
    c.has_admin_credentials = true;
    check(
        S::VerifyApiUser,
        &c,
        &t,
        expect![[r#"
        verify_api_user (operator-verified), 3 read(s)
        refused (OperatorPending): user new@example.com exists but is inactive
          seed: A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A13
          befund: Benutzer new@example.com existiert, ist aber inaktiv
        drift: user new@example.com exists but is inactive
    "#]],
    );

    // Two users with the same username: a refused precondition.
    let mut t = MemoryTenant::seeded();
    t.add_api_user(101, NEW, true, []);
    check(
        S::VerifyApiUser,
        &ctx(),
        &t,
        expect![[r#"
        verify_api_user (operator-verified), 2 read(s)
        refused (Permanent): 2 users have the username new@example.com; onboard will not guess which one is the integration's API user. Give one of them another username in Autotask (Admin > Resources (Users)) and start the run again.
          seed: A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A13
          befund: 2 Benutzer haben den Benutzernamen new@example.com
        drift: 2 users have the username new@example.com; onboard will not guess which one is the integration's API user. Give one of them another username in Autotask (Admin > Resources (Users)) and start the run again.
    "#]],
    );
}

#[test]
fn verify_lines_of_business() {
    check(
        S::VerifyLinesOfBusiness,
        &ctx(),
        &MemoryTenant::seeded(),
        expect![[r#"
        verify_lines_of_business (operator-verified), 5 read(s)
        plan: nothing to do
        verify: ok
    "#]],
    );

    let mut t = MemoryTenant::seeded();
    t.memberships
        .retain(|m| m.organizational_level_association_id != Some(22.into()));
    check(
        S::VerifyLinesOfBusiness,
        &ctx(),
        &t,
        expect![[r#"
        verify_lines_of_business (operator-verified), 5 read(s)
        refused (OperatorPending): the user is not associated with: General > Software Development
          seed: A11
          befund: der Benutzer ist nicht verknüpft mit: General > Software Development
        drift: the user is not associated with: General > Software Development
    "#]],
    );

    // Organizational structure off: nothing to check.
    let mut t = MemoryTenant::seeded();
    t.associations.clear();
    check(
        S::VerifyLinesOfBusiness,
        &ctx(),
        &t,
        expect![[r#"
        verify_lines_of_business (operator-verified), 4 read(s)
        plan: nothing to do
        verify: ok
    "#]],
    );

    let mut c = ctx();
    c.settings.lines_of_business[1].level2 = "Managed Print".into();
    check(
        S::VerifyLinesOfBusiness,
        &c,
        &MemoryTenant::seeded(),
        expect![[r#"
        verify_lines_of_business (operator-verified), 5 read(s)
        refused (Permanent): the tenant has no active line of business General > Managed Print (setting `lines_of_business[1]`): create it in Autotask or change the setting
        drift: the tenant has no active line of business General > Managed Print (setting `lines_of_business[1]`): create it in Autotask or change the setting
    "#]],
    );
}

#[test]
fn attested_steps_wait_for_acknowledgment() {
    for step in [S::ConfirmUnassignedLobVisibility, S::ConfirmVendorActive] {
        let mut c = ctx();
        let waiting = crate::support::render(step, &c, &MemoryTenant::seeded());
        c.acknowledged.insert(step);
        let done = crate::support::render(step, &c, &MemoryTenant::seeded());
        expect_test::expect_file![format!("snapshots/{step}.txt")]
            .assert_eq(&format!("{waiting}---\n{done}"));
    }
}

#[test]
fn verify_webhook_permission() {
    check(
        S::VerifyWebhookPermission,
        &ctx(),
        &MemoryTenant::seeded(),
        expect![[r#"
        verify_webhook_permission (operator-verified), 1 read(s)
        plan: nothing to do
        verify: ok
    "#]],
    );

    let mut t = MemoryTenant::seeded();
    t.user_mut(100).unwrap().webhook_permission.clear();
    check(
        S::VerifyWebhookPermission,
        &ctx(),
        &t,
        expect![[r#"
        verify_webhook_permission (operator-verified), 1 read(s)
        refused (OperatorPending): the user may not create webhooks for: Ticket
          seed: W1 W2 W3 W4
          befund: der Benutzer darf keine Webhooks anlegen für: Ticket
        drift: the user may not create webhooks for: Ticket
    "#]],
    );
    // The full instructions, both languages.
    let obs = t.clone().observe(S::VerifyWebhookPermission, &ctx());
    let r = S::VerifyWebhookPermission.plan(&ctx(), &obs).unwrap_err();
    let rem = r.remediation.unwrap();
    expect![[r#"
        verify_webhook_permission is waiting for an operator.
        Found:
          - the user may not create webhooks for: Ticket
        Do in Autotask:
          W1. In Autotask, go to Admin > Company Settings & Users > Resources/Users (HR) > Security > Security Levels.
          W2. Expand the section Other.
          W3. Select Webhooks and enter the maximum number of webhooks the API user may create over the lifetime of the account.
          W4. Click Save & Close.
          (onboard) "API User (system)" is a system level and cannot be edited: copy it into a custom API-only security level, enable Other > Webhooks there, and assign that level to the API user.

        verify_webhook_permission wartet auf einen Bearbeiter.
        Befund:
          - der Benutzer darf keine Webhooks anlegen für: Ticket
        In Autotask zu tun:
          W1. Fahren Sie in Autotask mit der Maus über das Autotask-Symbol und gehen Sie zu Admin > Unternehmenseinstellungen & Benutzer > Ressourcen/Benutzer (HR) > Sicherheit > Sicherheitsstufen.
          W2. Erweitern Sie in Sicherheitsstufen den Abschnitt Andere.
          W3. Wählen Sie Webhooks aus und geben Sie die maximale Anzahl an Webhooks ein, die der API-Benutzer während der Lebensdauer des Kontos erstellen kann.
          W4. Klicken Sie auf Speichern & Schließen.
          (onboard) „API-Benutzer (System)“ ist eine Systemstufe und kann nicht bearbeitet werden: Kopieren Sie sie in eine eigene reine API-Sicherheitsstufe, aktivieren Sie dort Andere > Webhooks und weisen Sie diese Stufe dem API-Benutzer zu.
    "#]].assert_eq(&format!("{}\n{}", rem.render_en(), rem.render_de()));
}

#[test]
fn ensure_webhooks_creates_when_none_exist() {
    let mut c = ctx();
    c.settings.notification_email = Some("noc@example.com".into());
    check(
        S::EnsureWebhooks,
        &c,
        &MemoryTenant::seeded(),
        expect![[r#"
        ensure_webhooks (api), 3 read(s)
        plan:
          as new: POST TicketWebhooks {"name":"Sophos Central Ticket 100","webhookUrl":"https://hooks.example.com/at/acme/100/ticket","deactivationUrl":"https://hooks.example.com/at/acme/100/ticket/deactivated","isActive":true,"isSubscribedToCreateEvents":true,"isSubscribedToUpdateEvents":true,"isSubscribedToDeleteEvents":false,"notificationEmailAddress":"noc@example.com","sendThresholdExceededNotification":true} (secretKey from webhook-secret/acme/100/Ticket)
          as new: POST TicketWebhooks/{id of call 0}/Fields {"fieldID":1,"isSubscribedField":true,"isDisplayAlwaysField":false}
          as new: POST TicketWebhooks/{id of call 0}/Fields {"fieldID":2,"isSubscribedField":true,"isDisplayAlwaysField":false}
          as new: POST TicketWebhooks/{id of call 0}/ExcludedResources {"resourceID":100}
        drift: needs as new: POST TicketWebhooks {"name":"Sophos Central Ticket 100","webhookUrl":"https://hooks.example.com/at/acme/100/ticket","deactivationUrl":"https://hooks.example.com/at/acme/100/ticket/deactivated","isActive":true,"isSubscribedToCreateEvents":true,"isSubscribedToUpdateEvents":true,"isSubscribedToDeleteEvents":false,"notificationEmailAddress":"noc@example.com","sendThresholdExceededNotification":true} (secretKey from webhook-secret/acme/100/Ticket); needs as new: POST TicketWebhooks/{id of call 0}/Fields {"fieldID":1,"isSubscribedField":true,"isDisplayAlwaysField":false}; needs as new: POST TicketWebhooks/{id of call 0}/Fields {"fieldID":2,"isSubscribedField":true,"isDisplayAlwaysField":false}; needs as new: POST TicketWebhooks/{id of call 0}/ExcludedResources {"resourceID":100}
    "#]],
    );
}

#[test]
fn ensure_webhooks_is_quiet_when_converged() {
    check(
        S::EnsureWebhooks,
        &ctx(),
        &converged(),
        expect![[r#"
            ensure_webhooks (api), 6 read(s)
            plan: nothing to do
            verify: ok
        "#]],
    );
}

#[test]
fn ensure_webhooks_completes_a_webhook_whose_create_response_was_lost() {
    // The create committed, the worker never learned the id: found by URL, children added.
    let mut t = MemoryTenant::seeded();
    t.add_webhook(
        WebhookFamily::Ticket,
        100,
        "Sophos Central Ticket 100",
        "https://hooks.example.com/at/acme/100/ticket",
        true,
        false,
    );
    check(
        S::EnsureWebhooks,
        &ctx(),
        &t,
        expect![[r#"
            ensure_webhooks (api), 6 read(s)
            plan:
              as new: POST TicketWebhooks/1003/Fields {"fieldID":1,"isSubscribedField":true,"isDisplayAlwaysField":false}
              as new: POST TicketWebhooks/1003/Fields {"fieldID":2,"isSubscribedField":true,"isDisplayAlwaysField":false}
              as new: POST TicketWebhooks/1003/ExcludedResources {"resourceID":100}
            drift: needs as new: POST TicketWebhooks/1003/Fields {"fieldID":1,"isSubscribedField":true,"isDisplayAlwaysField":false}; needs as new: POST TicketWebhooks/1003/Fields {"fieldID":2,"isSubscribedField":true,"isDisplayAlwaysField":false}; needs as new: POST TicketWebhooks/1003/ExcludedResources {"resourceID":100}
        "#]],
    );
}

#[test]
fn ensure_webhooks_repairs_drift_and_removes_stale_webhooks() {
    let mut t = converged();
    let list = t.webhooks.get_mut(&WebhookFamily::Ticket).unwrap();
    list[0].is_active = Some(false);
    list[0].name = Some("renamed by someone".into());
    // One field unsubscribed, one unexpected field, and an old webhook from another URL base.
    let fields = t.fields.get_mut(&WebhookFamily::Ticket).unwrap();
    fields[0].is_subscribed_field = Some(false);
    let wid = fields[0].webhook_id.unwrap();
    fields.push(autotask_types::WebhookField {
        id: Some(9001.into()),
        field_id: Some(3),
        is_subscribed_field: Some(true),
        is_display_always_field: Some(false),
        webhook_id: Some(wid),
    });
    t.add_webhook(
        WebhookFamily::Ticket,
        100,
        "Sophos Central Ticket 100",
        "https://old.example.com/acme/100/ticket",
        true,
        true,
    );
    // Someone else's webhook of the same user is left alone.
    t.add_webhook(
        WebhookFamily::Ticket,
        100,
        "PSA reporting",
        "https://reports.example.com/t",
        true,
        true,
    );
    check(
        S::EnsureWebhooks,
        &ctx(),
        &t,
        expect![[r#"
            ensure_webhooks (api), 6 read(s)
            plan:
              as new: DELETE TicketWebhooks/1007
              as new: PATCH TicketWebhooks {"id":1003,"name":"Sophos Central Ticket 100","isActive":true}
              as new: PATCH TicketWebhooks/1003/Fields {"id":1004,"isSubscribedField":true}
              as new: DELETE TicketWebhooks/1003/Fields/9001
            drift: needs as new: DELETE TicketWebhooks/1007; needs as new: PATCH TicketWebhooks {"id":1003,"name":"Sophos Central Ticket 100","isActive":true}; needs as new: PATCH TicketWebhooks/1003/Fields {"id":1004,"isSubscribedField":true}; needs as new: DELETE TicketWebhooks/1003/Fields/9001
        "#]],
    );
}

#[test]
fn ensure_webhooks_refuses_our_url_owned_by_someone_else() {
    let mut t = MemoryTenant::seeded();
    t.add_api_user(7, "other@example.com", true, []);
    t.add_webhook(
        WebhookFamily::Ticket,
        7,
        "x",
        "https://hooks.example.com/at/acme/100/ticket",
        false,
        false,
    );
    check(
        S::EnsureWebhooks,
        &ctx(),
        &t,
        expect![[r#"
        ensure_webhooks (api), 3 read(s)
        refused (Permanent): Ticket webhook 1003 with onboard's URL https://hooks.example.com/at/acme/100/ticket belongs to resource 7, not to the API user 100; Autotask would reject ours as a duplicate. Delete it with its owner's credentials.
        drift: Ticket webhook 1003 with onboard's URL https://hooks.example.com/at/acme/100/ticket belongs to resource 7, not to the API user 100; Autotask would reject ours as a duplicate. Delete it with its owner's credentials.
    "#]],
    );
}

#[test]
fn ensure_webhooks_refuses_an_unknown_field_label() {
    let mut c = ctx();
    c.settings.webhook_families[0]
        .subscribed_fields
        .push("Colour".into());
    check(
        S::EnsureWebhooks,
        &c,
        &MemoryTenant::seeded(),
        expect![[r#"
            ensure_webhooks (api), 3 read(s)
            refused (Permanent): setting `webhook_families[0].subscribed_fields[2]`: Autotask offers no Ticket webhook field labelled "Colour"; valid labels (closest first): Status, Title, Priority
              seed: 
              befund: Einstellung `webhook_families[0].subscribed_fields[2]`: Autotask bietet für Ticket-Webhooks kein Feld mit der Bezeichnung "Colour"; gültige Bezeichnungen (ähnlichste zuerst): Status, Title, Priority
            drift: setting `webhook_families[0].subscribed_fields[2]`: Autotask offers no Ticket webhook field labelled "Colour"; valid labels (closest first): Status, Title, Priority
        "#]],
    );
}

#[test]
fn await_webhooks_ready() {
    check(
        S::AwaitWebhooksReady,
        &ctx(),
        &converged(),
        expect![[r#"
        await_webhooks_ready (api), 2 read(s)
        plan: nothing to do
        verify: ok
    "#]],
    );
    let mut t = converged();
    t.fields.clear();
    check(
        S::AwaitWebhooksReady,
        &ctx(),
        &t,
        expect![[r#"
        await_webhooks_ready (api), 2 read(s)
        refused (Transient): Ticket webhook 1003 is not ready yet
        drift: Ticket webhook 1003 is not ready yet
    "#]],
    );
    check(
        S::AwaitWebhooksReady,
        &ctx(),
        &MemoryTenant::seeded(),
        expect![[r#"
        await_webhooks_ready (api), 2 read(s)
        refused (Permanent): the Ticket webhook is missing; ensure_webhooks must run again (retry the run)
        drift: the Ticket webhook is missing
    "#]],
    );
}

/// One `ensure_webhooks` attempt whose first call (the webhook's create) Autotask refuses;
/// with `moved`, another attempt made that webhook just before (its children not yet).
fn refused_first_call(moved: bool) -> onboarding_steps::run::AttemptOutcome {
    use onboarding_steps::attempt::{Attempt, Want};
    let mut t = MemoryTenant::seeded();
    let mut a = Attempt::new(S::EnsureWebhooks, ctx(), false);
    loop {
        match a.want() {
            Want::Reads(reads) => {
                for r in reads {
                    let answer = t.answer(&r);
                    a.read(&r, answer);
                }
            }
            Want::Call { call, created } => {
                let (call, created) = (call.clone(), created.to_vec());
                assert!(matches!(call, onboarding_steps::Call::CreateWebhook { .. }));
                if moved {
                    t.apply(&call, &created).unwrap();
                }
                a.called(Err(onboarding_steps::CallFailure::Rejected {
                    errors: vec!["a webhook with the same URL and event already exists".into()],
                }));
            }
            Want::Done(outcome) => return outcome,
        }
    }
}

/// A refused call is looked at again: when the tenant moved meanwhile (another attempt of the
/// step midway, see `attempt`'s module docs) the attempt is transient and the next one plans
/// again; when nothing moved the refusal stands.
#[test]
fn a_refused_call_is_transient_only_when_the_tenant_moved_meanwhile() {
    use onboarding_steps::CallFailure;
    use onboarding_steps::run::AttemptOutcome;
    match refused_first_call(true) {
        AttemptOutcome::Failed(CallFailure::Transient { detail }) => assert!(
            detail.contains("the tenant changed while ensure_webhooks ran"),
            "{detail}"
        ),
        other => panic!("{other:?}"),
    }
    match refused_first_call(false) {
        AttemptOutcome::Failed(CallFailure::Rejected { errors }) => {
            assert_eq!(
                errors,
                ["a webhook with the same URL and event already exists"]
            );
        }
        other => panic!("{other:?}"),
    }
}
