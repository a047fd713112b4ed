//! Query semantics: operators and groups through autotask-types, MaxRecords, IncludeFields,
//! paging with POST `query/next` (405 on GET), GET `?search=` form, and validation errors as
//! HTTP 500 with `errors[]`.

use serde_json::{Value as Json, json};

use crate::{Api, Env, errors, webhook_body};

/// A user with `n` ticket webhooks named `hook-{i}`.
async fn with_hooks(env: &Env, n: usize) -> Api {
    let user = env.seed();
    env.sim
        .db("acme")
        .unwrap()
        .set_webhook_permission(user.security_level_id, true, 1000)
        .unwrap();
    let api = env.api(&user);
    for i in 0..n {
        let mut b = webhook_body(&format!("https://h.example.com/{i}"));
        b["name"] = json!(format!("hook-{i}"));
        b["isActive"] = json!(i % 2 == 0);
        assert_eq!(api.post("TicketWebhooks", b).await.0, 200);
    }
    api
}

fn ids(b: &Json) -> Vec<i64> {
    b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn post_paging_follows_next_page_url_with_the_original_body_and_get_is_405() {
    let env = Env::new().await;
    let api = with_hooks(&env, 12).await;
    let body = json!({"filter": [{"op": "gte", "field": "id", "value": 0}]});
    let (s, first) = api.post("TicketWebhooks/query", body.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(ids(&first), vec![1, 2, 3, 4, 5]);
    assert_eq!(first["pageDetails"]["count"], 5);
    assert_eq!(first["pageDetails"]["requestCount"], 5);
    let next = first["pageDetails"]["nextPageUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        next.contains("/TicketWebhooks/query/next?paging="),
        "{next}"
    );
    let (s, b) = api.get(&next).await;
    assert_eq!(s, 405);
    assert!(b["Message"].is_string());
    let (s, second) = api.post(&next, body.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(ids(&second), vec![6, 7, 8, 9, 10]);
    // An empty body (as some clients send) reuses the remembered query.
    let next2 = second["pageDetails"]["nextPageUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = api
        .http
        .post(&next2)
        .header("ApiIntegrationCode", &api.code)
        .header("UserName", &api.user)
        .header("Secret", &api.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let third: Json = resp.json().await.unwrap();
    assert_eq!(ids(&third), vec![11, 12]);
    assert!(third["pageDetails"]["nextPageUrl"].is_null());
    // prevPageUrl walks back: none on the first page, the previous page on the others.
    assert!(first["pageDetails"]["prevPageUrl"].is_null());
    let prev = third["pageDetails"]["prevPageUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, back) = api.post(&prev, body.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(ids(&back), vec![6, 7, 8, 9, 10]);
    let prev = back["pageDetails"]["prevPageUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, back) = api.post(&prev, body.clone()).await;
    assert_eq!(ids(&back), vec![1, 2, 3, 4, 5]);
    assert!(back["pageDetails"]["prevPageUrl"].is_null());
    assert!(back["pageDetails"]["nextPageUrl"].is_string());
}

#[tokio::test]
async fn max_records_include_fields_and_get_search_form() {
    let env = Env::new().await;
    let api = with_hooks(&env, 7).await;
    let (s, b) = api
        .post(
            "TicketWebhooks/query",
            json!({"MaxRecords": 2, "IncludeFields": ["Name"], "Filter": [{"op": "exist", "field": "id"}]}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let items = b["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let keys: Vec<&String> = items[0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2, "id + name only: {keys:?}");
    assert_eq!(b["pageDetails"]["requestCount"], 2);
    // GET ?search= form, with paging through GET.
    let search =
        json!({"filter": [{"op": "beginsWith", "field": "name", "value": "HOOK-"}]}).to_string();
    let url = format!(
        "TicketWebhooks/query?search={}",
        url::form_urlencoded::byte_serialize(search.as_bytes()).collect::<String>()
    );
    let (s, b) = api.get(&url).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(ids(&b).len(), 5);
    let next = b["pageDetails"]["nextPageUrl"].as_str().unwrap().to_owned();
    let (s, b) = api.get(&next).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(ids(&b), vec![6, 7]);
    let (s, b) = api
        .get(&format!(
            "TicketWebhooks/query/count?search={}",
            url::form_urlencoded::byte_serialize(search.as_bytes()).collect::<String>()
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["queryCount"], 7);
}

#[tokio::test]
async fn operators_and_nested_groups() {
    let env = Env::new().await;
    let api = with_hooks(&env, 6).await;
    let q = |filter: Json| {
        let api = api.clone();
        async move {
            let (s, b) = api
                .post("TicketWebhooks/query", json!({"filter": filter}))
                .await;
            assert_eq!(s, 200, "{b}");
            ids(&b)
        }
    };
    assert_eq!(
        q(json!([{"op": "eq", "field": "isActive", "value": true}])).await,
        vec![1, 3, 5]
    );
    assert_eq!(
        q(json!([{"op": "in", "field": "id", "value": [2, 4, 9]}])).await,
        vec![2, 4]
    );
    assert_eq!(
        q(json!([{"op": "notIn", "field": "id", "value": [1, 2, 3]}])).await,
        vec![4, 5, 6]
    );
    assert_eq!(
        q(json!([{"op": "contains", "field": "name", "value": "OK-3"}])).await,
        vec![4]
    );
    assert_eq!(
        q(json!([{"op": "endsWith", "field": "name", "value": "-5"}])).await,
        vec![6]
    );
    assert_eq!(
        q(json!([{"op": "lt", "field": "id", "value": 3}])).await,
        vec![1, 2]
    );
    assert_eq!(q(json!([{"op": "noteq", "field": "id", "value": 1}, {"op": "lte", "field": "id", "value": 2}])).await, vec![2]);
    assert_eq!(
        q(json!([{"op": "notExist", "field": "id"}])).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        q(json!([{"op": "or", "items": [
            {"op": "eq", "field": "id", "value": 1},
            {"op": "and", "items": [
                {"op": "gt", "field": "id", "value": 4},
                {"op": "eq", "field": "isActive", "value": false}
            ]}
        ]}]))
        .await,
        vec![1, 6]
    );
}

#[tokio::test]
async fn invalid_queries_are_500_with_errors() {
    let env = Env::new().await;
    let api = with_hooks(&env, 1).await;
    for (what, body, needle) in [
        ("no filter", json!({"filter": []}), "at least one"),
        (
            "max records",
            json!({"maxRecords": 501, "filter": [{"op": "exist", "field": "id"}]}),
            "maxRecords",
        ),
        (
            "unknown op",
            json!({"filter": [{"op": "like", "field": "id", "value": 1}]}),
            "like",
        ),
        (
            "unknown field",
            json!({"filter": [{"op": "eq", "field": "colour", "value": 1}]}),
            "colour",
        ),
        (
            "boolean as string",
            json!({"filter": [{"op": "eq", "field": "isActive", "value": "true"}]}),
            "boolean",
        ),
        (
            "include unknown",
            json!({"includeFields": ["nope"], "filter": [{"op": "exist", "field": "id"}]}),
            "nope",
        ),
    ] {
        let (s, b) = api.post("TicketWebhooks/query", body).await;
        assert_eq!(s, 500, "{what}: {b}");
        assert!(errors(&b).contains(needle), "{what}: {b}");
    }
    let (s, b) = api
        .send(reqwest::Method::POST, "TicketWebhooks/query", None)
        .await;
    assert_eq!(s, 500, "{b}");
    let (s, b) = api
        .post(
            "Resources/query",
            json!({"filter": [{"op": "eq", "field": "defaultServiceDeskRoleID", "value": 1}]}),
        )
        .await;
    assert_eq!(s, 500, "not queryable: {b}");
}
