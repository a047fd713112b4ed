//! The retry dashboard: sign-in with a token, what is shown (escaped), and the actions with
//! their form tokens. Scoped sign-ins and form-token binding and expiry: module `tokens`.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use redis_test_server::RedisServer;
use serde_json::json;
use tower::ServiceExt;

use crate::{app, call, request};

pub(crate) fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

pub(crate) async fn get(
    app: &axum::Router,
    path: &str,
    auth: Option<String>,
) -> (StatusCode, String) {
    let mut req = Request::builder().uri(path);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

pub(crate) async fn post_form(
    app: &axum::Router,
    path: &str,
    auth: String,
    csrf: &str,
) -> (StatusCode, Option<String>) {
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header(header::AUTHORIZATION, auth)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf={csrf}")))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let location = res
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_owned());
    (res.status(), location)
}

#[tokio::test]
async fn the_dashboard_shows_runs_and_lets_a_named_operator_act() {
    let redis = RedisServer::start();
    let app = app(&redis).await;
    let mut req = request("acme");
    req["tenant_name"] = json!("<script>alert(1)</script>");
    let (_, body) = call(&app, "POST", "/v1/runs", &[], Some(req)).await;
    let run = body["run_id"].as_str().unwrap().to_owned();

    let (status, _) = get(&app, "/dashboard", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "sign-in is required");
    let (status, _) = get(&app, "/dashboard", Some(basic("olga", "wrong"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, html) = get(&app, "/dashboard", Some(basic("olga", "t0ken"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&run) && html.contains("queued"), "{html}");
    let (status, html) = get(
        &app,
        &format!("/dashboard/runs/{run}"),
        Some(basic("olga", "t0ken")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("verify_webhook_permission") && html.contains("Cancel the run"),
        "{html}"
    );
    assert!(
        !html.contains("<script>alert(1)</script>"),
        "tenant text must be escaped"
    );
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(
        html.contains("trace <a href=\"https://jaeger.example/trace/"),
        "the trace id is not a link into the trace UI: {html}"
    );

    // The cancel form's token, as the page gives it.
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let (status, _) = post_form(
        &app,
        &format!("/dashboard/runs/{run}/cancel"),
        basic("olga", "t0ken"),
        "forged",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a form without the page's token is refused"
    );
    let (status, location) = post_form(
        &app,
        &format!("/dashboard/runs/{run}/cancel"),
        basic("olga", "t0ken"),
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some(format!("/dashboard/runs/{run}").as_str())
    );
    let (_, got) = call(&app, "GET", &format!("/v1/runs/{run}"), &[], None).await;
    assert_eq!(got["state"], "cancelled");
    assert!(
        got["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["actor"]["id"] == "api-token")
    );

    let (status, html) = get(&app, "/dashboard/dead", Some(basic("olga", "t0ken"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Groups by step and error class") && html.contains("No dead letters."),
        "{html}"
    );
}
