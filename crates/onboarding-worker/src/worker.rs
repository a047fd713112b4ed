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
//! Every attempt is a span in the run's trace (`tenant.id`, `run.id`, `step.name`,
//! `step.attempt`), and every Autotask request a child span of it.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use apalis::prelude::*;
use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use onboarding_queue::backend::BackendOptions;
use onboarding_queue::{RedisBackend, Verdict};
use onboarding_steps::payload::{JobPayload, StepJob};
use onboarding_steps::retry::{ErrorClass, RetryDecision, RetryPolicy};
use onboarding_steps::run::{Actor, DryRun, Run, RunState, StepState, StepStatus};
use onboarding_steps::{Remediation, StepName, Timestamp};
use tracing::Instrument;

use crate::execute::{Session, StepOutcome, execute, observe};
use crate::metrics::Metrics;
use crate::service::{Onboard, now, system_time};

/// What the queue should do with the job after the run record is updated.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Done; schedule this step next (none: the run is over).
    Next(Option<StepName>),
    /// Retry this step at the time.
    RetryAt(Timestamp, String),
    /// Check again at the time, without spending an attempt.
    DeferUntil(Timestamp, String),
    /// Done; the step waits for an operator's acknowledgment.
    AwaitAck,
    /// Dead letter.
    Fail(String),
}

/// Which attempt is being recorded, when, by whom, and the random value for jitter.
#[derive(Debug, Clone)]
pub struct AttemptInfo {
    /// The step.
    pub step: StepName,
    /// The attempt (1-based).
    pub attempt: u32,
    /// Now.
    pub at: Timestamp,
    /// Random value choosing the jitter.
    pub random: u64,
    /// The worker.
    pub actor: Actor,
}

/// Applies one attempt's outcome to the run record and decides the job's fate. Pure: time
/// and randomness come in.
pub fn apply(
    run: &mut Run,
    info: &AttemptInfo,
    outcome: &StepOutcome,
    policy: &RetryPolicy,
) -> Decision {
    let AttemptInfo {
        step,
        attempt,
        at,
        random,
        ref actor,
    } = *info;
    let ignore = |r: Result<(), onboarding_steps::Error>| {
        if let Err(e) = r {
            tracing::warn!(error = %e, "run record transition refused");
        }
    };
    let (class, reason, remediation) = match outcome {
        StepOutcome::Succeeded { calls, plan } => {
            run.record_facts(&plan.facts);
            let detail = if calls.is_empty() {
                "nothing to change".to_owned()
            } else {
                calls.join("\n")
            };
            ignore(run.set_step_state(
                step,
                StepState::Succeeded {
                    changed: !calls.is_empty(),
                },
                at,
                actor.clone(),
                &detail,
            ));
            let next = run.next_step(at, actor.clone());
            if next.is_none() && run.is_complete() {
                ignore(run.set_state(
                    RunState::Succeeded,
                    at,
                    actor.clone(),
                    "every step succeeded or was skipped",
                ));
            }
            return Decision::Next(next);
        }
        StepOutcome::Refused(refusal) => (
            refusal.class,
            refusal.reason.clone(),
            refusal.remediation.as_deref().cloned().or_else(|| {
                matches!(
                    refusal.class,
                    ErrorClass::OperatorPending | ErrorClass::AwaitingAck | ErrorClass::Permanent
                )
                .then(|| Remediation::for_step(step, &refusal.findings))
            }),
        ),
        StepOutcome::CallFailed { call, failure, .. } => {
            let class = failure.class();
            let remediation = matches!(class, ErrorClass::OperatorPending | ErrorClass::Permanent)
                .then(|| Remediation::for_step(step, &[]));
            (
                class,
                format!("{call}: {}", failure.describe()),
                remediation,
            )
        }
        StepOutcome::Drifted(drift) if run.request.kind.verify_only() => (
            ErrorClass::Permanent,
            format!("drift detected: {}", drift.differences.join("; ")),
            None,
        ),
        StepOutcome::Drifted(drift) => (ErrorClass::Transient, drift.to_string(), None),
        StepOutcome::Internal(e) => (ErrorClass::Transient, e.clone(), None),
    };
    match policy.decide(class, attempt, at, run.deadline, random) {
        RetryDecision::RetryAt { at: next, .. } => match class {
            ErrorClass::OperatorPending => {
                let instructions = remediation.unwrap_or_else(|| Remediation::for_step(step, &[]));
                ignore(run.set_step_state(
                    step,
                    StepState::WaitingForOperator {
                        instructions,
                        next_check: Some(next),
                    },
                    at,
                    actor.clone(),
                    &reason,
                ));
                if run.state == RunState::Running {
                    ignore(run.set_state(RunState::WaitingForOperator, at, actor.clone(), &reason));
                }
                Decision::DeferUntil(next, reason)
            }
            ErrorClass::BudgetDeferred => {
                ignore(run.set_step_state(
                    step,
                    StepState::RetryScheduled {
                        attempt,
                        next_at: next,
                        last_error: reason.clone(),
                    },
                    at,
                    actor.clone(),
                    &reason,
                ));
                Decision::DeferUntil(next, reason)
            }
            _ => {
                ignore(run.set_step_state(
                    step,
                    StepState::RetryScheduled {
                        attempt: attempt + 1,
                        next_at: next,
                        last_error: reason.clone(),
                    },
                    at,
                    actor.clone(),
                    &reason,
                ));
                Decision::RetryAt(next, reason)
            }
        },
        RetryDecision::AwaitAck => {
            let instructions = remediation.unwrap_or_else(|| Remediation::for_step(step, &[]));
            ignore(run.set_step_state(
                step,
                StepState::WaitingForOperator {
                    instructions,
                    next_check: None,
                },
                at,
                actor.clone(),
                &reason,
            ));
            if run.state == RunState::Running {
                ignore(run.set_state(RunState::WaitingForOperator, at, actor.clone(), &reason));
            }
            Decision::AwaitAck
        }
        decision @ (RetryDecision::DeadLetter | RetryDecision::DeadlinePassed) => {
            let reason = if decision == RetryDecision::DeadlinePassed {
                format!("the operator deadline passed: {reason}")
            } else if class == ErrorClass::Transient {
                format!("gave up after {attempt} attempts: {reason}")
            } else {
                reason
            };
            ignore(run.set_step_state(
                step,
                StepState::Failed {
                    reason: reason.clone(),
                    remediation,
                },
                at,
                actor.clone(),
                &reason,
            ));
            ignore(run.set_state(RunState::Failed, at, actor.clone(), &reason));
            Decision::Fail(reason)
        }
    }
}

/// How a job starts.
enum Begin {
    /// Run the step with this record.
    Go(Box<Run>),
    /// Nothing to run; schedule this step if the run is still going.
    Stale(Option<(Box<Run>, StepName)>),
}

fn begin(
    run: &mut Run,
    step: StepName,
    attempt: u32,
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
    if run.step(step).map(|s| s.state.status()) == Some(StepStatus::Running) {
        // The previous attempt's worker stopped mid-step (its lease expired): say so.
        run.set_step_state(
            step,
            StepState::RetryScheduled {
                attempt,
                next_at: at,
                last_error: "the previous attempt's worker stopped before finishing".into(),
            },
            at,
            actor.clone(),
            "lease expired",
        )?;
    }
    if run.state != RunState::Running {
        run.set_state(
            RunState::Running,
            at,
            actor.clone(),
            &format!("{step} attempt {attempt}"),
        )?;
    }
    run.set_step_state(step, StepState::Running { attempt }, at, actor.clone(), "")?;
    Ok(Begin::Go(Box::new(run.clone())))
}

/// The worker's shared state for handlers.
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
        let result = self.attempt(job, attempt).instrument(span.clone()).await;
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

    async fn attempt(&self, job: &StepJob, attempt: u32) -> Result<(), Verdict> {
        let svc = &self.onboard;
        let actor = Actor::Worker(self.worker.clone());
        let soon = |e: &dyn std::fmt::Display| {
            Verdict::retry_at(SystemTime::now() + Duration::from_secs(5), e)
        };
        let at = now();
        let begun = svc
            .runs
            .update(&job.run_id, |run| begin(run, job.step, attempt, at, &actor))
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
                    svc.schedule(&run, step, None, false)
                        .await
                        .map_err(|e| soon(&e))?;
                }
                return Ok(());
            }
            Ok(Ok(Begin::Go(run))) => run,
        };
        let credentials = match svc.open_credentials(&run).await {
            Ok(c) => c,
            Err(e) => {
                return Err(self
                    .record(
                        &run.id,
                        job.step,
                        attempt,
                        &StepOutcome::Internal(e.to_string()),
                    )
                    .await);
            }
        };
        let session = Session::new(svc.client.clone(), credentials);
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
        match self.record(&run.id, job.step, attempt, &outcome).await {
            verdict @ Verdict(onboarding_queue::Outcome::Done) => {
                let _ = verdict;
                Ok(())
            }
            verdict => Err(verdict),
        }
    }

    /// Records the outcome; returns the verdict (`Done` for success and waits).
    async fn record(
        &self,
        run_id: &str,
        step: StepName,
        attempt: u32,
        outcome: &StepOutcome,
    ) -> Verdict {
        let svc = &self.onboard;
        let actor = Actor::Worker(self.worker.clone());
        let at = now();
        let random = OsRng.next_u64();
        let applied = svc
            .runs
            .update(run_id, |run| {
                let info = AttemptInfo {
                    step,
                    attempt,
                    at,
                    random,
                    actor: actor.clone(),
                };
                Ok::<_, ()>((apply(run, &info, outcome, &svc.policy), run.clone()))
            })
            .await;
        let (decision, run) = match applied {
            Ok(Ok(v)) => v,
            Ok(Err(())) => unreachable!("apply never refuses"),
            Err(e) => return Verdict::retry_at(SystemTime::now() + Duration::from_secs(5), e),
        };
        match decision {
            Decision::Next(Some(next)) => match svc.schedule(&run, next, None, false).await {
                Ok(()) => Verdict(onboarding_queue::Outcome::Done),
                // The record says the step succeeded; the re-run finds it stale and schedules.
                Err(e) => Verdict::retry_at(SystemTime::now() + Duration::from_secs(5), e),
            },
            Decision::Next(None) | Decision::AwaitAck => Verdict(onboarding_queue::Outcome::Done),
            Decision::RetryAt(t, reason) => Verdict::retry_at(system_time(t), reason),
            Decision::DeferUntil(t, reason) => Verdict::defer_until(system_time(t), reason),
            Decision::Fail(reason) => Verdict::fail(reason),
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
            .update(&run.id, |run| {
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
            .map_err(|e| Verdict::fail(e.to_string()))
    }
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
        BackendOptions {
            fetch_batch: 1,
            ..BackendOptions::default()
        },
    );
    let name = handler.worker.clone();
    let worker = WorkerBuilder::new(name)
        .backend(backend)
        .data(handler)
        .catch_panic()
        .concurrency(concurrency.max(1))
        .build(handle);
    worker
        .run_until(async move {
            shutdown.await;
            Ok::<(), WorkerError>(())
        })
        .await
}
