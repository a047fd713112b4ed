//! Test support: the `check` snapshot helper, fault injection, and a worker-like driver that
//! executes whole runs against the in-memory tenant.

use onboarding_steps::memory::MemoryTenant;
use onboarding_steps::retry::RetryPolicy;
use onboarding_steps::run::{Actor, AttemptOutcome, Next, Run, RunState, StepState};
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
    run_plan(t, plan, fault).map_err(|(_, f)| f)
}

/// [`execute`], also naming the call that failed (`None` for an injected fault).
fn run_plan(
    t: &mut MemoryTenant,
    plan: &Plan,
    fault: Option<Fault>,
) -> Result<(), (Option<usize>, CallFailure)> {
    let mut created = Vec::new();
    for (i, call) in plan.calls.iter().enumerate() {
        if fault == Some(Fault::CrashBefore(i)) {
            return Err((
                None,
                CallFailure::Transient {
                    detail: "worker died".into(),
                },
            ));
        }
        match t.apply(call, &created) {
            Ok(id) => created.push(id),
            Err(f) if call.tolerates(&f) => created.push(None),
            Err(f) => return Err((Some(i), f)),
        }
        if fault == Some(Fault::LoseResponse(i)) {
            return Err((
                None,
                CallFailure::Transient {
                    detail: "response lost".into(),
                },
            ));
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

/// One attempt of `step`, as the worker makes it: reads, plan, execute (with `fault`), fresh
/// reads, verify. Verify-only runs only verify.
pub fn attempt(
    t: &mut MemoryTenant,
    run: &Run,
    step: StepName,
    fault: Option<Fault>,
) -> AttemptOutcome {
    let ctx = run.context();
    let observed = t.observe(step, &ctx);
    if run.request.kind.verify_only() {
        return match step.verify(&ctx, &observed) {
            Ok(()) => AttemptOutcome::Succeeded {
                changed: false,
                facts: Vec::new(),
            },
            Err(d) => AttemptOutcome::Drifted(d),
        };
    }
    let plan = match step.plan(&ctx, &observed) {
        Ok(plan) => plan,
        Err(r) => return AttemptOutcome::Refused(r),
    };
    if let Err((failed, f)) = run_plan(t, &plan, fault) {
        // As the worker: the step may read a failed call as a finding.
        return match failed {
            Some(i) => AttemptOutcome::call_failed(step, &ctx, &plan.calls[i], f),
            None => AttemptOutcome::Failed(f),
        };
    }
    let again = t.observe(step, &ctx);
    match step.verify(&ctx, &again) {
        Ok(()) => AttemptOutcome::Succeeded {
            changed: !plan.calls.is_empty(),
            facts: plan.facts,
        },
        Err(d) => AttemptOutcome::Drifted(d),
    }
}

/// Drives a run to its end like the worker, through `Run::begin_attempt`/`end_attempt`: one
/// fault per plan execution while they last; operator waits are handed to `operator` (which
/// may change the tenant or acknowledge; it returns whether it acted).
pub fn drive(
    run: &mut Run,
    t: &mut MemoryTenant,
    faults: &mut Vec<Option<Fault>>,
    mut operator: impl FnMut(&mut MemoryTenant, &mut Run, &Refusal) -> bool,
) -> Ended {
    let policy = RetryPolicy::default();
    let w = || Actor::Worker("test".into());
    let mut now = Timestamp(1_000);
    let mut last: Option<Refusal> = None;
    let Some(first) = run.next_step(now, w()) else {
        return Ended::Succeeded;
    };
    let mut next = Next::RunStep {
        step: first,
        attempt: 1,
        at: now,
    };
    for _ in 0..500 {
        match next {
            Next::RunSucceeded => return Ended::Succeeded,
            Next::RunFailed { step, reason } => return Ended::Failed(step, reason),
            Next::AwaitAck { step } => {
                let refusal = last_refusal(run, step, &last);
                if !operator(t, run, &refusal) {
                    return Ended::Stuck(Box::new(refusal));
                }
                assert_eq!(run.next_step(now, w()), Some(step));
                next = Next::RunStep {
                    step,
                    attempt: 0,
                    at: now,
                };
            }
            Next::RunStep { step, at, .. } => {
                if run.state == RunState::WaitingForOperator {
                    let refusal = last_refusal(run, step, &last);
                    if !operator(t, run, &refusal) {
                        return Ended::Stuck(Box::new(refusal));
                    }
                }
                now = now.max(at).plus(std::time::Duration::from_millis(10));
                run.begin_attempt(step, now, w()).unwrap();
                let fault = if faults.is_empty() {
                    None
                } else {
                    faults.remove(0)
                };
                let outcome = attempt(t, run, step, fault);
                let drifted = matches!(outcome, AttemptOutcome::Drifted(_));
                if let AttemptOutcome::Refused(r) = &outcome {
                    last = Some(r.clone());
                }
                next = run
                    .end_attempt(step, outcome, &policy, now, 7, w())
                    .unwrap();
                // A drift the step read as an operator path: its refusal is in the run record.
                if let (true, StepState::WaitingForOperator { instructions, .. }) =
                    (drifted, &run.step(step).unwrap().state)
                {
                    last = Some(Refusal {
                        step,
                        class: onboarding_steps::retry::ErrorClass::OperatorPending,
                        reason: instructions.found_en.join("; "),
                        findings: Vec::new(),
                        remediation: Some(Box::new(instructions.clone())),
                    });
                }
            }
        }
    }
    panic!("the run did not end within 500 step attempts");
}

fn last_refusal(run: &Run, step: StepName, last: &Option<Refusal>) -> Refusal {
    let r = last.clone().expect("a wait comes from a refusal");
    assert_eq!(r.step, step);
    assert!(matches!(
        run.step(step).unwrap().state,
        StepState::WaitingForOperator { .. }
    ));
    r
}
