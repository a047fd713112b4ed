//! The seed's C1–C6 story end to end over raw HTTP: a previous integration user (fixture)
//! owns a webhook; the new user creates its own; the old user's credentials remove the old
//! one; when the old user is inactive that fails with 401 until the operator reactivates it.

use autotask_sim::{ApiUserConfig, DatabaseConfig, SOPHOS_VENDOR_CODE, SeededApiUser};
use autotask_types::WebhookFamily;
use serde_json::json;

use crate::callouts::receiver;
use crate::{Env, test_config};

#[tokio::test]
async fn changing_the_integrations_api_user() {
    let mut cfg = test_config();
    cfg.databases = vec![DatabaseConfig {
        api_users: vec![ApiUserConfig {
            first_name: "Previous".into(),
            last_name: "Integration".into(),
            email: None,
            user_name: "previous@acme.example.com".into(),
            secret: "Prev$ecret".into(),
            active: true,
            security_level: Some("API User (system)".into()),
            webhook_max: Some(10),
            vendor: Some("Sophos Central - Security".into()),
            lines_of_business: vec!["General > IT Services".into()],
            view_items_with_no_lob: true,
        }],
        ..DatabaseConfig::named("acme")
    }];
    let env = Env::with(cfg).await;
    let db = env.sim.db("acme").unwrap();
    let old_id = db.resource_id_of("PREVIOUS@acme.example.com").unwrap();
    assert!(db.api_user(old_id).unwrap().active);
    let old = SeededApiUser {
        resource_id: old_id,
        user_name: "previous@acme.example.com".into(),
        secret: "Prev$ecret".into(),
        integration_code: SOPHOS_VENDOR_CODE.into(),
        security_level_id: 0,
    };
    let mut rcv = receiver(200).await;
    let old_api = env.api(&old);
    let old_hook = old_api
        .create_ticket_webhook(&format!("{}/old", rcv.url))
        .await;

    // C2: the new user creates its webhook (a distinct URL: the same one would be a duplicate).
    let new = env.seed();
    let new_api = env.api(&new);
    let (s, _) = new_api
        .post(
            "TicketWebhooks",
            crate::webhook_body(&format!("{}/old", rcv.url)),
        )
        .await;
    assert_eq!(s, 500, "same URL and events as the old user's webhook");
    let new_hook = new_api
        .create_ticket_webhook(&format!("{}/new", rcv.url))
        .await;

    // The new user cannot remove the old webhook.
    assert_eq!(
        new_api
            .delete(&format!("TicketWebhooks/{old_hook}"))
            .await
            .0,
        500
    );
    // C4–C5: the old user was deactivated meanwhile: its credentials fail, its webhook is
    // inactive and its deactivation URL was called.
    db.set_active(old_id, false).unwrap();
    let got = rcv.next().await;
    assert_eq!(got.path, "/old/deactivated");
    let (s, _) = old_api
        .post(
            "TicketWebhooks/query",
            json!({"filter": [{"op": "eq", "field": "ownerResourceID", "value": old_id}]}),
        )
        .await;
    assert_eq!(s, 401);
    // The operator reactivates the old user; C6: delete with its credentials.
    db.set_active(old_id, true).unwrap();
    let (s, b) = old_api
        .post(
            "TicketWebhooks/query",
            json!({"filter": [{"op": "eq", "field": "ownerResourceID", "value": old_id}]}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        b["items"][0]["isActive"], false,
        "reactivation does not revive webhooks"
    );
    assert_eq!(
        old_api
            .delete(&format!("TicketWebhooks/{old_hook}"))
            .await
            .0,
        200
    );
    let left: Vec<i64> = db
        .webhooks(WebhookFamily::Ticket)
        .iter()
        .map(|h| h["id"].as_i64().unwrap())
        .collect();
    assert_eq!(left, vec![new_hook]);
}
