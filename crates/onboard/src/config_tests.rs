//! Tests of `config`: every setting from the file and the environment, and errors that name
//! the setting (never a secret).

use super::*;
use std::collections::HashMap;

fn load(file: Option<&str>, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load(file.map(|t| ("onboard.toml", t)), |k| map.get(k).cloned())
}

#[test]
fn drift_period_and_deactivation_base() {
    let c = load(None, &[]).unwrap();
    assert_eq!(c.drift_period, Some(Duration::from_secs(86400)));
    assert_eq!(c.deactivation_url_base, None);
    let c = load(
        Some("[worker]\ndrift_period_secs = 3600\n[api]\ndeactivation_url_base = \"https://onboard.example.com/callouts/\"\n"),
        &[],
    )
    .unwrap();
    assert_eq!(c.drift_period, Some(Duration::from_secs(3600)));
    assert_eq!(
        c.deactivation_url_base.as_deref(),
        Some("https://onboard.example.com/callouts")
    );
    let c = load(None, &[("ONBOARD_DRIFT_PERIOD_SECS", "0")]).unwrap();
    assert_eq!(c.drift_period, None);
    assert_eq!(
        load(None, &[("ONBOARD_DRIFT_PERIOD_SECS", "5")])
            .unwrap_err()
            .to_string(),
        "worker.drift_period_secs (ONBOARD_DRIFT_PERIOD_SECS): \"5\" is not 0 (off) or a number of seconds from 60 to 31536000"
    );
    assert!(
        load(
            None,
            &[(
                "ONBOARD_DEACTIVATION_URL_BASE",
                "http://onboard.example.com"
            )]
        )
        .unwrap_err()
        .to_string()
        .starts_with("api.deactivation_url_base (ONBOARD_DEACTIVATION_URL_BASE): ")
    );
}

#[test]
fn defaults_file_and_environment() {
    let c = load(None, &[]).unwrap();
    assert_eq!(c.redis_url, "redis://127.0.0.1:6379/");
    assert_eq!((c.prefix.as_str(), c.concurrency), ("onboard", 16));
    assert_eq!(c.secret_key, KeySource::Missing);
    assert_eq!(c.secret_keys_old, KeySource::Missing);
    assert_eq!(c.retention, Duration::from_secs(30 * 24 * 3600));
    let c = load(
        Some("redis_url = \"redis://h:1/\"\n[worker]\nconcurrency = 4\n"),
        &[("ONBOARD_WORKER_CONCURRENCY", "8")],
    )
    .unwrap();
    assert_eq!(c.redis_url, "redis://h:1/");
    assert_eq!(c.concurrency, 8, "the environment overrides the file");
    let c = load(
        None,
        &[
            ("REDIS_URL", "redis://r:2/"),
            ("ONBOARD_SECRET_KEY_FILE", "/k"),
        ],
    )
    .unwrap();
    assert_eq!(c.redis_url, "redis://r:2/");
    assert_eq!(
        c.secret_key,
        KeySource::File("/k".into(), "ONBOARD_SECRET_KEY_FILE")
    );
    let c = load(
        Some("retention_days = 7\nsecret_keys_old_file = \"/old\"\n"),
        &[("ONBOARD_SECRET_KEYS_OLD", "a,b")],
    )
    .unwrap();
    assert_eq!(c.retention, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(c.secret_keys_old, KeySource::Inline("a,b".into()));
    let c = load(None, &[("ONBOARD_RETENTION_DAYS", "90")]).unwrap();
    assert_eq!(c.retention, Duration::from_secs(90 * 24 * 3600));
    assert_eq!(c.sweep_interval, Duration::from_secs(3600));
    assert!(c.api_tls.is_none(), "plain HTTP by default");
    let c = load(
        Some("[worker]\nsweep_interval_secs = 60\n[api]\ntls_cert_file = \"/c.pem\"\ntls_key_file = \"/k.pem\"\n"),
        &[("ONBOARD_API_TLS_KEY_FILE", "/other-key.pem")],
    )
    .unwrap();
    assert_eq!(c.sweep_interval, Duration::from_secs(60));
    let tls = c.api_tls.unwrap();
    assert_eq!(
        (tls.cert.to_str(), tls.key.to_str()),
        (Some("/c.pem"), Some("/other-key.pem"))
    );
    let c = load(None, &[("ONBOARD_SWEEP_INTERVAL_SECS", "5")]).unwrap();
    assert_eq!(c.sweep_interval, Duration::from_secs(5));
}

#[test]
fn the_example_configuration_is_valid() {
    let text = include_str!("../../../deploy/onboard.example.toml");
    let c = load(Some(text), &[]).unwrap();
    assert_eq!(
        c.secret_key,
        KeySource::File("/etc/onboard/secret.key".into(), "secret_key_file")
    );
    assert_eq!((c.concurrency, c.budget_share), (16, 0.5));
    assert_eq!(
        c.autotask_base_url, None,
        "the example talks to the real Autotask"
    );
}

#[test]
fn the_kubernetes_configuration_is_valid() {
    let text = include_str!("../../../deploy/k8s/base/onboard.toml");
    // The workers' environment: no API token.
    let c = load(Some(text), &[]).unwrap();
    assert_eq!(c.metrics_addr.to_string(), "0.0.0.0:9464");
    assert_eq!(c.lease, Duration::from_secs(30));
    assert_eq!(
        c.secret_key,
        KeySource::File(
            "/var/run/secrets/onboard/sealing-key".into(),
            "secret_key_file"
        )
    );
    // The API's: off loopback without the master token is fine (scoped tokens are stored;
    // the API opens nothing without a token off loopback).
    assert!(load(Some(text), &[("ONBOARD_API_LISTEN", "0.0.0.0:8080")]).is_ok());
    let c = load(
        Some(text),
        &[
            ("ONBOARD_API_LISTEN", "0.0.0.0:8080"),
            ("ONBOARD_API_TOKEN", "t"),
        ],
    )
    .unwrap();
    assert_eq!(c.api_listen.to_string(), "0.0.0.0:8080");
}

#[test]
fn errors_name_the_setting() {
    let err = |file: Option<&str>, vars: &[(&str, &str)]| load(file, vars).unwrap_err().to_string();
    assert_eq!(
        err(None, &[("ONBOARD_WORKER_CONCURRENCY", "lots")]),
        "worker.concurrency (ONBOARD_WORKER_CONCURRENCY): \"lots\" is not a number from 1 to 1024"
    );
    assert_eq!(
        err(None, &[("ONBOARD_REDIS_URL", "http://x")]),
        "redis_url (ONBOARD_REDIS_URL): \"http://x\" is not a redis:// URL"
    );
    assert_eq!(
        err(None, &[("ONBOARD_SWEEP_INTERVAL_SECS", "0")]),
        "worker.sweep_interval_secs (ONBOARD_SWEEP_INTERVAL_SECS): \"0\" is not a number of seconds from 1 to 86400"
    );
    assert!(
        err(None, &[("ONBOARD_API_TLS_CERT_FILE", "/c.pem")])
            .starts_with("api.tls_key_file (ONBOARD_API_TLS_KEY_FILE): not set")
    );
    assert!(
        err(Some("[api]\ntls_key_file = \"/k.pem\""), &[])
            .starts_with("api.tls_cert_file (ONBOARD_API_TLS_CERT_FILE): not set")
    );
    assert_eq!(
        err(None, &[("ONBOARD_BUDGET_SHARE", "2")]),
        "worker.budget_share (ONBOARD_BUDGET_SHARE): \"2\" is not a number in (0, 1]"
    );
    assert!(err(Some("redis_ur = 1"), &[]).starts_with("onboard.toml: unknown field `redis_ur`"));
    assert!(
        err(None, &[("ONBOARD_AUTOTASK_BASE_URL", "not a url")])
            .starts_with("autotask.base_url (ONBOARD_AUTOTASK_BASE_URL)")
    );
    assert!(err(None, &[("ONBOARD_METRICS_ADDR", "nowhere")]).starts_with("worker.metrics_addr"));
    assert_eq!(
        err(None, &[("ONBOARD_RETENTION_DAYS", "0")]),
        "retention_days (ONBOARD_RETENTION_DAYS): \"0\" is not a number of days from 1 to 3650"
    );
    assert_eq!(
        err(
            None,
            &[("ONBOARD_TRACE_URL", "https://jaeger.example/trace/")]
        ),
        "trace_url (ONBOARD_TRACE_URL): \"https://jaeger.example/trace/\" has no {trace_id} placeholder"
    );
}

#[test]
fn a_trace_url_template_makes_trace_ids_links() {
    let c = load(
        Some("trace_url = \"https://tempo.example/t/{trace_id}\"\n"),
        &[],
    )
    .unwrap();
    assert_eq!(
        c.trace_links
            .link("0af7651916cd43dd8448eb211c80319c")
            .as_deref(),
        Some("https://tempo.example/t/0af7651916cd43dd8448eb211c80319c")
    );
    let c = load(
        Some("trace_url = \"https://tempo.example/t/{trace_id}\"\n"),
        &[(
            "ONBOARD_TRACE_URL",
            "https://jaeger.example/trace/{trace_id}",
        )],
    )
    .unwrap();
    assert_eq!(
        c.trace_links.link("0af7").as_deref(),
        Some("https://jaeger.example/trace/0af7"),
        "the environment overrides the file"
    );
}

#[test]
fn redis_sentinels_login_and_ca_come_from_file_or_environment() {
    let text = "redis_url = \"rediss://onboard@x/\"\n[redis]\nsentinels = [\"s1:26379\", \"s2:26379\"]\nsentinel_master = \"mymaster\"\npassword_file = \"/run/secrets/redis\"\nca_file = \"/ca.pem\"\n";
    let c = load(Some(text), &[("ONBOARD_REDIS_USERNAME", "worker")]).unwrap();
    assert_eq!(c.redis.sentinels, ["s1:26379", "s2:26379"]);
    assert_eq!(c.redis.sentinel_master.as_deref(), Some("mymaster"));
    assert_eq!(c.redis.username.as_deref(), Some("worker"));
    assert_eq!(
        c.redis.password_file,
        Some(("/run/secrets/redis".into(), "redis.password_file"))
    );
    assert_eq!(c.redis.ca_file, Some(("/ca.pem".into(), "redis.ca_file")));
    let c = load(
        None,
        &[
            ("ONBOARD_REDIS_SENTINELS", "a:1, b:2"),
            ("ONBOARD_REDIS_SENTINEL_MASTER", "m"),
            ("ONBOARD_REDIS_SENTINEL_PASSWORD_FILE", "/sp"),
        ],
    )
    .unwrap();
    assert_eq!(c.redis.sentinels, ["a:1", "b:2"]);
    assert_eq!(
        c.redis.sentinel_password_file,
        Some(("/sp".into(), "ONBOARD_REDIS_SENTINEL_PASSWORD_FILE"))
    );
}

#[test]
fn bad_redis_settings_are_named() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("ONBOARD_REDIS_SENTINELS", "s1:26379,nope")],
            "redis.sentinels (ONBOARD_REDIS_SENTINELS): \"nope\" is not host:port",
        ),
        (
            &[("ONBOARD_REDIS_SENTINELS", "s1:26379")],
            "redis.sentinel_master (ONBOARD_REDIS_SENTINEL_MASTER): the sentinels are set",
        ),
        (
            &[("ONBOARD_REDIS_SENTINEL_MASTER", "m")],
            "redis.sentinels (ONBOARD_REDIS_SENTINELS): a master name is set but no sentinel",
        ),
        (
            &[("ONBOARD_REDIS_CA_FILE", "/ca.pem")],
            "ONBOARD_REDIS_CA_FILE: a CA file is for TLS",
        ),
    ];
    for (vars, want) in cases {
        let e = load(None, vars).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e}");
    }
}

#[test]
fn a_bad_redis_url_is_named_without_its_password() {
    let e = load(None, &[("ONBOARD_REDIS_URL", "http://onboard:s3cret@h:1/")])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("redis_url (ONBOARD_REDIS_URL)")
            && e.contains("onboard:***@h")
            && !e.contains("s3cret"),
        "{e}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Hostile configuration: any file text and any value of a known variable is loaded
    /// or refused with an error naming the file or the setting, never a panic.
    #[test]
    fn any_configuration_is_loaded_or_refused_by_name(
        text in ".{0,80}",
        key in proptest::sample::select(vec![
            "ONBOARD_REDIS_URL",
            "ONBOARD_WORKER_CONCURRENCY",
            "ONBOARD_METRICS_ADDR",
            "ONBOARD_SECRET_KEY",
            "ONBOARD_PREFIX",
            "ONBOARD_AUTOTASK_BASE_URL",
        ]),
        value in ".{0,40}",
    ) {
        if let Err(e) = load(Some(&text), &[]) {
            proptest::prop_assert!(e.to_string().contains("onboard.toml"), "{}", e);
        }
        if let Err(e) = load(None, &[(key, value.as_str())]) {
            proptest::prop_assert!(e.to_string().contains(key), "{}", e);
        }
    }
}
