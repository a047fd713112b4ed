//! Limits shared by all workers of a queue: counted semaphores with leases and rolling hourly
//! counters, each one script call (atomic check-and-take).
//!
//! A semaphore permit is a lease: a holder that crashes stops renewing and its permit comes
//! back when the lease expires. Keys live under the queue's prefix (`oq:{name}:sem:<key>`,
//! `oq:{name}:hr:<key>`), so they share its Redis Cluster slot. This module does not decide
//! what to limit; the worker crate names the keys ("tenant db / integration code / endpoint").

use std::time::{Duration, SystemTime};

use tracing::instrument;

use crate::error::QueueError;
use crate::job::millis;
use crate::queue::Queue;
use crate::scripts::scripts;

/// Semaphores and hourly counters of one queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Limits {
    queue: Queue,
}

/// One held permit of a semaphore. Pass it back to renew or release it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit {
    /// The semaphore's key.
    pub key: String,
    /// This holder's token.
    pub token: String,
}

/// The state of an hourly counter after a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourlyCount {
    /// True when the amount was added (it fit under the limit).
    pub added: bool,
    /// The total over the last rolling hour, after the call.
    pub total: u64,
}

impl Queue {
    /// The semaphores and hourly counters of this queue.
    pub fn limits(&self) -> Limits {
        Limits {
            queue: self.clone(),
        }
    }
}

impl Limits {
    /// Takes a permit of semaphore `key` (at most `limit` holders) leased for `ttl`, or None
    /// when all permits are held.
    #[instrument(skip_all, fields(key))]
    pub async fn try_acquire(
        &self,
        key: &str,
        limit: u32,
        ttl: Duration,
    ) -> Result<Option<Permit>, QueueError> {
        Ok(self.try_acquire_inner(key, limit, ttl).await?.ok())
    }

    /// Err(earliest expiry) when full.
    async fn try_acquire_inner(
        &self,
        key: &str,
        limit: u32,
        ttl: Duration,
    ) -> Result<Result<Permit, Option<SystemTime>>, QueueError> {
        if limit == 0 {
            return Err(QueueError::Invalid(
                "a semaphore needs a limit of at least 1".into(),
            ));
        }
        let token = ulid::Ulid::generate().to_string();
        let (taken, earliest): (i64, i64) = scripts()
            .sem_acquire
            .key(self.queue.prefix())
            .arg(0)
            .arg(key)
            .arg(limit)
            .arg(ttl.as_millis().max(1) as u64)
            .arg(&token)
            .invoke_async(&mut self.queue.conn())
            .await
            .map_err(QueueError::redis("semaphore acquire"))?;
        Ok(if taken == 1 {
            Ok(Permit {
                key: key.to_owned(),
                token,
            })
        } else {
            Err((earliest > 0).then(|| crate::job::from_millis(earliest as u64)))
        })
    }

    /// Takes a permit, waiting up to `max_wait` for one to be released (a release publishes a
    /// message the waiters listen for) or to expire (the wait never goes past the earliest
    /// holder's expiry).
    #[instrument(skip_all, fields(key = %key))]
    pub async fn acquire(
        &self,
        key: &str,
        limit: u32,
        ttl: Duration,
        max_wait: Duration,
    ) -> Result<Option<Permit>, QueueError> {
        let end = tokio::time::Instant::now() + max_wait;
        let mut freed = self.queue.semfree_receiver();
        loop {
            freed.borrow_and_update();
            match self.try_acquire_inner(key, limit, ttl).await? {
                Ok(p) => return Ok(Some(p)),
                Err(earliest) => {
                    let now = tokio::time::Instant::now();
                    if now >= end {
                        return Ok(None);
                    }
                    let mut until = end;
                    if let Some(e) = earliest {
                        let d = e.duration_since(SystemTime::now()).unwrap_or_default();
                        until = until.min(now + d + Duration::from_millis(1));
                    }
                    if tokio::time::timeout_at(until, freed.changed())
                        .await
                        .is_ok_and(|r| r.is_err())
                    {
                        tokio::time::sleep_until(until).await;
                    }
                }
            }
        }
    }

    /// Extends a permit's lease to `ttl` from now. False when the permit had already expired
    /// (it is not revived: someone else may hold it now).
    pub async fn renew(&self, permit: &Permit, ttl: Duration) -> Result<bool, QueueError> {
        self.renew_or_release(permit, ttl.as_millis().max(1) as u64)
            .await
    }

    /// Gives a permit back. False when it had already expired.
    pub async fn release(&self, permit: &Permit) -> Result<bool, QueueError> {
        self.renew_or_release(permit, 0).await
    }

    #[instrument(skip_all, fields(key = %permit.key))]
    async fn renew_or_release(&self, permit: &Permit, ttl_ms: u64) -> Result<bool, QueueError> {
        let held: i64 = scripts()
            .sem_renew
            .key(self.queue.prefix())
            .arg(0)
            .arg(&permit.key)
            .arg(&permit.token)
            .arg(ttl_ms)
            .invoke_async(&mut self.queue.conn())
            .await
            .map_err(QueueError::redis("semaphore renew"))?;
        Ok(held == 1)
    }

    /// Current holders of semaphore `key` whose lease has not expired.
    #[instrument(skip_all, fields(key = %key))]
    pub async fn holders(&self, key: &str) -> Result<u64, QueueError> {
        let k = format!("{}sem:{key}", self.queue.prefix());
        redis::cmd("ZCOUNT")
            .arg(k)
            .arg(millis(SystemTime::now()))
            .arg("+inf")
            .query_async(&mut self.queue.conn())
            .await
            .map_err(QueueError::redis("semaphore holders"))
    }

    /// Adds `amount` to the rolling hourly counter `key` if the total over the last hour stays
    /// within `limit` (0 = no limit). Check and add are atomic across workers.
    pub async fn hourly_add(
        &self,
        key: &str,
        amount: u64,
        limit: u64,
    ) -> Result<HourlyCount, QueueError> {
        self.hourly(key, amount, limit, None).await
    }

    /// [`Limits::hourly_add`] as of time `at` instead of the server clock (tests, replays).
    pub async fn hourly_add_at(
        &self,
        key: &str,
        amount: u64,
        limit: u64,
        at: SystemTime,
    ) -> Result<HourlyCount, QueueError> {
        self.hourly(key, amount, limit, Some(at)).await
    }

    /// The total of counter `key` over the last rolling hour.
    pub async fn hourly_count(&self, key: &str) -> Result<u64, QueueError> {
        Ok(self.hourly(key, 0, 0, None).await?.total)
    }

    #[instrument(skip_all, fields(key = %key))]
    async fn hourly(
        &self,
        key: &str,
        amount: u64,
        limit: u64,
        at: Option<SystemTime>,
    ) -> Result<HourlyCount, QueueError> {
        let (added, total): (i64, u64) = scripts()
            .hourly
            .key(self.queue.prefix())
            .arg(at.map(millis).unwrap_or(0))
            .arg(key)
            .arg(amount)
            .arg(limit)
            .invoke_async(&mut self.queue.conn())
            .await
            .map_err(QueueError::redis("hourly counter"))?;
        Ok(HourlyCount {
            added: added == 1,
            total,
        })
    }
}
