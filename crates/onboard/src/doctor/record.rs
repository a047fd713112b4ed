//! `onboard doctor --record DIR`: every Autotask answer the doctor received, redacted, one
//! JSON file per exchange (`0001-GET-zoneInformation.json`: method, path and query, request
//! body, status, response body), for `autotask-sim --replay DIR`.
//!
//! Redaction is by property name, never by guessing at values: `userName` (pseudonyms
//! `new-user`, `previous-user`, `admin-user` for the doctor's users, `user-N` for others),
//! `email*` and `notificationEmailAddress` (`person-N@redacted.invalid`), first, last and
//! middle names, initials, phone-like properties, `secretKey`, the hosts of `webhookUrl` and
//! `deactivationUrl`, and people's ids (`*ResourceID`, and `id` of `Resources` rows and
//! filters) mapped to pseudonyms from 90001 on, the same id to the same pseudonym in every
//! file, so the recording stays coherent. Every redacted text is then replaced wherever else
//! it appears (messages, query strings), and the secrets too. Headers are never recorded
//! (the client's recorder does not receive them).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use autotask_client::{Exchange, Recorder};
use serde_json::{Value, json};

/// One answered request, as received.
#[derive(Debug, Clone)]
struct Raw {
    method: String,
    path: String,
    request_body: Option<Value>,
    status: u16,
    body: String,
}

/// Collects the exchanges in memory (the doctor makes a few dozen requests).
#[derive(Clone, Default)]
pub struct Recording {
    raw: Arc<Mutex<Vec<Raw>>>,
}

impl Recording {
    /// The hook to give the client.
    pub fn recorder(&self) -> Recorder {
        let raw = self.raw.clone();
        Arc::new(move |e: &Exchange<'_>| {
            let mut path = e.url.path().to_owned();
            if let Some(q) = e.url.query() {
                path.push('?');
                path.push_str(q);
            }
            raw.lock().unwrap_or_else(|p| p.into_inner()).push(Raw {
                method: e.method.to_owned(),
                path,
                request_body: e.request_body.cloned(),
                status: e.status,
                body: e.body.to_owned(),
            });
        })
    }

    /// Writes the redacted files into `dir` (created if missing); returns how many, and the
    /// redaction (to apply to the report that goes with them). `users`: (username,
    /// pseudonym) of the doctor's users; `secrets`: values that must not appear anywhere.
    pub fn write(
        &self,
        dir: &Path,
        users: &[(String, &str)],
        secrets: &[String],
    ) -> anyhow::Result<(usize, Redaction)> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--record: cannot create {}", dir.display()))?;
        let raw = self.raw.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut r = Redactor::default();
        for (name, pseudonym) in users {
            r.texts.insert(name.clone(), (*pseudonym).to_owned());
        }
        // Pass 1: structured redaction (collects every redacted text and id).
        let mut files: Vec<(String, Value)> = raw
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let resources = entity_of(&x.path) == "Resources";
                let mut request_body = x.request_body.clone().unwrap_or(Value::Null);
                r.walk(&mut request_body, resources);
                let mut body = serde_json::from_str::<Value>(&x.body)
                    .unwrap_or_else(|_| Value::String(x.body.clone()));
                r.walk(&mut body, resources);
                let name = format!(
                    "{:04}-{}-{}.json",
                    i + 1,
                    x.method,
                    entity_of(&x.path).replace(['/', '\\'], "_")
                );
                let file = json!({
                    "method": x.method,
                    "path": x.path,
                    "request_body": request_body,
                    "status": x.status,
                    "body": body,
                });
                (name, file)
            })
            .collect();
        // Pass 2: every redacted text wherever else it appears, and the secrets.
        let mut replace: Vec<(String, String)> = r
            .texts
            .iter()
            .filter(|(k, _)| k.len() >= 3)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            replace.push((s.clone(), "REDACTED".into()));
        }
        // Longest first, so a name inside an e-mail address does not break the address.
        replace.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        for (name, file) in &mut files {
            substitute(file, &replace);
            let text = serde_json::to_string_pretty(file)?;
            std::fs::write(dir.join(&*name), text)
                .with_context(|| format!("--record: cannot write {}", dir.display()))?;
        }
        Ok((files.len(), Redaction { replace }))
    }
}

/// The texts a recording replaced, to redact the report the same way.
pub struct Redaction {
    replace: Vec<(String, String)>,
}

impl Redaction {
    /// Replaces every redacted text in every string of `v`.
    pub fn apply(&self, v: &mut Value) {
        substitute(v, &self.replace);
    }
}

/// The entity a path names: the segment after `V1.0`, or `zoneInformation`.
fn entity_of(path: &str) -> &str {
    let path = path.split('?').next().unwrap_or_default();
    let mut segs = path.split('/').filter(|s| !s.is_empty());
    while let Some(s) = segs.next() {
        if s.eq_ignore_ascii_case("v1.0") {
            return segs.next().unwrap_or("root");
        }
        if s.eq_ignore_ascii_case("zoneInformation") {
            return "zoneInformation";
        }
    }
    "other"
}

#[derive(Default)]
struct Redactor {
    /// Original text → pseudonym.
    texts: BTreeMap<String, String>,
    /// People's ids → pseudonyms.
    ids: BTreeMap<i64, i64>,
    users: usize,
    people: usize,
}

#[derive(Clone, Copy)]
enum Kind {
    UserName,
    Email,
    PersonName,
    Initials,
    Phone,
    Secret,
    Url,
    PersonId,
}

fn kind_of(key: &str, resources: bool) -> Option<Kind> {
    let k = key.to_ascii_lowercase();
    Some(match k.as_str() {
        "username" => Kind::UserName,
        "firstname" | "lastname" | "middlename" => Kind::PersonName,
        "initials" => Kind::Initials,
        "secretkey" | "secret" => Kind::Secret,
        "webhookurl" | "deactivationurl" => Kind::Url,
        "id" if resources => Kind::PersonId,
        _ if k.contains("email") && !k.contains("type") => Kind::Email,
        _ if k.contains("phone") || k.contains("fax") || k == "officeextension" => Kind::Phone,
        _ if k.ends_with("resourceid") => Kind::PersonId,
        _ => return None,
    })
}

impl Redactor {
    fn walk(&mut self, v: &mut Value, resources: bool) {
        match v {
            Value::Array(items) => items.iter_mut().for_each(|i| self.walk(i, resources)),
            Value::Object(map) => {
                // A query filter: `{"field": "userName", "op": "eq", "value": ...}`.
                let field = map.get("field").and_then(Value::as_str).map(str::to_owned);
                for (key, value) in map.iter_mut() {
                    let kind = match (key.as_str(), &field) {
                        ("value", Some(f)) => kind_of(f, resources),
                        _ => kind_of(key, resources),
                    };
                    match kind {
                        Some(kind) => self.redact(kind, value),
                        None => self.walk(value, resources),
                    }
                }
            }
            _ => {}
        }
    }

    fn redact(&mut self, kind: Kind, v: &mut Value) {
        if let Value::Array(items) = v {
            return items.iter_mut().for_each(|i| self.redact(kind, i));
        }
        if let (Kind::PersonId, Some(id)) = (kind, v.as_i64()) {
            let next = 90_001 + self.ids.len() as i64;
            *v = json!(*self.ids.entry(id).or_insert(next));
            return;
        }
        let Some(text) = v.as_str().map(str::to_owned) else {
            return;
        };
        if text.is_empty() {
            return;
        }
        let new = match kind {
            Kind::UserName => self.pseudonym(&text, |r| {
                r.users += 1;
                format!("user-{}", r.users)
            }),
            Kind::Email => self.pseudonym(&text, |r| {
                r.people += 1;
                format!("person-{}@redacted.invalid", r.people)
            }),
            Kind::PersonName => {
                self.texts.insert(text.clone(), "Redacted".into());
                "Redacted".into()
            }
            Kind::Initials => "XX".into(),
            Kind::Phone => "000-000-0000".into(),
            Kind::Secret => "REDACTED".into(),
            Kind::Url => self.url(&text),
            Kind::PersonId => return,
        };
        *v = Value::String(new);
    }

    fn pseudonym(&mut self, text: &str, fresh: impl FnOnce(&mut Self) -> String) -> String {
        if let Some(p) = self.texts.get(text) {
            return p.clone();
        }
        let p = fresh(self);
        self.texts.insert(text.to_owned(), p.clone());
        p
    }

    /// The host replaced; numeric path segments that are known people's ids mapped.
    fn url(&mut self, text: &str) -> String {
        let Ok(mut url) = url::Url::parse(text) else {
            return "https://redacted.invalid/".into();
        };
        let _ = url.set_host(Some("redacted.invalid"));
        let _ = url.set_port(None);
        let path: Vec<String> = url
            .path()
            .split('/')
            .map(|s| match s.parse::<i64>() {
                Ok(id) => self
                    .ids
                    .get(&id)
                    .map_or_else(|| "0".to_owned(), i64::to_string),
                Err(_) => s.to_owned(),
            })
            .collect();
        url.set_path(&path.join("/"));
        url.set_query(None);
        url.to_string()
    }
}

/// Replaces every occurrence of each original (plain and URL-encoded) in every string.
fn substitute(v: &mut Value, replace: &[(String, String)]) {
    match v {
        Value::String(s) => {
            for (from, to) in replace {
                if s.contains(from.as_str()) {
                    *s = s.replace(from.as_str(), to);
                }
                let encoded: String =
                    url::form_urlencoded::byte_serialize(from.as_bytes()).collect();
                if encoded != *from && s.contains(&encoded) {
                    *s = s.replace(&encoded, to);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| substitute(i, replace)),
        Value::Object(map) => map.values_mut().for_each(|i| substitute(i, replace)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_redacted_by_property_and_ids_stay_coherent() {
        let mut r = Redactor::default();
        let mut users = json!({"items": [{"id": 29682885, "userName": "api@acme.example",
            "firstName": "Ada", "email": "ada@acme.example", "emailTypeCode": "PRIMARY",
            "mobilePhone": "+49 1", "licenseType": 7}]});
        r.walk(&mut users, true);
        let mut hooks = json!({"items": [{"id": 5, "ownerResourceID": 29682885,
            "secretKey": "k", "webhookUrl": "https://hooks.acme.example/t/29682885/Ticket",
            "notificationEmailAddress": "ops@acme.example"}]});
        r.walk(&mut hooks, false);
        let mut query = json!({"filter": [{"op": "eq", "field": "ownerResourceID",
            "value": 29682885}, {"op": "eq", "field": "userName", "value": "api@acme.example"}]});
        r.walk(&mut query, false);
        assert_eq!(
            users,
            json!({"items": [{"id": 90001, "userName": "user-1", "firstName": "Redacted",
                "email": "person-1@redacted.invalid", "emailTypeCode": "PRIMARY",
                "mobilePhone": "000-000-0000", "licenseType": 7}]})
        );
        assert_eq!(
            hooks,
            json!({"items": [{"id": 5, "ownerResourceID": 90001, "secretKey": "REDACTED",
                "webhookUrl": "https://redacted.invalid/t/90001/Ticket",
                "notificationEmailAddress": "person-2@redacted.invalid"}]})
        );
        assert_eq!(query["filter"][0]["value"], 90001);
        assert_eq!(query["filter"][1]["value"], "user-1");
        let mut message = json!([
            "User api@acme.example (Ada) not found",
            "?user=api%40acme.example"
        ]);
        let replace: Vec<_> = r.texts.clone().into_iter().collect();
        substitute(&mut message, &replace);
        assert_eq!(
            message,
            json!(["User user-1 (Redacted) not found", "?user=user-1"])
        );
    }

    #[test]
    fn entities_are_named_from_the_path() {
        assert_eq!(
            entity_of("/atservicesrest/v1.0/zoneInformation?user=x"),
            "zoneInformation"
        );
        assert_eq!(
            entity_of("/zones/d/ATServicesRest/V1.0/Resources/query"),
            "Resources"
        );
    }
}
