//! Dry runs: driven like a real run with reads only, reporting what each step would do.

use serde::{Deserialize, Serialize};

use super::*;
use crate::catalog::StepName;
use crate::observe::Observed;
use crate::retry::ErrorClass;
use crate::steps::StepContext;

/// One line of a dry-run report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DryRunOutcome {
    /// The calls the step would make (empty: converged).
    Planned {
        /// Each call, described.
        calls: Vec<String>,
    },
    /// The step would not act now.
    Refused {
        /// How the run would continue.
        class: ErrorClass,
        /// Why.
        reason: String,
    },
    /// Verification result (verify runs).
    Verified {
        /// Differences found (empty: no drift).
        drift: Vec<String>,
    },
    /// The step's condition does not hold.
    Skipped,
}

/// A dry run: the worker drives it like a real run (reads only), and it reports what each
/// step would do. Later steps see the state as it is now, not as earlier plans would leave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DryRun {
    kind: RunKind,
    ctx: StepContext,
    facts: RunFacts,
    /// The report so far.
    pub lines: Vec<(StepName, DryRunOutcome)>,
}

impl DryRun {
    /// A dry run of `kind` in `ctx`.
    pub fn new(kind: RunKind, ctx: StepContext) -> Self {
        Self {
            kind,
            ctx,
            facts: RunFacts::default(),
            lines: Vec::new(),
        }
    }

    /// The context to read with.
    pub fn context(&self) -> &StepContext {
        &self.ctx
    }

    /// The next step to observe (steps whose condition does not hold are reported skipped).
    pub fn next_step(&mut self) -> Option<StepName> {
        loop {
            let entry = self.kind.sequence().get(self.lines.len())?;
            if self.facts.holds(entry.condition, &self.ctx) {
                return Some(entry.step);
            }
            self.lines.push((entry.step, DryRunOutcome::Skipped));
        }
    }

    /// Reports `step` from what its reads observed.
    pub fn report(&mut self, step: StepName, observed: &Observed) {
        let outcome = if self.kind.verify_only() {
            DryRunOutcome::Verified {
                drift: step
                    .verify(&self.ctx, observed)
                    .err()
                    .map(|d| d.differences)
                    .unwrap_or_default(),
            }
        } else {
            match step.plan(&self.ctx, observed) {
                Ok(plan) => {
                    for f in &plan.facts {
                        self.facts.record(f);
                    }
                    // As if the cleanup succeeded, so the report shows the whole sequence.
                    if step == StepName::DeletePreviousWebhooks {
                        self.facts.cleanup_verified = true;
                    }
                    DryRunOutcome::Planned {
                        calls: plan.calls.iter().map(|c| c.describe()).collect(),
                    }
                }
                Err(r) => DryRunOutcome::Refused {
                    class: r.class,
                    reason: r.reason,
                },
            }
        };
        self.lines.push((step, outcome));
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut s = format!(
            "dry run of {} for tenant {}\n",
            self.kind.as_str(),
            self.ctx.tenant_id
        );
        for line in self.ctx.settings.subscriptions() {
            s.push_str(&format!("{line}\n"));
        }
        for (step, outcome) in &self.lines {
            match outcome {
                DryRunOutcome::Planned { calls } if calls.is_empty() => {
                    s.push_str(&format!("{step}: nothing to do\n"));
                }
                DryRunOutcome::Planned { calls } => {
                    s.push_str(&format!("{step}: would make {} call(s)\n", calls.len()));
                    for c in calls {
                        s.push_str(&format!("  {c}\n"));
                    }
                }
                DryRunOutcome::Refused { class, reason } => {
                    s.push_str(&format!("{step}: would stop ({class:?}): {reason}\n"));
                }
                DryRunOutcome::Verified { drift } if drift.is_empty() => {
                    s.push_str(&format!("{step}: no drift\n"));
                }
                DryRunOutcome::Verified { drift } => {
                    s.push_str(&format!("{step}: drift: {}\n", drift.join("; ")));
                }
                DryRunOutcome::Skipped => s.push_str(&format!("{step}: skipped\n")),
            }
        }
        s
    }
}
