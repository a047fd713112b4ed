//! The retry dashboard: server-rendered HTML for operations staff. What is stuck and why,
//! what a human must do (the operator checklist in English and German), every run's step
//! timeline with attempts and errors, the dead-letter list; acknowledge, retry and cancel
//! from there. Pages refresh themselves every 5 seconds; no JavaScript.
//!
//! Sign-in is HTTP Basic: the password is an API token with the scope `read` (to view) or
//! `operate` (to act); the name recorded in the audit trail is the token's, whatever user
//! name the browser sends. Every form carries a token bound to the signed-in token's name,
//! the action and the run or job, valid for an hour and once (module `auth`), so another site cannot
//! make a signed-in browser act (CSRF). Every value shown is HTML-escaped.

use std::fmt::Write;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use onboarding_steps::Timestamp;
use onboarding_steps::run::{Run, RunState, StepState};
use onboarding_steps::{Remediation, StepKind, StepName};
use onboarding_worker::runs::RunFilter;
use onboarding_worker::service::OperatorAction;
use serde::Deserialize;

use crate::Api;
use crate::auth::{Denied, Forms, signed_in};

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">\
         <title>{t} · onboard</title><style>\
         body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}} table{{border-collapse:collapse;margin:.5em 0 1.5em}}\
         td,th{{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}}\
         .succeeded{{color:#176c2f}} .failed{{color:#b3261e}} .waiting_for_operator,.retry_scheduled{{color:#9a6700}}\
         .box{{border:1px solid #e0c080;background:#fff8e6;padding:.6em 1em;margin:.5em 0}} form{{display:inline}}\
         button{{margin-right:.4em}} a{{color:#0b57d0}}</style></head><body>\
         <p><a href=\"/dashboard\">runs</a> · <a href=\"/dashboard/dead\">dead letters</a></p><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    ))
}

/// A form posting to `path`, with the token for `action` on `target`; nothing for a user who
/// may not act.
fn button(forms: &Forms, path: &str, action: &str, target: &str, label: &str) -> String {
    if !forms.can_act {
        return String::new();
    }
    format!(
        "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button>{}</button></form>",
        esc(path),
        forms.token(action, target),
        esc(label)
    )
}

/// `GET /dashboard`: counts by state, runs waiting for an operator, failed runs, recent runs.
pub(crate) async fn index(State(api): State<Api>, headers: HeaderMap) -> Response {
    if let Err(denied) = signed_in(&api, &headers, false).await {
        return denied.into_response();
    }
    let runs = match api.onboard.runs.list(&RunFilter::default(), 0, 200).await {
        Ok(r) => r,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, esc(&e.to_string())).into_response(),
    };
    let counts = api.onboard.runs.counts().await.unwrap_or_default();
    let mut b = String::from("<p>");
    for (state, n) in &counts {
        let _ = write!(
            b,
            "<span class=\"{s}\">{s}: <b>{n}</b></span> · ",
            s = esc(state)
        );
    }
    b.push_str("</p>");
    let waiting: Vec<_> = runs
        .iter()
        .filter(|r| r.state == RunState::WaitingForOperator)
        .collect();
    let _ = write!(b, "<h2>Waiting for an operator ({})</h2>", waiting.len());
    for run in waiting {
        for record in &run.steps {
            if let StepState::WaitingForOperator { instructions, .. } = &record.state {
                let _ = write!(
                    b,
                    "<div class=\"box\"><a href=\"/dashboard/runs/{id}\">{tenant}</a> · {step}: {first}</div>",
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
    b.push_str("<h2>Runs</h2>");
    b.push_str(&runs_table(&runs));
    page("onboard runs", &b).into_response()
}

fn runs_table(runs: &[Run]) -> String {
    let mut b = String::from(
        "<table><tr><th>run</th><th>tenant</th><th>kind</th><th>state</th><th>current step</th><th>updated</th></tr>",
    );
    for run in runs {
        let current = run
            .steps
            .iter()
            .find(|s| {
                !matches!(
                    s.state,
                    StepState::Succeeded { .. } | StepState::Skipped { .. }
                )
            })
            .map_or("", |s| s.step.as_str());
        let _ = write!(
            b,
            "<tr><td><a href=\"/dashboard/runs/{id}\">{id}</a></td><td>{tenant}</td><td>{kind}</td><td class=\"{state}\">{state}</td><td>{current}</td><td>{updated}</td></tr>",
            id = esc(&run.id),
            tenant = esc(&run.request.tenant_id),
            kind = run.request.kind.as_str(),
            state = run.state.as_str(),
            updated = run.updated_at.time_of_day(),
        );
    }
    b.push_str("</table>");
    b
}

fn checklist(b: &mut String, title: &str, r: &Remediation) {
    let _ = write!(b, "<div class=\"box\"><b>{}</b>", esc(title));
    for (found, lines, lang, label) in [
        (&r.found_en, &r.instructions_en, "en", "Found"),
        (&r.found_de, &r.instructions_de, "de", "Befund"),
    ] {
        let _ = write!(b, "<div lang=\"{lang}\">");
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

/// `GET /dashboard/runs/{id}`: the step timeline, the checklist, the actions, the audit trail.
pub(crate) async fn run(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
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
                format!("no run with id {}", esc(&id)),
            )
                .into_response();
        }
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, esc(&e.to_string())).into_response(),
    };
    let mut b = format!(
        "<p>{kind} for tenant <b>{tenant}</b> ({name}) · state <b class=\"{state}\">{state}</b> · trace {trace}</p><p>",
        kind = run.request.kind.as_str(),
        tenant = esc(&run.request.tenant_id),
        name = esc(&run.request.tenant_name),
        state = run.state.as_str(),
        trace = trace_link(&api, &run),
    );
    if run.state == RunState::Failed {
        b.push_str(&button(
            &forms,
            &format!("/dashboard/runs/{}/retry", run.id),
            "retry",
            &run.id,
            "Retry from the failed step",
        ));
    }
    if !run.state.is_final() {
        b.push_str(&button(
            &forms,
            &format!("/dashboard/runs/{}/cancel", run.id),
            "cancel",
            &run.id,
            "Cancel the run",
        ));
    }
    b.push_str("</p><ul>");
    for line in run.request.settings.subscriptions() {
        let _ = write!(b, "<li>{}</li>", esc(&line));
    }
    b.push_str("</ul><table><tr><th>step</th><th>state</th><th>attempts</th><th>detail</th></tr>");
    for record in &run.steps {
        let detail = match &record.state {
            StepState::RetryScheduled {
                next_at,
                last_error,
                ..
            } => format!("next try {}: {last_error}", next_at.time_of_day()),
            StepState::WaitingForOperator {
                next_check: Some(t),
                ..
            } => format!("next check {}", t.time_of_day()),
            StepState::WaitingForOperator {
                next_check: None, ..
            } => "waits for an operator's acknowledgment".into(),
            StepState::Succeeded { changed: true } => "changed".into(),
            StepState::Failed { reason, .. } | StepState::Skipped { reason } => reason.clone(),
            _ => String::new(),
        };
        let status = record.state.status().as_str();
        let _ = write!(
            b,
            "<tr><td>{}</td><td class=\"{status}\">{status}</td><td>{}</td><td>{}</td></tr>",
            record.step.as_str(),
            record.attempts,
            esc(&detail)
        );
    }
    b.push_str("</table>");
    for note in run.facts.notes() {
        let _ = write!(b, "<p class=\"note\"><b>Note:</b> {}</p>", esc(&note));
    }
    for record in &run.steps {
        match &record.state {
            StepState::WaitingForOperator { instructions, .. } => {
                checklist(
                    &mut b,
                    &format!("What to do in Autotask for {}", record.step),
                    instructions,
                );
                if record.step.kind() == StepKind::OperatorAttested {
                    let action = format!("/dashboard/runs/{}/ack/{}", run.id, record.step.as_str());
                    b.push_str(&button(
                        &forms,
                        &action,
                        &format!("ack:{}", record.step.as_str()),
                        &run.id,
                        "Done in Autotask: acknowledge",
                    ));
                }
            }
            StepState::Failed {
                remediation: Some(r),
                ..
            } => {
                checklist(&mut b, &format!("How to fix {}", record.step), r);
            }
            _ => {}
        }
    }
    b.push_str("<h2>Audit trail</h2><table><tr><th>time</th><th>who</th><th>step</th><th>transition</th><th>detail</th></tr>");
    for e in run.audit.iter().rev() {
        let who = match &e.actor {
            onboarding_steps::run::Actor::Worker(w) => format!("worker {w}"),
            onboarding_steps::run::Actor::Operator(o) => format!("operator {o}"),
            onboarding_steps::run::Actor::System => "system".into(),
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
    b.push_str("</table>");
    page(&format!("run {}", run.id), &b).into_response()
}

/// `GET /dashboard/dead`.
pub(crate) async fn dead(State(api): State<Api>, headers: HeaderMap) -> Response {
    let forms = match viewer(&api, &headers).await {
        Ok(f) => f,
        Err(denied) => return denied.into_response(),
    };
    let dead = match api.onboard.dead_letters(0, 500).await {
        Ok(d) => d,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, esc(&e.to_string())).into_response(),
    };
    let mut b = String::from(
        "<table><tr><th>job</th><th>tenant</th><th>died</th><th>attempts</th><th>reason</th><th></th></tr>",
    );
    for d in &dead {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&d.job),
            esc(&d.tenant),
            Timestamp(d.dead_at_ms).time_of_day(),
            d.attempts,
            esc(&d.reason),
            button(
                &forms,
                &format!("/dashboard/dead/{}/retry", d.job),
                "dead-retry",
                &d.job,
                "Retry"
            )
        );
    }
    b.push_str("</table>");
    page("dead letters", &b).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
}

/// The signed-in viewer and the form tokens of their pages.
async fn viewer(api: &Api, headers: &HeaderMap) -> Result<Forms, Denied> {
    let who = signed_in(api, headers, false).await?;
    Forms::new(api, &who).await
}

/// The signed-in operator's name (a token with `operate`), if the form's token was made for
/// them, `action` and `target`, has not expired and was not posted before.
async fn authorized(
    api: &Api,
    headers: &HeaderMap,
    form: &ActionForm,
    action: &str,
    target: &str,
) -> Result<String, Denied> {
    let who = signed_in(api, headers, true).await?;
    Forms::new(api, &who)
        .await?
        .spend(api, &form.csrf, action, target)
        .await?;
    Ok(who.name)
}

/// An operator action from a dashboard form; back to the run's page.
async fn act(
    api: &Api,
    headers: &HeaderMap,
    form: &ActionForm,
    id: &str,
    action: OperatorAction,
) -> Response {
    let name = match &action {
        OperatorAction::Acknowledge(step) => format!("ack:{}", step.as_str()),
        OperatorAction::Retry => "retry".into(),
        OperatorAction::Cancel => "cancel".into(),
    };
    let who = match authorized(api, headers, form, &name, id).await {
        Ok(w) => w,
        Err(denied) => return denied.into_response(),
    };
    match api.onboard.act(id, action, &who).await {
        Ok(_) => Redirect::to(&format!("/dashboard/runs/{id}")).into_response(),
        Err(e) => (
            StatusCode::CONFLICT,
            Html(format!(
                "<p>{}</p><p><a href=\"/dashboard/runs/{}\">back</a></p>",
                esc(&e.to_string()),
                esc(id)
            )),
        )
            .into_response(),
    }
}

/// `POST /dashboard/runs/{id}/ack/{step}`.
pub(crate) async fn ack(
    State(api): State<Api>,
    Path((id, step)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    match step.parse::<StepName>() {
        Ok(step) => {
            act(
                &api,
                &headers,
                &form,
                &id,
                OperatorAction::Acknowledge(step),
            )
            .await
        }
        Err(e) => (StatusCode::NOT_FOUND, e).into_response(),
    }
}

/// `POST /dashboard/runs/{id}/retry`.
pub(crate) async fn retry(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    act(&api, &headers, &form, &id, OperatorAction::Retry).await
}

/// `POST /dashboard/runs/{id}/cancel`.
pub(crate) async fn cancel(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    act(&api, &headers, &form, &id, OperatorAction::Cancel).await
}

/// `POST /dashboard/dead/{job}/retry`.
pub(crate) async fn dead_retry(
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
            Redirect::to("/dashboard/dead").into_response()
        }
        Ok(false) => (StatusCode::NOT_FOUND, "no such dead job").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, esc(&e.to_string())).into_response(),
    }
}

/// The run's trace id, as a link into the trace UI when a template is configured.
fn trace_link(api: &Api, run: &Run) -> String {
    let Some(id) = run.trace.trace_id() else {
        return "-".into();
    };
    match api.trace_links.link(id) {
        Some(url) => format!(
            "<a href=\"{}\" rel=\"noopener\" target=\"_blank\">{}</a>",
            esc(&url),
            esc(id)
        ),
        None => esc(id),
    }
}
