//! Run kinds: each a fixed sequence of catalog steps, with the condition under which each
//! entry runs (PRODUCT.md §2).

use serde::{Deserialize, Serialize};

use crate::catalog::StepName;

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// A tenant's first API user: verification, then its webhooks.
    Onboard,
    /// A new API user replaces the previous one: verification, new webhooks, cleanup of the
    /// previous user's webhooks, optional deactivation, verification of the changeover.
    ChangeApiUser,
    /// The seed's manual fallback (C4..C6) alone.
    CleanupWebhooks,
    /// Every check, no change (drift detection).
    Verify,
    /// Drift found on an onboarded tenant (a scheduled check, a deactivation callout): the
    /// verification steps again (operator steps wait for an operator as they say), then the
    /// webhooks ensured and awaited.
    Repair,
}

/// When a step of a sequence runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Always.
    Always,
    /// Only when the previous user's credentials were rejected because it is inactive.
    PreviousUserInactive,
    /// Only after cleanup is verified, and only if the run reactivated the previous user or
    /// the settings ask to deactivate it.
    Deactivation,
    /// Only when the run names a previous user.
    HasPreviousUser,
}

/// One entry of a run kind's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The step.
    pub step: StepName,
    /// When it runs.
    pub condition: Condition,
}

const fn always(step: StepName) -> Entry {
    Entry {
        step,
        condition: Condition::Always,
    }
}

const fn when(step: StepName, condition: Condition) -> Entry {
    Entry { step, condition }
}

use StepName as S;

const ONBOARD: &[Entry] = &[
    always(S::ResolveZone),
    always(S::CheckApiBudget),
    always(S::CheckWebhookFields),
    always(S::VerifyApiUser),
    always(S::VerifyLinesOfBusiness),
    always(S::ConfirmUnassignedLobVisibility),
    always(S::VerifyWebhookPermission),
    always(S::ConfirmVendorActive),
    always(S::EnsureWebhooks),
    always(S::AwaitWebhooksReady),
];

const CHANGE_API_USER: &[Entry] = &[
    always(S::ResolveZone),
    always(S::CheckApiBudget),
    always(S::CheckWebhookFields),
    always(S::VerifyApiUser),
    always(S::VerifyLinesOfBusiness),
    always(S::ConfirmUnassignedLobVisibility),
    always(S::VerifyWebhookPermission),
    always(S::ConfirmVendorActive),
    always(S::EnsureWebhooks),
    always(S::AwaitWebhooksReady),
    always(S::FindPreviousWebhooks),
    when(S::ReactivatePreviousUser, Condition::PreviousUserInactive),
    always(S::DeletePreviousWebhooks),
    when(S::DeactivatePreviousUser, Condition::Deactivation),
    always(S::VerifyChangeover),
];

const CLEANUP_WEBHOOKS: &[Entry] = &[
    always(S::ResolveZone),
    always(S::CheckApiBudget),
    always(S::FindPreviousWebhooks),
    when(S::ReactivatePreviousUser, Condition::PreviousUserInactive),
    always(S::DeletePreviousWebhooks),
    when(S::DeactivatePreviousUser, Condition::Deactivation),
    always(S::VerifyChangeover),
];

const VERIFY: &[Entry] = &[
    always(S::ResolveZone),
    always(S::CheckApiBudget),
    always(S::CheckWebhookFields),
    always(S::VerifyApiUser),
    always(S::VerifyLinesOfBusiness),
    always(S::VerifyWebhookPermission),
    always(S::EnsureWebhooks),
    always(S::AwaitWebhooksReady),
    when(S::VerifyChangeover, Condition::HasPreviousUser),
];

const REPAIR: &[Entry] = &[
    always(S::ResolveZone),
    always(S::CheckApiBudget),
    always(S::CheckWebhookFields),
    always(S::VerifyApiUser),
    always(S::VerifyLinesOfBusiness),
    always(S::VerifyWebhookPermission),
    always(S::EnsureWebhooks),
    always(S::AwaitWebhooksReady),
];

impl std::str::FromStr for RunKind {
    type Err = String;

    /// Parses the wire name (`onboard`, `change_api_user`, `cleanup_webhooks`, `verify`,
    /// `repair`).
    fn from_str(s: &str) -> Result<Self, String> {
        [
            Self::Onboard,
            Self::ChangeApiUser,
            Self::CleanupWebhooks,
            Self::Verify,
            Self::Repair,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| {
            format!(
                "unknown run kind {s:?}; expected onboard, change_api_user, cleanup_webhooks, verify or repair"
            )
        })
    }
}

impl RunKind {
    /// The fixed sequence of steps.
    pub fn sequence(self) -> &'static [Entry] {
        match self {
            Self::Onboard => ONBOARD,
            Self::ChangeApiUser => CHANGE_API_USER,
            Self::CleanupWebhooks => CLEANUP_WEBHOOKS,
            Self::Verify => VERIFY,
            Self::Repair => REPAIR,
        }
    }

    /// Whether steps only verify (no plan is executed): true for `verify`.
    pub fn verify_only(self) -> bool {
        matches!(self, Self::Verify)
    }

    /// Whether the run needs the previous user's username and credentials.
    pub fn needs_previous_user(self) -> bool {
        matches!(self, Self::ChangeApiUser | Self::CleanupWebhooks)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Onboard => "onboard",
            Self::ChangeApiUser => "change_api_user",
            Self::CleanupWebhooks => "cleanup_webhooks",
            Self::Verify => "verify",
            Self::Repair => "repair",
        }
    }
}
