//! Rows and ids: the per-entity tables of one database, and the generic row operations every
//! rule builds on (validation of a write body against the entity's fields, inserting and
//! merging rows, projection for `IncludeFields`, GUIDs, random strings and timestamps).
//!
//! What it does not do: no Autotask rule (ownership, visibility, webhooks, resources): the
//! sibling modules apply those. A `Table`'s rows change only through its methods.

use std::collections::{BTreeMap, HashMap};

use rand::Rng;
use serde_json::{Map, Value as Json, json};

use crate::Error;
use crate::metadata::{EntityDef, Kind, Ty, registry};

/// A row as stored: field name → JSON value.
pub(crate) type Row = Map<String, Json>;

/// Rows of one entity, by id.
#[derive(Debug)]
pub(crate) struct Table {
    rows: BTreeMap<i64, Row>,
    next_id: i64,
}

impl Table {
    fn new(first_id: i64) -> Self {
        Self {
            rows: BTreeMap::new(),
            next_id: first_id,
        }
    }

    /// Inserts a row under the next id (written into its `id` field) and returns that id.
    pub(crate) fn insert(&mut self, mut row: Row) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        row.insert("id".into(), json!(id));
        self.rows.insert(id, row);
        id
    }

    /// Every row, sorted by id.
    pub(crate) fn rows(&self) -> &BTreeMap<i64, Row> {
        &self.rows
    }

    /// The row `id`.
    pub(crate) fn get(&self, id: i64) -> Option<&Row> {
        self.rows.get(&id)
    }

    /// Whether row `id` exists.
    pub(crate) fn contains(&self, id: i64) -> bool {
        self.rows.contains_key(&id)
    }

    /// The row `id`, for changing its fields.
    pub(crate) fn get_mut(&mut self, id: i64) -> Option<&mut Row> {
        self.rows.get_mut(&id)
    }

    /// Removes row `id`.
    pub(crate) fn remove(&mut self, id: i64) -> Option<Row> {
        self.rows.remove(&id)
    }

    /// Keeps only the rows `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Row) -> bool) {
        self.rows.retain(|_, r| keep(r));
    }
}

/// One table per registered entity kind.
#[derive(Debug)]
pub(crate) struct Tables(HashMap<Kind, Table>);

impl Tables {
    /// Empty tables; ids start where Autotask's look plausible (resources at 29682885,
    /// tickets at 7000, everything else at 1).
    pub(crate) fn new() -> Self {
        let mut tables = HashMap::new();
        for def in registry().all() {
            let first = match def.kind {
                Kind::Resources => 29_682_885,
                Kind::Tickets => 7_000,
                _ => 1,
            };
            tables.insert(def.kind, Table::new(first));
        }
        Self(tables)
    }

    /// The table of `kind` (every registered kind has one).
    pub(crate) fn get(&self, kind: Kind) -> &Table {
        &self.0[&kind]
    }

    /// The table of `kind`, for writing.
    pub(crate) fn get_mut(&mut self, kind: Kind) -> &mut Table {
        self.0.get_mut(&kind).expect("every kind has a table")
    }

    /// The table of `kind`, if the kind is registered (TicketNote has no UDF fields).
    pub(crate) fn try_get(&self, kind: Kind) -> Option<&Table> {
        self.0.get(&kind)
    }

    /// The table of `kind` for writing, if the kind is registered.
    pub(crate) fn try_get_mut(&mut self, kind: Kind) -> Option<&mut Table> {
        self.0.get_mut(&kind)
    }

    /// Inserts (create) or merges (patch/put) normalized changes; returns the id.
    pub(crate) fn apply(
        &mut self,
        def: &EntityDef,
        mode: Write,
        body: &Row,
        changes: Row,
    ) -> Result<i64, Error> {
        if mode == Write::Create {
            let mut row = Map::new();
            for f in &def.fields {
                row.insert(f.name.into(), Json::Null);
            }
            row.extend(changes);
            return Ok(self.get_mut(def.kind).insert(row));
        }
        let id = body_id(body)?;
        let row = self
            .get_mut(def.kind)
            .get_mut(id)
            .ok_or_else(|| Error::rejected(format!("{} with id {id} does not exist.", def.name)))?;
        row.extend(changes);
        Ok(id)
    }
}

/// A write's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    Create,
    Patch,
    Put,
}

/// The object inside a JSON value (empty for anything else).
pub(crate) fn obj(v: Json) -> Row {
    match v {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

/// A string field, or "".
pub(crate) fn str_field(row: &Row, key: &str) -> String {
    row.get(key)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Whether a child row belongs to `parent` (always true without a parent or for roots).
pub(crate) fn parent_matches(def: &EntityDef, row: &Row, parent: Option<i64>) -> bool {
    match (parent, def.parent_field) {
        (Some(p), Some(field)) => row.get(field).and_then(Json::as_i64) == Some(p),
        _ => true,
    }
}

/// The row with `userDefinedFields` on entities that have them.
pub(crate) fn with_udfs(def: &EntityDef, mut row: Row) -> Row {
    if def.has_udfs {
        row.entry("userDefinedFields").or_insert(json!([]));
    }
    row
}

/// Keeps only `IncludeFields` (plus `id`, and `userDefinedFields` on entities that have them).
pub(crate) fn project(def: &EntityDef, row: &Row, include: &[String]) -> Json {
    if include.is_empty() {
        return Json::Object(with_udfs(def, row.clone()));
    }
    let mut out = Map::new();
    for (k, v) in row {
        if k == "id" || include.iter().any(|i| i.eq_ignore_ascii_case(k)) {
            out.insert(k.clone(), v.clone());
        }
    }
    Json::Object(with_udfs(def, out))
}

/// The id a PATCH/PUT body names.
pub(crate) fn body_id(body: &Row) -> Result<i64, Error> {
    body.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("id"))
        .and_then(|(_, v)| v.as_i64())
        .ok_or_else(|| Error::rejected("The id field is required to update an entity."))
}

/// Validates a write body against the entity's fields and returns the changes to apply,
/// keyed by canonical field name. Read-only and unknown fields are ignored, as Autotask
/// does; PUT sets omitted writable fields to null.
pub(crate) fn normalize(def: &EntityDef, body: &Row, mode: Write) -> Result<Row, Error> {
    let mut out = Map::new();
    let mut errors = Vec::new();
    for (k, v) in body {
        let Some(fd) = def.field(k) else { continue };
        if fd.read_only {
            continue;
        }
        let ok = match (fd.ty, v) {
            (_, Json::Null) => true,
            (Ty::Integer | Ty::Long, v) => v.is_i64() || v.is_u64(),
            (Ty::Double, v) => v.is_number(),
            (Ty::Boolean, v) => v.is_boolean(),
            (Ty::Str(max), Json::String(s)) => {
                if s.chars().count() > max as usize {
                    errors.push(format!(
                        "The value of {} exceeds its maximum length of {max}.",
                        fd.name
                    ));
                }
                true
            }
            (Ty::DateTime, Json::String(_)) => true,
            _ => false,
        };
        if !ok {
            errors.push(format!(
                "The value {v} is not valid for field {} ({}).",
                fd.name,
                match fd.ty {
                    Ty::Str(_) => "string".into(),
                    t => format!("{t:?}").to_lowercase(),
                }
            ));
            continue;
        }
        if let (Some(p), Some(n)) = (fd.picklist, v.as_i64()) {
            if fd.name != "fieldID"
                && fd.name != "udfFieldID"
                && !p.values().iter().any(|(x, _)| *x == n)
            {
                errors.push(format!(
                    "{n} is not a valid value for picklist {}.",
                    fd.name
                ));
            }
        }
        out.insert(fd.name.into(), v.clone());
    }
    if mode == Write::Put {
        for fd in def.fields.iter().filter(|f| !f.read_only) {
            out.entry(fd.name).or_insert(Json::Null);
        }
    }
    if mode != Write::Patch {
        for fd in def.fields.iter().filter(|f| f.required && !f.read_only) {
            if out.get(fd.name).is_none_or(Json::is_null) {
                errors.push(format!("{} is required.", fd.name));
            }
        }
    } else {
        for fd in def.fields.iter().filter(|f| f.required) {
            if out.get(fd.name).is_some_and(Json::is_null) {
                errors.push(format!("{} is required and cannot be null.", fd.name));
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Error::Rejected { messages: errors })
    }
}

/// A random GUID-shaped string.
pub(crate) fn guid() -> String {
    let mut rng = rand::rng();
    let b: [u8; 16] = rng.random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A random string from `alphabet`.
pub(crate) fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// Now in UTC as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn utc_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}
