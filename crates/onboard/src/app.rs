//! From a [`Config`] to the service the commands use: the sealing key, the Redis settings
//! (password and CA read from their files), then the shared wiring of
//! `onboarding_worker::setup`.

use anyhow::{Context as _, bail};
use onboarding_steps::retry::StepSchedule;
use onboarding_telemetry::TelemetryConfig;
use onboarding_worker::secrets::SecretBox;
use onboarding_worker::service::Onboard;
use onboarding_worker::setup::{RedisSettings, Setup};

use crate::config::{Config, KeySource};

fn read_key(source: &KeySource, setting: &str) -> anyhow::Result<Option<(String, String)>> {
    Ok(match source {
        KeySource::Inline(k) => Some((k.clone(), setting.to_owned())),
        KeySource::File(path, file_setting) => Some((
            std::fs::read_to_string(path)
                .with_context(|| format!("{file_setting}: cannot read {path}"))?,
            (*file_setting).to_owned(),
        )),
        KeySource::Missing => None,
    })
}

/// A password file's first line (a trailing newline is not part of the password). Errors
/// name the setting and the path, never the content.
fn read_password(file: &Option<(String, &'static str)>) -> anyhow::Result<Option<String>> {
    let Some((path, setting)) = file else {
        return Ok(None);
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("{setting}: cannot read {path}"))?;
    let password = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if password.is_empty() {
        bail!("{setting}: {path} holds no password (its first line is empty)");
    }
    Ok(Some(password.to_owned()))
}

/// The Redis settings of `config`, with the password files and the CA file read.
pub fn redis_settings(config: &Config) -> anyhow::Result<RedisSettings> {
    let r = &config.redis;
    let ca_pem = match &r.ca_file {
        Some((path, setting)) => {
            Some(std::fs::read(path).with_context(|| format!("{setting}: cannot read {path}"))?)
        }
        None => None,
    };
    Ok(RedisSettings {
        sentinels: r.sentinels.clone(),
        sentinel_master: r.sentinel_master.clone(),
        username: r.username.clone(),
        password: read_password(&r.password_file)?,
        sentinel_password: read_password(&r.sentinel_password_file)?,
        ca_pem,
        ..RedisSettings::url(&config.redis_url)
    })
}

/// Reads the sealing key and the opening-only keys (`ONBOARD_SECRET_KEYS_OLD`); `required`
/// commands fail without a sealing key, others get a throwaway key (they never open
/// credentials).
pub fn sealing_key(config: &Config, required: bool) -> anyhow::Result<SecretBox> {
    let sealing = match read_key(&config.secret_key, "ONBOARD_SECRET_KEY")? {
        Some((text, setting)) => SecretBox::from_base64(&text, &setting)?,
        None if required => bail!(
            "ONBOARD_SECRET_KEY: not set; credentials are sealed with a key you provide \
             (ONBOARD_SECRET_KEY, ONBOARD_SECRET_KEY_FILE or secret_key_file; `onboard keygen` prints a new one)"
        ),
        None => {
            return Ok(SecretBox::from_base64(
                &SecretBox::generate_key(),
                "generated",
            )?);
        }
    };
    Ok(
        match read_key(&config.secret_keys_old, "ONBOARD_SECRET_KEYS_OLD")? {
            Some((text, setting)) => sealing.with_opening_keys(&text, &setting)?,
            None => sealing,
        },
    )
}

/// The service for commands that open or seal credentials (worker, api, enqueue, bulk,
/// rekey): a sealing key is required, and it must match the deployment's key check record
/// (created on first use), else this fails naming `ONBOARD_SECRET_KEY`.
pub async fn connect(config: &Config) -> anyhow::Result<Onboard> {
    let onboard = connect_with(config, sealing_key(config, true)?, StepSchedule::default()).await?;
    onboard.credentials.check_key().await?;
    Ok(onboard)
}

/// The service for commands that only read and steer runs (no key needed).
pub async fn connect_plain(config: &Config) -> anyhow::Result<Onboard> {
    connect_with(config, sealing_key(config, false)?, StepSchedule::default()).await
}

/// Telemetry from the standard `OTEL_*` variables (and `RUST_LOG`, `ONBOARD_LOG_FORMAT`).
pub fn telemetry_config() -> TelemetryConfig {
    TelemetryConfig::from_vars(|k| std::env::var(k).ok())
}

/// Connects everything (the shared wiring of `onboarding_worker::setup`).
pub async fn connect_with(
    config: &Config,
    key: SecretBox,
    policy: StepSchedule,
) -> anyhow::Result<Onboard> {
    let setup = Setup {
        redis: redis_settings(config)?,
        prefix: config.prefix.clone(),
        autotask_base_url: config.autotask_base_url.clone(),
        lease: config.lease,
        budget_share: config.budget_share,
        policy,
    };
    Ok(onboarding_worker::setup::connect(&setup, key)
        .await?
        .with_deactivation_url_base(config.deactivation_url_base.clone()))
}

/// A worker named `name` running `concurrency` steps at once until `shutdown`, with its
/// Prometheus `/metrics` served on `listener` and the campaign driver (both stopped with the
/// worker): the wiring
/// `onboard worker` and the demo share.
pub async fn serve_worker(
    onboard: Onboard,
    listener: tokio::net::TcpListener,
    name: String,
    concurrency: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics = std::sync::Arc::new(onboarding_worker::metrics::Metrics::default());
    let router = onboarding_worker::metrics::router(metrics.clone(), onboard.clone());
    let metrics_server = tokio::spawn(async move { axum::serve(listener, router).await });
    // The campaign driver acts only while it holds the driver lease (one per deployment).
    let (stop_driver, driver_stopped) = tokio::sync::oneshot::channel::<()>();
    let driver = onboarding_worker::campaign_driver::Driver::new(onboard.clone(), name.clone());
    let driver = tokio::spawn(driver.run(async move {
        let _ = driver_stopped.await;
    }));
    let handler = onboarding_worker::worker::Handler::new(onboard, metrics, name);
    let result = onboarding_worker::worker::run_worker(handler, concurrency, shutdown).await;
    let _ = stop_driver.send(());
    let _ = driver.await;
    metrics_server.abort();
    Ok(result?)
}

/// Removes finished runs and dead letters older than `retention` now and every `interval`
/// (`worker.sweep_interval_secs`, an hour by default; the worker runs it; several workers
/// sweeping at once remove each run once).
pub async fn sweep_periodically(
    onboard: Onboard,
    retention: std::time::Duration,
    interval: std::time::Duration,
) {
    let mut every = tokio::time::interval(interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match onboard
            .sweep(retention, onboarding_worker::service::now())
            .await
        {
            Ok(r) => tracing::info!(
                runs = r.runs,
                dead_letters = r.dead_letters,
                "retention sweep"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "retention sweep failed; trying again at the next interval")
            }
        }
    }
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
