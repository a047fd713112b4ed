//! Shared by the end-to-end tests and their worker process (`e2e-worker`): how a worker is
//! configured from environment variables the test sets.

use std::time::Duration;

use onboarding_worker::secrets::SecretBox;
use onboarding_worker::service::Onboard;
use onboarding_worker::setup::{RedisSettings, Setup, SetupError, connect, fast_policy};

/// The settings a test hands to a worker (in-process or as a process, through `E2E_*`).
#[derive(Debug, Clone)]
pub struct WorkerEnv {
    /// Redis URL (with sentinels: only its scheme and login count).
    pub redis_url: String,
    /// Sentinels (`host:port`) naming the master; empty = the URL directly.
    pub sentinels: Vec<String>,
    /// The master's name at the sentinels.
    pub sentinel_master: String,
    /// Key prefix.
    pub prefix: String,
    /// Sealing key (base64).
    pub key: String,
    /// The simulator's base URL.
    pub base_url: String,
    /// Job lease.
    pub lease: Duration,
}

impl WorkerEnv {
    /// The variables for a worker process.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("E2E_REDIS_URL", self.redis_url.clone()),
            ("E2E_SENTINELS", self.sentinels.join(",")),
            ("E2E_SENTINEL_MASTER", self.sentinel_master.clone()),
            ("E2E_PREFIX", self.prefix.clone()),
            ("E2E_KEY", self.key.clone()),
            ("E2E_BASE_URL", self.base_url.clone()),
            ("E2E_LEASE_MS", self.lease.as_millis().to_string()),
        ]
    }

    /// Reads what [`Self::vars`] wrote.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        Some(Self {
            redis_url: var("E2E_REDIS_URL")?,
            sentinels: var("E2E_SENTINELS")
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            sentinel_master: var("E2E_SENTINEL_MASTER").unwrap_or_default(),
            prefix: var("E2E_PREFIX")?,
            key: var("E2E_KEY")?,
            base_url: var("E2E_BASE_URL")?,
            lease: Duration::from_millis(var("E2E_LEASE_MS")?.parse().ok()?),
        })
    }

    /// The service, wired as production wires it, with fast retry schedules.
    pub async fn connect(&self) -> Result<Onboard, SetupError> {
        let setup = Setup {
            redis: RedisSettings {
                sentinels: self.sentinels.clone(),
                sentinel_master: Some(self.sentinel_master.clone()).filter(|m| !m.is_empty()),
                ..RedisSettings::url(&self.redis_url)
            },
            prefix: self.prefix.clone(),
            autotask_base_url: Some(url::Url::parse(&self.base_url).expect("simulator URL")),
            lease: self.lease,
            budget_share: 0.9,
            policy: fast_policy(),
        };
        let key = SecretBox::from_base64(&self.key, "E2E_KEY").expect("test key");
        connect(&setup, key).await
    }
}
