//! Reads: `GET {Entity}/{id}`, query pages (sorted by id, after or before a cursor), counts,
//! child collections, remembered queries for body-less `query/next`, `entityInformation`
//! for the caller, and the validation of a query against the entity's fields.
//!
//! What it does not do: no writes to rows, no paging URLs (the REST layer builds those).

use autotask_types::{Filter, Query, Value, WebhookFamily};
use serde_json::{Value as Json, json};

use crate::Error;
use crate::behaviour::UnknownId;
use crate::metadata::{self, EntityDef, Kind, Ty};

use super::accounts::Caller;
use super::db::Db;
use super::paging::{Cursor, QueryPage};
use super::tables::{Row, parent_matches, project, with_udfs};

impl Db {
    /// `GET {Entity}/{id}`; `parent` restricts children to their parent.
    pub(crate) fn get(
        &self,
        def: &EntityDef,
        id: i64,
        parent: Option<i64>,
        caller: &Caller,
    ) -> Result<Json, Error> {
        match self.find(def, id, parent, caller) {
            Some(row) => Ok(json!({ "item": with_udfs(def, row.clone()) })),
            // APIGRATE documents a 404; GO also handles `{"item": null}` (§2, [M]).
            None if self.behaviour.unknown_id == UnknownId::NullItem => Ok(json!({ "item": null })),
            None => Err(Error::not_found(format!("{} with id {id}", def.name))),
        }
    }

    /// Runs a query page: at most `page` rows matching `query`, after or before a cursor
    /// (rows come sorted by id, like Autotask's).
    pub(crate) fn query(
        &self,
        def: &EntityDef,
        query: &Query,
        cursor: Option<Cursor>,
        page: u32,
        caller: &Caller,
    ) -> Result<QueryPage, Error> {
        validate_query(def, query)?;
        let page = query.max_records.unwrap_or(page).min(page).max(1) as usize;
        let rows = self.tables.get(def.kind).rows();
        let hit = |row: &Row| query.matches(row) && self.visible(def, row, caller);
        let mut ids = Vec::with_capacity(page.min(64));
        let (more_before, more_after) = match cursor {
            None | Some(Cursor::After(_)) => {
                let start = match cursor {
                    Some(Cursor::After(a)) => a.saturating_add(1),
                    _ => i64::MIN,
                };
                let mut iter = rows
                    .range(start..)
                    .filter(|(_, r)| hit(r))
                    .map(|(id, _)| *id);
                ids.extend(iter.by_ref().take(page));
                let before = start > i64::MIN && rows.range(..start).any(|(_, r)| hit(r));
                (before, iter.next().is_some())
            }
            Some(Cursor::Before(b)) => {
                let mut iter = rows
                    .range(..b)
                    .rev()
                    .filter(|(_, r)| hit(r))
                    .map(|(id, _)| *id);
                ids.extend(iter.by_ref().take(page));
                ids.reverse();
                let more = iter.next().is_some();
                (more, rows.range(b..).any(|(_, r)| hit(r)))
            }
        };
        Ok(QueryPage {
            rows: ids
                .iter()
                .map(|id| project(def, &rows[id], &query.include_fields))
                .collect(),
            prev: more_before.then(|| ids.first().copied()).flatten(),
            next: more_after.then(|| ids.last().copied()).flatten(),
        })
    }

    /// `query/count`.
    pub(crate) fn count(
        &self,
        def: &EntityDef,
        query: &Query,
        caller: &Caller,
    ) -> Result<u64, Error> {
        validate_query(def, query)?;
        Ok(self
            .tables
            .get(def.kind)
            .rows()
            .values()
            .filter(|r| query.matches(r) && self.visible(def, r, caller))
            .count() as u64)
    }

    /// Every child row of `parent` (the parent-path `GET` of a child collection).
    pub(crate) fn children(&self, def: &EntityDef, parent: i64) -> Vec<Json> {
        self.tables
            .get(def.kind)
            .rows()
            .values()
            .filter(|r| parent_matches(def, r, Some(parent)))
            .map(|r| Json::Object(with_udfs(def, r.clone())))
            .collect()
    }

    /// Remembers a query for `query/next` calls that come without a body.
    pub(crate) fn remember_query(&mut self, query: Query) -> u64 {
        self.queries.remember(query)
    }

    /// A remembered query, unless forgotten.
    pub(crate) fn remembered_query(&self, token: u64) -> Option<&Query> {
        self.queries.get(token)
    }

    /// `{Entity}/entityInformation` for this caller. The caller's rights: webhook families
    /// create with the Webhooks permission; Resources update with admin rights. With
    /// `capability_flags = caller` `canCreate`/`canUpdate` follow them; `userAccessFor*`
    /// show them as strings or as `{}` (`access_levels`).
    pub(crate) fn entity_info(&self, def: &EntityDef, caller: &Caller) -> Json {
        let (create, update) = match def.kind {
            Kind::Webhooks(_)
            | Kind::WebhookFields(_)
            | Kind::WebhookUdfFields(_)
            | Kind::WebhookExcluded(_) => (caller.can_create_webhooks(), true),
            Kind::Resources => (false, caller.resource_admin()),
            _ => (true, true),
        };
        def.info(
            metadata::Rights {
                create,
                update,
                delete: true,
            },
            self.behaviour,
        )
    }
}

/// Checks a query against the entity's fields: known, queryable, booleans as literals, UDF
/// names known, `IncludeFields` known.
fn validate_query(def: &EntityDef, query: &Query) -> Result<(), Error> {
    fn walk(def: &EntityDef, f: &Filter) -> Result<(), Error> {
        let (field, udf, values): (&str, bool, Vec<&Value>) = match f {
            Filter::And(items) | Filter::Or(items) => {
                return items.iter().try_for_each(|i| walk(def, i));
            }
            Filter::Compare {
                field, value, udf, ..
            } => (field, *udf, vec![value]),
            Filter::Exist { field, udf } | Filter::NotExist { field, udf } => (field, *udf, vec![]),
            Filter::In { field, values, udf } | Filter::NotIn { field, values, udf } => {
                (field, *udf, values.iter().collect())
            }
        };
        if udf {
            let known = def.has_udfs
                && metadata::webhook_udf_catalog(WebhookFamily::Ticket)
                    .iter()
                    .any(|(_, n)| n.eq_ignore_ascii_case(field));
            if !known {
                return Err(Error::rejected(format!(
                    "Unable to find user-defined field {field} in the {} entity.",
                    def.name
                )));
            }
            return Ok(());
        }
        let fd = def.field(field).ok_or_else(|| {
            Error::rejected(format!(
                "Unable to find field {field} in the {} entity.",
                def.name
            ))
        })?;
        if !fd.queryable {
            return Err(Error::rejected(format!(
                "Field {} of the {} entity cannot be queried.",
                fd.name, def.name
            )));
        }
        if fd.ty == Ty::Boolean && values.iter().any(|v| !matches!(v, Value::Bool(_))) {
            return Err(Error::rejected(format!(
                "Field {} is a boolean: its filter value must be true or false.",
                fd.name
            )));
        }
        Ok(())
    }
    query.filter.iter().try_for_each(|f| walk(def, f))?;
    for inc in &query.include_fields {
        if def.field(inc).is_none() && !inc.eq_ignore_ascii_case("userDefinedFields") {
            return Err(Error::rejected(format!(
                "Unable to find field {inc} in the {} entity (IncludeFields).",
                def.name
            )));
        }
    }
    Ok(())
}
