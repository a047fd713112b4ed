//! Scoped tokens over HTTP: each route's scope (401 without a valid token, 403 naming the
//! missing scope), the audit trail's name being the token's, revocation taking effect at the
//! next request, no open writes without tokens, and the dashboard's sign-in scopes and form
//! tokens (bound to the sign-in, the action and the run; expiring after an hour, with the
//! clock injected; used once).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use onboarding_api::{ApiConfig, Clock, FORM_TTL, router};
use onboarding_steps::Timestamp;
use onboarding_worker::service::Onboard;
use onboarding_worker::tokens::Scope;
use redis_test_server::RedisServer;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::dashboard::{basic, get, post_form};
use crate::request;

struct App {
    router: axum::Router,
    onboard: Onboard,
    now: Arc<AtomicU64>,
}

async fn app(redis: &RedisServer, master: Option<&str>, open_reads: bool) -> App {
    let onboard = crate::onboard(redis, "tok").await;
    let now = Arc::new(AtomicU64::new(1_800_000_000_000));
    let clock = {
        let now = now.clone();
        Clock::new(move || Timestamp(now.load(Ordering::SeqCst)))
    };
    let router = router(
        onboard.clone(),
        ApiConfig {
            token: master.map(str::to_owned),
            open_reads,
            clock,
            ..ApiConfig::default()
        },
    );
    App {
        router,
        onboard,
        now,
    }
}

impl App {
    async fn issue(&self, name: &str, scopes: &[Scope]) -> String {
        self.onboard
            .tokens
            .add(name, scopes, Timestamp(0))
            .await
            .unwrap()
            .expose()
            .to_owned()
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        extra: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
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
}

fn error(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn each_route_needs_its_scope_and_the_audit_names_the_token() {
    let redis = RedisServer::start();
    let app = app(&redis, None, false).await;
    let reader = app.issue("dash-reader", &[Scope::Read]).await;
    let portal = app.issue("portal", &[Scope::Enqueue]).await;
    let olga = app.issue("olga", &[Scope::Operate, Scope::Read]).await;

    // Enqueue: only with `enqueue`.
    let (status, body) = app
        .call(
            "POST",
            "/v1/runs",
            Some(&reader),
            &[],
            Some(request("acme")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        error(&body).contains("\"dash-reader\" lacks the scope enqueue"),
        "{body}"
    );
    let (status, body) = app
        .call(
            "POST",
            "/v1/runs",
            Some(&portal),
            &[],
            Some(request("acme")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let run = body["run_id"].as_str().unwrap().to_owned();

    // Reading: only with `read`.
    let path = format!("/v1/runs/{run}");
    let (status, body) = app.call("GET", &path, Some(&portal), &[], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(error(&body).contains("lacks the scope read"), "{body}");
    for token in [&reader, &olga] {
        let (status, _) = app.call("GET", &path, Some(token), &[], None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = app.call("GET", "/v1/dead", Some(token), &[], None).await;
        assert_eq!(status, StatusCode::OK);
    }

    // Operating: only with `operate`; the audit trail names the token, not X-Operator.
    let cancel = format!("/v1/runs/{run}/cancel");
    for token in [&reader, &portal] {
        let (status, body) = app
            .call(
                "POST",
                &cancel,
                Some(token),
                &[("x-operator", "olga")],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(error(&body).contains("lacks the scope operate"), "{body}");
    }
    let (status, body) = app
        .call("POST", "/v1/dead/nope/retry", Some(&reader), &[], None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app
        .call(
            "POST",
            &cancel,
            Some(&olga),
            &[("x-operator", "mallory")],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, got) = app.call("GET", &path, Some(&olga), &[], None).await;
    assert_eq!(got["state"], "cancelled");
    let actors: Vec<Value> = got["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["actor"]["id"].clone())
        .collect();
    assert!(actors.contains(&json!("olga")), "{actors:?}");
    assert!(!actors.contains(&json!("mallory")), "{actors:?}");

    // Nothing in Redis holds a token in clear.
    let mut redis_conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut redis_conn)
        .await
        .unwrap();
    for key in keys {
        let dump: Vec<u8> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(&mut redis_conn)
            .await
            .unwrap_or_default();
        let dump = String::from_utf8_lossy(&dump);
        for token in [&reader, &portal, &olga] {
            assert!(!dump.contains(token.as_str()), "{key} holds a token");
        }
    }
}

#[tokio::test]
async fn a_revoked_or_unknown_token_is_refused_at_the_next_request() {
    let redis = RedisServer::start();
    let app = app(&redis, Some("m4ster"), true).await;
    let olga = app.issue("olga", &[Scope::Read]).await;
    let (status, _) = app.call("GET", "/v1/runs", Some(&olga), &[], None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call("GET", "/v1/runs", None, &[], None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "reads are open only without any token"
    );
    assert!(app.onboard.tokens.revoke("olga").await.unwrap());
    let (status, body) = app.call("GET", "/v1/runs", Some(&olga), &[], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(!body.to_string().contains(&olga), "no token in errors");
    let (status, _) = app
        .call("GET", "/v1/runs", Some("onb_guess"), &[], None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The master token keeps every scope.
    let (status, _) = app
        .call(
            "POST",
            "/v1/runs",
            Some("m4ster"),
            &[],
            Some(request("acme")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn without_any_token_writes_are_refused_and_reads_open_only_on_loopback() {
    let redis = RedisServer::start();
    let open = app(&redis, None, true).await;
    let (status, _) = open.call("GET", "/v1/runs", None, &[], None).await;
    assert_eq!(status, StatusCode::OK, "loopback reads stay open");
    let (status, body) = open
        .call("POST", "/v1/runs", None, &[], Some(request("acme")))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(error(&body).contains("onboard token add"), "{body}");
    let (status, _) = open.call("POST", "/v1/dead/x/retry", None, &[], None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, list) = open.call("GET", "/v1/runs", None, &[], None).await;
    assert_eq!(list, json!([]), "nothing was enqueued");

    let closed = app(&redis, None, false).await;
    let (status, _) = closed.call("GET", "/v1/runs", None, &[], None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "off loopback nothing is open"
    );
}

/// The form token of the first form on the page posting to `action`.
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
async fn dashboard_forms_are_bound_to_the_sign_in_action_and_run_and_expire() {
    let redis = RedisServer::start();
    let app = app(&redis, None, false).await;
    let portal = app.issue("portal", &[Scope::Enqueue]).await;
    let viewer = app.issue("viewer", &[Scope::Read]).await;
    let olga = app.issue("olga", &[Scope::Operate]).await;
    let otto = app.issue("otto", &[Scope::Operate]).await;
    let mut runs = Vec::new();
    for tenant in ["acme", "globex"] {
        let (_, body) = app
            .call(
                "POST",
                "/v1/runs",
                Some(&portal),
                &[],
                Some(request(tenant)),
            )
            .await;
        runs.push(body["run_id"].as_str().unwrap().to_owned());
    }
    let (acme, globex) = (&runs[0], &runs[1]);
    let page = format!("/dashboard/runs/{acme}");
    let cancel = format!("/dashboard/runs/{acme}/cancel");

    // Sign-in: a token with read or operate; the user name is not an identity.
    let (status, _) = get(&app.router, &page, Some(basic("olga", "wrong"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = get(&app.router, &page, Some(basic("x", &portal))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "enqueue alone may not view");
    let (status, html) = get(&app.router, &page, Some(basic("x", &viewer))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("<form"), "a viewer gets no forms: {html}");

    let (_, html) = get(&app.router, &page, Some(basic("mallory", &olga))).await;
    let token = form_token(&html, &cancel);
    let (_, other) = get(
        &app.router,
        &format!("/dashboard/runs/{globex}"),
        Some(basic("mallory", &olga)),
    )
    .await;
    let globex_cancel = form_token(&other, &format!("/dashboard/runs/{globex}/cancel"));

    // Refused: a viewer posting, another sign-in's form, another run's, another action's.
    let (status, _) = post_form(&app.router, &cancel, basic("x", &viewer), &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = post_form(&app.router, &cancel, basic("x", &otto), &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a form of olga's session");
    let (status, _) = post_form(&app.router, &cancel, basic("x", &olga), &globex_cancel).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a form for another run");
    let (status, _) = post_form(
        &app.router,
        &format!("/dashboard/runs/{acme}/retry"),
        basic("x", &olga),
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a cancel form used to retry");

    // Expired after FORM_TTL.
    let start = app.now.load(Ordering::SeqCst);
    app.now
        .store(start + FORM_TTL.as_millis() as u64 + 1, Ordering::SeqCst);
    let (status, _) = post_form(&app.router, &cancel, basic("x", &olga), &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an expired form");
    app.now.store(start + 60_000, Ordering::SeqCst);
    let (status, _) = post_form(&app.router, &cancel, basic("mallory", &olga), &token).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the fresh form works");
    let (status, _) = post_form(&app.router, &cancel, basic("mallory", &olga), &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a form is posted once");
    let (_, got) = app
        .call("GET", &format!("/v1/runs/{acme}"), Some(&viewer), &[], None)
        .await;
    assert_eq!(got["state"], "cancelled");
    let actors: Vec<Value> = got["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["actor"]["id"].clone())
        .collect();
    assert!(actors.contains(&json!("olga")), "{actors:?}");
    assert!(!actors.contains(&json!("mallory")), "{actors:?}");
}
