//! Autotask's deactivation callouts: `POST {deactivation path}/{tenant}/{user}/{family}`,
//! the URL onboard gives each webhook it creates as its `DeactivationUrl` (the tenant
//! setting `deactivation_url_base`). Autotask calls it when it gives up on a webhook (25
//! failed deliveries), or when the webhook or its owner is deactivated or deleted.
//!
//! Autotask cannot send a token, so the route is open, and hard to abuse instead:
//! - the body is read up to [`MAX_CALLOUT_BODY`] bytes (413 beyond);
//! - the path and the body are parsed strictly ([`parse_path`], [`parse_body`]: every
//!   refusal names the part and the problem; unknown body members are ignored, since
//!   Autotask may add some, but known ones must have their documented types);
//! - the webhook must be ours: the tenant is bound to an Autotask database, and onboard
//!   holds the secret of webhook `Id` in that database for exactly this tenant, user and
//!   family (404 otherwise);
//! - `X-Hook-Signature` must be the HMAC-SHA1 of the raw body under that webhook's secret
//!   key, compared in constant time (401 otherwise). `autotask-api.md` documents the
//!   signature for callouts and the simulator signs deactivation notices too; whether real
//!   Autotask signs them is not confirmed, and this route refuses unsigned ones.
//!
//! Every refusal is counted (`{prefix}:callouts:refused`, shown on `GET /v1/drift` and the
//! dashboard's drift page) and logged without the body; nothing is recorded or opened. An
//! accepted callout records a drift finding and opens the tenant's repair run (one at a time
//! per tenant; 202 with its id), unless the webhook belongs to an API user the tenant has
//! since replaced, or a `change_api_user` or `cleanup_webhooks` run of the tenant is going
//! (it deletes the previous user's webhooks, and Autotask calls their deactivation URLs):
//! then nothing is opened (202 with `ignored`).
//!
//! What it does not do: no authentication of its own beyond the signature, no other callout
//! actions (event callouts go to the webhook URL, which is not onboard's).

use autotask_types::{ResourceId, WebhookFamily};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use hmac::{Hmac, Mac};
use onboarding_steps::plan::SecretSlot;
use onboarding_steps::run::RunKind;
use onboarding_worker::care::{DriftFinding, DriftKind, FindingSource};
use onboarding_worker::service::Onboard;
use serde_json::{Value, json};
use sha1::Sha1;

/// The largest callout body read (a deactivation notice is a few hundred bytes).
pub const MAX_CALLOUT_BODY: usize = 16 * 1024;

/// The path the callouts are served under when none is configured.
pub const DEFAULT_PATH: &str = "/callouts/deactivated";

/// A refused callout: the status and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The HTTP status.
    pub status: StatusCode,
    /// What is wrong, naming the part of the request.
    pub message: String,
}

impl Refused {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

/// Whose webhook a callout's path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The tenant id.
    pub tenant: String,
    /// The owning API user.
    pub user: ResourceId,
    /// The family.
    pub family: WebhookFamily,
}

/// A deactivation notice's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The webhook id (`Id`).
    pub id: i64,
    /// `Guid`, when sent.
    pub guid: Option<String>,
    /// `SequenceNumber`, when sent.
    pub sequence: Option<i64>,
}

/// Parses the path's segments: a tenant id (1..64 of `[A-Za-z0-9_-]`), a positive resource
/// id, and a family name in lower case (as onboard writes it).
pub fn parse_path(tenant: &str, user: &str, family: &str) -> Result<Target, Refused> {
    let not_found = |m: String| Refused::new(StatusCode::NOT_FOUND, m);
    onboarding_steps::settings::validate_tenant_id(tenant).map_err(|_| {
        not_found("path: the tenant id must be 1 to 64 letters, digits, '-' or '_'".into())
    })?;
    let user_id = user
        .parse::<i64>()
        .ok()
        .filter(|u| *u > 0 && user.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| not_found("path: the API user must be a positive resource id".into()))?;
    let family = WebhookFamily::ALL
        .into_iter()
        .find(|f| f.as_str().to_ascii_lowercase() == family)
        .ok_or_else(|| {
            not_found(
                "path: the family must be company, contact, configurationitem, ticket or ticketnote"
                    .into(),
            )
        })?;
    Ok(Target {
        tenant: tenant.to_owned(),
        user: ResourceId::new(user_id),
        family,
    })
}

/// Parses a deactivation notice of a `family` webhook: a JSON object whose `Action` is
/// `"Deactivated"` and whose `Id` is a positive integer; `Guid` (at most 100 characters),
/// `EntityType` (the family's webhook entity), `SequenceNumber`, `PersonID`, `EventTime` and
/// `Fields` are optional but typed when present.
pub fn parse_body(body: &[u8], family: WebhookFamily) -> Result<Notice, Refused> {
    if body.len() > MAX_CALLOUT_BODY {
        return Err(Refused::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body: more than {MAX_CALLOUT_BODY} bytes"),
        ));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| Refused::bad(format!("body: not JSON ({e})")))?;
    let Value::Object(o) = value else {
        return Err(Refused::bad("body: must be a JSON object"));
    };
    let int = |name: &str| -> Result<Option<i64>, Refused> {
        match o.get(name) {
            None | Some(Value::Null) => Ok(None),
            // JSON Schema's integer includes a zero fraction (`12.0`).
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                })
                .map(Some)
                .ok_or_else(|| Refused::bad(format!("body.{name}: must be an integer"))),
            Some(_) => Err(Refused::bad(format!("body.{name}: must be an integer"))),
        }
    };
    let text = |name: &str, max: usize| -> Result<Option<String>, Refused> {
        match o.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
            Some(Value::String(_)) => Err(Refused::bad(format!(
                "body.{name}: must be at most {max} characters"
            ))),
            Some(_) => Err(Refused::bad(format!("body.{name}: must be a string"))),
        }
    };
    match text("Action", 32)? {
        Some(a) if a == "Deactivated" => {}
        Some(a) => {
            return Err(Refused::bad(format!(
                "body.Action: must be \"Deactivated\", found {a:?}"
            )));
        }
        None => return Err(Refused::bad("body.Action: missing")),
    }
    let id = int("Id")?.ok_or_else(|| Refused::bad("body.Id: missing"))?;
    if id <= 0 {
        return Err(Refused::bad("body.Id: must be a positive webhook id"));
    }
    if let Some(entity) = text("EntityType", 64)? {
        if entity != family.webhook_entity() {
            return Err(Refused::bad(format!(
                "body.EntityType: must be {:?} for this URL, found {entity:?}",
                family.webhook_entity()
            )));
        }
    }
    let guid = text("Guid", 100)?;
    let sequence = int("SequenceNumber")?;
    int("PersonID")?;
    text("EventTime", 64)?;
    if !matches!(o.get("Fields"), None | Some(Value::Null | Value::Object(_))) {
        return Err(Refused::bad("body.Fields: must be an object"));
    }
    Ok(Notice { id, guid, sequence })
}

/// Checks `X-Hook-Signature: sha1=<base64 HMAC-SHA1(secret, body)>` in constant time.
pub fn check_signature(header: Option<&str>, secret: &str, body: &[u8]) -> Result<(), Refused> {
    let unauthorized = |m: &str| Refused::new(StatusCode::UNAUTHORIZED, m);
    let header = header.ok_or_else(|| unauthorized("X-Hook-Signature: missing"))?;
    let encoded = header
        .strip_prefix("sha1=")
        .ok_or_else(|| unauthorized("X-Hook-Signature: must be sha1=<base64>"))?;
    let given = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| unauthorized("X-Hook-Signature: not base64"))?;
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| unauthorized("X-Hook-Signature: does not match the webhook's secret key"))
}

/// The callout routes under `path` (e.g. [`DEFAULT_PATH`]), to merge into the API's router.
pub fn router(onboard: Onboard, path: &str) -> Router {
    let path = format!("/{}", path.trim_matches('/'));
    Router::new()
        .route(
            &format!("{path}/{{tenant}}/{{user}}/{{family}}"),
            post(receive),
        )
        .with_state(onboard)
}

/// The path part of a `deactivation_url_base` (what [`router`] serves under).
pub fn path_of(base: &str) -> String {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].to_owned(),
        None => "/".to_owned(),
    }
}

async fn receive(
    State(onboard): State<Onboard>,
    Path((tenant, user, family)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match accept(&onboard, &tenant, &user, &family, &headers, body).await {
        Ok(answer) => (StatusCode::ACCEPTED, axum::Json(answer)).into_response(),
        Err(refused) => {
            if refused.status != StatusCode::SERVICE_UNAVAILABLE {
                let _ = onboard.count_refused_callout().await;
            }
            tracing::warn!(status = refused.status.as_u16(), reason = %refused.message, "deactivation callout refused");
            (
                refused.status,
                axum::Json(json!({ "error": refused.message })),
            )
                .into_response()
        }
    }
}

async fn accept(
    onboard: &Onboard,
    tenant: &str,
    user: &str,
    family: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Value, Refused> {
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "deactivation callout: storage failed");
        Refused::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage unavailable; retry later",
        )
    };
    let target = parse_path(tenant, user, family)?;
    let body = axum::body::to_bytes(body, MAX_CALLOUT_BODY)
        .await
        .map_err(|_| {
            Refused::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body: more than {MAX_CALLOUT_BODY} bytes"),
            )
        })?;
    let notice = parse_body(&body, target.family)?;
    let unknown = || {
        Refused::new(
            StatusCode::NOT_FOUND,
            format!(
                "unknown webhook: {} webhook {} is not one onboard created for this tenant and user",
                target.family, notice.id
            ),
        )
    };
    let database = onboard
        .bound_database(&target.tenant)
        .await
        .map_err(|e| unavailable(&e))?
        .ok_or_else(unknown)?;
    let (slot, secret) = onboard
        .webhook_secrets
        .secret_of(&database, notice.id)
        .await
        .map_err(|e| unavailable(&e))?
        .ok_or_else(unknown)?;
    let expected = SecretSlot {
        tenant: target.tenant.clone(),
        user: target.user,
        family: target.family,
    };
    if slot != expected.to_string() {
        return Err(unknown());
    }
    let signature = headers
        .get("x-hook-signature")
        .and_then(|v| v.to_str().ok());
    check_signature(signature, &secret, &body)?;
    // A webhook of a user the tenant has since replaced (its cleanup deletes it, and
    // Autotask calls its deactivation URL): genuine, expected, nothing to repair.
    let record = onboard
        .care_record(&target.tenant)
        .await
        .map_err(|e| unavailable(&e))?;
    let replaced = record.is_some_and(|r| r.user_id.is_some_and(|u| u != target.user.get()));
    let changing = onboard
        .runs
        .list(
            &onboarding_worker::runs::RunFilter {
                state: None,
                tenant: Some(target.tenant.clone()),
            },
            0,
            20,
        )
        .await
        .map_err(|e| unavailable(&e))?
        .iter()
        .any(|r| {
            !r.state.is_final()
                && matches!(
                    r.request.kind,
                    RunKind::ChangeApiUser | RunKind::CleanupWebhooks
                )
        });
    if replaced || changing {
        tracing::info!(tenant.id = %target.tenant, webhook = notice.id, "deactivation callout of a replaced API user's webhook: nothing to repair");
        return Ok(json!({
            "tenant_id": target.tenant,
            "webhook_id": notice.id,
            "repair_run": null,
            "created": false,
            "ignored": "the webhook belongs to an API user this tenant has since replaced",
        }));
    }
    let repair = onboard
        .open_repair(&target.tenant)
        .await
        .map_err(|e| unavailable(&e))?;
    let finding = DriftFinding {
        at: onboarding_worker::service::now().as_millis(),
        tenant_id: target.tenant.clone(),
        source: FindingSource::Callout,
        kind: DriftKind::Deactivated,
        step: None,
        detail: format!(
            "Autotask deactivated {} webhook {} (deactivation callout{})",
            target.family,
            notice.id,
            notice
                .sequence
                .map(|s| format!(", sequence {s}"))
                .unwrap_or_default()
        ),
        check_run: None,
        repair_run: repair.as_ref().map(|r| r.run_id.clone()),
    };
    onboard
        .record_finding(&finding)
        .await
        .map_err(|e| unavailable(&e))?;
    tracing::info!(tenant.id = %target.tenant, webhook = notice.id, guid = ?notice.guid, "deactivation callout accepted");
    Ok(json!({
        "tenant_id": target.tenant,
        "webhook_id": notice.id,
        "repair_run": repair.as_ref().map(|r| r.run_id.clone()),
        "created": repair.as_ref().is_some_and(|r| r.created),
    }))
}

#[cfg(test)]
#[path = "callouts_tests.rs"]
mod tests;
