//! Prometheus metrics of the worker: step attempts by step and outcome, step durations,
//! runs by state, queue depth by state, runs waiting for an operator, and Autotask requests
//! by entity and status. Labels are bounded (step names, outcomes, states, entity names,
//! status codes): never a tenant id.
//!
//! Gauges of stored state (runs, queue) are read from Redis when scraped, so every worker
//! reports the same totals.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::service::Onboard;

type Labels = Vec<(&'static str, String)>;

/// The worker's metrics.
pub struct Metrics {
    registry: Registry,
    step_attempts: Family<Labels, Counter>,
    step_duration: Family<Labels, Histogram>,
    runs: Family<Labels, Gauge>,
    waiting: Gauge,
    queue: Family<Labels, Gauge>,
    requests: Family<Labels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("onboard");
        let step_attempts = Family::<Labels, Counter>::default();
        let step_duration = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        let runs = Family::<Labels, Gauge>::default();
        let waiting = Gauge::default();
        let queue = Family::<Labels, Gauge>::default();
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "step_attempts",
            "Step attempts by step and outcome",
            step_attempts.clone(),
        );
        registry.register(
            "step_duration_seconds",
            "Duration of step attempts",
            step_duration.clone(),
        );
        registry.register("runs", "Runs by state", runs.clone());
        registry.register(
            "runs_waiting_for_operator",
            "Runs waiting for an operator",
            waiting.clone(),
        );
        registry.register(
            "queue_jobs",
            "Step jobs in the queue by state",
            queue.clone(),
        );
        registry.register(
            "autotask_requests",
            "Autotask requests by entity and status",
            requests.clone(),
        );
        Self {
            registry,
            step_attempts,
            step_duration,
            runs,
            waiting,
            queue,
            requests,
        }
    }
}

impl Metrics {
    /// One step attempt finished.
    pub fn step_finished(&self, step: &str, outcome: &str, took: Duration) {
        self.step_attempts
            .get_or_create(&vec![
                ("step", step.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
        self.step_duration
            .get_or_create(&vec![("step", step.to_owned())])
            .observe(took.as_secs_f64());
    }

    /// One Autotask request answered (`status` 0 when no answer came).
    pub fn autotask_request(&self, entity: &str, status: u16) {
        self.requests
            .get_or_create(&vec![
                ("entity", entity.to_owned()),
                ("status", status.to_string()),
            ])
            .inc();
    }

    /// The text exposition, after reading the stored gauges.
    pub async fn render(&self, onboard: &Onboard) -> String {
        if let Ok(counts) = onboard.runs.counts().await {
            for (state, n) in counts {
                self.runs
                    .get_or_create(&vec![("state", state.to_owned())])
                    .set(n as i64);
                if state == "waiting_for_operator" {
                    self.waiting.set(n as i64);
                }
            }
        }
        if let Ok(c) = onboard.queue.counts().await {
            for (state, n) in [
                ("ready", c.ready),
                ("scheduled", c.scheduled),
                ("running", c.running),
                ("done", c.done),
                ("dead", c.dead),
            ] {
                self.queue
                    .get_or_create(&vec![("state", state.to_owned())])
                    .set(n as i64);
            }
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// `GET /metrics` (and `/healthz`) for the worker.
pub fn router(metrics: Arc<Metrics>, onboard: Onboard) -> Router {
    async fn scrape(
        State((metrics, onboard)): State<(Arc<Metrics>, Onboard)>,
    ) -> impl IntoResponse {
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            metrics.render(&onboard).await,
        )
    }
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok" }))
        .with_state((metrics, onboard))
}
