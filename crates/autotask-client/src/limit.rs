//! Concurrency limits and pacing.
//!
//! Autotask allows 3 concurrent requests per (API tracking identifier, object endpoint) in a
//! database. Every request first takes a permit from the [`Limiter`] for its [`LimitKey`];
//! [`LocalLimiter`] holds within one process (the worker plugs in a limiter shared through
//! Redis). The [`Pacer`] sees the last known `ThresholdInformation` of the database and may
//! delay or refuse a request before it is sent.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autotask_types::ThresholdInformation;
use tokio::sync::Semaphore;

use crate::Error;

/// What a permit counts: the database (zone URL), a fingerprint of the integration code
/// (never the code itself) and the object endpoint (first path segment, e.g. `Resources`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LimitKey {
    /// The database's REST base URL.
    pub database: String,
    /// A stable fingerprint of the integration code.
    pub integration: String,
    /// The object endpoint.
    pub endpoint: String,
}

impl LimitKey {
    /// One string for the key, e.g. for Redis.
    pub fn as_string(&self) -> String {
        format!("{}|{}|{}", self.database, self.integration, self.endpoint)
    }
}

/// Held while a request is in flight; dropping it releases the permit.
pub struct LimitPermit(#[allow(dead_code)] Box<dyn Send + Sync>);

impl LimitPermit {
    /// Wraps whatever releases the permit on drop.
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        Self(Box::new(guard))
    }
}

/// A boxed future, so limiters can be trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Hands out permits per key.
pub trait Limiter: Send + Sync {
    /// Waits for a permit for `key`.
    fn acquire<'a>(&'a self, key: &'a LimitKey) -> BoxFuture<'a, Result<LimitPermit, Error>>;
}

/// Semaphores per key inside this process.
#[derive(Debug)]
pub struct LocalLimiter {
    permits: usize,
    semaphores: Mutex<HashMap<LimitKey, Arc<Semaphore>>>,
}

impl LocalLimiter {
    /// `permits` concurrent requests per key.
    pub fn new(permits: usize) -> Self {
        Self {
            permits: permits.max(1),
            semaphores: Mutex::default(),
        }
    }
}

impl Limiter for LocalLimiter {
    fn acquire<'a>(&'a self, key: &'a LimitKey) -> BoxFuture<'a, Result<LimitPermit, Error>> {
        let semaphore = self
            .semaphores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.permits)))
            .clone();
        Box::pin(async move {
            let permit = semaphore
                .acquire_owned()
                .await
                .expect("the limiter never closes its semaphores");
            Ok(LimitPermit::new(permit))
        })
    }
}

/// A pacer's decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Send now.
    Go,
    /// Wait this long, then send.
    Wait(Duration),
    /// Do not send; the budget is used up for this long.
    Refuse(Duration),
}

/// Decides, from the database's last known threshold information, whether to send now.
pub trait Pacer: Send + Sync {
    /// The decision for one request. `last` is `None` until `ThresholdInformation` has been
    /// read for this database.
    fn pace(&self, last: Option<&ThresholdInformation>) -> Pace;
}

/// Never delays (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unpaced;

impl Pacer for Unpaced {
    fn pace(&self, _: Option<&ThresholdInformation>) -> Pace {
        Pace::Go
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(endpoint: &str) -> LimitKey {
        LimitKey {
            database: "db".into(),
            integration: "code".into(),
            endpoint: endpoint.into(),
        }
    }

    #[tokio::test]
    async fn at_most_n_permits_per_key() {
        let limiter = LocalLimiter::new(3);
        let held = acquire_n(&limiter, "Resources", 3).await;
        let resources = key("Resources");
        let waited =
            tokio::time::timeout(Duration::from_millis(50), limiter.acquire(&resources)).await;
        assert!(waited.is_err(), "a 4th permit was granted");
        // Another endpoint has its own permits.
        let other = tokio::time::timeout(
            Duration::from_millis(50),
            limiter.acquire(&key("TicketWebhooks")),
        )
        .await;
        assert!(other.is_ok());
        drop(held);
        let again = tokio::time::timeout(
            Duration::from_millis(50),
            limiter.acquire(&key("Resources")),
        )
        .await;
        assert!(again.is_ok(), "permits did not come back");
    }

    async fn acquire_n(limiter: &LocalLimiter, endpoint: &str, n: usize) -> Vec<LimitPermit> {
        let mut held = Vec::new();
        for _ in 0..n {
            held.push(limiter.acquire(&key(endpoint)).await.unwrap());
        }
        held
    }
}
