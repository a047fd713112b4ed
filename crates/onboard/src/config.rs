//! Configuration of the `onboard` command: a TOML file (`--config` or `ONBOARD_CONFIG`)
//! overridden by environment variables, validated into [`Config`] with errors that name the
//! bad setting. Pure: the environment and the file's text are passed in.
//!
//! | setting | TOML | environment | default |
//! |---|---|---|---|
//! | Redis URL (`rediss://` = TLS; with sentinels only its scheme, user and db count) | `redis_url` | `ONBOARD_REDIS_URL`, then `REDIS_URL` | `redis://127.0.0.1:6379/` |
//! | Redis Sentinel addresses (`host:port`) | `redis.sentinels` | `ONBOARD_REDIS_SENTINELS` (comma-separated) | none (connect to the URL) |
//! | the master's name at the sentinels | `redis.sentinel_master` | `ONBOARD_REDIS_SENTINEL_MASTER` | none (required with sentinels) |
//! | Redis ACL user (overrides the URL's) | `redis.username` | `ONBOARD_REDIS_USERNAME` | the URL's, else `default` |
//! | file holding the Redis password (overrides the URL's) | `redis.password_file` | `ONBOARD_REDIS_PASSWORD_FILE` | none |
//! | file holding the sentinels' own password | `redis.sentinel_password_file` | `ONBOARD_REDIS_SENTINEL_PASSWORD_FILE` | none |
//! | PEM file of a private CA for `rediss://` | `redis.ca_file` | `ONBOARD_REDIS_CA_FILE` | none (the system's roots) |
//! | key prefix (queue name) | `prefix` | `ONBOARD_PREFIX` | `onboard` |
//! | sealing key (base64, 32 bytes) | `secret_key_file` | `ONBOARD_SECRET_KEY` or `ONBOARD_SECRET_KEY_FILE` | none (required for commands that touch credentials) |
//! | opening-only keys (rotation; comma-separated) | `secret_keys_old_file` | `ONBOARD_SECRET_KEYS_OLD` or `ONBOARD_SECRET_KEYS_OLD_FILE` | none |
//! | retention of finished runs and dead letters | `retention_days` | `ONBOARD_RETENTION_DAYS` | 30 |
//! | how often a worker sweeps what is past its retention | `worker.sweep_interval_secs` | `ONBOARD_SWEEP_INTERVAL_SECS` | 3600 (1 to 86400) |
//! | Autotask base URL (simulator) | `autotask.base_url` | `ONBOARD_AUTOTASK_BASE_URL` | unset = the real Autotask |
//! | worker concurrency | `worker.concurrency` | `ONBOARD_WORKER_CONCURRENCY` | 16 |
//! | metrics listen address | `worker.metrics_addr` | `ONBOARD_METRICS_ADDR` | `127.0.0.1:9464` |
//! | share of the hourly budget | `worker.budget_share` | `ONBOARD_BUDGET_SHARE` | 0.5 |
//! | job lease | `worker.lease_secs` | `ONBOARD_LEASE_SECS` | 30 |
//! | HTTP API listen address | `api.listen` | `ONBOARD_API_LISTEN` | `127.0.0.1:8080` |
//! | TLS for the API: certificate chain and private key, PEM files (both or neither; neither = plain HTTP) | `api.tls_cert_file`, `api.tls_key_file` | `ONBOARD_API_TLS_CERT_FILE`, `ONBOARD_API_TLS_KEY_FILE` | none |
//! | host names the API answers to (DNS-rebinding guard of `/v1`, `/dashboard`) | `api.hosts` | `ONBOARD_API_HOSTS` (comma-separated) | `localhost`, `127.0.0.1`, `[::1]` |
//! | HTTP API master token (every scope, name `api-token`; scoped tokens: `onboard token add`) | — | `ONBOARD_API_TOKEN` | none |
//! | trace link template | `trace_url` | `ONBOARD_TRACE_URL` | none (trace ids are not links); e.g. `https://jaeger.example/trace/{trace_id}` |
//! | drift-check period: every onboarded tenant is re-verified once per period, spread evenly | `worker.drift_period_secs` | `ONBOARD_DRIFT_PERIOD_SECS` | 86400 (a day); 0 turns the checks off |
//! | where Autotask's deactivation callouts reach `onboard api` (the webhooks' `DeactivationUrl` base; the API serves its path) | `api.deactivation_url_base` | `ONBOARD_DEACTIVATION_URL_BASE` | none: runs keep `{webhook URL}/deactivated` and the API serves `/callouts/deactivated` |

use std::net::SocketAddr;
use std::time::Duration;

use onboarding_telemetry::TraceLinks;
use serde::Deserialize;
use url::Url;

/// A setting that is wrong, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    /// The setting (TOML key or environment variable).
    pub setting: String,
    /// What is wrong.
    pub problem: String,
}

fn bad(setting: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        problem: problem.into(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    redis_url: Option<String>,
    prefix: Option<String>,
    secret_key_file: Option<String>,
    secret_keys_old_file: Option<String>,
    retention_days: Option<u64>,
    trace_url: Option<String>,
    #[serde(default)]
    redis: RedisFile,
    #[serde(default)]
    autotask: AutotaskFile,
    #[serde(default)]
    worker: WorkerFile,
    #[serde(default)]
    api: ApiFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedisFile {
    sentinels: Option<Vec<String>>,
    sentinel_master: Option<String>,
    username: Option<String>,
    password_file: Option<String>,
    sentinel_password_file: Option<String>,
    ca_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiFile {
    listen: Option<String>,
    hosts: Option<Vec<String>>,
    tls_cert_file: Option<String>,
    tls_key_file: Option<String>,
    deactivation_url_base: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AutotaskFile {
    base_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkerFile {
    concurrency: Option<usize>,
    metrics_addr: Option<String>,
    budget_share: Option<f64>,
    lease_secs: Option<u64>,
    sweep_interval_secs: Option<u64>,
    drift_period_secs: Option<u64>,
}

/// Where the sealing key comes from (read only by commands that need it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The key itself (from `ONBOARD_SECRET_KEY`).
    Inline(String),
    /// A file holding it; the setting that named it.
    File(String, &'static str),
    /// Not configured.
    Missing,
}

/// How to reach Redis beyond its URL. Files are named here and read by the command that
/// connects (`app`), so no password is held by the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisConfig {
    /// Sentinels (`host:port`); empty = the URL directly.
    pub sentinels: Vec<String>,
    /// The master's name at the sentinels.
    pub sentinel_master: Option<String>,
    /// ACL user.
    pub username: Option<String>,
    /// File with the password, and the setting that named it.
    pub password_file: Option<(String, &'static str)>,
    /// File with the sentinels' password, and the setting that named it.
    pub sentinel_password_file: Option<(String, &'static str)>,
    /// PEM file of a private CA, and the setting that named it.
    pub ca_file: Option<(String, &'static str)>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Redis URL.
    pub redis_url: String,
    /// Sentinels, login and CA of Redis.
    pub redis: RedisConfig,
    /// Key prefix and queue name.
    pub prefix: String,
    /// The sealing key's source.
    pub secret_key: KeySource,
    /// Keys that only open (rotation), comma-separated; `Missing` when none.
    pub secret_keys_old: KeySource,
    /// How long finished runs (audit trails included) and dead letters are kept.
    pub retention: Duration,
    /// Explicit Autotask base URL (simulator); `None` = the real Autotask.
    pub autotask_base_url: Option<Url>,
    /// Steps run at once by one worker process.
    pub concurrency: usize,
    /// How often a worker removes what is past its retention.
    pub sweep_interval: Duration,
    /// Where the worker serves `/metrics`.
    pub metrics_addr: SocketAddr,
    /// Share of each tenant's hourly request budget onboard may use.
    pub budget_share: f64,
    /// Job lease.
    pub lease: Duration,
    /// Where `onboard api` listens.
    pub api_listen: SocketAddr,
    /// The API's bearer token (from the environment only).
    pub api_token: Option<String>,
    /// Host names the API's `/v1` and `/dashboard` answer to (empty: the loopback names).
    pub api_hosts: Vec<String>,
    /// The API's TLS certificate chain and key files (read by `onboard api`); `None`:
    /// plain HTTP.
    pub api_tls: Option<onboarding_api::tls::TlsFiles>,
    /// Trace ids as links (`onboard status`, the API's run JSON, the dashboard).
    pub trace_links: TraceLinks,
    /// The drift-check period (`None`: no drift checks).
    pub drift_period: Option<Duration>,
    /// The base of the webhooks' deactivation URLs, where `onboard api` receives callouts.
    pub deactivation_url_base: Option<String>,
}

impl Config {
    /// Builds the configuration from the file's text (if any, with its path for errors) and
    /// the environment (`var`).
    pub fn load(
        file: Option<(&str, &str)>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let f: File = match file {
            None => File::default(),
            Some((path, text)) => {
                toml::from_str(text).map_err(|e| bad(path, e.message().to_owned()))?
            }
        };
        let env = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let redis_url = env("ONBOARD_REDIS_URL")
            .or_else(|| env("REDIS_URL"))
            .or(f.redis_url)
            .unwrap_or_else(|| "redis://127.0.0.1:6379/".into());
        if !(redis_url.starts_with("redis://")
            || redis_url.starts_with("rediss://")
            || redis_url.starts_with("redis+unix://")
            || redis_url.starts_with("unix://"))
        {
            return Err(bad(
                "redis_url (ONBOARD_REDIS_URL)",
                format!(
                    "{:?} is not a redis:// URL",
                    onboarding_worker::setup::redacted_url(&redis_url)
                ),
            ));
        }
        let redis = redis_config(&redis_url, f.redis, &env)?;
        let prefix = env("ONBOARD_PREFIX")
            .or(f.prefix)
            .unwrap_or_else(|| "onboard".into());
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad(
                "prefix (ONBOARD_PREFIX)",
                "use letters, digits, '-' and '_'",
            ));
        }
        let secret_key = match (
            env("ONBOARD_SECRET_KEY"),
            env("ONBOARD_SECRET_KEY_FILE"),
            f.secret_key_file,
        ) {
            (Some(k), _, _) => KeySource::Inline(k),
            (None, Some(p), _) => KeySource::File(p, "ONBOARD_SECRET_KEY_FILE"),
            (None, None, Some(p)) => KeySource::File(p, "secret_key_file"),
            (None, None, None) => KeySource::Missing,
        };
        let secret_keys_old = match (
            env("ONBOARD_SECRET_KEYS_OLD"),
            env("ONBOARD_SECRET_KEYS_OLD_FILE"),
            f.secret_keys_old_file,
        ) {
            (Some(k), _, _) => KeySource::Inline(k),
            (None, Some(p), _) => KeySource::File(p, "ONBOARD_SECRET_KEYS_OLD_FILE"),
            (None, None, Some(p)) => KeySource::File(p, "secret_keys_old_file"),
            (None, None, None) => KeySource::Missing,
        };
        let retention =
            match env("ONBOARD_RETENTION_DAYS").or(f.retention_days.map(|d| d.to_string())) {
                None => Duration::from_secs(30 * 24 * 3600),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|d| (1..=3650).contains(d))
                    .map(|d| Duration::from_secs(d * 24 * 3600))
                    .ok_or_else(|| {
                        bad(
                            "retention_days (ONBOARD_RETENTION_DAYS)",
                            format!("{v:?} is not a number of days from 1 to 3650"),
                        )
                    })?,
            };
        let autotask_base_url = match env("ONBOARD_AUTOTASK_BASE_URL").or(f.autotask.base_url) {
            None => None,
            Some(u) => Some(Url::parse(&u).map_err(|e| {
                bad(
                    "autotask.base_url (ONBOARD_AUTOTASK_BASE_URL)",
                    format!("{u:?}: {e}"),
                )
            })?),
        };
        let concurrency = match env("ONBOARD_WORKER_CONCURRENCY")
            .or(f.worker.concurrency.map(|c| c.to_string()))
        {
            None => 16,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| {
                    bad(
                        "worker.concurrency (ONBOARD_WORKER_CONCURRENCY)",
                        format!("{v:?} is not a number from 1 to 1024"),
                    )
                })?,
        };
        let metrics_addr = env("ONBOARD_METRICS_ADDR")
            .or(f.worker.metrics_addr)
            .unwrap_or_else(|| "127.0.0.1:9464".into());
        let metrics_addr = metrics_addr.parse().map_err(|_| {
            bad(
                "worker.metrics_addr (ONBOARD_METRICS_ADDR)",
                format!("{metrics_addr:?} is not host:port"),
            )
        })?;
        let budget_share =
            match env("ONBOARD_BUDGET_SHARE").or(f.worker.budget_share.map(|b| b.to_string())) {
                None => 0.5,
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0 && *s <= 1.0)
                    .ok_or_else(|| {
                        bad(
                            "worker.budget_share (ONBOARD_BUDGET_SHARE)",
                            format!("{v:?} is not a number in (0, 1]"),
                        )
                    })?,
            };
        let lease = match env("ONBOARD_LEASE_SECS").or(f.worker.lease_secs.map(|l| l.to_string())) {
            None => Duration::from_secs(30),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=3600).contains(s))
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    bad(
                        "worker.lease_secs (ONBOARD_LEASE_SECS)",
                        format!("{v:?} is not a number of seconds from 1 to 3600"),
                    )
                })?,
        };
        let sweep_interval = match env("ONBOARD_SWEEP_INTERVAL_SECS")
            .or(f.worker.sweep_interval_secs.map(|l| l.to_string()))
        {
            None => Duration::from_secs(3600),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=86_400).contains(s))
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    bad(
                        "worker.sweep_interval_secs (ONBOARD_SWEEP_INTERVAL_SECS)",
                        format!("{v:?} is not a number of seconds from 1 to 86400"),
                    )
                })?,
        };
        let api_listen = env("ONBOARD_API_LISTEN")
            .or(f.api.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let api_listen: SocketAddr = api_listen.parse().map_err(|_| {
            bad(
                "api.listen (ONBOARD_API_LISTEN)",
                format!("{api_listen:?} is not host:port"),
            )
        })?;
        // Optional everywhere: scoped tokens (`onboard token add`) are stored in Redis, and the
        // API refuses every write without a token and every read off loopback.
        let api_token = env("ONBOARD_API_TOKEN");
        let api_hosts: Vec<String> = match env("ONBOARD_API_HOSTS") {
            Some(v) => v.split(',').map(|h| h.trim().to_owned()).collect(),
            None => f.api.hosts.unwrap_or_default(),
        };
        if let Some(bad_host) = api_hosts
            .iter()
            .find(|h| h.is_empty() || h.len() > 253 || h.contains(['/', ' ', '@']))
        {
            return Err(bad(
                "api.hosts (ONBOARD_API_HOSTS)",
                format!("{bad_host:?} is not a host name"),
            ));
        }
        let tls_cert = env("ONBOARD_API_TLS_CERT_FILE").or(f.api.tls_cert_file);
        let tls_key = env("ONBOARD_API_TLS_KEY_FILE").or(f.api.tls_key_file);
        let api_tls = match (tls_cert, tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(onboarding_api::tls::TlsFiles {
                cert: cert.into(),
                key: key.into(),
            }),
            (Some(_), None) => {
                return Err(bad(
                    "api.tls_key_file (ONBOARD_API_TLS_KEY_FILE)",
                    "not set, but api.tls_cert_file is: TLS needs both the certificate and its key",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "api.tls_cert_file (ONBOARD_API_TLS_CERT_FILE)",
                    "not set, but api.tls_key_file is: TLS needs both the certificate and its key",
                ));
            }
        };
        let trace_links = match env("ONBOARD_TRACE_URL").or(f.trace_url) {
            None => TraceLinks::none(),
            Some(t) => TraceLinks::new(&t).map_err(|e| bad("trace_url (ONBOARD_TRACE_URL)", e))?,
        };
        let drift_period = match env("ONBOARD_DRIFT_PERIOD_SECS")
            .or(f.worker.drift_period_secs.map(|p| p.to_string()))
        {
            None => Some(Duration::from_secs(24 * 3600)),
            Some(v) => match v.parse::<u64>().ok().filter(|p| *p <= 365 * 86400) {
                Some(0) => None,
                Some(p) if p >= 60 => Some(Duration::from_secs(p)),
                _ => {
                    return Err(bad(
                        "worker.drift_period_secs (ONBOARD_DRIFT_PERIOD_SECS)",
                        format!("{v:?} is not 0 (off) or a number of seconds from 60 to 31536000"),
                    ));
                }
            },
        };
        let deactivation_url_base = match env("ONBOARD_DEACTIVATION_URL_BASE")
            .or(f.api.deactivation_url_base)
        {
            None => None,
            Some(b) => {
                onboarding_steps::settings::validate_deactivation_url_base(&b).map_err(|e| {
                    bad(
                        "api.deactivation_url_base (ONBOARD_DEACTIVATION_URL_BASE)",
                        format!("{b:?} {e}"),
                    )
                })?;
                Some(b.trim_end_matches('/').to_owned())
            }
        };
        Ok(Self {
            drift_period,
            deactivation_url_base,
            trace_links,
            api_listen,
            api_token,
            api_hosts,
            api_tls,
            sweep_interval,
            redis_url,
            redis,
            prefix,
            secret_key,
            secret_keys_old,
            retention,
            autotask_base_url,
            concurrency,
            metrics_addr,
            budget_share,
            lease,
        })
    }
}

/// The `[redis]` settings, each from its variable or else the file, checked together.
fn redis_config(
    url: &str,
    f: RedisFile,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<RedisConfig, ConfigError> {
    let file = |var: &'static str, key: &'static str, from_file: Option<String>| {
        env(var).map(|p| (p, var)).or(from_file.map(|p| (p, key)))
    };
    let sentinels: Vec<String> = match env("ONBOARD_REDIS_SENTINELS") {
        Some(v) => v.split(',').map(|s| s.trim().to_owned()).collect(),
        None => f.sentinels.unwrap_or_default(),
    };
    const SENTINELS: &str = "redis.sentinels (ONBOARD_REDIS_SENTINELS)";
    if let Some(s) = sentinels.iter().find(|s| {
        !s.rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
    }) {
        return Err(bad(SENTINELS, format!("{s:?} is not host:port")));
    }
    let sentinel_master = env("ONBOARD_REDIS_SENTINEL_MASTER").or(f.sentinel_master);
    match (&sentinel_master, sentinels.is_empty()) {
        (None, false) => {
            return Err(bad(
                "redis.sentinel_master (ONBOARD_REDIS_SENTINEL_MASTER)",
                "the sentinels are set, so the master's name is needed too",
            ));
        }
        (Some(_), true) => {
            return Err(bad(SENTINELS, "a master name is set but no sentinel"));
        }
        _ => {}
    }
    let username = env("ONBOARD_REDIS_USERNAME").or(f.username);
    if let Some(u) = username
        .as_ref()
        .filter(|u| u.contains(char::is_whitespace))
    {
        return Err(bad(
            "redis.username (ONBOARD_REDIS_USERNAME)",
            format!("{u:?} has white space"),
        ));
    }
    let ca_file = file("ONBOARD_REDIS_CA_FILE", "redis.ca_file", f.ca_file);
    if let Some((_, setting)) = &ca_file
        && !url.starts_with("rediss://")
    {
        return Err(bad(
            setting,
            "a CA file is for TLS: the Redis URL must start with rediss://",
        ));
    }
    Ok(RedisConfig {
        sentinels,
        sentinel_master,
        username,
        password_file: file(
            "ONBOARD_REDIS_PASSWORD_FILE",
            "redis.password_file",
            f.password_file,
        ),
        sentinel_password_file: file(
            "ONBOARD_REDIS_SENTINEL_PASSWORD_FILE",
            "redis.sentinel_password_file",
            f.sentinel_password_file,
        ),
        ca_file,
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
