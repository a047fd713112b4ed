//! The webhook families: CRUD, children through parent paths, ownership, isReady, the
//! security level's permission and lifetime maximum, and the duplicate rule.

use autotask_types::WebhookFamily;
use serde_json::{Value as Json, json};

use crate::{Env, errors, webhook_body};

#[tokio::test]
async fn every_family_supports_create_get_query_count_patch_put_delete() {
    let env = Env::new().await;
    let user = env.seed();
    let db = env.sim.db("acme").unwrap();
    db.set_webhook_permission(user.security_level_id, true, 100)
        .unwrap();
    let api = env.api(&user);
    for family in WebhookFamily::ALL {
        let path = family.webhooks_path();
        let url = format!("https://hooks.example.com/{path}");
        let (s, b) = api.post(path, webhook_body(&url)).await;
        assert_eq!(s, 200, "{path}: {b}");
        let id = b["itemId"].as_i64().unwrap();
        let (s, b) = api.get(&format!("{path}/{id}")).await;
        assert_eq!(s, 200);
        let item = &b["item"];
        assert_eq!(item["ownerResourceID"], user.resource_id, "{path}");
        assert_eq!(item["isReady"], false);
        assert_eq!(item["webhookGUID"].as_str().unwrap().len(), 36);
        let (s, b) = api
            .post(
                &format!("{path}/query"),
                json!({"filter": [{"op": "eq", "field": "ownerResourceID", "value": user.resource_id}]}),
            )
            .await;
        assert_eq!(s, 200);
        assert_eq!(b["items"].as_array().unwrap().len(), 1);
        let (_, b) = api
            .post(
                &format!("{path}/query/count"),
                json!({"filter": [{"op": "gt", "field": "id", "value": 0}]}),
            )
            .await;
        assert_eq!(b["queryCount"], 1);
        let (s, b) = api.patch(path, json!({"id": id, "name": "Renamed"})).await;
        assert_eq!(s, 200, "{b}");
        let mut put = webhook_body(&url);
        put["id"] = json!(id);
        put["name"] = json!("Put");
        let (s, b) = api.put(path, put).await;
        assert_eq!(s, 200, "{b}");
        let (_, b) = api.get(&format!("{path}/{id}")).await;
        assert_eq!(b["item"]["name"], "Put");
        assert_eq!(b["item"]["ownerResourceID"], user.resource_id);
        let (s, b) = api.delete(&format!("{path}/{id}")).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["itemId"], id);
        assert_eq!(api.get(&format!("{path}/{id}")).await.0, 404);
    }
}

#[tokio::test]
async fn owner_is_the_creator_read_only_and_only_the_owner_may_update_or_delete() {
    let env = Env::new().await;
    let alice = env.seed();
    let bob = env.seed();
    let (s, b) = env
        .api(&alice)
        .post("TicketWebhooks", {
            let mut body = webhook_body("https://hooks.example.com/a");
            body["ownerResourceID"] = json!(bob.resource_id);
            body
        })
        .await;
    assert_eq!(s, 200);
    let id = b["itemId"].as_i64().unwrap();
    let (_, b) = env.api(&bob).get(&format!("TicketWebhooks/{id}")).await;
    assert_eq!(b["item"]["ownerResourceID"], alice.resource_id, "read-only");

    let (s, b) = env
        .api(&bob)
        .patch("TicketWebhooks", json!({"id": id, "name": "mine"}))
        .await;
    assert_eq!(s, 500);
    assert!(errors(&b).contains("owner"), "{b}");
    let (s, b) = env.api(&bob).delete(&format!("TicketWebhooks/{id}")).await;
    assert_eq!(s, 500);
    assert!(!errors(&b).is_empty());
    let (s, _) = env
        .api(&bob)
        .post(
            &format!("TicketWebhooks/{id}/Fields"),
            json!({"fieldID": 7, "isSubscribedField": true}),
        )
        .await;
    assert_eq!(s, 500, "children of someone else's webhook are theirs too");
    let (s, _) = env
        .api(&alice)
        .patch(
            "TicketWebhooks",
            json!({"id": id, "ownerResourceID": bob.resource_id}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, b) = env.api(&alice).get(&format!("TicketWebhooks/{id}")).await;
    assert_eq!(b["item"]["ownerResourceID"], alice.resource_id);
    assert_eq!(
        env.api(&alice)
            .delete(&format!("TicketWebhooks/{id}"))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn is_ready_follows_subscribed_fields_and_children_live_under_their_parent() {
    let env = Env::new().await;
    let user = env.seed();
    let api = env.api(&user);
    let id = api
        .create_ticket_webhook("https://hooks.example.com/ready")
        .await;
    let fields = format!("TicketWebhooks/{id}/Fields");
    let (s, b) = api
        .post(
            &fields,
            json!({"fieldID": 8, "isSubscribedField": false, "isDisplayAlwaysField": true}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let always = b["itemId"].as_i64().unwrap();
    let ready = |b: &Json| b["item"]["isReady"].as_bool().unwrap();
    assert!(
        !ready(&api.get(&format!("TicketWebhooks/{id}")).await.1),
        "display-only is not enough"
    );
    let (s, b) = api
        .post(&fields, json!({"fieldID": 7, "isSubscribedField": true}))
        .await;
    assert_eq!(s, 200);
    let status_field = b["itemId"].as_i64().unwrap();
    assert!(ready(&api.get(&format!("TicketWebhooks/{id}")).await.1));
    // Invalid and duplicate field ids.
    let (s, b) = api
        .post(&fields, json!({"fieldID": 999, "isSubscribedField": true}))
        .await;
    assert_eq!(s, 500, "{b}");
    let (s, _) = api
        .post(&fields, json!({"fieldID": 7, "isSubscribedField": true}))
        .await;
    assert_eq!(s, 500);
    // List, get and query of children.
    let (s, b) = api.get(&fields).await;
    assert_eq!(s, 200);
    assert_eq!(b["items"].as_array().unwrap().len(), 2);
    let (s, b) = api.get(&format!("{fields}/{always}")).await;
    assert_eq!(s, 200);
    assert_eq!(b["item"]["webhookID"], id);
    let (s, b) = api
        .post(
            "TicketWebhookFields/query",
            json!({"filter": [{"op": "eq", "field": "webhookID", "value": id}]}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        api.post("TicketWebhookFields", json!({"fieldID": 2}))
            .await
            .0,
        405,
        "root is read-only"
    );
    // Unsubscribing the only subscribed field makes it not ready again.
    let (s, _) = api
        .patch(
            &fields,
            json!({"id": status_field, "isSubscribedField": false}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(!ready(&api.get(&format!("TicketWebhooks/{id}")).await.1));
    // PUT through the parent path replaces the child (omitted booleans become null).
    let (s, b) = api
        .put(
            &fields,
            json!({"id": status_field, "fieldID": 7, "isSubscribedField": true}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(ready(&api.get(&format!("TicketWebhooks/{id}")).await.1));
    let (_, b) = api.get(&format!("{fields}/{status_field}")).await;
    assert!(b["item"]["isDisplayAlwaysField"].is_null());
    let (s, _) = api
        .patch(
            &fields,
            json!({"id": status_field, "isSubscribedField": false}),
        )
        .await;
    assert_eq!(s, 200);
    // UDF fields count too.
    let (s, b) = api
        .post(
            &format!("TicketWebhooks/{id}/UdfFields"),
            json!({"udfFieldID": 29682901, "isSubscribedField": true}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(ready(&api.get(&format!("TicketWebhooks/{id}")).await.1));
    // Deleting a subscribed child updates isReady; deleting the webhook removes children.
    let udf = b["itemId"].as_i64().unwrap();
    assert_eq!(
        api.delete(&format!("TicketWebhooks/{id}/UdfFields/{udf}"))
            .await
            .0,
        200
    );
    assert!(!ready(&api.get(&format!("TicketWebhooks/{id}")).await.1));
    assert_eq!(api.delete(&format!("TicketWebhooks/{id}")).await.0, 200);
    let (_, b) = api
        .post(
            "TicketWebhookFields/query",
            json!({"filter": [{"op": "eq", "field": "webhookID", "value": id}]}),
        )
        .await;
    assert_eq!(b["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn ticket_note_webhooks_have_no_udf_fields_and_excluded_resources_have_no_update() {
    let env = Env::new().await;
    let user = env.seed();
    let api = env.api(&user);
    let (s, b) = api
        .post(
            "TicketNoteWebhooks",
            webhook_body("https://h.example.com/n"),
        )
        .await;
    assert_eq!(s, 200);
    let id = b["itemId"].as_i64().unwrap();
    let (s, _) = api
        .post(
            &format!("TicketNoteWebhooks/{id}/UdfFields"),
            json!({"udfFieldID": 29682901}),
        )
        .await;
    assert_eq!(s, 404);
    let tid = api.create_ticket_webhook("https://h.example.com/t").await;
    let path = format!("TicketWebhooks/{tid}/ExcludedResources");
    let (s, b) = api
        .post(&path, json!({"resourceID": user.resource_id}))
        .await;
    assert_eq!(s, 200, "{b}");
    let ex = b["itemId"].as_i64().unwrap();
    assert_eq!(
        api.patch(&path, json!({"id": ex, "resourceID": 1})).await.0,
        405
    );
    assert_eq!(
        api.post(&path, json!({"resourceID": 42})).await.0,
        500,
        "unknown resource"
    );
    assert_eq!(
        api.post(&path, json!({"resourceID": user.resource_id}))
            .await
            .0,
        500,
        "already excluded"
    );
    assert_eq!(api.get(&format!("{path}/{ex}")).await.0, 200);
    assert_eq!(api.delete(&format!("{path}/{ex}")).await.0, 200);
}

#[tokio::test]
async fn creating_webhooks_needs_the_permission_and_respects_the_lifetime_maximum() {
    let env = Env::new().await;
    let db = env.sim.db("acme").unwrap();
    let user = env.seed();
    let api = env.api(&user);
    db.set_webhook_permission(user.security_level_id, false, 10)
        .unwrap();
    let (s, b) = api
        .post("TicketWebhooks", webhook_body("https://h.example.com/1"))
        .await;
    assert_eq!(s, 500);
    assert!(errors(&b).contains("permission"), "{b}");

    db.set_webhook_permission(user.security_level_id, true, 2)
        .unwrap();
    let first = api.create_ticket_webhook("https://h.example.com/1").await;
    api.create_ticket_webhook("https://h.example.com/2").await;
    let (s, b) = api
        .post("TicketWebhooks", webhook_body("https://h.example.com/3"))
        .await;
    assert_eq!(s, 500);
    assert!(errors(&b).contains("maximum"), "{b}");
    // Lifetime: deleting does not give the budget back.
    assert_eq!(api.delete(&format!("TicketWebhooks/{first}")).await.0, 200);
    let (s, _) = api
        .post("CompanyWebhooks", webhook_body("https://h.example.com/4"))
        .await;
    assert_eq!(
        s, 500,
        "the maximum spans families and the account's lifetime"
    );
    assert_eq!(db.api_user(user.resource_id).unwrap().webhooks_created, 2);
    // System levels cannot be edited.
    assert!(db.set_webhook_permission(2, true, 10).is_err());
}

#[tokio::test]
async fn duplicates_across_owners_and_inactive_webhooks_are_refused() {
    let env = Env::new().await;
    let alice = env.seed();
    let bob = env.seed();
    let url = "https://hooks.example.com/same";
    let id = env.api(&alice).create_ticket_webhook(url).await;
    let (s, _) = env
        .api(&alice)
        .patch("TicketWebhooks", json!({"id": id, "isActive": false}))
        .await;
    assert_eq!(s, 200);
    let (s, b) = env
        .api(&bob)
        .post("TicketWebhooks", webhook_body(&url.to_uppercase()))
        .await;
    assert_eq!(
        s, 500,
        "inactive, other owner, URL case ignored: still a duplicate"
    );
    assert!(errors(&b).contains("duplicate"), "{b}");
    // Another event type with the same URL is not a duplicate.
    let mut other = webhook_body(url);
    other["isSubscribedToCreateEvents"] = json!(false);
    other["isSubscribedToUpdateEvents"] = json!(false);
    other["isSubscribedToDeleteEvents"] = json!(true);
    assert_eq!(env.api(&bob).post("TicketWebhooks", other).await.0, 200);
    // Another family with the same URL is not a duplicate either.
    assert_eq!(
        env.api(&bob)
            .post("CompanyWebhooks", webhook_body(url))
            .await
            .0,
        200
    );
    // An update that would create a duplicate is refused too.
    let mine = env
        .api(&bob)
        .create_ticket_webhook("https://hooks.example.com/bob")
        .await;
    let (s, _) = env
        .api(&bob)
        .patch("TicketWebhooks", json!({"id": mine, "webhookUrl": url}))
        .await;
    assert_eq!(s, 500);
}

#[tokio::test]
async fn create_validates_required_fields_and_lengths() {
    let env = Env::new().await;
    let api = env.api(&env.seed());
    // Body keys are case-insensitive (NANGO's example uses PascalCase).
    let (s, b) = api
        .post(
            "TicketWebhooks",
            json!({
                "Name": "Pascal", "WebhookUrl": "https://h.example.com/pascal",
                "DeactivationUrl": "https://h.example.com/pascal/d", "SecretKey": "0123456789",
                "IsActive": true, "IsSubscribedToCreateEvents": true,
            }),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = api.get(&format!("TicketWebhooks/{}", b["itemId"])).await;
    assert_eq!(b["item"]["webhookUrl"], "https://h.example.com/pascal");
    let (s, b) = api.post("TicketWebhooks", json!({"name": "x"})).await;
    assert_eq!(s, 500);
    let e = errors(&b);
    assert!(
        e.contains("webhookUrl is required") && e.contains("secretKey is required"),
        "{e}"
    );
    let mut long = webhook_body("https://h.example.com/long");
    long["name"] = json!("n".repeat(51));
    let (s, b) = api.post("TicketWebhooks", long).await;
    assert_eq!(s, 500);
    assert!(errors(&b).contains("maximum length"), "{b}");
}
