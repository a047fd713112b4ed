//! The operator actions on a run from its dashboard page: acknowledge an attested step,
//! retry from the failed step, cancel. Each needs a form token for the action and the run
//! (module `auth`, checked by [`super::authorized`]) and goes back to the run's page.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use onboarding_steps::StepName;
use onboarding_worker::service::OperatorAction;

use super::layout::esc;
use super::{ActionForm, authorized};
use crate::Api;

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
                "<!doctype html><html lang=\"en\"><title>refused</title><p>{}</p><p><a href=\"/dashboard/runs/{}\">back to the run</a></p></html>",
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
