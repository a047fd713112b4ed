//! Fault injection as data: N× 429, N× 500, connection resets, timeouts, commit-then-drop,
//! per database and endpoint, through the handle and the console; and the request log, which
//! never holds secrets.

use std::time::Duration;

use autotask_sim::{Fault, FaultRule};
use autotask_types::WebhookFamily;
use serde_json::json;

use crate::{Env, errors, webhook_body};

#[tokio::test]
async fn counted_429_and_500_then_normal_service() {
    let env = Env::new().await;
    let api = env.api(&env.seed());
    env.sim.add_fault(
        FaultRule::new(Fault::TooManyRequests)
            .endpoint("Resources")
            .times(2),
    );
    env.sim.add_fault(
        FaultRule::new(Fault::server_error())
            .endpoint("TicketWebhooks")
            .method("POST")
            .times(1),
    );
    let (s, b) = api.get("Resources/entityInformation").await;
    assert_eq!(s, 429);
    assert!(errors(&b).contains("Itgenatr005"));
    assert_eq!(api.get("Resources/entityInformation").await.0, 429);
    assert_eq!(api.get("Resources/entityInformation").await.0, 200);
    assert_eq!(
        api.get("TicketWebhooks/entityInformation").await.0,
        200,
        "GET not matched"
    );
    let (s, b) = api
        .post("TicketWebhooks", webhook_body("https://h.example.com/f"))
        .await;
    assert_eq!(s, 500);
    assert_eq!(b["Message"], "An error has occurred.", "a bare ASP.NET 500");
    assert!(
        env.sim
            .db("acme")
            .unwrap()
            .webhooks(WebhookFamily::Ticket)
            .is_empty(),
        "nothing done"
    );
    assert!(env.sim.faults().is_empty(), "used up");
}

#[tokio::test]
async fn connection_reset_and_timeout_leave_the_client_without_an_answer() {
    let env = Env::new().await;
    let api = env.api(&env.seed());
    env.sim
        .add_fault(FaultRule::new(Fault::ConnectionReset).times(1));
    let err = api
        .http
        .get(format!("{}Resources/entityInformation", api.base))
        .header("ApiIntegrationCode", &api.code)
        .header("UserName", &api.user)
        .header("Secret", &api.secret)
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_status(), "{err:?}");
    env.sim
        .add_fault(FaultRule::new(Fault::Timeout { ms: 5_000 }).times(1));
    let err = api
        .http
        .get(format!("{}Resources/entityInformation", api.base))
        .header("ApiIntegrationCode", &api.code)
        .header("UserName", &api.user)
        .header("Secret", &api.secret)
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(api.get("Resources/entityInformation").await.0, 200);
}

#[tokio::test]
async fn commit_then_drop_performs_the_write_without_answering() {
    let env = Env::new().await;
    let api = env.api(&env.seed());
    env.sim.add_fault(
        FaultRule::new(Fault::CommitThenDrop)
            .database("acme")
            .endpoint("TicketWebhooks")
            .method("POST")
            .times(1),
    );
    let result = api
        .http
        .post(format!("{}TicketWebhooks", api.base))
        .header("ApiIntegrationCode", &api.code)
        .header("UserName", &api.user)
        .header("Secret", &api.secret)
        .json(&webhook_body("https://h.example.com/ctd"))
        .send()
        .await;
    assert!(result.is_err(), "no answer: {result:?}");
    let hooks = env.sim.db("acme").unwrap().webhooks(WebhookFamily::Ticket);
    assert_eq!(hooks.len(), 1, "the write was committed");
    // A retry now hits the duplicate rule, as it would on Autotask.
    let (s, b) = api
        .post("TicketWebhooks", webhook_body("https://h.example.com/ctd"))
        .await;
    assert_eq!(s, 500, "{b}");
    let log = env.sim.requests();
    let dropped = log
        .iter()
        .find(|r| r.fault.as_deref() == Some("commitThenDrop"))
        .unwrap();
    assert_eq!(dropped.status, 0);
}

#[tokio::test]
async fn faults_through_the_console_and_a_request_log_without_secrets() {
    let env = Env::new().await;
    let user = env.seed();
    let api = env.api(&user);
    let console = format!("{}/_sim/faults", env.sim.base_url());
    let r = env
        .http
        .post(&console)
        .json(&json!({"database": "acme", "endpoint": "resources", "fault": {"kind": "tooManyRequests"}, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(api.get("Resources/entityInformation").await.0, 429);
    assert_eq!(api.get("Resources/entityInformation").await.0, 200);
    env.http
        .post(&console)
        .json(&json!({"fault": {"kind": "serverError", "status": 503, "errors": ["maintenance"]}}))
        .send()
        .await
        .unwrap();
    let (s, b) = api.get("Resources/entityInformation").await;
    assert_eq!((s, errors(&b).as_str()), (503, "maintenance"));
    assert_eq!(
        env.http.delete(&console).send().await.unwrap().status(),
        200
    );
    assert_eq!(api.get("Resources/entityInformation").await.0, 200);

    let log = env
        .http
        .get(format!("{}/_sim/requests", env.sim.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(log.contains("Resources/entityInformation") && log.contains(&user.user_name));
    assert!(
        !log.contains(&user.secret),
        "secret leaked into the request log"
    );
    assert!(
        !log.contains(&user.integration_code),
        "integration code leaked"
    );
    let records = env.sim.requests();
    assert_eq!(
        records.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![429, 200, 503, 200]
    );
    assert_eq!(records[0].endpoint.as_deref(), Some("Resources"));
}
