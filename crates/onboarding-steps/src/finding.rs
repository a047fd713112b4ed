//! What a check found, as data with its English and German wording for operators: the
//! single source of the words that the refusal reasons, the dashboard's checklists and the
//! CLI show. The seed's own instructions are in `crate::remediation`.

use autotask_types::WebhookFamily;
use serde::{Deserialize, Serialize};

/// What a check found, with its English and German wording for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// Zone discovery does not know the username.
    ZoneUnknown {
        /// Username.
        user_name: String,
    },
    /// The credentials or the integration code were rejected.
    CredentialsRejected {
        /// Username.
        user_name: String,
    },
    /// No resource has this username.
    UserNotFound {
        /// Username.
        user_name: String,
    },
    /// More than one resource has this username.
    UserAmbiguous {
        /// Username.
        user_name: String,
        /// How many.
        count: usize,
    },
    /// The user exists but is inactive.
    UserInactive {
        /// Username.
        user_name: String,
    },
    /// The user is not an API-only user.
    NotApiUser {
        /// Username.
        user_name: String,
        /// The license label found.
        license: String,
    },
    /// Required fields are empty.
    MissingUserFields {
        /// Which (`firstName`, `lastName`, `email`).
        fields: Vec<String>,
    },
    /// The tenant has no such line of business.
    LineOfBusinessUnknown {
        /// `Level1 > Level2`.
        line: String,
    },
    /// The user is not associated with these lines of business.
    LinesOfBusinessMissing {
        /// `Level1 > Level2` each.
        lines: Vec<String>,
    },
    /// The user may not create webhooks of these families.
    WebhookPermissionMissing {
        /// The families.
        families: Vec<WebhookFamily>,
    },
    /// An operator must confirm this.
    NotAcknowledged,
    /// The previous user is inactive.
    PreviousUserInactive {
        /// Username.
        user_name: String,
    },
    /// The previous user is active though it should be deactivated.
    PreviousUserActive {
        /// Username.
        user_name: String,
    },
    /// Autotask refused to change the previous user's `isActive` through the API, or answered
    /// the change without applying it.
    ActivationRefused {
        /// Username.
        user_name: String,
        /// Whether the change was to activate (true) or deactivate (false).
        activate: bool,
        /// What Autotask answered (no secrets).
        detail: String,
    },
    /// A configured webhook field label that Autotask does not offer for its family.
    WebhookFieldUnknown {
        /// The family.
        family: WebhookFamily,
        /// The setting's path, e.g. `webhook_families[0].subscribed_fields[1]`.
        setting: String,
        /// The label as configured.
        label: String,
        /// The labels Autotask offers, closest first.
        valid: Vec<String>,
        /// A user-defined field's label (else a standard field's).
        #[serde(default)]
        udf: bool,
    },
}

impl Finding {
    /// English wording.
    pub fn en(&self) -> String {
        match self {
            Self::ZoneUnknown { user_name } => {
                format!("Autotask knows no API user with the username {user_name}")
            }
            Self::CredentialsRejected { user_name } => format!(
                "Autotask rejects the credentials of {user_name} (key, secret or integration vendor)"
            ),
            Self::UserNotFound { user_name } => format!("no user with the username {user_name}"),
            Self::UserAmbiguous { user_name, count } => {
                format!("{count} users have the username {user_name}")
            }
            Self::UserInactive { user_name } => {
                format!("user {user_name} exists but is inactive")
            }
            Self::NotApiUser { user_name, license } => {
                format!("user {user_name} is not an API user (license: {license})")
            }
            Self::MissingUserFields { fields } => {
                format!("required fields are empty: {}", fields.join(", "))
            }
            Self::LineOfBusinessUnknown { line } => {
                format!("the tenant has no line of business {line}")
            }
            Self::LinesOfBusinessMissing { lines } => {
                format!("the user is not associated with: {}", lines.join(", "))
            }
            Self::WebhookPermissionMissing { families } => format!(
                "the user may not create webhooks for: {}",
                families
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::NotAcknowledged => "not confirmed by an operator yet".into(),
            Self::PreviousUserInactive { user_name } => {
                format!("the previous user {user_name} is inactive")
            }
            Self::PreviousUserActive { user_name } => {
                format!("the previous user {user_name} is still active")
            }
            Self::ActivationRefused {
                user_name,
                activate,
                detail,
            } => format!(
                "Autotask did not {} {user_name} through the API ({detail}); API users are \
                 managed in the web interface",
                if *activate { "activate" } else { "deactivate" }
            ),
            Self::WebhookFieldUnknown {
                family,
                setting,
                label,
                valid,
                udf,
            } => format!(
                "setting `{setting}`: Autotask offers no {family} webhook {} labelled \
                 {label:?}; valid labels (closest first): {}",
                if *udf { "user-defined field" } else { "field" },
                valid.join(", ")
            ),
        }
    }

    /// German wording.
    pub fn de(&self) -> String {
        match self {
            Self::ZoneUnknown { user_name } => {
                format!("Autotask kennt keinen API-Benutzer mit dem Benutzernamen {user_name}")
            }
            Self::CredentialsRejected { user_name } => format!(
                "Autotask weist die Anmeldeinformationen von {user_name} zurück (Schlüssel, \
                 geheimer Schlüssel oder Integrationsanbieter)"
            ),
            Self::UserNotFound { user_name } => {
                format!("kein Benutzer mit dem Benutzernamen {user_name}")
            }
            Self::UserAmbiguous { user_name, count } => {
                format!("{count} Benutzer haben den Benutzernamen {user_name}")
            }
            Self::UserInactive { user_name } => {
                format!("Benutzer {user_name} existiert, ist aber inaktiv")
            }
            Self::NotApiUser { user_name, license } => {
                format!("Benutzer {user_name} ist kein API-Benutzer (Lizenz: {license})")
            }
            Self::MissingUserFields { fields } => {
                format!("Pflichtfelder sind leer: {}", fields.join(", "))
            }
            Self::LineOfBusinessUnknown { line } => {
                format!("der Mandant hat keinen Geschäftsbereich {line}")
            }
            Self::LinesOfBusinessMissing { lines } => {
                format!("der Benutzer ist nicht verknüpft mit: {}", lines.join(", "))
            }
            Self::WebhookPermissionMissing { families } => format!(
                "der Benutzer darf keine Webhooks anlegen für: {}",
                families
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::NotAcknowledged => "noch nicht von einem Bearbeiter bestätigt".into(),
            Self::PreviousUserInactive { user_name } => {
                format!("der vorherige Benutzer {user_name} ist inaktiv")
            }
            Self::PreviousUserActive { user_name } => {
                format!("der vorherige Benutzer {user_name} ist noch aktiv")
            }
            Self::ActivationRefused {
                user_name,
                activate,
                detail,
            } => format!(
                "Autotask hat {user_name} über die API nicht {} ({detail}); API-Benutzer \
                 werden in der Weboberfläche verwaltet",
                if *activate {
                    "aktiviert"
                } else {
                    "deaktiviert"
                }
            ),
            Self::WebhookFieldUnknown {
                family,
                setting,
                label,
                valid,
                udf,
            } => format!(
                "Einstellung `{setting}`: Autotask bietet für {family}-Webhooks kein {} mit \
                 der Bezeichnung {label:?}; gültige Bezeichnungen (ähnlichste zuerst): {}",
                if *udf {
                    "benutzerdefiniertes Feld"
                } else {
                    "Feld"
                },
                valid.join(", ")
            ),
        }
    }
}
