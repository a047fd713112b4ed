//! Tenant settings with their defaults and validation. Every validation error names the
//! setting's path (`webhook_families[0].subscribed_fields`), so the CLI, the HTTP API and the
//! dashboard can point at it.
//!
//! Webhook URLs are derived, never configured one by one: `{webhook_url_base}/{tenant}/
//! {resource id of the API user}/{family}`. That makes each URL unique per tenant, API user and
//! family, which Autotask's duplicate rule needs (same entity + URL + event counts as a
//! duplicate across owners, inactive ones included), and lets `ensure_webhooks` recognise its
//! own webhook after a lost response without remembering ids.
//!
//! Deactivation URLs: `{deactivation_url_base}/{tenant}/{user}/{family}` when
//! `deactivation_url_base` is set (where `onboard api` receives Autotask's deactivation
//! callouts and opens a repair run), else `{webhook URL}/deactivated` as before. The base may be
//! `http://` only on a loopback host (tests and the simulator); Autotask itself gets `https://`.

use std::time::Duration;

use autotask_types::{ResourceId, WebhookFamily};
use serde::{Deserialize, Serialize};

use crate::Error;

/// A line of business: an organizational level 1 (division) and level 2, e.g.
/// `General > IT Services`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LineOfBusiness {
    /// Level 1 name, e.g. `General`.
    pub level1: String,
    /// Level 2 name, e.g. `IT Services`.
    pub level2: String,
}

impl LineOfBusiness {
    /// `level1 > level2`.
    pub fn new(level1: &str, level2: &str) -> Self {
        Self {
            level1: level1.into(),
            level2: level2.into(),
        }
    }
}

impl std::fmt::Display for LineOfBusiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} > {}", self.level1, self.level2)
    }
}

/// One webhook family to maintain and the entity fields whose changes fire it (by their
/// label in `{Family}WebhookFields/entityInformation/fields`, picklist of `fieldID`).
///
/// On the wire a family is either its name alone (`"Company"`: the family's
/// [`default_fields`]) or `{"family": "Company", "subscribed_fields": [...]}`, where an absent
/// `subscribed_fields` also means the defaults. An explicit empty list stays empty and is
/// refused by [`TenantSettings::validate`]. This one decoder serves the CLI's request files,
/// the HTTP API and cohort files alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FamilySettings {
    /// The family.
    pub family: WebhookFamily,
    /// Labels of the subscribed fields (at least one: Autotask needs one to make a webhook
    /// ready).
    pub subscribed_fields: Vec<String>,
    /// Labels of subscribed user-defined fields (the picklist of `udfFieldID` in
    /// `{Family}WebhookUdfFields/entityInformation/fields`); none by default, and none
    /// possible for TicketNote.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribed_udf_fields: Vec<String>,
}

impl FamilySettings {
    /// The family with its [`default_fields`].
    pub fn new(family: WebhookFamily) -> Self {
        Self {
            family,
            subscribed_fields: default_fields(family)
                .iter()
                .map(|(label, _)| (*label).to_owned())
                .collect(),
            subscribed_udf_fields: Vec::new(),
        }
    }
}

/// The fields subscribed by default, per family, each with the reason an endpoint-security
/// integration (Sophos Central's PSA sync) needs it. The labels are the entity's field names,
/// which [`crate::fields`] matches against Autotask's labels ignoring case, spaces and
/// punctuation, so "Company Name" and "companyName" are the same field.
pub fn default_fields(family: WebhookFamily) -> &'static [(&'static str, &'static str)] {
    match family {
        WebhookFamily::Company => &[
            (
                "companyName",
                "the customer's name is how a Sophos Central tenant is mapped to its company",
            ),
            (
                "isActive",
                "a deactivated customer must stop being synchronised",
            ),
        ],
        WebhookFamily::Contact => &[
            (
                "emailAddress",
                "alerts and tickets reach customer contacts by their e-mail address",
            ),
            (
                "isActive",
                "a deactivated contact must no longer receive alerts",
            ),
        ],
        WebhookFamily::ConfigurationItem => &[
            (
                "serialNumber",
                "devices are matched to protected endpoints by serial number",
            ),
            (
                "referenceTitle",
                "the device name shown next to the endpoint in Sophos Central",
            ),
            (
                "isActive",
                "a retired device must drop out of usage and contract counts",
            ),
        ],
        WebhookFamily::Ticket => &[
            (
                "Status",
                "an alert ticket closed or reopened in Autotask updates the alert",
            ),
            (
                "Priority",
                "a changed priority is mirrored to the alert's severity",
            ),
        ],
        WebhookFamily::TicketNote => &[
            (
                "title",
                "a technician's note on an alert ticket is synchronised back",
            ),
            ("description", "the note's text itself"),
        ],
    }
}

impl<'de> Deserialize<'de> for FamilySettings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = FamilySettings;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a webhook family name (e.g. \"Company\") or {\"family\": ..., \
                     \"subscribed_fields\": [...]}",
                )
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<FamilySettings, E> {
                name.parse().map(FamilySettings::new).map_err(E::custom)
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<FamilySettings, A::Error> {
                use serde::de::Error as _;
                const KEYS: &[&str] = &["family", "subscribed_fields", "subscribed_udf_fields"];
                let mut family: Option<String> = None;
                let mut fields: Option<Vec<String>> = None;
                let mut udfs: Option<Vec<String>> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "family" if family.is_none() => family = Some(map.next_value()?),
                        "subscribed_fields" if fields.is_none() => {
                            fields = Some(map.next_value()?);
                        }
                        "subscribed_udf_fields" if udfs.is_none() => {
                            udfs = Some(map.next_value()?);
                        }
                        k if KEYS.contains(&k) => {
                            return Err(A::Error::custom(format!("duplicate field `{key}`")));
                        }
                        other => return Err(A::Error::unknown_field(other, KEYS)),
                    }
                }
                let family: WebhookFamily = family
                    .ok_or_else(|| A::Error::missing_field("family"))?
                    .parse()
                    .map_err(A::Error::custom)?;
                let mut settings = FamilySettings::new(family);
                if let Some(fields) = fields {
                    settings.subscribed_fields = fields;
                }
                settings.subscribed_udf_fields = udfs.unwrap_or_default();
                Ok(settings)
            }
        }

        d.deserialize_any(Visitor)
    }
}

/// Per-tenant settings of the onboarding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantSettings {
    /// Lines of business the API user must belong to (A11).
    #[serde(default = "default_lines_of_business")]
    pub lines_of_business: Vec<LineOfBusiness>,
    /// The webhook families to maintain, each with its subscribed fields.
    #[serde(default = "default_webhook_families")]
    pub webhook_families: Vec<FamilySettings>,
    /// HTTPS base of the webhook URLs, e.g. `https://hooks.example.com/autotask`.
    pub webhook_url_base: String,
    /// Receives Autotask's webhook error and threshold mails.
    #[serde(default)]
    pub notification_email: Option<String>,
    /// Base of the webhooks' deactivation URLs: where `onboard api` receives Autotask's
    /// deactivation callouts (its `deactivation_url_base`). Unset: `{webhook URL}/deactivated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivation_url_base: Option<String>,
    /// Deactivate the previous API user after its webhooks are cleaned up, even when the run
    /// did not reactivate it.
    #[serde(default)]
    pub deactivate_previous_user: bool,
    /// How long operator steps are re-checked before the run fails, in seconds (7 days).
    #[serde(
        default = "default_operator_deadline_secs",
        deserialize_with = "whole_seconds"
    )]
    pub operator_deadline_secs: u64,
    /// Share of the tenant's hourly request budget above which a run is deferred (0.75).
    #[serde(default = "default_budget_pause_ratio")]
    pub budget_pause_ratio: f64,
}

fn default_lines_of_business() -> Vec<LineOfBusiness> {
    vec![
        LineOfBusiness::new("General", "IT Services"),
        LineOfBusiness::new("General", "Software Development"),
    ]
}

fn default_webhook_families() -> Vec<FamilySettings> {
    vec![FamilySettings::new(WebhookFamily::Ticket)]
}

/// A whole number of seconds (see [`whole_number`]).
fn whole_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    whole_number(d, "seconds")
}

/// A whole number of `unit` (e.g. `seconds`; empty: none), also written as a number with a
/// zero fraction (`60.0`): JSON Schema's `integer`, which the HTTP API's OpenAPI document
/// promises. For `deserialize_with` wrappers here and in other crates.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(
    d: D,
    unit: &'static str,
) -> Result<u64, D::Error> {
    struct Whole(&'static str);
    impl Whole {
        fn of(&self) -> String {
            if self.0.is_empty() {
                String::new()
            } else {
                format!(" of {}", self.0)
            }
        }
    }
    impl serde::de::Visitor<'_> for Whole {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "a whole number{}", self.of())
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v)
                .map_err(|_| E::custom(format!("{v} is not a positive number{}", self.of())))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
            if v.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::custom(format!("{v} is not a whole number{}", self.of())))
            }
        }
    }
    d.deserialize_any(Whole(unit))
}

fn default_operator_deadline_secs() -> u64 {
    7 * 24 * 3600
}

fn default_budget_pause_ratio() -> f64 {
    0.75
}

/// Longest field label, UDF label or line-of-business name accepted (characters).
pub const MAX_LABEL: usize = 100;
/// Most labels per family, and most lines of business.
pub const MAX_LIST: usize = 50;
/// The longest an operator step may wait for its operator: a year, in seconds.
pub const MAX_OPERATOR_DEADLINE_SECS: u64 = 365 * 24 * 3600;

/// The prefix of every webhook name onboard creates; webhooks of the new user with this
/// prefix but another URL are stale and get removed.
pub const WEBHOOK_NAME_PREFIX: &str = "Sophos Central";

impl TenantSettings {
    /// Defaults for everything but the URL base.
    pub fn new(webhook_url_base: impl Into<String>) -> Self {
        Self {
            lines_of_business: default_lines_of_business(),
            webhook_families: default_webhook_families(),
            webhook_url_base: webhook_url_base.into(),
            notification_email: None,
            deactivation_url_base: None,
            deactivate_previous_user: false,
            operator_deadline_secs: default_operator_deadline_secs(),
            budget_pause_ratio: default_budget_pause_ratio(),
        }
    }

    /// The operator deadline as a duration.
    pub fn operator_deadline(&self) -> Duration {
        Duration::from_secs(self.operator_deadline_secs)
    }

    /// The configured families, in order.
    pub fn families(&self) -> impl Iterator<Item = WebhookFamily> + '_ {
        self.webhook_families.iter().map(|f| f.family)
    }

    /// One line per family naming the fields its webhook subscribes to, e.g.
    /// `Ticket webhook fields: Status, Priority` (dry runs, status, enqueue).
    pub fn subscriptions(&self) -> Vec<String> {
        self.webhook_families
            .iter()
            .map(|f| {
                let mut line = format!(
                    "{} webhook fields: {}",
                    f.family,
                    f.subscribed_fields.join(", ")
                );
                if !f.subscribed_udf_fields.is_empty() {
                    line.push_str(&format!("; UDFs: {}", f.subscribed_udf_fields.join(", ")));
                }
                line
            })
            .collect()
    }

    /// The settings of one family.
    pub fn family(&self, family: WebhookFamily) -> Option<&FamilySettings> {
        self.webhook_families.iter().find(|f| f.family == family)
    }

    /// Checks every setting; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field: String, reason: &str| {
            Err(Error::InvalidSetting {
                field,
                reason: reason.into(),
            })
        };
        if self.lines_of_business.len() > MAX_LIST {
            return bad("lines_of_business".into(), "at most 50 entries");
        }
        for (i, lob) in self.lines_of_business.iter().enumerate() {
            for (part, name) in [("level1", &lob.level1), ("level2", &lob.level2)] {
                if name.chars().count() > MAX_LABEL {
                    return bad(
                        format!("lines_of_business[{i}].{part}"),
                        "must be at most 100 characters",
                    );
                }
            }
            if lob.level1.trim().is_empty() {
                return bad(
                    format!("lines_of_business[{i}].level1"),
                    "must not be empty",
                );
            }
            if lob.level2.trim().is_empty() {
                return bad(
                    format!("lines_of_business[{i}].level2"),
                    "must not be empty",
                );
            }
        }
        if self.webhook_families.is_empty() {
            return bad("webhook_families".into(), "name at least one family");
        }
        for (i, fam) in self.webhook_families.iter().enumerate() {
            for (setting, labels) in [
                ("subscribed_fields", &fam.subscribed_fields),
                ("subscribed_udf_fields", &fam.subscribed_udf_fields),
            ] {
                if labels.len() > MAX_LIST {
                    return bad(
                        format!("webhook_families[{i}].{setting}"),
                        "at most 50 labels",
                    );
                }
                if let Some(j) = labels.iter().position(|l| l.chars().count() > MAX_LABEL) {
                    return bad(
                        format!("webhook_families[{i}].{setting}[{j}]"),
                        "must be at most 100 characters",
                    );
                }
            }
            if self.webhook_families[..i]
                .iter()
                .any(|f| f.family == fam.family)
            {
                return bad(
                    format!("webhook_families[{i}].family"),
                    "each family may appear only once",
                );
            }
            if fam.subscribed_fields.is_empty() {
                return bad(
                    format!("webhook_families[{i}].subscribed_fields"),
                    "name at least one field: Autotask makes a webhook ready only with one",
                );
            }
            for (j, f) in fam.subscribed_fields.iter().enumerate() {
                if f.trim().is_empty() {
                    return bad(
                        format!("webhook_families[{i}].subscribed_fields[{j}]"),
                        "must not be empty",
                    );
                }
            }
            if !fam.subscribed_udf_fields.is_empty() && !fam.family.has_udf_fields() {
                return bad(
                    format!("webhook_families[{i}].subscribed_udf_fields"),
                    "TicketNote webhooks have no user-defined fields",
                );
            }
            for (j, f) in fam.subscribed_udf_fields.iter().enumerate() {
                if f.trim().is_empty() {
                    return bad(
                        format!("webhook_families[{i}].subscribed_udf_fields[{j}]"),
                        "must not be empty",
                    );
                }
            }
        }
        let base = &self.webhook_url_base;
        if !base.starts_with("https://") || base.len() <= "https://".len() {
            return bad(
                "webhook_url_base".into(),
                "must be an https:// URL (Autotask posts to port 443 only)",
            );
        }
        if base.chars().count() > 400 {
            return bad(
                "webhook_url_base".into(),
                "must be at most 400 characters (webhook URLs are limited to 500)",
            );
        }
        if base.contains(['?', '#', ' ']) {
            return bad(
                "webhook_url_base".into(),
                "must not contain a query, a fragment or spaces",
            );
        }
        if !host_is_plain(&base["https://".len()..]) {
            return bad("webhook_url_base".into(), HOST_RULE);
        }
        if let Some(base) = &self.deactivation_url_base {
            validate_deactivation_url_base(base).map_err(|reason| Error::InvalidSetting {
                field: "deactivation_url_base".into(),
                reason: reason.into(),
            })?;
        }
        if let Some(email) = &self.notification_email {
            let ok = email.chars().count() <= 150
                && email
                    .split_once('@')
                    .is_some_and(|(a, d)| !a.is_empty() && d.contains('.') && !d.contains('@'));
            if !ok {
                return bad(
                    "notification_email".into(),
                    "must be an email address of at most 150 characters",
                );
            }
        }
        if !(1..=MAX_OPERATOR_DEADLINE_SECS).contains(&self.operator_deadline_secs) {
            return bad(
                "operator_deadline_secs".into(),
                "must be from 1 to 31536000 seconds (a year)",
            );
        }
        if !(self.budget_pause_ratio > 0.0 && self.budget_pause_ratio <= 1.0) {
            return bad("budget_pause_ratio".into(), "must be in (0, 1]");
        }
        Ok(())
    }

    /// The webhook URL for a tenant, API user and family: unique per all three.
    pub fn webhook_url(&self, tenant: &str, user: ResourceId, family: WebhookFamily) -> String {
        format!(
            "{}/{}/{}/{}",
            self.webhook_url_base.trim_end_matches('/'),
            tenant,
            user,
            family.as_str().to_ascii_lowercase()
        )
    }

    /// The deactivation URL that belongs to [`Self::webhook_url`].
    pub fn deactivation_url(
        &self,
        tenant: &str,
        user: ResourceId,
        family: WebhookFamily,
    ) -> String {
        match &self.deactivation_url_base {
            Some(base) => format!(
                "{}/{}/{}/{}",
                base.trim_end_matches('/'),
                tenant,
                user,
                family.as_str().to_ascii_lowercase()
            ),
            None => format!("{}/deactivated", self.webhook_url(tenant, user, family)),
        }
    }

    /// The webhook name (at most 50 characters for Autotask's int32 resource ids).
    pub fn webhook_name(user: ResourceId, family: WebhookFamily) -> String {
        format!("{WEBHOOK_NAME_PREFIX} {} {user}", family.as_str())
    }
}

/// Checks a deployment's `deactivation_url_base`: `https://` (or `http://` on a loopback host,
/// for tests and the simulator), at most 400 characters, no query, fragment or spaces.
pub fn validate_deactivation_url_base(base: &str) -> Result<(), &'static str> {
    let rest = if let Some(rest) = base.strip_prefix("https://") {
        rest
    } else if let Some(rest) = base.strip_prefix("http://") {
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        if !matches!(host, "127.0.0.1" | "localhost") {
            return Err("must be an https:// URL (http:// only on 127.0.0.1 or localhost)");
        }
        rest
    } else {
        return Err("must be an https:// URL (http:// only on 127.0.0.1 or localhost)");
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err("must name a host");
    }
    if base.chars().count() > 400 {
        return Err("must be at most 400 characters (deactivation URLs are limited to 500)");
    }
    if base.contains(['?', '#', ' ']) {
        return Err("must not contain a query, a fragment or spaces");
    }
    if !host_is_plain(rest) {
        return Err(HOST_RULE);
    }
    Ok(())
}

/// What [`host_is_plain`] asks of a URL base's host.
const HOST_RULE: &str =
    "must name its host with letters, digits, '.' and '-' only, then an optional :port";

/// Whether the part of a URL after `scheme://` starts with a plain host name (letters,
/// digits, `.`, `-`; no IPv6 literal, no user info) and an optional `:port` of 1 to 5
/// digits, followed by the end or a `/`. The API document states the same as a pattern.
fn host_is_plain(rest: &str) -> bool {
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a tenant id used in URLs and keys: 1..=64 of `[A-Za-z0-9_-]`.
pub fn validate_tenant_id(tenant: &str) -> Result<(), Error> {
    if tenant.is_empty()
        || tenant.len() > 64
        || !tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Error::InvalidSetting {
            field: "tenant_id".into(),
            reason: "must be 1 to 64 letters, digits, '-' or '_'".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
