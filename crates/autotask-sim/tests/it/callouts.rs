//! Webhook callouts: ticket events through the console fire signed POSTs to subscribed,
//! ready, active webhooks (not for excluded resources); user deactivation calls each
//! webhook's deactivationUrl; failed deliveries are retried and 25 consecutive failures
//! deactivate the webhook.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use autotask_sim::{CalloutConfig, SimConfig, signature};
use autotask_types::WebhookFamily;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value as Json, json};
use tokio::sync::mpsc;

use crate::{Api, Env, eventually, test_config, webhook_body};

pub struct Received {
    pub path: String,
    pub signature: Option<String>,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body).unwrap()
    }
}

pub struct Receiver {
    pub url: String,
    pub rx: mpsc::UnboundedReceiver<Received>,
    pub status: Arc<AtomicU16>,
}

impl Receiver {
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("a callout within 10 s")
            .expect("receiver open")
    }
}

/// A webhook receiver on 127.0.0.1 answering `status` (0 = never answer).
pub async fn receiver(status: u16) -> Receiver {
    let (tx, rx) = mpsc::unbounded_channel();
    let status = Arc::new(AtomicU16::new(status));
    let s = status.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let tx = tx.clone();
        let s = s.clone();
        async move {
            let _ = tx.send(Received {
                path: uri.path().to_owned(),
                signature: headers
                    .get("X-Hook-Signature")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                body,
            });
            let code = s.load(Ordering::SeqCst);
            if code == 0 {
                futures::future::pending::<()>().await;
            }
            StatusCode::from_u16(code).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, rx, status }
}

/// A ready ticket webhook: status (7) subscribed, title (8) always displayed.
async fn ready_hook(api: &Api, url: &str) -> i64 {
    let id = api.create_ticket_webhook(url).await;
    let f = format!("TicketWebhooks/{id}/Fields");
    assert_eq!(
        api.post(&f, json!({"fieldID": 7, "isSubscribedField": true}))
            .await
            .0,
        200
    );
    assert_eq!(
        api.post(
            &f,
            json!({"fieldID": 8, "isSubscribedField": false, "isDisplayAlwaysField": true})
        )
        .await
        .0,
        200
    );
    id
}

fn fields(v: Json) -> Map<String, Json> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn ticket_events_fire_signed_callouts_for_subscribed_changes() {
    let env = Env::new().await;
    let db = env.sim.db("acme").unwrap();
    let user = env.seed();
    let api = env.api(&user);
    let mut rcv = receiver(200).await;
    let id = ready_hook(&api, &format!("{}/tickets", rcv.url)).await;
    let guid = db.webhooks(WebhookFamily::Ticket)[0]["webhookGUID"].clone();

    let ticket = db
        .create_ticket(
            &fields(json!({"title": "Disk full & <urgent>", "status": 1})),
            Some(29682885),
        )
        .unwrap();
    let got = rcv.next().await;
    assert_eq!(got.path, "/tickets");
    let sig = got.signature.clone().expect("signed");
    assert_eq!(
        sig,
        signature("0123456789abcdef", &got.body),
        "HMAC-SHA1 of the raw body"
    );
    let raw = String::from_utf8(got.body.to_vec()).unwrap();
    assert!(
        raw.contains(r"Disk full \u0026 \u003curgent\u003e"),
        "{raw}"
    );
    let p = got.json();
    assert_eq!(p["Action"], "Create");
    assert_eq!(p["Guid"], guid);
    assert_eq!(p["EntityType"], "Ticket");
    assert_eq!(p["Id"], ticket);
    assert_eq!(p["PersonID"], 29682885);
    assert_eq!(p["Fields"]["status"], 1);
    assert_eq!(p["Fields"]["title"], "Disk full & <urgent>");
    assert!(p["Fields"].get("priority").is_none());

    // A change of an unsubscribed field fires nothing; the next callout is the status change.
    db.update_ticket(ticket, &fields(json!({"priority": 1})), None)
        .unwrap();
    db.update_ticket(ticket, &fields(json!({"status": 8})), None)
        .unwrap();
    let p = rcv.next().await.json();
    assert_eq!(p["Action"], "Update");
    assert_eq!(p["Fields"]["status"], 8);
    assert!(p["SequenceNumber"].as_u64().unwrap() > 1);

    // The excluded resource's own changes fire nothing.
    let path = format!("TicketWebhooks/{id}/ExcludedResources");
    assert_eq!(
        api.post(&path, json!({"resourceID": user.resource_id}))
            .await
            .0,
        200
    );
    db.update_ticket(
        ticket,
        &fields(json!({"status": 5})),
        Some(user.resource_id),
    )
    .unwrap();
    db.update_ticket(ticket, &fields(json!({"status": 13})), Some(29682885))
        .unwrap();
    assert_eq!(rcv.next().await.json()["Fields"]["status"], 13);

    // Inactive webhooks make no callouts.
    assert_eq!(
        api.patch("TicketWebhooks", json!({"id": id, "isActive": false}))
            .await
            .0,
        200
    );
    assert_eq!(rcv.next().await.json()["Action"], "Deactivated");
    db.update_ticket(ticket, &fields(json!({"status": 1})), None)
        .unwrap();
    let other = ready_hook(&api, &format!("{}/second", rcv.url)).await;
    db.update_ticket(ticket, &fields(json!({"status": 8})), None)
        .unwrap();
    let got = rcv.next().await;
    assert_eq!(got.path, "/second", "the inactive webhook stayed silent");
    assert!(other > id);
}

#[tokio::test]
async fn deactivating_the_owner_deactivates_its_webhooks_and_calls_deactivation_urls() {
    let env = Env::new().await;
    let db = env.sim.db("acme").unwrap();
    let owner = env.seed();
    let api = env.api(&owner);
    let mut rcv = receiver(200).await;
    let t = api.create_ticket_webhook(&format!("{}/t", rcv.url)).await;
    let (s, _) = api
        .post("CompanyWebhooks", webhook_body(&format!("{}/c", rcv.url)))
        .await;
    assert_eq!(s, 200);
    // The console works from a plain thread too (no Tokio context there).
    let console = db.clone();
    let resource = owner.resource_id;
    std::thread::spawn(move || console.set_active(resource, false))
        .join()
        .unwrap()
        .unwrap();
    let mut paths = vec![rcv.next().await, rcv.next().await];
    paths.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(paths[0].path, "/c/deactivated");
    assert_eq!(paths[1].path, "/t/deactivated");
    for p in &paths {
        assert_eq!(p.json()["Action"], "Deactivated");
        assert_eq!(
            p.signature.as_deref().unwrap(),
            signature("0123456789abcdef", &p.body)
        );
    }
    assert_eq!(paths[1].json()["Id"], t);
    for family in [WebhookFamily::Ticket, WebhookFamily::Company] {
        assert!(db.webhooks(family).iter().all(|h| h["isActive"] == false));
    }
    // Reactivating the user does not reactivate webhooks; the owner may delete them (C5, C6).
    db.set_active(owner.resource_id, true).unwrap();
    assert_eq!(db.webhooks(WebhookFamily::Ticket)[0]["isActive"], false);
    assert_eq!(api.delete(&format!("TicketWebhooks/{t}")).await.0, 200);
}

#[tokio::test]
async fn twenty_five_consecutive_failures_deactivate_the_webhook() {
    let cfg = SimConfig {
        callouts: CalloutConfig {
            timeout_ms: 2_000,
            max_attempts: 5,
            retry_delay_ms: 1,
            deactivate_after_failures: 25,
        },
        ..test_config()
    };
    let env = Env::with(cfg).await;
    let db = env.sim.db("acme").unwrap();
    let api = env.api(&env.seed());
    let mut rcv = receiver(500).await;
    let id = ready_hook(&api, &format!("{}/fail", rcv.url)).await;
    let ticket = db
        .create_ticket(&fields(json!({"status": 1})), None)
        .unwrap();
    for status in [8, 5, 13, 1] {
        db.update_ticket(ticket, &fields(json!({"status": status})), None)
            .unwrap();
    }
    eventually("the webhook to be deactivated", || {
        db.webhooks(WebhookFamily::Ticket)[0]["isActive"] == false
    })
    .await;
    let failed = env
        .sim
        .callouts()
        .iter()
        .filter(|c| c.webhook_id == id && c.action != "Deactivated" && !c.delivered)
        .count();
    assert_eq!(failed, 25);
    rcv.status.store(200, Ordering::SeqCst);
    let mut last = rcv.next().await;
    while last.path != "/fail/deactivated" {
        last = rcv.next().await;
    }
    assert_eq!(last.json()["Action"], "Deactivated");
}

#[tokio::test]
async fn a_receiver_that_does_not_answer_in_time_is_a_failed_attempt_and_is_retried() {
    let cfg = SimConfig {
        callouts: CalloutConfig {
            timeout_ms: 200,
            max_attempts: 2,
            retry_delay_ms: 1,
            deactivate_after_failures: 25,
        },
        ..test_config()
    };
    let env = Env::with(cfg).await;
    let db = env.sim.db("acme").unwrap();
    let api = env.api(&env.seed());
    let mut rcv = receiver(0).await;
    let id = ready_hook(&api, &format!("{}/slow", rcv.url)).await;
    db.create_ticket(&fields(json!({"status": 1})), None)
        .unwrap();
    rcv.next().await;
    rcv.next().await;
    eventually("two timed-out attempts", || {
        env.sim
            .callouts()
            .iter()
            .filter(|c| c.webhook_id == id && c.status.is_none())
            .count()
            == 2
    })
    .await;
    assert_eq!(db.webhooks(WebhookFamily::Ticket)[0]["isActive"], true);
}

#[tokio::test]
async fn deleting_an_active_webhook_calls_its_deactivation_url() {
    let env = Env::new().await;
    let api = env.api(&env.seed());
    let mut rcv = receiver(200).await;
    let id = api
        .create_ticket_webhook(&format!("{}/gone", rcv.url))
        .await;
    assert_eq!(api.delete(&format!("TicketWebhooks/{id}")).await.0, 200);
    let got = rcv.next().await;
    assert_eq!(got.path, "/gone/deactivated");
    assert_eq!(got.json()["Id"], id);
}

#[tokio::test]
async fn only_consecutive_failures_count_toward_deactivation() {
    let cfg = SimConfig {
        callouts: CalloutConfig {
            timeout_ms: 2_000,
            max_attempts: 2,
            retry_delay_ms: 1,
            deactivate_after_failures: 3,
        },
        ..test_config()
    };
    let env = Env::with(cfg).await;
    let db = env.sim.db("acme").unwrap();
    let api = env.api(&env.seed());
    let rcv = receiver(500).await;
    let id = ready_hook(&api, &format!("{}/flaky", rcv.url)).await;
    let ticket = db
        .create_ticket(&fields(json!({"status": 1})), None)
        .unwrap();
    let attempts = |delivered: bool| {
        env.sim
            .callouts()
            .iter()
            .filter(|c| c.webhook_id == id && c.action != "Deactivated" && c.delivered == delivered)
            .count()
    };
    eventually("two failed attempts", || attempts(false) == 2).await;
    rcv.status.store(200, Ordering::SeqCst);
    db.update_ticket(ticket, &fields(json!({"status": 8})), None)
        .unwrap();
    eventually("a delivery", || attempts(true) == 1).await;
    rcv.status.store(500, Ordering::SeqCst);
    db.update_ticket(ticket, &fields(json!({"status": 5})), None)
        .unwrap();
    eventually("two more failed attempts", || attempts(false) == 4).await;
    assert_eq!(
        db.webhooks(WebhookFamily::Ticket)[0]["isActive"],
        true,
        "the success in between reset the count"
    );
    db.update_ticket(ticket, &fields(json!({"status": 13})), None)
        .unwrap();
    eventually("deactivation after the third consecutive failure", || {
        db.webhooks(WebhookFamily::Ticket)[0]["isActive"] == false
    })
    .await;
    assert_eq!(
        attempts(false),
        5,
        "the event stops being retried once deactivated"
    );
}

#[tokio::test]
async fn deleting_a_ticket_fires_delete_callouts_through_the_http_console() {
    let env = Env::new().await;
    let db = env.sim.db("acme").unwrap();
    let api = env.api(&env.seed());
    let mut rcv = receiver(200).await;
    let mut body = webhook_body(&format!("{}/del", rcv.url));
    body["isSubscribedToUpdateEvents"] = json!(false);
    body["isSubscribedToDeleteEvents"] = json!(true);
    let (s, b) = api.post("TicketWebhooks", body).await;
    assert_eq!(s, 200);
    let id = b["itemId"].as_i64().unwrap();
    let f = format!("TicketWebhooks/{id}/Fields");
    assert_eq!(
        api.post(&f, json!({"fieldID": 7, "isSubscribedField": true}))
            .await
            .0,
        200
    );
    assert_eq!(
        api.post(
            &f,
            json!({"fieldID": 8, "isDisplayAlwaysField": true, "isSubscribedField": false})
        )
        .await
        .0,
        200
    );
    let ticket = db
        .create_ticket(&fields(json!({"title": "Bye"})), None)
        .unwrap();
    assert_eq!(rcv.next().await.json()["Action"], "Create");
    // Not subscribed to updates: nothing, so the next callout is the delete.
    db.update_ticket(ticket, &fields(json!({"status": 5})), None)
        .unwrap();
    let r = env
        .http
        .delete(format!(
            "{}/_sim/databases/acme/tickets/{ticket}?personId=29682885",
            env.sim.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let p = rcv.next().await.json();
    assert_eq!(p["Action"], "Delete");
    assert_eq!(p["Id"], ticket);
    assert_eq!(p["PersonID"], 29682885);
    assert_eq!(p["Fields"]["title"], "Bye");
    let (s, _) = api.get(&format!("Tickets/{ticket}")).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn events_whose_attempts_all_fail_go_to_the_webhook_error_log() {
    let env = Env::new().await;
    let db = env.sim.db("acme").unwrap();
    let api = env.api(&env.seed());
    let mut rcv = receiver(503).await;
    let id = ready_hook(&api, &format!("{}/down", rcv.url)).await;
    db.create_ticket(&fields(json!({"status": 1})), None)
        .unwrap();
    let first = rcv.next().await;
    rcv.next().await;
    eventually("the error log entry", || {
        db.rows("WebhookEventErrorLogs").unwrap().len() == 1
    })
    .await;
    let all = json!({"filter": [{"op": "exist", "field": "id"}]});
    let (s, b) = api.post("WebhookEventErrorLogs/query", all.clone()).await;
    assert_eq!(s, 200);
    let entry = &b["items"][0];
    assert_eq!(entry["ticketWebhookID"], id);
    assert_eq!(
        entry["payload"].as_str().unwrap().as_bytes(),
        &first.body[..]
    );
    assert!(
        entry["errorMessage"].as_str().unwrap().contains("503"),
        "{entry}"
    );
    assert_eq!(entry["sequenceNumber"], first.json()["SequenceNumber"]);
    assert_eq!(api.post("WebhookEventErrorLogs", json!({})).await.0, 405);
    let log_id = entry["id"].as_i64().unwrap();
    assert_eq!(
        api.delete(&format!("WebhookEventErrorLogs/{log_id}"))
            .await
            .0,
        200
    );
    let (_, b) = api.post("WebhookEventErrorLogs/query", all).await;
    assert_eq!(b["items"], json!([]));
}
