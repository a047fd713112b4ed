//! Unit tests of the database rules: timestamps, write validation, which webhooks fire, PUT
//! versus PATCH, and the callout payload encoding.

use autotask_types::WebhookFamily;
use serde_json::{Value as Json, json};

use super::accounts::{Caller, LEVEL_API_SYSTEM};
use super::db::Db;
use super::events::encode;
use super::tables::{Write, normalize, obj, utc_now};
use crate::Error;
use crate::behaviour::Behaviour;
use crate::config::DatabaseConfig;
use crate::metadata::{Kind, registry};

#[test]
fn utc_now_is_rfc3339_shaped() {
    let s = utc_now();
    assert_eq!(s.len(), 24, "{s}");
    assert!(
        s.starts_with("20") && s.ends_with('Z') && &s[10..11] == "T",
        "{s}"
    );
}

#[test]
fn normalize_rejects_wrong_types_lengths_and_missing_required() {
    let def = registry().get(Kind::Webhooks(WebhookFamily::Ticket));
    let body = obj(json!({"name": "x".repeat(51), "isActive": "yes"}));
    let Err(Error::Rejected { messages }) = normalize(def, &body, Write::Create) else {
        panic!("must be rejected")
    };
    let all = messages.join("\n");
    assert!(all.contains("maximum length of 50"), "{all}");
    assert!(all.contains("isActive"), "{all}");
    assert!(all.contains("webhookUrl is required"), "{all}");
}

/// A resource on a custom API-only level with webhooks enabled (maximum 10) and admin
/// rights.
fn caller_with_webhooks(db: &mut Db) -> Caller {
    let id = db.insert_resource("A", "B", "a@b.c", "a@b.c", true);
    let accounts = db.accounts_mut();
    let level = accounts.copy_level(LEVEL_API_SYSTEM, "hooks").unwrap();
    accounts
        .edit_level(level.id, |l| {
            l.webhooks_enabled = true;
            l.webhook_max = 10;
        })
        .unwrap();
    accounts.assign_level(id, level.id).unwrap();
    Caller {
        resource_id: id,
        level: db.accounts().level(level.id).cloned(),
    }
}

fn hook(db: &mut Db, caller: &Caller, url: &str, subscribe: bool) -> i64 {
    let family = WebhookFamily::Ticket;
    let def = registry().get(Kind::Webhooks(family));
    let body = json!({
        "name": url, "webhookUrl": url, "deactivationUrl": url, "secretKey": "k",
        "isActive": true, "isSubscribedToCreateEvents": true,
        "isSubscribedToUpdateEvents": true,
    });
    let (id, _) = db.write(def, caller, Write::Create, &body, None).unwrap();
    if subscribe {
        let def = registry().get(Kind::WebhookFields(family));
        let f = json!({"fieldID": 7, "isSubscribedField": true});
        db.write(def, caller, Write::Create, &f, Some(id)).unwrap();
    }
    id
}

#[test]
fn only_ready_active_subscribed_not_excluded_webhooks_fire() {
    let mut db = Db::new(&DatabaseConfig::named("t"), 1, Behaviour::default());
    let caller = caller_with_webhooks(&mut db);
    let ready = hook(&mut db, &caller, "https://x/ready", true);
    let _unready = hook(&mut db, &caller, "https://x/unready", false);
    let inactive = hook(&mut db, &caller, "https://x/inactive", true);
    let def = registry().get(Kind::Webhooks(WebhookFamily::Ticket));
    db.write(
        def,
        &caller,
        Write::Patch,
        &json!({"id": inactive, "isActive": false}),
        None,
    )
    .unwrap();
    let excl = registry().get(Kind::WebhookExcluded(WebhookFamily::Ticket));
    let (t, out) = db
        .create_ticket(
            &obj(json!({"title": "t", "status": 1, "priority": 1, "companyID": 0})),
            None,
        )
        .unwrap();
    let urls: Vec<&str> = out.iter().map(|o| o.url.as_str()).collect();
    assert_eq!(urls, ["https://x/ready"]);
    assert_eq!(out[0].action, "Create");
    // Unsubscribed change: nothing; subscribed change: the ready hook.
    assert!(
        db.update_ticket(t, &obj(json!({"priority": 3})), None)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        db.update_ticket(t, &obj(json!({"status": 5})), None)
            .unwrap()
            .len(),
        1
    );
    // Unchanged value: nothing.
    assert!(
        db.update_ticket(t, &obj(json!({"status": 5})), None)
            .unwrap()
            .is_empty()
    );
    // Excluded person: nothing.
    db.write(
        excl,
        &caller,
        Write::Create,
        &json!({"resourceID": caller.resource_id}),
        Some(ready),
    )
    .unwrap();
    let person = Some(caller.resource_id);
    assert!(
        db.update_ticket(t, &obj(json!({"status": 8})), person)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        db.update_ticket(t, &obj(json!({"status": 1})), None)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn put_nulls_omitted_writable_fields_and_patch_keeps_them() {
    let def = registry().get(Kind::OrgLevel1);
    let body = obj(json!({"id": 1, "name": "N", "isActive": true}));
    let put = normalize(def, &body, Write::Put).unwrap();
    assert_eq!(put.get("description"), Some(&Json::Null));
    let patch = normalize(def, &body, Write::Patch).unwrap();
    assert!(!patch.contains_key("description"));
}

#[test]
fn payload_escapes_like_autotask() {
    let body = encode(&json!({"Fields": {"title": "A&B <x> it's 1+1 café"}}));
    assert_eq!(
        String::from_utf8(body).unwrap(),
        r#"{"Fields":{"title":"A\u0026B \u003cx\u003e it\u0027s 1\u002b1 caf\u00e9"}}"#
    );
}
