//! The HTTP API, called without sockets (`oneshot` on the router) against a private
//! `redis-server`: authentication, enqueue with idempotency and field errors, reading runs,
//! operator actions with the token's name, scoped tokens (module `tokens`), dead letters, the OpenAPI document, trace
//! links, and readiness following Redis.

mod campaigns;
mod dashboard;
mod dashboard_ops;
mod tls;
mod tokens;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use onboarding_api::{ApiConfig, OPENAPI, router};
use onboarding_worker::secrets::SecretBox;
use onboarding_worker::setup::{Setup, connect, fast_policy};
use redis_test_server::{RedisServer, unique_name};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The trace link template the tests' API is configured with.
const TRACE_URL: &str = "https://jaeger.example/trace/{trace_id}";

/// The service on a private Redis under a fresh prefix, with Autotask out of reach.
async fn onboard(redis: &RedisServer, prefix: &str) -> onboarding_worker::service::Onboard {
    let setup = Setup {
        redis: onboarding_queue::RedisSettings::url(redis.url()),
        prefix: unique_name(prefix),
        autotask_base_url: Some(url::Url::parse("http://127.0.0.1:9").unwrap()),
        lease: Duration::from_secs(5),
        budget_share: 0.5,
        policy: fast_policy(),
    };
    let key = SecretBox::from_base64(&SecretBox::generate_key(), "test").unwrap();
    connect(&setup, key).await.unwrap()
}

async fn app(redis: &RedisServer) -> axum::Router {
    router(
        onboard(redis, "api").await,
        ApiConfig {
            token: Some("t0ken".into()),
            trace_links: onboarding_telemetry::TraceLinks::new(TRACE_URL).unwrap(),
            hosts: vec!["onboard.example".into(), "localhost".into()],
            ..ApiConfig::default()
        },
    )
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer t0ken");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
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

fn request(tenant: &str) -> Value {
    json!({
        "kind": "onboard",
        "tenant_id": tenant,
        "settings": {"webhook_url_base": "https://hooks.example/at"},
        "new_user": {"integration_code": "CODE", "username": "api@acme.example", "secret": "s3cret-value"}
    })
}

#[tokio::test]
async fn enqueue_read_and_steer_runs_over_http() {
    let redis = RedisServer::start();
    let app = app(&redis).await;

    let (status, body) = call(
        &app,
        "POST",
        "/v1/runs",
        &[("idempotency-key", "portal-1")],
        Some(request("acme")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let run = body["run_id"].as_str().unwrap().to_owned();
    let (status, again) = call(
        &app,
        "POST",
        "/v1/runs",
        &[("idempotency-key", "portal-1")],
        Some(request("acme")),
    )
    .await;
    assert_eq!(
        (status, again["run_id"].as_str()),
        (StatusCode::OK, Some(run.as_str()))
    );
    let mut other = request("acme");
    other["tenant_name"] = json!("changed");
    let (status, body) = call(
        &app,
        "POST",
        "/v1/runs",
        &[("idempotency-key", "portal-1")],
        Some(other),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (status, got) = call(&app, "GET", &format!("/v1/runs/{run}"), &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["state"], "queued");
    let link = got["trace_url"].as_str().expect("a trace link");
    let trace_id = link.strip_prefix("https://jaeger.example/trace/").unwrap();
    assert_eq!(trace_id.len(), 32, "{link}");
    assert!(
        got["trace"].to_string().contains(trace_id),
        "the link is not the run's trace: {link} {}",
        got["trace"]
    );
    assert!(
        !got.to_string().contains("s3cret-value"),
        "a secret in the run record"
    );
    let (_, list) = call(&app, "GET", "/v1/runs?state=queued&tenant=acme", &[], None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    let (status, _) = call(
        &app,
        "POST",
        &format!("/v1/runs/{run}/steps/confirm_vendor_active/ack"),
        &[("x-operator", "olga")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        &app,
        "POST",
        &format!("/v1/runs/{run}/retry"),
        &[("x-operator", "olga")],
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "only failed runs are retried: {body}"
    );
    let (status, _) = call(
        &app,
        "POST",
        &format!("/v1/runs/{run}/cancel"),
        &[("x-operator", "olga")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, got) = call(&app, "GET", &format!("/v1/runs/{run}"), &[], None).await;
    assert_eq!(got["state"], "cancelled");
    let actors: Vec<_> = got["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["actor"]["id"].clone())
        .collect();
    // The authenticated token's name, never the claimed X-Operator.
    assert!(actors.contains(&json!("api-token")), "{actors:?}");
    assert!(!actors.contains(&json!("olga")), "{actors:?}");

    let (status, dead) = call(&app, "GET", "/v1/dead", &[], None).await;
    assert_eq!((status, dead), (StatusCode::OK, json!([])));
    let (status, _) = call(
        &app,
        "POST",
        "/v1/dead/nope/retry",
        &[("x-operator", "olga")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_requests_name_what_is_wrong_and_store_nothing() {
    let redis = RedisServer::start();
    let app = app(&redis).await;
    let mut bad = request("acme");
    bad["new_user"]["secret"] = json!(42);
    let (status, body) = call(&app, "POST", "/v1/runs", &[], Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("body at new_user.secret:"),
        "{body}"
    );
    let (status, body) = call(&app, "POST", "/v1/runs", &[], Some(request("acme corp"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"].as_str().unwrap().contains("tenant_id"),
        "{body}"
    );
    let (status, body) = call(&app, "GET", "/v1/runs?state=sleeping", &[], None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("state: unknown state \"sleeping\""),
        "{body}"
    );
    // Out-of-range or malformed parameters are refused, naming them (never clamped), and
    // axum's own refusals (a query it cannot read) are JSON errors too.
    for (query, error) in [
        (
            "limit=501",
            "limit: \"501\" is not a whole number from 1 to 500",
        ),
        (
            "limit=0",
            "limit: \"0\" is not a whole number from 1 to 500",
        ),
        (
            "limit=ten",
            "limit: \"ten\" is not a whole number from 1 to 500",
        ),
        (
            "tenant=acme%20corp",
            "tenant: \"acme corp\" is not a tenant id",
        ),
        (
            "state=queued&state=failed",
            "Failed to deserialize query string: duplicate field `state`",
        ),
    ] {
        let (status, body) = call(&app, "GET", &format!("/v1/runs?{query}"), &[], None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            body["error"].as_str().is_some_and(|e| e.starts_with(error)),
            "{query}: {body}"
        );
    }
    let (status, list) = call(&app, "GET", "/v1/runs?limit=500", &[], None).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    // The body's idempotency key is checked even when the header replaces it.
    let mut empty_key = request("acme");
    empty_key["idempotency_key"] = json!("");
    let (status, body) = call(
        &app,
        "POST",
        "/v1/runs",
        &[("idempotency-key", "k1")],
        Some(empty_key),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["error"],
        "idempotency_key: must be 1 to 200 characters"
    );
    let (status, _) = call(&app, "GET", "/v1/runs/nope", &[], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = call(&app, "GET", "/v1/runs", &[], None).await;
    assert_eq!(list, json!([]), "nothing was stored");
}

#[tokio::test]
async fn every_v1_route_needs_the_token_and_the_document_is_served() {
    let redis = RedisServer::start();
    let app = app(&redis).await;
    for (method, path) in [
        ("GET", "/v1/runs"),
        ("POST", "/v1/runs"),
        ("GET", "/v1/dead"),
        ("POST", "/v1/runs/x/cancel"),
    ] {
        let res = app
            .clone()
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        let res = app
            .clone()
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(path)
                    .header("authorization", "Bearer wrong")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // Every route the router serves is documented.
    for path in [
        "/v1/runs",
        "/v1/runs/{id}",
        "/v1/runs/{id}/steps/{step}/ack",
        "/v1/runs/{id}/retry",
        "/v1/runs/{id}/cancel",
        "/v1/dead",
        "/v1/dead/{job}/retry",
        "/v1/drift",
        "/callouts/deactivated/{tenant}/{user}/{family}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
}

#[tokio::test]
async fn readiness_follows_redis_and_liveness_does_not() {
    let mut redis = RedisServer::private(redis_test_server::Options::default());
    let app = app(&redis).await;
    let get = |path: &'static str| {
        let app = app.clone();
        async move {
            let res = app
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 1 << 16)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    assert_eq!(get("/readyz").await, (StatusCode::OK, "ready".to_owned()));
    assert_eq!(get("/healthz").await.0, StatusCode::OK);
    redis.kill();
    let (status, body) = get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body.starts_with("not ready: Redis does not answer"),
        "{body}"
    );
    assert_eq!(
        get("/healthz").await.0,
        StatusCode::OK,
        "liveness must not follow Redis (a restart would not help)"
    );
}

/// A request as a browser on another site could send it.
async fn raw(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn foreign_hosts_form_posts_framing_and_huge_bodies_are_refused() {
    let redis = RedisServer::private(Default::default());
    let app = app(&redis).await;
    let get = |path: &str, host: &str| {
        Request::builder()
            .uri(path)
            .header("host", host)
            .header("authorization", "Bearer t0ken")
            .body(Body::empty())
            .unwrap()
    };
    // DNS rebinding: a page on evil.example resolving to us sends its own Host.
    for path in ["/v1/runs", "/dashboard"] {
        let (status, _, body) = raw(&app, get(path, "evil.example:8080")).await;
        assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{path}");
        assert!(
            body.contains("evil.example") && body.contains("is not one this API answers to"),
            "{body}"
        );
    }
    let (status, _, _) = raw(&app, get("/v1/runs", "onboard.example:8443")).await;
    assert_eq!(status, StatusCode::OK, "a configured host");
    let (status, _, _) = raw(&app, get("/healthz", "10.0.0.7:8080")).await;
    assert_eq!(status, StatusCode::OK, "probes come with the pod's address");

    // A cross-site form posts text/plain or a form encoding, never JSON.
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let req = Request::builder()
            .method("POST")
            .uri("/v1/runs")
            .header("authorization", "Bearer t0ken")
            .header("content-type", content_type)
            .body(Body::from(request("acme").to_string()))
            .unwrap();
        let (status, _, body) = raw(&app, req).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
        assert!(body.contains("application/json"), "{body}");
    }

    // Every response says: no framing, no sniffing.
    let (_, headers, _) = raw(&app, get("/dashboard", "localhost")).await;
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");

    // An explicit body limit.
    let huge = json!({"kind": "onboard", "tenant_name": "x".repeat(onboarding_api::MAX_BODY)});
    let req = Request::builder()
        .method("POST")
        .uri("/v1/runs")
        .header("authorization", "Bearer t0ken")
        .header("content-type", "application/json")
        .body(Body::from(huge.to_string()))
        .unwrap();
    let (status, _, _) = raw(&app, req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (_, runs) = call(&app, "GET", "/v1/runs", &[], None).await;
    assert_eq!(runs, json!([]), "nothing refused was stored");
}
