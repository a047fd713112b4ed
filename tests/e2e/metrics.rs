//! The worker's Prometheus endpoint: step attempts by step and outcome, durations, runs by
//! state, queue depth, Autotask requests by entity and status — and no tenant id in labels.

use std::sync::Arc;

use autotask_sim::SeedApiUser;
use onboarding_worker::metrics::{Metrics, router};

use crate::support::*;

#[tokio::test]
async fn metrics_count_steps_runs_queue_and_requests_without_tenant_labels() {
    let e = env(&["tenant-secret-name"]).await;
    let user = seed(&e.sim, "tenant-secret-name", SeedApiUser::default());
    let metrics = Arc::new(Metrics::default());
    let _w = e.worker_with(2, metrics.clone());
    e.onboarded("tenant-secret-name", &user).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(metrics, e.onboard.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    // (The TLS provider reqwest needs was installed by the Autotask client in `env`.)
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "onboard_step_attempts_total{step=\"ensure_webhooks\",outcome=\"succeeded\"} 1",
        "onboard_step_duration_seconds_count{step=\"ensure_webhooks\"} 1",
        "onboard_runs{state=\"succeeded\"} 1",
        "onboard_runs_waiting_for_operator 0",
        "onboard_queue_jobs{state=\"ready\"} 0",
        "onboard_autotask_requests_total{entity=\"TicketWebhook\",status=\"200\"}",
        "onboard_autotask_requests_total{entity=\"Resource\",status=\"200\"}",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(
        !text.contains("tenant-secret-name"),
        "a tenant id in a label:\n{text}"
    );
}
