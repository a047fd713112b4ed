//! The test harness: a private Redis, the simulator, the wired service, workers in threads,
//! waiting on run records, and one process-wide telemetry capture (logs into a buffer, spans
//! over OTLP/HTTP to a receiver inside the test binary).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use autotask_sim::{SeedApiUser, SeededApiUser, SimConfig, SimHandle};
use onboard_e2e::WorkerEnv;
use onboarding_steps::TenantSettings;
use onboarding_steps::run::{Run, RunKind, RunState, StepState};
use onboarding_worker::metrics::Metrics;
use onboarding_worker::secrets::SecretBox;
use onboarding_worker::service::{ApiCredentials, EnqueueRequest, Onboard};
use onboarding_worker::worker::{Handler, run_worker};
use redis_test_server::{Options, RedisServer, unique_name};
use tracing_subscriber::layer::SubscriberExt;

/// One test's world.
pub struct Env {
    pub redis: RedisServer,
    pub sim: SimHandle,
    pub worker_env: WorkerEnv,
    pub onboard: Onboard,
}

/// Redis, the simulator with these databases, and the service.
pub async fn env(databases: &[&str]) -> Env {
    env_with(databases, |_| {}).await
}

/// [`env`] with the simulator playing `profile` (`strict`: the pessimistic side of every
/// behaviour Autotask leaves open).
pub async fn env_in(profile: autotask_sim::Profile, databases: &[&str]) -> Env {
    env_with(databases, |c| *c = std::mem::take(c).with_profile(profile)).await
}

/// [`env`] with the simulator's configuration changed by `adjust`.
pub async fn env_with(databases: &[&str], adjust: impl FnOnce(&mut SimConfig)) -> Env {
    env_full(databases, Options::default(), adjust).await
}

/// [`env_with`] and a Redis started with `redis` options.
pub async fn env_full(
    databases: &[&str],
    redis: Options,
    adjust: impl FnOnce(&mut SimConfig),
) -> Env {
    telemetry();
    let redis = RedisServer::private(redis);
    let mut config = SimConfig::default();
    adjust(&mut config);
    for db in databases {
        config = config.with_database(db);
    }
    let sim = autotask_sim::spawn(config).await.expect("simulator");
    let worker_env = WorkerEnv {
        redis_url: redis.url().to_owned(),
        sentinels: Vec::new(),
        sentinel_master: String::new(),
        prefix: unique_name("e2e"),
        key: SecretBox::generate_key(),
        base_url: sim.base_url().to_owned(),
        lease: Duration::from_secs(2),
    };
    let onboard = worker_env.connect().await.expect("connect");
    Env {
        redis,
        sim,
        worker_env,
        onboard,
    }
}

/// A worker on its own thread and runtime; stops (finishing its steps) when dropped.
pub struct WorkerThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Env {
    /// Starts a worker with `concurrency` steps at once.
    pub fn worker(&self, concurrency: usize) -> WorkerThread {
        self.worker_with(concurrency, Arc::new(Metrics::default()))
    }

    /// Starts a worker that counts into `metrics`.
    pub fn worker_with(&self, concurrency: usize, metrics: Arc<Metrics>) -> WorkerThread {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let env = self.worker_env.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let onboard = env.connect().await.expect("worker connect");
                let handler = Handler::new(onboard, metrics, unique_name("e2e-worker"));
                let _ = run_worker(handler, concurrency, async move {
                    let _ = stopped.await;
                })
                .await;
            });
        });
        WorkerThread {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Waits until the run has ended (or panics after `secs`), answering attested steps as
    /// an operator would.
    pub async fn finish(&self, run_id: &str, secs: u64) -> Run {
        self.until(run_id, secs, "the run ends", |r| r.state.is_final())
            .await
    }

    /// Waits until `check` holds for the run, answering attested steps meanwhile. Redis
    /// errors (a restarting server) count as "not yet".
    pub async fn until(
        &self,
        run_id: &str,
        secs: u64,
        what: &str,
        check: impl Fn(&Run) -> bool,
    ) -> Run {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        let mut last = None;
        loop {
            if let Ok(Some(run)) = self.onboard.runs.get(run_id).await {
                if check(&run) {
                    return run;
                }
                for record in &run.steps {
                    if let StepState::WaitingForOperator {
                        next_check: None, ..
                    } = record.state
                    {
                        let _ = self
                            .onboard
                            .acknowledge(run_id, record.step, "e2e-operator")
                            .await;
                    }
                }
                last = Some(run);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {run_id}: {what} did not happen in {secs} s: {:#?}",
                last.as_ref().map(summary)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Onboards `user` of `tenant` and waits for success.
    pub async fn onboarded(&self, tenant: &str, user: &SeededApiUser) -> Run {
        let r = self
            .onboard
            .enqueue(request(RunKind::Onboard, tenant, user), None)
            .await
            .unwrap();
        let run = self.finish(&r.run_id, 30).await;
        assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
        run
    }
}

impl Drop for WorkerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One line per step: name, state, attempts.
pub fn summary(run: &Run) -> Vec<String> {
    let mut lines = vec![format!(
        "run {}: {}",
        run.request.kind.as_str(),
        run.state.as_str()
    )];
    for s in &run.steps {
        lines.push(format!(
            "{} {} attempts={} {:?}",
            s.step.as_str(),
            s.state.status().as_str(),
            s.attempts,
            s.state
        ));
    }
    lines
}

/// A seeded API user (the seed done by the book unless changed).
pub fn seed(sim: &SimHandle, db: &str, seed: SeedApiUser) -> SeededApiUser {
    let user = sim.db(db).unwrap().seed_api_user(&seed).unwrap();
    remember_secret(&user.secret);
    remember_secret(&user.integration_code);
    user
}

pub fn credentials(u: &SeededApiUser) -> ApiCredentials {
    ApiCredentials {
        integration_code: u.integration_code.clone(),
        username: u.user_name.clone(),
        secret: u.secret.clone(),
    }
}

/// A request for `tenant` with default settings.
pub fn request(kind: RunKind, tenant: &str, new: &SeededApiUser) -> EnqueueRequest {
    let settings: TenantSettings = serde_json::from_value(serde_json::json!({
        "webhook_url_base": "https://hooks.sophos.example/autotask",
    }))
    .unwrap();
    EnqueueRequest {
        kind,
        tenant_id: tenant.to_owned(),
        tenant_name: String::new(),
        settings,
        new_user: credentials(new),
        previous_user: None,
        admin: None,
        idempotency_key: None,
        dry_run: false,
        bulk: false,
    }
}

/// The Ticket webhooks of a simulated database, as stored.
pub fn ticket_webhooks(sim: &SimHandle, db: &str) -> Vec<serde_json::Value> {
    sim.db(db)
        .unwrap()
        .webhooks(autotask_types::WebhookFamily::Ticket)
}

// ---- process-wide telemetry capture ----

/// Everything logged by any test in this binary.
pub static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// Every secret any test handed to onboard.
pub static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Spans received over OTLP: (trace id hex, span name, attributes as "key=value").
pub static SPANS: Mutex<Vec<(String, String, Vec<String>)>> = Mutex::new(Vec::new());

pub fn remember_secret(s: &str) {
    SECRETS.lock().unwrap().push(s.to_owned());
}

struct LogWriter;
impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The tracer provider, to flush spans before checking them.
pub static PROVIDER: OnceLock<opentelemetry_sdk::trace::SdkTracerProvider> = OnceLock::new();

/// Installs the capture once: logs at debug into [`LOGS`], spans to an OTLP receiver that
/// fills [`SPANS`].
pub fn telemetry() {
    PROVIDER.get_or_init(|| {
        let endpoint = otlp_receiver();
        let config = onboarding_telemetry::TelemetryConfig {
            service_name: "onboard-e2e".into(),
            log_format: onboarding_telemetry::LogFormat::Json,
            log_filter: "debug".into(),
            otlp_traces_endpoint: Some(endpoint),
        };
        let provider = onboarding_telemetry::tracer_provider(&config).unwrap();
        let subscriber = tracing_subscriber::registry()
            .with(onboarding_telemetry::otel_layer(&provider))
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(|| LogWriter)
                    .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG),
            );
        tracing::subscriber::set_global_default(subscriber).unwrap();
        provider
    });
}

use tracing_subscriber::Layer as _;

/// An OTLP/HTTP receiver on loopback, in a thread of its own; returns its traces URL.
fn otlp_receiver() -> String {
    use prost::Message;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(|body: axum::body::Bytes| async move {
                    let req = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(body).unwrap();
                    let mut spans = SPANS.lock().unwrap();
                    for rs in req.resource_spans {
                        for ss in rs.scope_spans {
                            for span in ss.spans {
                                let trace: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                                let attrs = span
                                    .attributes
                                    .iter()
                                    .map(|kv| format!("{}={:?}", kv.key, kv.value.as_ref().and_then(|v| v.value.clone())))
                                    .collect();
                                spans.push((trace, span.name, attrs));
                            }
                        }
                    }
                    axum::http::StatusCode::OK
                }),
            );
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}/v1/traces", rx.recv().unwrap())
}

/// Polls `check` every 20 ms until it holds, or panics naming `what` after `secs`.
pub async fn wait_for<F: std::future::Future<Output = bool>>(
    secs: u64,
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen in {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the tenant's care record satisfies `check` (the worker registers a run's
/// tenant right after it records the run's success) and returns it.
pub async fn care_until(
    e: &Env,
    tenant: &str,
    check: impl Fn(&onboarding_worker::care::CareRecord) -> bool,
) -> onboarding_worker::care::CareRecord {
    let found = std::sync::Mutex::new(None);
    let (found_ref, check) = (&found, &check);
    wait_for(
        10,
        &format!("{tenant}'s care record as expected"),
        move || async move {
            let care = e.onboard.care_record(tenant).await.unwrap();
            let ok = care.as_ref().is_some_and(check);
            *found_ref.lock().unwrap() = care;
            ok
        },
    )
    .await;
    found.into_inner().unwrap().expect("found")
}
