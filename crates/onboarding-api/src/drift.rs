//! Continuous care for people and machines: `GET /v1/drift?tenant=&limit=` (JSON, scope
//! `read`) and the dashboard page `GET /dashboard/drift` (in the dashboard's page frame);
//! `GET /v1/care/{tenant}` (read: what is kept about a tenant under care, never its secret,
//! with its latest findings), `POST /v1/care/{tenant}/check` (operate: a drift check now)
//! and `DELETE /v1/care/{tenant}` (operate: out of care, its care credentials deleted), the
//! same as `onboard care show|check|forget`. Both show, newest first, what the scheduled drift checks and
//! the deactivation callouts found, the repair run each opened, and how many callouts were
//! refused as not ours.
//!
//! What it does not do: no actions (a repair run is steered like any run, from its page).

use std::fmt::Write;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use onboarding_steps::Timestamp;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Caller;
use crate::auth::signed_in;
use crate::dashboard::layout::{self, LiveQuery, esc, simple_frame};
use crate::{Api, ApiError, unavailable};

/// `GET /v1/drift` query.
#[derive(Debug, Deserialize)]
pub(crate) struct DriftQuery {
    tenant: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/drift`: `{"findings": [...], "refused_callouts": n}`.
pub(crate) async fn list(
    State(api): State<Api>,
    Query(q): Query<DriftQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "limit: must be from 1 to 1000".into(),
        ));
    }
    if let Some(t) = &q.tenant {
        onboarding_steps::settings::validate_tenant_id(t)
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("tenant: {e}")))?;
    }
    let findings = api
        .onboard
        .findings(q.tenant.as_deref(), limit)
        .await
        .map_err(unavailable)?;
    let refused = api.onboard.refused_callouts().await.map_err(unavailable)?;
    Ok(axum::Json(json!({ "findings": findings, "refused_callouts": refused })).into_response())
}

fn checked_tenant(tenant: &str) -> Result<(), ApiError> {
    onboarding_steps::settings::validate_tenant_id(tenant)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("tenant: {e}")))
}

fn not_under_care(tenant: &str) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        format!("tenant {tenant} is not under care"),
    )
}

/// `GET /v1/care/{tenant}`: `{"care": {...}, "findings": [...]}` (the newest 10).
pub(crate) async fn care_show(
    State(api): State<Api>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    checked_tenant(&tenant)?;
    let record = api
        .onboard
        .care_record(&tenant)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| not_under_care(&tenant))?;
    let findings = api
        .onboard
        .findings(Some(&tenant), 10)
        .await
        .map_err(unavailable)?;
    Ok(axum::Json(json!({ "care": record.view(), "findings": findings })).into_response())
}

/// `POST /v1/care/{tenant}/check`: 201 with the check run (200 when it already existed).
pub(crate) async fn care_check(
    State(api): State<Api>,
    Extension(caller): Extension<Caller>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    checked_tenant(&tenant)?;
    let r = api
        .onboard
        .check_now(&tenant, onboarding_worker::service::now())
        .await
        .map_err(unavailable)?
        .ok_or_else(|| not_under_care(&tenant))?;
    tracing::info!(tenant.id = %tenant, run.id = %r.run_id, by = %caller.0.name, "drift check requested");
    let status = if r.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(r)).into_response())
}

/// `DELETE /v1/care/{tenant}`: 204; the tenant is no longer checked or repaired.
pub(crate) async fn care_forget(
    State(api): State<Api>,
    Extension(caller): Extension<Caller>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    checked_tenant(&tenant)?;
    if !api
        .onboard
        .forget_care(&tenant)
        .await
        .map_err(unavailable)?
    {
        return Err(not_under_care(&tenant));
    }
    tracing::info!(tenant.id = %tenant, by = %caller.0.name, "tenant taken out of care");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /dashboard/drift`: the findings as a table, with links to the repair runs.
pub(crate) async fn page(
    State(api): State<Api>,
    Query(q): Query<LiveQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = signed_in(&api, &headers, false).await {
        return denied.into_response();
    }
    let (findings, refused) = match (
        api.onboard.findings(None, 200).await,
        api.onboard.refused_callouts().await,
    ) {
        (Ok(f), Ok(r)) => (f, r),
        (Err(e), _) | (_, Err(e)) => {
            return (StatusCode::SERVICE_UNAVAILABLE, esc(&e.to_string())).into_response();
        }
    };
    let mut b = format!(
        "<p>Scheduled drift checks re-verify every onboarded tenant once per period; \
         Autotask's deactivation callouts arrive at any time. Each finding opens the tenant's \
         repair run (one at a time), which re-verifies and repairs the webhooks, or waits for \
         you where a step needs the web interface.</p><p>Refused callouts (not ours, forged \
         or malformed): <b>{refused}</b></p><table><tr><th>when</th><th>tenant</th>\
         <th>source</th><th>what</th><th>step</th><th>found</th><th>repair run</th></tr>"
    );
    for f in &findings {
        let link = |id: &Option<String>| {
            id.as_ref().map_or_else(
                || "—".to_owned(),
                |id| format!("<a href=\"/dashboard/runs/{0}\">{0}</a>", esc(id)),
            )
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            Timestamp(f.at).time_of_day(),
            esc(&f.tenant_id),
            f.source.as_str(),
            f.kind.as_str(),
            f.step.map_or("—", |s| s.as_str()),
            esc(&f.detail),
            link(&f.repair_run),
        );
    }
    b.push_str("</table>");
    let frame = simple_frame("Drift", "/dashboard/drift", "/dashboard/drift", q.live);
    Html(layout::page(&frame, &b)).into_response()
}
