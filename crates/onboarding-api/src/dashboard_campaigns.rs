//! The dashboard's campaign pages: every campaign with its progress, and one campaign's
//! waves (progress of each), why it halted, its failures grouped by step and error class,
//! pause / resume / abort buttons, and the per-tenant report (what changed) as CSV and JSON
//! downloads. Same sign-in and form tokens as the rest of the dashboard (module `auth`);
//! every value shown is HTML-escaped; the dashboard's page frame (`dashboard::layout`), with
//! live updates (`?live=0` pauses them).

use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use onboarding_campaign::{Campaign, CampaignState};
use serde::Deserialize;

use crate::Api;
use crate::auth::{Forms, signed_in};
use crate::campaigns::csv_response;
use crate::dashboard::layout::{self, LiveQuery, esc, simple_frame};

/// The routes under `/dashboard/campaigns`.
pub(crate) fn routes() -> Router<Api> {
    Router::new()
        .route("/dashboard/campaigns", get(index))
        .route("/dashboard/campaigns/{id}", get(show))
        .route("/dashboard/campaigns/{id}/report.csv", get(report_csv))
        .route("/dashboard/campaigns/{id}/report.json", get(report_json))
        .route("/dashboard/campaigns/{id}/{action}", post(act))
}

fn page(title: &str, path: &str, live: bool, body: &str) -> Response {
    let frame = simple_frame(title, "/dashboard/campaigns", path, live);
    Html(layout::page(&frame, body)).into_response()
}

fn bar(done: usize, of: usize) -> String {
    let pct = (done * 100).checked_div(of).unwrap_or(0);
    format!("<span class=\"bar\"><span style=\"width:{pct}%\"></span></span> {done}/{of}")
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, esc(&e.to_string())).into_response()
}

fn ended(c: &Campaign) -> usize {
    c.waves.iter().map(|w| w.tally.ended()).sum()
}

/// `GET /dashboard/campaigns`.
async fn index(State(api): State<Api>, Query(q): Query<LiveQuery>, headers: HeaderMap) -> Response {
    if let Err(denied) = signed_in(&api, &headers, false).await {
        return denied.into_response();
    }
    let list = match api.onboard.campaigns(0, 200).await {
        Ok(l) => l,
        Err(e) => return unavailable(e),
    };
    let mut body = String::from(
        "<table><tr><th>campaign</th><th>state</th><th>kind</th><th>runs ended</th>\
         <th>waves finished</th><th>created by</th></tr>",
    );
    for c in &list {
        let waves_done = c.waves.iter().filter(|w| w.finished_at.is_some()).count();
        let _ = write!(
            body,
            "<tr><td><a href=\"/dashboard/campaigns/{id}\">{id}</a></td><td class=\"{s}\">{s}</td>\
             <td>{k}</td><td>{runs}</td><td>{waves_done}/{waves}</td><td>{by}</td></tr>",
            id = esc(&c.id),
            s = c.state.as_str(),
            k = c.options.kind.as_str(),
            runs = bar(ended(c), c.tenants),
            waves = c.waves.len(),
            by = esc(&c.created_by),
        );
    }
    body.push_str("</table>");
    if list.is_empty() {
        body.push_str("<p>No campaigns. Create one with <code>onboard campaign create</code> or <code>POST /v1/campaigns</code>.</p>");
    }
    page("Campaigns", "/dashboard/campaigns", q.live, &body)
}

/// `GET /dashboard/campaigns/{id}`.
async fn show(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<LiveQuery>,
    headers: HeaderMap,
) -> Response {
    let who = match signed_in(&api, &headers, false).await {
        Ok(w) => w,
        Err(denied) => return denied.into_response(),
    };
    let forms = match Forms::new(&api, &who).await {
        Ok(f) => f,
        Err(denied) => return denied.into_response(),
    };
    let r = match api.onboard.campaign_report(&id).await {
        Ok(r) => r,
        Err(onboarding_worker::campaigns::CampaignFailure::NotFound(_)) => {
            return (StatusCode::NOT_FOUND, "no such campaign").into_response();
        }
        Err(e) => return unavailable(e),
    };
    let c = &r.campaign;
    let mut body = format!(
        "<p>State <b class=\"{s}\">{s}</b> · {k} for {n} tenants · canary {canary} · waves of {ws} \
         · halts above {rate:.1} % failed · pace {pace} · created by {by}</p>",
        s = c.state.as_str(),
        k = c.options.kind.as_str(),
        n = c.tenants,
        canary = c.options.canary,
        ws = c.options.wave_size,
        rate = c.options.max_failure_rate * 100.0,
        pace = c
            .options
            .pace_per_min
            .map_or("none".to_owned(), |p| format!("{p}/min per zone")),
        by = esc(&c.created_by),
    );
    if let Some(h) = &c.halt {
        let _ = write!(
            body,
            "<div class=\"box\"><b>Halted:</b> {}</div>",
            esc(&h.describe())
        );
    }
    let button = |action: &str, label: &str| {
        if !forms.can_act {
            return String::new();
        }
        format!(
            "<form class=\"inline\" method=\"post\" action=\"/dashboard/campaigns/{}/{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">{label}</button></form> ",
            esc(&c.id),
            forms.token(&format!("campaign-{action}"), &c.id)
        )
    };
    match c.state {
        CampaignState::Running => {
            body.push_str(&(button("pause", "Pause") + &button("abort", "Abort")))
        }
        CampaignState::Paused | CampaignState::Halted => {
            body.push_str(&(button("resume", "Resume") + &button("abort", "Abort")))
        }
        _ => {}
    }
    let _ = write!(
        body,
        "<p>Report of what changed per tenant: <a href=\"/dashboard/campaigns/{id}/report.csv\">CSV</a> · \
         <a href=\"/dashboard/campaigns/{id}/report.json\">JSON</a></p>",
        id = esc(&c.id)
    );
    body.push_str(
        "<h2>Waves</h2><table><tr><th>wave</th><th>size</th><th>runs ended</th><th>succeeded</th>\
         <th>failed</th><th>cancelled</th><th>waiting for an operator</th><th>status</th></tr>",
    );
    for w in &c.waves {
        let status = match (w.started_at, w.finished_at) {
            (_, Some(_)) => "finished",
            (Some(_), None) => "running",
            (None, None) => "not started",
        };
        let _ = write!(
            body,
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"failed\">{}</td><td>{}</td><td>{}</td><td>{status}</td></tr>",
            w.index,
            if w.canary { " (canary)" } else { "" },
            w.size,
            bar(w.tally.ended(), w.size),
            w.tally.succeeded,
            w.tally.failed,
            w.tally.cancelled,
            w.tally.waiting,
        );
    }
    body.push_str("</table><h2>Failures by step and error class</h2>");
    if r.failures.is_empty() {
        body.push_str("<p>None.</p>");
    } else {
        body.push_str("<table><tr><th>step</th><th>error class</th><th>runs</th><th>tenants</th><th>example</th></tr>");
        for f in &r.failures {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.step),
                esc(&f.error_class),
                f.count,
                esc(&f.tenants.join(", ")),
                esc(&f.example)
            );
        }
        body.push_str("</table>");
    }
    body.push_str("<h2>Events</h2><table><tr><th>when</th><th>who</th><th>what</th></tr>");
    for e in c.events.iter().rev().take(20) {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.at.time_of_day(),
            esc(&e.actor),
            esc(&e.what)
        );
    }
    body.push_str("</table>");
    let path = format!("/dashboard/campaigns/{}", c.id);
    page(&format!("Campaign {}", c.id), &path, q.live, &body)
}

async fn report_csv(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = signed_in(&api, &headers, false).await {
        return denied.into_response();
    }
    match api.onboard.campaign_report(&id).await {
        Ok(r) => csv_response(&r.campaign.id, &r.tenants),
        Err(e) => crate::campaigns::failure(e).into_response(),
    }
}

async fn report_json(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(denied) = signed_in(&api, &headers, false).await {
        return denied.into_response();
    }
    match api.onboard.campaign_report(&id).await {
        Ok(r) => {
            let disposition = format!("attachment; filename=\"campaign-{}.json\"", r.campaign.id);
            (
                [(axum::http::header::CONTENT_DISPOSITION, disposition)],
                axum::Json(r.tenants),
            )
                .into_response()
        }
        Err(e) => crate::campaigns::failure(e).into_response(),
    }
}

#[derive(Deserialize)]
struct ActionForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /dashboard/campaigns/{id}/{pause|resume|abort}`: back to the campaign's page.
async fn act(
    State(api): State<Api>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    if !matches!(action.as_str(), "pause" | "resume" | "abort") {
        return (StatusCode::NOT_FOUND, "no such action").into_response();
    }
    let who = match signed_in(&api, &headers, true).await {
        Ok(w) => w,
        Err(denied) => return denied.into_response(),
    };
    let spent = match Forms::new(&api, &who).await {
        Ok(f) => {
            f.spend(&api, &form.csrf, &format!("campaign-{action}"), &id)
                .await
        }
        Err(denied) => Err(denied),
    };
    if let Err(denied) = spent {
        return denied.into_response();
    }
    let svc = &api.onboard;
    let done = match action.as_str() {
        "pause" => svc.pause_campaign(&id, &who.name).await.map(|_| ()),
        "resume" => svc.resume_campaign(&id, &who.name).await.map(|_| ()),
        _ => svc.abort_campaign(&id, &who.name).await.map(|_| ()),
    };
    match done {
        Ok(()) => Redirect::to(&format!("/dashboard/campaigns/{id}")).into_response(),
        Err(e) => crate::campaigns::failure(e).into_response(),
    }
}
