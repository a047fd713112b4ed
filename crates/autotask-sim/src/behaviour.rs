//! The behaviours Autotask's documentation leaves open, as named knobs: every behaviour
//! `shared/docs/autotask-api.md` rates \[L\] (or \[M\] where our client depends on it) that the
//! simulator would otherwise hard-code. Each knob can be played both ways; [`Profile`] picks
//! a whole set: `default` keeps the kinder readings the simulator always had, `strict` takes
//! the pessimistic side of every knob (the way a real tenant could behave that our client
//! would find hardest).
//!
//! In a fixtures file the profile comes first and `[behaviour]` keys override single knobs:
//!
//! ```toml
//! profile = "strict"
//! [behaviour]
//! resource_activation = "allowed"
//! ```
//!
//! What it does not do: it does not change documented (\[H\]) rules; those are not knobs.

use serde::{Deserialize, Serialize};

/// A named set of knob positions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The simulator's long-standing readings (kind where Autotask is unconfirmed).
    #[default]
    Default,
    /// The pessimistic side of every knob.
    Strict,
}

impl Profile {
    /// The knob positions of this profile.
    pub fn behaviour(self) -> Behaviour {
        match self {
            Self::Default => Behaviour::default(),
            Self::Strict => Behaviour::strict(),
        }
    }

    /// The wire name (`default`, `strict`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Strict => "strict",
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "default" => Ok(Self::Default),
            "strict" => Ok(Self::Strict),
            _ => Err(format!(
                "unknown simulator profile {s:?}; expected default or strict"
            )),
        }
    }
}

/// How properties without a value are sent in metadata answers (`entityInformation/fields`
/// and `/userDefinedFields`: `picklistValues`, `referenceEntityType`,
/// `picklistParentValueField`, `defaultValue`, `description`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnsetProperties {
    /// `[]` for lists, `""` for strings (what the simulator always sent).
    #[default]
    Empty,
    /// `null`, as Autotask's field-metadata example does for non-picklist fields (the
    /// contract's correction C5: unset properties come as null).
    Null,
}

/// The shape of `userAccessForCreate|Delete|Query|Update` in `entityInformation`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLevels {
    /// `{}`: the contract types them as an empty object (semantics undocumented).
    #[default]
    Object,
    /// Strings: `"All"` where the caller has the right, `"None"` where not (what public
    /// clients receive).
    String,
}

/// What `canCreate` (and `canUpdate`) of `entityInformation` say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityFlags {
    /// They follow the caller's rights (webhook families: the Webhooks permission; Resources:
    /// admin rights), so `canCreate` reveals a missing webhook permission.
    #[default]
    Caller,
    /// They only say what the entity supports through the API at all; the caller's own
    /// right is in `userAccessFor*` alone.
    Entity,
}

/// Whether `PATCH`/`PUT Resources` may change `isActive` of an API-only resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceActivation {
    /// Allowed for callers with admin rights on Resources.
    #[default]
    Allowed,
    /// Refused with 500 `errors[]`: API-only resources are managed in the web interface.
    Refused,
    /// Accepted (200 `{itemId}`) but `isActive` stays as it was, the way Autotask ignores
    /// read-only fields in a write. A third reading, not part of a profile.
    Ignored,
}

/// Whether a user's webhook queries (and gets) show webhooks other resources own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtherOwnersWebhooks {
    /// Every webhook of the database is visible to every API user.
    #[default]
    Visible,
    /// A user sees only its own webhooks (and their children); others' are absent, like rows
    /// a security level hides.
    Hidden,
}

/// Which status the unknown-id answer of `GET {Entity}/{id}` has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownId {
    /// 404.
    #[default]
    NotFound,
    /// 200 `{"item": null}`.
    NullItem,
}

/// Whether `POST …/query/next` needs the original query body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextPageBody {
    /// An empty body is enough (the simulator remembers the query), or the original body.
    #[default]
    Optional,
    /// Only the original body works; an empty body is a 500 `errors[]`.
    Required,
}

/// How the webhook maximum of a security level counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookMax {
    /// Webhooks created over the account's lifetime (deletes do not give one back).
    #[default]
    Lifetime,
    /// Webhooks the user owns now.
    Concurrent,
}

/// Every knob. Defaults keep the simulator's long-standing behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    /// Unset metadata properties: `empty` or `null`.
    pub unset_properties: UnsetProperties,
    /// `userAccessFor*`: `object` or `string`.
    pub access_levels: AccessLevels,
    /// `canCreate`/`canUpdate`: `caller` or `entity`.
    pub capability_flags: CapabilityFlags,
    /// `PATCH Resources isActive` of API-only users: `allowed` or `refused`.
    pub resource_activation: ResourceActivation,
    /// Other owners' webhooks in a user's queries: `visible` or `hidden`.
    pub other_owners_webhooks: OtherOwnersWebhooks,
    /// Status of the hourly-threshold refusal: 429 or 500 (body `errors[]` either way).
    pub threshold_status: u16,
    /// Status when `ApiIntegrationCode` is not the user's tracking identifier: 401 or 500.
    pub tracking_mismatch_status: u16,
    /// Status of the thread-limit refusal (`Itgenatr005` text either way): 429 or 500.
    pub thread_limit_status: u16,
    /// `GET {Entity}/{id}` of an unknown id: `not_found` or `null_item`.
    pub unknown_id: UnknownId,
    /// `query/next` without the original body: `optional` or `required`.
    pub next_page_body: NextPageBody,
    /// Webhook maximum: `lifetime` or `concurrent`.
    pub webhook_max: WebhookMax,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            unset_properties: UnsetProperties::Empty,
            access_levels: AccessLevels::Object,
            capability_flags: CapabilityFlags::Caller,
            resource_activation: ResourceActivation::Allowed,
            other_owners_webhooks: OtherOwnersWebhooks::Visible,
            threshold_status: 429,
            tracking_mismatch_status: 401,
            thread_limit_status: 429,
            unknown_id: UnknownId::NotFound,
            next_page_body: NextPageBody::Optional,
            webhook_max: WebhookMax::Lifetime,
        }
    }
}

impl Behaviour {
    /// The pessimistic side of every knob.
    pub fn strict() -> Self {
        Self {
            unset_properties: UnsetProperties::Null,
            access_levels: AccessLevels::String,
            capability_flags: CapabilityFlags::Entity,
            resource_activation: ResourceActivation::Refused,
            other_owners_webhooks: OtherOwnersWebhooks::Hidden,
            threshold_status: 500,
            tracking_mismatch_status: 500,
            thread_limit_status: 500,
            unknown_id: UnknownId::NullItem,
            next_page_body: NextPageBody::Required,
            webhook_max: WebhookMax::Lifetime,
        }
    }

    /// Checks the status knobs; the error names the knob.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value, allowed) in [
            ("threshold_status", self.threshold_status, [429, 500]),
            (
                "tracking_mismatch_status",
                self.tracking_mismatch_status,
                [401, 500],
            ),
            ("thread_limit_status", self.thread_limit_status, [429, 500]),
        ] {
            if !allowed.contains(&value) {
                return Err(format!(
                    "behaviour.{name} = {value}: expected {} or {}",
                    allowed[0], allowed[1]
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_differs_from_default_on_every_two_sided_knob() {
        let (d, s) = (Behaviour::default(), Behaviour::strict());
        let (d, s) = (
            serde_json::to_value(d).unwrap(),
            serde_json::to_value(s).unwrap(),
        );
        let same: Vec<&String> = d
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, v)| s[k.as_str()] == **v)
            .map(|(k, _)| k)
            .collect();
        // The lifetime webhook maximum is already the pessimistic reading by default.
        assert_eq!(same, ["webhook_max"]);
    }

    #[test]
    fn status_knobs_are_validated() {
        assert!(Behaviour::strict().validate().is_ok());
        let b = Behaviour {
            threshold_status: 503,
            ..Behaviour::default()
        };
        assert!(b.validate().unwrap_err().contains("threshold_status"));
    }
}
