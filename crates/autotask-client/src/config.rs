//! Client configuration: where Autotask is (the real service or an explicit base URL such as
//! the simulator's), timeouts, the in-process retry policy and the concurrency limit.

use std::time::Duration;

use url::Url;

/// Where requests may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The real Autotask: zone discovery on `webservices2.autotask.net`; zone URLs and
    /// pagination URLs must be `https://*.autotask.net`.
    Autotask,
    /// An explicitly configured base URL (the simulator): zone discovery at
    /// `{base}/atservicesrest/v1.0/zoneInformation`; zone URLs must share the base's origin.
    Explicit(Url),
}

/// In-process retry of transient failures and thread-limit refusals (exponential with
/// jitter, bounded by attempts and total time; `Retry-After` honoured when present and not
/// longer than `max_delay`).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRetry {
    /// Retries after the first attempt (0 disables in-process retries).
    pub max_retries: usize,
    /// First delay.
    pub min_delay: Duration,
    /// Cap of one delay.
    pub max_delay: Duration,
    /// Cap of all delays together.
    pub max_total_delay: Duration,
}

impl Default for HttpRetry {
    fn default() -> Self {
        Self {
            max_retries: 4,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_total_delay: Duration::from_secs(20),
        }
    }
}

/// Everything the client needs, passed to [`crate::AutotaskClient::new`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Where requests may go.
    pub target: Target,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// Timeout of connection setup.
    pub connect_timeout: Duration,
    /// In-process retries.
    pub retry: HttpRetry,
    /// Concurrent requests per (integration code, endpoint) inside this process (Autotask
    /// allows 3).
    pub endpoint_concurrency: usize,
    /// How long a discovered zone stays cached.
    pub zone_cache_ttl: Duration,
    /// Largest response body read, in bytes; a larger one is refused unread.
    pub max_body_bytes: usize,
    /// Most pages one query follows (500 rows each); more is refused, as is a pagination
    /// URL seen before in the same query.
    pub max_pages: usize,
}

impl ClientConfig {
    /// Defaults for a target: 30 s request timeout, 5 s connect timeout, 3 concurrent
    /// requests per endpoint, zones cached 24 h, bodies up to 16 MiB, queries up to 1,000
    /// pages (500,000 rows).
    pub fn new(target: Target) -> Self {
        Self {
            target,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            retry: HttpRetry::default(),
            endpoint_concurrency: 3,
            zone_cache_ttl: Duration::from_secs(24 * 3600),
            max_body_bytes: 16 * 1024 * 1024,
            max_pages: 1_000,
        }
    }
}
