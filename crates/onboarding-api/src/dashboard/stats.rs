//! Queue depth and throughput at a glance: jobs per queue state (O(1) each), how long the
//! oldest ready job has waited, and how many jobs finished or died in the last 5 minutes
//! and the last hour. The finished and dead sets are ordered by end time, so "how many
//! since t" is a binary search over positions (about log2(n) reads, never a walk over every
//! job). Nothing is sampled or kept between requests.

use onboarding_queue::{Counts, Queue, QueueError, State};
use onboarding_steps::Timestamp;

/// What the overview shows about the queue.
#[derive(Debug, Default)]
pub(crate) struct QueueStats {
    /// Jobs per state.
    pub(crate) counts: Counts,
    /// When the oldest ready job became ready.
    pub(crate) oldest_ready: Option<Timestamp>,
    /// Jobs finished in the last 5 minutes and the last hour.
    pub(crate) done_5m: u64,
    pub(crate) done_1h: u64,
    /// Jobs that died in the last hour.
    pub(crate) dead_1h: u64,
}

const MINUTE: u64 = 60_000;

/// The queue's numbers at `now`.
pub(crate) async fn queue_stats(queue: &Queue, now: Timestamp) -> Result<QueueStats, QueueError> {
    let counts = queue.counts().await?;
    let oldest_ready = queue.oldest(State::Ready).await?.map(Timestamp);
    let since = |mins: u64| now.0.saturating_sub(mins * MINUTE);
    let done_5m = ended_since(queue, State::Done, counts.done, since(5)).await?;
    let done_1h = ended_since(queue, State::Done, counts.done, since(60)).await?;
    let dead_1h = ended_since(queue, State::Dead, counts.dead, since(60)).await?;
    Ok(QueueStats {
        counts,
        oldest_ready,
        done_5m,
        done_1h,
        dead_1h,
    })
}

/// How many of the `total` jobs in `state` (done or dead: ordered by end time, oldest
/// first) ended at or after `since` (ms).
async fn ended_since(
    queue: &Queue,
    state: State,
    total: u64,
    since: u64,
) -> Result<u64, QueueError> {
    let (mut lo, mut hi) = (0, total);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let Some(id) = queue.jobs(state, mid, 1).await?.into_iter().next() else {
            hi = mid;
            continue;
        };
        let ended = queue
            .job(&id)
            .await?
            .and_then(|j| j.ended_at)
            .unwrap_or(u64::MAX);
        if ended >= since {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(total - lo)
}
