//! Resources: query, get, count, PATCH and PUT; no create and no delete; updates need admin
//! rights on Resources; deactivating a user through REST deactivates its webhooks.

use autotask_types::WebhookFamily;
use serde_json::json;

use crate::{Env, errors};

#[tokio::test]
async fn resources_query_get_count_and_find_by_username() {
    let env = Env::new().await;
    let user = env.seed();
    let api = env.api(&user);
    let (s, b) = api
        .post(
            "Resources/query",
            json!({"filter": [{"op": "eq", "field": "userName", "value": user.user_name.to_uppercase()}]}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let items = b["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "case-insensitive match");
    assert_eq!(items[0]["id"], user.resource_id);
    assert_eq!(items[0]["isActive"], true);
    assert_eq!(items[0]["licenseType"], 7);
    let (s, b) = api.get(&format!("Resources/{}", user.resource_id)).await;
    assert_eq!(s, 200);
    assert_eq!(b["item"]["userName"], user.user_name.as_str());
    let (s, b) = api.get("Resources/1").await;
    assert_eq!(s, 404, "{b}");
    let (s, b) = api
        .post(
            "Resources/query/count",
            json!({"filter": [{"op": "exist", "field": "id"}]}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["queryCount"], 2, "the operator plus the API user");
}

#[tokio::test]
async fn resources_have_no_create_and_no_delete() {
    let env = Env::new().await;
    let api = env.api(&env.seed());
    let (s, b) = api
        .post("Resources", json!({"firstName": "New", "lastName": "User"}))
        .await;
    assert_eq!(s, 405, "{b}");
    assert!(b["Message"].as_str().unwrap().contains("POST"));
    let (s, _) = api.delete("Resources/29682885").await;
    assert_eq!(s, 405);
}

#[tokio::test]
async fn resource_updates_need_admin_rights() {
    let env = Env::new().await;
    let db = env.sim.db("acme").unwrap();
    let admin = env.seed();
    let target = env.seed();
    let limited = env.seed();
    let level = db
        .copy_security_level(limited.security_level_id, "API no HR admin")
        .unwrap();
    db.set_resource_admin(level.id, false).unwrap();
    db.assign_security_level(limited.resource_id, level.id)
        .unwrap();

    let body = json!({"id": target.resource_id, "isActive": false});
    let (s, b) = env.api(&limited).patch("Resources", body.clone()).await;
    assert_eq!(s, 500);
    assert!(errors(&b).contains("security level"), "{b}");
    assert!(db.api_user(target.resource_id).unwrap().active);

    let (s, b) = env.api(&admin).patch("Resources", body).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["itemId"], target.resource_id);
    assert!(!db.api_user(target.resource_id).unwrap().active);
    // Read-only fields are ignored, like Autotask does.
    let (s, _) = env
        .api(&admin)
        .patch(
            "Resources",
            json!({"id": admin.resource_id, "userName": "x@y.z", "title": "Bot"}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, b) = env
        .api(&admin)
        .get(&format!("Resources/{}", admin.resource_id))
        .await;
    assert_eq!(b["item"]["userName"], admin.user_name.as_str());
    assert_eq!(b["item"]["title"], "Bot");
}

#[tokio::test]
async fn put_on_resources_nulls_omitted_writable_fields() {
    let env = Env::new().await;
    let admin = env.seed();
    let api = env.api(&admin);
    let (_, b) = api.get(&format!("Resources/{}", admin.resource_id)).await;
    let mut item = b["item"].clone();
    item["title"] = json!("Integration");
    let (s, b) = api.put("Resources", item.clone()).await;
    assert_eq!(s, 200, "{b}");
    let mut partial = item.clone();
    partial.as_object_mut().unwrap().remove("title");
    let (s, _) = api.put("Resources", partial).await;
    assert_eq!(s, 200);
    let (_, b) = api.get(&format!("Resources/{}", admin.resource_id)).await;
    assert!(b["item"]["title"].is_null());
    // PUT without a required field is a validation error.
    let mut missing = item;
    missing.as_object_mut().unwrap().remove("firstName");
    let (s, b) = api.put("Resources", missing).await;
    assert_eq!(s, 500);
    assert!(errors(&b).contains("firstName is required"), "{b}");
}

#[tokio::test]
async fn deactivating_a_user_through_rest_deactivates_its_webhooks() {
    let env = Env::new().await;
    let db = env.sim.db("acme").unwrap();
    let admin = env.seed();
    let owner = env.seed();
    let id = env
        .api(&owner)
        .create_ticket_webhook("http://127.0.0.1:9/hook-a")
        .await;
    let (s, _) = env
        .api(&admin)
        .patch(
            "Resources",
            json!({"id": owner.resource_id, "isActive": false}),
        )
        .await;
    assert_eq!(s, 200);
    let hook = db
        .webhooks(WebhookFamily::Ticket)
        .into_iter()
        .find(|h| h["id"] == id)
        .unwrap();
    assert_eq!(hook["isActive"], false);
}

#[tokio::test]
async fn a_database_can_refuse_api_user_activation_through_rest() {
    let mut cfg = crate::test_config();
    cfg.databases[0].api_user_activation_via_rest = Some(false);
    let env = Env::with(cfg).await;
    let db = env.sim.db("acme").unwrap();
    let admin = env.seed();
    let target = env.seed();
    let api = env.api(&admin);
    let (s, b) = api
        .patch(
            "Resources",
            json!({"id": target.resource_id, "isActive": false}),
        )
        .await;
    assert_eq!(s, 500);
    assert!(errors(&b).contains("web interface"), "{b}");
    assert!(db.api_user(target.resource_id).unwrap().active);
    // Other fields, and an unchanged isActive, still go through.
    let (s, _) = api
        .patch(
            "Resources",
            json!({"id": target.resource_id, "isActive": true, "title": "x"}),
        )
        .await;
    assert_eq!(s, 200);
    // The human administrator is not an API-only resource.
    let (s, _) = api
        .patch("Resources", json!({"id": 29682885, "isActive": false}))
        .await;
    assert_eq!(s, 200);
}
