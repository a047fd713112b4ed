//! Test helpers: a private Redis and a queue on it, and a deadline-bounded wait.

use std::time::Duration;

use onboarding_queue::{Queue, QueueConfig};
use redis_test_server::{Options, RedisServer, unique_name};

/// A private server and a queue on it (kept together so the server outlives the queue).
pub struct Env {
    pub queue: Queue,
    #[allow(dead_code)]
    pub server: RedisServer,
}

pub async fn env(config: QueueConfig) -> Env {
    let server = RedisServer::start();
    let queue = Queue::connect(server.url(), &unique_name("q"), config)
        .await
        .expect("connect");
    Env { queue, server }
}

/// Always a private server (for tests that look at every key or restart the server).
#[allow(dead_code)]
pub async fn private_env(config: QueueConfig, options: Options) -> Env {
    let server = RedisServer::private(options);
    let queue = Queue::connect(server.url(), &unique_name("q"), config)
        .await
        .expect("connect");
    Env { queue, server }
}

pub async fn default_env() -> Env {
    env(QueueConfig::default()).await
}

/// Awaits `cond` until it holds, checking every few ms, failing after `within`.
#[allow(dead_code)]
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + within;
    loop {
        if cond().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
