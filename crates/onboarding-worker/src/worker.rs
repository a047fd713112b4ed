//! The step job handler and the apalis worker around it.
//!
//! One job = one attempt of one step of one run. The handler:
//! 1. marks the step running in the run record (or finds the job stale: the run moved on,
//!    was cancelled, or this step already succeeded — then it only makes sure the next step
//!    is scheduled);
//! 2. executes the step with fresh reads (`execute`);
//! 3. records the outcome in the run (one atomic update) and decides what the queue does:
//!    success → schedule the next step *before* the job is acknowledged (idempotent key,
//!    so a crash in between neither loses nor duplicates it); transient → retry at the
//!    policy's delay (durably, in Redis); operator step not done → deferred re-check without
//!    spending an attempt, run `waiting_for_operator`; budget → deferred; permanent → step and
//!    run failed with reason and remediation, job dead-lettered.
//!
//! Before a step runs, its run's credentials are opened (a record that does not open is a
//! permanent failure) and checked against the tenant's database binding (`binding`); a run
//! that succeeds binds its tenant and loses its credentials (`retention`).
//!
//! Every attempt is a span in the run's trace (`tenant.id`, `run.id`, `step.name`,
//! `step.attempt`), and every Autotask request a child span of it.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use apalis::layers::catch_panic::CatchPanicLayer;
use apalis::prelude::*;
use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use onboarding_queue::backend::BackendOptions;
use onboarding_queue::{RedisBackend, Verdict};
use onboarding_steps::payload::{JobPayload, StepJob};
use onboarding_steps::retry::ErrorClass;
use onboarding_steps::run::{
    Actor, AttemptOutcome, DryRun, Next, Run, RunState, StepState, StepStatus,
};
use onboarding_steps::{CallFailure, StepName, Timestamp};
use tracing::Instrument;

use crate::execute::{Session, execute, observe};
use crate::metrics::Metrics;
use crate::service::{Onboard, now, system_time};

/// How a job starts.
enum Begin {
    /// Run the step with this record (after `Run::begin_attempt`).
    Go(Box<Run>),
    /// Nothing to run; schedule this step if the run is still going.
    Stale(Option<(Box<Run>, StepName)>),
}

fn begin(
    run: &mut Run,
    step: StepName,
    at: Timestamp,
    actor: &Actor,
) -> Result<Begin, onboarding_steps::Error> {
    let status = run.step(step).map(|s| s.state.status());
    // A dead-lettered job retried from the dead list: the run starts again at this step.
    if run.state == RunState::Failed && status == Some(StepStatus::Failed) {
        run.set_state(RunState::Queued, at, actor.clone(), "dead letter retried")?;
        run.set_step_state(
            step,
            StepState::Pending,
            at,
            actor.clone(),
            "dead letter retried",
        )?;
    }
    if run.state.is_final() {
        return Ok(Begin::Stale(None));
    }
    let current = run.next_step(at, actor.clone());
    if current != Some(step) {
        return Ok(Begin::Stale(current.map(|c| (Box::new(run.clone()), c))));
    }
    if status == Some(StepStatus::Running) {
        // The previous attempt's worker stopped mid-step (its lease expired): say so.
        let attempt = run.step(step).map_or(1, |s| s.attempts);
        run.set_step_state(
            step,
            StepState::RetryScheduled {
                attempt: attempt + 1,
                next_at: at,
                last_error: "the previous attempt's worker stopped before finishing".into(),
            },
            at,
            actor.clone(),
            "lease expired",
        )?;
    }
    run.begin_attempt(step, at, actor.clone())?;
    Ok(Begin::Go(Box::new(run.clone())))
}

/// The error class an outcome is decided by (success has none).
fn class_of(outcome: &AttemptOutcome, verify_only: bool) -> Option<ErrorClass> {
    match outcome {
        AttemptOutcome::Succeeded { .. } => None,
        AttemptOutcome::Refused(r) => Some(r.class),
        AttemptOutcome::Failed(f) => Some(f.class()),
        AttemptOutcome::Drifted(_) if verify_only => Some(ErrorClass::Permanent),
        AttemptOutcome::Drifted(_) => Some(ErrorClass::Transient),
    }
}

/// The worker's shared state for handlers (build it with [`Handler::new`]).
#[derive(Clone)]
pub struct Handler {
    /// The service.
    pub onboard: Onboard,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// This worker's name (audit actor).
    pub worker: String,
}

impl Handler {
    /// A handler whose Autotask requests are counted in `metrics`.
    pub fn new(mut onboard: Onboard, metrics: Arc<Metrics>, worker: String) -> Self {
        let counted = metrics.clone();
        onboard.client = onboard
            .client
            .observed_by(Arc::new(move |entity: &str, status: u16| {
                counted.autotask_request(entity, status)
            }));
        Self {
            onboard,
            metrics,
            worker,
        }
    }

    /// Runs one attempt of one step; the error chooses the queue outcome.
    pub async fn run_step(&self, job: &StepJob, attempt: u32) -> Result<(), Verdict> {
        let span = tracing::info_span!(
            "onboard.step",
            otel.name = %format_args!("step {}", job.step.as_str()),
            tenant.id = %job.tenant_id,
            run.id = %job.run_id,
            step.name = job.step.as_str(),
            step.attempt = attempt,
            trace_id = tracing::field::Empty,
            step.outcome = tracing::field::Empty,
        );
        onboarding_telemetry::set_parent(&span, &job.trace.traceparent);
        if let Some(id) = onboarding_telemetry::trace_id(&span) {
            span.record("trace_id", id.as_str());
        }
        let started = Instant::now();
        let result = self.attempt(job).instrument(span.clone()).await;
        let outcome = match &result {
            Ok(()) => "succeeded",
            Err(Verdict(onboarding_queue::Outcome::RetryAt { .. })) => "retry",
            Err(Verdict(onboarding_queue::Outcome::DeferUntil { .. })) => "deferred",
            Err(_) => "failed",
        };
        span.record("step.outcome", outcome);
        self.metrics
            .step_finished(job.step.as_str(), outcome, started.elapsed());
        result
    }

    async fn attempt(&self, job: &StepJob) -> Result<(), Verdict> {
        let svc = &self.onboard;
        let actor = Actor::Worker(self.worker.clone());
        let soon = |e: &dyn std::fmt::Display| {
            Verdict::retry_at(SystemTime::now() + Duration::from_secs(5), e)
        };
        let at = now();
        let begun = svc
            .runs
            .update(&job.run_id, |run: &mut Run| {
                begin(run, job.step, at, &actor)
            })
            .await;
        let run = match begun {
            Err(crate::runs::RunStoreError::NotFound(id)) => {
                return Err(Verdict::fail(format!("run {id} does not exist")));
            }
            Err(e) => return Err(soon(&e)),
            Ok(Err(e)) => {
                return Err(Verdict::fail(format!(
                    "run record refused the attempt: {e}"
                )));
            }
            Ok(Ok(Begin::Stale(next))) => {
                if let Some((run, step)) = next {
                    tracing::info!(
                        next = step.as_str(),
                        "stale job: the run moved on; making sure its current step is scheduled"
                    );
                    svc.schedule(&run, step, None, run.bulk)
                        .await
                        .map_err(|e| soon(&e))?;
                }
                return Ok(());
            }
            Ok(Ok(Begin::Go(run))) => run,
        };
        // The span shows the step's attempt as the run counts it (across jobs).
        if let Some(record) = run.step(job.step) {
            tracing::Span::current().record("step.attempt", record.attempts);
        }
        let credentials = match svc.open_credentials(&run).await {
            Ok(c) => c,
            Err(e) => {
                let retryable = match &e {
                    crate::service::ServiceError::Secrets(s) => s.is_retryable(),
                    _ => true,
                };
                let outcome = if retryable {
                    AttemptOutcome::Failed(CallFailure::Transient {
                        detail: e.to_string(),
                    })
                } else {
                    AttemptOutcome::Refused(crate::binding::unopenable(job.step, e.to_string()))
                };
                return Err(self.record(&run.id, job.step, outcome, None).await);
            }
        };
        let session = Session::new(svc.client.clone(), credentials);
        let database = match svc.check_binding(&run, job.step, &session).await {
            Ok(database) => database,
            Err(refused) => return Err(self.record(&run.id, job.step, refused, None).await),
        };
        let ctx = run.context();
        if run.request.dry_run {
            return self.dry_run(&run, &session).await;
        }
        let outcome = execute(
            &session,
            job.step,
            &ctx,
            &svc.webhook_secrets,
            run.request.kind.verify_only(),
        )
        .await;
        if let Some(ratio) = session.threshold_used().await {
            self.metrics.threshold_used(ratio);
        }
        match self.record(&run.id, job.step, outcome, database).await {
            Verdict(onboarding_queue::Outcome::Done) => Ok(()),
            verdict => Err(verdict),
        }
    }

    /// A run that succeeded: its tenant is bound to `database` (unless bound already) and
    /// its credentials are deleted. Failures only leave work for the retention sweep.
    async fn finished(&self, run: &Run, database: Option<&str>) {
        let svc = &self.onboard;
        if let Some(db) = database.filter(|_| !run.request.dry_run) {
            if let Err(e) = svc.bind_database(&run.request.tenant_id, db).await {
                tracing::warn!(error = %e, "the tenant's database binding was not recorded");
            }
        }
        if let Err(e) = svc.forget_credentials(run).await {
            tracing::warn!(error = %e, "the run's credentials were not deleted; the retention sweep will");
        }
    }

    /// Records the outcome in the run (`Run::end_attempt`) and turns what comes next into
    /// the job's verdict (`Done` for success and waits).
    async fn record(
        &self,
        run_id: &str,
        step: StepName,
        outcome: AttemptOutcome,
        database: Option<String>,
    ) -> Verdict {
        let svc = &self.onboard;
        let actor = Actor::Worker(self.worker.clone());
        let at = now();
        let random = OsRng.next_u64();
        let mut verify_only = false;
        let ended = svc
            .runs
            .update(run_id, |run: &mut Run| {
                verify_only = run.request.kind.verify_only();
                let next = run.end_attempt(
                    step,
                    outcome.clone(),
                    &svc.policy,
                    at,
                    random,
                    actor.clone(),
                )?;
                Ok::<_, onboarding_steps::Error>((next, run.clone()))
            })
            .await;
        let (next, run) = match ended {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Verdict::fail(format!("run record refused the outcome: {e}")),
            Err(e) => return Verdict::retry_at(SystemTime::now() + Duration::from_secs(5), e),
        };
        let class = class_of(&outcome, verify_only);
        // Care: a succeeded run puts its tenant under care; a drift check's finding opens a
        // repair (`drift`). Before `finished`, which deletes the run's credentials.
        svc.after_record(
            &run,
            &next,
            matches!(class, Some(ErrorClass::OperatorPending)),
            at,
        )
        .await;
        match next {
            Next::RunStep { step: next, at, .. } if next != step => {
                match svc.schedule(&run, next, None, run.bulk).await {
                    Ok(()) => Verdict(onboarding_queue::Outcome::Done),
                    // The record says the step succeeded; the re-run finds it stale and schedules.
                    Err(e) => Verdict::retry_at(
                        system_time(at).max(SystemTime::now()) + Duration::from_secs(5),
                        e,
                    ),
                }
            }
            Next::RunStep { at, .. } => {
                let reason = match &outcome {
                    AttemptOutcome::Refused(r) => r.reason.clone(),
                    AttemptOutcome::Failed(f) => f.describe(),
                    AttemptOutcome::Drifted(d) => d.to_string(),
                    AttemptOutcome::Succeeded { .. } => String::new(),
                };
                if matches!(
                    class,
                    Some(ErrorClass::OperatorPending | ErrorClass::BudgetDeferred)
                ) {
                    Verdict::defer_until(system_time(at), reason)
                } else {
                    Verdict::retry_at(system_time(at), reason)
                }
            }
            Next::RunSucceeded => {
                self.finished(&run, database.as_deref()).await;
                Verdict(onboarding_queue::Outcome::Done)
            }
            Next::AwaitAck { .. } => Verdict(onboarding_queue::Outcome::Done),
            Next::RunFailed { reason, .. } => Verdict::fail(reason),
        }
    }

    /// A dry run: every step observed and planned in one job; the report goes into the run's
    /// audit trail; nothing is changed in Autotask.
    async fn dry_run(&self, run: &Run, session: &Session) -> Result<(), Verdict> {
        let mut report = DryRun::new(run.request.kind, run.context());
        while let Some(step) = report.next_step() {
            let observed = observe(session, step, report.context()).await;
            report.report(step, &observed);
        }
        let text = report.render();
        let actor = Actor::Worker(self.worker.clone());
        let at = now();
        self.onboard
            .runs
            .update(&run.id, |run: &mut Run| {
                for record in run.steps.clone() {
                    let to = if record.state.status() == StepStatus::Running {
                        StepState::Succeeded { changed: false }
                    } else {
                        StepState::Skipped {
                            reason: "dry run: reported, not executed".into(),
                        }
                    };
                    let _ = run.set_step_state(record.step, to, at, actor.clone(), "");
                }
                run.set_state(RunState::Succeeded, at, actor.clone(), &text)
            })
            .await
            .map_err(|e| Verdict::retry_at(SystemTime::now() + Duration::from_secs(5), e))?
            .map_err(|e| Verdict::fail(e.to_string()))?;
        self.finished(run, None).await;
        Ok(())
    }
}

/// A panicking step is a bug: its job goes to the dead letters with the panic message. (A
/// named function rather than apalis' `catch_panic()`, whose handler type keeps the worker's
/// future from being `tokio::spawn`ed.)
fn panicked(panic: &Box<dyn std::any::Any + Send>) -> apalis_core::error::AbortError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    apalis_core::error::AbortError::new(std::io::Error::other(format!(
        "the step panicked: {message}"
    )))
}

async fn handle(
    job: JobPayload,
    attempt: Attempt,
    handler: Data<Handler>,
) -> Result<(), BoxDynError> {
    let JobPayload::Step(job) = job;
    let attempt = u32::try_from(attempt.current()).unwrap_or(u32::MAX).max(1);
    handler.run_step(&job, attempt).await.map_err(Into::into)
}

/// Runs an apalis worker on the step queue until `shutdown` resolves; steps running then
/// finish their attempt, fetched but unstarted jobs go back to the queue.
pub async fn run_worker(
    handler: Handler,
    concurrency: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let backend: RedisBackend<JobPayload> = RedisBackend::with_options(
        handler.onboard.queue.clone(),
        // The backend enforces the cap and fetches the free slots (its defaults).
        BackendOptions {
            concurrency: concurrency.max(1),
            ..BackendOptions::default()
        },
    );
    let name = handler.worker.clone();
    // The heartbeat beats while this function runs (the worker loop is alive).
    let metrics = handler.metrics.clone();
    let heartbeat = tokio::spawn(async move {
        let mut tick = tokio::time::interval(HEARTBEAT);
        loop {
            tick.tick().await;
            metrics.heartbeat();
        }
    });
    let worker = WorkerBuilder::new(name)
        .backend(backend)
        .data(handler)
        .layer(CatchPanicLayer::with_panic_handler(panicked))
        .concurrency(concurrency.max(1))
        .build(handle);
    let result = worker
        .run_until(async move {
            shutdown.await;
            Ok::<(), WorkerError>(())
        })
        .await;
    heartbeat.abort();
    result
}

/// How often a running worker sets `onboard_worker_heartbeat_timestamp_seconds`.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
