//! The retry dashboard: server-rendered HTML for operations staff, at `/dashboard`. What is
//! stuck and why, what a human must do (the operator checklist in English and German),
//! every run's step timeline with its attempt history, errors and next retry time, the
//! queue's depth and throughput, and the dead letters grouped by step and error class;
//! acknowledge, retry and cancel runs, retry dead letters one by one or a group at a paced
//! rate, purge a group. Works without JavaScript; with it, pages update in place.
//!
//! | module | what |
//! |---|---|
//! | `layout` | the page frame, navigation ([`layout::NAV`]), live updates, HTML helpers |
//! | `filter` | current step, error class, next retry; the run query (pure) |
//! | `stats` | queue depth and throughput |
//! | `runs` | `GET /dashboard` (overview, filters, paged run list), `GET /dashboard/runs/{id}` |
//! | `actions` | `POST /dashboard/runs/{id}/ack/{step}`, `…/retry`, `…/cancel` |
//! | `dead` | `GET /dashboard/dead`, `POST /dashboard/dead/{job}/retry`, `POST /dashboard/dead/group/{retry,purge}` |
//!
//! A new page plugs in with an entry in [`layout::NAV`] and its routes in [`routes`]; it
//! renders through [`layout::page`] and checks sign-in with [`viewer`] and its forms with
//! [`authorized`].
//!
//! Security: sign-in is HTTP Basic, the password an API token with the scope `read` (to
//! view) or `operate` (to act); the name recorded in the audit trail is the token's,
//! whatever user name the browser sends. Every form carries a token bound to the signed-in
//! token's name, the action and the run, job or group, valid for an hour and once (module
//! `auth`), and a form posted from another origin (its `Origin` is not this host, or
//! `Sec-Fetch-Site` says cross-site) is refused even with a valid token: another site
//! cannot make a signed-in browser act (CSRF). Every value shown is HTML-escaped; the only
//! script is the same-origin `/dashboard/live.js` (no inline script; the CSP allows
//! `script-src 'self'`).
//!
//! Scale: listings page through the run store's indexes (`RunStore::list`), never every
//! run; criteria the indexes cannot answer (kind, step, class, search text) read at most
//! [`runs::SCAN_BUDGET`] runs per page and say where the search stopped, with a link to go on.

mod actions;
mod dead;
mod filter;
pub(crate) mod layout;
mod runs;
mod stats;

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;

use crate::Api;
use crate::auth::{Denied, Forms, signed_in};

/// The dashboard's routes (merged into the API's host-guarded routes).
pub(crate) fn routes() -> Router<Api> {
    Router::new()
        .route("/dashboard", get(runs::index))
        .route("/dashboard/runs/{id}", get(runs::run))
        .route("/dashboard/runs/{id}/ack/{step}", post(actions::ack))
        .route("/dashboard/runs/{id}/retry", post(actions::retry))
        .route("/dashboard/runs/{id}/cancel", post(actions::cancel))
        .route("/dashboard/dead", get(dead::page))
        .route("/dashboard/dead/{job}/retry", post(dead::retry_one))
        .route("/dashboard/dead/group/retry", post(dead::retry_group))
        .route("/dashboard/dead/group/purge", post(dead::purge_group))
        .route(
            "/dashboard/style.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    layout::STYLE,
                )
            }),
        )
        .route(
            "/dashboard/live.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    layout::LIVE_JS.replace("LIVE_MS", &(layout::LIVE_SECS * 1000).to_string()),
                )
                    .into_response()
            }),
        )
}

/// A dashboard form's token field (the other fields are read by each action).
#[derive(Debug, Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
}

/// The signed-in viewer and the form tokens of their pages.
pub(crate) async fn viewer(api: &Api, headers: &HeaderMap) -> Result<Forms, Denied> {
    let who = signed_in(api, headers, false).await?;
    Forms::new(api, &who).await
}

/// Whether a form post comes from a page of this dashboard. Browsers that send
/// `Sec-Fetch-Site` are judged by it (`same-origin`, or `none` for a user's own navigation);
/// otherwise an `Origin`, when sent, must name the host the request was sent to. (`Origin:
/// null` is what a page under `Referrer-Policy: no-referrer` sends for its own posts, and
/// sandboxed or `data:` pages for theirs: it passes only with `Sec-Fetch-Site`.)
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .is_some_and(|(_, authority)| !host.is_empty() && authority.eq_ignore_ascii_case(host))
}

/// The signed-in operator's name (a token with `operate`), if the form comes from this
/// dashboard and its token was made for them, `action` and `target`, has not expired and
/// was not posted before.
pub(crate) async fn authorized(
    api: &Api,
    headers: &HeaderMap,
    form: &ActionForm,
    action: &str,
    target: &str,
) -> Result<String, Denied> {
    let who = signed_in(api, headers, true).await?;
    if !same_origin(headers) {
        return Err(Denied::CrossOrigin);
    }
    Forms::new(api, &who)
        .await?
        .spend(api, &form.csrf, action, target)
        .await?;
    Ok(who.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_forms_from_this_origin_pass() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "null"),
            ("sec-fetch-site", "same-origin"),
        ])));
        for bad in [
            headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://localhost:8080"),
            ]),
            headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:9999"),
            ]),
            headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]),
            headers(&[("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site")]),
            headers(&[("host", "127.0.0.1:8080"), ("sec-fetch-site", "same-site")]),
        ] {
            assert!(!same_origin(&bad), "{bad:?}");
        }
    }
}
