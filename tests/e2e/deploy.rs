//! What `deploy/` relies on, against a running worker: every metric the Grafana dashboard
//! and the Prometheus alert rules use is exported by a worker that has onboarded a tenant
//! (so a renamed or removed metric fails here, not silently in production), the heartbeat
//! beats, and the worker's `/healthz` and `/readyz` (the Kubernetes probes) answer, with
//! readiness following Redis.

use std::collections::BTreeSet;
use std::sync::Arc;

use autotask_sim::SeedApiUser;
use onboarding_worker::metrics::{Metrics, router};

use crate::support::*;

const DASHBOARD: &str = include_str!("../../deploy/grafana/dashboards/onboard.json");
const RULES: &str = include_str!("../../deploy/prometheus/rules.yml");

/// Every `onboard_*` metric name in the dashboard's queries and the alert rules.
fn metric_names() -> BTreeSet<String> {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).expect("dashboard JSON");
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            queries.push(target["expr"].as_str().expect("expr").to_owned());
        }
    }
    queries.push(RULES.to_owned());
    let mut names = BTreeSet::new();
    for text in &queries {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("onboard_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.insert(tail[..end].to_owned());
            rest = &tail[end..];
        }
    }
    names
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn get(url: String) -> (u16, String) {
    let res = reqwest::get(url).await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn dashboard_and_alerts_use_only_exported_metrics() {
    let names = metric_names();
    assert!(
        names.len() >= 10,
        "the dashboard and rules name too few metrics: {names:?}"
    );
    let e = env(&["deploy-tenant"]).await;
    let user = seed(&e.sim, "deploy-tenant", SeedApiUser::default());
    let metrics = Arc::new(Metrics::default());
    let _w = e.worker_with(2, metrics.clone());
    e.onboarded("deploy-tenant", &user).await;
    let base = serve(router(metrics, e.onboard.clone())).await;
    let (status, text) = get(format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    // Sample names: the name up to the labels or the value, comments skipped.
    let exported: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !exported.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "used by deploy/grafana or deploy/prometheus but not exported: {missing:?}\n{text}"
    );
    let heartbeat: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("onboard_worker_heartbeat_timestamp_seconds "))
        .expect("a heartbeat sample")
        .trim()
        .parse()
        .unwrap();
    assert!(heartbeat > 1.7e9, "the heartbeat never beat: {heartbeat}");
    assert!(
        text.contains("onboard_autotask_threshold_used_ratio_count "),
        "{text}"
    );
    assert!(
        !text.contains("onboard_autotask_threshold_used_ratio_count 0\n"),
        "no step attempt recorded its tenant's budget use:\n{text}"
    );
}

#[tokio::test]
async fn the_worker_probes_answer_and_readiness_follows_redis() {
    let mut e = env(&[]).await;
    let base = serve(router(Arc::new(Metrics::default()), e.onboard.clone())).await;
    assert_eq!(get(format!("{base}/healthz")).await, (200, "ok".into()));
    assert_eq!(get(format!("{base}/readyz")).await, (200, "ready".into()));
    e.redis.kill();
    let (status, body) = get(format!("{base}/readyz")).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("not ready: Redis does not answer"),
        "{body}"
    );
    assert_eq!(get(format!("{base}/healthz")).await.0, 200);
    e.redis.restart();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, _) = get(format!("{base}/readyz")).await;
        if status == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not ready again after Redis came back"
        );
        tokio::task::yield_now().await;
    }
}
