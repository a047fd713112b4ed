//! What `deploy/` relies on, against a running worker: every metric the Grafana dashboard
//! and the Prometheus alert rules use is exported by a worker that has onboarded a tenant
//! (so a renamed or removed metric fails here, not silently in production), the heartbeat
//! beats, and the worker's `/healthz` and `/readyz` (the Kubernetes probes) answer, with
//! readiness following Redis; a real Prometheus (Debian's, installed by `make deps`) scrapes
//! a running worker and evaluates the alert rules on what it scraped.

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
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
    loop {
        let (status, _) = get(format!("{base}/readyz")).await;
        if status == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not ready again after Redis came back"
        );
        tick.tick().await;
    }
}

/// Polls `url` (a Prometheus API call) until `done` holds for its JSON, or panics naming
/// `what` after `secs`.
async fn poll(url: &str, secs: u64, what: &str, done: impl Fn(&serde_json::Value) -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    let mut last = String::new();
    loop {
        if let Ok(res) = reqwest::get(url).await {
            last = res.text().await.unwrap_or_default();
            if let Ok(json) = serde_json::from_str::<serde_json::Value>(&last) {
                if done(&json) {
                    return;
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {secs} s; last answer: {last}"
        );
        tick.tick().await;
    }
}

#[tokio::test]
async fn a_real_prometheus_scrapes_a_worker_and_evaluates_the_rules() {
    let e = env(&["prom-tenant"]).await;
    let user = seed(&e.sim, "prom-tenant", SeedApiUser::default());
    let metrics = Arc::new(Metrics::default());
    let _w = e.worker_with(1, metrics.clone());
    e.onboarded("prom-tenant", &user).await;
    let worker = serve(router(metrics, e.onboard.clone())).await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    let target = worker.trim_start_matches("http://");
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n\
             scrape_configs:\n  - job_name: onboard-worker\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _prometheus = tokio::process::Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus (Debian's package; `make deps` installs it)");
    let api = format!("http://127.0.0.1:{port}/api/v1");
    poll(
        &format!("{api}/query?query=onboard_step_attempts_total%7Bjob%3D%22onboard-worker%22%2Coutcome%3D%22succeeded%22%7D"),
        60,
        "Prometheus scrapes the worker's step attempts",
        |j| j["data"]["result"].as_array().is_some_and(|r| !r.is_empty()),
    )
    .await;
    // Every rule group loaded and evaluated on the scraped data without error; the
    // heartbeat alert is quiet because the worker beats.
    poll(
        &format!("{api}/rules"),
        30,
        "the alert rules evaluate cleanly",
        |j| {
            let rules: Vec<&serde_json::Value> = j["data"]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().into_iter().flatten())
                .collect();
            rules.len() == 7
                && rules.iter().all(|r| {
                    r["health"] == "ok"
                        && !r["lastEvaluation"]
                            .as_str()
                            .unwrap_or("0001")
                            .starts_with("0001")
                })
        },
    )
    .await;
    // The heartbeat rule's condition, on what Prometheus scraped: the worker beats, so it
    // is empty (absent() alone would make it 1).
    let heartbeat = RULES
        .split("alert: OnboardNoWorkerHeartbeat")
        .nth(1)
        .and_then(|r| r.split("expr: |").nth(1))
        .and_then(|r| r.split("for:").next())
        .expect("the heartbeat rule's expression")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let query: String = url::form_urlencoded::byte_serialize(heartbeat.as_bytes()).collect();
    poll(
        &format!("{api}/query?query={query}"),
        10,
        "the heartbeat rule's condition is false while the worker beats",
        |j| {
            j["status"] == "success" && j["data"]["result"].as_array().is_some_and(|r| r.is_empty())
        },
    )
    .await;
}
