//! A permanent failure: the run fails with a reason and remediation, the job is in the dead
//! list; after the cause is fixed in Autotask, retrying the dead job completes the run.

use autotask_client::{AutotaskClient, ClientConfig, Credentials, Target};
use autotask_sim::SeedApiUser;
use autotask_types::{Webhook, WebhookFamily};
use onboarding_steps::StepName;
use onboarding_steps::run::{Actor, RunKind, RunState, StepState};

use crate::support::*;

#[tokio::test]
async fn a_dead_run_completes_after_the_cause_is_fixed_and_the_job_is_retried() {
    let e = env(&["acme"]).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    let squatter = seed(
        &e.sim,
        "acme",
        SeedApiUser {
            last_name: "Other tool".into(),
            ..SeedApiUser::default()
        },
    );
    // Another integration already owns a webhook at the URL onboard gives this user's Ticket
    // webhook: Autotask treats same entity + URL + event as duplicates across owners.
    let client = AutotaskClient::new(ClientConfig::new(Target::Explicit(
        url::Url::parse(e.sim.base_url()).unwrap(),
    )))
    .unwrap();
    let other = client
        .tenant(Credentials::new(
            &squatter.integration_code,
            &squatter.user_name,
            &squatter.secret,
        ))
        .await
        .unwrap();
    let url = format!(
        "https://hooks.sophos.example/autotask/acme/{}/ticket",
        user.resource_id
    );
    let hook = Webhook {
        name: Some("someone else's".into()),
        webhook_url: Some(url.clone()),
        deactivation_url: Some(format!("{url}/gone")),
        secret_key: Some("another-secret-key".into()),
        is_active: Some(true),
        is_subscribed_to_create_events: Some(true),
        is_subscribed_to_update_events: Some(true),
        ..Webhook::default()
    };
    let squatting = other
        .create(&WebhookFamily::Ticket.webhooks(), &hook)
        .await
        .unwrap();

    let _w = e.worker(2);
    let r = e
        .onboard
        .enqueue(request(RunKind::Onboard, "acme", &user), None)
        .await
        .unwrap();
    let run = e.finish(&r.run_id, 30).await;
    assert_eq!(run.state, RunState::Failed, "{:#?}", summary(&run));
    let StepState::Failed {
        reason,
        remediation,
    } = &run.step(StepName::EnsureWebhooks).unwrap().state
    else {
        panic!("{:#?}", summary(&run));
    };
    assert!(
        reason.contains("duplicate") && reason.contains("Delete it"),
        "the reason says what is wrong and what to do: {reason}"
    );
    assert!(
        remediation
            .as_ref()
            .is_some_and(|r| !r.instructions_en.is_empty() && !r.instructions_de.is_empty())
    );
    let dead = e.onboard.dead_letters(0, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].tenant, "acme");

    // The operator removes the conflicting webhook, then retries the dead job.
    other
        .delete(&WebhookFamily::Ticket.webhooks(), squatting)
        .await
        .unwrap();
    assert!(e.onboard.retry_dead(&dead[0].job, "olga").await.unwrap());
    e.until(&r.run_id, 30, "the run restarts", |run| {
        run.state != RunState::Failed
    })
    .await;
    let run = e.finish(&r.run_id, 30).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    assert!(
        run.audit
            .iter()
            .any(|a| a.transition == "dead letter retried"
                && a.actor == Actor::Operator("olga".into())
                && a.detail.contains(&dead[0].job)),
        "the operator's retry is in the audit trail: {:#?}",
        run.audit
    );
    let hooks = ticket_webhooks(&e.sim, "acme");
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["ownerResourceID"], user.resource_id);
    assert!(
        e.onboard
            .queue
            .dead_letters(0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_operator_retry_of_a_failed_run_starts_from_the_failed_step() {
    let e = env(&["acme"]).await;
    // Webhooks are enabled but with a lifetime maximum of zero: creating one is refused.
    let user = seed(
        &e.sim,
        "acme",
        SeedApiUser {
            webhook_max: Some(0),
            ..SeedApiUser::default()
        },
    );
    let _w = e.worker(2);
    let r = e
        .onboard
        .enqueue(request(RunKind::Onboard, "acme", &user), None)
        .await
        .unwrap();
    let run = e.finish(&r.run_id, 30).await;
    assert_eq!(run.state, RunState::Failed, "{:#?}", summary(&run));
    let failed = run
        .steps
        .iter()
        .find(|s| matches!(s.state, StepState::Failed { .. }))
        .unwrap()
        .step;

    let db = e.sim.db("acme").unwrap();
    db.set_webhook_permission(user.security_level_id, true, 10)
        .unwrap();
    let retried = e.onboard.retry(&r.run_id, "e2e-operator").await.unwrap();
    assert_eq!(retried, failed);
    let run = e.finish(&r.run_id, 30).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    assert!(
        run.audit
            .iter()
            .any(|a| a.actor == onboarding_steps::run::Actor::Operator("e2e-operator".into()))
    );
}
