//! Wiring: from a [`Config`] to the service the commands use (Redis connections, queue, run
//! and credential stores, the Autotask client with limits shared through Redis).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use autotask_client::{AutotaskClient, ClientConfig, Target};
use onboarding_queue::{Queue, QueueConfig};
use onboarding_steps::retry::RetryPolicy;
use onboarding_worker::limits::{BudgetPacer, SharedLimiter};
use onboarding_worker::runs::RunStore;
use onboarding_worker::secrets::{CredentialStore, SecretBox, WebhookSecrets};
use onboarding_worker::service::Onboard;
use redis::aio::ConnectionManager;

use crate::config::{Config, KeySource};

/// Reads the sealing key; `required` commands fail without one, others get a throwaway key
/// (they never open credentials).
pub fn sealing_key(config: &Config, required: bool) -> anyhow::Result<SecretBox> {
    match &config.secret_key {
        KeySource::Inline(k) => Ok(SecretBox::from_base64(k, "ONBOARD_SECRET_KEY")?),
        KeySource::File(path, setting) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{setting}: cannot read {path}"))?;
            Ok(SecretBox::from_base64(&text, setting)?)
        }
        KeySource::Missing if required => bail!(
            "ONBOARD_SECRET_KEY: not set; credentials are sealed with a key you provide \
             (ONBOARD_SECRET_KEY, ONBOARD_SECRET_KEY_FILE or secret_key_file; `onboard keygen` prints a new one)"
        ),
        KeySource::Missing => Ok(SecretBox::from_base64(
            &SecretBox::generate_key(),
            "generated",
        )?),
    }
}

/// Connects everything.
pub async fn connect(
    config: &Config,
    key: SecretBox,
    policy: RetryPolicy,
) -> anyhow::Result<Onboard> {
    let client = redis::Client::open(config.redis_url.as_str())
        .with_context(|| format!("redis_url: {}", config.redis_url))?;
    let manager_config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    let redis = ConnectionManager::new_with_config(client, manager_config)
        .await
        .with_context(|| format!("cannot connect to Redis at {}", config.redis_url))?;
    let queue_config = QueueConfig {
        lease: config.lease,
        group_running_limit: 1,
        default_max_attempts: policy.transient_max_attempts + 2,
        ..QueueConfig::default()
    };
    let queue = Queue::connect(
        &config.redis_url,
        &format!("{}-steps", config.prefix),
        queue_config,
    )
    .await
    .with_context(|| format!("cannot open the step queue at {}", config.redis_url))?;
    let target = match &config.autotask_base_url {
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
        share: config.budget_share,
        wait: Duration::from_secs(300),
    };
    let client = AutotaskClient::with_parts(client_config, Arc::new(limiter), Arc::new(pacer))?;
    Ok(Onboard {
        runs: RunStore::new(redis.clone(), &config.prefix),
        credentials: CredentialStore::new(redis.clone(), &config.prefix, key.clone()),
        webhook_secrets: WebhookSecrets::new(redis, &config.prefix, key),
        queue,
        client,
        policy,
    })
}
