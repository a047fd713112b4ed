//! The REST surface: path resolution (case-insensitive, as Autotask's routing is), zone
//! discovery, and the pipeline every entity request goes through: route → authenticate →
//! hourly threshold → thread limit → fault rules → latency → the operation → callouts.
//!
//! Path layout: `{base}/zones/{db}/ATServicesRest/V1.0/{Entity}[/...]`; zone discovery at
//! `{base}/atservicesrest/v1.0/zoneInformation?user=` (any casing, also under a zone).
//!
//! What it does not do: no Autotask rule (the database in `state` applies them), no console
//! routes, no delivery (callouts the operation returns are handed to the shared dispatcher
//! after the database lock is released).

use std::sync::Arc;
use std::time::{Duration, Instant};

use autotask_types::Query;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};

use crate::Error;
use crate::behaviour::NextPageBody;
use crate::faults::Fault;
use crate::limits::Admission;
use crate::listener::Conn;
use crate::metadata::{EntityDef, Kind, registry};
use crate::reqlog::RequestRecord;
use crate::shared::Inner;
use crate::state::{Caller, Cursor, Db, Write};

/// The metadata documents of an entity.
#[derive(Debug, Clone, Copy)]
enum InfoKind {
    Entity,
    Fields,
    Udfs,
}

/// One resolved REST operation.
enum Route {
    Threshold,
    Info(&'static EntityDef, InfoKind),
    Query(&'static EntityDef),
    QueryGet(&'static EntityDef),
    Count(&'static EntityDef, bool),
    Next(&'static EntityDef),
    Get(&'static EntityDef, i64, Option<i64>),
    Children(&'static EntityDef, i64),
    Write(&'static EntityDef, Write, Option<i64>),
    Delete(&'static EntityDef, i64, Option<i64>),
}

fn not_allowed(method: &Method) -> Error {
    Error::MethodNotAllowed {
        method: method.as_str().into(),
    }
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Resolves the segments after `V1.0`.
fn route(rest: &[&str], method: &Method) -> Result<Route, Error> {
    let reg = registry();
    let Some(first) = rest.first() else {
        return Err(Error::not_found("no entity in the path"));
    };
    if eq(first, "ThresholdInformation") {
        return match (rest.len(), method) {
            (1, &Method::GET) => Ok(Route::Threshold),
            (1, _) => Err(not_allowed(method)),
            _ => Err(Error::not_found(rest.join("/"))),
        };
    }
    let def = reg
        .by_path(first)
        .ok_or_else(|| Error::not_found(format!("entity {first}")))?;
    let get = method == Method::GET;
    let info = |def: &'static EntityDef, tail: &[&str]| -> Option<Result<Route, Error>> {
        let kind = match tail {
            [a] if eq(a, "entityInformation") => InfoKind::Entity,
            [a, b] if eq(a, "entityInformation") && eq(b, "fields") => InfoKind::Fields,
            [a, b] if eq(a, "entityInformation") && eq(b, "userDefinedFields") => InfoKind::Udfs,
            _ => return None,
        };
        Some(if get {
            Ok(Route::Info(def, kind))
        } else {
            Err(not_allowed(method))
        })
    };
    if let Some(r) = info(def, &rest[1..]) {
        return r;
    }
    let require = |ok: bool, r: Route| if ok { Ok(r) } else { Err(not_allowed(method)) };
    // Children are written through their parent only; their root path is read-only.
    let root_writable = def.parent_field.is_none();
    match &rest[1..] {
        [] => match *method {
            Method::POST => require(
                root_writable && def.ops.create,
                Route::Write(def, Write::Create, None),
            ),
            Method::PATCH => require(
                root_writable && def.ops.update,
                Route::Write(def, Write::Patch, None),
            ),
            Method::PUT => require(
                root_writable && def.ops.update,
                Route::Write(def, Write::Put, None),
            ),
            _ => Err(not_allowed(method)),
        },
        [q] if eq(q, "query") => match *method {
            Method::POST => require(def.ops.query, Route::Query(def)),
            Method::GET => require(def.ops.query, Route::QueryGet(def)),
            _ => Err(not_allowed(method)),
        },
        [q, c] if eq(q, "query") && eq(c, "count") => match *method {
            Method::POST => require(def.ops.query, Route::Count(def, true)),
            Method::GET => require(def.ops.query, Route::Count(def, false)),
            _ => Err(not_allowed(method)),
        },
        [q, n] if eq(q, "query") && eq(n, "next") => match *method {
            Method::POST => require(def.ops.query, Route::Next(def)),
            _ => Err(not_allowed(method)),
        },
        [id] => {
            let id: i64 = id
                .parse()
                .map_err(|_| Error::not_found(format!("{}/{id}", def.path)))?;
            match *method {
                Method::GET => require(def.ops.get, Route::Get(def, id, None)),
                Method::DELETE => require(
                    root_writable && def.ops.delete,
                    Route::Delete(def, id, None),
                ),
                _ => Err(not_allowed(method)),
            }
        }
        [pid, child, tail @ ..] => {
            let pid: i64 = pid
                .parse()
                .map_err(|_| Error::not_found(format!("{}/{pid}", def.path)))?;
            let cdef = reg
                .child(def.kind, child)
                .ok_or_else(|| Error::not_found(format!("{}/{pid}/{child}", def.path)))?;
            if let Some(r) = info(cdef, tail) {
                return r;
            }
            // OrganizationalLevelAssociations/{id}/Resources is read-only.
            let writable = cdef.parent_field == Some("webhookID");
            match tail {
                [] => match *method {
                    Method::GET => Ok(Route::Children(cdef, pid)),
                    Method::POST => require(
                        writable && cdef.ops.create,
                        Route::Write(cdef, Write::Create, Some(pid)),
                    ),
                    Method::PATCH => require(
                        writable && cdef.ops.update,
                        Route::Write(cdef, Write::Patch, Some(pid)),
                    ),
                    Method::PUT => require(
                        writable && cdef.ops.update,
                        Route::Write(cdef, Write::Put, Some(pid)),
                    ),
                    _ => Err(not_allowed(method)),
                },
                [id] => {
                    let id: i64 = id
                        .parse()
                        .map_err(|_| Error::not_found(format!("{}/{id}", cdef.path)))?;
                    match *method {
                        Method::GET => Ok(Route::Get(cdef, id, Some(pid))),
                        Method::DELETE => require(
                            writable && cdef.ops.delete,
                            Route::Delete(cdef, id, Some(pid)),
                        ),
                        _ => Err(not_allowed(method)),
                    }
                }
                _ => Err(Error::not_found(rest.join("/"))),
            }
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    let q = uri.query()?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.into_owned())
}

/// The fallback handler: every non-console request.
pub(crate) async fn handle(
    State(inner): State<Arc<Inner>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let _in_flight = inner.begin_request();
    let mut rec = RequestRecord {
        seq: 0,
        database: None,
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned()),
        endpoint: None,
        user_name: header(&headers, "UserName").map(str::to_owned),
        status: 0,
        fault: None,
        refused_by: None,
        micros: 0,
    };
    let (response, dropped) =
        match pipeline(&inner, &conn, &method, &uri, &headers, &body, &mut rec).await {
            Ok((status, json, dropped)) => ((status, axum::Json(json)).into_response(), dropped),
            Err(e) => (e.into_response(), false),
        };
    rec.status = if dropped {
        0
    } else {
        response.status().as_u16()
    };
    rec.micros = started.elapsed().as_micros() as u64;
    inner.log_request(rec);
    response
}

type Answer = (StatusCode, Json, bool);

async fn pipeline(
    inner: &Arc<Inner>,
    conn: &Conn,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    rec: &mut RequestRecord,
) -> Result<Answer, Error> {
    let segs: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    // Zone discovery and version information: no credentials, no limits.
    match segs.as_slice() {
        [a, v, z] | [_, _, a, v, z]
            if eq(a, "atservicesrest") && eq(v, "v1.0") && eq(z, "zoneInformation") =>
        {
            return zone_information(inner, uri).map(|j| (StatusCode::OK, j, false));
        }
        [a, v] | [_, _, a, v] if eq(a, "atservicesrest") && eq(v, "versionInformation") => {
            return Ok((StatusCode::OK, json!({"apiVersions": ["1.0"]}), false));
        }
        _ => {}
    }
    let [zones, db_name, a, v, rest @ ..] = segs.as_slice() else {
        return Err(Error::not_found(uri.path().to_owned()));
    };
    if !eq(zones, "zones") || !eq(a, "atservicesrest") || !eq(v, "v1.0") {
        return Err(Error::not_found(uri.path().to_owned()));
    }
    rec.database = Some((*db_name).to_owned());
    let db = inner
        .db(db_name)
        .ok_or_else(|| Error::not_found(format!("database {db_name}")))?;
    let endpoint = rest.first().copied().unwrap_or_default().to_owned();
    rec.endpoint = Some(endpoint.clone());
    let route = route(rest, method)?;
    let code = header(headers, "ApiIntegrationCode")
        .unwrap_or_default()
        .to_owned();
    let cfg = &inner.config;
    // Authentication, threshold and thread slot under one short lock.
    let knobs = cfg.behaviour;
    let (caller, threshold_latency) = {
        let mut db = db.lock().expect("not poisoned");
        let caller = db.authenticate(
            header(headers, "UserName"),
            header(headers, "Secret"),
            header(headers, "ApiIntegrationCode"),
        )?;
        let threshold = db.usage().hourly_threshold();
        let latency = match db.usage_mut().admit(
            tokio::time::Instant::now(),
            Duration::from_secs(cfg.threshold_window_secs),
            Duration::from_millis(cfg.threshold_latency_50_ms),
            Duration::from_millis(cfg.threshold_latency_75_ms),
        ) {
            Admission::Admit(l) => l,
            Admission::Exceeded => {
                rec.refused_by = Some("threshold".into());
                return Err(Error::ThresholdExceeded {
                    threshold,
                    status: knobs.threshold_status,
                });
            }
        };
        if !db
            .usage_mut()
            .try_acquire(&code, &endpoint, cfg.thread_limit)
        {
            rec.refused_by = Some("thread_limit".into());
            return Err(Error::ThreadLimit {
                limit: cfg.thread_limit,
                endpoint,
                status: knobs.thread_limit_status,
            });
        }
        (caller, latency)
    };
    let _slot = Slot {
        db: db.clone(),
        code,
        endpoint: endpoint.clone(),
    };
    let decision = inner.decide_faults(db_name, &endpoint, method.as_str());
    if decision.latency > Duration::ZERO && decision.terminal.is_none() {
        rec.fault = Some("latency".into());
    }
    let latency = decision.latency + threshold_latency + Duration::from_millis(cfg.base_latency_ms);
    if latency > Duration::ZERO {
        tokio::time::sleep(latency).await;
    }
    let mut drop_after = false;
    if let Some(fault) = decision.terminal {
        rec.fault = Some(fault.name().into());
        match fault {
            Fault::TooManyRequests => {
                return Err(Error::ThreadLimit {
                    limit: cfg.thread_limit,
                    endpoint,
                    status: 429,
                });
            }
            Fault::ServerError { status, errors } => {
                return Err(Error::Injected { status, errors });
            }
            Fault::Timeout { ms } => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                conn.kill();
                return Ok((StatusCode::OK, Json::Null, true));
            }
            Fault::ConnectionReset => {
                conn.kill();
                return Ok((StatusCode::OK, Json::Null, true));
            }
            Fault::CommitThenDrop => drop_after = true,
            Fault::Latency { .. } | Fault::RandomLatency { .. } => {}
        }
    }
    let result = execute(inner, db_name, &db, &caller, route, uri, body);
    if drop_after {
        conn.kill();
        return Ok((StatusCode::OK, Json::Null, true));
    }
    result.map(|j| (StatusCode::OK, j, false))
}

/// Gives the thread slot back when the request ends, however it ends.
struct Slot {
    db: Arc<std::sync::Mutex<Db>>,
    code: String,
    endpoint: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut db) = self.db.lock() {
            db.usage_mut().release(&self.code, &self.endpoint);
        }
    }
}

fn parse_query(body: &[u8]) -> Result<Query, Error> {
    let json: Json = serde_json::from_slice(body)
        .map_err(|e| Error::rejected(format!("The query body is not valid JSON: {e}")))?;
    Query::from_json(&json).map_err(|e| Error::rejected(e.to_string()))
}

fn parse_search(uri: &Uri) -> Result<Query, Error> {
    let search = query_param(uri, "search")
        .ok_or_else(|| Error::rejected("The search parameter is required."))?;
    parse_query(search.as_bytes())
}

/// The paging token of `query/next` and GET-form paging:
/// `{"pageSize":n,"lastId":x,"query":t}` (next page) or `{"pageSize":n,"firstId":x,"query":t}`
/// (previous page).
fn parse_paging(uri: &Uri) -> Result<(Cursor, u64), Error> {
    let raw = query_param(uri, "paging")
        .ok_or_else(|| Error::rejected("The paging parameter is required."))?;
    let j: Json = serde_json::from_str(&raw)
        .map_err(|_| Error::rejected("The paging parameter is not valid."))?;
    let n = |k: &str| j.get(k).and_then(Json::as_i64);
    match (n("lastId"), n("firstId"), n("query")) {
        (Some(l), None, Some(q)) => Ok((Cursor::After(l), q as u64)),
        (None, Some(f), Some(q)) => Ok((Cursor::Before(f), q as u64)),
        _ => Err(Error::rejected("The paging parameter is not valid.")),
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn execute(
    inner: &Arc<Inner>,
    db_name: &str,
    db: &Arc<std::sync::Mutex<Db>>,
    caller: &Caller,
    route: Route,
    uri: &Uri,
    body: &Bytes,
) -> Result<Json, Error> {
    let cfg = &inner.config;
    let api = format!("{}/zones/{db_name}/ATServicesRest/V1.0", inner.base_url);
    let body_json = || -> Result<Json, Error> {
        serde_json::from_slice(body)
            .map_err(|e| Error::rejected(format!("The request body is not valid JSON: {e}")))
    };
    let page = |db: &mut Db,
                def: &EntityDef,
                query: Query,
                cursor: Option<Cursor>,
                token: Option<u64>,
                get_form: bool|
     -> Result<Json, Error> {
        let size = query
            .max_records
            .unwrap_or(cfg.page_size)
            .min(cfg.page_size)
            .max(1);
        let result = db.query(def, &query, cursor, cfg.page_size, caller)?;
        let mut token = token;
        let mut url = |key: &str, id: Option<i64>| -> Json {
            let Some(id) = id else { return Json::Null };
            let t = *token.get_or_insert_with(|| db.remember_query(query.clone()));
            let paging = encode(&format!(
                r#"{{"pageSize":{size},"{key}":{id},"query":{t}}}"#
            ));
            if get_form {
                let search = encode(&query.to_json().to_string());
                json!(format!(
                    "{api}/{}/query?search={search}&paging={paging}",
                    def.path
                ))
            } else {
                json!(format!("{api}/{}/query/next?paging={paging}", def.path))
            }
        };
        let next = url("lastId", result.next);
        let prev = url("firstId", result.prev);
        Ok(json!({
            "items": result.rows,
            "pageDetails": {
                "count": result.rows.len(),
                "requestCount": size,
                "prevPageUrl": prev,
                "nextPageUrl": next,
            }
        }))
    };
    let mut out = Vec::new();
    let answer = {
        let mut db = db.lock().expect("not poisoned");
        match route {
            Route::Threshold => {
                let count = db.usage_mut().count(
                    tokio::time::Instant::now(),
                    Duration::from_secs(cfg.threshold_window_secs),
                );
                json!({
                    "externalRequestThreshold": db.usage().hourly_threshold(),
                    "requestThresholdTimeframe": cfg.threshold_window_secs / 60,
                    "currentTimeframeRequestCount": count,
                })
            }
            Route::Info(def, InfoKind::Entity) => db.entity_info(def, caller),
            Route::Info(def, InfoKind::Fields) => def.fields_info(cfg.behaviour.unset_properties),
            Route::Info(def, InfoKind::Udfs) => def.udf_info(cfg.behaviour.unset_properties),
            Route::Query(def) => page(&mut db, def, parse_query(body)?, None, None, false)?,
            Route::QueryGet(def) => {
                let query = parse_search(uri)?;
                match query_param(uri, "paging") {
                    None => page(&mut db, def, query, None, None, true)?,
                    Some(_) => {
                        let (cursor, token) = parse_paging(uri)?;
                        page(&mut db, def, query, Some(cursor), Some(token), true)?
                    }
                }
            }
            Route::Next(def) => {
                let (cursor, token) = parse_paging(uri)?;
                let empty = body.iter().all(u8::is_ascii_whitespace);
                if empty && cfg.behaviour.next_page_body == NextPageBody::Required {
                    return Err(Error::rejected(
                        "The query body is required to read the next page: POST the original \
                         query to the nextPageUrl.",
                    ));
                }
                let query = if empty {
                    db.remembered_query(token).cloned().ok_or_else(|| {
                        Error::rejected("The paging token has expired; repeat the query.")
                    })?
                } else {
                    parse_query(body)?
                };
                page(&mut db, def, query, Some(cursor), Some(token), false)?
            }
            Route::Count(def, post) => {
                let query = if post {
                    parse_query(body)?
                } else {
                    parse_search(uri)?
                };
                json!({ "queryCount": db.count(def, &query, caller)? })
            }
            Route::Get(def, id, parent) => db.get(def, id, parent, caller)?,
            Route::Children(def, parent) => {
                if let Some(f) = def.kind.family() {
                    // The collection of a webhook the caller cannot see is a 404 whatever the
                    // unknown-id knob says (that knob is about `GET {Entity}/{id}`).
                    let parent_def = registry().get(Kind::Webhooks(f));
                    if db.find(parent_def, parent, None, caller).is_none() {
                        return Err(Error::not_found(format!(
                            "{} with id {parent}",
                            parent_def.name
                        )));
                    }
                }
                let items = db.children(def, parent);
                json!({
                    "items": items,
                    "pageDetails": {
                        "count": items.len(),
                        "requestCount": cfg.page_size,
                        "prevPageUrl": null,
                        "nextPageUrl": null,
                    }
                })
            }
            Route::Write(def, mode, parent) => {
                let (id, callouts) = db.write(def, caller, mode, &body_json()?, parent)?;
                out = callouts;
                json!({ "itemId": id })
            }
            Route::Delete(def, id, parent) => {
                out = db.delete(def, caller, id, parent)?;
                json!({ "itemId": id })
            }
        }
    };
    inner.send_callouts(out);
    Ok(answer)
}

fn zone_information(inner: &Arc<Inner>, uri: &Uri) -> Result<Json, Error> {
    let user = query_param(uri, "user")
        .ok_or_else(|| Error::rejected("The user parameter is required."))?;
    let (name, db) = inner.db_of_user(&user).ok_or_else(|| {
        Error::rejected(format!(
            "Zone information could not be determined for user {user}."
        ))
    })?;
    let db = db.lock().expect("not poisoned");
    Ok(json!({
        "zoneName": db.zone_name(),
        "url": format!("{}/zones/{name}/ATServicesRest/", inner.base_url),
        "webUrl": format!("{}/zones/{name}/web/", inner.base_url),
        "ci": db.ci(),
    }))
}
