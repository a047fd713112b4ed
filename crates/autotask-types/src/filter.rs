//! The query language: a [`Filter`] AST for every Autotask operator, the [`Query`] body of
//! `POST {Entity}/query`, their JSON form, and how a filter matches a row.
//!
//! Serialization writes the 2026 contract's camelCase keys (`filter`, `maxRecords`,
//! `includeFields`; `op`, `field`, `value`, `udf`, `items`). Parsing is lenient the way
//! Autotask is: keys and operator names are case-insensitive. Matching follows Autotask's SQL
//! Server collation: field names and string comparisons are case-insensitive.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value as Json, json};

/// A literal in a filter: Autotask accepts integers, strings and booleans.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A decimal number.
    Float(f64),
    /// A string.
    Str(String),
    /// A boolean (must be a JSON literal, never a string).
    Bool(bool),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Self::Int(v.into())
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Str(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Str(v)
    }
}

impl Value {
    fn to_json(&self) -> Json {
        match self {
            Self::Int(i) => json!(i),
            Self::Float(f) => json!(f),
            Self::Str(s) => json!(s),
            Self::Bool(b) => json!(b),
        }
    }

    fn from_json(v: &Json, path: &str) -> Result<Self, FilterError> {
        match v {
            Json::Bool(b) => Ok(Self::Bool(*b)),
            Json::String(s) => Ok(Self::Str(s.clone())),
            Json::Number(n) => n
                .as_i64()
                .map(Self::Int)
                .or_else(|| n.as_f64().map(Self::Float))
                .ok_or_else(|| FilterError::new(path, "number out of range")),
            Json::Null => Err(FilterError::new(path, "value must not be null")),
            _ => Err(FilterError::new(
                path,
                "value must be an integer, a string or a boolean",
            )),
        }
    }

    /// Compares a row's value with this literal: numbers numerically, strings
    /// case-insensitively, booleans only with booleans. `None` when incomparable.
    fn compare(&self, row: &Json) -> Option<Ordering> {
        match (self, row) {
            (Self::Bool(a), Json::Bool(b)) => Some(b.cmp(a)),
            (Self::Int(_) | Self::Float(_), Json::Number(n)) => {
                n.as_f64()?.partial_cmp(&self.as_f64()?)
            }
            (Self::Int(_) | Self::Float(_), Json::String(s)) => {
                s.parse::<f64>().ok()?.partial_cmp(&self.as_f64()?)
            }
            (Self::Str(a), Json::String(b)) => Some(b.to_lowercase().cmp(&a.to_lowercase())),
            (Self::Str(a), Json::Number(n)) => n.as_f64()?.partial_cmp(&a.parse::<f64>().ok()?),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Int(i) => Some(*i as f64),
            Self::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// The comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`
    Eq,
    /// `noteq`
    NotEq,
    /// `gt`
    Gt,
    /// `gte`
    Gte,
    /// `lt`
    Lt,
    /// `lte`
    Lte,
    /// `beginsWith` (strings)
    BeginsWith,
    /// `endsWith` (strings)
    EndsWith,
    /// `contains` (strings)
    Contains,
}

impl CompareOp {
    const ALL: [Self; 9] = [
        Self::Eq,
        Self::NotEq,
        Self::Gt,
        Self::Gte,
        Self::Lt,
        Self::Lte,
        Self::BeginsWith,
        Self::EndsWith,
        Self::Contains,
    ];

    /// The operator's wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::NotEq => "noteq",
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::BeginsWith => "beginsWith",
            Self::EndsWith => "endsWith",
            Self::Contains => "contains",
        }
    }
}

/// One condition or group of a query filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `field op value`.
    Compare {
        /// Field name (or UDF name when `udf`).
        field: String,
        /// The operator.
        op: CompareOp,
        /// The literal.
        value: Value,
        /// The field is a user-defined field.
        udf: bool,
    },
    /// `exist`: the field is not null.
    Exist {
        /// Field name.
        field: String,
        /// UDF.
        udf: bool,
    },
    /// `notExist`: the field is null.
    NotExist {
        /// Field name.
        field: String,
        /// UDF.
        udf: bool,
    },
    /// `in`: the field equals one of the values.
    In {
        /// Field name.
        field: String,
        /// The values.
        values: Vec<Value>,
        /// UDF.
        udf: bool,
    },
    /// `notIn`: the field equals none of the values.
    NotIn {
        /// Field name.
        field: String,
        /// The values.
        values: Vec<Value>,
        /// UDF.
        udf: bool,
    },
    /// `and`: every item holds.
    And(Vec<Filter>),
    /// `or`: at least one item holds.
    Or(Vec<Filter>),
}

/// A filter or query body that Autotask would reject, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// JSON path of the offending part, e.g. `filter[0].items[1].op`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl FilterError {
    fn new(path: &str, message: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for FilterError {}

fn cmp(field: &str, op: CompareOp, value: impl Into<Value>) -> Filter {
    Filter::Compare {
        field: field.to_owned(),
        op,
        value: value.into(),
        udf: false,
    }
}

impl Filter {
    /// `field eq value`
    pub fn eq(field: &str, value: impl Into<Value>) -> Self {
        cmp(field, CompareOp::Eq, value)
    }
    /// `field noteq value`
    pub fn not_eq(field: &str, value: impl Into<Value>) -> Self {
        cmp(field, CompareOp::NotEq, value)
    }
    /// `field gt value`
    pub fn gt(field: &str, value: impl Into<Value>) -> Self {
        cmp(field, CompareOp::Gt, value)
    }
    /// `field gte value`
    pub fn gte(field: &str, value: impl Into<Value>) -> Self {
        cmp(field, CompareOp::Gte, value)
    }
    /// `field lt value`
    pub fn lt(field: &str, value: impl Into<Value>) -> Self {
        cmp(field, CompareOp::Lt, value)
    }
    /// `field lte value`
    pub fn lte(field: &str, value: impl Into<Value>) -> Self {
        cmp(field, CompareOp::Lte, value)
    }
    /// `field beginsWith value`
    pub fn begins_with(field: &str, value: &str) -> Self {
        cmp(field, CompareOp::BeginsWith, value)
    }
    /// `field endsWith value`
    pub fn ends_with(field: &str, value: &str) -> Self {
        cmp(field, CompareOp::EndsWith, value)
    }
    /// `field contains value`
    pub fn contains(field: &str, value: &str) -> Self {
        cmp(field, CompareOp::Contains, value)
    }
    /// `field exist`
    pub fn exist(field: &str) -> Self {
        Self::Exist {
            field: field.to_owned(),
            udf: false,
        }
    }
    /// `field notExist`
    pub fn not_exist(field: &str) -> Self {
        Self::NotExist {
            field: field.to_owned(),
            udf: false,
        }
    }
    /// `field in values`
    pub fn is_in<V: Into<Value>>(field: &str, values: impl IntoIterator<Item = V>) -> Self {
        Self::In {
            field: field.to_owned(),
            values: values.into_iter().map(Into::into).collect(),
            udf: false,
        }
    }
    /// `field notIn values`
    pub fn not_in<V: Into<Value>>(field: &str, values: impl IntoIterator<Item = V>) -> Self {
        Self::NotIn {
            field: field.to_owned(),
            values: values.into_iter().map(Into::into).collect(),
            udf: false,
        }
    }
    /// All items hold.
    pub fn and(items: impl IntoIterator<Item = Filter>) -> Self {
        Self::And(items.into_iter().collect())
    }
    /// At least one item holds.
    pub fn or(items: impl IntoIterator<Item = Filter>) -> Self {
        Self::Or(items.into_iter().collect())
    }

    /// The same condition on a user-defined field (groups are unchanged).
    pub fn udf(mut self) -> Self {
        match &mut self {
            Self::Compare { udf, .. }
            | Self::Exist { udf, .. }
            | Self::NotExist { udf, .. }
            | Self::In { udf, .. }
            | Self::NotIn { udf, .. } => *udf = true,
            Self::And(_) | Self::Or(_) => {}
        }
        self
    }

    /// Autotask's JSON form of this filter.
    pub fn to_json(&self) -> Json {
        let condition = |op: &str, field: &str, value: Option<Json>, udf: bool| {
            let mut m = Map::new();
            m.insert("op".into(), json!(op));
            m.insert("field".into(), json!(field));
            if let Some(v) = value {
                m.insert("value".into(), v);
            }
            if udf {
                m.insert("udf".into(), json!(true));
            }
            Json::Object(m)
        };
        let list = |vs: &[Value]| Json::Array(vs.iter().map(Value::to_json).collect());
        match self {
            Self::Compare {
                field,
                op,
                value,
                udf,
            } => condition(op.as_str(), field, Some(value.to_json()), *udf),
            Self::Exist { field, udf } => condition("exist", field, None, *udf),
            Self::NotExist { field, udf } => condition("notExist", field, None, *udf),
            Self::In { field, values, udf } => condition("in", field, Some(list(values)), *udf),
            Self::NotIn { field, values, udf } => {
                condition("notIn", field, Some(list(values)), *udf)
            }
            Self::And(items) => {
                json!({"op": "and", "items": items.iter().map(Self::to_json).collect::<Vec<_>>()})
            }
            Self::Or(items) => {
                json!({"op": "or", "items": items.iter().map(Self::to_json).collect::<Vec<_>>()})
            }
        }
    }

    /// Parses Autotask's JSON form leniently (case-insensitive keys and operators), with an
    /// error naming the offending part under `path`.
    pub fn from_json(v: &Json, path: &str) -> Result<Self, FilterError> {
        let obj = v
            .as_object()
            .ok_or_else(|| FilterError::new(path, "a filter must be an object"))?;
        let get = |key: &str| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        };
        let op_path = format!("{path}.op");
        let op = get("op")
            .and_then(Json::as_str)
            .ok_or_else(|| FilterError::new(&op_path, "missing operator"))?;
        let udf = match get("udf") {
            None | Some(Json::Null) => false,
            Some(Json::Bool(b)) => *b,
            Some(_) => {
                return Err(FilterError::new(
                    &format!("{path}.udf"),
                    "udf must be true or false",
                ));
            }
        };
        if op.eq_ignore_ascii_case("and") || op.eq_ignore_ascii_case("or") {
            let items = get("items")
                .and_then(Json::as_array)
                .ok_or_else(|| FilterError::new(path, format!("'{op}' needs items")))?;
            let items = items
                .iter()
                .enumerate()
                .map(|(i, item)| Self::from_json(item, &format!("{path}.items[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            if items.is_empty() {
                return Err(FilterError::new(path, format!("'{op}' needs items")));
            }
            return Ok(if op.eq_ignore_ascii_case("and") {
                Self::And(items)
            } else {
                Self::Or(items)
            });
        }
        let field_path = format!("{path}.field");
        let field = get("field")
            .and_then(Json::as_str)
            .filter(|f| !f.is_empty())
            .ok_or_else(|| FilterError::new(&field_path, "missing field"))?
            .to_owned();
        let value_path = format!("{path}.value");
        if op.eq_ignore_ascii_case("exist") {
            return Ok(Self::Exist { field, udf });
        }
        if op.eq_ignore_ascii_case("notExist") {
            return Ok(Self::NotExist { field, udf });
        }
        if op.eq_ignore_ascii_case("in") || op.eq_ignore_ascii_case("notIn") {
            let values = get("value")
                .and_then(Json::as_array)
                .ok_or_else(|| FilterError::new(&value_path, format!("'{op}' needs an array")))?
                .iter()
                .enumerate()
                .map(|(i, v)| Value::from_json(v, &format!("{value_path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if op.eq_ignore_ascii_case("in") {
                Self::In { field, values, udf }
            } else {
                Self::NotIn { field, values, udf }
            });
        }
        let cmp_op = CompareOp::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(op))
            .ok_or_else(|| FilterError::new(&op_path, format!("unknown operator '{op}'")))?;
        let value = get("value")
            .ok_or_else(|| FilterError::new(&value_path, format!("'{op}' needs a value")))
            .and_then(|v| Value::from_json(v, &value_path))?;
        Ok(Self::Compare {
            field,
            op: cmp_op,
            value,
            udf,
        })
    }

    /// Whether a row (a JSON object of the entity, UDFs in `userDefinedFields` as
    /// `{name, value}` pairs) satisfies this filter.
    pub fn matches(&self, row: &Map<String, Json>) -> bool {
        match self {
            Self::And(items) => items.iter().all(|f| f.matches(row)),
            Self::Or(items) => items.iter().any(|f| f.matches(row)),
            Self::Exist { field, udf } => !lookup(row, field, *udf).is_null(),
            Self::NotExist { field, udf } => lookup(row, field, *udf).is_null(),
            Self::In { field, values, udf } => {
                let v = lookup(row, field, *udf);
                values.iter().any(|x| x.compare(v) == Some(Ordering::Equal))
            }
            Self::NotIn { field, values, udf } => {
                let v = lookup(row, field, *udf);
                !v.is_null() && values.iter().all(|x| x.compare(v) != Some(Ordering::Equal))
            }
            Self::Compare {
                field,
                op,
                value,
                udf,
            } => {
                let v = lookup(row, field, *udf);
                let text = |f: fn(&str, &str) -> bool| match (v, value) {
                    (Json::String(s), Value::Str(p)) => f(&s.to_lowercase(), &p.to_lowercase()),
                    _ => false,
                };
                match op {
                    CompareOp::BeginsWith => text(|s, p| s.starts_with(p)),
                    CompareOp::EndsWith => text(|s, p| s.ends_with(p)),
                    CompareOp::Contains => text(|s, p| s.contains(p)),
                    CompareOp::NotEq => !v.is_null() && value.compare(v) != Some(Ordering::Equal),
                    _ => value.compare(v).is_some_and(|o| match op {
                        CompareOp::Eq => o == Ordering::Equal,
                        CompareOp::Gt => o == Ordering::Greater,
                        CompareOp::Gte => o != Ordering::Less,
                        CompareOp::Lt => o == Ordering::Less,
                        CompareOp::Lte => o != Ordering::Greater,
                        _ => false,
                    }),
                }
            }
        }
    }

    /// Number of UDF conditions in this filter (Autotask allows one per query).
    pub fn udf_conditions(&self) -> usize {
        match self {
            Self::And(items) | Self::Or(items) => items.iter().map(Self::udf_conditions).sum(),
            Self::Compare { udf, .. }
            | Self::Exist { udf, .. }
            | Self::NotExist { udf, .. }
            | Self::In { udf, .. }
            | Self::NotIn { udf, .. } => usize::from(*udf),
        }
    }

    /// Number of conditions under `or` groups (Autotask allows 500 per query).
    pub fn or_conditions(&self) -> usize {
        match self {
            Self::Or(items) => items.len() + items.iter().map(Self::or_conditions).sum::<usize>(),
            Self::And(items) => items.iter().map(Self::or_conditions).sum(),
            _ => 0,
        }
    }
}

fn lookup<'a>(row: &'a Map<String, Json>, field: &str, udf: bool) -> &'a Json {
    static NULL: Json = Json::Null;
    if udf {
        return row
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("userDefinedFields"))
            .and_then(|(_, v)| v.as_array())
            .and_then(|udfs| {
                udfs.iter().find(|u| {
                    u.get("name")
                        .and_then(Json::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(field))
                })
            })
            .and_then(|u| u.get("value"))
            .unwrap_or(&NULL);
    }
    row.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(field))
        .map(|(_, v)| v)
        .unwrap_or(&NULL)
}

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Json::deserialize(d)?;
        Self::from_json(&v, "filter").map_err(serde::de::Error::custom)
    }
}

/// The body of `POST {Entity}/query` (and of `query/count`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// Conditions, ANDed at the top level. Autotask requires at least one.
    pub filter: Vec<Filter>,
    /// Page size, 1..=500.
    pub max_records: Option<u32>,
    /// Only these fields in the answer (`id` is always added when set).
    pub include_fields: Vec<String>,
}

impl Query {
    /// A query with these top-level conditions.
    pub fn new(filter: impl IntoIterator<Item = Filter>) -> Self {
        Self {
            filter: filter.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Every row: `id gte 0` (Autotask requires a filter).
    pub fn all() -> Self {
        Self::new([Filter::gte("id", 0)])
    }

    /// Sets `MaxRecords`.
    pub fn max_records(mut self, n: u32) -> Self {
        self.max_records = Some(n);
        self
    }

    /// Sets `IncludeFields`.
    pub fn include_fields<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.include_fields = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Autotask's JSON form.
    pub fn to_json(&self) -> Json {
        let mut m = Map::new();
        m.insert(
            "filter".into(),
            Json::Array(self.filter.iter().map(Filter::to_json).collect()),
        );
        if let Some(n) = self.max_records {
            m.insert("maxRecords".into(), json!(n));
        }
        if !self.include_fields.is_empty() {
            m.insert("includeFields".into(), json!(self.include_fields));
        }
        Json::Object(m)
    }

    /// Parses a query body as Autotask does (case-insensitive keys) and checks its rules:
    /// at least one condition, `MaxRecords` 1..=500, at most one UDF condition and at most
    /// 500 `or` conditions.
    pub fn from_json(v: &Json) -> Result<Self, FilterError> {
        let obj = v
            .as_object()
            .ok_or_else(|| FilterError::new("$", "the query must be a JSON object"))?;
        let get = |key: &str| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        };
        let filter = match get("filter") {
            Some(Json::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, f)| Filter::from_json(f, &format!("filter[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(FilterError::new("filter", "must be an array")),
            None => Vec::new(),
        };
        if filter.is_empty() {
            return Err(FilterError::new(
                "filter",
                "at least one filter condition is required",
            ));
        }
        let max_records = match get("maxRecords") {
            None | Some(Json::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n @ 1..=500) => Some(n as u32),
                _ => {
                    return Err(FilterError::new(
                        "maxRecords",
                        "must be an integer from 1 to 500",
                    ));
                }
            },
        };
        let include_fields = match get("includeFields") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(fs)) => fs
                .iter()
                .map(|f| {
                    f.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| FilterError::new("includeFields", "must be strings"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(FilterError::new("includeFields", "must be an array")),
        };
        let query = Self {
            filter,
            max_records,
            include_fields,
        };
        let udfs: usize = query.filter.iter().map(Filter::udf_conditions).sum();
        if udfs > 1 {
            return Err(FilterError::new(
                "filter",
                "only one user-defined field may be queried at a time",
            ));
        }
        let ors: usize = query.filter.iter().map(Filter::or_conditions).sum();
        if ors > 500 {
            return Err(FilterError::new(
                "filter",
                "a query may have at most 500 'or' conditions",
            ));
        }
        Ok(query)
    }

    /// Whether a row satisfies every top-level condition.
    pub fn matches(&self, row: &Map<String, Json>) -> bool {
        self.filter.iter().all(|f| f.matches(row))
    }
}

impl Serialize for Query {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Query {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Json::deserialize(d)?;
        Self::from_json(&v).map_err(serde::de::Error::custom)
    }
}
