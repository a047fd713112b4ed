//! Campaigns over HTTP: creating one needs the `operate` scope and a whole valid cohort (a bad
//! entry is named and nothing is stored), show, pause/resume/abort, the report as JSON and
//! CSV, and the dashboard's campaign page with its actions and downloads. (Waves, the halt
//! and the driver run end to end in `tests/e2e/campaigns.rs`.)

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use onboarding_api::{ApiConfig, router};
use onboarding_steps::Timestamp;
use onboarding_worker::tokens::Scope;
use redis_test_server::RedisServer;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::dashboard::{basic, get, post_form};
use crate::request;

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into())),
    )
}

fn body(tenants: &[&str]) -> Value {
    json!({
        "options": {"kind": "verify", "canary": 1, "wave_size": 2, "max_failure_rate": 0.2},
        "cohort": tenants.iter().map(|t| {
            let mut r = request(t);
            r["zone"] = json!("webservices5");
            r
        }).collect::<Vec<_>>(),
    })
}

/// The form token of the form on the page posting to `action`.
fn form_token(html: &str, action: &str) -> String {
    let form = html
        .split("<form ")
        .find(|f| f.contains(&format!("action=\"{action}\"")))
        .unwrap_or_else(|| panic!("no form for {action}: {html}"));
    form.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn campaigns_are_created_steered_and_reported_over_http_and_in_the_dashboard() {
    let redis = RedisServer::start();
    let onboard = crate::onboard(&redis, "camp").await;
    let app = router(onboard.clone(), ApiConfig::default());
    let add = |name: &'static str, scopes: &'static [Scope]| {
        let onboard = onboard.clone();
        async move {
            onboard
                .tokens
                .add(name, scopes, Timestamp(0))
                .await
                .unwrap()
                .expose()
                .to_owned()
        }
    };
    let portal = add("portal", &[Scope::Enqueue, Scope::Read]).await;
    let olga = add("olga", &[Scope::Operate, Scope::Read]).await;

    // Creating needs operate.
    let (status, b) = call(
        &app,
        "POST",
        "/v1/campaigns",
        &portal,
        Some(body(&["a", "b"])),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{b}");

    // A bad entry is named and nothing is stored.
    let mut bad = body(&["a", "b", "c"]);
    bad["cohort"][1]["new_user"]["secret"] = json!("");
    let (status, b) = call(&app, "POST", "/v1/campaigns", &olga, Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        b["error"],
        "entry 2 (tenant b): invalid request: new_user.secret: must not be empty; nothing was stored"
    );
    let mut bad = body(&["a"]);
    bad["cohort"][0]["zone"] = json!(5);
    let (status, b) = call(&app, "POST", "/v1/campaigns", &olga, Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .starts_with("cohort entry 1: zone:"),
        "{b}"
    );
    let mut bad = body(&["a"]);
    bad["options"]["max_failure_rate"] = json!(3);
    let (status, b) = call(&app, "POST", "/v1/campaigns", &olga, Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["error"].as_str().unwrap().starts_with("max_failure_rate"),
        "{b}"
    );
    let (_, list) = call(&app, "GET", "/v1/campaigns", &portal, None).await;
    assert_eq!(list, json!([]));

    let (status, c) = call(
        &app,
        "POST",
        "/v1/campaigns",
        &olga,
        Some(body(&["a", "b", "c"])),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    assert_eq!(c["created_by"], "olga");
    assert_eq!(c["waves"].as_array().unwrap().len(), 2);
    assert_eq!(c["zones"], json!({"webservices5": 3}));
    assert!(
        !c.to_string().contains("s3cret-value"),
        "no secret in the answer"
    );

    let (status, shown) = call(&app, "GET", &format!("/v1/campaigns/{id}"), &portal, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["campaign"]["state"], "running");
    let (status, _) = call(&app, "GET", "/v1/campaigns/nope", &portal, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, p) = call(
        &app,
        "POST",
        &format!("/v1/campaigns/{id}/pause"),
        &olga,
        None,
    )
    .await;
    assert_eq!(
        (status, p["state"].as_str()),
        (StatusCode::OK, Some("paused"))
    );
    let (status, b) = call(
        &app,
        "POST",
        &format!("/v1/campaigns/{id}/pause"),
        &olga,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{b}");
    let (status, _) = call(
        &app,
        "POST",
        &format!("/v1/campaigns/{id}/resume"),
        &portal,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, rows) = call(
        &app,
        "GET",
        &format!("/v1/campaigns/{id}/report"),
        &portal,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert_eq!(rows[0]["state"], "not_started");
    let req = Request::builder()
        .uri(format!("/v1/campaigns/{id}/report?format=csv"))
        .header("authorization", format!("Bearer {portal}"))
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(
        res.headers()[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    let csv = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let csv = String::from_utf8(csv.to_vec()).unwrap();
    assert_eq!(csv.lines().count(), 4);
    assert!(
        csv.lines()
            .nth(2)
            .unwrap()
            .starts_with("2,1,b,webservices5,,not_started")
    );

    // The dashboard: the page, its downloads, and resume / abort with form tokens.
    let (status, html) = get(&app, "/dashboard/campaigns", Some(basic("x", &olga))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!("/dashboard/campaigns/{id}")),
        "{html}"
    );
    let page = format!("/dashboard/campaigns/{id}");
    let (status, html) = get(&app, &page, Some(basic("x", &olga))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<b class=\"paused\">paused</b>"), "{html}");
    assert!(html.contains("0 (canary)"), "{html}");
    assert!(html.contains(&format!("{page}/report.csv")));
    let (status, csv) = get(
        &app,
        &format!("{page}/report.csv"),
        Some(basic("x", &portal)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.starts_with("entry,wave,tenant,zone,run,state"));
    let (status, json) = get(
        &app,
        &format!("{page}/report.json"),
        Some(basic("x", &portal)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&json)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let csrf = form_token(&html, &format!("{page}/resume"));
    let (status, location) =
        post_form(&app, &format!("{page}/resume"), basic("x", &olga), &csrf).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some(page.as_str()))
    );
    // The form is spent: posting it again is refused.
    let (status, _) = post_form(&app, &format!("{page}/resume"), basic("x", &olga), &csrf).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, html) = get(&app, &page, Some(basic("x", &olga))).await;
    let csrf = form_token(&html, &format!("{page}/abort"));
    post_form(&app, &format!("{page}/abort"), basic("x", &olga), &csrf).await;
    let c = onboard.campaign(&id).await.unwrap().unwrap();
    assert_eq!(c.state.as_str(), "aborted");
    let who: Vec<_> = c
        .events
        .iter()
        .map(|e| (e.actor.as_str(), e.what.as_str()))
        .collect();
    assert!(
        who.contains(&("olga", "paused")) && who.contains(&("olga", "aborted")),
        "{who:?}"
    );
}

#[tokio::test]
async fn a_cohort_larger_than_the_api_body_limit_is_accepted_by_the_campaign_route() {
    let redis = RedisServer::start();
    let onboard = crate::onboard(&redis, "big").await;
    let app = router(onboard.clone(), ApiConfig::default());
    let olga = onboard
        .tokens
        .add(
            "olga",
            &[Scope::Operate, Scope::Enqueue, Scope::Read],
            Timestamp(0),
        )
        .await
        .unwrap()
        .expose()
        .to_owned();
    let names: Vec<String> = (0..1500).map(|i| format!("tenant-{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let big = body(&names);
    assert!(big.to_string().len() > onboarding_api::MAX_BODY);
    let (status, c) = call(&app, "POST", "/v1/campaigns", &olga, Some(big)).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["tenants"], 1500);
    // Other routes keep the API's limit.
    let mut huge = request("acme");
    huge["tenant_name"] = json!("x".repeat(onboarding_api::MAX_BODY));
    let (status, _) = call(&app, "POST", "/v1/runs", &olga, Some(huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}
