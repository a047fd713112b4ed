//! The campaign routes under `/v1/campaigns` (thin edges over
//! `onboarding_worker::campaigns`):
//!
//! | method and path | scope | what |
//! |---|---|---|
//! | `POST /v1/campaigns` | operate | create: `{"options": {...}, "cohort": [entries]}` → 201 the campaign; 422 naming the option or the entry and field, nothing stored |
//! | `GET /v1/campaigns?limit=` | read | campaigns, newest first |
//! | `GET /v1/campaigns/{id}` | read | the campaign (waves, counts, `halt`, events) and its failures by step and error class |
//! | `POST /v1/campaigns/{id}/pause`, `/resume`, `/abort` | operate | operator actions (409 when the state does not allow it) |
//! | `GET /v1/campaigns/{id}/report?format=json\|csv` | read | a row per tenant: run, state, what changed, failed step, error class, reason |
//!
//! Creating a campaign needs the `operate` scope, not `enqueue`: it starts runs for many
//! tenants over hours and is steered by operators; upstream systems enqueue single runs.
//! A cohort may be large: this route takes bodies up to [`MAX_COHORT_BODY`] (the other
//! routes keep the API's limit).

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use onboarding_campaign::CampaignOptions;
use onboarding_worker::campaigns::{CampaignFailure, parse_entry};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Caller;
use crate::{Api, ApiError, unavailable};

/// The largest cohort body accepted by `POST /v1/campaigns` (about 20,000 entries).
pub const MAX_COHORT_BODY: usize = 16 * 1024 * 1024;

/// The routes, nested under `/v1` (behind its authentication).
pub(crate) fn routes() -> Router<Api> {
    Router::new()
        .route(
            "/campaigns",
            post(create)
                .layer(DefaultBodyLimit::max(MAX_COHORT_BODY))
                .get(list),
        )
        .route("/campaigns/{id}", get(show))
        .route("/campaigns/{id}/pause", post(pause))
        .route("/campaigns/{id}/resume", post(resume))
        .route("/campaigns/{id}/abort", post(abort))
        .route("/campaigns/{id}/report", get(report))
}

pub(crate) fn failure(e: CampaignFailure) -> ApiError {
    match e {
        CampaignFailure::Invalid(m) => ApiError(StatusCode::UNPROCESSABLE_ENTITY, m),
        CampaignFailure::NotFound(id) => {
            ApiError(StatusCode::NOT_FOUND, format!("no campaign with id {id}"))
        }
        CampaignFailure::NotAllowed(m) => ApiError(StatusCode::CONFLICT, m),
        e => unavailable(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    options: CampaignOptions,
    cohort: Vec<serde_json::Value>,
}

async fn create(
    State(api): State<Api>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(&body);
    let body: CreateBody = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("body at {}: {}", e.path(), e.inner()),
        )
    })?;
    if body.cohort.is_empty() {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "cohort: the cohort is empty".into(),
        ));
    }
    let mut cohort = Vec::with_capacity(body.cohort.len());
    for (i, v) in body.cohort.iter().enumerate() {
        let entry =
            parse_entry(&v.to_string(), &format!("cohort entry {}", i + 1)).map_err(|e| {
                ApiError(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{e}; nothing was stored"),
                )
            })?;
        cohort.push(entry);
    }
    let c = api
        .onboard
        .create_campaign(body.options, cohort, &caller.0.name)
        .await
        .map_err(failure)?;
    Ok((StatusCode::CREATED, axum::Json(c)).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

async fn list(State(api): State<Api>, Query(q): Query<ListQuery>) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("limit: {limit} is not from 1 to 500"),
        ));
    }
    let list = api.onboard.campaigns(0, limit).await.map_err(failure)?;
    Ok(axum::Json(list).into_response())
}

async fn show(State(api): State<Api>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let r = api.onboard.campaign_report(&id).await.map_err(failure)?;
    Ok(axum::Json(json!({"campaign": r.campaign, "failures": r.failures})).into_response())
}

async fn pause(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let c = api
        .onboard
        .pause_campaign(&id, &caller.0.name)
        .await
        .map_err(failure)?;
    Ok(axum::Json(c).into_response())
}

async fn resume(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let c = api
        .onboard
        .resume_campaign(&id, &caller.0.name)
        .await
        .map_err(failure)?;
    Ok(axum::Json(c).into_response())
}

async fn abort(
    State(api): State<Api>,
    Path(id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let (c, cancelled) = api
        .onboard
        .abort_campaign(&id, &caller.0.name)
        .await
        .map_err(failure)?;
    Ok(axum::Json(json!({"campaign": c, "cancelled_runs": cancelled})).into_response())
}

#[derive(Deserialize)]
struct ReportQuery {
    format: Option<String>,
}

async fn report(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let r = api.onboard.campaign_report(&id).await.map_err(failure)?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(axum::Json(r.tenants).into_response()),
        "csv" => Ok(csv_response(&id, &r.tenants)),
        other => Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("format: {other:?} is not json or csv"),
        )),
    }
}

/// The report rows as a CSV download.
pub(crate) fn csv_response(id: &str, rows: &[onboarding_campaign::report::Row]) -> Response {
    let disposition = format!("attachment; filename=\"campaign-{id}.csv\"");
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        onboarding_campaign::report::csv(rows),
    )
        .into_response()
}
