//! What the dashboard filters and groups by, as pure functions of a run record: a run's
//! current step (where it stands or is stuck), that step's error class, error text and next
//! retry time; the search form's query and whether a run matches it; a dead letter's class.
//!
//! Error classes are the retry policy's (`onboarding_steps::retry::ErrorClass`), read back
//! from the step's state: `transient` and `budget_deferred` (a retry is scheduled; the
//! audit detail tells a budget deferral), `operator_pending` (re-checked until the operator
//! has acted), `awaiting_ack` (waits for an acknowledgment), `permanent` (failed) and
//! `deadline_passed` (failed because the operator deadline passed). A dead letter whose
//! run's step did not fail (the run is gone, or its record refused the outcome) is `job_error`.

use onboarding_steps::StepName;
use onboarding_steps::Timestamp;
use onboarding_steps::run::{BUDGET_DEFERRED, Run, RunKind, RunState, StepRecord, StepState};
use onboarding_worker::runs::RunFilter;
use serde::Deserialize;

/// Every error class a run's step can show, in the order the filter offers them.
pub(crate) const CLASSES: &[&str] = &[
    "transient",
    "budget_deferred",
    "operator_pending",
    "awaiting_ack",
    "permanent",
    "deadline_passed",
];

/// How a failed step's reason starts when the operator deadline passed.
const DEADLINE: &str = "the operator deadline passed";

/// The step a run stands at: the first that has neither succeeded nor been skipped.
pub(crate) fn current(run: &Run) -> Option<&StepRecord> {
    run.steps.iter().find(|s| {
        !matches!(
            s.state,
            StepState::Succeeded { .. } | StepState::Skipped { .. }
        )
    })
}

/// The error class of a step's state (see the module doc); `None` when it has no error.
pub(crate) fn step_class(run: &Run, record: &StepRecord) -> Option<&'static str> {
    match &record.state {
        StepState::RetryScheduled { .. } => {
            let deferred = run
                .audit
                .iter()
                .rev()
                .find(|e| e.step == Some(record.step))
                .is_some_and(|e| e.detail.starts_with(BUDGET_DEFERRED));
            Some(if deferred {
                "budget_deferred"
            } else {
                "transient"
            })
        }
        StepState::WaitingForOperator {
            next_check: Some(_),
            ..
        } => Some("operator_pending"),
        StepState::WaitingForOperator {
            next_check: None, ..
        } => Some("awaiting_ack"),
        StepState::Failed { reason, .. } if reason.starts_with(DEADLINE) => Some("deadline_passed"),
        StepState::Failed { .. } => Some("permanent"),
        _ => None,
    }
}

/// The step's error text, if it has one.
pub(crate) fn step_error(record: &StepRecord) -> Option<&str> {
    match &record.state {
        StepState::RetryScheduled { last_error, .. } => Some(last_error),
        StepState::Failed { reason, .. } => Some(reason),
        _ => None,
    }
}

/// When the step is tried or checked next, if that is scheduled.
pub(crate) fn next_retry(record: &StepRecord) -> Option<Timestamp> {
    match &record.state {
        StepState::RetryScheduled { next_at, .. } => Some(*next_at),
        StepState::WaitingForOperator { next_check, .. } => *next_check,
        _ => None,
    }
}

/// The class of a dead letter, from its run's step (if the run and step are known).
pub(crate) fn dead_class(step_state: Option<&StepState>) -> &'static str {
    match step_state {
        Some(StepState::Failed { reason, .. }) if reason.starts_with(DEADLINE) => "deadline_passed",
        Some(StepState::Failed { .. }) => "permanent",
        _ => "job_error",
    }
}

/// The run list's query string, as sent by the filter form.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RunQuery {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    step: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    live: String,
}

/// A parsed, checked run query.
#[derive(Debug, Default, Clone)]
pub(crate) struct RunSearch {
    pub(crate) tenant: Option<String>,
    pub(crate) state: Option<RunState>,
    pub(crate) kind: Option<RunKind>,
    pub(crate) step: Option<StepName>,
    pub(crate) class: Option<&'static str>,
    /// Search text, lower case.
    pub(crate) q: Option<String>,
    /// Where the page starts in the listing (a position, not a count of matches).
    pub(crate) from: usize,
    /// Whether the page updates itself.
    pub(crate) live: bool,
}

fn some(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

impl RunSearch {
    /// Checks the query; the error names the field and what is wrong.
    pub(crate) fn parse(q: &RunQuery) -> Result<Self, String> {
        let state = some(&q.state)
            .map(|s| s.parse::<RunState>().map_err(|e| format!("state: {e}")))
            .transpose()?;
        let kind = some(&q.kind)
            .map(|s| s.parse::<RunKind>().map_err(|e| format!("kind: {e}")))
            .transpose()?;
        let step = some(&q.step)
            .map(|s| s.parse::<StepName>().map_err(|e| format!("step: {e}")))
            .transpose()?;
        let class = some(&q.class)
            .map(|c| {
                CLASSES.iter().copied().find(|k| *k == c).ok_or_else(|| {
                    format!(
                        "class: unknown error class {c:?}; expected {}",
                        CLASSES.join(", ")
                    )
                })
            })
            .transpose()?;
        let from = match some(&q.from) {
            None => 0,
            Some(f) => f
                .parse()
                .map_err(|_| format!("from: {f:?} is not a position (a whole number)"))?,
        };
        let live = super::layout::live_param(some(&q.live).unwrap_or_default())?;
        let tenant = some(&q.tenant).map(str::to_owned);
        if tenant.as_ref().is_some_and(|t| t.len() > 200) {
            return Err("tenant: longer than 200 characters".into());
        }
        let text = some(&q.q).map(str::to_lowercase);
        if text.as_ref().is_some_and(|t| t.len() > 200) {
            return Err("q: longer than 200 characters".into());
        }
        Ok(Self {
            tenant,
            state,
            kind,
            step,
            class,
            q: text,
            from,
            live,
        })
    }

    /// The part of the query the run store's indexes answer.
    pub(crate) fn base(&self) -> RunFilter {
        RunFilter {
            state: self.state,
            tenant: self.tenant.clone(),
        }
    }

    /// Whether some criterion needs each run read (kind, step, class, search text).
    pub(crate) fn needs_scan(&self) -> bool {
        self.kind.is_some() || self.step.is_some() || self.class.is_some() || self.q.is_some()
    }

    /// Whether `run` matches every criterion.
    pub(crate) fn matches(&self, run: &Run) -> bool {
        let current = current(run);
        self.tenant
            .as_ref()
            .is_none_or(|t| *t == run.request.tenant_id)
            && self.state.is_none_or(|s| s == run.state)
            && self.kind.is_none_or(|k| k == run.request.kind)
            && self
                .step
                .is_none_or(|s| current.is_some_and(|c| c.step == s))
            && self
                .class
                .is_none_or(|c| current.and_then(|r| step_class(run, r)) == Some(c))
            && self.q.as_ref().is_none_or(|q| {
                run.id.to_lowercase().contains(q)
                    || run.request.tenant_id.to_lowercase().contains(q)
                    || run.request.tenant_name.to_lowercase().contains(q)
                    || run
                        .steps
                        .iter()
                        .filter_map(step_error)
                        .any(|e| e.to_lowercase().contains(q))
            })
    }

    /// The query's parameters (for links), `from` left out.
    pub(crate) fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("tenant", self.tenant.clone().unwrap_or_default()),
            (
                "state",
                self.state
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            (
                "kind",
                self.kind.map(|k| k.as_str().to_owned()).unwrap_or_default(),
            ),
            (
                "step",
                self.step.map(|s| s.as_str().to_owned()).unwrap_or_default(),
            ),
            ("class", self.class.unwrap_or_default().to_owned()),
            ("q", self.q.clone().unwrap_or_default()),
            ("live", if self.live { "" } else { "0" }.to_owned()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> RunQuery {
        let mut q = RunQuery::default();
        for (k, v) in pairs {
            let v = (*v).to_owned();
            match *k {
                "state" => q.state = v,
                "kind" => q.kind = v,
                "step" => q.step = v,
                "class" => q.class = v,
                "from" => q.from = v,
                "live" => q.live = v,
                "q" => q.q = v,
                _ => q.tenant = v,
            }
        }
        q
    }

    #[test]
    fn a_bad_query_names_its_field() {
        for (pairs, field) in [
            (vec![("state", "stuck")], "state: unknown state \"stuck\""),
            (vec![("kind", "x")], "kind: unknown run kind"),
            (vec![("step", "nope")], "step: "),
            (
                vec![("class", "flaky")],
                "class: unknown error class \"flaky\"",
            ),
            (vec![("from", "-1")], "from: \"-1\" is not a position"),
            (vec![("live", "yes")], "live: \"yes\""),
        ] {
            let e = RunSearch::parse(&query(&pairs)).unwrap_err();
            assert!(e.starts_with(field), "{e}");
        }
        let ok = RunSearch::parse(&query(&[("state", "failed"), ("class", "permanent")])).unwrap();
        assert!(ok.needs_scan());
        assert_eq!(ok.base().state, Some(RunState::Failed));
        assert!(
            !RunSearch::parse(&query(&[("state", "failed")]))
                .unwrap()
                .needs_scan()
        );
    }

    #[test]
    fn dead_letters_are_classed_by_their_step() {
        let failed = |reason: &str| StepState::Failed {
            reason: reason.into(),
            remediation: None,
        };
        assert_eq!(dead_class(Some(&failed("duplicate webhook"))), "permanent");
        assert_eq!(
            dead_class(Some(&failed("the operator deadline passed: x"))),
            "deadline_passed"
        );
        assert_eq!(dead_class(None), "job_error");
        assert_eq!(dead_class(Some(&StepState::Pending)), "job_error");
    }
}
