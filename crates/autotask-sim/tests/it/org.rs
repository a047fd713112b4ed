//! Lines of business: OrganizationalLevel1s / 2s / Associations (query, create, update, no
//! delete) and OrganizationalResources (query-only), which reflect the console's LOB step.

use serde_json::json;

use crate::Env;

#[tokio::test]
async fn organizational_entities_reflect_the_lines_of_business_step() {
    let env = Env::new().await;
    let db = env.sim.db("acme").unwrap();
    let user = env.seed();
    let api = env.api(&user);
    let all = json!({"filter": [{"op": "gte", "field": "id", "value": 0}]});
    let (s, b) = api.post("OrganizationalLevel1s/query", all.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(b["items"][0]["name"], "General");
    let (_, b) = api.post("OrganizationalLevel2s/query", all.clone()).await;
    let names: Vec<&str> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["IT Services", "Software Development", "Managed Services"]
    );
    let (_, b) = api
        .post("OrganizationalLevelAssociations/query", all.clone())
        .await;
    assert_eq!(b["items"].as_array().unwrap().len(), 3);
    let (s, b) = api
        .post(
            "OrganizationalResources/query",
            json!({"filter": [{"op": "eq", "field": "resourceID", "value": user.resource_id}]}),
        )
        .await;
    assert_eq!(s, 200);
    let mut assoc: Vec<i64> = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["organizationalLevelAssociationID"].as_i64().unwrap())
        .collect();
    assoc.sort();
    assert_eq!(assoc, vec![1, 2], "IT Services and Software Development");
    assert!(
        db.api_user(user.resource_id)
            .unwrap()
            .view_items_with_no_lob
    );
    // Child path of an association.
    let (s, b) = api.get("OrganizationalLevelAssociations/1/Resources").await;
    assert_eq!(s, 200);
    assert!(
        b["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["resourceID"] == user.resource_id)
    );
    // Query-only and no-delete.
    assert_eq!(
        api.post(
            "OrganizationalResources",
            json!({"resourceID": user.resource_id, "organizationalLevelAssociationID": 3})
        )
        .await
        .0,
        405
    );
    assert_eq!(
        api.post(
            "OrganizationalLevelAssociations/1/Resources",
            json!({"resourceID": 1})
        )
        .await
        .0,
        405
    );
    assert_eq!(api.delete("OrganizationalLevelAssociations/1").await.0, 405);
    // Level entities can be created and updated.
    let (s, b) = api
        .post(
            "OrganizationalLevel2s",
            json!({"name": "Security", "isActive": true}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let l2 = b["itemId"].as_i64().unwrap();
    let (s, _) = api
        .post(
            "OrganizationalLevelAssociations",
            json!({"organizationalLevel1ID": 1, "organizationalLevel2ID": l2, "isActive": true}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .post(
            "OrganizationalLevelAssociations",
            json!({"organizationalLevel1ID": 1, "organizationalLevel2ID": 999, "isActive": true}),
        )
        .await;
    assert_eq!(s, 500);
    assert_eq!(
        api.patch(
            "OrganizationalLevel2s",
            json!({"id": l2, "isActive": false})
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn tickets_follow_the_users_lines_of_business() {
    let env = Env::new().await;
    let db = env.sim.db("acme").unwrap();
    let user = env.seed();
    let api = env.api(&user);
    let ticket = |lob: Option<i64>| {
        let mut f = serde_json::Map::new();
        f.insert("organizationalLevelAssociationID".into(), json!(lob));
        db.create_ticket(&f, None).unwrap()
    };
    let it = ticket(Some(1));
    let managed = ticket(Some(3));
    let none = ticket(None);
    let all = json!({"filter": [{"op": "exist", "field": "id"}]});
    let ids = |b: serde_json::Value| -> Vec<i64> {
        b["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    };
    let (s, b) = api.post("Tickets/query", all.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(ids(b), vec![it, none], "IT Services + no LOB (A11, A12)");
    assert_eq!(api.get(&format!("Tickets/{managed}")).await.0, 404);
    assert_eq!(
        api.post("Tickets/query/count", all.clone()).await.1["queryCount"],
        2
    );
    db.set_lines_of_business(user.resource_id, &[1, 2], false)
        .unwrap();
    assert_eq!(
        ids(api.post("Tickets/query", all.clone()).await.1),
        vec![it],
        "A12 unticked"
    );
    db.set_lines_of_business(user.resource_id, &[], false)
        .unwrap();
    assert_eq!(
        ids(api.post("Tickets/query", all).await.1),
        vec![it, managed, none],
        "no LOBs: all"
    );
}
