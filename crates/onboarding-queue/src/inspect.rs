//! Introspection of a [`Queue`]: jobs per state, job ids per state with paging, and
//! everything about one job (payload, metadata, lease holder, attempt history).

use std::collections::BTreeMap;

use redis::{AsyncCommands, Value};
use tracing::instrument;

use crate::error::QueueError;
use crate::job::{Counts, HistoryEntry, JobId, JobInfo, Priority, State};

use crate::queue::{Queue, parse_group_column};

impl Queue {
    /// Jobs per state, each an O(1) `ZCARD`, in one round trip.
    #[instrument(skip_all, fields(queue = %self.inner.name))]
    pub async fn counts(&self) -> Result<Counts, QueueError> {
        let p = &self.inner.prefix;
        let (scheduled, ready, running, done, dead): (u64, u64, u64, u64, u64) = redis::pipe()
            .zcard(format!("{p}sched"))
            .zcard(format!("{p}ready"))
            .zcard(format!("{p}lease"))
            .zcard(format!("{p}done"))
            .zcard(format!("{p}dead"))
            .query_async(&mut self.conn())
            .await
            .map_err(QueueError::redis("counts"))?;
        Ok(Counts {
            scheduled,
            ready,
            running,
            done,
            dead,
        })
    }

    /// The score of the oldest job in `state` (milliseconds since the epoch: when a ready
    /// job became ready, a scheduled job's run time, a lease deadline, when a job ended), or
    /// `None` when no job is in it. For a queue-lag gauge: now minus the oldest ready score.
    #[instrument(skip_all, fields(queue = %self.inner.name))]
    pub async fn oldest(&self, state: State) -> Result<Option<u64>, QueueError> {
        let first: Vec<(String, f64)> = self
            .conn()
            .zrange_withscores(format!("{}{}", self.inner.prefix, state.set()), 0, 0)
            .await
            .map_err(QueueError::redis("oldest"))?;
        Ok(first.first().map(|(_, score)| *score as u64))
    }

    /// Ids of jobs in `state`, with paging. Order: scheduled by due time, ready by the time
    /// they became ready, running by lease deadline, done and dead oldest first.
    #[instrument(skip_all, fields(queue = %self.inner.name))]
    pub async fn jobs(
        &self,
        state: State,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<JobId>, QueueError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = self
            .conn()
            .zrange(
                format!("{}{}", self.inner.prefix, state.set()),
                offset as isize,
                (offset + limit - 1) as isize,
            )
            .await
            .map_err(QueueError::redis("jobs"))?;
        Ok(ids.into_iter().map(JobId).collect())
    }

    /// Everything about one job: payload, metadata, lease holder and attempt history. None if
    /// the job does not exist (never did, or was trimmed by retention or purged).
    #[instrument(skip_all, fields(queue = %self.inner.name, job = %id))]
    pub async fn job(&self, id: &JobId) -> Result<Option<JobInfo>, QueueError> {
        let p = &self.inner.prefix;
        let mut pipe = redis::pipe();
        for col in ["d", "m", "g", "a", "l", "h", "r", "idemof"] {
            pipe.hget(format!("{p}{col}"), id.as_str());
        }
        for set in ["sched", "ready", "lease", "done", "dead"] {
            pipe.zscore(format!("{p}{set}"), id.as_str());
        }
        type Cols = (
            Option<Vec<u8>>,
            Option<String>,
            Option<String>,
            Option<u32>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        type Scores = (
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Option<f64>,
        );
        let ((payload, meta, group, attempts, lease, history, reason, idem), scores): (
            Cols,
            Scores,
        ) = {
            let v: Vec<Value> = pipe
                .query_async(&mut self.conn())
                .await
                .map_err(QueueError::redis("job"))?;
            let (cols, sets) = v.split_at(8);
            let cols: Cols = redis::from_redis_value(Value::Array(cols.to_vec()))
                .map_err(|e| QueueError::protocol("job", e.to_string()))?;
            let sets: Scores = redis::from_redis_value(Value::Array(sets.to_vec()))
                .map_err(|e| QueueError::protocol("job", e.to_string()))?;
            (cols, sets)
        };
        let Some(group) = group else {
            return Ok(None);
        };
        let (sched, ready, leased, done, dead) = scores;
        let ms = |s: Option<f64>| s.map(|v| v as u64);
        let (state, score) = match (sched, ready, leased, done, dead) {
            (Some(s), ..) => (State::Scheduled, s),
            (_, Some(s), ..) => (State::Ready, s),
            (_, _, Some(s), ..) => (State::Running, s),
            (.., Some(s), _) => (State::Done, s),
            (.., Some(s)) => (State::Dead, s),
            _ => return Err(QueueError::protocol("job", "job in no state set")),
        };
        let (prio, max, created, group) = parse_group_column(&group)
            .ok_or_else(|| QueueError::protocol("job", "malformed group column"))?;
        let meta = meta
            .filter(|m| !m.is_empty())
            .map(|m| serde_json::from_str::<BTreeMap<String, String>>(&m))
            .transpose()
            .map_err(QueueError::Codec)?
            .unwrap_or_default();
        let history = history
            .filter(|h| !h.is_empty())
            .map(|h| {
                h.split('\x1e')
                    .map(HistoryEntry::parse)
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| QueueError::protocol("job", "malformed history entry"))
            })
            .transpose()?
            .unwrap_or_default();
        // The lease column is "token|worker|leased_at" while running.
        let lease_worker = lease.as_deref().and_then(|l| {
            let rest = l.split_once('|')?.1;
            Some(rest.rsplit_once('|')?.0.to_owned())
        });
        let worker = lease_worker.or_else(|| history.iter().rev().find_map(|h| h.worker.clone()));
        Ok(Some(JobInfo {
            id: id.clone(),
            state,
            group,
            priority: Priority::from_index(prio),
            attempts: attempts.unwrap_or(0),
            max_attempts: max,
            payload: payload.unwrap_or_default(),
            meta,
            created_at: created,
            run_at: matches!(state, State::Scheduled | State::Ready).then_some(score as u64),
            worker,
            lease_deadline: ms(leased),
            dead_reason: if state == State::Dead { reason } else { None },
            ended_at: matches!(state, State::Done | State::Dead).then_some(score as u64),
            idempotency_key: idem,
            history,
        }))
    }
}
