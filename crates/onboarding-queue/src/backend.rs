//! The apalis-core 1.0 integration: [`RedisBackend`] is a `Backend` (the worker's task
//! source), a task sink (`TaskSink::push`), and brings its own layer that turns each
//! handler's result into a queue outcome.
//!
//! How a handler's result maps to an outcome:
//! - `Ok(_)` → done;
//! - `Err` holding a [`Verdict`](crate::Verdict) (anywhere in the source chain) → that outcome (retry at a
//!   time, defer without spending an attempt, permanent failure);
//! - apalis' `AbortError` → permanent failure; `RetryAfterError` → retry after its duration;
//!   `DeferredError` → defer to now (no attempt spent);
//! - any other error → retry after the fallback [`QueueBackoff`]; the queue
//!   makes the job dead when it has no attempts left.
//!
//! The concurrency cap: the backend hands the worker a task only while fewer than
//! [`BackendOptions::concurrency`] of its tasks run (a task counts from the moment it is handed
//! out until its handler's future has finished), so the worker never runs more than that many
//! at once, whatever layers it has; give the worker's `.concurrency(n)` the same number. The
//! count is what the adaptive fetch needs: by default (`fetch_batch: None`) each fetch leases
//! the free slots plus the slots expected to free while it is under way: concurrency + extra −
//! running − already fetched, at most [`MAX_FETCH`], where extra is twice the slots that freed
//! during recent fetches (at most concurrency; the estimate follows a rise at once and halves
//! per fetch). With long tasks (onboard's steps) hardly a slot frees during a fetch, so a
//! fetched job starts at once and no job waits in the worker holding its lease and its group's
//! running slot; with short tasks the fetch also covers the slots about to free, so slots do
//! not wait for fetches of a few jobs each (a fetched job then waits about one fetch's round
//! trip). `fetch_batch: Some(n)` fetches n at a time and prefetches the next batch while the
//! last half of this one runs.
//!
//! What the backend does for the worker besides: keeps every
//! lease it holds renewed (every third of the lease time) until its outcome is recorded,
//! waits for work without polling (pub/sub wake-up, next due time), backs off and keeps going
//! when Redis is unreachable or slow (it never returns an error to the worker, so no worker
//! stops), records outcomes in batches, and on shutdown flushes outcomes and hands fetched
//! but unstarted jobs back without spending their attempt. Payloads are JSON; a payload that
//! does not decode goes to the dead letters instead of stopping the worker.
//!
//! The attempt the handler sees (`Attempt`, [`JobContext::attempt`]) is the one counted at
//! fetch: apalis adds one when the task starts, so the task is built with one less.

use std::collections::{HashSet, VecDeque};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use apalis_core::backend::{Backend, BackendConfig, finalize::Ephemeral};
use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::metadata::MetadataStore;
use apalis_core::task::task_id::TaskId;
use apalis_core::worker::context::WorkerContext;
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::task::AtomicWaker;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, warn};

use crate::error::QueueError;
use crate::job::{Ack, JobId, Lease, LeasedJob, NewJob, Outcome, WorkerId};
use crate::queue::{FetchTicket, Fetched, Queue};
use crate::verdict::QueueBackoff;

/// Metadata key that names a pushed task's group (tenant). Without it, the backend's
/// `group_of` function decides, else the group is `"default"`.
pub const GROUP_META: &str = "oq.group";

/// Names the group of a pushed task.
pub type GroupFn<Args> = Arc<dyn Fn(&Args) -> String + Send + Sync>;

/// What the handler (and layers) can read about the job: it is in the task's data, so a
/// handler takes `Data<JobContext>` (a layer reads `task.ctx().data().get::<JobContext>()`).
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The lease (job id and fencing token).
    pub lease: Lease,
    /// The job's group.
    pub group: String,
    /// This attempt, counted at fetch (1 for the first).
    pub attempt: u32,
    /// The attempt budget.
    pub max_attempts: u32,
    /// The worker holding the lease.
    pub worker: WorkerId,
}

/// The most jobs one adaptive fetch leases (a fetch is one Lua call; larger ones would hold
/// Redis for longer than a millisecond).
pub const MAX_FETCH: u32 = 100;

/// Options of a [`RedisBackend`].
pub struct BackendOptions<Args> {
    /// Tasks of this backend that run at once, at most (default 16, onboard's default worker
    /// concurrency). The backend enforces it (see the module docs).
    pub concurrency: usize,
    /// Jobs leased per fetch: `None` (default) fetches the free slots (see the module docs);
    /// `Some(n)` fetches n at a time with prefetch (prefetched jobs hold their group's running
    /// slot and a lease until they start).
    pub fetch_batch: Option<u32>,
    /// Outcome for errors that did not choose one.
    pub retry: QueueBackoff,
    /// Wait for each outcome to be stored before the task counts as finished (default
    /// true). False lets the worker move on while outcomes are stored in batches; a crash
    /// then loses at most the last outcomes, and those jobs run again after their lease.
    pub confirm_outcomes: bool,
    /// The group of a pushed task without [`GROUP_META`] metadata.
    pub group_of: Option<GroupFn<Args>>,
}

impl<Args> Clone for BackendOptions<Args> {
    fn clone(&self) -> Self {
        Self {
            concurrency: self.concurrency,
            fetch_batch: self.fetch_batch,
            retry: self.retry.clone(),
            confirm_outcomes: self.confirm_outcomes,
            group_of: self.group_of.clone(),
        }
    }
}

impl<Args> Default for BackendOptions<Args> {
    fn default() -> Self {
        Self {
            concurrency: 16,
            fetch_batch: None,
            retry: QueueBackoff::default(),
            confirm_outcomes: true,
            group_of: None,
        }
    }
}

impl<Args> std::fmt::Debug for BackendOptions<Args> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendOptions")
            .field("concurrency", &self.concurrency)
            .field("fetch_batch", &self.fetch_batch)
            .field("retry", &self.retry)
            .field("confirm_outcomes", &self.confirm_outcomes)
            .finish_non_exhaustive()
    }
}

/// Leases this backend instance holds (buffered or running), renewed in the background.
type Held = Arc<Mutex<HashSet<Lease>>>;

/// The running count behind the concurrency cap, shared by the backend and its layer.
#[derive(Debug, Default)]
struct Slots {
    running: AtomicUsize,
    /// Slots freed so far (only grows): the adaptive fetch counts those freed during a fetch.
    freed: AtomicUsize,
    /// The worker waiting for a free slot.
    waker: AtomicWaker,
}

/// One running task's slot (in the task's data, so the layer finds it): freed when the last
/// copy is dropped, that is when the handler's future has finished (or the task was dropped
/// unstarted).
#[derive(Debug)]
struct SlotGuard(Arc<Slots>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        self.0.freed.fetch_add(1, Ordering::SeqCst);
        self.0.waker.wake();
    }
}

/// See [`SlotGuard`]; cloned into the layer's future.
#[derive(Debug, Clone)]
struct Slot {
    _guard: Arc<SlotGuard>,
}

enum AckMsg {
    Outcome(Lease, Outcome, Option<oneshot::Sender<Ack>>),
    Barrier(oneshot::Sender<()>),
}

/// The per-worker machinery, started on the first poll.
struct Running {
    worker: WorkerId,
    acks: mpsc::UnboundedSender<AckMsg>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The apalis backend over one [`Queue`], for tasks of type `Args` (JSON payloads).
pub struct RedisBackend<Args> {
    queue: Queue,
    options: BackendOptions<Args>,
    held: Held,
    running: Option<Running>,
    buffer: VecDeque<LeasedJob>,
    fetching: Option<BoxFuture<'static, (Vec<LeasedJob>, usize)>>,
    fetch_in_script: Arc<AtomicBool>,
    slots: Arc<Slots>,
    /// Slots expected to free during a fetch (from those freed during the last ones): the
    /// adaptive fetch's extra.
    freed_during_fetch: usize,
    closing: Option<BoxFuture<'static, ()>>,
    pushing: Vec<NewJob>,
    flushing: Option<BoxFuture<'static, Result<(), QueueError>>>,
    _args: PhantomData<fn() -> Args>,
}

impl<Args> std::fmt::Debug for RedisBackend<Args> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("queue", &self.queue.name())
            .field("options", &self.options)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl<Args> Clone for RedisBackend<Args> {
    /// A fresh backend over the same queue and options (no shared buffers or leases).
    fn clone(&self) -> Self {
        Self::with_options(self.queue.clone(), self.options.clone())
    }
}

impl<Args> RedisBackend<Args> {
    /// A backend with default options.
    pub fn new(queue: Queue) -> Self {
        Self::with_options(queue, BackendOptions::default())
    }

    /// A backend with the given options.
    pub fn with_options(queue: Queue, options: BackendOptions<Args>) -> Self {
        Self {
            queue,
            options,
            held: Arc::default(),
            running: None,
            buffer: VecDeque::new(),
            fetching: None,
            fetch_in_script: Arc::default(),
            slots: Arc::default(),
            freed_during_fetch: 0,
            closing: None,
            pushing: Vec::new(),
            flushing: None,
            _args: PhantomData,
        }
    }

    /// The queue underneath.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    fn start(&mut self, worker: &WorkerContext) -> &Running {
        if self.running.is_none() {
            let worker = WorkerId::new(worker.name());
            let (tx, rx) = mpsc::unbounded_channel();
            let tasks = vec![
                tokio::spawn(ack_loop(self.queue.clone(), self.held.clone(), rx)),
                tokio::spawn(renew_loop(self.queue.clone(), self.held.clone())),
            ];
            debug!(worker = %worker, queue = self.queue.name(), "backend started");
            self.running = Some(Running {
                worker,
                acks: tx,
                tasks,
            });
        }
        self.running.as_ref().expect("just set")
    }
}

/// Records outcomes in batches, retrying while Redis is away (up to the lease time: after
/// that the lease is gone anyway and the outcome would be refused).
async fn ack_loop(queue: Queue, held: Held, mut rx: mpsc::UnboundedReceiver<AckMsg>) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < 500 {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let mut outcomes = Vec::new();
        let mut replies = Vec::new();
        let mut barriers = Vec::new();
        for m in batch.drain(..) {
            match m {
                AckMsg::Outcome(l, o, r) => {
                    outcomes.push((l, o));
                    replies.push(r);
                }
                AckMsg::Barrier(b) => barriers.push(b),
            }
        }
        if !outcomes.is_empty() {
            let give_up = tokio::time::Instant::now() + queue.config().lease;
            let mut pause = Duration::from_millis(20);
            let acks = loop {
                match queue.finish_many(&outcomes).await {
                    Ok(acks) => break acks,
                    Err(e) if tokio::time::Instant::now() < give_up => {
                        warn!(error = %e, "recording outcomes failed; retrying");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(2));
                    }
                    Err(e) => {
                        warn!(error = %e, n = outcomes.len(), "giving up on outcomes; their leases will expire and the jobs run again");
                        break vec![Ack::Refused; outcomes.len()];
                    }
                }
            };
            {
                let mut h = held.lock().expect("held leases lock");
                for (l, _) in &outcomes {
                    h.remove(l);
                }
            }
            for ((l, _), (ack, reply)) in outcomes.iter().zip(acks.into_iter().zip(replies)) {
                if ack == Ack::Refused {
                    warn!(job = %l.id, token = l.token, "outcome refused: the lease was lost");
                }
                if let Some(r) = reply {
                    let _ = r.send(ack);
                }
            }
        }
        for b in barriers {
            let _ = b.send(());
        }
    }
}

/// Renews every held lease every third of the lease time; forgets leases reported lost.
async fn renew_loop(queue: Queue, held: Held) {
    let every = queue.config().lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let leases: Vec<Lease> = held
            .lock()
            .expect("held leases lock")
            .iter()
            .cloned()
            .collect();
        if leases.is_empty() {
            continue;
        }
        match queue.renew(&leases).await {
            Ok(alive) => {
                let mut h = held.lock().expect("held leases lock");
                for (l, ok) in leases.iter().zip(alive) {
                    if !ok {
                        warn!(job = %l.id, "lease lost before the outcome was recorded");
                        h.remove(l);
                    }
                }
            }
            Err(e) => warn!(error = %e, "renewing leases failed; will try again"),
        }
    }
}

/// Fetches until at least one job is leased, waiting for work when idle and backing off
/// while Redis is unreachable. Never fails. Also returns how many slots freed while the
/// fetch call that leased the jobs was under way (not counting waits for work).
///
/// `in_script` is true while a fetch call is outstanding: dropping the future then could lose
/// the reply of a fetch that leased jobs (they would come back only after their lease).
async fn next_batch(
    queue: Queue,
    worker: WorkerId,
    n: u32,
    mut wake: watch::Receiver<u64>,
    in_script: Arc<AtomicBool>,
    slots: Arc<Slots>,
) -> (Vec<LeasedJob>, usize) {
    let mut pause = Duration::from_millis(50);
    let mut ticket = FetchTicket::new();
    loop {
        wake.borrow_and_update();
        in_script.store(true, Ordering::SeqCst);
        let freed = slots.freed.load(Ordering::SeqCst);
        // After an error the same ticket is retried: if the failed try did run, its jobs
        // come back instead of staying leased to nobody.
        let fetched = queue.fetch_with_ticket(&worker, n, &ticket).await;
        in_script.store(false, Ordering::SeqCst);
        let freed = slots.freed.load(Ordering::SeqCst) - freed;
        if fetched.is_ok() {
            ticket = FetchTicket::new();
        }
        match fetched {
            Ok(Fetched::Jobs(jobs)) => return (jobs, freed),
            Ok(Fetched::Idle(idle)) => {
                pause = Duration::from_millis(50);
                let until = queue.idle_until(idle);
                if tokio::time::timeout_at(until, wake.changed())
                    .await
                    .is_ok_and(|r| r.is_err())
                {
                    // The listener is gone: fall back to the timed wait.
                    tokio::time::sleep_until(until).await;
                }
            }
            Err(e) => {
                warn!(error = %e, pause_ms = pause.as_millis() as u64, "fetch failed; backing off");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

impl<Args: DeserializeOwned + Send + 'static> Backend for RedisBackend<Args> {
    type Task = Task<Args>;
    type Error = QueueError;

    fn poll_ready(
        &mut self,
        _cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        let (worker_id, acks) = {
            let r = self.start(worker);
            (r.worker.clone(), r.acks.clone())
        };
        let cap = self.options.concurrency.max(1);
        loop {
            // Drive a fetch in flight (a prefetch may complete while jobs are still buffered).
            if let Some(fut) = self.fetching.as_mut() {
                if let Poll::Ready((jobs, freed)) = fut.poll_unpin(cx) {
                    self.fetching = None;
                    self.note_freed(freed);
                    self.held
                        .lock()
                        .expect("held leases lock")
                        .extend(jobs.iter().map(|j| j.lease.clone()));
                    self.buffer.extend(jobs);
                }
            }
            // The cap: no task is handed out while `cap` run. A slot freed after the check
            // below wakes this task through the waker registered first.
            self.slots.waker.register(cx.waker());
            let running = self.slots.running.load(Ordering::SeqCst);
            if running >= cap {
                return Poll::Pending;
            }
            if self.fetching.is_none() {
                let n = match self.options.fetch_batch {
                    // Adaptive: the free slots and those expected to free during the fetch,
                    // whenever some are free and none is fetched.
                    None => (cap + (2 * self.freed_during_fetch).min(cap))
                        .saturating_sub(running + self.buffer.len())
                        .min(MAX_FETCH as usize) as u32,
                    // Fixed: a batch when the buffer is empty, the next one while the last
                    // half of this one runs.
                    Some(b) => {
                        let b = b.max(1);
                        if self.buffer.is_empty() || (b > 1 && self.buffer.len() < (b / 2) as usize)
                        {
                            b
                        } else {
                            0
                        }
                    }
                };
                if n > 0 {
                    self.start_fetch(&worker_id, n, cx);
                    if self.fetching.is_none() {
                        // The reply was ready at once: back to the top with it.
                        continue;
                    }
                }
            }
            let Some(job) = self.buffer.pop_front() else {
                return Poll::Pending;
            };
            match serde_json::from_slice::<Args>(&job.payload) {
                Ok(args) => {
                    self.slots.running.fetch_add(1, Ordering::SeqCst);
                    let slot = Slot {
                        _guard: Arc::new(SlotGuard(self.slots.clone())),
                    };
                    return Poll::Ready(Some(Ok(build_task(args, job, &worker_id, slot))));
                }
                Err(e) => {
                    warn!(job = %job.lease.id, error = %e, "payload does not decode; dead-lettering it");
                    let reason = format!("payload could not be decoded: {e}");
                    let _ = acks.send(AckMsg::Outcome(job.lease, Outcome::Fail { reason }, None));
                    continue;
                }
            }
        }
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        let Some(running) = &self.running else {
            return Poll::Ready(Ok(()));
        };
        if self.closing.is_none() {
            // A fetch whose reply is on its way is awaited (its jobs go back below); one that is
            // only waiting for work is dropped.
            if let Some(fut) = self.fetching.as_mut() {
                match fut.poll_unpin(cx) {
                    Poll::Ready((jobs, _)) => {
                        self.fetching = None;
                        self.buffer.extend(jobs);
                    }
                    Poll::Pending if self.fetch_in_script.load(Ordering::SeqCst) => {
                        return Poll::Pending;
                    }
                    Poll::Pending => self.fetching = None,
                }
            }
            // Jobs fetched but never started go back without spending their attempt.
            for job in self.buffer.drain(..) {
                let outcome = Outcome::DeferUntil {
                    at: SystemTime::now(),
                    reason: "worker shut down before starting it".into(),
                };
                let _ = running.acks.send(AckMsg::Outcome(job.lease, outcome, None));
            }
            let (tx, rx) = oneshot::channel();
            let _ = running.acks.send(AckMsg::Barrier(tx));
            self.closing = Some(
                async move {
                    let _ = rx.await;
                }
                .boxed(),
            );
        }
        let fut = self.closing.as_mut().expect("just set");
        match fut.poll_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.closing = None;
                self.running = None;
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl<Args> RedisBackend<Args> {
    /// Takes in the slots freed during the last fetch: the estimate follows a rise at once
    /// and halves per fetch on the way down (one fetch in two may see few frees even when
    /// tasks are short).
    fn note_freed(&mut self, freed: usize) {
        self.freed_during_fetch = freed.max(self.freed_during_fetch / 2);
    }

    /// Starts fetching the next batch and polls it once (futures are lazy); a result that is
    /// ready at once goes to the buffer.
    fn start_fetch(&mut self, worker: &WorkerId, n: u32, cx: &mut Context<'_>) {
        let mut fut = next_batch(
            self.queue.clone(),
            worker.clone(),
            n,
            self.queue.wake_receiver(),
            self.fetch_in_script.clone(),
            self.slots.clone(),
        )
        .boxed();
        match fut.poll_unpin(cx) {
            Poll::Pending => self.fetching = Some(fut),
            Poll::Ready((jobs, freed)) => {
                self.note_freed(freed);
                self.held
                    .lock()
                    .expect("held leases lock")
                    .extend(jobs.iter().map(|j| j.lease.clone()));
                self.buffer.extend(jobs);
            }
        }
    }
}

fn build_task<Args>(args: Args, job: LeasedJob, worker: &WorkerId, slot: Slot) -> Task<Args> {
    let mut meta = MetadataStore::new();
    for (k, v) in &job.meta {
        let _ = meta.insert(k.clone(), v.clone());
    }
    let ctx = JobContext {
        lease: job.lease.clone(),
        group: job.group.clone(),
        attempt: job.attempt,
        max_attempts: job.max_attempts,
        worker: worker.clone(),
    };
    TaskBuilder::new(args)
        .task_id(TaskId::from_string(job.lease.id.0.clone()))
        // apalis adds one when the task starts; the attempt was counted at fetch.
        .attempt(job.attempt.saturating_sub(1) as usize)
        .max_attempts(job.max_attempts as usize)
        .priority(job.priority.index() as usize)
        .lock_by(Some(worker.to_string()))
        .with_metadata(meta)
        .data(ctx)
        .data(slot)
        .build()
}

impl<Args> BackendConfig for RedisBackend<Args> {
    type Args = Args;
    type Id = JobId;
    type Kind = Ephemeral;
    type Config = crate::config::QueueConfig;
    type Layer = OutcomeLayer;

    fn config(&self) -> &Self::Config {
        self.queue.config()
    }

    fn middleware(&mut self, worker: &mut WorkerContext) -> Self::Layer {
        let r = self.start(worker);
        OutcomeLayer {
            acks: r.acks.clone(),
            retry: self.options.retry.clone(),
            confirm: self.options.confirm_outcomes,
        }
    }
}

mod layer;
mod sink;

pub use layer::{OutcomeLayer, OutcomeService};

impl<Args> Unpin for RedisBackend<Args> {}
