//! `GET /dashboard/dead`: the dead letters grouped by step and error class (over the newest
//! [`GROUP_SCAN`]), one page of them (all, or one group's), and the actions: retry one
//! (`POST /dashboard/dead/{job}/retry`), retry a group at a paced rate
//! (`POST /dashboard/dead/group/retry`: the n-th job at now + n × pace, so a large group
//! does not hit Autotask at once) and purge a group (`POST /dashboard/dead/group/purge`,
//! with a confirmation box). Every action needs a form token bound to the action and the
//! job or group; group actions are recorded in the log with the operator's name, and
//! retries in each run's audit trail.
//!
//! A dead letter's step comes from its job's payload, its class from its run's step
//! (`filter::dead_class`); a job without a readable payload is in step `unknown`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::time::Duration;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use onboarding_queue::JobId;
use onboarding_steps::Timestamp;
use onboarding_steps::payload::JobPayload;
use onboarding_steps::run::Run;
use onboarding_worker::service::DeadJob;
use serde::Deserialize;

use super::filter::dead_class;
use super::layout::{self, Frame, esc, form, link, when};
use super::{ActionForm, authorized, viewer};
use crate::Api;

/// Dead letters grouped at most (the newest).
pub(crate) const GROUP_SCAN: u64 = 1_000;
/// Dead letters on one page.
const PAGE: u64 = 50;
/// Dead letters read from the queue at once.
const CHUNK: u64 = 500;
/// The paces a group retry offers, in seconds between two jobs.
const PACES: &[u64] = &[0, 1, 5, 30, 60];

/// A dead letter with its run, step and class.
struct Dead {
    job: DeadJob,
    run: Option<String>,
    step: String,
    class: &'static str,
}

impl Dead {
    fn group(&self) -> String {
        format!("{}|{}", self.step, self.class)
    }
}

/// Reads step and class of each dead letter (its job's payload, its run's step).
async fn enrich(api: &Api, dead: Vec<DeadJob>) -> Result<Vec<Dead>, String> {
    let mut runs: HashMap<String, Option<Run>> = HashMap::new();
    let mut out = Vec::with_capacity(dead.len());
    for d in dead {
        let payload = api
            .onboard
            .queue
            .job(&JobId(d.job.clone()))
            .await
            .map_err(|e| e.to_string())?
            .map(|j| j.payload);
        let step_job = match payload
            .as_deref()
            .map(|p| JobPayload::from_json(&String::from_utf8_lossy(p)))
        {
            Some(Ok(JobPayload::Step(job))) => Some(job),
            _ => None,
        };
        let Some(job) = step_job else {
            out.push(Dead {
                job: d,
                run: None,
                step: "unknown".into(),
                class: dead_class(None),
            });
            continue;
        };
        if !runs.contains_key(&job.run_id) {
            let run = api
                .onboard
                .runs
                .get(&job.run_id)
                .await
                .map_err(|e| e.to_string())?;
            runs.insert(job.run_id.clone(), run);
        }
        let step_state = runs
            .get(&job.run_id)
            .and_then(Option::as_ref)
            .and_then(|r| r.step(job.step))
            .map(|r| &r.state);
        out.push(Dead {
            class: dead_class(step_state),
            job: d,
            run: Some(job.run_id),
            step: job.step.as_str().to_owned(),
        });
    }
    Ok(out)
}

/// The newest `limit` dead letters, enriched.
async fn newest(api: &Api, limit: u64) -> Result<Vec<Dead>, String> {
    let mut all = Vec::new();
    let mut offset = 0;
    while offset < limit {
        let page = api
            .onboard
            .dead_letters(offset, CHUNK.min(limit - offset))
            .await
            .map_err(|e| e.to_string())?;
        let n = page.len() as u64;
        all.extend(enrich(api, page).await?);
        if n < CHUNK.min(limit - offset) {
            break;
        }
        offset += n;
    }
    Ok(all)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DeadQuery {
    #[serde(default)]
    group: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    live: String,
    #[serde(default)]
    requeued: String,
    #[serde(default)]
    purged: String,
}

fn bad_request(msg: &str) -> Response {
    let frame = Frame {
        title: "Dead letters",
        nav: "/dashboard/dead",
        live: false,
        toggle: "/dashboard/dead".into(),
    };
    let body = format!(
        "<p class=\"error\" role=\"alert\">{}</p><p><a href=\"/dashboard/dead\">All dead letters</a></p>",
        esc(msg)
    );
    (StatusCode::BAD_REQUEST, Html(layout::page(&frame, &body))).into_response()
}

/// `GET /dashboard/dead`.
pub(crate) async fn page(
    State(api): State<Api>,
    headers: HeaderMap,
    Query(q): Query<DeadQuery>,
) -> Response {
    let forms = match viewer(&api, &headers).await {
        Ok(f) => f,
        Err(denied) => return denied.into_response(),
    };
    let from: u64 = match q.from.trim() {
        "" => 0,
        f => match f.parse() {
            Ok(n) => n,
            Err(_) => return bad_request(&format!("from: {f:?} is not a position")),
        },
    };
    let live = match layout::live_param(&q.live) {
        Ok(live) => live,
        Err(e) => return bad_request(&e),
    };
    let group = q.group.trim();
    if !group.is_empty() && !group.contains('|') {
        return bad_request(&format!("group: {group:?} is not STEP|CLASS"));
    }
    let now = api.clock.now();
    let scanned = match newest(&api, GROUP_SCAN).await {
        Ok(d) => d,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
    };
    let total = api
        .onboard
        .queue
        .counts()
        .await
        .map(|c| c.dead)
        .unwrap_or(scanned.len() as u64);
    let mut b = String::new();
    for (n, what) in [(&q.requeued, "requeued"), (&q.purged, "purged")] {
        if let Ok(n) = n.parse::<u64>() {
            let _ = write!(
                b,
                "<p class=\"notice\" role=\"status\">{n} dead job(s) {what}.</p>"
            );
        }
    }
    groups(&mut b, &scanned, total, &forms, now);
    let shown: Vec<&Dead>;
    let page_of_all;
    if group.is_empty() {
        page_of_all = match api.onboard.dead_letters(from, PAGE).await {
            Ok(d) => match enrich(&api, d).await {
                Ok(d) => d,
                Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
            },
            Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        };
        shown = page_of_all.iter().collect();
        let _ = write!(b, "<h2 id=\"list\">Dead letters (newest first)</h2>");
    } else {
        shown = scanned
            .iter()
            .filter(|d| d.group() == group)
            .skip(from as usize)
            .take(PAGE as usize)
            .collect();
        let _ = write!(
            b,
            "<h2 id=\"list\">Dead letters of {} (newest first)</h2><p><a href=\"/dashboard/dead\">All groups</a></p>",
            esc(&group.replace('|', " · "))
        );
    }
    list(&mut b, &shown, &forms, now);
    b.push_str("<nav aria-label=\"Pages\"><p>");
    if from > 0 {
        let _ = write!(
            b,
            "<a href=\"{}\">Newest</a> · ",
            esc(&link("/dashboard/dead", &[("group", group)]))
        );
    }
    if shown.len() as u64 == PAGE {
        let next = (from + PAGE).to_string();
        let _ = write!(
            b,
            "<a rel=\"next\" href=\"{}\">Older dead letters</a>",
            esc(&link(
                "/dashboard/dead",
                &[("group", group), ("from", &next)]
            ))
        );
    } else {
        b.push_str("<span class=\"muted\">End of the list.</span>");
    }
    b.push_str("</p></nav>");
    let from_s = if from == 0 {
        String::new()
    } else {
        from.to_string()
    };
    let toggle = link(
        "/dashboard/dead",
        &[
            ("group", group),
            ("from", &from_s),
            ("live", if live { "0" } else { "" }),
        ],
    );
    let frame = Frame {
        title: "Dead letters",
        nav: "/dashboard/dead",
        live,
        toggle,
    };
    Html(layout::page(&frame, &b)).into_response()
}

fn groups(b: &mut String, scanned: &[Dead], total: u64, forms: &super::Forms, now: Timestamp) {
    let mut by: BTreeMap<(String, &'static str), (u64, u64, &str)> = BTreeMap::new();
    for d in scanned {
        let e = by
            .entry((d.step.clone(), d.class))
            .or_insert((0, 0, d.job.reason.as_str()));
        e.0 += 1;
        e.1 = e.1.max(d.job.dead_at_ms);
    }
    let _ = write!(
        b,
        "<h2>Groups by step and error class</h2><p>{total} dead letter(s){}.</p>",
        if total > scanned.len() as u64 {
            format!("; groups count the newest {}", scanned.len())
        } else {
            String::new()
        }
    );
    if by.is_empty() {
        b.push_str("<p class=\"muted\">No dead letters.</p>");
        return;
    }
    b.push_str("<table><thead><tr><th scope=\"col\">Step</th><th scope=\"col\">Error class</th><th scope=\"col\">Jobs</th><th scope=\"col\">Newest death</th><th scope=\"col\">Example reason</th><th scope=\"col\">Actions</th></tr></thead><tbody>");
    for (i, ((step, class), (n, newest, reason))) in by.iter().enumerate() {
        let key = format!("{step}|{class}");
        let hidden = format!(
            "<input type=\"hidden\" name=\"group\" value=\"{}\">",
            esc(&key)
        );
        let mut pace =
            format!("<label for=\"pace-{i}\">pace</label><select id=\"pace-{i}\" name=\"pace\">");
        for p in PACES {
            let label = if *p == 0 {
                "all at once".to_owned()
            } else {
                format!("one every {p} s")
            };
            let _ = write!(
                pace,
                "<option value=\"{p}\"{}>{label}</option>",
                if *p == 5 { " selected" } else { "" }
            );
        }
        pace.push_str("</select> ");
        let confirm = format!(
            "<input type=\"checkbox\" id=\"confirm-{i}\" name=\"confirm\" value=\"yes\" required>\
             <label for=\"confirm-{i}\">delete these {n} for good</label> "
        );
        let _ = write!(
            b,
            "<tr><th scope=\"row\">{step}</th><td>{class}</td><td>{n}</td><td>{died}</td><td>{reason}</td><td>\
             <a href=\"{show}\">Show {n} of {step} · {class}</a><br>{retry}<br>{purge}</td></tr>",
            step = esc(step),
            died = when(Timestamp(*newest), now),
            reason = esc(&reason.chars().take(160).collect::<String>()),
            show = esc(&link("/dashboard/dead", &[("group", &key)])),
            retry = form(
                forms,
                "/dashboard/dead/group/retry",
                "dead-group-retry",
                &key,
                &format!("{hidden}{pace}"),
                &format!("Retry group {step} · {class}"),
            ),
            purge = form(
                forms,
                "/dashboard/dead/group/purge",
                "dead-group-purge",
                &key,
                &format!("{hidden}{confirm}"),
                &format!("Purge group {step} · {class}"),
            ),
        );
    }
    b.push_str("</tbody></table>");
}

fn list(b: &mut String, shown: &[&Dead], forms: &super::Forms, now: Timestamp) {
    if shown.is_empty() {
        b.push_str("<p class=\"muted\">None.</p>");
        return;
    }
    b.push_str("<table><thead><tr><th scope=\"col\">Job</th><th scope=\"col\">Tenant</th><th scope=\"col\">Run</th><th scope=\"col\">Step</th><th scope=\"col\">Error class</th><th scope=\"col\">Died</th><th scope=\"col\">Attempts</th><th scope=\"col\">Reason</th><th scope=\"col\">Action</th></tr></thead><tbody>");
    for d in shown {
        let run = d.run.as_ref().map_or(String::new(), |r| {
            format!("<a href=\"/dashboard/runs/{r}\">{r}</a>", r = esc(r))
        });
        let _ = write!(
            b,
            "<tr><td>{job}</td><td>{tenant}</td><td>{run}</td><td>{step}</td><td>{class}</td><td>{died}</td><td>{attempts}</td><td>{reason}</td><td>{retry}</td></tr>",
            job = esc(&d.job.job),
            tenant = esc(&d.job.tenant),
            step = esc(&d.step),
            class = esc(d.class),
            died = when(Timestamp(d.job.dead_at_ms), now),
            attempts = d.job.attempts,
            reason = esc(&d.job.reason),
            retry = form(
                forms,
                &format!("/dashboard/dead/{}/retry", d.job.job),
                "dead-retry",
                &d.job.job,
                "",
                &format!("Retry job {}", d.job.job),
            ),
        );
    }
    b.push_str("</tbody></table>");
}

/// `POST /dashboard/dead/{job}/retry`.
pub(crate) async fn retry_one(
    State(api): State<Api>,
    Path(job): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    let who = match authorized(&api, &headers, &form, "dead-retry", &job).await {
        Ok(w) => w,
        Err(denied) => return denied.into_response(),
    };
    match api.onboard.retry_dead(&job, &who).await {
        Ok(true) => {
            tracing::info!(job = %job, operator = %who, "dead letter requeued from the dashboard");
            Redirect::to("/dashboard/dead?requeued=1").into_response()
        }
        Ok(false) => (StatusCode::NOT_FOUND, format!("no dead job with id {job}")).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// A group action's form.
#[derive(Debug, Deserialize)]
pub(crate) struct GroupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    pace: String,
    #[serde(default)]
    confirm: String,
}

/// Every dead job of `group`, oldest death first (the whole dead set, page by page).
async fn members(api: &Api, group: &str) -> Result<Vec<JobId>, String> {
    let total = api
        .onboard
        .queue
        .counts()
        .await
        .map_err(|e| e.to_string())?
        .dead;
    let mut ids: Vec<JobId> = newest(api, total)
        .await?
        .into_iter()
        .filter(|d| d.group() == group)
        .map(|d| JobId(d.job.job))
        .collect();
    ids.reverse();
    Ok(ids)
}

/// `POST /dashboard/dead/group/retry`: requeues a group, `pace` seconds apart.
pub(crate) async fn retry_group(
    State(api): State<Api>,
    headers: HeaderMap,
    Form(f): Form<GroupForm>,
) -> Response {
    // Checked before the form token is spent: a corrected form can be sent again.
    let pace = match f.pace.parse::<u64>() {
        Ok(p) if PACES.contains(&p) => (p > 0).then(|| Duration::from_secs(p)),
        _ => {
            return bad_request(&format!(
                "pace: {:?} is not one of {PACES:?} seconds",
                f.pace
            ));
        }
    };
    let token = ActionForm { csrf: f.csrf };
    let who = match authorized(&api, &headers, &token, "dead-group-retry", &f.group).await {
        Ok(w) => w,
        Err(denied) => return denied.into_response(),
    };
    let ids = match members(&api, &f.group).await {
        Ok(ids) => ids,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
    };
    match api.onboard.retry_dead_paced(&ids, pace, &who).await {
        Ok(n) => {
            tracing::info!(group = %f.group, requeued = n, operator = %who, "dead-letter group requeued from the dashboard");
            Redirect::to(&format!("/dashboard/dead?requeued={n}")).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// `POST /dashboard/dead/group/purge`: deletes a group's dead jobs (needs `confirm=yes`).
pub(crate) async fn purge_group(
    State(api): State<Api>,
    headers: HeaderMap,
    Form(f): Form<GroupForm>,
) -> Response {
    // Checked before the form token is spent: a corrected form can be sent again.
    if f.confirm != "yes" {
        return bad_request("confirm: tick the box to confirm that the group is deleted for good");
    }
    let token = ActionForm { csrf: f.csrf };
    let who = match authorized(&api, &headers, &token, "dead-group-purge", &f.group).await {
        Ok(w) => w,
        Err(denied) => return denied.into_response(),
    };
    let ids = match members(&api, &f.group).await {
        Ok(ids) => ids,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
    };
    match api.onboard.queue.purge_dead(&ids).await {
        Ok(n) => {
            tracing::info!(group = %f.group, purged = n, operator = %who, "dead-letter group purged from the dashboard");
            Redirect::to(&format!("/dashboard/dead?purged={n}")).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}
