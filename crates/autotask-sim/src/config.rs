//! Simulator configuration: global knobs (page size, limits, latency steps, callout timing),
//! the profile and behaviour knobs of what Autotask leaves open ([`crate::behaviour`]), and
//! the tenant fixtures (databases with their vendors, lines of business and API users).
//!
//! Everything has Autotask's defaults; tests shrink the timings. The same types deserialize
//! from the binary's fixtures file (TOML or JSON). Durations are milliseconds on the wire.
//! A fixtures file's `profile` sets every behaviour knob; its `[behaviour]` table then
//! overrides single knobs.
//!
//! What it does not do: no state; it checks nothing beyond what deserializing checks
//! (database names are checked when a database is added).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::behaviour::{Behaviour, Profile};

/// The whole simulator configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawSimConfig")]
pub struct SimConfig {
    /// The profile the behaviour knobs started from (`default` or `strict`).
    pub profile: Profile,
    /// How the simulator plays each behaviour Autotask's documentation leaves open.
    pub behaviour: Behaviour,
    /// Port to bind on 127.0.0.1 (0 = any free port).
    pub port: u16,
    /// Query page size (Autotask: 500). `MaxRecords` can only make pages smaller.
    pub page_size: u32,
    /// Concurrent requests per (integration code, endpoint) per database (Autotask: 3).
    pub thread_limit: u32,
    /// Latency added to every REST request (besides fault rules), milliseconds.
    pub base_latency_ms: u64,
    /// Latency added once a database has used 50 % of its hourly threshold (Autotask ≈ 500).
    pub threshold_latency_50_ms: u64,
    /// Latency added from 75 % (Autotask ≈ 1000).
    pub threshold_latency_75_ms: u64,
    /// The rolling threshold window in seconds (Autotask: 3600).
    pub threshold_window_secs: u64,
    /// Webhook callout timing.
    pub callouts: CalloutConfig,
    /// How many request-log entries to keep (oldest dropped first).
    pub request_log_capacity: usize,
    /// The databases (tenants). Each also gets the default system security levels,
    /// integration vendors and lines of business unless it defines its own.
    #[serde(rename = "database")]
    pub databases: Vec<DatabaseConfig>,
}

/// [`SimConfig`] as written in a fixtures file: `behaviour` holds only the knobs the file
/// sets, on top of its `profile`.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawSimConfig {
    profile: Profile,
    behaviour: serde_json::Map<String, serde_json::Value>,
    port: u16,
    page_size: u32,
    thread_limit: u32,
    base_latency_ms: u64,
    threshold_latency_50_ms: u64,
    threshold_latency_75_ms: u64,
    threshold_window_secs: u64,
    callouts: CalloutConfig,
    request_log_capacity: usize,
    #[serde(rename = "database")]
    databases: Vec<DatabaseConfig>,
}

impl Default for RawSimConfig {
    fn default() -> Self {
        let d = SimConfig::default();
        Self {
            profile: d.profile,
            behaviour: serde_json::Map::new(),
            port: d.port,
            page_size: d.page_size,
            thread_limit: d.thread_limit,
            base_latency_ms: d.base_latency_ms,
            threshold_latency_50_ms: d.threshold_latency_50_ms,
            threshold_latency_75_ms: d.threshold_latency_75_ms,
            threshold_window_secs: d.threshold_window_secs,
            callouts: d.callouts,
            request_log_capacity: d.request_log_capacity,
            databases: d.databases,
        }
    }
}

impl TryFrom<RawSimConfig> for SimConfig {
    type Error = String;

    fn try_from(raw: RawSimConfig) -> Result<Self, String> {
        let mut knobs = serde_json::to_value(raw.profile.behaviour()).map_err(|e| e.to_string())?;
        if let Some(map) = knobs.as_object_mut() {
            map.extend(raw.behaviour);
        }
        let behaviour: Behaviour =
            serde_json::from_value(knobs).map_err(|e| format!("behaviour: {e}"))?;
        behaviour.validate()?;
        Ok(Self {
            profile: raw.profile,
            behaviour,
            port: raw.port,
            page_size: raw.page_size,
            thread_limit: raw.thread_limit,
            base_latency_ms: raw.base_latency_ms,
            threshold_latency_50_ms: raw.threshold_latency_50_ms,
            threshold_latency_75_ms: raw.threshold_latency_75_ms,
            threshold_window_secs: raw.threshold_window_secs,
            callouts: raw.callouts,
            request_log_capacity: raw.request_log_capacity,
            databases: raw.databases,
        })
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            profile: Profile::Default,
            behaviour: Behaviour::default(),
            port: 0,
            page_size: 500,
            thread_limit: 3,
            base_latency_ms: 0,
            threshold_latency_50_ms: 500,
            threshold_latency_75_ms: 1000,
            threshold_window_secs: 3600,
            callouts: CalloutConfig::default(),
            request_log_capacity: 100_000,
            databases: Vec::new(),
        }
    }
}

impl SimConfig {
    /// The default configuration with the pessimistic side of every behaviour knob.
    pub fn strict() -> Self {
        Self::default().with_profile(Profile::Strict)
    }

    /// This configuration with `profile`'s behaviour knobs (replacing every knob).
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self.behaviour = profile.behaviour();
        self
    }

    /// One database named `name` with defaults.
    pub fn with_database(mut self, name: &str) -> Self {
        self.databases.push(DatabaseConfig::named(name));
        self
    }

    /// Reads a fixtures file: TOML unless the name ends in `.json`.
    pub fn from_file(path: &std::path::Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Fixtures {
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            serde_json::from_str(&text).map_err(|e| Error::Fixtures {
                message: e.to_string(),
            })
        } else {
            toml::from_str(&text).map_err(|e| Error::Fixtures {
                message: e.to_string(),
            })
        }
    }
}

/// Webhook delivery timing (Autotask: 10 s timeout, 5 attempts 30 s apart, disabled after 25
/// consecutive failures).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalloutConfig {
    /// No answer within this time is a failure (milliseconds).
    pub timeout_ms: u64,
    /// Delivery attempts per event before it is dropped.
    pub max_attempts: u32,
    /// Pause between attempts (milliseconds).
    pub retry_delay_ms: u64,
    /// The webhook is deactivated after this many consecutive failed attempts.
    pub deactivate_after_failures: u32,
}

impl Default for CalloutConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 10_000,
            max_attempts: 5,
            retry_delay_ms: 30_000,
            deactivate_after_failures: 25,
        }
    }
}

impl CalloutConfig {
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
    pub(crate) fn retry_delay(&self) -> Duration {
        Duration::from_millis(self.retry_delay_ms)
    }
}

/// One Autotask database (tenant).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Name, used in the zone URL path (`/zones/{name}/ATServicesRest/`).
    pub name: String,
    /// Zone name reported by zone discovery.
    pub zone_name: String,
    /// Hourly request threshold (Autotask: 10,000).
    pub hourly_threshold: u32,
    /// Integration vendors offered under "API Tracking Identifier". Empty = the defaults
    /// ("Sophos Central - Security", "Innerapps - Identity Syncronizer", "Barracuda MSP").
    #[serde(rename = "vendor")]
    pub vendors: Vec<VendorConfig>,
    /// Lines of business as "Level1 > Level2". Empty = the defaults ("General > IT
    /// Services", "General > Software Development", "General > Managed Services").
    pub lines_of_business: Vec<String>,
    /// API users that already exist (e.g. the previous integration user of the demo).
    #[serde(rename = "api_user")]
    pub api_users: Vec<ApiUserConfig>,
    /// Whether `PATCH`/`PUT Resources` may change `isActive` of an API-only resource (by a
    /// caller with admin rights), for this database only; unset = the simulator's
    /// `behaviour.resource_activation`. Autotask's documentation does not confirm it (API
    /// users are managed in the web interface).
    pub api_user_activation_via_rest: Option<bool>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            name: "default".into(),
            zone_name: "America East".into(),
            hourly_threshold: 10_000,
            vendors: Vec::new(),
            lines_of_business: Vec::new(),
            api_users: Vec::new(),
            api_user_activation_via_rest: None,
        }
    }
}

impl DatabaseConfig {
    /// A database with defaults.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// An integration vendor of the tracking-identifier list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorConfig {
    /// Name shown in the list, e.g. "Sophos Central - Security".
    pub name: String,
    /// The vendor's tracking identifier, sent as `ApiIntegrationCode`.
    pub code: String,
    /// Active in the Integration Center.
    #[serde(default)]
    pub active: bool,
}

/// A preexisting API user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiUserConfig {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// Username (the generated key); must be unique across databases.
    pub user_name: String,
    /// Secret.
    pub secret: String,
    /// Active.
    #[serde(default = "yes")]
    pub active: bool,
    /// Security level by name (e.g. "API User (system)"). Webhook permission is set with
    /// `webhook_max`.
    #[serde(default)]
    pub security_level: Option<String>,
    /// When set, the user's level is a copy of its `security_level` with webhooks enabled and
    /// this maximum.
    #[serde(default)]
    pub webhook_max: Option<u32>,
    /// Tracking identifier: the vendor by name.
    #[serde(default)]
    pub vendor: Option<String>,
    /// Lines of business by "Level1 > Level2".
    #[serde(default)]
    pub lines_of_business: Vec<String>,
    /// "Resource can view items with no assigned Line of Business".
    #[serde(default)]
    pub view_items_with_no_lob: bool,
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_files_are_toml_or_json_by_extension() {
        let dir = std::env::temp_dir().join(format!("autotask-sim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let json = dir.join("f.json");
        std::fs::write(&json, r#"{"page_size": 7, "database": [{"name": "j"}]}"#).unwrap();
        let cfg = SimConfig::from_file(&json).unwrap();
        assert_eq!((cfg.page_size, cfg.databases[0].name.as_str()), (7, "j"));
        let toml_file = dir.join("f.toml");
        std::fs::write(&toml_file, "page_size = 9\n").unwrap();
        assert_eq!(SimConfig::from_file(&toml_file).unwrap().page_size, 9);
        std::fs::write(&toml_file, "pagesize = 9\n").unwrap();
        assert!(matches!(
            SimConfig::from_file(&toml_file),
            Err(Error::Fixtures { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_demo_fixtures_parse() {
        let cfg: SimConfig = toml::from_str(include_str!("../fixtures/demo.toml")).unwrap();
        assert_eq!(cfg.databases.len(), 2);
        assert_eq!(cfg.databases[0].api_users.len(), 1);
    }

    #[test]
    fn a_profile_sets_every_knob_and_behaviour_keys_override_single_ones() {
        use crate::behaviour::ResourceActivation;
        let cfg: SimConfig = toml::from_str("").unwrap();
        assert_eq!(
            (cfg.profile, cfg.behaviour),
            (Profile::Default, Behaviour::default())
        );
        let cfg: SimConfig = toml::from_str("profile = \"strict\"\n").unwrap();
        assert_eq!(cfg.behaviour, Behaviour::strict());
        let cfg: SimConfig = toml::from_str(
            "profile = \"strict\"\n[behaviour]\nresource_activation = \"allowed\"\n",
        )
        .unwrap();
        assert_eq!(
            cfg.behaviour,
            Behaviour {
                resource_activation: ResourceActivation::Allowed,
                ..Behaviour::strict()
            }
        );
        let cfg: SimConfig =
            serde_json::from_str(r#"{"behaviour": {"threshold_status": 500}}"#).unwrap();
        assert_eq!(cfg.behaviour.threshold_status, 500);
        assert_eq!(cfg.behaviour.tracking_mismatch_status, 401);
        // Round trip: what a strict configuration serializes to reads back the same.
        let strict = SimConfig::strict();
        let back: SimConfig =
            serde_json::from_value(serde_json::to_value(&strict).unwrap()).unwrap();
        assert_eq!(back.behaviour, strict.behaviour);
        for bad in [
            "[behaviour]\nthreshold_status = 503\n",
            "[behaviour]\nno_such_knob = true\n",
            "[behaviour]\nunknown_id = \"maybe\"\n",
            "profile = \"lenient\"\n",
        ] {
            assert!(toml::from_str::<SimConfig>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fixtures_parse_from_toml() {
        let cfg: SimConfig = toml::from_str(
            r#"
            page_size = 50
            [[database]]
            name = "acme"
            hourly_threshold = 200
            [[database.vendor]]
            name = "Sophos Central - Security"
            code = "SOPHOS"
            [[database.api_user]]
            first_name = "Old"
            last_name = "Integration"
            user_name = "old@acme.example"
            secret = "s3cret"
            security_level = "API User (system)"
            webhook_max = 10
            vendor = "Sophos Central - Security"
            "#,
        )
        .unwrap();
        assert_eq!(cfg.page_size, 50);
        assert_eq!(cfg.databases[0].hourly_threshold, 200);
        assert_eq!(cfg.databases[0].api_users[0].webhook_max, Some(10));
        assert!(cfg.databases[0].api_users[0].active);
    }
}
