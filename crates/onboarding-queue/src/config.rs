//! Queue configuration: plain values handed to [`crate::Queue::connect`].
//!
//! No environment reads, no I/O: the binary decides the values.

use std::time::Duration;

/// How one queue behaves. Every process using the same queue must use the same
/// `group_running_limit` (it is enforced by the scripts with the value each caller passes).
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// How long a fetched job stays leased without renewal. A worker that dies is detected
    /// after at most this long; running workers renew at a third of it. Default 30 s.
    pub lease: Duration,
    /// At most this many jobs of one group leased at once, across all workers (0 = no
    /// limit). Default 1: one running step per tenant.
    pub group_running_limit: u32,
    /// Attempts a job gets when its [`crate::NewJob`] does not say. Default 10.
    pub default_max_attempts: u32,
    /// Done jobs kept for inspection, newest first. Default 10,000.
    pub keep_done: u64,
    /// Done jobs older than this are deleted. Default 7 days.
    pub keep_done_for: Duration,
    /// Due scheduled jobs promoted per fetch call at most. Default 1,000.
    pub promote_chunk: u32,
    /// Expired leases recovered per fetch call at most. Default 100.
    pub recover_chunk: u32,
    /// Timeout of one Redis command. Default 5 s (long enough for a 1,000-job bulk script).
    pub response_timeout: Duration,
    /// Timeout of connecting to Redis. Default 2 s.
    pub connection_timeout: Duration,
    /// Longest an idle worker waits before looking again even without a wake-up message
    /// (a safety net for a lost pub/sub message). Default 2 s.
    pub idle_poll: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            group_running_limit: 1,
            default_max_attempts: 10,
            keep_done: 10_000,
            keep_done_for: Duration::from_secs(7 * 24 * 3600),
            promote_chunk: 1_000,
            recover_chunk: 100,
            response_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(2),
            idle_poll: Duration::from_secs(2),
        }
    }
}
