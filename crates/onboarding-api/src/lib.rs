//! The HTTP API of onboard (axum): what upstream systems call to enqueue onboarding runs and
//! what operators call to watch and steer them. Every route is a thin edge over
//! `onboarding_worker::service::Onboard`; the run record in Redis stays the source of truth.
//!
//! | method and path | what |
//! |---|---|
//! | `POST /v1/runs` | enqueue (body: the enqueue request; `Idempotency-Key` and `traceparent` headers honoured) → 201 new, 200 existing, 409 conflict |
//! | `GET /v1/runs?state=&tenant=&limit=` | runs, newest first (`limit` 1 to 500, default 50; a bad parameter is a 400 naming it) |
//! | `GET /v1/runs/{id}` | one run: steps, attempts, errors, operator checklist, audit trail, and `trace_url` (a link to the run's trace when a template is configured) |
//! | `POST /v1/runs/{id}/steps/{step}/ack` | an operator acknowledges an attested step |
//! | `POST /v1/runs/{id}/retry`, `POST /v1/runs/{id}/cancel` | operator actions |
//! | `GET /v1/dead`, `POST /v1/dead/{job}/retry` | dead letters |
//! | `/v1/campaigns...` | campaigns: create, list, show, pause, resume, abort, report (module `campaigns`) |
//! | `GET /v1/drift?tenant=&limit=` | drift findings (scheduled checks, deactivation callouts) and refused callouts (module `drift`; page `/dashboard/drift`) |
//! | `GET /v1/care/{tenant}`, `POST /v1/care/{tenant}/check`, `DELETE /v1/care/{tenant}` | a tenant under care: show it, check it for drift now, take it out of care (module `drift`) |
//! | `POST {deactivation path}/{tenant}/{user}/{family}` | Autotask's deactivation callouts: no token, signed (module `callouts`; the caller merges [`callouts::router`]) |
//! | `GET /openapi.json` | this API's OpenAPI 3.1 description |
//! | `GET /dashboard`, `/dashboard/runs/{id}`, `/dashboard/dead` and their forms | the retry dashboard (module `dashboard`) |
//! | `GET /dashboard/campaigns`, `/dashboard/campaigns/{id}` | campaigns: waves, failures, report as CSV and JSON (module `dashboard_campaigns`) |
//! | `GET /healthz` | liveness: the process answers |
//! | `GET /readyz` | readiness: Redis answers (503 naming the failure otherwise) |
//! | `GET /metrics` | Prometheus: the stored totals (runs by state, queue depth and lag, waiting runs); step and request counters stay zero here (workers count them) |
//!
//! Browser safety: `/v1` and `/dashboard` answer only to the configured host names
//! (`ApiConfig::hosts`, 421 otherwise: a DNS-rebinding page cannot reach them), a `/v1` POST
//! with a body must be `application/json` (415: a cross-site form cannot send it), bodies are
//! limited to [`MAX_BODY`] (413), and every response forbids framing and MIME sniffing
//! (`Content-Security-Policy` with `frame-ancestors 'none'`, `X-Frame-Options: DENY`,
//! `X-Content-Type-Options: nosniff`).
//!
//! Authentication (module `auth`): every `/v1` route needs `Authorization: Bearer <token>`,
//! a scoped token issued with `onboard token add NAME --scope enqueue,operate,read` (shown
//! once, stored only as a salted HMAC, revoked with `onboard token revoke NAME`, effective at
//! the next request) or the legacy master token `ONBOARD_API_TOKEN` (name `api-token`, every
//! scope). `GET` routes need `read`, `POST /v1/runs` needs `enqueue`, the operator actions and
//! dead-letter retries need `operate`: 401 without a valid token, 403 naming the missing
//! scope. The audit trail records the token's name (`X-Operator` is ignored). Without any
//! token, reads are open only on a loopback listener and writes are refused. Errors are
//! `{"error": "..."}` naming what is wrong (axum's own refusals of an unreadable query,
//! path or body included, module function `json_refusals`), each status documented in
//! `openapi.json`; a bad request changes nothing. Bodies carry API
//! secrets: serve it over TLS, its own (module [`tls`]: `api.tls_cert_file`,
//! `api.tls_key_file`) or a proxy's.

mod auth;
pub mod callouts;
mod campaigns;
mod dashboard;
mod dashboard_campaigns;
mod drift;
pub mod tls;

pub use auth::{Clock, FORM_TTL, required_scope};

use auth::Caller;
use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use onboarding_steps::StepName;
use onboarding_steps::run::{Run, RunState};
use onboarding_telemetry::TraceLinks;
use onboarding_worker::metrics::Metrics;
use onboarding_worker::runs::RunFilter;
use onboarding_worker::service::{EnqueueRequest, Onboard, OperatorAction, ServiceError};
use serde::Deserialize;
use serde_json::json;

/// The OpenAPI description served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// API settings.
#[derive(Clone, Default)]
pub struct ApiConfig {
    /// The legacy master token (`ONBOARD_API_TOKEN`): every scope, name `api-token`. Scoped
    /// tokens are stored in Redis (`onboard token add`).
    pub token: Option<String>,
    /// Without any token (no master token, none stored), whether `GET /v1/*` is open: set
    /// when the API listens on loopback. Writes are never open.
    pub open_reads: bool,
    /// The time (form token expiry); the system clock by default.
    pub clock: Clock,
    /// Turns trace ids into links (the run JSON's `trace_url`, the dashboard).
    pub trace_links: TraceLinks,
    /// Host names `/v1` and `/dashboard` answer to (the `Host` header without its port; a
    /// request naming another host is refused, so a DNS-rebinding page cannot reach them).
    /// Empty: the loopback names (`localhost`, `127.0.0.1`, `[::1]`).
    pub hosts: Vec<String>,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("trace_links", &self.trace_links)
            .field("hosts", &self.hosts)
            .field("open_reads", &self.open_reads)
            .finish()
    }
}

#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) onboard: Onboard,
    pub(crate) master: auth::Master,
    pub(crate) open_reads: bool,
    pub(crate) clock: Clock,
    pub(crate) trace_links: TraceLinks,
    pub(crate) metrics: std::sync::Arc<Metrics>,
}

/// An error answer: a status and a message naming what is wrong.
pub(crate) struct ApiError(pub(crate) StatusCode, pub(crate) String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let status = match &e {
            ServiceError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ServiceError::Conflict { .. } | ServiceError::NotAllowed(_) => StatusCode::CONFLICT,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::Runs(onboarding_worker::runs::RunStoreError::NotFound(_)) => {
                StatusCode::NOT_FOUND
            }
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self(status, e.to_string())
    }
}

/// A 503 saying what failed; the causes go to the log only (they can name hosts).
pub(crate) fn unavailable(e: impl std::error::Error) -> ApiError {
    let mut chain = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    tracing::warn!(error = %chain, "request failed");
    ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

/// The API's routes.
pub fn router(onboard: Onboard, config: ApiConfig) -> Router {
    let api = Api {
        onboard,
        master: auth::Master::new(config.token.as_deref()),
        open_reads: config.open_reads,
        clock: config.clock,
        trace_links: config.trace_links,
        metrics: std::sync::Arc::new(Metrics::default()),
    };
    let v1 = Router::new()
        .route("/runs", post(enqueue).get(list))
        .route("/runs/{id}", get(show))
        .route("/runs/{id}/steps/{step}/ack", post(ack))
        .route("/runs/{id}/retry", post(retry))
        .route("/runs/{id}/cancel", post(cancel))
        .route("/dead", get(dead))
        .route("/dead/{job}/retry", post(dead_retry))
        .merge(campaigns::routes())
        .route("/drift", get(drift::list))
        .route(
            "/care/{tenant}",
            get(drift::care_show).delete(drift::care_forget),
        )
        .route("/care/{tenant}/check", post(drift::care_check))
        .route_layer(middleware::from_fn_with_state(
            api.clone(),
            auth::authenticate,
        ));
    let hosts: std::sync::Arc<Vec<String>> = std::sync::Arc::new(if config.hosts.is_empty() {
        vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()]
    } else {
        config
            .hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect()
    });
    let guarded = Router::new()
        .nest("/v1", v1)
        .merge(dashboard::routes())
        .merge(dashboard_campaigns::routes())
        .route("/dashboard/drift", get(drift::page))
        .route_layer(middleware::from_fn(move |req, next| {
            guard(hosts.clone(), req, next)
        }));
    Router::new()
        .merge(guarded)
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(json_refusals))
        .layer(middleware::from_fn(secure_headers))
        .with_state(api)
}

/// The largest request body accepted (an enqueue request is a few KiB).
pub const MAX_BODY: usize = 256 * 1024;

/// For `/v1` and `/dashboard`: the `Host` must be one of the configured names (a missing
/// `Host`, which no browser sends, passes: it cannot be a rebinding page), and a `/v1` POST
/// with a body must say `Content-Type: application/json` (a cross-site form cannot).
async fn guard(
    hosts: std::sync::Arc<Vec<String>>,
    req: axum::extract::Request,
    next: Next,
) -> Response {
    if let Some(host) = req.headers().get(header::HOST) {
        let host = host.to_str().unwrap_or_default().to_ascii_lowercase();
        let name = match host.strip_prefix('[') {
            Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or_default()),
            None => host.split(':').next().unwrap_or_default().to_owned(),
        };
        if !hosts.contains(&name) {
            return ApiError(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "Host {name:?} is not one this API answers to (api.hosts / ONBOARD_API_HOSTS)"
                ),
            )
            .into_response();
        }
    }
    let json_body_needed = req.method() == axum::http::Method::POST
        && req.uri().path().starts_with("/v1/")
        && (req.headers().contains_key(header::CONTENT_TYPE)
            || req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_some_and(|l| l.as_bytes() != b"0"));
    if json_body_needed {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json {
            return ApiError(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "request bodies must be Content-Type: application/json".into(),
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Refusals that axum itself writes as plain text (a query string, path or body its
/// extractors cannot read, a body over [`MAX_BODY`]) become `{"error": "..."}` like every
/// other refusal of the API, keeping axum's text, which names the problem. HTML (the
/// dashboard) and successful answers pass unchanged.
async fn json_refusals(req: axum::extract::Request, next: Next) -> Response {
    let response = next.run(req).await;
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !response.status().is_client_error() || !plain {
        return response;
    }
    let (parts, body) = response.into_parts();
    let status = parts.status;
    let text = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => status.canonical_reason().unwrap_or("refused").to_owned(),
    };
    let mut json = ApiError(status, text).into_response();
    // The refusal's own headers stay (e.g. `WWW-Authenticate`, which makes a browser ask
    // for the dashboard's sign-in); only the body and its type and length change.
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}

/// Every response: no framing, no MIME sniffing, no referrer, and a content security policy
/// that allows the dashboard's own style sheet, script (`/dashboard/live.js`, same origin,
/// no inline script), fetches of its own pages and forms, and nothing else.
async fn secure_headers(req: axum::extract::Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /readyz`: 200 when Redis answers, else 503 naming the failure.
async fn ready(State(api): State<Api>) -> (StatusCode, String) {
    onboarding_worker::metrics::readiness(&api.onboard).await
}

/// `GET /metrics`: the stored totals in the Prometheus text format.
async fn metrics(State(api): State<Api>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        api.metrics.render(&api.onboard).await,
    )
        .into_response()
}

/// A run as JSON with `trace_url`: the link to its trace, or null without a template.
pub fn run_json(run: &Run, links: &TraceLinks) -> serde_json::Value {
    let mut value = serde_json::to_value(run).unwrap_or_default();
    let url = run.trace.trace_id().and_then(|id| links.link(id));
    if let Some(object) = value.as_object_mut() {
        object.insert("trace_url".into(), json!(url));
    }
    value
}

async fn enqueue(
    State(api): State<Api>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(&body);
    let mut request: EnqueueRequest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let at = e.path().to_string();
        ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("body at {at}: {}", e.inner()),
        )
    })?;
    // The body's key is checked even when the header replaces it.
    if request
        .idempotency_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.chars().count() > 200)
    {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key: must be 1 to 200 characters".into(),
        ));
    }
    if let Some(key) = headers.get("idempotency-key") {
        let key = key.to_str().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                "Idempotency-Key: not visible ASCII".into(),
            )
        })?;
        request.idempotency_key = Some(key.to_owned());
    }
    let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok());
    let result = api.onboard.enqueue(request, traceparent).await?;
    let status = if result.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(result)).into_response())
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
    tenant: Option<String>,
    limit: Option<String>,
}

/// The most runs one listing returns.
pub const MAX_LIST: usize = 500;

async fn list(State(api): State<Api>, Query(q): Query<ListQuery>) -> Result<Response, ApiError> {
    let bad = |message: String| ApiError(StatusCode::BAD_REQUEST, message);
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(
            s.parse::<RunState>()
                .map_err(|e| bad(format!("state: {e}")))?,
        ),
    };
    if let Some(tenant) = &q.tenant {
        onboarding_steps::settings::validate_tenant_id(tenant).map_err(|_| {
            bad(format!(
                "tenant: {tenant:?} is not a tenant id (1 to 64 letters, digits, '-' or '_')"
            ))
        })?;
    }
    let limit = match q.limit.as_deref() {
        None => 50,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIST).contains(n))
            .ok_or_else(|| {
                bad(format!(
                    "limit: {l:?} is not a whole number from 1 to {MAX_LIST}"
                ))
            })?,
    };
    let filter = RunFilter {
        state,
        tenant: q.tenant,
    };
    let runs = api
        .onboard
        .runs
        .list(&filter, 0, limit)
        .await
        .map_err(unavailable)?;
    Ok(axum::Json(runs).into_response())
}

async fn show(State(api): State<Api>, Path(id): Path<String>) -> Result<Response, ApiError> {
    match api.onboard.runs.get(&id).await.map_err(unavailable)? {
        Some(run) => Ok(axum::Json(run_json(&run, &api.trace_links)).into_response()),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no run with id {id}"),
        )),
    }
}

async fn ack(
    State(api): State<Api>,
    Path((id, step)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let step: StepName = step
        .parse()
        .map_err(|e: String| ApiError(StatusCode::NOT_FOUND, e))?;
    act(&api, &caller, &id, OperatorAction::Acknowledge(step)).await
}

async fn retry(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    act(&api, &caller, &id, OperatorAction::Retry).await
}

async fn cancel(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    act(&api, &caller, &id, OperatorAction::Cancel).await
}

/// An operator action by the authenticated token's name.
async fn act(
    api: &Api,
    caller: &Caller,
    id: &str,
    action: OperatorAction,
) -> Result<Response, ApiError> {
    let who = &caller.0.name;
    let done = api.onboard.act(id, action, who).await?;
    Ok(axum::Json(done.to_json()).into_response())
}

async fn dead(State(api): State<Api>) -> Result<Response, ApiError> {
    let dead = api
        .onboard
        .dead_letters(0, 500)
        .await
        .map_err(unavailable)?;
    Ok(axum::Json(dead).into_response())
}

async fn dead_retry(
    State(api): State<Api>,
    Path(job): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let who = caller.0.name;
    let requeued = api
        .onboard
        .retry_dead(&job, &who)
        .await
        .map_err(unavailable)?;
    if !requeued {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no dead job with id {job}"),
        ));
    }
    tracing::info!(job = %job, operator = %who, "dead letter requeued");
    Ok(axum::Json(json!({"job": job, "requeued": true})).into_response())
}
