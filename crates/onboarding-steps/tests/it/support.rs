//! Test support: the `check` snapshot helper and a driver of whole runs against the in-memory
//! tenant: every attempt goes through the one attempt protocol (`onboarding_steps::attempt`)
//! by `onboarding_memory`'s driver, the run through `Run::begin_attempt`/`end_attempt`.

use onboarding_memory::{Fault, MemoryTenant};
use onboarding_steps::attempt::Attempt;
use onboarding_steps::retry::StepSchedule;
use onboarding_steps::run::{Actor, AttemptOutcome, Next, Run, RunState, StepState};
use onboarding_steps::{Refusal, StepContext, StepName, Timestamp};

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

/// One attempt of `step` through the in-memory driver (the worker's protocol, see
/// `onboarding_steps::attempt`), with `fault` at one of its calls.
pub fn attempt(
    t: &mut MemoryTenant,
    run: &Run,
    step: StepName,
    fault: Option<Fault>,
) -> AttemptOutcome {
    let verify_only = run.request.kind.verify_only();
    t.attempt(Attempt::new(step, run.context(), verify_only), fault)
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
    let policy = StepSchedule::default();
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
