//! Dead letters of a [`Queue`]: listing with paging, requeueing (one, or every match paced
//! apart), purging. Each change is one Lua script call over a chunk of ids.

use std::time::{Duration, SystemTime};

use redis::Value;
use tracing::instrument;

use crate::error::QueueError;
use crate::job::{DeadFilter, DeadLetter, JobId, millis};
use crate::scripts::scripts;

use crate::queue::{FINISH_CHUNK, Queue, parse_group_column};

impl Queue {
    /// Dead letters, newest first, with paging.
    #[instrument(skip_all, fields(queue = %self.inner.name))]
    pub async fn dead_letters(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let key = format!("{}dead", self.inner.prefix);
        let mut conn = self.conn();
        let ids: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(&key)
            .arg(offset)
            .arg(offset + limit - 1)
            .arg("REV")
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await
            .map_err(QueueError::redis("dead letters"))?;
        let p = &self.inner.prefix;
        let mut pipe = redis::pipe();
        for (id, _) in &ids {
            pipe.hget(format!("{p}g"), id)
                .hget(format!("{p}r"), id)
                .hget(format!("{p}a"), id);
        }
        let fields: Vec<(Option<String>, Option<String>, Option<u32>)> = if ids.is_empty() {
            Vec::new()
        } else {
            let flat: Vec<Value> = pipe
                .query_async(&mut conn)
                .await
                .map_err(QueueError::redis("dead letters"))?;
            flat.chunks(3)
                .map(|c| redis::from_redis_value(Value::Array(c.to_vec())))
                .collect::<Result<_, _>>()
                .map_err(|e| QueueError::protocol("dead letters", e.to_string()))?
        };
        Ok(ids
            .into_iter()
            .zip(fields)
            .map(|((id, score), (group, reason, attempts))| DeadLetter {
                id: JobId(id),
                group: group
                    .as_deref()
                    .and_then(parse_group_column)
                    .map(|g| g.3)
                    .unwrap_or_default(),
                reason: reason.unwrap_or_default(),
                dead_at: score as u64,
                attempts: attempts.unwrap_or(0),
            })
            .collect())
    }

    /// Requeues one dead job to run at `at` (None = now) with a fresh attempt budget. Returns
    /// false if the job is not dead.
    #[instrument(skip_all, fields(queue = %self.inner.name))]
    pub async fn retry_dead(&self, id: &JobId, at: Option<SystemTime>) -> Result<bool, QueueError> {
        Ok(self
            .requeue(&[(id.clone(), at.map(millis).unwrap_or(0))])
            .await?
            == 1)
    }

    /// Requeues every dead job matching `filter`. With `pace`, the n-th job (oldest death
    /// first) is scheduled at `now + n * pace`, so a large set does not arrive at once.
    /// Returns the number requeued.
    #[instrument(skip_all, fields(queue = %self.inner.name))]
    pub async fn retry_dead_where(
        &self,
        filter: &DeadFilter,
        pace: Option<Duration>,
    ) -> Result<u64, QueueError> {
        let matching = self.dead_matching(filter).await?;
        let now = SystemTime::now();
        let pairs: Vec<(JobId, u64)> = matching
            .into_iter()
            .enumerate()
            .map(|(i, id)| {
                // The first goes now (0 = the server's now), the rest `pace` apart.
                let at = match pace {
                    Some(p) if i > 0 => millis(now + p * i as u32),
                    _ => 0,
                };
                (id, at)
            })
            .collect();
        let mut n = 0;
        for chunk in pairs.chunks(FINISH_CHUNK) {
            n += self.requeue(chunk).await?;
        }
        Ok(n)
    }

    #[instrument(skip_all, fields(queue = %self.inner.name))]
    async fn requeue(&self, pairs: &[(JobId, u64)]) -> Result<u64, QueueError> {
        let mut inv = scripts().requeue.prepare_invoke();
        inv.key(&self.inner.prefix).arg(0).arg(self.limit());
        for (id, at) in pairs {
            inv.arg(id.as_str()).arg(*at);
        }
        inv.invoke_async(&mut self.conn())
            .await
            .map_err(QueueError::redis("requeue"))
    }

    /// Dead job ids matching `filter`, oldest death first. Reads the dead set page by page.
    #[instrument(skip_all, fields(queue = %self.inner.name))]
    pub async fn dead_matching(&self, filter: &DeadFilter) -> Result<Vec<JobId>, QueueError> {
        const PAGE: u64 = 1_000;
        let total = self.counts().await?.dead;
        let mut out = Vec::new();
        // Newest first pages; collect then reverse for oldest first.
        let mut offset = 0;
        while offset < total {
            let page = self.dead_letters(offset, PAGE).await?;
            if page.is_empty() {
                break;
            }
            offset += page.len() as u64;
            out.extend(page.into_iter().filter(|d| filter.matches(d)).map(|d| d.id));
        }
        out.reverse();
        Ok(out)
    }

    /// Deletes the given dead jobs (with their history). Returns the number deleted.
    #[instrument(skip_all, fields(queue = %self.inner.name))]
    pub async fn purge_dead(&self, ids: &[JobId]) -> Result<u64, QueueError> {
        let mut n = 0;
        for chunk in ids.chunks(FINISH_CHUNK) {
            let mut inv = scripts().purge.prepare_invoke();
            inv.key(&self.inner.prefix).arg("dead");
            for id in chunk {
                inv.arg(id.as_str());
            }
            let k: u64 = inv
                .invoke_async(&mut self.conn())
                .await
                .map_err(QueueError::redis("purge"))?;
            n += k;
        }
        Ok(n)
    }

    /// Deletes every dead job matching `filter`. Returns the number deleted.
    #[instrument(skip_all, fields(queue = %self.inner.name))]
    pub async fn purge_dead_where(&self, filter: &DeadFilter) -> Result<u64, QueueError> {
        let ids = self.dead_matching(filter).await?;
        self.purge_dead(&ids).await
    }
}
