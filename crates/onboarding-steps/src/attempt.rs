//! One attempt of a step as a sans-IO state machine: facts in (read answers, call results),
//! requests and a verdict out. Every executor drives this one protocol through a thin loop —
//! the worker against Autotask (`onboarding_worker::execute::drive`), the tests against an
//! in-memory tenant — so they cannot disagree on the order of things:
//!
//! 1. observe: the step's reads, in phases, until it names none (at most [`MAX_ROUNDS`]);
//! 2. plan: a refusal ends the attempt; an empty plan, or any plan in a verify-only run (where
//!    a non-empty plan is drift), goes straight to verify;
//! 3. the plan's calls in order, each result reported back; a call that fails in a way the
//!    call tolerates counts as done, any other failure ends the attempt through
//!    [`AttemptOutcome::call_failed`] (the step may read it as a finding) — except a plain
//!    rejection (`Rejected`, `NotFound`) that the step does not read as a finding: then the
//!    attempt observes again first, because another attempt of the same step (a worker whose
//!    lease ran out during a Redis failover still finishing its attempt) or a person may have
//!    changed the tenant since the plan was made. If the step now verifies, the attempt
//!    succeeded; if a fresh plan no longer holds the refused call, the state moved under it
//!    and the attempt ends as transient (the next one plans again); else the rejection
//!    stands;
//! 4. observe again from scratch, then verify.
//!
//! What it does not do: no I/O, no secrets (the driver fills a create's secret key), no retry
//! decision (that is [`crate::run::Run::end_attempt`]'s).

use crate::catalog::StepName;
use crate::observe::{CallFailure, Observed, Read, ReadResult};
use crate::plan::{Call, Plan};
use crate::run::AttemptOutcome;
use crate::steps::StepContext;

/// Read rounds per observation; a step names at most a few (e.g. webhooks, then their
/// children).
pub const MAX_ROUNDS: usize = 16;

/// What the attempt needs next.
#[derive(Debug)]
pub enum Want<'a> {
    /// Perform these reads and report each answer with [`Attempt::read`].
    Reads(Vec<Read>),
    /// Make this call and report its result with [`Attempt::called`]; `created` holds the
    /// item ids of the plan's earlier calls (for children of a webhook created just before).
    Call {
        /// The call.
        call: &'a Call,
        /// Item ids of the earlier calls, in plan order.
        created: &'a [Option<i64>],
    },
    /// The attempt is over.
    Done(AttemptOutcome),
}

#[derive(Debug)]
enum Phase {
    /// Observing before planning (`rounds` read rounds so far).
    Before { rounds: usize },
    /// Making call `next` of the plan.
    Calling { next: usize },
    /// Observing again after the calls (or after a rejected call, see the module docs).
    After { rounds: usize },
    /// Over.
    Done(Option<AttemptOutcome>),
}

/// One attempt of one step.
#[derive(Debug)]
pub struct Attempt {
    step: StepName,
    ctx: StepContext,
    verify_only: bool,
    observed: Observed,
    plan: Plan,
    created: Vec<Option<i64>>,
    /// A call Autotask rejected, and the rejection that stands unless the observation after
    /// it shows the state moved.
    rejected: Option<(Call, CallFailure)>,
    phase: Phase,
}

impl Attempt {
    /// An attempt of `step` in `ctx`; with `verify_only` (verify runs) no call is made.
    pub fn new(step: StepName, ctx: StepContext, verify_only: bool) -> Self {
        Self {
            step,
            ctx,
            verify_only,
            observed: Observed::new(),
            plan: Plan::default(),
            created: Vec::new(),
            rejected: None,
            phase: Phase::Before { rounds: 0 },
        }
    }

    /// The step.
    pub fn step(&self) -> StepName {
        self.step
    }

    /// The context the step decides in.
    pub fn context(&self) -> &StepContext {
        &self.ctx
    }

    /// What is needed next. Ask again after reporting every read of [`Want::Reads`] or
    /// the result of a [`Want::Call`]; [`Want::Done`] is returned once.
    pub fn want(&mut self) -> Want<'_> {
        loop {
            match &mut self.phase {
                Phase::Before { rounds } | Phase::After { rounds } => {
                    let reads = if *rounds < MAX_ROUNDS {
                        self.step.reads(&self.ctx, &self.observed)
                    } else {
                        Vec::new()
                    };
                    if !reads.is_empty() {
                        *rounds += 1;
                        return Want::Reads(reads);
                    }
                    self.phase = match self.phase {
                        Phase::Before { .. } => self.decide(),
                        _ => match self.rejected.take() {
                            Some((call, failure)) => {
                                Phase::Done(Some(self.after_rejection(&call, failure)))
                            }
                            None => Phase::Done(Some(self.verified(!self.plan.calls.is_empty()))),
                        },
                    };
                }
                Phase::Calling { next } if *next < self.plan.calls.len() => {
                    let i = *next;
                    return Want::Call {
                        call: &self.plan.calls[i],
                        created: &self.created,
                    };
                }
                Phase::Calling { .. } => {
                    self.observed = Observed::new();
                    self.phase = Phase::After { rounds: 0 };
                }
                Phase::Done(outcome) => {
                    return Want::Done(outcome.take().unwrap_or_else(|| {
                        AttemptOutcome::Failed(CallFailure::Transient {
                            detail: format!("{} attempt was asked again after it ended", self.step),
                        })
                    }));
                }
            }
        }
    }

    /// Reports the answer to one read of [`Want::Reads`].
    pub fn read(&mut self, read: &Read, answer: Result<ReadResult, CallFailure>) {
        if let Err(e) = self.observed.record(read, answer) {
            // A driver answered a read with another read's result: a bug in the driver.
            self.phase = Phase::Done(Some(AttemptOutcome::Failed(CallFailure::Rejected {
                errors: vec![e.to_string()],
            })));
        }
    }

    /// Reports the result of the call of [`Want::Call`]: its item id, or why it failed.
    pub fn called(&mut self, result: Result<Option<i64>, CallFailure>) {
        let Phase::Calling { next } = &mut self.phase else {
            return;
        };
        let call = &self.plan.calls[*next];
        match result {
            Ok(id) => self.created.push(id),
            Err(f) if call.tolerates(&f) => self.created.push(None),
            Err(failure) => {
                self.phase = match AttemptOutcome::call_failed(self.step, &self.ctx, call, failure)
                {
                    AttemptOutcome::Failed(
                        f @ (CallFailure::Rejected { .. } | CallFailure::NotFound),
                    ) => {
                        self.rejected = Some((call.clone(), f));
                        self.observed = Observed::new();
                        Phase::After { rounds: 0 }
                    }
                    outcome => Phase::Done(Some(outcome)),
                };
                return;
            }
        }
        *next += 1;
    }

    /// After the first observation: plan, then calls or straight to verify.
    fn decide(&mut self) -> Phase {
        match self.step.plan(&self.ctx, &self.observed) {
            Err(refusal) => Phase::Done(Some(AttemptOutcome::Refused(refusal))),
            Ok(plan) => {
                let skip_calls = self.verify_only || plan.is_empty();
                self.plan = plan;
                if skip_calls {
                    Phase::Done(Some(self.verified(false)))
                } else {
                    Phase::Calling { next: 0 }
                }
            }
        }
    }

    /// After a rejected call and a fresh observation (see the module docs).
    fn after_rejection(&mut self, call: &Call, rejection: CallFailure) -> AttemptOutcome {
        if let done @ AttemptOutcome::Succeeded { .. } = self.verified(true) {
            return done;
        }
        match self.step.plan(&self.ctx, &self.observed) {
            Ok(fresh) if !fresh.calls.contains(call) => {
                AttemptOutcome::Failed(CallFailure::Transient {
                    detail: format!(
                        "Autotask refused `{}` ({}), but the tenant changed while {} ran \
                         (another attempt or a person); the next attempt plans again",
                        call.describe(),
                        rejection.describe(),
                        self.step
                    ),
                })
            }
            _ => AttemptOutcome::Failed(rejection),
        }
    }

    fn verified(&mut self, changed: bool) -> AttemptOutcome {
        match self.step.verify(&self.ctx, &self.observed) {
            Ok(()) => AttemptOutcome::Succeeded {
                changed,
                facts: std::mem::take(&mut self.plan.facts),
            },
            Err(drift) => AttemptOutcome::Drifted(drift),
        }
    }
}
