//! The step catalog: the closed set of steps (one name everywhere: code, metrics, spans,
//! dashboard), their kind, and the seed steps each carries. Every seed step of
//! `autotask-api-user-setup.en.md` (A1..A13, W1..W4, C1..C6, V1) is carried by exactly one
//! catalog step; [`SeedStep::carried_by`] is total and tested.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a step gets done (PRODUCT.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// Performs the change through the REST API, idempotently; retries transient failures.
    Api,
    /// Checks through the API that an operator did a web-interface step; while not done the
    /// run shows the instructions and re-checks on a slow backoff until the deadline.
    OperatorVerified,
    /// Cannot be seen through the API: waits for an operator's acknowledgment.
    OperatorAttested,
    /// Through the API when admin credentials are given, otherwise operator-verified
    /// (`reactivate_previous_user`, `deactivate_previous_user`).
    ApiOrOperatorVerified,
}

impl StepKind {
    /// The wire name, e.g. `operator-verified`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::OperatorVerified => "operator-verified",
            Self::OperatorAttested => "operator-attested",
            Self::ApiOrOperatorVerified => "api-or-operator-verified",
        }
    }
}

macro_rules! step_names {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A step of the catalog. Closed: the worker matches on it exhaustively.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum StepName {
            $($(#[$doc])* $variant,)*
        }

        impl StepName {
            /// Every step, in catalog order.
            pub const ALL: &'static [StepName] = &[$(StepName::$variant,)*];

            /// The one name of the step, e.g. `ensure_webhooks`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(StepName::$variant => $name,)*
                }
            }
        }
    };
}

step_names! {
    /// Zone discovery for the API user's username.
    ResolveZone => "resolve_zone",
    /// Reads `ThresholdInformation`; above the pause ratio the run is deferred.
    CheckApiBudget => "check_api_budget",
    /// Every configured webhook field label is one Autotask offers (read-only, before any
    /// operator step, so a wrong setting fails in seconds).
    CheckWebhookFields => "check_webhook_fields",
    /// The new API user authenticates, exists once, is active, API-only, has name and email.
    VerifyApiUser => "verify_api_user",
    /// The user belongs to the configured lines of business.
    VerifyLinesOfBusiness => "verify_lines_of_business",
    /// "Resource can view items with no assigned Line of Business" (attested).
    ConfirmUnassignedLobVisibility => "confirm_unassigned_lob_visibility",
    /// The user may create webhooks of every configured family.
    VerifyWebhookPermission => "verify_webhook_permission",
    /// "Sophos Central - Security" is active in the Integration Center (attested).
    ConfirmVendorActive => "confirm_vendor_active",
    /// Exactly one correctly configured webhook per configured family, owned by the new user.
    EnsureWebhooks => "ensure_webhooks",
    /// Every ensured webhook is active and ready.
    AwaitWebhooksReady => "await_webhooks_ready",
    /// Lists the previous user's webhooks with its credentials; detects an inactive user.
    FindPreviousWebhooks => "find_previous_webhooks",
    /// Deletes the previous user's webhooks with its credentials.
    DeletePreviousWebhooks => "delete_previous_webhooks",
    /// Reactivates the previous user when its credentials are rejected because it is inactive.
    ReactivatePreviousUser => "reactivate_previous_user",
    /// Deactivates the previous user after cleanup, if the run reactivated it or was asked to.
    DeactivatePreviousUser => "deactivate_previous_user",
    /// New webhooks active and ready, none of the previous user's left; the audit record.
    VerifyChangeover => "verify_changeover",
}

impl StepName {
    /// How the step gets done.
    pub const fn kind(self) -> StepKind {
        match self {
            Self::ResolveZone
            | Self::CheckApiBudget
            | Self::CheckWebhookFields
            | Self::EnsureWebhooks
            | Self::AwaitWebhooksReady
            | Self::FindPreviousWebhooks
            | Self::DeletePreviousWebhooks
            | Self::VerifyChangeover => StepKind::Api,
            Self::VerifyApiUser | Self::VerifyLinesOfBusiness | Self::VerifyWebhookPermission => {
                StepKind::OperatorVerified
            }
            Self::ConfirmUnassignedLobVisibility | Self::ConfirmVendorActive => {
                StepKind::OperatorAttested
            }
            Self::ReactivatePreviousUser | Self::DeactivatePreviousUser => {
                StepKind::ApiOrOperatorVerified
            }
        }
    }

    /// The seed steps this step carries (empty for steps the API or good practice adds).
    pub fn seed_steps(self) -> &'static [SeedStep] {
        use SeedStep::*;
        match self {
            Self::VerifyApiUser => &[A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A13],
            Self::VerifyLinesOfBusiness => &[A11],
            Self::ConfirmUnassignedLobVisibility => &[A12],
            Self::VerifyWebhookPermission => &[W1, W2, W3, W4],
            Self::ConfirmVendorActive => &[V1],
            Self::EnsureWebhooks => &[C2],
            Self::FindPreviousWebhooks => &[C1],
            Self::DeletePreviousWebhooks => &[C3, C6],
            Self::ReactivatePreviousUser => &[C5],
            Self::VerifyChangeover => &[C4],
            Self::ResolveZone
            | Self::CheckApiBudget
            | Self::CheckWebhookFields
            | Self::AwaitWebhooksReady
            | Self::DeactivatePreviousUser => &[],
        }
    }

    /// Whether the step only reads (it never plans a write).
    pub const fn is_read_only(self) -> bool {
        !matches!(
            self,
            Self::EnsureWebhooks
                | Self::DeletePreviousWebhooks
                | Self::ReactivatePreviousUser
                | Self::DeactivatePreviousUser
        )
    }
}

impl fmt::Display for StepName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StepName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| format!("unknown step {s:?}"))
    }
}

/// A step of the seed procedure, numbered as in `autotask-api-user-setup.en.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum SeedStep {
    A1,
    A2,
    A3,
    A4,
    A5,
    A6,
    A7,
    A8,
    A9,
    A10,
    A11,
    A12,
    A13,
    W1,
    W2,
    W3,
    W4,
    C1,
    C2,
    C3,
    C4,
    C5,
    C6,
    V1,
}

impl SeedStep {
    /// Every seed step, in the seed's order.
    pub const ALL: [SeedStep; 24] = {
        use SeedStep::*;
        [
            A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, W1, W2, W3, W4, C1, C2, C3, C4,
            C5, C6, V1,
        ]
    };

    /// The catalog step that carries this seed step: the one whose
    /// [`StepName::seed_steps`] lists it.
    pub fn carried_by(self) -> StepName {
        StepName::ALL
            .iter()
            .copied()
            .find(|s| s.seed_steps().contains(&self))
            .unwrap_or_else(|| unreachable!("seed step {self:?} is carried by no step"))
    }
}

impl fmt::Display for SeedStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_step_is_carried_by_exactly_one_step() {
        for seed in SeedStep::ALL {
            let carriers: Vec<_> = StepName::ALL
                .iter()
                .filter(|s| s.seed_steps().contains(&seed))
                .collect();
            assert_eq!(carriers.len(), 1, "{seed} carried by {carriers:?}");
            assert_eq!(*carriers[0], seed.carried_by());
        }
        let total: usize = StepName::ALL.iter().map(|s| s.seed_steps().len()).sum();
        assert_eq!(total, SeedStep::ALL.len(), "a seed step is listed twice");
    }

    #[test]
    fn names_round_trip_and_match_serde() {
        for step in StepName::ALL {
            assert_eq!(step.as_str().parse::<StepName>().unwrap(), *step);
            assert_eq!(
                serde_json::to_value(step).unwrap(),
                serde_json::json!(step.as_str())
            );
        }
        assert!("ensure_webhook".parse::<StepName>().is_err());
    }

    #[test]
    fn kinds_follow_the_product_table() {
        let table: Vec<_> = StepName::ALL
            .iter()
            .map(|s| format!("{} {}", s, s.kind().as_str()))
            .collect();
        expect_test::expect![[r#"
            [
                "resolve_zone api",
                "check_api_budget api",
                "check_webhook_fields api",
                "verify_api_user operator-verified",
                "verify_lines_of_business operator-verified",
                "confirm_unassigned_lob_visibility operator-attested",
                "verify_webhook_permission operator-verified",
                "confirm_vendor_active operator-attested",
                "ensure_webhooks api",
                "await_webhooks_ready api",
                "find_previous_webhooks api",
                "delete_previous_webhooks api",
                "reactivate_previous_user api-or-operator-verified",
                "deactivate_previous_user api-or-operator-verified",
                "verify_changeover api",
            ]
        "#]]
        .assert_debug_eq(&table);
    }
}
