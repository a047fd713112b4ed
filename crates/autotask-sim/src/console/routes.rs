//! The console over HTTP: JSON routes under `/_sim/` (databases, API users and resources,
//! security levels, vendors, lines of business, tickets, webhooks, the threshold, fault
//! rules, the request and callout logs), each a thin wrapper around a [`DbConsole`] method
//! or the shared state.
//!
//! What it does not do: no rule of its own; the REST surface is `api`.

use std::sync::Arc;

use autotask_types::WebhookFamily;
use axum::Json;
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::database::DbConsole;
use super::seed::add_database;
use super::types::{
    ApiUserCreated, ApiUserView, LineOfBusiness, NewApiUser, SeedApiUser, SeededApiUser,
};
use crate::Error;
use crate::callout::CalloutRecord;
use crate::config::DatabaseConfig;
use crate::faults::FaultRule;
use crate::reqlog::RequestRecord;
use crate::shared::Inner;
use crate::state::{IntegrationVendor, SecurityLevel};

type Sim = State<Arc<Inner>>;
type R<T> = Result<Json<T>, Error>;

/// The console of database `db`.
fn console(inner: &Arc<Inner>, db: &str) -> Result<DbConsole, Error> {
    DbConsole::new(inner.clone(), db)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Flag {
    #[serde(alias = "active", alias = "locked", alias = "enabled")]
    value: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LevelBody {
    security_level_id: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrackingBody {
    #[serde(default)]
    vendor_id: Option<i64>,
    #[serde(default)]
    vendor: Option<String>,
    #[serde(default)]
    custom: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LobBody {
    #[serde(default)]
    association_ids: Vec<i64>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    view_items_with_no_lob: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CopyBody {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookPermission {
    enabled: bool,
    #[serde(default)]
    max: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TicketBody {
    #[serde(default)]
    person_id: Option<i64>,
    #[serde(default)]
    fields: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThresholdBody {
    hourly_threshold: u32,
}

/// The console routes (nested under `/_sim`).
pub(crate) fn router() -> axum::Router<Arc<Inner>> {
    axum::Router::new()
        .route("/databases", get(list_dbs).post(add_db))
        .route("/databases/{db}/api-users", post(create_api_user))
        .route("/databases/{db}/api-users/seed", post(seed_api_user))
        .route("/databases/{db}/resources/{id}", get(api_user))
        .route("/databases/{db}/resources/{id}/secret", post(new_secret))
        .route("/databases/{db}/resources/{id}/active", put(set_active))
        .route("/databases/{db}/resources/{id}/locked", put(set_locked))
        .route(
            "/databases/{db}/resources/{id}/security-level",
            put(assign_level),
        )
        .route(
            "/databases/{db}/resources/{id}/tracking-identifier",
            put(set_tracking),
        )
        .route(
            "/databases/{db}/resources/{id}/lines-of-business",
            put(set_lobs),
        )
        .route("/databases/{db}/security-levels", get(levels))
        .route(
            "/databases/{db}/security-levels/{id}/copy",
            post(copy_level),
        )
        .route(
            "/databases/{db}/security-levels/{id}/webhooks",
            put(level_webhooks),
        )
        .route(
            "/databases/{db}/security-levels/{id}/resource-admin",
            put(level_admin),
        )
        .route("/databases/{db}/integration-vendors", get(vendors))
        .route(
            "/databases/{db}/integration-vendors/{id}/active",
            put(vendor_active),
        )
        .route("/databases/{db}/lines-of-business", get(lobs))
        .route("/databases/{db}/tickets", post(create_ticket))
        .route(
            "/databases/{db}/tickets/{id}",
            axum::routing::patch(update_ticket).delete(delete_ticket),
        )
        .route("/databases/{db}/webhooks/{family}", get(webhooks))
        .route(
            "/databases/{db}/threshold",
            get(threshold).put(set_threshold),
        )
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/requests", get(requests).delete(clear_requests))
        .route("/callouts", get(callouts))
}

async fn list_dbs(State(s): Sim) -> Json<Vec<String>> {
    Json(s.db_names())
}

async fn add_db(State(s): Sim, Json(cfg): Json<DatabaseConfig>) -> R<Value> {
    add_database(&s, &cfg)?;
    Ok(Json(json!({ "name": cfg.name })))
}

async fn create_api_user(
    State(s): Sim,
    Path(db): Path<String>,
    Json(u): Json<NewApiUser>,
) -> R<ApiUserCreated> {
    Ok(Json(console(&s, &db)?.create_api_user(&u)?))
}

async fn seed_api_user(
    State(s): Sim,
    Path(db): Path<String>,
    Json(u): Json<SeedApiUser>,
) -> R<SeededApiUser> {
    Ok(Json(console(&s, &db)?.seed_api_user(&u)?))
}

async fn api_user(State(s): Sim, Path((db, id)): Path<(String, i64)>) -> R<ApiUserView> {
    Ok(Json(console(&s, &db)?.api_user(id)?))
}

async fn new_secret(State(s): Sim, Path((db, id)): Path<(String, i64)>) -> R<Value> {
    Ok(Json(
        json!({ "secret": console(&s, &db)?.generate_secret(id)? }),
    ))
}

async fn set_active(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(f): Json<Flag>,
) -> R<ApiUserView> {
    let c = console(&s, &db)?;
    c.set_active(id, f.value)?;
    Ok(Json(c.api_user(id)?))
}

async fn set_locked(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(f): Json<Flag>,
) -> R<ApiUserView> {
    let c = console(&s, &db)?;
    c.set_locked(id, f.value)?;
    Ok(Json(c.api_user(id)?))
}

async fn assign_level(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(b): Json<LevelBody>,
) -> R<ApiUserView> {
    let c = console(&s, &db)?;
    c.assign_security_level(id, b.security_level_id)?;
    Ok(Json(c.api_user(id)?))
}

async fn set_tracking(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(b): Json<TrackingBody>,
) -> R<Value> {
    let c = console(&s, &db)?;
    if b.custom {
        let code = c.set_tracking_custom(id)?;
        return Ok(Json(json!({ "integrationCode": code })));
    }
    let vendor = match (b.vendor_id, b.vendor) {
        (Some(v), _) => v,
        (None, Some(name)) => c.vendor_by_name(&name)?.id,
        (None, None) => return Err(Error::bad_request("vendorId, vendor or custom is required")),
    };
    c.set_tracking_vendor(id, vendor)?;
    Ok(Json(json!({ "vendorId": vendor })))
}

async fn set_lobs(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(b): Json<LobBody>,
) -> R<ApiUserView> {
    let c = console(&s, &db)?;
    let mut ids = b.association_ids;
    for name in &b.names {
        ids.push(
            c.association_id(name)
                .ok_or_else(|| Error::not_found(format!("line of business {name}")))?,
        );
    }
    c.set_lines_of_business(id, &ids, b.view_items_with_no_lob)?;
    Ok(Json(c.api_user(id)?))
}

async fn levels(State(s): Sim, Path(db): Path<String>) -> R<Vec<SecurityLevel>> {
    Ok(Json(console(&s, &db)?.security_levels()))
}

async fn copy_level(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(b): Json<CopyBody>,
) -> R<SecurityLevel> {
    Ok(Json(console(&s, &db)?.copy_security_level(id, &b.name)?))
}

async fn level_webhooks(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(b): Json<WebhookPermission>,
) -> R<Vec<SecurityLevel>> {
    let c = console(&s, &db)?;
    c.set_webhook_permission(id, b.enabled, b.max)?;
    Ok(Json(c.security_levels()))
}

async fn level_admin(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(f): Json<Flag>,
) -> R<Vec<SecurityLevel>> {
    let c = console(&s, &db)?;
    c.set_resource_admin(id, f.value)?;
    Ok(Json(c.security_levels()))
}

async fn vendors(State(s): Sim, Path(db): Path<String>) -> R<Vec<IntegrationVendor>> {
    Ok(Json(console(&s, &db)?.integration_vendors()))
}

async fn vendor_active(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(f): Json<Flag>,
) -> R<Vec<IntegrationVendor>> {
    let c = console(&s, &db)?;
    c.set_vendor_active(id, f.value)?;
    Ok(Json(c.integration_vendors()))
}

async fn lobs(State(s): Sim, Path(db): Path<String>) -> R<Vec<LineOfBusiness>> {
    Ok(Json(console(&s, &db)?.lines_of_business()))
}

async fn create_ticket(
    State(s): Sim,
    Path(db): Path<String>,
    Json(b): Json<TicketBody>,
) -> R<Value> {
    let id = console(&s, &db)?.create_ticket(&b.fields, b.person_id)?;
    Ok(Json(json!({ "id": id })))
}

async fn update_ticket(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    Json(b): Json<TicketBody>,
) -> R<Value> {
    console(&s, &db)?.update_ticket(id, &b.fields, b.person_id)?;
    Ok(Json(json!({ "id": id })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct PersonQuery {
    person_id: Option<i64>,
}

async fn delete_ticket(
    State(s): Sim,
    Path((db, id)): Path<(String, i64)>,
    axum::extract::Query(q): axum::extract::Query<PersonQuery>,
) -> R<Value> {
    console(&s, &db)?.delete_ticket(id, q.person_id)?;
    Ok(Json(json!({ "id": id })))
}

async fn webhooks(State(s): Sim, Path((db, family)): Path<(String, String)>) -> R<Vec<Value>> {
    let family: WebhookFamily = family.parse().map_err(Error::bad_request)?;
    Ok(Json(console(&s, &db)?.webhooks(family)))
}

async fn threshold(State(s): Sim, Path(db): Path<String>) -> R<Value> {
    let c = console(&s, &db)?;
    let threshold = c.hourly_threshold();
    Ok(Json(json!({
        "hourlyThreshold": threshold,
        "currentCount": c.threshold_count(),
    })))
}

async fn set_threshold(
    State(s): Sim,
    Path(db): Path<String>,
    Json(b): Json<ThresholdBody>,
) -> R<Value> {
    console(&s, &db)?.set_hourly_threshold(b.hourly_threshold);
    Ok(Json(json!({ "hourlyThreshold": b.hourly_threshold })))
}

async fn list_faults(State(s): Sim) -> Json<Vec<FaultRule>> {
    Json(s.faults())
}

async fn add_fault(State(s): Sim, Json(rule): Json<FaultRule>) -> Json<Vec<FaultRule>> {
    Json(s.add_fault(rule))
}

async fn clear_faults(State(s): Sim) -> Json<Vec<FaultRule>> {
    s.clear_faults();
    Json(Vec::new())
}

async fn requests(State(s): Sim) -> Json<Vec<RequestRecord>> {
    Json(s.requests())
}

async fn clear_requests(State(s): Sim) -> Json<Vec<RequestRecord>> {
    s.clear_requests();
    Json(Vec::new())
}

async fn callouts(State(s): Sim) -> Json<Vec<CalloutRecord>> {
    Json(s.callouts())
}
