//! Test support: the `check` snapshot helper, fault injection, and a worker-like driver that
//! executes whole runs against the in-memory tenant.

use std::collections::BTreeMap;

use onboarding_steps::memory::MemoryTenant;
use onboarding_steps::retry::{ErrorClass, RetryDecision, RetryPolicy};
use onboarding_steps::run::{Actor, Run, RunState, StepState};
use onboarding_steps::{CallFailure, Plan, Refusal, StepContext, StepName, Timestamp};

/// Observes `step` in a copy of `tenant` and renders reads, plan or refusal, and verify.
pub fn render(step: StepName, ctx: &StepContext, tenant: &MemoryTenant) -> String {
    let mut t = tenant.clone();
    t.reads = 0;
    let observed = t.observe(step, ctx);
    let mut s = format!("{step} ({}), {} read(s)\n", step.kind().as_str(), t.reads);
    match step.plan(ctx, &observed) {
        Ok(plan) if plan.calls.is_empty() => s.push_str("plan: nothing to do\n"),
        Ok(plan) => {
            s.push_str("plan:\n");
            for c in &plan.calls {
                s.push_str(&format!("  {}\n", c.describe()));
            }
        }
        Err(r) => {
            s.push_str(&format!("refused ({:?}): {}\n", r.class, r.reason));
            if let Some(rem) = &r.remediation {
                let seeds: Vec<_> = rem.seed_steps.iter().map(ToString::to_string).collect();
                s.push_str(&format!("  seed: {}\n", seeds.join(" ")));
                for f in &rem.found_de {
                    s.push_str(&format!("  befund: {f}\n"));
                }
            }
        }
    }
    if let Ok(plan) = step.plan(ctx, &observed) {
        for f in &plan.facts {
            s.push_str(&format!("fact: {}\n", serde_json::to_string(f).unwrap()));
        }
    }
    match step.verify(ctx, &observed) {
        Ok(()) => s.push_str("verify: ok\n"),
        Err(d) => s.push_str(&format!("drift: {}\n", d.differences.join("; "))),
    }
    s
}

/// Snapshot of one step in one situation.
pub fn check(
    step: StepName,
    ctx: &StepContext,
    tenant: &MemoryTenant,
    expect: expect_test::Expect,
) {
    expect.assert_eq(&render(step, ctx, tenant));
}

/// A fault during one plan execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The worker dies before call `k` is sent.
    CrashBefore(usize),
    /// Call `k` is committed but its response is lost.
    LoseResponse(usize),
}

/// Executes a plan as the worker does, with an optional fault.
pub fn execute(t: &mut MemoryTenant, plan: &Plan, fault: Option<Fault>) -> Result<(), CallFailure> {
    let mut created = Vec::new();
    for (i, call) in plan.calls.iter().enumerate() {
        if fault == Some(Fault::CrashBefore(i)) {
            return Err(CallFailure::Transient {
                detail: "worker died".into(),
            });
        }
        match t.apply(call, &created) {
            Ok(id) => created.push(id),
            Err(f) if call.tolerates(&f) => created.push(None),
            Err(f) => return Err(f),
        }
        if fault == Some(Fault::LoseResponse(i)) {
            return Err(CallFailure::Transient {
                detail: "response lost".into(),
            });
        }
    }
    Ok(())
}

/// How a driven run ended.
#[derive(Debug)]
pub enum Ended {
    /// Every step succeeded or was skipped.
    Succeeded,
    /// A step failed permanently.
    Failed(StepName, String),
    /// A step waits for an operator who did nothing.
    Stuck(Box<Refusal>),
}

/// Drives a run to its end like the worker: reads, plan, execute (with the faults given, one
/// per execution while they last), verify, retries per the policy, operator waits handed to
/// `operator` (which may change the tenant or acknowledge; it returns whether it acted).
pub fn drive(
    run: &mut Run,
    t: &mut MemoryTenant,
    faults: &mut Vec<Option<Fault>>,
    mut operator: impl FnMut(&mut MemoryTenant, &mut Run, &Refusal) -> bool,
) -> Ended {
    let policy = RetryPolicy::default();
    let w = || Actor::Worker("test".into());
    let mut now = Timestamp(1_000);
    let mut attempts: BTreeMap<StepName, u32> = BTreeMap::new();
    run.set_state(RunState::Running, now, w(), "").unwrap();
    for _ in 0..500 {
        now = now.plus(std::time::Duration::from_millis(10));
        let Some(step) = run.next_step(now, w()) else {
            run.set_state(RunState::Succeeded, now, w(), "").unwrap();
            return Ended::Succeeded;
        };
        let attempt = attempts.entry(step).or_insert(0);
        *attempt += 1;
        let attempt = *attempt;
        run.set_step_state(step, StepState::Running { attempt }, now, w(), "")
            .unwrap();
        let ctx = run.context();
        let observed = t.observe(step, &ctx);
        let outcome: Result<bool, (ErrorClass, String, Option<Refusal>)> =
            if run.request.kind.verify_only() {
                step.verify(&ctx, &observed)
                    .map(|()| false)
                    .map_err(|d| (ErrorClass::Permanent, d.to_string(), None))
            } else {
                match step.plan(&ctx, &observed) {
                    Err(r) => Err((r.class, r.reason.clone(), Some(r))),
                    Ok(plan) => {
                        let fault = if faults.is_empty() {
                            None
                        } else {
                            faults.remove(0)
                        };
                        match execute(t, &plan, fault) {
                            Err(f) => Err((f.class(), f.describe(), None)),
                            Ok(()) => {
                                run.record_facts(&plan.facts);
                                let again = t.observe(step, &ctx);
                                step.verify(&ctx, &again)
                                    .map(|()| !plan.calls.is_empty())
                                    .map_err(|d| (ErrorClass::Transient, d.to_string(), None))
                            }
                        }
                    }
                }
            };
        match outcome {
            Ok(changed) => run
                .set_step_state(step, StepState::Succeeded { changed }, now, w(), "")
                .unwrap(),
            Err((class, reason, refusal)) => {
                match policy.decide(class, attempt, now, run.deadline, 7) {
                    RetryDecision::RetryAt { at, .. } => {
                        if class == ErrorClass::BudgetDeferred {
                            *attempts.get_mut(&step).unwrap() -= 1;
                        }
                        if class == ErrorClass::OperatorPending {
                            let r = refusal.expect("operator-pending comes from a refusal");
                            let state = StepState::from_refusal(&r, Some(at)).unwrap();
                            run.set_step_state(step, state, now, w(), &reason).unwrap();
                            run.set_state(RunState::WaitingForOperator, now, w(), &reason)
                                .unwrap();
                            if !operator(t, run, &r) {
                                return Ended::Stuck(Box::new(r));
                            }
                            run.set_state(RunState::Running, at, w(), "").unwrap();
                        } else {
                            run.set_step_state(
                                step,
                                StepState::RetryScheduled {
                                    attempt: attempt + 1,
                                    next_at: at,
                                    last_error: reason,
                                },
                                now,
                                w(),
                                "",
                            )
                            .unwrap();
                        }
                        now = at;
                        // The next loop iteration runs the step again (Running).
                    }
                    RetryDecision::AwaitAck => {
                        let r = refusal.expect("awaiting ack comes from a refusal");
                        let state = StepState::from_refusal(&r, None).unwrap();
                        run.set_step_state(step, state, now, w(), &reason).unwrap();
                        run.set_state(RunState::WaitingForOperator, now, w(), &reason)
                            .unwrap();
                        if !operator(t, run, &r) {
                            return Ended::Stuck(Box::new(r));
                        }
                        run.set_state(RunState::Running, now, w(), "").unwrap();
                    }
                    RetryDecision::DeadLetter | RetryDecision::DeadlinePassed => {
                        let remediation = refusal.and_then(|r| r.remediation.map(|b| *b));
                        run.set_step_state(
                            step,
                            StepState::Failed {
                                reason: reason.clone(),
                                remediation,
                            },
                            now,
                            w(),
                            "",
                        )
                        .unwrap();
                        run.set_state(RunState::Failed, now, w(), &reason).unwrap();
                        return Ended::Failed(step, reason);
                    }
                }
            }
        }
    }
    panic!("the run did not end within 500 step attempts");
}
