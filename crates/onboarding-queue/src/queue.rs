//! The plain async API of one queue on Redis: enqueue, fetch with leases, outcomes, dead
//! letters and introspection.
//!
//! Dead letters are in [`crate::dead`], introspection in [`crate::inspect`] (more `impl
//! Queue` blocks).
//!
//! Every state change is one Lua script call (see `lua/`), so it is atomic and fenced by lease
//! tokens. This module turns Rust values into script arguments and replies back into values;
//! it keeps no job state in memory. It does not retry on its own: callers (the apalis backend
//! in [`crate::backend`], or the worker crate) decide how to back off ([`QueueError::is_retryable`]).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use redis::Value;
use tokio::sync::watch;
use tracing::instrument;

use crate::config::QueueConfig;
use crate::connection::{RedisConn, RedisSettings};
use crate::error::QueueError;
use crate::job::{
    Ack, Enqueued, JobId, Lease, LeasedJob, NewJob, Outcome, Priority, WorkerId, from_millis,
    millis,
};
use crate::scripts::scripts;
use crate::wake;

/// Jobs per enqueue script call: bounds one call's run time (and Lua argument count).
const ENQUEUE_CHUNK: usize = 1_000;
/// Outcomes or renewals per script call.
pub(crate) const FINISH_CHUNK: usize = 500;

/// One queue on Redis. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct Queue {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) name: String,
    pub(crate) prefix: String,
    pub(crate) conn: RedisConn,
    pub(crate) config: QueueConfig,
    pub(crate) wake: OnceLock<watch::Receiver<u64>>,
    pub(crate) semfree: OnceLock<watch::Receiver<u64>>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("name", &self.inner.name)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// What an idle fetch learned: nothing was leased; look again at the latest by this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idle {
    /// The earliest scheduled run or lease deadline, if any.
    pub next_due: Option<SystemTime>,
}

impl Queue {
    /// Opens queue `name` on the Redis at `url` (`redis://host:port/db`). Does not wait for
    /// Redis: the connection is made on first use and remade after failures, so this fails
    /// only for a malformed URL or name.
    ///
    /// All keys of the queue are `oq:{name}:...`: one hash tag, one Redis Cluster slot.
    #[instrument(skip_all, fields(queue = name))]
    pub async fn connect(url: &str, name: &str, config: QueueConfig) -> Result<Self, QueueError> {
        Self::connect_with(&RedisSettings::url(url), name, config).await
    }

    /// Opens queue `name` on the master that Redis Sentinel names `master` (asking the
    /// sentinels at `sentinels`, `host:port` each). The connection follows a failover by
    /// itself (see [`crate::connection`]).
    #[instrument(skip_all, fields(queue = name, master))]
    pub async fn connect_sentinel(
        sentinels: &[String],
        master: &str,
        name: &str,
        config: QueueConfig,
    ) -> Result<Self, QueueError> {
        let mut settings = RedisSettings::url("redis://");
        settings.sentinels = sentinels.to_vec();
        settings.sentinel_master = Some(master.to_owned());
        Self::connect_with(&settings, name, config).await
    }

    /// Opens queue `name` on the Redis `settings` name (direct or through Sentinel, TLS, ACL
    /// user); the config's timeouts replace the settings' ones.
    #[instrument(skip_all, fields(queue = name))]
    pub async fn connect_with(
        settings: &RedisSettings,
        name: &str,
        config: QueueConfig,
    ) -> Result<Self, QueueError> {
        let mut settings = settings.clone();
        settings.connection_timeout = config.connection_timeout;
        settings.response_timeout = config.response_timeout;
        let conn = RedisConn::open(&settings)
            .await
            .map_err(QueueError::redis("connect"))?;
        Self::with_connection(conn, name, config)
    }

    /// Opens queue `name` on an open connection (shared with other users of the same Redis).
    pub fn with_connection(
        conn: RedisConn,
        name: &str,
        config: QueueConfig,
    ) -> Result<Self, QueueError> {
        if name.is_empty() || name.contains(['{', '}']) {
            return Err(QueueError::Invalid(format!(
                "queue name {name:?} must be non-empty without braces"
            )));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                prefix: format!("oq:{{{name}}}:"),
                conn,
                config,
                wake: OnceLock::new(),
                semfree: OnceLock::new(),
            }),
        })
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The queue's configuration.
    pub fn config(&self) -> &QueueConfig {
        &self.inner.config
    }

    /// The key prefix `oq:{name}:` (all keys of the queue start with it).
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    pub(crate) fn conn(&self) -> RedisConn {
        self.inner.conn.clone()
    }

    pub(crate) fn limit(&self) -> u32 {
        self.inner.config.group_running_limit
    }

    // ---------------------------------------------------------------- enqueue

    /// Enqueues one job. See [`Queue::enqueue_many`].
    pub async fn enqueue(&self, job: NewJob) -> Result<Enqueued, QueueError> {
        let mut v = self.enqueue_many(vec![job]).await?;
        v.pop()
            .ok_or_else(|| QueueError::protocol("enqueue", "empty reply"))
    }

    /// Enqueues jobs in order, in pipelined script calls of 1,000 jobs each. Returns one
    /// [`Enqueued`] per job, in order. Jobs whose idempotency key is already known are not
    /// stored again; their existing id comes back with `duplicate: true`.
    ///
    /// Not atomic as a whole: if Redis fails midway, the calls before the failure are stored
    /// (re-enqueueing with idempotency keys is the safe way to resume).
    #[instrument(skip_all, fields(queue = %self.inner.name, jobs = jobs.len()))]
    pub async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, QueueError> {
        for j in &jobs {
            if j.group.is_empty() {
                return Err(QueueError::Invalid("a job needs a non-empty group".into()));
            }
        }
        let limit = self.limit();
        let default_max = self.inner.config.default_max_attempts;
        let prefix = &self.inner.prefix;
        // One script call per chunk, built only when it is sent (memory stays at a few chunks).
        let build = |chunk: &[NewJob]| -> Result<redis::ScriptInvocation<'static>, QueueError> {
            let mut inv = scripts().enqueue.prepare_invoke();
            let check_ids = chunk.iter().any(|j| !j.has_fresh_id());
            inv.key(prefix).arg(0).arg(limit).arg(u8::from(check_ids));
            for j in chunk {
                let meta = if j.meta.is_empty() {
                    String::new()
                } else {
                    serde_json::to_string(&j.meta).map_err(QueueError::Codec)?
                };
                inv.arg(j.id().as_str())
                    .arg(&j.group)
                    .arg(j.priority.index())
                    .arg(j.run_at.map(millis).unwrap_or(0))
                    .arg(j.max_attempts.unwrap_or(default_max).max(1))
                    .arg(j.idempotency_key.as_deref().unwrap_or(""))
                    .arg(&j.payload)
                    .arg(meta);
            }
            Ok(inv)
        };
        let mut chunks = jobs.chunks(ENQUEUE_CHUNK);
        let mut conn = self.conn();
        let mut replies: Vec<Value> = Vec::with_capacity(jobs.len().div_ceil(ENQUEUE_CHUNK));
        if let Some(first) = chunks.next() {
            // The first call loads the script if the server does not know it yet.
            replies.push(
                build(first)?
                    .invoke_async(&mut conn)
                    .await
                    .map_err(QueueError::redis("enqueue"))?,
            );
        }
        // The rest go out back to back (up to 8 calls in flight on the multiplexed
        // connection), so Redis never waits for the client between calls; replies keep order.
        let mut in_flight = futures::stream::FuturesOrdered::new();
        loop {
            while in_flight.len() < 8 {
                let Some(chunk) = chunks.next() else { break };
                let inv = build(chunk)?;
                let mut c = conn.clone();
                in_flight.push_back(async move { inv.invoke_async::<Value>(&mut c).await });
            }
            match in_flight.next().await {
                Some(r) => replies.push(r.map_err(QueueError::redis("enqueue"))?),
                None => break,
            }
        }
        let mut out = Vec::with_capacity(jobs.len());
        for reply in replies {
            let items = array(reply, "enqueue")?;
            for pair in items.chunks(2) {
                let [id, dup] = pair else {
                    return Err(QueueError::protocol("enqueue", "odd reply"));
                };
                out.push(Enqueued {
                    id: JobId(string(id, "enqueue")?),
                    duplicate: int(dup, "enqueue")? == 1,
                });
            }
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- fetch

    /// Leases up to `n` ready jobs to `worker`, round-robin across groups and by priority
    /// class. Each job's attempt is counted now. Also recovers expired leases and promotes due
    /// scheduled jobs (both in bounded chunks). Returns the jobs, or [`Idle`] with the time to
    /// look again when there were none.
    pub async fn fetch(&self, worker: &WorkerId, n: u32) -> Result<Fetched, QueueError> {
        self.fetch_with_ticket(worker, n, &FetchTicket::new()).await
    }

    /// [`Queue::fetch`] that can be retried safely after an error: a retry with the same
    /// ticket returns the jobs the first try leased if that try did run (its reply was lost
    /// to a timeout or a dropped connection), instead of leaving them leased to nobody until
    /// their lease expires. Use a new ticket for each new fetch.
    #[instrument(skip_all, fields(queue = %self.inner.name, worker = %worker, n))]
    pub async fn fetch_with_ticket(
        &self,
        worker: &WorkerId,
        n: u32,
        ticket: &FetchTicket,
    ) -> Result<Fetched, QueueError> {
        let c = &self.inner.config;
        let reply: Value = scripts()
            .fetch
            .key(&self.inner.prefix)
            .arg(0)
            .arg(worker.as_str())
            .arg(c.lease.as_millis() as u64)
            .arg(n.clamp(1, 1_000))
            .arg(c.group_running_limit)
            .arg(c.promote_chunk.max(1))
            .arg(c.recover_chunk.max(1))
            .arg(&ticket.0)
            .invoke_async(&mut self.conn())
            .await
            .map_err(QueueError::redis("fetch"))?;
        parse_fetch(reply)
    }

    /// Like [`Queue::fetch`], but when nothing is ready waits for work (a wake-up published by
    /// an enqueue, the next scheduled job or lease deadline, or `max_wait`), then tries again.
    /// Returns an empty vector only after `max_wait`.
    pub async fn fetch_wait(
        &self,
        worker: &WorkerId,
        n: u32,
        max_wait: Duration,
    ) -> Result<Vec<LeasedJob>, QueueError> {
        let end = tokio::time::Instant::now() + max_wait;
        let mut rx = self.wake_receiver();
        loop {
            rx.borrow_and_update();
            match self.fetch(worker, n).await? {
                Fetched::Jobs(jobs) => return Ok(jobs),
                Fetched::Idle(idle) => {
                    let now = tokio::time::Instant::now();
                    if now >= end {
                        return Ok(Vec::new());
                    }
                    let until = self.idle_until(idle).min(end);
                    let _ = tokio::time::timeout_at(until, rx.changed()).await;
                }
            }
        }
    }

    /// When an idle worker should look again at the latest.
    pub(crate) fn idle_until(&self, idle: Idle) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        let mut wait = self.inner.config.idle_poll;
        if let Some(due) = idle.next_due {
            let d = due
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            wait = wait.min(d + Duration::from_millis(1));
        }
        now + wait
    }

    /// A receiver that changes whenever the queue publishes a wake-up (new fetchable work) or
    /// the subscription reconnects. Starts the listener on first use (needs a tokio runtime).
    pub fn wake_receiver(&self) -> watch::Receiver<u64> {
        self.inner
            .wake
            .get_or_init(|| {
                wake::listen(
                    self.inner.conn.clone(),
                    format!("{}wake", self.inner.prefix),
                )
            })
            .clone()
    }

    /// A receiver that changes whenever a semaphore permit of this queue is released (or the
    /// subscription reconnects). Starts the listener on first use.
    pub(crate) fn semfree_receiver(&self) -> watch::Receiver<u64> {
        self.inner
            .semfree
            .get_or_init(|| {
                wake::listen(
                    self.inner.conn.clone(),
                    format!("{}semfree", self.inner.prefix),
                )
            })
            .clone()
    }

    // ---------------------------------------------------------------- outcomes

    /// Marks the job done. Refused if the lease is no longer held.
    pub async fn complete(&self, lease: &Lease) -> Result<Ack, QueueError> {
        self.finish_one(lease, Outcome::Done).await
    }

    /// Schedules the next attempt at `at` (the attempt stays spent); the job is dead instead
    /// when it has used all its attempts ([`Ack::Dead`]).
    pub async fn retry_at(
        &self,
        lease: &Lease,
        at: SystemTime,
        error: impl Into<String>,
    ) -> Result<Ack, QueueError> {
        let error = error.into();
        self.finish_one(lease, Outcome::RetryAt { at, error }).await
    }

    /// Schedules the job at `at` without spending an attempt.
    pub async fn defer_until(
        &self,
        lease: &Lease,
        at: SystemTime,
        reason: impl Into<String>,
    ) -> Result<Ack, QueueError> {
        let reason = reason.into();
        self.finish_one(lease, Outcome::DeferUntil { at, reason })
            .await
    }

    /// Moves the job to the dead letters with `reason`.
    pub async fn fail_permanently(
        &self,
        lease: &Lease,
        reason: impl Into<String>,
    ) -> Result<Ack, QueueError> {
        let reason = reason.into();
        self.finish_one(lease, Outcome::Fail { reason }).await
    }

    async fn finish_one(&self, lease: &Lease, outcome: Outcome) -> Result<Ack, QueueError> {
        let mut v = self.finish_many(&[(lease.clone(), outcome)]).await?;
        v.pop()
            .ok_or_else(|| QueueError::protocol("finish", "empty reply"))
    }

    /// Applies many outcomes in few script calls; one [`Ack`] per outcome, in order.
    #[instrument(skip_all, fields(queue = %self.inner.name, n = outcomes.len()))]
    pub async fn finish_many(&self, outcomes: &[(Lease, Outcome)]) -> Result<Vec<Ack>, QueueError> {
        let c = &self.inner.config;
        let mut out = Vec::with_capacity(outcomes.len());
        for chunk in outcomes.chunks(FINISH_CHUNK) {
            let mut inv = scripts().finish.prepare_invoke();
            inv.key(&self.inner.prefix)
                .arg(0)
                .arg(c.group_running_limit)
                .arg(c.keep_done)
                .arg(c.keep_done_for.as_millis() as u64);
            for (lease, outcome) in chunk {
                let (op, at, text) = match outcome {
                    Outcome::Done => ("done", 0, ""),
                    Outcome::RetryAt { at, error } => ("retry", millis(*at), error.as_str()),
                    Outcome::DeferUntil { at, reason } => ("defer", millis(*at), reason.as_str()),
                    Outcome::Fail { reason } => ("fail", 0, reason.as_str()),
                };
                inv.arg(op)
                    .arg(lease.id.as_str())
                    .arg(lease.token)
                    .arg(at)
                    .arg(text);
            }
            let codes: Vec<i64> = inv
                .invoke_async(&mut self.conn())
                .await
                .map_err(QueueError::redis("finish"))?;
            out.extend(codes.into_iter().map(|c| match c {
                1 => Ack::Applied,
                2 => Ack::Dead,
                _ => Ack::Refused,
            }));
        }
        Ok(out)
    }

    /// Extends the given leases by the configured lease time. Returns, per lease, whether it
    /// is still held (false: it expired and was recovered, or the job was finished).
    #[instrument(skip_all, fields(queue = %self.inner.name, n = leases.len()))]
    pub async fn renew(&self, leases: &[Lease]) -> Result<Vec<bool>, QueueError> {
        let mut out = Vec::with_capacity(leases.len());
        for chunk in leases.chunks(FINISH_CHUNK) {
            let mut inv = scripts().renew.prepare_invoke();
            inv.key(&self.inner.prefix)
                .arg(0)
                .arg(self.inner.config.lease.as_millis() as u64);
            for l in chunk {
                inv.arg(l.id.as_str()).arg(l.token);
            }
            let codes: Vec<i64> = inv
                .invoke_async(&mut self.conn())
                .await
                .map_err(QueueError::redis("renew"))?;
            out.extend(codes.into_iter().map(|c| c == 1));
        }
        Ok(out)
    }
}

/// Parses the group column "prio|max|created|group".
pub(crate) fn parse_group_column(v: &str) -> Option<(u64, u32, u64, String)> {
    let mut f = v.splitn(4, '|');
    let prio = f.next()?.parse().ok()?;
    let max = f.next()?.parse().ok()?;
    let created = f.next()?.parse().ok()?;
    let group = f.next()?.to_owned();
    Some((prio, max, created, group))
}

/// Identifies one logical fetch across retries (see [`Queue::fetch_with_ticket`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTicket(String);

impl FetchTicket {
    /// A fresh ticket.
    pub fn new() -> Self {
        FetchTicket(ulid::Ulid::generate().to_string())
    }
}

impl Default for FetchTicket {
    fn default() -> Self {
        Self::new()
    }
}

/// The result of one fetch.
#[derive(Debug)]
pub enum Fetched {
    /// Leased jobs (at least one).
    Jobs(Vec<LeasedJob>),
    /// Nothing ready.
    Idle(Idle),
}

impl Fetched {
    /// The jobs, or an empty vector when idle.
    pub fn into_jobs(self) -> Vec<LeasedJob> {
        match self {
            Fetched::Jobs(j) => j,
            Fetched::Idle(_) => Vec::new(),
        }
    }
}

fn parse_fetch(reply: Value) -> Result<Fetched, QueueError> {
    const OP: &str = "fetch";
    let items = array(reply, OP)?;
    if items.len() < 3 || (items.len() - 3) % 6 != 0 {
        return Err(QueueError::protocol(OP, "malformed reply"));
    }
    let next = int(&items[0], OP)?;
    let mut jobs = Vec::with_capacity((items.len() - 3) / 6);
    for f in items[3..].chunks(6) {
        let meta_text = string(&f[5], OP)?;
        let meta = if meta_text.is_empty() {
            BTreeMap::new()
        } else {
            serde_json::from_str(&meta_text).map_err(QueueError::Codec)?
        };
        let (prio, max, created, group) = parse_group_column(&string(&f[3], OP)?)
            .ok_or_else(|| QueueError::protocol(OP, "malformed group column"))?;
        jobs.push(LeasedJob {
            lease: Lease {
                id: JobId(string(&f[0], OP)?),
                token: int(&f[1], OP)? as u64,
            },
            attempt: int(&f[2], OP)? as u32,
            max_attempts: max,
            group,
            priority: Priority::from_index(prio),
            payload: bytes(&f[4]),
            meta,
            created_at: from_millis(created),
        });
    }
    if jobs.is_empty() {
        Ok(Fetched::Idle(Idle {
            next_due: (next > 0).then(|| from_millis(next as u64)),
        }))
    } else {
        Ok(Fetched::Jobs(jobs))
    }
}

fn array(v: Value, op: &'static str) -> Result<Vec<Value>, QueueError> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(QueueError::protocol(
            op,
            format!("expected array, got {other:?}"),
        )),
    }
}

fn bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b.clone(),
        Value::SimpleString(s) => s.clone().into_bytes(),
        Value::Int(i) => i.to_string().into_bytes(),
        _ => Vec::new(),
    }
}

fn string(v: &Value, op: &'static str) -> Result<String, QueueError> {
    match v {
        Value::BulkString(b) => {
            String::from_utf8(b.clone()).map_err(|_| QueueError::protocol(op, "non-UTF-8 text"))
        }
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Nil => Ok(String::new()),
        other => Err(QueueError::protocol(
            op,
            format!("expected text, got {other:?}"),
        )),
    }
}

fn int(v: &Value, op: &'static str) -> Result<i64, QueueError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::BulkString(_) | Value::SimpleString(_) => string(v, op)?
            .parse()
            .map_err(|_| QueueError::protocol(op, "expected a number")),
        other => Err(QueueError::protocol(
            op,
            format!("expected number, got {other:?}"),
        )),
    }
}
