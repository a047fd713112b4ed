//! The dashboard's operator features without a browser (the browser story is in the
//! `onboard` crate's tests): filters and search over real runs, a bad filter named, dead
//! letters grouped by step and error class, a paced group retry (recorded in each run's
//! audit trail, its form single-use), a group purge that needs its confirmation, and a
//! form with a valid token posted from another origin refused.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use onboarding_api::{ApiConfig, router};
use onboarding_queue::WorkerId;
use onboarding_worker::service::Onboard;
use redis_test_server::RedisServer;
use serde_json::json;
use tower::ServiceExt;

use crate::dashboard::{basic, get};
use crate::{call, request};

async fn app(redis: &RedisServer) -> (axum::Router, Onboard) {
    let onboard = crate::onboard(redis, "dash").await;
    let app = router(
        onboard.clone(),
        ApiConfig {
            token: Some("t0ken".into()),
            ..ApiConfig::default()
        },
    );
    (app, onboard)
}

fn auth() -> Option<String> {
    Some(basic("olga", "t0ken"))
}

/// The form token of the first form posting to `action` on the page.
fn token_for(html: &str, action: &str) -> String {
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

async fn post(
    app: &axum::Router,
    path: &str,
    body: &str,
    origin: Option<&str>,
) -> (StatusCode, String) {
    let mut req = Request::builder()
        .method("POST")
        .uri(path)
        .header(header::HOST, "localhost")
        .header(header::AUTHORIZATION, basic("olga", "t0ken"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(o) = origin {
        req = req.header(header::ORIGIN, o);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let location = res
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        location.unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
    )
}

async fn enqueue(app: &axum::Router, tenant: &str, kind: &str) -> String {
    let mut req = request(tenant);
    req["kind"] = json!(kind);
    if kind == "change_api_user" {
        req["previous_user"] = json!({"username": "old@acme.example"});
    }
    let (status, body) = call(app, "POST", "/v1/runs", &[], Some(req)).await;
    assert!(status.is_success(), "{body}");
    body["run_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn runs_are_filtered_by_tenant_state_kind_step_and_class_and_searched() {
    let redis = RedisServer::start();
    let (app, _) = app(&redis).await;
    let acme = enqueue(&app, "acme", "onboard").await;
    let globex = enqueue(&app, "globex", "verify").await;

    for (query, shown, hidden) in [
        ("tenant=acme", &acme, &globex),
        ("kind=verify", &globex, &acme),
        ("q=GLOBEX", &globex, &acme),
        (&format!("q={}", &acme[acme.len() - 8..]), &acme, &globex),
        ("state=queued&kind=onboard", &acme, &globex),
    ] {
        let (status, html) = get(&app, &format!("/dashboard?{query}"), auth()).await;
        assert_eq!(status, StatusCode::OK, "{query}: {html}");
        assert!(html.contains(shown.as_str()), "{query} shows {shown}");
        assert!(!html.contains(hidden.as_str()), "{query} hides {hidden}");
    }
    // Both stand at their first step; neither has an error class yet.
    let (_, html) = get(&app, "/dashboard?step=resolve_zone", auth()).await;
    assert!(html.contains(&acme) && html.contains(&globex));
    let (_, html) = get(&app, "/dashboard?class=permanent", auth()).await;
    assert!(html.contains("No run matches.") && !html.contains(&acme));
    let (status, html) = get(&app, "/dashboard?state=stuck", auth()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        html.contains("state: unknown state &quot;stuck&quot;"),
        "{html}"
    );
}

/// Fails every ready job permanently, as a worker would on a permanent error.
async fn kill_ready_jobs(onboard: &Onboard) -> usize {
    let fetched = onboard
        .queue
        .fetch(&WorkerId::new("test"), 100)
        .await
        .unwrap();
    let jobs = fetched.into_jobs();
    for job in &jobs {
        onboard
            .queue
            .fail_permanently(&job.lease, "the run record refused the outcome")
            .await
            .unwrap();
    }
    jobs.len()
}

#[tokio::test]
async fn dead_letters_are_grouped_retried_at_a_pace_and_purged() {
    let redis = RedisServer::start();
    let (app, onboard) = app(&redis).await;
    let runs = [
        enqueue(&app, "acme", "onboard").await,
        enqueue(&app, "globex", "onboard").await,
        enqueue(&app, "initech", "onboard").await,
    ];
    assert_eq!(kill_ready_jobs(&onboard).await, 3);

    let (_, html) = get(&app, "/dashboard/dead", auth()).await;
    assert!(html.contains("3 dead letter(s)"), "{html}");
    assert!(
        html.contains("<th scope=\"row\">resolve_zone</th><td>job_error</td><td>3</td>"),
        "one group of three: {html}"
    );

    // Another origin's post of a valid token is refused and spends nothing.
    let retry = token_for(&html, "/dashboard/dead/group/retry");
    let form = format!("csrf={retry}&group=resolve_zone%7Cjob_error&pace=60");
    let (status, body) = post(
        &app,
        "/dashboard/dead/group/retry",
        &form,
        Some("http://evil.example"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("another origin"), "{body}");
    assert_eq!(onboard.queue.counts().await.unwrap().dead, 3);

    // The group is requeued 60 s apart: one ready now, two scheduled later.
    let (status, location) = post(
        &app,
        "/dashboard/dead/group/retry",
        &form,
        Some("http://localhost"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    assert_eq!(location, "/dashboard/dead?requeued=3");
    let counts = onboard.queue.counts().await.unwrap();
    assert_eq!((counts.dead, counts.ready, counts.scheduled), (0, 1, 2));
    for id in &runs {
        let run = onboard.runs.get(id).await.unwrap().unwrap();
        assert!(
            run.audit
                .iter()
                .any(|a| a.transition == "dead letter retried" && a.detail.contains("requeued")),
            "{id}: the retry is in the audit trail"
        );
    }
    let (status, _) = post(&app, "/dashboard/dead/group/retry", &form, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a form is spent once");

    // Purge: refused without its confirmation (the form stays usable), then done.
    let (_, html) = get(&app, "/dashboard/dead", auth()).await;
    assert!(html.contains("No dead letters."));
    assert_eq!(kill_ready_jobs(&onboard).await, 1);
    let (_, html) = get(&app, "/dashboard/dead", auth()).await;
    let purge = token_for(&html, "/dashboard/dead/group/purge");
    let unconfirmed = format!("csrf={purge}&group=resolve_zone%7Cjob_error");
    let (status, body) = post(&app, "/dashboard/dead/group/purge", &unconfirmed, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("confirm: tick the box"), "{body}");
    let (status, location) = post(
        &app,
        "/dashboard/dead/group/purge",
        &format!("{unconfirmed}&confirm=yes"),
        None,
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/dashboard/dead?purged=1")
    );
    assert_eq!(onboard.queue.counts().await.unwrap().dead, 0);
}
