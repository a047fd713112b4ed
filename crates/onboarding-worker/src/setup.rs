//! Wiring from plain settings to a ready [`Onboard`] service: Redis connections (direct or
//! through Sentinel, TLS, ACL user: [`onboarding_queue::connection`]), the step
//! queue (one running step per tenant), run and credential stores, and the Autotask client
//! with thread-limit permits shared through Redis and the budget pacer. Used by the `onboard`
//! binary, the demo and the end-to-end tests, so all of them run the same wiring.

use std::sync::Arc;
use std::time::Duration;

use autotask_client::{AutotaskClient, ClientConfig, Target};
use onboarding_queue::{Queue, QueueConfig, QueueError, RedisConn};
pub use onboarding_queue::{RedisSettings, redacted_url};
use onboarding_steps::retry::StepSchedule;
use url::Url;

use crate::limits::{BudgetPacer, SharedLimiter};
use crate::runs::RunStore;
use crate::secrets::{CredentialStore, SecretBox, WebhookSecrets};
use crate::service::Onboard;

/// What the wiring needs.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Where Redis is and how to log in (password already read from its file).
    pub redis: RedisSettings,
    /// Key prefix; the step queue is `{prefix}-steps`.
    pub prefix: String,
    /// Explicit Autotask base URL (the simulator); `None` = the real Autotask.
    pub autotask_base_url: Option<Url>,
    /// Job lease (a dead worker's step is picked up again after it).
    pub lease: Duration,
    /// Share of each tenant's hourly request budget onboard may use.
    pub budget_share: f64,
    /// Retry schedules.
    pub policy: StepSchedule,
}

/// Wiring failures, naming what could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Redis could not be reached.
    #[error("cannot connect to Redis at {url}")]
    Redis {
        /// The URL.
        url: String,
        /// Why.
        source: redis::RedisError,
    },
    /// The queue could not be opened.
    #[error("cannot open the step queue at {url}")]
    Queue {
        /// The URL.
        url: String,
        /// Why.
        source: QueueError,
    },
    /// An earlier version's run indexes could not be moved to this version's form.
    #[error("cannot migrate the run indexes")]
    Runs(#[from] crate::runs::RunStoreError),
    /// The HTTP client could not be built.
    #[error("cannot build the Autotask client")]
    Client(#[from] autotask_client::Error),
}

/// Retry schedules for demos and tests: the production shapes (exponential, jitter, cap,
/// attempt limit) with delays of milliseconds to seconds instead of seconds to hours.
pub fn fast_policy() -> StepSchedule {
    let fast = |min_ms, max_ms| onboarding_steps::retry::Exponential {
        min_ms,
        factor: 2.0,
        max_ms,
        jitter: 0.2,
    };
    StepSchedule {
        transient: fast(100, 1_000),
        transient_max_attempts: 8,
        operator: fast(500, 1_000),
        budget_defer: fast(1_000, 1_000),
    }
}

/// Connects everything.
pub async fn connect(setup: &Setup, key: SecretBox) -> Result<Onboard, SetupError> {
    let redis_error = |source| SetupError::Redis {
        url: setup.redis.describe(),
        source,
    };
    let redis = RedisConn::open(&setup.redis).await.map_err(redis_error)?;
    redis.ping().await.map_err(redis_error)?;
    let queue_config = QueueConfig {
        lease: setup.lease,
        group_running_limit: 1,
        default_max_attempts: setup.policy.transient_max_attempts + 2,
        ..QueueConfig::default()
    };
    let queue = Queue::connect_with(
        &setup.redis,
        &format!("{}-steps", setup.prefix),
        queue_config,
    )
    .await
    .map_err(|source| SetupError::Queue {
        url: setup.redis.describe(),
        source,
    })?;
    let target = match &setup.autotask_base_url {
        Some(url) => Target::Explicit(url.clone()),
        None => Target::Autotask,
    };
    let client_config = ClientConfig::new(target);
    let limiter = SharedLimiter::new(
        queue.limits(),
        client_config.endpoint_concurrency as u32,
        client_config.request_timeout + Duration::from_secs(10),
        Duration::from_secs(30),
    );
    let pacer = BudgetPacer {
        share: setup.budget_share,
        wait: Duration::from_secs(300),
    };
    let client = AutotaskClient::with_parts(client_config, Arc::new(limiter), Arc::new(pacer))?;
    let runs = RunStore::new(redis.clone(), &setup.prefix);
    runs.migrate().await?;
    Ok(Onboard {
        runs,
        credentials: CredentialStore::new(redis.clone(), &setup.prefix, key.clone()),
        webhook_secrets: WebhookSecrets::new(redis.clone(), &setup.prefix, key),
        tokens: crate::tokens::TokenStore::new(redis, &setup.prefix),
        queue,
        client,
        policy: setup.policy,
        deactivation_url_base: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::RunStoreError;
    use crate::secrets::SecretsError;
    use crate::service::ServiceError;

    /// The error chain as `{:#}` prints it: each message, then its causes.
    fn chain(e: &dyn std::error::Error) -> String {
        let mut s = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            s.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        s
    }

    #[tokio::test]
    async fn a_redis_that_cannot_be_reached_is_named_without_its_password() {
        // The password in the URL, from a file (the settings), and through Sentinel (the
        // master's and the sentinels' own).
        let from_file = RedisSettings {
            username: Some("onboard".into()),
            password: Some("s3cret".into()),
            ..RedisSettings::url("redis://127.0.0.1:1/")
        };
        let sentinel = RedisSettings {
            sentinels: vec!["127.0.0.1:1".into()],
            sentinel_master: Some("mymaster".into()),
            sentinel_password: Some("s3cret".into()),
            ..from_file.clone()
        };
        for redis in [
            RedisSettings::url("redis://onboard:s3cret@127.0.0.1:1/"),
            from_file,
            sentinel,
        ] {
            let setup = Setup {
                redis,
                prefix: "p".into(),
                autotask_base_url: None,
                lease: std::time::Duration::from_secs(5),
                budget_share: 0.5,
                policy: fast_policy(),
            };
            let key = crate::secrets::SecretBox::from_base64(
                &crate::secrets::SecretBox::generate_key(),
                "test",
            )
            .unwrap();
            let Err(e) = connect(&setup, key).await else {
                panic!("nothing listens on port 1");
            };
            let text = chain(&e);
            assert!(
                text.contains("127.0.0.1:1") && !text.contains("s3cret"),
                "{text}"
            );
        }
    }

    #[test]
    fn errors_name_their_cause_once() {
        let redis = || redis::RedisError::from((redis::ErrorKind::Io, "connection refused"));
        let errors: Vec<Box<dyn std::error::Error>> = vec![
            Box::new(SetupError::Redis {
                url: "redis://127.0.0.1:1/".into(),
                source: redis(),
            }),
            Box::new(ServiceError::from(RunStoreError::from(redis()))),
            Box::new(ServiceError::from(SecretsError::from(redis()))),
            Box::new(crate::rekey::RekeyError::from(redis())),
        ];
        for e in errors {
            let text = chain(e.as_ref());
            assert_eq!(
                text.matches("connection refused").count(),
                1,
                "the cause is printed once: {text}"
            );
        }
    }
}
