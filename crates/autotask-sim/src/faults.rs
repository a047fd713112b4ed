//! Fault injection as data: rules that match REST requests by database, endpoint and method
//! and add latency, answer 429 or 500, hold the request until it times out, reset the
//! connection, or commit a write and then drop the response. Rules with `times` are used up
//! after that many matches. Zone discovery and the console are never faulted.
//!
//! What it does not do: it only decides; the REST pipeline (`api`) sleeps, answers or
//! drops the connection.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// What happens to a matched request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Fault {
    /// Add a fixed latency, then serve normally.
    Latency {
        /// Milliseconds.
        ms: u64,
    },
    /// Add a uniformly random latency, then serve normally.
    RandomLatency {
        /// Lower bound, milliseconds.
        min_ms: u64,
        /// Upper bound, milliseconds.
        max_ms: u64,
    },
    /// Answer 429 with an `Itgenatr005` thread-limit body (nothing is done).
    TooManyRequests,
    /// Answer `status` (default 500) without doing anything. Without `errors` the body is
    /// ASP.NET's bare `{"Message":"An error has occurred."}` (a transient failure); with
    /// `errors` it is `{"errors": [...]}` (what a rule failure looks like).
    ServerError {
        /// The status (500, 502, 503, ...).
        #[serde(default = "five_hundred")]
        status: u16,
        /// `errors[]` messages to send.
        #[serde(default)]
        errors: Vec<String>,
    },
    /// Hold the request for `ms` (default 60 s), then drop the connection without answer.
    Timeout {
        /// Milliseconds.
        #[serde(default = "sixty_seconds")]
        ms: u64,
    },
    /// Drop the connection without an answer (nothing is done).
    ConnectionReset,
    /// Perform the request (a write is committed), then drop the connection without answer.
    CommitThenDrop,
}

fn five_hundred() -> u16 {
    500
}

impl Fault {
    /// A bare HTTP 500 (transient).
    pub fn server_error() -> Self {
        Self::ServerError {
            status: 500,
            errors: Vec::new(),
        }
    }
}

fn sixty_seconds() -> u64 {
    60_000
}

impl Fault {
    /// Short name for the request log.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Latency { .. } => "latency",
            Self::RandomLatency { .. } => "randomLatency",
            Self::TooManyRequests => "tooManyRequests",
            Self::ServerError { .. } => "serverError",
            Self::Timeout { .. } => "timeout",
            Self::ConnectionReset => "connectionReset",
            Self::CommitThenDrop => "commitThenDrop",
        }
    }

    fn is_latency(&self) -> bool {
        matches!(self, Self::Latency { .. } | Self::RandomLatency { .. })
    }
}

/// A fault and the requests it applies to. Unset matchers match everything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    /// Database name (exact).
    #[serde(default)]
    pub database: Option<String>,
    /// Endpoint: the first path segment after `V1.0`, case-insensitive (e.g. `TicketWebhooks`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// HTTP method, case-insensitive.
    #[serde(default)]
    pub method: Option<String>,
    /// What to do.
    pub fault: Fault,
    /// How many matching requests it applies to (unset = every one).
    #[serde(default)]
    pub times: Option<u32>,
}

impl FaultRule {
    /// A rule for every request.
    pub fn new(fault: Fault) -> Self {
        Self {
            database: None,
            endpoint: None,
            method: None,
            fault,
            times: None,
        }
    }

    /// Only this database.
    pub fn database(mut self, db: &str) -> Self {
        self.database = Some(db.into());
        self
    }

    /// Only this endpoint.
    pub fn endpoint(mut self, endpoint: &str) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Only this method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Only the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, db: &str, endpoint: &str, method: &str) -> bool {
        self.database.as_deref().is_none_or(|d| d == db)
            && self
                .endpoint
                .as_deref()
                .is_none_or(|e| e.eq_ignore_ascii_case(endpoint))
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }
}

/// What the fault rules decided for one request.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    pub(crate) latency: Duration,
    pub(crate) terminal: Option<Fault>,
}

/// The active rules.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Vec<FaultRule>,
}

impl Faults {
    /// Adds a rule after the others.
    pub(crate) fn add(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    /// The active rules, in order.
    pub(crate) fn rules(&self) -> &[FaultRule] {
        &self.rules
    }

    /// Removes every rule.
    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// Applies matching rules: all latency rules add up; the first other rule decides the
    /// outcome. Used-up rules are removed.
    pub(crate) fn decide(&mut self, db: &str, endpoint: &str, method: &str) -> Decision {
        let mut d = Decision::default();
        let mut rng = rand::rng();
        for rule in &mut self.rules {
            if !rule.matches(db, endpoint, method) || rule.times == Some(0) {
                continue;
            }
            if !rule.fault.is_latency() && d.terminal.is_some() {
                continue;
            }
            match &rule.fault {
                Fault::Latency { ms } => d.latency += Duration::from_millis(*ms),
                Fault::RandomLatency { min_ms, max_ms } => {
                    let (lo, hi) = (*min_ms.min(max_ms), *min_ms.max(max_ms));
                    d.latency += Duration::from_millis(rng.random_range(lo..=hi));
                }
                other => d.terminal = Some(other.clone()),
            }
            if let Some(n) = &mut rule.times {
                *n -= 1;
            }
        }
        self.rules.retain(|r| r.times != Some(0));
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rules_are_used_up_and_matchers_filter() {
        let mut f = Faults::default();
        f.rules.push(
            FaultRule::new(Fault::TooManyRequests)
                .database("a")
                .endpoint("Resources")
                .times(2),
        );
        f.rules.push(FaultRule::new(Fault::Latency { ms: 5 }));
        assert_eq!(f.decide("b", "Resources", "GET").terminal, None);
        let d = f.decide("a", "resources", "GET");
        assert_eq!(d.terminal, Some(Fault::TooManyRequests));
        assert_eq!(d.latency, Duration::from_millis(5));
        assert_eq!(
            f.decide("a", "Resources", "POST").terminal,
            Some(Fault::TooManyRequests)
        );
        assert_eq!(f.decide("a", "Resources", "GET").terminal, None);
        assert_eq!(f.rules.len(), 1, "the used-up rule is gone");
    }

    #[test]
    fn rules_deserialize_from_json() {
        let r: FaultRule = serde_json::from_str(
            r#"{"endpoint":"TicketWebhooks","method":"POST","fault":{"kind":"commitThenDrop"},"times":1}"#,
        )
        .unwrap();
        assert_eq!(r.fault, Fault::CommitThenDrop);
        let r: FaultRule =
            serde_json::from_str(r#"{"fault":{"kind":"randomLatency","minMs":1,"maxMs":3}}"#)
                .unwrap();
        assert_eq!(
            r.fault,
            Fault::RandomLatency {
                min_ms: 1,
                max_ms: 3
            }
        );
    }
}
