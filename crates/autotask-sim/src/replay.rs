//! Serving a recorded tenant (`autotask-sim --replay DIR`, `onboard sim --replay DIR`): the
//! files `onboard doctor --record DIR` wrote (one JSON object per answer: `method`, `path`
//! with query, `request_body`, `status`, `body`) answer the requests instead of the
//! simulator's state, so a recording of a real tenant becomes a regression test.
//!
//! Matching: by method and path (without the query string; the path names the entity), in
//! recorded order. Among the unused answers for that method and path, the first whose
//! recorded request body equals the request's is taken, else the first unused one; once all
//! are used, the last is repeated (reads are repeatable). A request nothing was recorded for
//! gets a 404 naming it. URLs that point at the recorded host (the zone answer's `url`,
//! paging URLs) are rewritten to the simulator's own base. No credentials are checked: the
//! recording has none.
//!
//! What it does not do: no state, no rules, no limits, no faults; the request log still
//! records every request (so tests can count writes).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Error;
use crate::reqlog::RequestRecord;
use crate::shared::Inner;

/// One recorded answer.
#[derive(Debug, Clone, Deserialize)]
struct Entry {
    method: String,
    path: String,
    #[serde(default)]
    request_body: Value,
    status: u16,
    #[serde(default)]
    body: Value,
    #[serde(skip)]
    used: bool,
}

/// A recorded tenant, loaded from a directory.
#[derive(Debug)]
pub struct Replay {
    entries: Mutex<Vec<Entry>>,
    source: String,
}

impl Replay {
    /// Loads every `*.json` file of `dir`, in file-name order (the doctor numbers them).
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let bad = |m: String| Error::Fixtures {
            message: format!("--replay {}: {m}", dir.display()),
        };
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| bad(e.to_string()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        let mut entries = Vec::new();
        for p in names {
            let text = std::fs::read_to_string(&p).map_err(|e| bad(e.to_string()))?;
            let entry: Entry =
                serde_json::from_str(&text).map_err(|e| bad(format!("{}: {e}", p.display())))?;
            entries.push(entry);
        }
        if entries.is_empty() {
            return Err(bad("no recorded answer (*.json) in it".into()));
        }
        Ok(Self {
            entries: Mutex::new(entries),
            source: dir.display().to_string(),
        })
    }

    /// How many answers were recorded.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was recorded (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The recorded answer to `method path` with `body`, with URLs rewritten to `base`.
    fn answer(&self, method: &str, path: &str, body: &Value, base: &str) -> (u16, Value) {
        let mut entries = self.lock();
        let same = |e: &Entry| {
            e.method.eq_ignore_ascii_case(method)
                && e.path.split('?').next().unwrap_or_default() == path
        };
        let pick = entries
            .iter()
            .position(|e| same(e) && !e.used && e.request_body == *body)
            .or_else(|| entries.iter().position(|e| same(e) && !e.used))
            .or_else(|| entries.iter().rposition(same));
        let Some(i) = pick else {
            return (
                404,
                json!({"errors": [format!(
                    "autotask-sim --replay {}: no answer was recorded for {method} {path}",
                    self.source
                )]}),
            );
        };
        entries[i].used = true;
        let mut body = entries[i].body.clone();
        rebase(&mut body, base);
        (entries[i].status, body)
    }
}

/// Rewrites the origin of `url`, `nextPageUrl` and `prevPageUrl` values to `base`.
fn rebase(v: &mut Value, base: &str) {
    match v {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let url_key = ["url", "nextPageUrl", "prevPageUrl"]
                    .iter()
                    .any(|u| k.eq_ignore_ascii_case(u));
                match v {
                    Value::String(s) if url_key => {
                        if let Ok(u) = url::Url::parse(s) {
                            let mut rest = u.path().to_owned();
                            if let Some(q) = u.query() {
                                rest.push('?');
                                rest.push_str(q);
                            }
                            *s = format!("{}{rest}", base.trim_end_matches('/'));
                        }
                    }
                    _ => rebase(v, base),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rebase(i, base)),
        _ => {}
    }
}

/// The server's fallback handler in replay mode (the recording comes as a request
/// extension; the shared state only logs the request and gives the base URL).
pub(crate) async fn handle(
    State(inner): State<Arc<Inner>>,
    Extension(replay): Extension<Arc<Replay>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let request_body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let (status, answer) =
        replay.answer(method.as_str(), uri.path(), &request_body, &inner.base_url);
    let endpoint = {
        let mut segs = uri.path().split('/').filter(|s| !s.is_empty());
        segs.position(|s| s.eq_ignore_ascii_case("v1.0"))
            .and_then(|_| segs.next())
            .map(str::to_owned)
    };
    inner.log_request(RequestRecord {
        seq: 0,
        database: None,
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned()),
        endpoint,
        user_name: headers
            .get("UserName")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        status,
        fault: None,
        refused_by: None,
        micros: started.elapsed().as_micros() as u64,
    });
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(answer)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(entries: Value) -> Replay {
        Replay {
            entries: Mutex::new(serde_json::from_value(entries).unwrap()),
            source: "t".into(),
        }
    }

    #[test]
    fn answers_come_in_recorded_order_preferring_the_same_body() {
        let r = replay(json!([
            {"method": "POST", "path": "/V1.0/Resources/query", "request_body": {"q": 1},
             "status": 200, "body": {"n": 1}},
            {"method": "POST", "path": "/V1.0/Resources/query", "request_body": {"q": 2},
             "status": 200, "body": {"n": 2}},
            {"method": "GET", "path": "/a/v1.0/zoneInformation?user=x", "status": 200,
             "body": {"url": "https://webservices5.autotask.net/ATServicesRest/"}},
        ]));
        let q = "/V1.0/Resources/query";
        assert_eq!(
            r.answer("POST", q, &json!({"q": 2}), "b").1,
            json!({"n": 2})
        );
        assert_eq!(
            r.answer("POST", q, &json!({"q": 9}), "b").1,
            json!({"n": 1})
        );
        // All used: the last again.
        assert_eq!(
            r.answer("POST", q, &json!({"q": 1}), "b").1,
            json!({"n": 2})
        );
        assert_eq!(
            r.answer(
                "GET",
                "/a/v1.0/zoneInformation",
                &Value::Null,
                "http://127.0.0.1:9/"
            ),
            (200, json!({"url": "http://127.0.0.1:9/ATServicesRest/"}))
        );
        let (status, body) = r.answer("DELETE", "/V1.0/TicketWebhooks/1", &Value::Null, "b");
        assert_eq!(status, 404);
        assert!(
            body["errors"][0]
                .as_str()
                .unwrap()
                .contains("no answer was recorded for DELETE /V1.0/TicketWebhooks/1"),
            "{body}"
        );
    }
}
