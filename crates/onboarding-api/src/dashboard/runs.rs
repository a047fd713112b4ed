//! `GET /dashboard` (counts by state, queue depth and throughput, runs waiting for an
//! operator, the filter form and one page of runs) and `GET /dashboard/runs/{id}` (a run's
//! step timeline with attempt history, errors and next retry times, the operator checklist
//! in English and German, the actions, the audit trail).
//!
//! A page of runs comes from the run store's indexes (`RunStore::list`: all runs, a
//! tenant's, or a state's), [`PAGE`] at a time. Criteria the indexes cannot answer (kind,
//! step, class, search text) are checked run by run, reading at most [`SCAN_BUDGET`] runs
//! for one page; the page then says how far it searched and links to where it stopped.

use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use onboarding_steps::run::{Actor, Run, RunKind, RunState, StepRecord, StepState};
use onboarding_steps::{Remediation, StepKind, StepName, Timestamp};
use onboarding_worker::runs::{RunFilter, RunStoreError};

use super::filter::{self, CLASSES, RunQuery, RunSearch};
use super::layout::{self, Frame, esc, form, link, state, when};
use super::stats::{QueueStats, queue_stats};
use super::viewer;
use crate::Api;

/// Runs on one page.
pub(crate) const PAGE: usize = 50;
/// Runs read at most for one page when some criterion needs each run read.
pub(crate) const SCAN_BUDGET: usize = 2_000;
/// Runs read from the store at once while scanning.
const CHUNK: usize = 200;

/// One page of runs: the runs, where the next page starts, and whether the scan stopped
/// at its budget (rather than at the end of the listing).
pub(crate) struct Listing {
    pub(crate) runs: Vec<Run>,
    pub(crate) next: Option<usize>,
    pub(crate) budget_spent: bool,
}

/// The page of runs matching `search` from its position.
pub(crate) async fn listing(api: &Api, search: &RunSearch) -> Result<Listing, RunStoreError> {
    let base = search.base();
    if !search.needs_scan() {
        let mut runs = api.onboard.runs.list(&base, search.from, PAGE + 1).await?;
        let next = (runs.len() > PAGE).then_some(search.from + PAGE);
        runs.truncate(PAGE);
        return Ok(Listing {
            runs,
            next,
            budget_spent: false,
        });
    }
    let mut runs = Vec::new();
    let mut pos = search.from;
    loop {
        let chunk = api.onboard.runs.list(&base, pos, CHUNK).await?;
        let len = chunk.len();
        for (i, run) in chunk.into_iter().enumerate() {
            if search.matches(&run) {
                runs.push(run);
                if runs.len() == PAGE {
                    return Ok(Listing {
                        runs,
                        next: Some(pos + i + 1),
                        budget_spent: false,
                    });
                }
            }
        }
        if len < CHUNK {
            return Ok(Listing {
                runs,
                next: None,
                budget_spent: false,
            });
        }
        pos += CHUNK;
        if pos - search.from >= SCAN_BUDGET {
            return Ok(Listing {
                runs,
                next: Some(pos),
                budget_spent: true,
            });
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the dashboard could not read Redis: {e}"),
    )
        .into_response()
}

/// `GET /dashboard`.
pub(crate) async fn index(
    State(api): State<Api>,
    headers: HeaderMap,
    Query(query): Query<RunQuery>,
) -> Response {
    if let Err(denied) = viewer(&api, &headers).await {
        return denied.into_response();
    }
    let search = match RunSearch::parse(&query) {
        Ok(s) => s,
        Err(e) => {
            let body = format!(
                "<p class=\"error\" role=\"alert\">This filter is not valid: {}.</p><p><a href=\"/dashboard\">Show all runs</a></p>",
                esc(&e)
            );
            let frame = Frame {
                title: "Runs",
                nav: "/dashboard",
                live: false,
                toggle: "/dashboard".into(),
            };
            return (StatusCode::BAD_REQUEST, Html(layout::page(&frame, &body))).into_response();
        }
    };
    let now = api.clock.now();
    let listing = match listing(&api, &search).await {
        Ok(l) => l,
        Err(e) => return unavailable(e),
    };
    let counts = match api.onboard.runs.counts().await {
        Ok(c) => c,
        Err(e) => return unavailable(e),
    };
    let queue = match queue_stats(&api.onboard.queue, now).await {
        Ok(q) => q,
        Err(e) => return unavailable(e),
    };
    let waiting_filter = RunFilter {
        state: Some(RunState::WaitingForOperator),
        tenant: None,
    };
    let waiting = match api.onboard.runs.list(&waiting_filter, 0, 20).await {
        Ok(w) => w,
        Err(e) => return unavailable(e),
    };

    let mut b = String::new();
    overview(&mut b, &counts, &queue, now);
    waiting_section(
        &mut b,
        &waiting,
        counts.get("waiting_for_operator").copied(),
    );
    filter_form(&mut b, &search);
    runs_table(&mut b, &listing.runs, now);
    pager(&mut b, &search, &listing);
    let mut params = search.params();
    params.push(("from", from_param(search.from)));
    let toggle = toggled(&params, search.live);
    let frame = Frame {
        title: "Runs",
        nav: "/dashboard",
        live: search.live,
        toggle: link("/dashboard", &borrow(&toggle)),
    };
    Html(layout::page(&frame, &b)).into_response()
}

fn from_param(from: usize) -> String {
    if from == 0 {
        String::new()
    } else {
        from.to_string()
    }
}

fn borrow<'a>(params: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    params.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// `params` with `live` switched.
fn toggled(params: &[(&'static str, String)], live: bool) -> Vec<(&'static str, String)> {
    let mut out: Vec<_> = params
        .iter()
        .filter(|(k, _)| *k != "live")
        .cloned()
        .collect();
    if live {
        out.push(("live", "0".into()));
    }
    out
}

fn overview(
    b: &mut String,
    counts: &std::collections::BTreeMap<&'static str, u64>,
    q: &QueueStats,
    now: Timestamp,
) {
    b.push_str("<section aria-labelledby=\"at-a-glance\"><h2 id=\"at-a-glance\">At a glance</h2><ul class=\"stats\">");
    for (s, n) in counts {
        let _ = write!(
            b,
            "<li><a href=\"{}\">{}</a>: <b>{n}</b></li>",
            esc(&link("/dashboard", &[("state", s)])),
            state(s)
        );
    }
    b.push_str("</ul><ul class=\"stats\">");
    let c = &q.counts;
    let _ = write!(
        b,
        "<li>Queue: <b>{}</b> ready, <b>{}</b> scheduled, <b>{}</b> running</li>",
        c.ready, c.scheduled, c.running
    );
    match q.oldest_ready {
        Some(t) => {
            let _ = write!(
                b,
                "<li>Oldest ready job waiting since {}</li>",
                when(t, now)
            );
        }
        None => b.push_str("<li>No job waiting for a worker</li>"),
    }
    let _ = write!(
        b,
        "<li>Throughput: <b>{}</b> jobs done in the last 5 min ({:.1}/min), <b>{}</b> in the last hour</li>\
         <li><a href=\"/dashboard/dead\">Dead letters</a>: <b>{}</b> ({} in the last hour)</li></ul></section>",
        q.done_5m,
        q.done_5m as f64 / 5.0,
        q.done_1h,
        c.dead,
        q.dead_1h
    );
}

fn waiting_section(b: &mut String, waiting: &[Run], total: Option<u64>) {
    let _ = write!(
        b,
        "<section aria-labelledby=\"waiting\"><h2 id=\"waiting\">Waiting for an operator ({})</h2>",
        total.unwrap_or(waiting.len() as u64)
    );
    if waiting.is_empty() {
        b.push_str("<p class=\"muted\">No run waits for an operator.</p>");
    }
    for run in waiting {
        for record in &run.steps {
            if let StepState::WaitingForOperator { instructions, .. } = &record.state {
                let _ = write!(
                    b,
                    "<div class=\"box\"><a href=\"/dashboard/runs/{id}\">{tenant}: {step}</a> — {first}</div>",
                    id = esc(&run.id),
                    tenant = esc(&run.request.tenant_id),
                    step = esc(record.step.as_str()),
                    first = esc(instructions
                        .found_en
                        .first()
                        .or(instructions.instructions_en.first())
                        .map_or("", String::as_str)),
                );
            }
        }
    }
    b.push_str("</section>");
}

fn select(b: &mut String, name: &str, label: &str, chosen: &str, options: &[&str]) {
    let _ = write!(
        b,
        "<label for=\"f-{name}\">{label}</label><select id=\"f-{name}\" name=\"{name}\"><option value=\"\">any</option>"
    );
    for o in options {
        let sel = if *o == chosen { " selected" } else { "" };
        let _ = write!(b, "<option value=\"{o}\"{sel}>{}</option>", esc(o));
    }
    b.push_str("</select> ");
}

fn filter_form(b: &mut String, s: &RunSearch) {
    b.push_str("<section aria-labelledby=\"runs\"><h2 id=\"runs\">Runs</h2><form method=\"get\" action=\"/dashboard\" role=\"search\"><fieldset><legend>Filter and search</legend>");
    let _ = write!(
        b,
        "<label for=\"f-tenant\">Tenant</label><input id=\"f-tenant\" name=\"tenant\" size=\"12\" value=\"{}\"> ",
        esc(s.tenant.as_deref().unwrap_or(""))
    );
    let states: Vec<&str> = RunState::ALL.iter().map(|s| s.as_str()).collect();
    select(
        b,
        "state",
        "State",
        s.state.map_or("", |x| x.as_str()),
        &states,
    );
    let kinds: Vec<&str> = [
        RunKind::Onboard,
        RunKind::ChangeApiUser,
        RunKind::CleanupWebhooks,
        RunKind::Verify,
    ]
    .iter()
    .map(|k| k.as_str())
    .collect();
    select(b, "kind", "Kind", s.kind.map_or("", |x| x.as_str()), &kinds);
    let steps: Vec<&str> = StepName::ALL.iter().map(|s| s.as_str()).collect();
    select(
        b,
        "step",
        "Current step",
        s.step.map_or("", |x| x.as_str()),
        &steps,
    );
    select(b, "class", "Error class", s.class.unwrap_or(""), CLASSES);
    let _ = write!(
        b,
        "<label for=\"f-q\">Search</label><input id=\"f-q\" name=\"q\" type=\"search\" size=\"16\" value=\"{}\" aria-describedby=\"f-q-help\"> \
         <span id=\"f-q-help\" class=\"muted\">run id, tenant or error text</span> ",
        esc(s.q.as_deref().unwrap_or(""))
    );
    if !s.live {
        b.push_str("<input type=\"hidden\" name=\"live\" value=\"0\">");
    }
    b.push_str(
        "<button type=\"submit\">Apply</button> <a href=\"/dashboard\">Clear</a></fieldset></form>",
    );
}

fn runs_table(b: &mut String, runs: &[Run], now: Timestamp) {
    if runs.is_empty() {
        b.push_str("<p>No run matches.</p></section>");
        return;
    }
    b.push_str(
        "<table><caption class=\"muted\">Newest first</caption><thead><tr><th scope=\"col\">Run</th><th scope=\"col\">Tenant</th><th scope=\"col\">Kind</th><th scope=\"col\">State</th>\
         <th scope=\"col\">Current step</th><th scope=\"col\">Error class</th><th scope=\"col\">Error</th><th scope=\"col\">Next try</th><th scope=\"col\">Updated</th></tr></thead><tbody>",
    );
    for run in runs {
        let current = filter::current(run);
        let class = current
            .and_then(|r| filter::step_class(run, r))
            .unwrap_or("");
        let error = current.and_then(filter::step_error).unwrap_or("");
        let short: String = error.chars().take(120).collect();
        let next = current
            .and_then(filter::next_retry)
            .map_or(String::new(), |t| when(t, now));
        let _ = write!(
            b,
            "<tr><td><a href=\"/dashboard/runs/{id}\">{id}</a></td><td>{tenant}</td><td>{kind}</td><td>{state}</td><td>{step}</td><td>{class}</td><td>{error}</td><td>{next}</td><td>{updated}</td></tr>",
            id = esc(&run.id),
            tenant = esc(&run.request.tenant_id),
            kind = run.request.kind.as_str(),
            state = state(run.state.as_str()),
            step = current.map_or("", |r| r.step.as_str()),
            error = esc(&short),
            updated = when(run.updated_at, now),
        );
    }
    b.push_str("</tbody></table></section>");
}

fn pager(b: &mut String, s: &RunSearch, l: &Listing) {
    let params = s.params();
    b.push_str("<nav aria-label=\"Pages\"><p>");
    if s.from > 0 {
        let _ = write!(
            b,
            "<a href=\"{}\">Newest runs</a> · ",
            esc(&link("/dashboard", &borrow(&params)))
        );
    }
    if l.budget_spent {
        let _ = write!(b, "Searched {SCAN_BUDGET} runs for this page. ");
    }
    if let Some(next) = l.next {
        let mut p = params.clone();
        p.push(("from", next.to_string()));
        let _ = write!(
            b,
            "<a href=\"{}\" rel=\"next\">{} older runs</a>",
            esc(&link("/dashboard", &borrow(&p))),
            if l.budget_spent { "Search" } else { "Show" }
        );
    } else {
        b.push_str("<span class=\"muted\">End of the list.</span>");
    }
    b.push_str("</p></nav>");
}

fn checklist(b: &mut String, title: &str, r: &Remediation) {
    let _ = write!(b, "<div class=\"box\"><h3>{}</h3>", esc(title));
    for (found, lines, lang, label, heading) in [
        (&r.found_en, &r.instructions_en, "en", "Found", "English"),
        (&r.found_de, &r.instructions_de, "de", "Befund", "Deutsch"),
    ] {
        let _ = write!(b, "<div lang=\"{lang}\"><h4>{heading}</h4>");
        for f in found {
            let _ = write!(b, "<p>{label}: {}</p>", esc(f));
        }
        b.push_str("<ol>");
        for l in lines {
            let _ = write!(b, "<li>{}</li>", esc(l));
        }
        b.push_str("</ol></div>");
    }
    b.push_str("</div>");
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct RunPageQuery {
    #[serde(default)]
    live: String,
}

/// `GET /dashboard/runs/{id}`.
pub(crate) async fn run(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<RunPageQuery>,
) -> Response {
    let forms = match viewer(&api, &headers).await {
        Ok(f) => f,
        Err(denied) => return denied.into_response(),
    };
    let run = match api.onboard.runs.get(&id).await {
        Ok(Some(run)) => run,
        Ok(None) => {
            return (
                StatusCode::NOT_FOUND,
                Html(format!(
                    "<!doctype html><html lang=\"en\"><title>not found</title><p>No run with id {}.</p><p><a href=\"/dashboard\">All runs</a></p></html>",
                    esc(&id)
                )),
            )
                .into_response();
        }
        Err(e) => return unavailable(e),
    };
    let live = q.live != "0" && !run.state.is_final();
    let now = api.clock.now();
    let mut b = format!(
        "<p>{kind} for tenant <b>{tenant}</b> ({name}) · state {state} · trace {trace}</p><p>",
        kind = run.request.kind.as_str(),
        tenant = esc(&run.request.tenant_id),
        name = esc(&run.request.tenant_name),
        state = state(run.state.as_str()),
        trace = trace_link(&api, &run),
    );
    if run.state == RunState::Failed {
        b.push_str(&form(
            &forms,
            &format!("/dashboard/runs/{}/retry", run.id),
            "retry",
            &run.id,
            "",
            "Retry from the failed step",
        ));
    }
    if !run.state.is_final() {
        b.push_str(&form(
            &forms,
            &format!("/dashboard/runs/{}/cancel", run.id),
            "cancel",
            &run.id,
            "",
            "Cancel the run",
        ));
    }
    b.push_str("</p>");
    for record in &run.steps {
        match &record.state {
            StepState::WaitingForOperator { instructions, .. } => {
                checklist(
                    &mut b,
                    &format!("What to do in Autotask for {}", record.step),
                    instructions,
                );
                if record.step.kind() == StepKind::OperatorAttested {
                    b.push_str(&form(
                        &forms,
                        &format!("/dashboard/runs/{}/ack/{}", run.id, record.step.as_str()),
                        &format!("ack:{}", record.step.as_str()),
                        &run.id,
                        "",
                        &format!("Done in Autotask: acknowledge {}", record.step.as_str()),
                    ));
                }
            }
            StepState::Failed {
                remediation: Some(r),
                ..
            } => checklist(&mut b, &format!("How to fix {}", record.step), r),
            _ => {}
        }
    }
    b.push_str("<h2>Subscriptions</h2><ul>");
    for line in run.request.settings.subscriptions() {
        let _ = write!(b, "<li>{}</li>", esc(&line));
    }
    b.push_str("</ul>");
    timeline(&mut b, &run, now);
    for note in run.facts.notes() {
        let _ = write!(b, "<p class=\"notice\"><b>Note:</b> {}</p>", esc(&note));
    }
    audit(&mut b, &run);
    let toggle = if live {
        format!("/dashboard/runs/{}?live=0", run.id)
    } else {
        format!("/dashboard/runs/{}", run.id)
    };
    let frame = Frame {
        title: &format!("Run {}", run.id),
        nav: "/dashboard",
        live,
        toggle,
    };
    Html(layout::page(&frame, &b)).into_response()
}

/// The step timeline: each step's state, error class, attempts, error, next try, and its
/// attempt history (the step's audit events) folded in a `<details>`.
fn timeline(b: &mut String, run: &Run, now: Timestamp) {
    b.push_str(
        "<h2>Step timeline</h2><table><thead><tr><th scope=\"col\">Step</th><th scope=\"col\">State</th><th scope=\"col\">Error class</th><th scope=\"col\">Attempts</th>\
         <th scope=\"col\">Detail</th><th scope=\"col\">Next try</th><th scope=\"col\">Attempt history</th></tr></thead><tbody>",
    );
    for record in &run.steps {
        let detail = step_detail(record);
        let next = filter::next_retry(record).map_or(String::new(), |t| when(t, now));
        let events: Vec<_> = run
            .audit
            .iter()
            .filter(|e| e.step == Some(record.step))
            .collect();
        let mut history = String::new();
        if !events.is_empty() {
            let _ = write!(
                history,
                "<details><summary>{} events</summary><ol>",
                events.len()
            );
            for e in events {
                let _ = write!(
                    history,
                    "<li>{} {}{}</li>",
                    when(e.at, now),
                    esc(&e.transition),
                    if e.detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", esc(&e.detail))
                    }
                );
            }
            history.push_str("</ol></details>");
        }
        let _ = write!(
            b,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{next}</td><td>{history}</td></tr>",
            record.step.as_str(),
            state(record.state.status().as_str()),
            filter::step_class(run, record).unwrap_or(""),
            record.attempts,
            esc(&detail)
        );
    }
    b.push_str("</tbody></table>");
}

fn step_detail(record: &StepRecord) -> String {
    match &record.state {
        StepState::RetryScheduled { last_error, .. } => last_error.clone(),
        StepState::WaitingForOperator {
            next_check: Some(_),
            ..
        } => "re-checked until the operator has acted".into(),
        StepState::WaitingForOperator {
            next_check: None, ..
        } => "waits for an operator's acknowledgment".into(),
        StepState::Succeeded { changed: true } => "changed".into(),
        StepState::Failed { reason, .. } | StepState::Skipped { reason } => reason.clone(),
        _ => String::new(),
    }
}

fn audit(b: &mut String, run: &Run) {
    b.push_str("<h2>Audit trail</h2><table><thead><tr><th scope=\"col\">Time</th><th scope=\"col\">Who</th><th scope=\"col\">Step</th><th scope=\"col\">Transition</th><th scope=\"col\">Detail</th></tr></thead><tbody>");
    for e in run.audit.iter().rev() {
        let who = match &e.actor {
            Actor::Worker(w) => format!("worker {w}"),
            Actor::Operator(o) => format!("operator {o}"),
            Actor::System => "system".into(),
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.at.time_of_day(),
            esc(&who),
            e.step.map_or("", StepName::as_str),
            esc(&e.transition),
            esc(&e.detail)
        );
    }
    b.push_str("</tbody></table>");
}

/// The run's trace id, as a link into the trace UI when a template is configured.
fn trace_link(api: &Api, run: &Run) -> String {
    let Some(id) = run.trace.trace_id() else {
        return "-".into();
    };
    match api.trace_links.link(id) {
        Some(url) => format!(
            "<a href=\"{}\" rel=\"noopener noreferrer\" target=\"_blank\">{}<span class=\"muted\"> (opens the trace in a new tab)</span></a>",
            esc(&url),
            esc(id)
        ),
        None => esc(id),
    }
}
