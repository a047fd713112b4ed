//! Prometheus metrics of the worker: step attempts by step and outcome, step durations,
//! runs by state, queue depth by state and lag, runs waiting for an operator and how long
//! the oldest has waited, Autotask requests by entity and status, the share of the hourly
//! request budget seen, and a heartbeat. Labels are bounded (step names, outcomes, states,
//! entity names, status codes): never a tenant id, so budget use is a distribution over
//! step attempts, not a series per tenant.
//!
//! Gauges of stored state (runs, queue) are read from Redis when scraped, so every worker
//! reports the same totals. The same listener serves `/healthz` (the process answers) and
//! `/readyz` (Redis answers); it does not serve the API.

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
use std::sync::atomic::AtomicU64;

use onboarding_queue::State as JobState;
use onboarding_steps::run::{Run, RunState};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::runs::RunFilter;
use crate::service::{Onboard, now};

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
    queue_lag: Gauge<f64, AtomicU64>,
    waiting_oldest: Gauge<f64, AtomicU64>,
    threshold_used: Histogram,
    heartbeat: Gauge<f64, AtomicU64>,
}

/// Waiting runs read per scrape to find the oldest (newest first beyond that are skipped).
const WAITING_SCAN: usize = 1000;

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
        let queue_lag = Gauge::<f64, AtomicU64>::default();
        let waiting_oldest = Gauge::<f64, AtomicU64>::default();
        let threshold_used = Histogram::new((1..=10).map(|tenth| f64::from(tenth) / 10.0));
        let heartbeat = Gauge::<f64, AtomicU64>::default();
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
        registry.register(
            "queue_oldest_ready_age_seconds",
            "Queue lag: how long the oldest ready step job has waited for a worker (0 when none)",
            queue_lag.clone(),
        );
        registry.register(
            "runs_waiting_for_operator_oldest_age_seconds",
            "How long the run waiting longest for an operator has waited (0 when none)",
            waiting_oldest.clone(),
        );
        registry.register(
            "autotask_threshold_used_ratio",
            "Share of a tenant's hourly Autotask request budget used, seen after each step attempt",
            threshold_used.clone(),
        );
        registry.register(
            "worker_heartbeat_timestamp_seconds",
            "When this worker's loop last reported alive (Unix seconds)",
            heartbeat.clone(),
        );
        Self {
            registry,
            step_attempts,
            step_duration,
            runs,
            waiting,
            queue,
            requests,
            queue_lag,
            waiting_oldest,
            threshold_used,
            heartbeat,
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

    /// The share of a tenant's hourly budget used, as read after a step attempt.
    pub fn threshold_used(&self, ratio: f64) {
        self.threshold_used.observe(ratio);
    }

    /// The worker is alive now.
    pub fn heartbeat(&self) {
        self.heartbeat.set(now().0 as f64 / 1000.0);
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
        let at = now().0;
        let age = |since: u64| at.saturating_sub(since) as f64 / 1000.0;
        if let Ok(oldest) = onboard.queue.oldest(JobState::Ready).await {
            self.queue_lag.set(oldest.map_or(0.0, age));
        }
        let waiting = RunFilter {
            state: Some(RunState::WaitingForOperator),
            tenant: None,
        };
        if let Ok(runs) = onboard.runs.list(&waiting, 0, WAITING_SCAN).await {
            let oldest = runs.iter().map(waiting_since).min();
            self.waiting_oldest.set(oldest.map_or(0.0, age));
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// When the run last entered `waiting_for_operator` (its last update if the audit trail
/// does not say).
fn waiting_since(run: &Run) -> u64 {
    run.audit
        .iter()
        .rev()
        .find(|e| e.step.is_none() && e.transition.ends_with("-> waiting_for_operator"))
        .map_or(run.updated_at, |e| e.at)
        .0
}

/// `GET /metrics`, `/healthz` (the process answers) and `/readyz` (Redis answers: 200
/// `ready`, else 503 naming the failure) for the worker.
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
    async fn ready(State((_, onboard)): State<(Arc<Metrics>, Onboard)>) -> impl IntoResponse {
        readiness(&onboard).await
    }
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state((metrics, onboard))
}

/// Whether Redis answers (the queue's and the run store's connection): `200 ready`, or
/// `503` naming the failure. Shared by the worker's `/readyz` and the API's.
pub async fn readiness(onboard: &Onboard) -> (StatusCode, String) {
    match onboard.queue.counts().await {
        Ok(_) => (StatusCode::OK, "ready".to_owned()),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: Redis does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: Redis does not answer ({e})"),
            )
        }
    }
}
