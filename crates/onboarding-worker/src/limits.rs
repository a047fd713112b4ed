//! Autotask limits that hold across every worker process, through the queue's shared
//! semaphores: at most N (3) concurrent requests per (database, integration code, endpoint),
//! and a pacer that keeps each tenant within its configured share of the hourly budget.
//!
//! A permit is a lease in Redis: a worker killed mid-request stops renewing and its permit
//! comes back when the lease runs out.

use std::time::Duration;

use autotask_client::{
    BoxFuture, Error as ClientError, LimitKey, LimitPermit, Limiter, Pace, Pacer,
};
use autotask_types::ThresholdInformation;
use onboarding_queue::{Limits, Permit};

/// Thread-limit permits shared through Redis.
#[derive(Debug, Clone)]
pub struct SharedLimiter {
    limits: Limits,
    permits: u32,
    lease: Duration,
    max_wait: Duration,
}

impl SharedLimiter {
    /// `permits` per key; each permit leased for `lease` (longer than a request can take);
    /// a request waits at most `max_wait` for one before it counts as thread-limited.
    pub fn new(limits: Limits, permits: u32, lease: Duration, max_wait: Duration) -> Self {
        Self {
            limits,
            permits: permits.max(1),
            lease,
            max_wait,
        }
    }
}

struct Held {
    limits: Limits,
    permit: Option<Permit>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let (Some(permit), Ok(rt)) = (self.permit.take(), tokio::runtime::Handle::try_current())
        {
            let limits = self.limits.clone();
            rt.spawn(async move {
                // If this fails the lease expires on its own.
                let _ = limits.release(&permit).await;
            });
        }
    }
}

impl Limiter for SharedLimiter {
    fn acquire<'a>(&'a self, key: &'a LimitKey) -> BoxFuture<'a, Result<LimitPermit, ClientError>> {
        Box::pin(async move {
            let name = format!("autotask:{}", key.as_string());
            match self
                .limits
                .acquire(&name, self.permits, self.lease, self.max_wait)
                .await
            {
                Ok(Some(permit)) => Ok(LimitPermit::new(Held {
                    limits: self.limits.clone(),
                    permit: Some(permit),
                })),
                Ok(None) => Err(ClientError::ThreadLimit {
                    retry_after: None,
                    messages: vec![format!(
                        "all {} shared permits of {} are busy",
                        self.permits, key.endpoint
                    )],
                }),
                Err(e) => Err(ClientError::Transient {
                    status: None,
                    detail: format!("shared limiter unavailable: {e}"),
                    not_sent: true,
                }),
            }
        })
    }
}

/// Keeps a tenant under `share` of its hourly request budget, from the last
/// `ThresholdInformation` read: at or above it, requests are refused (the step is deferred
/// without spending an attempt).
#[derive(Debug, Clone, Copy)]
pub struct BudgetPacer {
    /// Share of the budget onboard may use (0..=1).
    pub share: f64,
    /// How long a refused request waits.
    pub wait: Duration,
}

impl Pacer for BudgetPacer {
    fn pace(&self, last: Option<&ThresholdInformation>) -> Pace {
        match last {
            Some(t) if t.used_ratio() >= self.share => Pace::Refuse(self.wait),
            _ => Pace::Go,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_refuses_at_the_share() {
        let pacer = BudgetPacer {
            share: 0.5,
            wait: Duration::from_secs(300),
        };
        let info = |n| ThresholdInformation {
            external_request_threshold: 10_000,
            request_threshold_timeframe: 60,
            current_timeframe_request_count: n,
        };
        assert_eq!(pacer.pace(None), Pace::Go);
        assert_eq!(pacer.pace(Some(&info(4_999))), Pace::Go);
        assert_eq!(
            pacer.pace(Some(&info(5_000))),
            Pace::Refuse(Duration::from_secs(300))
        );
    }
}
