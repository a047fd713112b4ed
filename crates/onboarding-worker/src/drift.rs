//! Scheduled drift checks of every tenant under care (`care`), and what a check's outcome
//! opens.
//!
//! **Schedule.** Each tenant has a phase `φ ∈ [0, 1)` (`care::phase`, golden-ratio spread);
//! with period `P` it is checked once in every period `k`, at `k·P + φ·P`. A tick at time
//! `t` enqueues the checks whose times fall in `(cursor, t]` and moves the shared cursor
//! (`{prefix}:care:cursor`) to `t` by compare-and-set. A check is a `verify` run
//! with the idempotency key `drift:{tenant}:{k}`, so however many workers tick at once, and
//! whether or not one crashed between enqueueing and moving the cursor, each tenant gets one
//! check per period. The first tick of a deployment only starts the cursor; after a long
//! stop at most one period is caught up. [`Onboard::check_now`] is an operator's check
//! outside the schedule (`onboard care check`), with the key `drift:{tenant}:now-{ms}`.
//!
//! Why the queue's own scheduling and not apalis-cron: apalis-cron fires the same schedule
//! in every worker process (no cross-process lease) and knows nothing of tenants; spreading
//! ten thousand tenants over a period would still need per-tenant times. The cursor plus
//! idempotent enqueue gives exactly-once per period across workers with one Redis key, and
//! the checks then run as ordinary queued runs.
//!
//! **Budget.** A check is a `verify` run enqueued as bulk work: fresh onboarding goes first,
//! its requests go through the same per-tenant budget pacer (the configured share of the
//! hourly threshold) and its `check_api_budget` step defers it above the tenant's pause
//! ratio, like every run. A converged tenant's check makes only reads.
//!
//! **Outcome** ([`Onboard::after_record`], called by the worker after every recorded
//! attempt): a check that fails (a webhook deactivated, deleted or changed) or waits for an
//! operator (a lost permission, a deactivated API user) records a finding and opens the
//! tenant's `repair` run; a waiting check is then cancelled (the repair waits instead, with
//! the same instructions). A succeeded `onboard`, `change_api_user` or `repair` run puts its
//! tenant under care.
//!
//! What it does not do: no timer of its own in tests (the tick takes the time as an
//! argument; [`run_drift_checks`] is the loop the worker runs), no HTTP.

use std::time::Duration;

use onboarding_steps::run::{Next, Run, RunKind};
use onboarding_steps::{StepName, Timestamp};
use redis::AsyncCommands;

use crate::care::{DriftFinding, DriftKind, FindingSource};
use crate::service::{EnqueueResult, Onboard, ServiceError};

/// The default drift-check period (a day).
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(24 * 3600);

/// The idempotency key prefix of drift checks.
pub const CHECK_KEY_PREFIX: &str = "drift:";

/// What a tick enqueued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// `(tenant, run id, created)` for each check, in schedule order.
    pub checks: Vec<(String, String, bool)>,
    /// The range covered, `(from, to]`, in milliseconds.
    pub range: (u64, u64),
}

const MOVE_CURSOR: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0";

impl Onboard {
    fn cursor_key(&self) -> String {
        format!("{}:care:cursor", self.credentials.prefix)
    }

    /// One tick of the drift schedule at `now` with `period`: enqueues the checks due since
    /// the last tick (of any worker) and moves the cursor.
    pub async fn drift_tick(
        &self,
        period: Duration,
        now: Timestamp,
    ) -> Result<TickReport, ServiceError> {
        let p = period.as_millis().max(1) as u64;
        let t = now.as_millis();
        let mut conn = self.credentials.redis.clone();
        let redis = crate::runs::RunStoreError::from;
        let cursor: Option<String> = conn.get(self.cursor_key()).await.map_err(redis)?;
        let Some(cursor) = cursor else {
            let _: () = redis::cmd("SET")
                .arg(self.cursor_key())
                .arg(t.to_string())
                .arg("NX")
                .query_async(&mut conn)
                .await
                .map_err(redis)?;
            return Ok(TickReport {
                checks: Vec::new(),
                range: (t, t),
            });
        };
        let c: u64 = cursor.parse().unwrap_or(t);
        if t <= c {
            return Ok(TickReport {
                checks: Vec::new(),
                range: (c, c),
            });
        }
        let lo = c.max(t.saturating_sub(p));
        let mut report = TickReport {
            checks: Vec::new(),
            range: (lo, t),
        };
        for k in lo / p..=(t - 1) / p {
            let start = lo.max(k * p);
            let end = t.min((k + 1) * p);
            if end <= start {
                continue;
            }
            let a = (start - k * p) as f64 / p as f64;
            let b = (end - k * p) as f64 / p as f64;
            let tenants: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                .arg(self.care_phases_key())
                .arg(format!("({a}"))
                .arg(b)
                .query_async(&mut conn)
                .await
                .map_err(redis)?;
            for tenant in tenants {
                let Some(record) = self.care_record(&tenant).await? else {
                    continue;
                };
                let key = format!("{CHECK_KEY_PREFIX}{tenant}:{k}");
                match self
                    .open_care_run(&record, RunKind::Verify, key, true)
                    .await
                {
                    Ok(r) => report.checks.push((tenant, r.run_id, r.created)),
                    Err(e @ (ServiceError::Runs(_) | ServiceError::Queue(_))) => return Err(e),
                    Err(e) => {
                        tracing::warn!(tenant.id = %tenant, error = %e, "drift check not enqueued");
                    }
                }
            }
        }
        let _: i64 = redis::Script::new(MOVE_CURSOR)
            .key(self.cursor_key())
            .arg(cursor)
            .arg(t.to_string())
            .invoke_async(&mut conn)
            .await
            .map_err(redis)?;
        Ok(report)
    }

    /// A drift check of `tenant` now, outside the schedule (an operator asked): the same
    /// `verify` run a scheduled check is, ahead of bulk work, whose findings open a repair
    /// the same way. `None` when the tenant is not under care.
    pub async fn check_now(
        &self,
        tenant: &str,
        at: Timestamp,
    ) -> Result<Option<EnqueueResult>, ServiceError> {
        let Some(record) = self.care_record(tenant).await? else {
            return Ok(None);
        };
        let key = format!("{CHECK_KEY_PREFIX}{tenant}:now-{}", at.as_millis());
        self.open_care_run(&record, RunKind::Verify, key, false)
            .await
            .map(Some)
    }

    /// What a recorded attempt means for care (the worker calls it after every attempt it
    /// records; failures are logged, never the attempt's): see the module doc.
    pub async fn after_record(&self, run: &Run, next: &Next, operator_wait: bool, at: Timestamp) {
        if let Err(e) = self.care_after(run, next, operator_wait, at).await {
            tracing::warn!(run.id = %run.id, error = %e, "drift bookkeeping failed");
        }
    }

    async fn care_after(
        &self,
        run: &Run,
        next: &Next,
        operator_wait: bool,
        at: Timestamp,
    ) -> Result<(), ServiceError> {
        if run.request.dry_run {
            return Ok(());
        }
        let kind = run.request.kind;
        if matches!(next, Next::RunSucceeded)
            && matches!(
                kind,
                RunKind::Onboard | RunKind::ChangeApiUser | RunKind::Repair
            )
        {
            return self.care_register(run, at).await;
        }
        if kind != RunKind::Verify || !run.idempotency_key.starts_with(CHECK_KEY_PREFIX) {
            return Ok(());
        }
        let (step, what, detail, waiting) = match next {
            Next::RunFailed { step, reason } => (*step, *step, reason.clone(), false),
            Next::AwaitAck { step } => waiting(run, *step),
            Next::RunStep { step, .. } if operator_wait => waiting(run, *step),
            _ => return Ok(()),
        };
        let repair = self.open_repair(&run.request.tenant_id).await?;
        self.record_finding(&DriftFinding {
            at: at.as_millis(),
            tenant_id: run.request.tenant_id.clone(),
            source: FindingSource::Schedule,
            kind: DriftKind::of_step(what),
            step: Some(step),
            detail,
            check_run: Some(run.id.clone()),
            repair_run: repair.as_ref().map(|r| r.run_id.clone()),
        })
        .await?;
        if waiting {
            // The repair run waits for the operator with the same instructions.
            let _ = self.cancel(&run.id, "drift-check").await;
        }
        Ok(())
    }
}

/// A waiting step: the step, the step whose instructions it shows (a rejected login shows
/// `verify_api_user`'s wherever it happens), what it found, and `true`.
fn waiting(run: &Run, step: StepName) -> (StepName, StepName, String, bool) {
    match run.step(step).map(|s| &s.state) {
        Some(onboarding_steps::run::StepState::WaitingForOperator { instructions, .. }) => (
            step,
            instructions.step,
            if instructions.found_en.is_empty() {
                format!("{} waits for an operator", step.as_str())
            } else {
                instructions.found_en.join(" ")
            },
            true,
        ),
        _ => (
            step,
            step,
            format!("{} waits for an operator", step.as_str()),
            true,
        ),
    }
}

/// Ticks the drift schedule every `tick` until `shutdown` (the worker runs it; several
/// workers ticking at once enqueue each check once).
pub async fn run_drift_checks(
    onboard: Onboard,
    period: Duration,
    tick: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut every = tokio::time::interval(tick.max(Duration::from_millis(10)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ticking = async {
        loop {
            every.tick().await;
            match onboard.drift_tick(period, crate::service::now()).await {
                Ok(r) if !r.checks.is_empty() => {
                    tracing::info!(checks = r.checks.len(), "drift checks enqueued")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "drift tick failed; next tick again"),
            }
        }
    };
    tokio::select! {
        () = ticking => {}
        () = shutdown => {}
    }
}

/// The tick of a period: a hundredth of it, between one second and one minute.
pub fn default_tick(period: Duration) -> Duration {
    (period / 100).clamp(Duration::from_secs(1), Duration::from_secs(60))
}
