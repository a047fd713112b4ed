//! Decoding what the contract allows, not only what we have seen: serde helpers for fields
//! whose Rust type has no "unset" (a `bool`, a `Vec`, a `String`), and the typed
//! [`AccessLevel`] of `entityInformation`'s `userAccessFor*`.
//!
//! The contract marks every property of every model as nullable or optional, and Autotask
//! sends `null` for properties that are unset (e.g. `"picklistValues": null` for a field that
//! is not a picklist) where our simulator happened to send `[]`. A field of a type without an
//! unset value takes [`null_as_default`]: `null` and an absent property both decode as the
//! type's default (`false`, empty, `""`, 0). `Option` fields need no helper: serde already
//! reads both as `None`. Unknown properties are ignored everywhere (no
//! `deny_unknown_fields`). Serialization is unchanged by these helpers.
//!
//! ## `userAccessFor*` ([`AccessLevel`])
//!
//! The 2026 contract types `userAccessForCreate|Delete|Query|Update` as a reference to an
//! empty object (`RestUserAccessLevel`, no properties) and documents no values
//! (`autotask-api.md` §2: semantics undocumented, \[L\]). What public clients report:
//! the REST API sends the names `"None"`, `"All"` or `"Restricted"` as JSON strings, and
//! Autotask's documentation lists them as the integers 0, 1 and 2 (a C# client's
//! `RestUserAccessLevel` converter and its tests; a TypeScript client's
//! `"None" | "All" | "Restricted"`; another TypeScript client reads numbers) \[L: no Autotask
//! text confirms either form\]. So both forms are read, names case-insensitively; anything
//! else (`{}` as the contract's example shape, `null`, an unknown name or number, another
//! shape) is kept as [`AccessLevel::Unknown`], [`AccessLevel::OtherName`] or
//! [`AccessLevel::OtherNumber`] and never fails the response.
//!
//! What a level says about the caller's right ([`AccessLevel::permits`]): `None` (0) is a
//! known refusal, `All` (1) a known permission; `Restricted` (2, "some rows only", like the
//! web interface's "Mine") and everything unknown cannot say whether a create will be
//! allowed, so they answer `None` and the caller must let the write itself decide.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value as Json;

/// Reads `null` (and, with `#[serde(default)]`, an absent property) as `T::default()`.
///
/// Use as `#[serde(default, deserialize_with = "crate::lenient::null_as_default")]`.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// The caller's access to an operation on an entity (`entityInformation` →
/// `userAccessFor*`); see the module documentation for the sources of each form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum AccessLevel {
    /// `"None"` or 0: the caller may not.
    None,
    /// `"All"` or 1: the caller may, on every row.
    All,
    /// `"Restricted"` or 2: the caller may on some rows only.
    Restricted,
    /// A string that is none of the known names, kept as sent.
    OtherName(String),
    /// A number that is none of the known values, kept as sent.
    OtherNumber(i64),
    /// Absent, `null`, `{}` (the contract's shape) or any other shape.
    #[default]
    Unknown,
}

impl AccessLevel {
    /// Reads any JSON value; never fails.
    pub fn from_json(v: &Json) -> Self {
        match v {
            Json::String(s) => Self::from_name(s),
            Json::Number(n) => n.as_i64().map_or(Self::Unknown, Self::from_number),
            _ => Self::Unknown,
        }
    }

    fn from_number(n: i64) -> Self {
        match n {
            0 => Self::None,
            1 => Self::All,
            2 => Self::Restricted,
            n => Self::OtherNumber(n),
        }
    }

    fn from_name(s: &str) -> Self {
        let t = s.trim();
        if let Ok(n) = t.parse::<i64>() {
            return Self::from_number(n);
        }
        if t.eq_ignore_ascii_case("none") {
            Self::None
        } else if t.eq_ignore_ascii_case("all") {
            Self::All
        } else if t.eq_ignore_ascii_case("restricted") {
            Self::Restricted
        } else if t.is_empty() {
            Self::Unknown
        } else {
            Self::OtherName(s.to_owned())
        }
    }

    /// Whether the level lets the caller do the operation: `Some(true)` for `All`,
    /// `Some(false)` for `None`, and `None` when it cannot be known from the level
    /// (`Restricted`, unknown names, numbers and shapes).
    pub fn permits(&self) -> Option<bool> {
        match self {
            Self::All => Some(true),
            Self::None => Some(false),
            Self::Restricted | Self::OtherName(_) | Self::OtherNumber(_) | Self::Unknown => None,
        }
    }

    /// Whether nothing usable was sent (absent, `null`, `{}`, another shape).
    pub fn is_unknown(&self) -> bool {
        matches!(self, Self::Unknown)
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::All => f.write_str("All"),
            Self::Restricted => f.write_str("Restricted"),
            Self::OtherName(s) => write!(f, "{s:?}"),
            Self::OtherNumber(n) => write!(f, "{n}"),
            Self::Unknown => f.write_str("unknown"),
        }
    }
}

impl Serialize for AccessLevel {
    /// Known levels as their names, unknown names and numbers as sent, `Unknown` as `null`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::None => s.serialize_str("None"),
            Self::All => s.serialize_str("All"),
            Self::Restricted => s.serialize_str("Restricted"),
            Self::OtherName(name) => s.serialize_str(name),
            Self::OtherNumber(n) => s.serialize_i64(*n),
            Self::Unknown => s.serialize_none(),
        }
    }
}

impl<'de> Deserialize<'de> for AccessLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Json::deserialize(d).map(|v| Self::from_json(&v))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn access_levels_from_every_form() {
        let table = [
            (json!("None"), AccessLevel::None, Some(false)),
            (json!("none"), AccessLevel::None, Some(false)),
            (json!(" ALL "), AccessLevel::All, Some(true)),
            (json!("All"), AccessLevel::All, Some(true)),
            (json!("Restricted"), AccessLevel::Restricted, None),
            (json!(0), AccessLevel::None, Some(false)),
            (json!(1), AccessLevel::All, Some(true)),
            (json!(2), AccessLevel::Restricted, None),
            (json!("1"), AccessLevel::All, Some(true)),
            (json!(7), AccessLevel::OtherNumber(7), None),
            (json!("Mine"), AccessLevel::OtherName("Mine".into()), None),
            (json!(""), AccessLevel::Unknown, None),
            (json!({}), AccessLevel::Unknown, None),
            (json!(null), AccessLevel::Unknown, None),
            (json!(true), AccessLevel::Unknown, None),
            (json!([1]), AccessLevel::Unknown, None),
            (json!(1.5), AccessLevel::Unknown, None),
        ];
        for (wire, level, permits) in table {
            let parsed: AccessLevel = serde_json::from_value(wire.clone()).unwrap();
            assert_eq!(parsed, level, "{wire}");
            assert_eq!(parsed.permits(), permits, "{wire}");
        }
    }

    #[test]
    fn null_as_default_reads_null_and_values() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "null_as_default")]
            flag: bool,
            #[serde(default, deserialize_with = "null_as_default")]
            list: Vec<u8>,
        }
        let t: T = serde_json::from_value(json!({"flag": null, "list": null})).unwrap();
        assert!(!t.flag && t.list.is_empty());
        let t: T = serde_json::from_value(json!({})).unwrap();
        assert!(!t.flag && t.list.is_empty());
        let t: T = serde_json::from_value(json!({"flag": true, "list": [1]})).unwrap();
        assert!(t.flag && t.list == [1]);
        // A wrong type is still an error (contract drift, not silently a default).
        assert!(serde_json::from_value::<T>(json!({"flag": "yes"})).is_err());
    }
}
