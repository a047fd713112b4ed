//! A campaign's report: one row per tenant (its run, how it ended, what changed, and for a
//! failure the step, the error class and the reason), failures grouped by step and error
//! class, and the rows as CSV. Built from run records; it reads nothing itself.
//!
//! Error classes of a failed step, as a report shows them: `permanent` (Autotask refused,
//! or a precondition does not hold: fixing it needs a person), `retries_exhausted` (transient
//! errors until the attempt limit), `operator_deadline` (an operator step was not done in
//! time).

use std::collections::BTreeMap;

use onboarding_steps::run::{Run, RunState, StepRecord, StepState};
use serde::{Deserialize, Serialize};

/// One tenant of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// Cohort entry (1-based, as `create` names entries).
    pub entry: usize,
    /// The wave.
    pub wave: usize,
    /// The tenant.
    pub tenant: String,
    /// The tenant's pacing zone.
    pub zone: String,
    /// Its run (none: not enqueued).
    pub run: Option<String>,
    /// The run's state, or `not_started`.
    pub state: String,
    /// Steps that changed something in Autotask.
    pub changed: Vec<String>,
    /// The failed step.
    pub failed_step: Option<String>,
    /// Its error class.
    pub error_class: Option<String>,
    /// Why it failed, in words.
    pub reason: Option<String>,
}

/// Failed runs of one step and error class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureGroup {
    /// The step.
    pub step: String,
    /// The error class.
    pub error_class: String,
    /// How many runs.
    pub count: usize,
    /// Up to five of their tenants.
    pub tenants: Vec<String>,
    /// One reason, as an example.
    pub example: String,
}

/// The error class of a failed step record (see the module doc).
pub fn error_class(record: &StepRecord, reason: &str) -> &'static str {
    if reason.starts_with("the operator deadline passed") {
        "operator_deadline"
    } else if record.transient_failures > 0 {
        "retries_exhausted"
    } else {
        "permanent"
    }
}

/// The row of entry `index` (0-based).
pub fn row(index: usize, wave: usize, tenant: &str, zone: &str, run: Option<&Run>) -> Row {
    let mut row = Row {
        entry: index + 1,
        wave,
        tenant: tenant.to_owned(),
        zone: zone.to_owned(),
        run: run.map(|r| r.id.clone()),
        state: run.map_or("not_started", |r| r.state.as_str()).to_owned(),
        changed: Vec::new(),
        failed_step: None,
        error_class: None,
        reason: None,
    };
    let Some(run) = run else { return row };
    for s in &run.steps {
        match &s.state {
            StepState::Succeeded { changed: true } => row.changed.push(s.step.as_str().into()),
            StepState::Failed { reason, .. } if run.state == RunState::Failed => {
                row.failed_step = Some(s.step.as_str().into());
                row.error_class = Some(error_class(s, reason).into());
                row.reason = Some(reason.clone());
            }
            _ => {}
        }
    }
    row
}

/// Failed rows grouped by step and error class, largest group first.
pub fn failures(rows: &[Row]) -> Vec<FailureGroup> {
    let mut groups: BTreeMap<(String, String), FailureGroup> = BTreeMap::new();
    for r in rows {
        let (Some(step), Some(class)) = (&r.failed_step, &r.error_class) else {
            continue;
        };
        let g = groups
            .entry((step.clone(), class.clone()))
            .or_insert_with(|| FailureGroup {
                step: step.clone(),
                error_class: class.clone(),
                count: 0,
                tenants: Vec::new(),
                example: r.reason.clone().unwrap_or_default(),
            });
        g.count += 1;
        if g.tenants.len() < 5 {
            g.tenants.push(r.tenant.clone());
        }
    }
    let mut out: Vec<_> = groups.into_values().collect();
    out.sort_by_key(|g| std::cmp::Reverse(g.count));
    out
}

/// The rows as CSV (RFC 4180: fields with commas, quotes or line breaks are quoted; a
/// field starting with `=`, `+`, `-` or `@` gets a leading `'` so spreadsheets do not run
/// it as a formula).
pub fn csv(rows: &[Row]) -> String {
    let mut out =
        String::from("entry,wave,tenant,zone,run,state,changed,failed_step,error_class,reason\r\n");
    for r in rows {
        let fields = [
            r.entry.to_string(),
            r.wave.to_string(),
            r.tenant.clone(),
            r.zone.clone(),
            r.run.clone().unwrap_or_default(),
            r.state.clone(),
            r.changed.join(" "),
            r.failed_step.clone().unwrap_or_default(),
            r.error_class.clone().unwrap_or_default(),
            r.reason.clone().unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|f| field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

fn field(f: &str) -> String {
    let f = if f.starts_with(['=', '+', '-', '@']) {
        format!("'{f}")
    } else {
        f.to_owned()
    };
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f
    }
}
