//! Executors against the model tenant: [`MemoryTenant::execute`] applies a bare plan,
//! [`MemoryTenant::attempt`] drives one step attempt through the sans-IO protocol of
//! `onboarding_steps::attempt`, both with an optional [`Fault`].

//! [`MemoryTenant::attempt`] is the in-memory driver of one step attempt: the same thin loop
//! over `onboarding_steps::attempt::Attempt` as the worker's `execute::drive`, with
//! [`Fault`]s injected at a chosen call (a worker crash before it is sent, a response lost
//! after it is committed). [`MemoryTenant::execute`] applies a bare plan the same way, for
//! plan-level properties.

use onboarding_steps::attempt::{Attempt, Want};
use onboarding_steps::run::AttemptOutcome;
use onboarding_steps::{CallFailure, Plan};

use crate::*;

impl MemoryTenant {
    /// Applies `plan`'s calls in order as an executor does (a failure the call tolerates
    /// counts as done), with an optional `fault`; the error names the failed call (`None`
    /// for an injected fault).
    pub fn execute(
        &mut self,
        plan: &Plan,
        fault: Option<Fault>,
    ) -> Result<(), (Option<usize>, CallFailure)> {
        let mut created = Vec::with_capacity(plan.calls.len());
        for (i, call) in plan.calls.iter().enumerate() {
            if let Some(f) = Fault::before(fault, i) {
                return Err((None, f));
            }
            match self.apply(call, &created) {
                Ok(id) => created.push(id),
                Err(f) if call.tolerates(&f) => created.push(None),
                Err(f) => return Err((Some(i), f)),
            }
            if let Some(f) = Fault::after(fault, i) {
                return Err((None, f));
            }
        }
        Ok(())
    }

    /// Drives one attempt to its outcome against this tenant, the in-memory twin of the
    /// worker's `execute::drive`; `fault` hits the attempt's call of that index.
    pub fn attempt(&mut self, mut attempt: Attempt, fault: Option<Fault>) -> AttemptOutcome {
        let step = attempt.step();
        let mut calls = 0;
        loop {
            match attempt.want() {
                Want::Reads(reads) => {
                    for read in reads {
                        let answer = self.answer(&read);
                        attempt.read(&read, answer);
                    }
                }
                Want::Call { call, created } => {
                    if let Some(f) = Fault::before(fault, calls) {
                        return AttemptOutcome::Failed(f);
                    }
                    let result = self.apply(call, created);
                    if let Some(f) = Fault::after(fault, calls) {
                        return AttemptOutcome::Failed(f);
                    }
                    self.calls_made.push(format!("{step}: {}", call.describe()));
                    calls += 1;
                    attempt.called(result);
                }
                Want::Done(outcome) => return outcome,
            }
        }
    }
}

/// A fault during one plan execution or attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The worker dies before call `k` is sent.
    CrashBefore(usize),
    /// Call `k` is committed but its response is lost.
    LoseResponse(usize),
}

impl Fault {
    fn before(fault: Option<Fault>, k: usize) -> Option<CallFailure> {
        (fault == Some(Fault::CrashBefore(k))).then(|| CallFailure::Transient {
            detail: "worker died".into(),
        })
    }

    fn after(fault: Option<Fault>, k: usize) -> Option<CallFailure> {
        (fault == Some(Fault::LoseResponse(k))).then(|| CallFailure::Transient {
            detail: "response lost".into(),
        })
    }
}
