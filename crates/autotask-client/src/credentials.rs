//! API credentials: the integration code, the API user's username and its secret. The secret
//! is wrapped so `Debug` and `Display` never show it.

use std::fmt;

/// A secret string: `Debug` prints `<redacted>`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Who calls Autotask: sent as `ApiIntegrationCode`, `UserName`, `Secret` (and optionally
/// `ImpersonationResourceId`) on every request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The API tracking identifier of the integration (e.g. Sophos Central - Security's code).
    pub integration_code: Secret,
    /// The API user's username (the generated key, email-formatted).
    pub username: String,
    /// The API user's secret.
    pub secret: Secret,
    /// Act on behalf of this resource for creates and updates.
    pub impersonation_resource_id: Option<i64>,
}

impl Credentials {
    /// Credentials without impersonation.
    pub fn new(
        integration_code: impl Into<String>,
        username: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        Self {
            integration_code: Secret::new(integration_code),
            username: username.into(),
            secret: Secret::new(secret),
            impersonation_resource_id: None,
        }
    }
}
